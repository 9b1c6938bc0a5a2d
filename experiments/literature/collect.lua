-- Collect of the literature study: reads every done run directory, lets
-- each section write its part of the report (tables, plots, claims), and
-- writes report.md, report.html, claims.csv and runs.csv.
local experiment = require "posbench.experiment"
local measure = require "literature.measure"

-- Eval records, chance per series and frequency usage per seed, from disk
-- (in plan order, so nothing depends on which run finished first).
local function load(M, R, plan)
  local rows, chance, freq, run_rows = {}, {}, {}, {}
  for _, e in ipairs(plan) do
    if e.done and e.experiment == M.name and not e.config.pilot then
      local run = R:load(e.name)
      local c, s = e.config, run.summary or {}
      local seed = c.seed or c.base.seed
      chance[c.series] = s.chance
      local info = s.run_info or {}
      run_rows[#run_rows + 1] = { run = e.name, series = c.series, seed = seed, lr = s.lr or c.lr,
                                  finetune_lr = s.finetune_lr, final_loss = s.final_loss,
                                  steps = s.steps or c.steps, wall_seconds = info.wall_seconds, train_seconds = s.train_seconds }
      local f_rows = {}
      for _, rec in ipairs(run.metrics) do
        if rec.kind == "eval" then
          rec.seed = seed
          rows[#rows + 1] = rec
          chance[rec.series] = chance[rec.series] or s.chance
        elseif rec.kind == "freq" then
          f_rows[#f_rows + 1] = rec
        end
      end
      if #f_rows > 0 then
        -- One row per layer x head; ratio: lowest quarter of frequencies
        -- (largest k) over the highest quarter, averaged over heads.
        local mat, by_lh = {}, {}
        for _, r in ipairs(f_rows) do
          local key = r.layer * 1000 + r.head
          if not by_lh[key] then by_lh[key] = {}; mat[#mat + 1] = by_lh[key] end
          by_lh[key][r.pair + 1] = r.usage
        end
        local hi, lo = 0, 0
        for _, u in ipairs(mat) do
          local q = math.max(1, #u // 4)
          for k = 1, q do hi, lo = hi + u[k], lo + u[#u - k + 1] end
        end
        freq[c.series] = freq[c.series] or {}
        table.insert(freq[c.series], { seed = seed, matrix = mat, ratio = hi > 0 and lo / hi or 0 / 0 })
      end
    end
  end
  return rows, chance, freq, run_rows
end

local MARK = pb.verdict.report_mark

local function shown_config(cfg)
  return table.concat(experiment.settings_lines(cfg, "=", { root = true, threads = true }), " ")
end

-- The series a verdict claim reads (a, b, x, each of bs; sub-claims too).
-- The baselines go into a new table: sections hand one `bs` to several
-- claims (Kazemnejad's NoPE and T5 claims against the same three), and
-- one claim's learned seeds must not restrict another's.
local function each_series(v, f)
  for _, k in ipairs { "a", "b", "x" } do if v[k] then v[k] = f(v[k]) end end
  if v.bs then
    local bs = {}
    for name, s in pairs(v.bs) do bs[name] = f(s) end
    v.bs = bs
  end
  for _, sc in ipairs(v.claims or {}) do each_series(sc, f) end
end

-- The fewest seeds with a value among the series a claim's test reads.
local function fewest_seeds(test)
  local fewest = math.huge
  each_series(test, function(series)
    local n = 0
    for _ in pairs(series) do n = n + 1 end
    fewest = math.min(fewest, n)
    return series
  end)
  return fewest
end

--- Keeps, in the claim's test, the seeds on which every series it needs
--- (c.needs) learned in distribution on the claim's metric (c.metric);
--- with fewer than cfg.min_seeds of them the claim is not testable.
--- -> text naming what did not learn, or nil
local function restrict_to_learned(X, cfg, c)
  local metric = c.metric or "accuracy"
  local keep, failed = nil, {}
  for _, series in ipairs(c.needs or {}) do
    local text, ok = X:unlearned(series, metric, cfg)
    if text then failed[#failed + 1] = text end
    local k = {}
    for s, yes in pairs(ok) do if yes and (keep == nil or keep[s]) then k[s] = true end end
    keep = k
  end
  if not c.needs or #c.needs == 0 then return nil end
  local n = 0
  for _ in pairs(keep) do n = n + 1 end
  each_series(c.test, function(series)
    local out = {}
    for s, v in pairs(series) do if keep[s] then out[s] = v end end
    return out
  end)
  local what = ({ accuracy = string.format("mean per-token accuracy >= %g at sizes <= L", cfg.learn_threshold),
                  exact = string.format("exact match >= %g at every size <= L", cfg.exact_threshold),
                  ppl = string.format("perplexity <= %g at L", cfg.lm_learned_ppl) })[metric]
  if n < cfg.min_seeds then
    c.test.learned = { ok = false,
      reason = string.format("%d seed%s on which every compared model learned the task in distribution " ..
        "(%s), %d needed; not learned: %s", n, n == 1 and "" or "s", what, cfg.min_seeds,
        table.concat(failed, "; ")),
      would_need = c.would_need or "a recipe (model size, steps) under which these models learn the task" }
  end
  return #failed > 0 and ("not learned in distribution (" .. what .. "): " .. table.concat(failed, "; ")) or nil
end

local function count_verdicts(claims)
  local counts = { reproduced = 0, ["not reproduced"] = 0, inconclusive = 0, ["not testable"] = 0 }
  for _, c in ipairs(claims) do counts[c.verdict] = counts[c.verdict] + 1 end
  return counts
end

-- Learning rate chosen for each series and its training steps (several
-- values where train-until-learned added rounds; runs.csv has them per run).
local function lr_rows(run_rows)
  local by, order = {}, {}
  for _, r in ipairs(run_rows) do
    if r.lr and not by[r.series] then by[r.series] = { lr = {}, steps = {} }; order[#order + 1] = r.series end
    if r.lr then
      local b = by[r.series]
      b.lr[string.format("%g", r.lr)] = true
      if r.steps then b.steps[r.steps] = (b.steps[r.steps] or 0) + 1 end
    end
  end
  local out = {}
  for _, series in ipairs(order) do
    local lrs, steps = {}, {}
    for k in pairs(by[series].lr) do lrs[#lrs + 1] = k end
    for k in pairs(by[series].steps) do steps[#steps + 1] = k end
    table.sort(lrs)
    table.sort(steps)
    local shown = {}
    for _, k in ipairs(steps) do
      local n = by[series].steps[k]
      shown[#shown + 1] = #steps > 1 and string.format("%d (%d seed%s)", k, n, n == 1 and "" or "s") or tostring(k)
    end
    out[#out + 1] = { series = series, lr = table.concat(lrs, ", "), steps = table.concat(shown, ", ") }
  end
  return out
end

-- Every section's part of the report (tables, figures, claims) into rep,
-- from the records in D = {X, chance, freq}. -> claims, number of figures
local function sections(M, cfg, R, rep, D)
  local claims, figures = {}, 0
  for _, id in ipairs(cfg.sections) do
    local sec = M.sections[id]
    local paper = sec.title:match("^(.-):") or sec.title
    rep:section(sec.title)
    rep:para("**Protocol.** " .. sec.protocol)
    rep:para("**posbench.** " .. sec.changes)
    rep:para("**Published.** " .. sec.published)
    local S = { cfg = cfg, X = D.X, R = R, rep = rep, chance = D.chance, freq = D.freq }
    -- c: claim, published, measured (text), test (a pb.verdict claim
    -- without id), needs (series that must have learned), metric, series
    -- (what it reads, when more than needs), paper (default: the title's
    -- part before the colon).
    function S.claim(c)
      c.paper, c.section = c.paper or paper, id  -- a section of several papers names each claim's
      c.test.id = string.format("%s-%d", id, #claims + 1)
      c.test.max_seeds = cfg.seed_cap[id]
      local unlearned = restrict_to_learned(D.X, cfg, c)
      if unlearned then c.measured = c.measured .. "; " .. unlearned end
      local n = fewest_seeds(c.test)
      if n < cfg.min_seeds and not c.test.learned then
        c.test.learned = { ok = false, reason = string.format("%d seed%s with values, %d needed", n,
          n == 1 and "" or "s", cfg.min_seeds), would_need = "more seeds (seeds=)" }
      end
      rep:claim { text = c.paper .. ": " .. c.claim, verdict = "inconclusive", section = "literature" }
      c.block = rep.blocks[#rep.blocks]
      claims[#claims + 1] = c
    end
    function S.figure(png, caption)
      if png then figures = figures + 1; rep:figure(png, caption) end
    end
    sec.report(S)
  end
  return claims, figures
end

local function tests_of(claims)
  local tests = {}
  for i, c in ipairs(claims) do tests[i] = c.test end
  return tests
end

-- The runs' series behind a claim (an eval series "ctx-copy/pi" is read
-- from the runs of series "ctx-copy").
local function run_series(c)
  local out, seen = {}, {}
  for _, s in ipairs(c.series or c.needs or {}) do
    local r = s:gsub("/.*$", "")
    if not seen[r] then seen[r], out[#out + 1] = true, r end
  end
  return out
end

-- What the seeds that would decide an undecided claim cost at this scale
-- (its runs' mean wall time here), added to the verdict's text.
local function price_seeds(claims, results, run_rows)
  for i, r in ipairs(results) do
    local w = r.would_decide
    local need = w and math.min(w.hold or math.huge, w.refute or math.huge)
    if need and need < pb.verdict.MANY_SEEDS then
      local cost = measure.seeds_cost(run_series(claims[i]), need, run_rows)
      if cost then w.text = w.text .. string.format("; %d seeds of its runs: about %.0f CPU-minutes more " ..
        "at this scale", need, cost / 60) end
    end
  end
end

--- Verdicts of the claims: one family decided at once, or, in a sequential
--- sweep (cfg._sequential = {looks =, look =}), the group-sequential rule
--- replayed look by look on the seeds each look had (earlier looks without
--- plots, into a scratch report). -> results, sequential output or nil
local function decide(M, cfg, R, claims, D)
  local q = cfg._sequential
  if not q then return pb.verdict.decide(tests_of(claims), { alpha = cfg.alpha, level = cfg.level }), nil end
  local available = pb.plot.available
  local function tests_at(j)
    if j == q.look then return tests_of(claims) end
    pb.plot.available = function() return false end
    local ok, earlier = pcall(sections, M, cfg, R, pb.report.new("scratch"),
      { X = measure.new(cfg.level, D.rows, nil, q.looks[j]), chance = D.chance, freq = D.freq })
    pb.plot.available = available
    if not ok then error(earlier, 0) end
    return tests_of(earlier)
  end
  local out = pb.verdict.replay(tests_at, { alpha = cfg.alpha, level = cfg.level, looks = q.looks, look = q.look,
                                            futility = cfg.futility, spending = cfg.spending })
  out.more_series = {}
  for i, r in ipairs(out.results) do
    if r.status == "more" then
      for _, s in ipairs(run_series(claims[i])) do out.more_series[#out.more_series + 1] = s end
    end
  end
  return out.results, out
end

return function(M)
  return function(cfg, R, plan)
    local t0 = pb.now()
    local rows, chance, freq, run_rows = load(M, R, plan)
    local X = measure.new(cfg.level, rows)
    local rep = pb.report.new("Reproducing the literature on positional encodings")
    -- a sequential sweep gives more seeds to the series behind undecided claims
    local q = cfg._sequential
    local seeds = q and q.look > 1 and string.format("%d seeds per configuration, up to %d where claims " ..
      "were undecided (looks at %s seeds)", cfg.seeds, q.looks[q.look], table.concat(q.looks, ", "))
      or string.format("%d seeds per configuration", cfg.seeds)
    rep:para(string.format("Scale `%s`, %s, %d runs (and the learning-rate pilots). Each section states the " ..
      "paper's protocol, what posbench changes to fit a small CPU budget, the paper's finding, " ..
      "posbench's measurement (mean [95%% interval, kept inside [0, 1] for accuracies] over seeds, and " ..
      "the max over seeds, the statistic of papers that report their best seed) and a verdict. " ..
      "Every claim is a test on per-seed values: all encodings of a comparison share the seed, so " ..
      "they start from the same shared weights and see the same training data, and the test is on " ..
      "the per-seed differences. Claims render as Confirmed (reproduced), Contradicted (not " ..
      "reproduced), Inconclusive, or Not testable at this scale. Nothing is tuned on the evaluation " ..
      "lengths: each series' learning rate is chosen from the grid on validation problems of sizes <= L " ..
      "(pilot seed %d, not used in any comparison).", cfg.scale, seeds, #run_rows, cfg.pilot_seed))
    rep:para(pb.verdict.rules_text { alpha = cfg.alpha } ..
      string.format(" Margins: %g in accuracy or exact match, %g%% in perplexity (`acc_margin`, `ppl_margin`). " ..
        "A claim reads only the seeds on which every model it compares learned the task in distribution, " ..
        "on the claim's own metric, and needs at least %d of them.", cfg.acc_margin, 100 * cfg.ppl_margin,
        cfg.min_seeds))
    local summary_at = #rep.blocks + 1
    local claims, figures = sections(M, cfg, R, rep, { X = X, chance = chance, freq = freq })
    local results, seq = decide(M, cfg, R, claims, { rows = rows, chance = chance, freq = freq })
    price_seeds(claims, results, run_rows)
    local stat_rows = pb.verdict.rows(results)
    for i, c in ipairs(claims) do
      local r = results[i]
      c.verdict, c.id = r.verdict, r.id
      c.effect, c.p = stat_rows[i]["effect [interval]"], stat_rows[i]["p hold / refute"]
      c.holm, c.detail = stat_rows[i]["Holm p"], stat_rows[i].verdict
      c.block.verdict = MARK[r.verdict]
      c.block.text = c.block.text .. " (" .. r.verdict .. ", " .. r.id .. ")"
      c.block.evidence = "published: " .. c.published .. ". Measured: " .. c.measured .. ". Test: " ..
        pb.verdict.test_text(r, stat_rows[i]) .. "."
    end
    -- The claims table goes right after the introduction.
    local tail = {}
    for i = summary_at, #rep.blocks do tail[#tail + 1] = rep.blocks[i] end
    for i = #rep.blocks, summary_at, -1 do rep.blocks[i] = nil end
    local counts = count_verdicts(claims)
    rep:section("Claims")
    rep:para(string.format("%d claims: %d reproduced, %d not reproduced, %d inconclusive, %d not testable " ..
      "at this scale (%d decided; claims.csv). Family: %d hypotheses, Holm at alpha = %g.", #claims,
      counts.reproduced, counts["not reproduced"], counts.inconclusive, counts["not testable"],
      counts.reproduced + counts["not reproduced"], results[1] and results[1].family or 0, cfg.alpha))
    rep:table(claims, { "id", "paper", "claim", "published", "measured", "verdict" })
    rep:section("Statistics of each claim", 3)
    rep:table(stat_rows, pb.verdict.columns, { caption = "Per-seed statistic (n and range), effect with its " ..
      "interval, one-sided p-values of the two hypotheses (reproduce / refute), Holm-adjusted, and the verdict " ..
      "with what would decide an undecided claim." })
    for _, b in ipairs(tail) do rep.blocks[#rep.blocks + 1] = b end
    rep:section("What was run")
    rep:para("Configuration (learning rates: each series' from the grid, chosen on the pilot seed's " ..
      "validation loss; no other settings were tried for this report): `" .. shown_config(cfg) .. "`.")
    rep:table(lr_rows(run_rows), { "series", "lr", "steps" }, { caption = "Learning rate and training steps " ..
      "of each series (with train-until-learned, each seed's steps over all its rounds)." })
    rep:list {
      "`claims.csv`: id, paper, claim, published, measured, effect, p, Holm p, verdict, section.",
      "`runs.csv`: one row per run (series, seed, learning rate, training steps, final training loss, wall seconds).",
      "`plots/`: the figures above (PNG and SVG, gnuplot script and data).",
      "one directory per run with config.json, metrics.jsonl and summary.json.",
    }
    R:csv("claims.csv", claims, { "id", "paper", "claim", "published", "measured", "effect", "p", "holm",
                                  "verdict", "detail", "section" })
    R:csv("runs.csv", run_rows, { "run", "series", "seed", "lr", "finetune_lr", "steps", "final_loss",
                                  "train_seconds", "wall_seconds" })
    rep:write(R:path("report.md"))
    rep:write_html(R:path("report.html"))
    local elapsed = pb.now() - t0
    experiment.sayer("literature")("collected in %.1f s: %d claims (%d reproduced, %d not reproduced, " ..
      "%d inconclusive, %d not testable), %d figures: %s", elapsed, #claims, counts.reproduced,
      counts["not reproduced"], counts.inconclusive, counts["not testable"], figures, R:path("report.md"))
    return { dir = R.dir, claims = claims, counts = counts, results = results, seconds = elapsed, report = rep,
             sequential = seq }
  end
end
