-- The opt-in section of the literature study on per-layer positional
-- designs (docs/hybrids.md): RNoPE-SWA (Yang et al. 2025, Cohere Command
-- A), Llama 4's attention temperature on its NoPE layers, and Gemma 3's
-- local/global RoPE base split, on a retrieval task (the needle task
-- induction by default, or recall) and on the study's character language
-- model. Not in the default `sections` (its
-- 4-layer models cost more than the study's budget allows); run it with
-- sections=hybrids. Same shape as task_sections.lua.
local designs = require "posbench.designs"
local experiment = require "posbench.experiment"
local measure = require "literature.measure"
local runs = require "literature.runs"
local ci = measure.ci

local H = {}

-- Spans and the temperature's floor_scale as fractions of the training
-- sequence length T_L (in tokens): W = hyb_window T_L (at least 2),
-- floor_scale = hyb_floor T_L (at least 1).
function H.spans(cfg, T_train)
  return designs.spans(T_train, cfg.hyb_window, cfg.hyb_floor)
end

-- Task options over the study's: recall gets enough distinct keys for the
-- longest test.
function H.topts(cfg, task)
  if task ~= "recall" then return {} end
  local lengths = experiment.sizes(cfg.hyb_L, cfg.hyb_factors)
  return { keys = math.max(cfg.hyb_keys, lengths[#lengths]) }
end

-- Training and longest sequence lengths of a task (what the spans scale with).
function H.geometry(cfg, task)
  local lengths, t
  if task == "lm" then
    lengths = experiment.sizes(cfg.lm_L, cfg.hyb_factors)
    t = runs.task({ task = "lm", text = cfg._corpus, holdout = cfg._holdout, L = cfg.lm_L }, "train", cfg._corpus_dir)
    return runs.seq_len(t, cfg.lm_L), runs.seq_len(t, lengths[#lengths]), cfg.lm_L
  end
  lengths = experiment.sizes(cfg.hyb_L, cfg.hyb_factors)
  local o = H.topts(cfg, task)
  o.min_len, o.max_len = 2, cfg.hyb_L  -- (the length of size L does not depend on min_len)
  t = pb.task(task, o)
  return runs.seq_len(t, cfg.hyb_L), runs.seq_len(t, lengths[#lengths]), cfg.hyb_L
end

local function rope(base) return { encoding = "rope", enc = { base = base } } end

-- The section's designs: the uniform references (a layer repeated) and the
-- named designs of pb.design (posbench/designs.lua; the claims use those of
-- pattern 3:1, Command A's and Llama 4's interval: at hyb_layers = 4 the
-- last layer is the global one).
local uniform = {
  rope = { text = "all-RoPE, full attention", layer = function(cfg) return rope(cfg.hyb_local_base) end },
  nope = { text = "all-NoPE, full attention", layer = function() return { encoding = "none" } end },
}
-- The entry of a design name (nil when unknown): uniform ones here, the
-- rest from the registry at call time (so pb.register_design in a script
-- before the study is seen).
function H.design(name)
  local u = uniform[name]
  if u then return { text = u.text, uniform = u.layer } end
  for _, d in ipairs(pb.list_designs()) do
    if d.name == name then
      -- the temperature at evaluation trains exactly as RNoPE-SWA: same lr pilots, same weights
      if name == "rnope-swa+temp" then
        return { text = d.text .. " (trains exactly as RNoPE-SWA: same lr pilots, same weights)", pilots_of = "rnope-swa" }
      end
      return { text = d.text }
    end
  end
end

--- The layer list of a design for a training sequence of T_train tokens.
function H.layers(cfg, name, T_train)
  local d = H.design(name)
  if d.uniform then
    local list = {}
    for i = 1, cfg.hyb_layers do list[i] = d.uniform(cfg) end
    return list
  end
  return pb.design(name, { layers = cfg.hyb_layers, T_train = T_train, window = cfg.hyb_window,
    floor = cfg.hyb_floor, local_base = cfg.hyb_local_base, global_base = cfg.hyb_global_base,
    temp_scale = cfg.hyb_temp_scale })
end

local function contains(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

-- Per seed, on the claims' scale: accuracy (seq tasks) or log perplexity (lm),
-- at L (in distribution) or averaged over the lengths beyond L.
local function per_seed(X, series, lm, L, beyond)
  local key = lm and "ppl" or "accuracy"
  return X:by_seed(series, function(by)
    if not beyond then return by[L] and by[L][key] and (lm and math.log(by[L][key]) or by[L][key]) end
    local s, k = 0, 0
    for n, r in pairs(by) do
      if n > L and r[key] then s, k = s + (lm and math.log(r[key]) or r[key]), k + 1 end
    end
    return k > 0 and s / k or nil
  end)
end

-- Gemma's premise: the split changes some frequency of the global layer by
-- enough to turn min_removed_turn radians differently over the longest test.
local function split_premise(cfg, T_max)
  local rec = runs.recipe(cfg, "hyb")
  local pairs_per_head = rec.d // rec.heads // 2
  local diff = 0
  for k = 0, pairs_per_head - 1 do
    local a = cfg.hyb_local_base ^ (-k / pairs_per_head)
    local b = cfg.hyb_global_base ^ (-k / pairs_per_head)
    diff = math.max(diff, math.abs(a - b) * T_max)
  end
  if pairs_per_head >= 2 and diff >= cfg.min_removed_turn then return { ok = true }, diff end
  return { ok = false, reason = string.format("%d rotary pairs per head: bases %g and %g turn at most %.3g rad " ..
    "apart over %d tokens", pairs_per_head, cfg.hyb_local_base, cfg.hyb_global_base, diff, T_max),
    would_need = "more rotary pairs per head (d / heads) or longer tests" }, diff
end

local S = {}

S[#S + 1] = {
  id = "hybrids",
  title = "Per-layer designs: RNoPE-SWA (Yang et al. 2025), Llama 4's temperature, Gemma 3's base split",
  protocol = "Yang et al. 2025 (\"Rope to Nope and Back Again\", Cohere; the design of Command A): 8B " ..
    "decoders pre-trained at 8k with RoPE, NoPE, QK-Norm and hybrids, context then extended and tested " ..
    "on needle-in-a-haystack, RULER and standard benchmarks; RNoPE-SWA interleaves three sliding-window " ..
    "RoPE layers (window 4096) with one global NoPE layer. Llama 4 (iRoPE): chunked RoPE layers and every " ..
    "fourth layer global NoPE, whose queries are scaled at inference by 1 + attn_scale log(floor((p + 1) / " ..
    "floor_scale) + 1) (attn_scale 0.1, floor_scale 8192 = its chunk). Gemma 3: 5 local (window 1024) to 1 " ..
    "global layer, RoPE base 10 000 on local layers and 1 000 000 on global ones (Gemma 2: 10 000 everywhere).",
  changes = "Models of hyb_layers = 4 layers (pattern 3:1: the last layer is the global one), width d and heads " ..
    "of the study, trained from scratch at L: the needle task induction (a haystack of n random tokens " ..
    "holding one TRIG y pair, then TRIG; answer y; n = 2..hyb_L; accuracy), standing in for the paper's " ..
    "needle-in-a-haystack (hyb_tasks=recall,lm takes recall, several key-value pairs, instead: the default " ..
    "recipe does not learn it in distribution), and the licence-text character model at lm_L characters " ..
    "(held-out perplexity), both " ..
    "evaluated at hyb_factors times L (to 8x). Windows and floor_scale are fractions of the training " ..
    "sequence length T_L (hyb_window = 1/2: Command A's 4096 of 8192; hyb_floor = 1/2: floor_scale equals " ..
    "the local span, as Llama 4's equals its chunk). RoPE bases are the published 10 000 and 1 000 000, " ..
    "unscaled (docs/hybrids.md's Gemma 3 spec). No long-context training or RoPE rescaling: the question is " ..
    "which design extrapolates by itself. The temperature runs twice: at evaluation only (Llama 4's " ..
    "\"inference time temperature scaling\"; that model trains exactly as RNoPE-SWA) and in training too.",
  published = "Yang et al. 2025, abstract: the hybrid \"not only surpasses conventional RoPE-based transformer " ..
    "models with full attention in both long and short context tasks\" but is also faster; their analysis " ..
    "contrasts the attention of RoPE, QK-Norm and NoPE models at 8k to 128k and builds the hybrid to keep " ..
    "NoPE's retrieval with RoPE's local layers; the abstract's comparison is against RoPE only (posbench " ..
    "states the NoPE comparison as the design's premise, not as a reported number). Llama 4 announcement: " ..
    "\"we employ inference time temperature scaling of attention to enhance length generalization\". " ..
    "Gemma 3 technical report: the global layers' base is raised to 1M for long context while local " ..
    "layers keep 10k (a design choice; the report's long-context results also rescale RoPE and train " ..
    "at 32k then 128k).",
  plan = function(cfg, P)
    for _, task in ipairs(cfg.hyb_tasks) do
      for _, name in ipairs(cfg.hyb_designs) do
        local d = H.design(name)
        if not d then
          local valid = { "nope", "rope" }
          for _, x in ipairs(pb.list_designs()) do valid[#valid + 1] = x.name end
          table.sort(valid)
          error(string.format("literature: unknown hybrid design '%s' (valid: %s)", tostring(name),
            table.concat(valid, ", ")), 0)
        end
        local shared = d.pilots_of and contains(cfg.hyb_designs, d.pilots_of) and d.pilots_of or nil
        P.layered("hyb", task, name, function(m, T_train)
          m.layers = H.layers(cfg, name, T_train)
          m.encoding, m.enc = m.layers[1].encoding, nil
          return m
        end, { L = task ~= "lm" and cfg.hyb_L or nil, topts = task ~= "lm" and H.topts(cfg, task) or nil,
               factors = cfg.hyb_factors, recipe = "hyb", pilots_of = shared })
      end
    end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    for _, task in ipairs(cfg.hyb_tasks) do H.report_task(S_, cfg, X, task) end
  end,
}

-- Table, claims and plot of one task.
function H.report_task(S_, cfg, X, task)
  local lm = task == "lm"
  local metric, fmt = lm and "ppl" or "accuracy", lm and "%.2f" or "%.3f"
  local T_train, T_max, L = H.geometry(cfg, task)
  local W, F = H.spans(cfg, T_train)
  local function series(name) return "hyb-" .. task .. "-" .. name end
  local rows, list, at, far, ood, ind, lens = {}, {}, {}, {}, {}, {}, {}
  for _, name in ipairs(cfg.hyb_designs) do
    for _, n in ipairs(X:lengths_of(series(name))) do lens[n] = true end
  end
  local cols = { "design", "what" }
  for n in pairs(lens) do cols[#cols + 1] = n end
  table.sort(cols, function(a, b)
    if type(a) ~= type(b) then return type(a) == "string" end
    return type(a) == "number" and a < b or (type(a) == "string" and a == "design")
  end)
  for i = 3, #cols do cols[i] = "n=" .. cols[i] end
  cols[#cols + 1], cols[#cols + 2] = "at_L", "far"
  for _, name in ipairs(cfg.hyb_designs) do
    local s = series(name)
    at[name] = X:at(s, metric, L)
    far[name] = X:over_seeds(s, function(by)
      local v, k = 0, 0
      for n, r in pairs(by) do if n > L and r[metric] then v, k = v + r[metric], k + 1 end end
      return k > 0 and v / k or nil
    end, measure.BOUNDS[metric])
    ood[name], ind[name] = per_seed(X, s, lm, L, true), per_seed(X, s, lm, L, false)
    local row = { design = name, what = H.design(name).text, at_L = ci(at[name], fmt), far = ci(far[name], fmt) }
    for n in pairs(lens) do
      local v = X:at(s, metric, n)
      row["n=" .. n] = v and string.format(fmt, v.mean) or "n/a"
    end
    rows[#rows + 1] = row
    list[#list + 1] = { series = s, name = name }
  end
  S_.rep:table(rows, cols, { headers = {
    at_L = metric .. " at L", far = metric .. " beyond L (mean over lengths)" },
    caption = string.format("%s: trained at L = %d (%d tokens), window W = %d tokens (W/L = %.2f), " ..
      "temperature floor_scale %d, tests to %d tokens; mean [95%% interval] (max) over seeds.",
      task, L, T_train, W, W / T_train, F, T_max) })
  local margin = lm and math.log(1 + cfg.ppl_margin) or cfg.acc_margin
  local function r(name) return ci(far[name], fmt) end
  -- a comparison beyond L on a seq task needs some design above chance + chance_margin
  local function floor(names)
    if lm then return nil end
    local t = {}
    for _, n in ipairs(names) do t[n] = ood[n] end
    return measure.off_floor(t, (S_.chance[series("rnope-swa")] or 0) + cfg.chance_margin, "accuracy")
  end
  -- a beats b beyond L; a no worse than b (within the margin) at L
  local function beats(a, b)
    return { kind = "beats_each", a = ood[a], bs = { [b] = ood[b] }, lower_is_better = lm, margin = margin,
             premise = floor { a, b } }
  end
  local function no_worse(a, b)
    if lm then return { kind = "less", a = ind[a], b = ind[b], reference = margin, margin = margin } end
    return { kind = "greater", a = ind[a], b = ind[b], reference = -margin, margin = margin }
  end
  local function needs(...) local t = {}; for i, n in ipairs { ... } do t[i] = series(n) end; return t end
  local beyond = lm and "perplexity beyond L (mean over lengths; the test reads log perplexity per seed)" or
    "mean accuracy beyond L"
  S_.claim { paper = "Yang et al. 2025", claim = task .. ": RNoPE-SWA extrapolates further than all-RoPE (beyond L)",
    published = "surpasses RoPE full attention in long-context tasks (Yang et al., abstract)",
    needs = needs("rnope-swa", "rope"), metric = metric,
    measured = string.format("%s: rnope-swa %s; rope %s", beyond, r("rnope-swa"), r("rope")),
    test = beats("rnope-swa", "rope") }
  S_.claim { paper = "Yang et al. 2025", claim = task .. ": RNoPE-SWA at least as good as all-RoPE at L",
    published = "surpasses RoPE full attention in short-context tasks too (Yang et al., abstract)",
    needs = needs("rnope-swa", "rope"), metric = metric,
    measured = string.format("%s at L: rnope-swa %s; rope %s", metric, ci(at["rnope-swa"], fmt), ci(at.rope, fmt)),
    test = no_worse("rnope-swa", "rope") }
  S_.claim { paper = "Yang et al. 2025",
    claim = task .. ": RNoPE-SWA no worse than all-NoPE at L",
    published = "the hybrid keeps NoPE's retrieval and adds RoPE's local layers (Yang et al., analysis; the design's " ..
      "premise, no number reported against NoPE in the abstract)",
    needs = needs("rnope-swa", "nope"), metric = metric,
    measured = string.format("%s at L: rnope-swa %s; nope %s", metric, ci(at["rnope-swa"], fmt), ci(at.nope, fmt)),
    test = no_worse("rnope-swa", "nope") }
  S_.claim { paper = "Yang et al. 2025", claim = task .. ": RNoPE-SWA beats all-NoPE beyond L",
    published = "NoPE's attention diffuses at lengths beyond training; the hybrid is built to stay robust (Yang et " ..
      "al., analysis; the design's premise)",
    needs = needs("rnope-swa", "nope"), metric = metric,
    measured = string.format("%s: rnope-swa %s; nope %s", beyond, r("rnope-swa"), r("nope")),
    test = beats("rnope-swa", "nope") }
  S_.claim { paper = "Llama 4",
    claim = task .. ": Llama 4's temperature at evaluation on the NoPE layer helps beyond L",
    published = "inference time temperature scaling of attention enhances length generalization (Llama 4 " ..
      "announcement)", needs = needs("rnope-swa", "rnope-swa+temp"), metric = metric,
    measured = string.format("%s: with temperature %s; without %s (same weights; floor_scale %d tokens, scale %g; " ..
      "trained with it: %s)", beyond, r("rnope-swa+temp"), r("rnope-swa"), F, cfg.hyb_temp_scale,
      r("rnope-swa+temp-train")),
    test = beats("rnope-swa+temp", "rnope-swa") }
  local premise, turn = split_premise(cfg, T_max)
  local test = beats("gemma-split", "swa-global-rope")
  if test.premise == nil or test.premise.ok then test.premise = premise end
  S_.claim { paper = "Gemma 3",
    claim = task .. ": a higher RoPE base on the global layer (Gemma 3) extrapolates further than one base",
    published = "global base raised to 1M for long context, local layers keep 10k (Gemma 3 report)",
    needs = needs("gemma-split", "swa-global-rope"), metric = metric,
    measured = string.format("%s: bases %g / %g %s; %g everywhere %s (the split turns some pair %.3g rad " ..
      "apart over %d tokens)", beyond, cfg.hyb_local_base, cfg.hyb_global_base, r("gemma-split"),
      cfg.hyb_local_base, r("swa-global-rope"), turn, T_max),
    test = test }
  S_.figure(X:plot_lines(S_.R:path("plots/hybrids_" .. task), "Per-layer designs: " .. task, list, metric,
    { xlabel = lm and "window (characters)" or "problem size n", ylabel = metric, L = L, logy = lm,
      yrange = not lm and { 0, 1 } or nil }),
    task .. ": " .. metric .. " against length per design, mean and 95% interval over seeds.")
end

S.design, S.layers, S.spans, S.geometry = H.design, H.layers, H.spans, H.geometry
return S
