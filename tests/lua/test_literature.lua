-- Tests of the literature study (experiments/literature.lua): the lm task's
-- corpus slices (from=, to=), the verdict rules on made-up intervals, the
-- plan (every section, shared runs planned once, scaling runs after the
-- checkpoints they need, learning-rate pilots before the runs that select
-- from them, seeds added by a sequential look), and a tiny run of the whole
-- study checking the report, the claims table and their honesty (untrained
-- models give no verdict: inconclusive or not testable).
-- Run: build/posbench run tests/lua/test_literature.lua
local core = require "posbench.core"

local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with

pb.threads(1)
local tmp = os.tmpname()
os.remove(tmp)
core.mkdir_p(tmp)
local write = checks.write

-- lm corpus slices ---------------------------------------------------------------
-- "ab" repeated, then "cd" repeated: the slices hold different characters
-- but keep the ids of the whole file (a=1, b=2, c=3, d=4).
local path = write(tmp .. "/text.txt", string.rep("ab", 50) .. string.rep("cd", 50))
local whole = pb.task("lm", { path = path, min_len = 4, max_len = 4 })
local head = pb.task("lm", { path = path, min_len = 4, max_len = 4, to = 0.5 })
local tail = pb.task("lm", { path = path, min_len = 4, max_len = 4, from = 0.5 })
check(whole:info().vocab == 5 and head:info().vocab == 5 and tail:info().vocab == 5,
  "slices share the vocabulary of the whole file")
local function ids(task)
  local seen = {}
  for s = 1, 20 do
    for _, t in ipairs(task:sample(4, { seed = s, causal = true }).tokens) do seen[t] = true end
  end
  return seen
end
local h, t = ids(head), ids(tail)
check(h[1] and h[2] and not h[3] and not h[4], "the first half holds only a and b (ids 1, 2)")
check(t[3] and t[4] and not t[1] and not t[2], "the second half holds only c and d (ids 3, 4)")
errors_with("0 <= from < to <= 1", pb.task, "lm", { path = path, from = 0.6, to = 0.4 })
errors_with("0 <= from < to <= 1", pb.task, "lm", { path = path, to = 1.5 })
errors_with("too short", pb.task, "lm", { path = path, min_len = 64, max_len = 64, from = 0.9 })

-- Per-seed series and the learned rule ------------------------------------------------
package.path = "experiments/?.lua;" .. package.path
local measure = require "literature.measure"
local rows = {}
for seed = 1, 3 do
  for _, n in ipairs { 2, 4, 8 } do
    local id = n <= 4
    rows[#rows + 1] = { series = "a", seed = seed, length = n, in_dist = id, accuracy = 0.9 + 0.01 * seed,
                        exact = id and (seed == 3 and n == 4 and 0.85 or 0.95) or 0.1 * seed }
    rows[#rows + 1] = { series = "b", seed = seed, length = n, in_dist = id, accuracy = id and 0.5 or 0.1,
                        exact = 0 }
  end
end
local X = measure.new(0.95, rows)
local cfg_gate = { learn_threshold = 0.8, exact_threshold = 0.9, lm_learned_ppl = 10 }
local ok_a = X:learned_seeds("a", "accuracy", cfg_gate)
local ok_b = X:learned_seeds("b", "accuracy", cfg_gate)
check(ok_a[1] and ok_a[2] and ok_a[3] and not ok_b[1], "learned per seed on per-token accuracy")
local ex = X:learned_seeds("a", "exact", cfg_gate)
check(ex[1] and ex[2] and not ex[3], "exact match must reach the threshold at every size <= L (seed 3: 0.85 at n=4)")
check(X:n_learned("a", "exact", cfg_gate) == 2, "two seeds learned on exact match")
local a = X:mean_over("a", "accuracy")
check(a and a.n == 3 and math.abs(a.mean - 0.92) < 1e-12 and math.abs(a.max - 0.93) < 1e-12,
  "mean and max over seeds of the out-of-distribution accuracy")
check(a.hi <= 1 and a.lo >= 0, "accuracy intervals stay inside [0, 1]")
local by = X:seed_mean("a", "exact")
check(math.abs(by[2] - 0.2) < 1e-12 and math.abs(by[3] - 0.3) < 1e-12, "per-seed mean beyond L")
local both = X:seed_mean_of_series({ "a", "b" }, "exact")
check(math.abs(both[1] - 0.05) < 1e-12, "per-seed mean over series")
local early = measure.new(0.95, rows, nil, 2)
check(#early:seeds_of("a") == 2, "a look keeps the seeds up to its limit")
check(measure.off_floor({ a = by, b = X:seed_mean("b", "exact") }, 0.02, "exact").ok, "a is off the floor")
check(not measure.off_floor({ b = X:seed_mean("b", "exact") }, 0.02, "exact").ok, "b alone is at the floor")
local timed = { { series = "a", wall_seconds = 2 }, { series = "a", wall_seconds = 4 }, { series = "b", wall_seconds = 10 },
                { series = "b" } }
check(measure.seeds_cost({ "a", "b" }, 5, timed) == 3 * 3 + 4 * 10,
  "seeds to decide priced at each series' mean wall time per timed run, beyond the runs it has")
check(measure.seeds_cost({ "a" }, 1, timed) == 0, "no cost when a series has the seeds already")
check(measure.seeds_cost({ "a", "c" }, 5, timed) == nil, "no price for a series without timed runs")

-- Plan ---------------------------------------------------------------------------
local lit = dofile("experiments/literature.lua")
errors_with("unknown section 'nope'", lit.configure, { scale = "tiny", sections = "nope", root = tmp })
errors_with("not found", lit.configure, { scale = "tiny", texts = tmp .. "/missing.txt", root = tmp })
local cfg = lit.configure { scale = "tiny", root = tmp }
local plan = lit.plan(cfg)
local names, stage = {}, {}
for _, e in ipairs(plan) do
  check(not names[e.name], "run " .. e.name .. " planned once")
  names[e.name], stage[e.name] = e, e.stage or 1
end
for _, e in ipairs(plan) do
  for _, n in ipairs(e.needs or {}) do
    check(names[n] and stage[n] < (e.stage or 1), e.name .. " needs an earlier run " .. n)
  end
end
check(names["lm-rope-s1"] and names["lm-rope-s1"].config.freq_usage, "one RoPE lm run, with frequency usage")
-- learning rates: pilots on the pilot seed, one per lr of the grid, before the runs that select
local pilots = names["lm-rope-s1"].needs
check(#pilots == #cfg.lr_grid and names[pilots[1]].config.pilot and names[pilots[1]].config.seed == cfg.pilot_seed,
  "each series selects its lr from one pilot per lr of the grid, on the pilot seed")
check(names[pilots[1]].config.lengths == nil, "a pilot evaluates nothing beyond L")
check(names["ctx-lm-s1"].config.finetune_lr_ratio == cfg.finetune_lr_ratio, "fine-tunes at a fraction of the lr")
check(names["ctx-lm-s2"] and names["ctx-lm-s2"].needs[1] == "lm-rope-s2", "lm scaling starts from lm-rope")
check(names["ctx-copy-s1"] and names["ctx-copy-s1"].needs[1] == "kaz-copy-rope-s1",
  "copy scaling starts from the Kazemnejad RoPE run")
check(names["ruoss-reverse-rope+random-s1"].config.model.positions.scheme == "random", "randomised positions")
check(names["abacus-add-abacus-s1"].config.model.positions.scheme == "abacus", "abacus positions")
check(names["abacus-add-none-s1"].config.topts.independent == (cfg.add_independent and 1 or nil),
  "add_independent reaches the add task")
local indep = lit.configure { scale = "tiny", root = tmp, sections = "abacus", add_independent = true }
check(lit.plan(indep)[1].config.topts.independent == 1, "add_independent=true draws the operands' lengths apart")
check(names["heo-grid2d-rope2d_mixed-s1"].config.topts.square == 1 and
  names["heo-grid2d-rope2d_mixed-s1"].config.topts.width == nil, "square grids by default (no fixed width)")
local rows = lit.plan(lit.configure { scale = "tiny", root = tmp, sections = "heo", grid_square = false })[1].config.topts
check(rows.square == nil and rows.width == cfg.grid_width, "grid_square=false keeps grid_width cells a row")
check(names["heo-grid2d-rope2d_mixed-s1"].config.model.positions.scheme == "grid", "grid positions")
check(names["ruoss-reverse-rope-s1"].config.model.causal == false, "Ruoss models are encoders")
check(names["barbero-p-rope-s1"].config.model.enc.p == cfg.p, "p-RoPE keeps the fraction p")
-- a dotted override sets one field of a recipe and keeps the rest (and the study's own table)
local deeper = lit.configure { scale = "default", root = tmp, sections = '["kazemnejad"]', ["recipes.kaz.layers"] = 4 }
local deep_plan = {}
for _, e in ipairs(lit.plan(deeper)) do deep_plan[e.name] = e end
check(deep_plan["kaz-copy-none-s1"].config.model.layers == 4 and deep_plan["kaz-copy-none-s1"].config.model.d == 64,
  "recipes.kaz.layers=4 deepens the Kazemnejad models and keeps the recipe's width")
check(lit.config.recipes.kaz.layers == 3 and deeper.recipes.abacus.d == 64,
  "a dotted override copies the tables it edits")
errors_with("recipes.kaz.layers=1.5 must be an integer", lit.configure,
  { scale = "tiny", root = tmp, ["recipes.kaz.layers"] = 1.5 })
errors_with("sections is a list; set it whole", lit.configure, { scale = "tiny", root = tmp, ["sections.x"] = 1 })
local one = lit.plan(lit.configure { scale = "tiny", root = tmp, sections = "barbero" })
check(#one == (cfg.seeds + #cfg.lr_grid) * #cfg.barbero_encodings, "sections= plans that section only")
-- a sequential look adds seeds to the series named, and to nothing else
local more = lit.configure { scale = "tiny", root = tmp, sections = "context" }
more._seeds = { ["ctx-copy"] = 4 }
local grown = {}
for _, e in ipairs(lit.plan(more)) do grown[e.name] = e end
check(grown["ctx-copy-s4"] and grown["kaz-copy-rope-s4"] and not grown["ctx-lm-s3"] and not grown["lm-rope-s3"],
  "more seeds for ctx-copy bring its RoPE checkpoints along and nothing else")

-- Train-until-learned: untrained tiny models take every round of the cap;
-- with a criterion every model meets, one round. Pilots train one round.
for _, case in ipairs { { threshold = 0.9, rounds = 3 }, { threshold = 0, rounds = 1 } } do
  local root = tmp .. "/ul" .. case.rounds
  local ucfg = lit.configure { scale = "tiny", root = root, sections = "kazemnejad", exact_threshold = case.threshold,
                               recipes = { kaz = { until_learned = 3 } } }
  local uplan = lit.plan(ucfg)
  local by_name = {}
  for _, e in ipairs(uplan) do by_name[e.name] = e end
  check(by_name["kaz-copy-alibi-s1"].config.until_learned.metric == "exact",
    "Kazemnejad's runs train until learned on exact match")
  check(by_name["kaz-copy-alibi-lr0.001"].config.until_learned == nil, "pilots train one round")
  lit.run { scale = "tiny", root = root, sections = "kazemnejad", exact_threshold = case.threshold,
            recipes = { kaz = { until_learned = 3 } } }
  local rows = pb.csv.read(root .. "/literature/runs.csv")
  local all = true
  for _, r in ipairs(rows) do all = all and tonumber(r.steps) == case.rounds * ucfg.steps end
  check(#rows > 0 and all, string.format("threshold %g: every run trained %d round(s) of %d steps", case.threshold,
    case.rounds, ucfg.steps))
  local umd = io.open(root .. "/literature/report.md"):read("a")
  check(umd:find("| kaz-copy-alibi | 0.001", 1, true) ~= nil or umd:find("| kaz-copy-alibi | 0.003", 1, true) ~= nil,
    "the report lists each series' lr")
  check(umd:find(" | " .. case.rounds * ucfg.steps .. " |", 1, true) ~= nil, "... and its steps")
end

-- A claim reads the seeds on which the series it compares learned, no
-- others: with T5's seed 2 missing, NoPE against ALiBi, RoPE and the
-- learned table keeps both seeds (the two claims share their baselines'
-- table, and one claim's restriction once leaked into the other).
do
  local kcfg = lit.configure { scale = "tiny", root = tmp .. "/ul1", sections = "kazemnejad", exact_threshold = 0,
                               min_seeds = 1, recipes = { kaz = { until_learned = 3 } } }
  local kplan = lit.plan(kcfg)
  for _, e in ipairs(kplan) do e.experiment, e.done = "literature", e.name ~= "kaz-copy-t5-s2" end
  local kres = lit.collect(kcfg, require("posbench.results").open("literature", { root = tmp .. "/ul1" }), kplan)
  local function n(t) local k = 0 for _ in pairs(t) do k = k + 1 end return k end
  local nope, t5 = kres.claims[1].test, kres.claims[2].test
  check(n(nope.a) == 2 and n(nope.bs.alibi) == 2 and n(nope.bs.learned) == 2,
    "NoPE's claim keeps both seeds when T5 lacks one")
  check(n(t5.a) == 1 and n(t5.bs.alibi) == 1, "T5's claim reads T5's one seed")
end

-- Train-until-learned on accuracy reads the test sizes <= L, as the
-- report's learned check does: short, easy sizes do not carry a model over
-- the threshold (mean over sizes 1..8 here 0.925, at the test sizes 0.7).
local lruns = require "literature.runs"
local uc = { series = "s", L = 8, lengths = { 4, 8, 16 } }
local usizes = {}
for n = 1, 8 do usizes[n] = { accuracy = (n == 4 or n == 8) and 0.7 or 1 } end
local acc80 = { metric = "accuracy", threshold = 0.8 }
check(not lruns.learned(uc, { sizes = usizes }, acc80), "0.7 at the test sizes <= L is not learned")
usizes[4].accuracy, usizes[8].accuracy = 0.85, 0.8
check(lruns.learned(uc, { sizes = usizes }, acc80), "0.825 at the test sizes <= L is learned")
check(lruns.learned(uc, { min_exact = 0.95 }, { metric = "exact", threshold = 0.9 }),
  "exact match: the smallest over sizes <= L")
errors_with("no test size <= L", lruns.learned, { series = "s", L = 2, lengths = { 4 } }, { sizes = usizes }, acc80)

-- The tiny study -----------------------------------------------------------------
local t0 = pb.now()
local res = lit.run { scale = "tiny", root = tmp }
local dir = tmp .. "/literature"
for _, f in ipairs { "report.md", "report.html", "claims.csv", "runs.csv", "corpus.txt" } do
  check(core.file_exists(dir .. "/" .. f), f .. " written")
end
local md = io.open(dir .. "/report.md"):read("a")
local html = io.open(dir .. "/report.html"):read("a")
for _, id in ipairs(lit.order) do
  local title = lit.sections[id].title
  check(md:find("## " .. title, 1, true) ~= nil, "report has the section " .. id)
end
check(select(2, html:gsub("data:image/png;base64,", "")) >= 8, "html embeds the figures")
local claims = pb.csv.read(dir .. "/claims.csv")
local per_section, valid = {}, { reproduced = true, ["not reproduced"] = true, inconclusive = true,
                                ["not testable"] = true }
for _, c in ipairs(claims) do
  per_section[c.section] = (per_section[c.section] or 0) + 1
  check(valid[c.verdict], "verdict '" .. tostring(c.verdict) .. "' is one of the four")
  check(c.paper ~= "" and c.published ~= "" and c.measured ~= "", "claim row complete: " .. c.claim)
  -- Models trained for a few dozen steps learn nothing: no claim may be
  -- read from them.
  check(c.verdict == "inconclusive" or c.verdict == "not testable",
    "untrained tiny models give no verdict: " .. c.claim .. " (" .. c.verdict .. ")")
end
for _, id in ipairs(lit.order) do check((per_section[id] or 0) >= 1, "claims for section " .. id) end
check(#res.claims == #claims, "returned claims match claims.csv")

-- A partial collect (most runs missing, as `posbench collect --allow-partial`
-- sees them) still writes a report, with no verdict drawn from missing runs.
local R = require("posbench.results").open("literature", { root = tmp })
local partial = lit.plan(cfg)
for i, e in ipairs(partial) do e.experiment, e.done = "literature", i <= 3 end
local ok, pres = pcall(lit.collect, cfg, R, partial)
check(ok, "partial collect runs: " .. tostring(not ok and pres or ""))
if ok then
  for _, c in ipairs(pres.claims) do
    check(c.verdict == "inconclusive" or c.verdict == "not testable", "partial: " .. c.claim)
  end
end
-- Collected at a later look of a sequential sweep, the report says how far
-- the looks took the seeds (the tiny study's 2 seeds are look 1 of 2, 4).
local seq_cfg = lit.configure { scale = "tiny", root = tmp }
seq_cfg._sequential = { looks = { 2, 4 }, look = 2 }
local full = lit.plan(seq_cfg)
for _, e in ipairs(full) do e.experiment, e.done = "literature", true end
local sok, serr = pcall(lit.collect, seq_cfg, R, full)
check(sok, "collect at look 2 runs: " .. tostring(not sok and serr or ""))
local smd = io.open(dir .. "/report.md"):read("a")
check(smd:find("2 seeds per configuration, up to 4 where claims were undecided (looks at 2, 4 seeds)", 1, true) ~= nil,
  "the report names the looks' seeds")
print(string.format("tiny study: %d runs, %d claims, %.1f s", #plan, #claims, pb.now() - t0))

os.execute("rm -rf '" .. tmp .. "'")
checks.close("test_literature")
