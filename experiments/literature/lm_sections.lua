-- Sections of the literature study on language modelling and RoPE: Press
-- et al. 2022 (ALiBi), context extension of RoPE (PI, NTK-aware, YaRN) and
-- Barbero et al. 2024 (p-RoPE, frequency usage). Same shape as
-- task_sections.lua.
local measure = require "literature.measure"
local runs = require "literature.runs"
local ci = measure.ci

local S = {}

local function ppl_at_max(X, series)
  local lens = X:lengths_of(series)
  return lens[#lens] and X:at(series, "ppl", lens[#lens]), lens[#lens]
end

S[#S + 1] = {
  id = "press",
  title = "Press et al. 2022: ALiBi perplexity stays flat beyond the training window",
  protocol = "Decoder language models (WikiText-103, trained on windows of 512 to 3072 tokens), " ..
    "perplexity on the validation set against evaluation length up to many times the training " ..
    "window; sinusoidal, rotary, T5 bias and ALiBi.",
  changes = "A character-level model on real English text shipped by Debian: the licence texts " ..
    "of package base-files (/usr/share/common-licenses: GPL-3, Apache-2.0, MPL-2.0, GFDL-1.3, " ..
    "Artistic, CC0-1.0; setting `texts`). The first 80% of each file trains, the last 20% is " ..
    "held out and evaluated with non-overlapping windows. Windows of lm_L characters, evaluation " ..
    "to several times that. The paper's mechanism (ALiBi's linear bias needs no unseen position) " ..
    "does not depend on model size; the sinusoidal table uses amplitude sinusoidal_scale.",
  published = "Figure 1: as the input gets longer than trained, sinusoidal, rotary and T5 degrade " ..
    "while ALiBi does not; sinusoidal degrades fastest (their Figure 1, WikiText-103).",
  plan = function(cfg, P)
    for _, enc in ipairs(cfg.press_encodings) do P.lm(enc) end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    local rows, by_enc, list = {}, {}, {}
    for _, enc in ipairs(cfg.press_encodings) do
      local s = "lm-" .. enc
      local at_L = X:at(s, "ppl", cfg.lm_L)
      local far, n = ppl_at_max(X, s)
      by_enc[enc] = { L = at_L, far = far, n = n }
      -- Growth per seed: perplexity at the longest window over that at L.
      local function growth(by) return n and by[n] and by[cfg.lm_L] and by[n].ppl / by[cfg.lm_L].ppl or nil end
      by_enc[enc].seed_growth = X:by_seed(s, growth)
      by_enc[enc].growth = X:summarise(by_enc[enc].seed_growth)
      rows[#rows + 1] = { encoding = enc, at_L = ci(at_L, "%.2f"), far = ci(far, "%.2f"),
                          growth = ci(by_enc[enc].growth, "%.2f") }
      list[#list + 1] = { series = s, name = enc }
    end
    S_.rep:table(rows, { "encoding", "at_L", "far", "growth" }, { headers = { at_L = "ppl at L",
      far = "ppl at the longest window", growth = "ratio longest / L" },
      caption = "Held-out perplexity, mean [95% CI] (max) over seeds." })
    local a, sn = by_enc.alibi, by_enc.sinusoidal
    local needs, growth, far = {}, {}, {}
    for _, enc in ipairs(cfg.press_encodings) do
      local s = "lm-" .. enc
      needs[#needs + 1] = s
      -- per seed, on the log scale: log ratio longest / L, log perplexity far
      growth[enc] = measure.map(by_enc[enc].seed_growth, math.log)
      far[enc] = measure.map(X:seed_at(s, "ppl", by_enc[enc].n), math.log)
    end
    local lm = math.log(1 + cfg.ppl_margin)
    local function except(t, skip)
      local out = {}
      for k, v in pairs(t) do if k ~= skip then out[k] = v end end
      return out
    end
    S_.claim { claim = "ALiBi's perplexity stays flat (ratio <= 1 + flat_margin) up to the longest window",
      published = "ALiBi flat in Figure 1", needs = { "lm-alibi" }, metric = "ppl",
      measured = "alibi ratio " .. ci(a and a.growth, "%.2f"),
      test = { kind = "less", x = growth.alibi, reference = math.log(1 + cfg.flat_margin) } }
    S_.claim { claim = "Sinusoidal degrades the most beyond the training window",
      published = "sinusoidal blows up first in Figure 1", needs = needs, metric = "ppl",
      measured = "ratio sinusoidal " .. ci(sn and sn.growth, "%.2f"),
      test = { kind = "beats_each", a = growth.sinusoidal, bs = except(growth, "sinusoidal"), margin = lm } }
    S_.claim { claim = "ALiBi beats sinusoidal, RoPE and T5 at the longest window",
      published = "ALiBi lowest perplexity beyond L in Figure 1", needs = needs, metric = "ppl",
      measured = "alibi " .. ci(a and a.far, "%.2f"),
      test = { kind = "beats_each", a = far.alibi, bs = except(far, "alibi"), lower_is_better = true, margin = lm } }
    S_.figure(X:plot_lines(S_.R:path("plots/press"), "Press: held-out perplexity (licence texts)", list, "ppl",
      { xlabel = "window (characters)", ylabel = "perplexity", L = cfg.lm_L, logy = true }),
      "Perplexity against evaluation window, mean and 95% CI over seeds.")
  end,
}

S[#S + 1] = {
  id = "context",
  title = "RoPE context extension: position interpolation, NTK-aware scaling, YaRN",
  protocol = "Chen et al. 2023 (PI) extend pretrained RoPE LLaMA models by interpolating positions, " ..
    "with a short fine-tune (within 1000 steps); the NTK-aware rule changes the base instead and " ..
    "works without fine-tuning; Peng et al. 2023 (YaRN) interpolate per frequency band and " ..
    "temper attention. Perplexity on long documents and passkey retrieval at 2x and more.",
  changes = "A RoPE model trained here (copy at L and the licence-text language model) stands in for the " ..
    "pretrained LLM; the methods are applied at 2x and 4x zero-shot and after finetune_steps " ..
    "steps at 2x. Copy accuracy stands in for passkey retrieval (exact use of distant positions).",
  published = "PI abstract: extension up to 32768 positions with fine-tuning within 1000 steps; " ..
    "extrapolating RoPE directly degrades catastrophically. YaRN abstract: needs 10x fewer tokens " ..
    "and 2.5x fewer steps than previous methods and surpasses them. The NTK-aware rule (a public " ..
    "post of 2023, cited by YaRN as the interpolation that accounts for the loss of high " ..
    "frequencies) was proposed for extension without fine-tuning, where PI was paired with one.",
  plan = function(cfg, P)
    for _, task in ipairs(cfg.ctx_tasks) do P.scaling(task) end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    for _, task in ipairs(cfg.ctx_tasks) do
      local metric, lower = task == "lm" and "ppl" or "accuracy", task == "lm"
      local base = "ctx-" .. task
      local rows, list, L = {}, {}, task == "lm" and cfg.lm_L or cfg.kaz_L
      local lens = X:lengths_of(base .. "/rope")
      for _, ft in ipairs { "", "+ft" } do
        for _, m in ipairs(cfg.ctx_methods) do
          local s = base .. "/" .. m .. ft
          local row = { method = m, finetuned = ft == "" and "no" or "yes" }
          for _, n in ipairs(lens) do row["n=" .. n] = ci(X:at(s, metric, n), "%.3f"):gsub(" %(max.*", "") end
          rows[#rows + 1] = row
          list[#list + 1] = { series = s, name = m .. (ft == "" and "" or " ft"), dash = ft == "" and 1 or 2 }
        end
      end
      local cols = { "method", "finetuned" }
      for _, n in ipairs(lens) do cols[#cols + 1] = "n=" .. n end
      S_.rep:table(rows, cols, { caption = string.format("%s: %s, mean [95%% CI] over seeds (trained at %d).",
        task, metric, L) })
      local n2 = 2 * L
      local function r(m) return X:at(base .. "/" .. m, metric, n2) end
      -- per seed at 2L: accuracy, or log perplexity (lower is better)
      local function v(m)
        local by = X:seed_at(base .. "/" .. m, metric, n2)
        return lower and measure.map(by, math.log) or by
      end
      local margin = lower and math.log(1 + cfg.ppl_margin) or cfg.acc_margin
      local each = {}
      for _, m in ipairs(cfg.ctx_methods) do
        if m ~= "rope" then
          each[#each + 1] = { id = m, kind = "beats_each", a = v(m), bs = { rope = v("rope") },
                              lower_is_better = lower, margin = margin }
        end
      end
      local needs, lmetric = { base .. "/rope" }, lower and "ppl" or "accuracy"
      S_.claim { claim = task .. ": zero-shot PI, NTK and YaRN each beat plain RoPE at 2L",
        published = "direct extrapolation degrades; the scaled methods do not (PI, YaRN abstracts)",
        needs = needs, metric = lmetric,
        measured = string.format("%s at n=%d: rope %s; pi %s; ntk %s; yarn %s", metric, n2, ci(r("rope")),
          ci(r("pi")), ci(r("ntk")), ci(r("yarn"))), test = { kind = "all_of", claims = each } }
      S_.claim { claim = task .. ": zero-shot, NTK-aware beats PI at 2L",
        published = "NTK-aware proposed for use without fine-tuning, PI with one (stated in words)",
        needs = needs, metric = lmetric,
        measured = string.format("ntk %s vs pi %s", ci(r("ntk")), ci(r("pi"))),
        test = { kind = "beats_each", a = v("ntk"), bs = { pi = v("pi") }, lower_is_better = lower, margin = margin } }
      S_.claim { claim = task .. ": after the same short fine-tune, YaRN beats PI at 2L",
        published = "YaRN surpasses previous methods with less fine-tuning (abstract)",
        needs = needs, metric = lmetric,
        measured = string.format("yarn+ft %s vs pi+ft %s at n=%d", ci(r("yarn+ft")), ci(r("pi+ft")), n2),
        test = { kind = "beats_each", a = v("yarn+ft"), bs = { ["pi+ft"] = v("pi+ft") }, lower_is_better = lower,
                 margin = margin } }
      S_.figure(X:plot_lines(S_.R:path("plots/context_" .. task), "Context extension: " .. task, list, metric,
        { xlabel = "length", ylabel = metric, L = L, logy = lower, yrange = not lower and { 0, 1 } or nil }),
        task .. ": " .. metric .. " per method, zero-shot (solid) and fine-tuned (dashed).")
    end
  end,
}

S[#S + 1] = {
  id = "barbero",
  title = "Barbero et al. 2024: p-RoPE, and which RoPE frequencies heads use",
  protocol = "Gemma 7B analysed: positional heads built from the highest RoPE frequencies, the " ..
    "lowest frequencies used most (largest query/key norms), read as semantic channels; Gemma 2B " ..
    "models trained with p-RoPE (the lowest fraction of frequencies left unrotated) against RoPE " ..
    "and NoPE, perplexity on held-out text.",
  changes = "The licence-text character model (as in the Press section) with RoPE, p-RoPE (p) and NoPE; " ..
    "frequency usage U_k = mean norm of the query's k-th rotary pair (pb.metrics.frequency_usage) " ..
    "on the trained RoPE models. One head of width 32 (16 rotary pairs, of which p removes 4) and a " ..
    "RoPE base of 100 (recipes.barbero), so that the removed frequencies turn by about a radian over the " ..
    "32-character window, as base 10000 does over Gemma's 8192 positions.",
  published = "Abstract: Gemma \"greatly prefers to use the lowest frequencies of RoPE\"; p-RoPE " ..
    "\"improves performance\" (their Gemma 2B perplexity table; ordering as stated in the abstract).",
  plan = function(cfg, P)
    for _, enc in ipairs(cfg.barbero_encodings) do P.lm(enc, "barbero") end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    local rows, by, seeds, needs = {}, {}, {}, {}
    for _, enc in ipairs(cfg.barbero_encodings) do
      local s = "barbero-" .. enc
      needs[#needs + 1] = s
      by[enc] = X:at(s, "ppl", cfg.lm_L)
      seeds[enc] = measure.map(X:seed_at(s, "ppl", cfg.lm_L), math.log)
      rows[#rows + 1] = { encoding = enc, ppl = ci(by[enc], "%.3f") }
    end
    S_.rep:table(rows, { "encoding", "ppl" }, { headers = { ppl = "held-out perplexity at L" } })
    -- The premise: enough rotary pairs per head that p-RoPE removes some and
    -- the usage quarters hold several each.
    local r = runs.recipe(cfg, "barbero")
    local pairs_per_head = r.d // r.heads // 2
    local keep = math.floor(cfg.p * pairs_per_head + 0.5)
    local removed = pairs_per_head - keep
    -- the fastest removed frequency, theta_keep = base^(-keep / pairs), over the window L
    local turn = (r.rope_base or 10000) ^ (-keep / pairs_per_head) * cfg.lm_L
    local premise = { ok = true }
    if pairs_per_head < cfg.min_rotary_pairs or removed < 1 then
      premise = { ok = false, reason = string.format("%d rotary pairs per head (d=%d, heads=%d): p = %g removes %d",
        pairs_per_head, r.d, r.heads, cfg.p, removed), would_need = string.format("at least %d pairs per head " ..
        "(d / heads >= %d)", cfg.min_rotary_pairs, 2 * cfg.min_rotary_pairs) }
    elseif turn < cfg.min_removed_turn then
      premise = { ok = false, reason = string.format("the frequencies p-RoPE removes turn by at most %.3g rad over " ..
        "the %d-character window: p-RoPE is RoPE there", turn, cfg.lm_L),
        would_need = "a RoPE base scaled to the window (recipes.barbero.rope_base) or longer windows" }
    end
    local others = {}
    for _, enc in ipairs(cfg.barbero_encodings) do if enc ~= "p-rope" then others[enc] = seeds[enc] end end
    S_.claim { claim = "p-RoPE reaches lower perplexity than RoPE and NoPE",
      published = "p-RoPE improves performance (abstract)", needs = needs, metric = "ppl",
      measured = string.format("p-rope %s; rope %s; none %s (%d of %d pairs per head left unrotated; RoPE base " ..
        "%g: the removed frequencies turn by up to %.2f rad over L)", ci(by["p-rope"]), ci(by.rope), ci(by.none),
        removed, pairs_per_head, r.rope_base or 10000, turn),
      test = { kind = "beats_each", a = seeds["p-rope"], bs = others, lower_is_better = true,
               margin = math.log(1 + cfg.ppl_margin), premise = premise } }
    -- Usage ratio per seed: lowest quarter of frequencies over highest quarter.
    local ratios, mat, n_pairs = {}, {}, 0
    local usage = {}
    for _, f in ipairs(S_.freq["barbero-rope"] or {}) do
      if f.seed <= X.max_seed then usage[#usage + 1] = f end
    end
    for _, f in ipairs(usage) do
      ratios[f.seed] = f.ratio
      for j, row in ipairs(f.matrix) do
        mat[j] = mat[j] or {}
        for k, u in ipairs(row) do mat[j][k] = (mat[j][k] or 0) + u / #usage end
        n_pairs = #row
      end
    end
    local list = {}
    for _, v in pairs(ratios) do list[#list + 1] = v end
    local rs = #list > 0 and pb.stats.summary(list, { level = cfg.level }) or nil
    S_.claim { claim = "RoPE heads use the lowest frequencies more than the highest",
      published = "Gemma greatly prefers the lowest frequencies (abstract)", needs = { "barbero-rope" }, metric = "ppl",
      measured = string.format("usage ratio lowest/highest quarter of %d pairs: %s", n_pairs, ci(rs, "%.2f")),
      test = { kind = "greater", x = measure.map(ratios, math.log), reference = 0,
               margin = math.log(1 + cfg.usage_margin), premise = premise } }
    if #mat > 0 and pb.plot.available() then
      S_.figure(pb.plot.heatmap { path = S_.R:path("plots/barbero_usage"), title = "RoPE frequency usage",
        matrix = mat, xlabel = "pair k (0 = highest frequency)", ylabel = "layer x head",
        cblabel = "mean ||q_k||" }.png, "Frequency usage per layer and head, mean over seeds.")
    end
  end,
}

return S
