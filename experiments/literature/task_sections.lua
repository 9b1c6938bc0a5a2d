-- Sections of the literature study on algorithmic tasks: Kazemnejad et al.
-- 2023, Ruoss et al. 2023, McLeish et al. 2024 (Abacus), Heo et al. 2024
-- (2D RoPE) and the negative controls of Deletang et al. 2023.
--
-- Each section: id, title, protocol, changes, published (report text),
-- plan(cfg, P) adding its runs through P (see literature.lua), and
-- report(S) writing its tables, plots and claims.
local measure = require "literature.measure"
local ci = measure.ci

local S = {}

S[#S + 1] = {
  id = "kazemnejad",
  title = "Kazemnejad et al. 2023: NoPE and T5 ahead on decoder-only length generalisation",
  protocol = "Decoder-only Transformers trained from scratch on algorithmic and arithmetic tasks " ..
    "(copy, reverse, sort, addition and others), tested on longer instances; metric exact match " ..
    "of the answer; encodings NoPE, T5 relative bias, ALiBi, RoPE and a learned absolute table (APE).",
  changes = "Tiny decoders (see the configuration) trained at sizes 1..L and tested up to 2L, a few " ..
    "tasks, CPU budget. The comparison is the same (same model, data and budget for every " ..
    "encoding), so the ordering, which the paper attributes to the encodings, should survive.",
  published = "Abstract: \"NoPE outperforms other explicit positional encoding methods\" and the " ..
    "commonly used ALiBi, Rotary and APE \"are not well suited for length generalization\"; " ..
    "T5 is not named among the unsuited ones and NoPE's attention resembles T5's relative bias " ..
    "(ordering as stated in the abstract).",
  plan = function(cfg, P)
    for _, task in ipairs(cfg.kaz_tasks) do
      for _, enc in ipairs(cfg.kaz_encodings) do
        P.seq("kaz", task, enc, { L = cfg.kaz_L, factors = cfg.kaz_factors, recipe = "kaz", learned = "exact" })
      end
    end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    -- The claims average over the tasks on which every encoding learned in
    -- distribution on at least min_seeds seeds (exact match, the claim's
    -- metric); a task nobody learned says nothing about extrapolation.
    local tasks, dropped = {}, {}
    for _, task in ipairs(cfg.kaz_tasks) do
      local all = true
      for _, enc in ipairs(cfg.kaz_encodings) do
        if X:n_learned("kaz-" .. task .. "-" .. enc, "exact", cfg) < cfg.min_seeds then all = false end
      end
      if all then tasks[#tasks + 1] = task else dropped[#dropped + 1] = task end
    end
    if #tasks == 0 then tasks = cfg.kaz_tasks end
    local by_enc, seeds_enc, rows = {}, {}, {}
    for _, enc in ipairs(cfg.kaz_encodings) do
      local list = {}
      for _, task in ipairs(tasks) do list[#list + 1] = "kaz-" .. task .. "-" .. enc end
      by_enc[enc] = X:mean_of_series(list, "exact")
      seeds_enc[enc] = X:seed_mean_of_series(list, "exact")
      local row = { encoding = enc, ood = ci(by_enc[enc]) }
      for _, task in ipairs(cfg.kaz_tasks) do
        local id = X:mean_over("kaz-" .. task .. "-" .. enc, "exact", function(r) return r.in_dist end)
        row[task] = id and id.mean
      end
      rows[#rows + 1] = row
    end
    local cols, heads = { "encoding" }, { ood = "exact match > L, mean over " .. table.concat(tasks, ", ") }
    for _, task in ipairs(cfg.kaz_tasks) do cols[#cols + 1] = task; heads[task] = task .. " exact <= L" end
    cols[#cols + 1] = "ood"
    S_.rep:table(rows, cols, { format = "%.3f", headers = heads,
      caption = "Exact match in distribution per task; exact match beyond L, mean over tasks " ..
        "and sizes per seed, then mean [95% interval] (max) over seeds." })
    if #dropped > 0 then
      S_.rep:para("Left out of the claims (some encoding reached exact match " .. cfg.exact_threshold ..
        " at every size <= L on fewer than " .. cfg.min_seeds .. " seeds): " .. table.concat(dropped, ", ") .. ".")
    end
    local text = {}
    for _, enc in ipairs(cfg.kaz_encodings) do text[#text + 1] = enc .. " " .. ci(by_enc[enc]) end
    local floor = measure.off_floor(seeds_enc, cfg.floor, "exact match")
    local others = { alibi = seeds_enc.alibi, rope = seeds_enc.rope, learned = seeds_enc.learned }
    -- A claim reads (and adds seeds to) the series it compares, no others:
    -- a seed on which T5 did not learn says nothing about NoPE against ALiBi.
    local function needs(a)
      local out = {}
      for _, task in ipairs(tasks) do
        for _, enc in ipairs { a, "alibi", "rope", "learned" } do out[#out + 1] = "kaz-" .. task .. "-" .. enc end
      end
      return out
    end
    S_.claim { claim = "NoPE generalises beyond the training length better than ALiBi, RoPE and APE",
      published = "NoPE ahead of ALiBi, Rotary, APE (abstract)", needs = needs "none", metric = "exact",
      measured = "exact match beyond L over " .. table.concat(tasks, ", ") .. ": " .. table.concat(text, "; "),
      test = { kind = "beats_each", a = seeds_enc.none, bs = others, margin = cfg.acc_margin, premise = floor } }
    S_.claim { claim = "T5's relative bias generalises better than ALiBi, RoPE and APE",
      published = "abstract: ALiBi, Rotary and APE \"not well suited\", T5 not among them; NoPE " ..
        "resembles T5", needs = needs "t5", metric = "exact",
      measured = "t5 " .. ci(by_enc.t5),
      test = { kind = "beats_each", a = seeds_enc.t5, bs = others, margin = cfg.acc_margin, premise = floor } }
    for _, task in ipairs(cfg.kaz_tasks) do
      local list = {}
      for _, enc in ipairs(cfg.kaz_encodings) do
        list[#list + 1] = { series = "kaz-" .. task .. "-" .. enc, name = enc }
      end
      S_.figure(X:plot_lines(S_.R:path("plots/kazemnejad_" .. task), "Kazemnejad: " .. task .. " exact match",
        list, "exact", { xlabel = "problem size n", ylabel = "exact match", L = cfg.kaz_L, yrange = { 0, 1 } }),
        task .. ": exact match against size, mean and 95% interval over seeds.")
    end
  end,
}

S[#S + 1] = {
  id = "ruoss",
  title = "Ruoss et al. 2023: randomised positions boost length generalisation",
  protocol = "Encoder-only Transformers, per-token accuracy, trained on lengths up to 40 and tested " ..
    "on longer ones; each encoding with its positions drawn as a sorted random subset of a larger " ..
    "range (at training and test time) against the deterministic positions; 15 algorithmic tasks " ..
    "including reverse and duplicate string.",
  changes = "Training sizes up to L (configuration) instead of 40 and tests to a few times L; a few " ..
    "tasks; the random range is ruoss_pos_factor times the longest test sequence. Both variants " ..
    "share everything else, so the gain of randomisation is measured like for like.",
  published = "Abstract: randomised positional encodings increase test accuracy \"by 12.0% on " ..
    "average\" over 6000 models and 15 tasks.",
  plan = function(cfg, P)
    for _, task in ipairs(cfg.ruoss_tasks) do
      for _, enc in ipairs(cfg.ruoss_encodings) do
        P.seq("ruoss", task, enc, { L = cfg.ruoss_L, factors = cfg.ruoss_factors, causal = false, recipe = "ruoss" })
        P.seq("ruoss", task, enc, { L = cfg.ruoss_L, factors = cfg.ruoss_factors, causal = false, random = true,
                                    recipe = "ruoss" })
      end
    end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    local rows, cats, vals, pairs_, dropped, needs = {}, {}, {}, {}, {}, {}
    for _, task in ipairs(cfg.ruoss_tasks) do
      for _, enc in ipairs(cfg.ruoss_encodings) do
        local base = "ruoss-" .. task .. "-" .. enc
        local det, rnd = X:mean_over(base, "accuracy"), X:mean_over(base .. "+random", "accuracy")
        -- Gain per seed: same seed, weights and data, only the positions
        -- differ; averaged over the task x encoding pairs whose both
        -- variants learned the task in distribution on min_seeds seeds.
        if X:n_learned(base, "accuracy", cfg) >= cfg.min_seeds
            and X:n_learned(base .. "+random", "accuracy", cfg) >= cfg.min_seeds then
          pairs_[#pairs_ + 1] = base
          needs[#needs + 1], needs[#needs + 2] = base, base .. "+random"
        else
          dropped[#dropped + 1] = task .. " " .. enc
        end
        rows[#rows + 1] = { task = task, encoding = enc, deterministic = ci(det), randomised = ci(rnd) }
        cats[#cats + 1], vals[#vals + 1] = task .. " " .. enc, { det, rnd }
      end
    end
    S_.rep:table(rows, { "task", "encoding", "deterministic", "randomised" },
      { caption = "Per-token accuracy beyond L, mean over test sizes, then mean [95% interval] (max) over seeds." })
    if #pairs_ == 0 then  -- nothing learned: the claim reads every pair and is not testable
      for _, task in ipairs(cfg.ruoss_tasks) do
        for _, enc in ipairs(cfg.ruoss_encodings) do
          local base = "ruoss-" .. task .. "-" .. enc
          pairs_[#pairs_ + 1] = base
          needs[#needs + 1], needs[#needs + 2] = base, base .. "+random"
        end
      end
    elseif #dropped > 0 then
      S_.rep:para("Left out of the average gain (a variant reached per-token accuracy " .. cfg.learn_threshold ..
        " in distribution on fewer than " .. cfg.min_seeds .. " seeds): " .. table.concat(dropped, "; ") .. ".")
    end
    -- Average gain per seed over the pairs (the paper's average).
    local gain = {}
    for i, base in ipairs(pairs_) do
      local det, rnd = X:seed_mean(base, "accuracy"), X:seed_mean(base .. "+random", "accuracy")
      for seed, v in pairs(i == 1 and rnd or gain) do
        if rnd[seed] and det[seed] and (i == 1 or gain[seed]) then
          gain[seed] = (gain[seed] or 0) + (rnd[seed] - det[seed]) / #pairs_
        else
          gain[seed] = nil
        end
      end
    end
    local values = {}
    for _, v in pairs(gain) do values[#values + 1] = v end
    local avg = #values > 0 and pb.stats.summary(values, { level = cfg.level }) or nil
    S_.claim { claim = "Randomised positions raise out-of-distribution accuracy on average",
      published = "test accuracy +12.0% on average (abstract)", needs = needs, metric = "accuracy",
      measured = "mean gain in accuracy " .. ci(avg) .. " (randomised minus deterministic, mean over " ..
        "tasks and encodings per seed; +0.12 would match the paper's 12.0%)",
      test = { kind = "greater", x = gain, reference = 0, margin = cfg.acc_margin, best_of = true } }
    S_.figure(measure.plot_bars(S_.R:path("plots/ruoss"), "Ruoss: accuracy beyond L",
      cats, { "deterministic", "randomised" }, vals, { ylabel = "per-token accuracy", yrange = { 0, 1 } }),
      "Per-token accuracy beyond L, deterministic against randomised positions.")
  end,
}

S[#S + 1] = {
  id = "abacus",
  title = "McLeish et al. 2024: Abacus embeddings for multi-digit addition",
  protocol = "Decoder-only models trained on additions of operands up to 20 digits (least significant " ..
    "digit first), tested up to 100 digits and beyond; exact match; Abacus (digit place within " ..
    "its number, random offset while training) against NoPE, FIRE and RoPE.",
  changes = "Operands up to add_L digits, tests to a few times that, no looped layers or input " ..
    "injection (the paper's extra architecture), a smaller random offset range. With " ..
    "add_independent (medium scale) the operands' lengths differ as in the paper's data (one " ..
    "has n digits, the other 1..n); otherwise both have n digits, leading zeros allowed. The Abacus gain " ..
    "the paper reports holds for the standard decoder as well, which is what is compared here.",
  published = "Abstract: training on 20-digit numbers reaches up to 99% accuracy on 100-digit " ..
    "addition; Abacus far ahead of the other embeddings beyond the training length.",
  plan = function(cfg, P)
    for _, enc in ipairs(cfg.abacus_encodings) do
      P.seq("abacus", "add", enc, { L = cfg.add_L, factors = cfg.add_factors, recipe = "abacus",
                                    learned = "exact" })
    end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    local list, by, rows = {}, {}, {}
    for _, enc in ipairs(cfg.abacus_encodings) do
      local s = "abacus-add-" .. enc
      list[#list + 1] = { series = s, name = enc }
      by[enc] = X:mean_over(s, "exact")
      local id = X:mean_over(s, "exact", function(r) return r.in_dist end)
      -- per-token accuracy beyond L shows how much of a sum a model gets
      -- right when none is whole (exact match at the floor)
      rows[#rows + 1] = { encoding = enc, in_dist = id and id.mean, ood = ci(by[enc]),
                          ood_tok = ci(X:mean_over(s, "accuracy")) }
    end
    S_.rep:table(rows, { "encoding", "in_dist", "ood", "ood_tok" }, { format = "%.3f",
      headers = { in_dist = "exact <= L", ood = "exact > L [95% CI]", ood_tok = "per-token accuracy > L [95% CI]" },
      caption = "Addition, exact match (the claim's metric) and per-token accuracy." })
    local others, text, needs, seeds = {}, {}, {}, {}
    for _, enc in ipairs(cfg.abacus_encodings) do
      needs[#needs + 1] = "abacus-add-" .. enc
      text[#text + 1] = enc .. " " .. ci(by[enc])
      seeds[enc] = X:seed_mean("abacus-add-" .. enc, "exact")
      if enc ~= "abacus" then others[enc] = seeds[enc] end
    end
    S_.claim { claim = "Abacus positions generalise addition beyond the training length better than the others",
      published = "Abacus up to 99% at 100 digits after training on 20 (abstract)", needs = needs, metric = "exact",
      measured = table.concat(text, "; "),
      test = { kind = "beats_each", a = seeds.abacus, bs = others, margin = cfg.acc_margin,
               premise = measure.off_floor(seeds, cfg.floor, "exact match") } }
    S_.figure(X:plot_lines(S_.R:path("plots/abacus"), "Abacus: addition exact match", list, "exact",
      { xlabel = "digits per operand", ylabel = "exact match", L = cfg.add_L, yrange = { 0, 1 } }),
      "Addition exact match against operand length.")
  end,
}

S[#S + 1] = {
  id = "heo",
  title = "Heo et al. 2024: 2D RoPE (mixed, axial) against absolute 2D positions",
  protocol = "Vision Transformers trained at one image resolution and evaluated at larger ones " ..
    "(ImageNet-1k and dense tasks); RoPE-Mixed (learned frequencies mixing x and y) against " ..
    "RoPE-Axial and absolute position embeddings.",
  changes = "The grid2d task stands in for images: a grid of symbols with one marked cell and a " ..
    "direction, answer the neighbour; trained with grid_rows rows and tested with more rows " ..
    "(the width stays fixed), or with grid_square on grids of grid_rows x grid_rows cells tested " ..
    "on larger square grids, which grow along both axes as an image does at a higher " ..
    "resolution. The question, whether 2D relative rotations keep working on a " ..
    "larger grid than trained, is the paper's; the task is far simpler than images.",
  published = "Abstract: RoPE \"demonstrates impressive extrapolation performance, i.e. " ..
    "maintaining precision while increasing image resolution at inference\"; RoPE-Mixed is " ..
    "proposed as the better 2D form (ordering as stated in the abstract: RoPE ahead of APE).",
  plan = function(cfg, P)
    for _, enc in ipairs(cfg.heo_encodings) do
      P.seq("heo", "grid2d", enc, { L = cfg.grid_rows, factors = cfg.grid_factors, recipe = "heo" })
    end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    local list, by, rows, needs = {}, {}, {}, {}
    for _, enc in ipairs(cfg.heo_encodings) do
      local s = "heo-grid2d-" .. enc
      needs[#needs + 1] = s
      list[#list + 1] = { series = s, name = enc }
      by[enc] = X:mean_over(s, "accuracy")
      local id = X:mean_over(s, "accuracy", function(r) return r.in_dist end)
      rows[#rows + 1] = { encoding = enc, in_dist = id and id.mean, ood = ci(by[enc]) }
    end
    S_.rep:table(rows, { "encoding", "in_dist", "ood" }, { format = "%.3f",
      headers = { in_dist = "accuracy at trained rows", ood = "accuracy on larger grids [95% CI]" } })
    local mixed, axial, abs2d = X:seed_mean("heo-grid2d-rope2d_mixed", "accuracy"),
      X:seed_mean("heo-grid2d-rope2d_axial", "accuracy"), X:seed_mean("heo-grid2d-sinusoidal2d", "accuracy")
    S_.claim { claim = "2D RoPE (mixed and axial) keeps more accuracy on larger grids than absolute 2D positions",
      published = "RoPE ahead of APE at higher resolutions (abstract)", needs = needs,
      measured = string.format("mixed %s; axial %s; sinusoidal2d %s", ci(by.rope2d_mixed), ci(by.rope2d_axial),
        ci(by.sinusoidal2d)),
      test = { kind = "all_of", claims = {
        { id = "mixed", kind = "beats_each", a = mixed, bs = { sinusoidal2d = abs2d }, margin = cfg.acc_margin },
        { id = "axial", kind = "beats_each", a = axial, bs = { sinusoidal2d = abs2d }, margin = cfg.acc_margin } } } }
    S_.claim { claim = "RoPE-Mixed extrapolates at least as well as RoPE-Axial and better than absolute",
      published = "Mixed proposed as the better 2D RoPE (abstract and method)", needs = needs,
      measured = string.format("mixed %s vs axial %s", ci(by.rope2d_mixed), ci(by.rope2d_axial)),
      test = { kind = "all_of", claims = {
        -- "at least as well": mixed - axial above -margin (non-inferiority)
        { id = "mixed>=axial", kind = "greater", a = mixed, b = axial, reference = -cfg.acc_margin,
          margin = cfg.acc_margin },
        { id = "mixed>abs", kind = "beats_each", a = mixed, bs = { sinusoidal2d = abs2d }, margin = cfg.acc_margin } } } }
    S_.figure(X:plot_lines(S_.R:path("plots/heo"), "Heo: grid neighbour accuracy", list, "accuracy",
      { xlabel = "grid rows", ylabel = "accuracy", L = cfg.grid_rows, yrange = { 0, 1 } }),
      "grid2d accuracy against rows.")
  end,
}

S[#S + 1] = {
  id = "deletang",
  title = "Deletang et al. 2023: parity and modular arithmetic stay at chance (negative controls)",
  protocol = "Transformers (and other architectures) trained on lengths up to 40 and tested on " ..
    "lengths 41 to 500; accuracy; the Transformer fails on regular tasks such as parity check " ..
    "and modular arithmetic out of distribution.",
  changes = "Small decoders, training sizes up to del_L, tests to a few times that, several " ..
    "encodings. A negative control: no encoding here should make these tasks generalise.",
  published = "Transformers stay near chance on parity check and modular arithmetic beyond the " ..
    "training lengths, whatever the encoding they tried (the paper's main results, stated in words).",
  plan = function(cfg, P)
    for _, task in ipairs(cfg.del_tasks) do
      for _, enc in ipairs(cfg.del_encodings) do
        P.seq("del", task, enc, { L = cfg.del_L, factors = cfg.del_factors, recipe = "del" })
      end
    end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    for _, task in ipairs(cfg.del_tasks) do
      local rows, chance = {}, nil
      for _, enc in ipairs(cfg.del_encodings) do
        local s = "del-" .. task .. "-" .. enc
        chance = chance or S_.chance[s]
        local ood = X:mean_over(s, "accuracy")
        local id = X:mean_over(s, "accuracy", function(r) return r.in_dist end)
        rows[#rows + 1] = { encoding = enc, in_dist = id and id.mean, ood = ci(ood), _ood = ood, _id = id }
      end
      S_.rep:table(rows, { "encoding", "in_dist", "ood" }, { format = "%.3f",
        headers = { in_dist = "accuracy <= L", ood = "accuracy > L [95% interval]" },
        caption = string.format("%s (chance %.3f).", task, chance or 0 / 0) })
      -- Out-of-distribution chance only means something for a model that
      -- learned some of the task: in distribution, one encoding's mean
      -- accuracy above chance + chance_margin.
      -- Each encoding's test reads the seeds on which that model learned
      -- the task in distribution (the study's per-token threshold): a seed
      -- at chance everywhere extrapolates nothing, and says nothing about
      -- staying at chance beyond L. One-sample tests, so no seed of one
      -- encoding is dropped for another's.
      local learned, parts, text, unlearned = {}, {}, {}, {}
      for _, r in ipairs(rows) do
        if r._id and chance and r._id.mean > chance + cfg.chance_margin then learned[#learned + 1] = r.encoding end
        local series = "del-" .. task .. "-" .. r.encoding
        local by = X:seed_mean(series, "accuracy")
        local miss, ok = X:unlearned(series, "accuracy", cfg)
        for seed, yes in pairs(ok) do if not yes then by[seed] = nil end end
        if miss and next(ok) ~= nil then unlearned[#unlearned + 1] = miss end
        -- One-sided, as the paper's statistic is: Deletang et al. score the
        -- best model over seeds and learning rates, and a maximum can only
        -- say "no better than chance"; a seed below chance (a counter off
        -- by one at unseen lengths) extrapolates nothing either.
        parts[#parts + 1] = { id = r.encoding, kind = "less", x = by, reference = (chance or 0) + cfg.chance_margin,
                              best_of = true }
        text[#text + 1] = r.encoding .. " " .. ci(r._ood)
      end
      local series = {}
      for _, enc in ipairs(cfg.del_encodings) do series[#series + 1] = "del-" .. task .. "-" .. enc end
      S_.claim { claim = task .. " stays at chance beyond the training length for every encoding (no better " ..
        "than chance + margin)", series = series,
        published = "at chance out of distribution: the best model over seeds and rates (Deletang et al. 2023)",
        measured = string.format("accuracy beyond L (chance %.3f, margin %.2f): %s; above chance + margin in " ..
          "distribution: %s%s", chance or 0 / 0, cfg.chance_margin, table.concat(text, "; "),
          #learned > 0 and table.concat(learned, ", ") or "none",
          #unlearned > 0 and string.format("; left out, not learned in distribution (mean per-token accuracy " ..
            ">= %g at sizes <= L): %s", cfg.learn_threshold, table.concat(unlearned, "; ")) or ""),
        test = { kind = "all_of", claims = parts, premise = #learned > 0 and { ok = true } or { ok = false,
          reason = "no encoding learned any of the task in distribution (mean accuracy above chance + margin " ..
            "at sizes <= L), so chance beyond L says nothing",
          would_need = "more steps or a larger model, until some encoding learns the task in distribution" } } }
      local list = {}
      for _, enc in ipairs(cfg.del_encodings) do
        list[#list + 1] = { series = "del-" .. task .. "-" .. enc, name = enc }
      end
      S_.figure(X:plot_lines(S_.R:path("plots/deletang_" .. task), "Deletang: " .. task, list, "accuracy",
        { xlabel = "problem size n", ylabel = "accuracy", L = cfg.del_L, chance = chance, yrange = { 0, 1 } }),
        task .. " accuracy against size, with chance.")
    end
  end,
}

return S
