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
        P.seq("kaz", task, enc, { L = cfg.kaz_L, factors = cfg.kaz_factors })
      end
    end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    -- The claims average over the tasks every encoding learned in
    -- distribution (a task nobody learned says nothing about extrapolation).
    local tasks, dropped = {}, {}
    for _, task in ipairs(cfg.kaz_tasks) do
      local all = true
      for _, enc in ipairs(cfg.kaz_encodings) do
        if not X:learned("kaz-" .. task .. "-" .. enc, cfg) then all = false end
      end
      if all then tasks[#tasks + 1] = task else dropped[#dropped + 1] = task end
    end
    local needs = {}
    if #tasks == 0 then
      tasks = cfg.kaz_tasks
      for _, task in ipairs(tasks) do
        for _, enc in ipairs(cfg.kaz_encodings) do needs[#needs + 1] = "kaz-" .. task .. "-" .. enc end
      end
    end
    local by_enc, rows = {}, {}
    for _, enc in ipairs(cfg.kaz_encodings) do
      local list = {}
      for _, task in ipairs(tasks) do list[#list + 1] = "kaz-" .. task .. "-" .. enc end
      by_enc[enc] = X:mean_of_series(list, "exact")
      local row = { encoding = enc, ood = ci(by_enc[enc]) }
      for _, task in ipairs(cfg.kaz_tasks) do
        local id = X:mean_over("kaz-" .. task .. "-" .. enc, "accuracy", function(r) return r.in_dist end)
        row[task] = id and id.mean
      end
      rows[#rows + 1] = row
    end
    local cols, heads = { "encoding" }, { ood = "exact match > L, mean over " .. table.concat(tasks, ", ") }
    for _, task in ipairs(cfg.kaz_tasks) do cols[#cols + 1] = task; heads[task] = task .. " acc <= L" end
    cols[#cols + 1] = "ood"
    S_.rep:table(rows, cols, { format = "%.3f", headers = heads,
      caption = "Per-token accuracy in distribution per task; exact match beyond L, mean over tasks " ..
        "and sizes per seed, then mean [95% CI] (max) over seeds." })
    if #dropped > 0 and #needs == 0 then
      S_.rep:para("Left out of the claims (some encoding did not reach per-token accuracy " ..
        cfg.learn_threshold .. " in distribution): " .. table.concat(dropped, ", ") .. ".")
    end
    local others = {}
    for _, enc in ipairs { "alibi", "rope", "learned" } do others[#others + 1] = by_enc[enc] end
    local text = {}
    for _, enc in ipairs(cfg.kaz_encodings) do text[#text + 1] = enc .. " " .. ci(by_enc[enc]) end
    S_.claim { claim = "NoPE generalises beyond the training length better than ALiBi, RoPE and APE",
      published = "NoPE ahead of ALiBi, Rotary, APE (abstract)", needs = needs,
      measured = "exact match beyond L over " .. table.concat(tasks, ", ") .. ": " .. table.concat(text, "; "),
      verdict = measure.beats_all(by_enc.none, others) }
    S_.claim { claim = "T5's relative bias generalises better than ALiBi, RoPE and APE",
      published = "abstract: ALiBi, Rotary and APE \"not well suited\", T5 not among them; NoPE " ..
        "resembles T5", needs = needs,
      measured = "t5 " .. ci(by_enc.t5), verdict = measure.beats_all(by_enc.t5, others) }
    for _, task in ipairs(cfg.kaz_tasks) do
      local list = {}
      for _, enc in ipairs(cfg.kaz_encodings) do
        list[#list + 1] = { series = "kaz-" .. task .. "-" .. enc, name = enc }
      end
      S_.figure(X:plot_lines(S_.R:path("plots/kazemnejad_" .. task), "Kazemnejad: " .. task .. " exact match",
        list, "exact", { xlabel = "problem size n", ylabel = "exact match", L = cfg.kaz_L, yrange = { 0, 1 } }),
        task .. ": exact match against size, mean and 95% CI over seeds.")
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
        P.seq("ruoss", task, enc, { L = cfg.ruoss_L, factors = cfg.ruoss_factors, causal = false })
        P.seq("ruoss", task, enc, { L = cfg.ruoss_L, factors = cfg.ruoss_factors, causal = false, random = true })
      end
    end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    local rows, cats, vals, gains, dropped, needs_all = {}, {}, {}, {}, {}, {}
    for _, task in ipairs(cfg.ruoss_tasks) do
      for _, enc in ipairs(cfg.ruoss_encodings) do
        local base = "ruoss-" .. task .. "-" .. enc
        local det, rnd = X:mean_over(base, "accuracy"), X:mean_over(base .. "+random", "accuracy")
        -- Gain per seed: same seed and data order, only the positions differ;
        -- only where both variants learned the task in distribution.
        local both = X:learned(base, cfg) and X:learned(base .. "+random", cfg)
        if not both then dropped[#dropped + 1] = task .. " " .. enc end
        needs_all[#needs_all + 1], needs_all[#needs_all + 2] = base, base .. "+random"
        if det and rnd and both then
          for i = 1, math.min(#det.values, #rnd.values) do
            gains[i] = gains[i] or {}
            table.insert(gains[i], rnd.values[i] - det.values[i])
          end
        end
        rows[#rows + 1] = { task = task, encoding = enc, deterministic = ci(det), randomised = ci(rnd) }
        cats[#cats + 1], vals[#vals + 1] = task .. " " .. enc, { det, rnd }
      end
    end
    S_.rep:table(rows, { "task", "encoding", "deterministic", "randomised" },
      { caption = "Per-token accuracy beyond L, mean over test sizes, then mean [95% CI] (max) over seeds." })
    -- Average gain per seed over every task x encoding (the paper's average).
    local vals_seed = {}
    for _, list in ipairs(gains) do vals_seed[#vals_seed + 1] = pb.stats.mean(list) end
    local avg = #vals_seed > 0 and pb.stats.summary(vals_seed, { level = cfg.level }) or nil
    if #dropped > 0 then
      S_.rep:para("Left out of the average gain (a variant did not reach per-token accuracy " ..
        cfg.learn_threshold .. " in distribution): " .. table.concat(dropped, "; ") .. ".")
    end
    local verdict = "inconclusive"
    if avg and avg.has_ci then
      verdict = avg.lo > 0 and "reproduced" or (avg.hi < 0 and "not reproduced" or "inconclusive")
    end
    S_.claim { claim = "Randomised positions raise out-of-distribution accuracy on average",
      published = "test accuracy +12.0% on average (abstract)", needs = #vals_seed == 0 and needs_all or nil,
      measured = "mean gain in accuracy " .. ci(avg) .. " (randomised minus deterministic, mean over " ..
        "tasks and encodings per seed; +0.12 would match the paper's 12.0%)", verdict = verdict }
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
    "injection (the paper's extra architecture), a smaller random offset range. The Abacus gain " ..
    "the paper reports holds for the standard decoder as well, which is what is compared here.",
  published = "Abstract: training on 20-digit numbers reaches up to 99% accuracy on 100-digit " ..
    "addition; Abacus far ahead of the other embeddings beyond the training length.",
  plan = function(cfg, P)
    for _, enc in ipairs(cfg.abacus_encodings) do
      P.seq("abacus", "add", enc, { L = cfg.add_L, factors = cfg.add_factors })
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
      rows[#rows + 1] = { encoding = enc, in_dist = id and id.mean, ood = ci(by[enc]) }
    end
    S_.rep:table(rows, { "encoding", "in_dist", "ood" }, { format = "%.3f",
      headers = { in_dist = "exact <= L", ood = "exact > L [95% CI]" }, caption = "Addition, exact match." })
    local others, text, needs = {}, {}, {}
    for _, enc in ipairs(cfg.abacus_encodings) do
      needs[#needs + 1] = "abacus-add-" .. enc
      text[#text + 1] = enc .. " " .. ci(by[enc])
      if enc ~= "abacus" then others[#others + 1] = by[enc] end
    end
    S_.claim { claim = "Abacus positions generalise addition beyond the training length better than the others",
      published = "Abacus up to 99% at 100 digits after training on 20 (abstract)", needs = needs,
      measured = table.concat(text, "; "), verdict = measure.beats_all(by.abacus, others) }
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
    "(the width stays fixed). The question, whether 2D relative rotations keep working on a " ..
    "larger grid than trained, is the paper's; the task is far simpler than images.",
  published = "Abstract: RoPE \"demonstrates impressive extrapolation performance, i.e. " ..
    "maintaining precision while increasing image resolution at inference\"; RoPE-Mixed is " ..
    "proposed as the better 2D form (ordering as stated in the abstract: RoPE ahead of APE).",
  plan = function(cfg, P)
    for _, enc in ipairs(cfg.heo_encodings) do
      P.seq("heo", "grid2d", enc, { L = cfg.grid_rows, factors = cfg.grid_factors })
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
    S_.claim { claim = "2D RoPE (mixed and axial) keeps more accuracy on larger grids than absolute 2D positions",
      published = "RoPE ahead of APE at higher resolutions (abstract)", needs = needs,
      measured = string.format("mixed %s; axial %s; sinusoidal2d %s", ci(by.rope2d_mixed), ci(by.rope2d_axial),
        ci(by.sinusoidal2d)),
      verdict = measure.all_of { measure.beats_all(by.rope2d_mixed, { by.sinusoidal2d }),
                                 measure.beats_all(by.rope2d_axial, { by.sinusoidal2d }) } }
    S_.claim { claim = "RoPE-Mixed extrapolates at least as well as RoPE-Axial and better than absolute",
      published = "Mixed proposed as the better 2D RoPE (abstract and method)", needs = needs,
      measured = string.format("mixed %s vs axial %s", ci(by.rope2d_mixed), ci(by.rope2d_axial)),
      verdict = measure.compare(by.rope2d_mixed, by.rope2d_axial) < 0 and "not reproduced"
        or measure.beats_all(by.rope2d_mixed, { by.sinusoidal2d }) }
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
        P.seq("del", task, enc, { L = cfg.del_L, factors = cfg.del_factors })
      end
    end
  end,
  report = function(S_)
    local cfg, X = S_.cfg, S_.X
    for _, task in ipairs(cfg.del_tasks) do
      local rows, above, chance = {}, {}, nil
      for _, enc in ipairs(cfg.del_encodings) do
        local s = "del-" .. task .. "-" .. enc
        chance = chance or S_.chance[s]
        local ood = X:mean_over(s, "accuracy")
        local id = X:mean_over(s, "accuracy", function(r) return r.in_dist end)
        rows[#rows + 1] = { encoding = enc, in_dist = id and id.mean, ood = ci(ood), _ood = ood, _id = id }
        if ood and chance and ood.lo > chance + cfg.chance_margin then above[#above + 1] = enc end
      end
      S_.rep:table(rows, { "encoding", "in_dist", "ood" }, { format = "%.3f",
        headers = { in_dist = "accuracy <= L", ood = "accuracy > L [95% CI]" },
        caption = string.format("%s (chance %.3f).", task, chance or 0 / 0) })
      -- Out-of-distribution chance only means something for a model that
      -- learned some of the task: in distribution, an interval above chance
      -- + chance_margin for at least one encoding.
      local all_ci, learned = true, {}
      for _, r in ipairs(rows) do
        if not (r._ood and r._ood.has_ci) then all_ci = false end
        if r._id and r._id.has_ci and chance and r._id.lo > chance + cfg.chance_margin then
          learned[#learned + 1] = r.encoding
        end
      end
      local verdict = #above > 0 and "not reproduced" or (all_ci and "reproduced" or "inconclusive")
      if #learned == 0 and verdict == "reproduced" then verdict = "inconclusive" end
      S_.claim { claim = task .. " stays at chance beyond the training length for every encoding",
        published = "at chance out of distribution (Deletang et al. 2023)",
        measured = string.format("out-of-distribution intervals above chance + %.2f: %s; above chance in " ..
          "distribution: %s", cfg.chance_margin, #above > 0 and table.concat(above, ", ") or "none",
          #learned > 0 and table.concat(learned, ", ") or "none (nothing learned: no verdict)"),
        verdict = verdict }
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
