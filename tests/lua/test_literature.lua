-- Tests of the literature study (experiments/literature.lua): the lm task's
-- corpus slices (from=, to=), the verdict rules on made-up intervals, the
-- plan (every section, shared runs planned once, scaling runs after the
-- checkpoints they need), and a tiny run of the whole study checking the
-- report, the claims table and their honesty (untrained models give no
-- verdict but inconclusive).
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

-- Verdict rules ------------------------------------------------------------------
package.path = "experiments/?.lua;" .. package.path
local measure = require "literature.measure"
local function iv(lo, hi) return { mean = (lo + hi) / 2, lo = lo, hi = hi, has_ci = true, n = 5, max = hi } end
check(measure.compare(iv(0.6, 0.8), iv(0.1, 0.5)) == 1, "separated above")
check(measure.compare(iv(0.1, 0.5), iv(0.6, 0.8)) == -1, "separated below")
check(measure.compare(iv(0.4, 0.7), iv(0.1, 0.5)) == 0, "overlapping intervals do not separate")
check(measure.compare(iv(2, 3), iv(5, 9), true) == 1, "lower is better: smaller perplexity wins")
check(measure.compare({ mean = 1, lo = 1, hi = 1, has_ci = false }, iv(0, 0.1)) == 0,
  "one seed (no interval) never separates")
check(measure.beats_all(iv(0.6, 0.8), { iv(0.1, 0.2), iv(0.3, 0.5) }) == "reproduced", "beats every one")
check(measure.beats_all(iv(0.6, 0.8), { iv(0.1, 0.2), iv(0.5, 0.7) }) == "inconclusive", "one overlap")
check(measure.beats_all(iv(0.3, 0.4), { iv(0.1, 0.2), iv(0.5, 0.7) }) == "not reproduced", "one against")
check(measure.beats_all(nil, { iv(0.1, 0.2) }) == "inconclusive", "no measurement, no verdict")
check(measure.all_of { "reproduced", "reproduced" } == "reproduced", "all hold")
check(measure.all_of { "reproduced", "inconclusive" } == "inconclusive", "one open")
check(measure.all_of { "inconclusive", "not reproduced" } == "not reproduced", "one fails")

local rows = {}
for seed = 1, 3 do
  for _, n in ipairs { 4, 8 } do
    rows[#rows + 1] = { series = "a", seed = seed, length = n, in_dist = n <= 4, accuracy = 0.9 + 0.01 * seed }
    rows[#rows + 1] = { series = "b", seed = seed, length = n, in_dist = n <= 4, accuracy = n <= 4 and 0.5 or 0.1 }
  end
end
local X = measure.new(0.95, rows)
local cfg_gate = { learn_threshold = 0.8, lm_learned_ppl = 10 }
check(X:learned("a", cfg_gate) == true and X:learned("b", cfg_gate) == false, "learned gate")
local a = X:mean_over("a", "accuracy")
check(a and a.n == 3 and math.abs(a.mean - 0.92) < 1e-12 and math.abs(a.max - 0.93) < 1e-12,
  "mean and max over seeds of the out-of-distribution accuracy")

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
check(names["ctx-lm-s2"] and names["ctx-lm-s2"].needs[1] == "lm-rope-s2", "lm scaling starts from lm-rope")
check(names["ctx-copy-s1"] and names["ctx-copy-s1"].needs[1] == "kaz-copy-rope-s1",
  "copy scaling starts from the Kazemnejad RoPE run")
check(names["ruoss-reverse-rope+random-s1"].config.model.positions.scheme == "random", "randomised positions")
check(names["abacus-add-abacus-s1"].config.model.positions.scheme == "abacus", "abacus positions")
check(names["heo-grid2d-rope2d_mixed-s1"].config.model.positions.scheme == "grid", "grid positions")
check(names["ruoss-reverse-rope-s1"].config.model.causal == false, "Ruoss models are encoders")
check(names["lm-p-rope-s1"].config.model.enc.p == cfg.p, "p-RoPE keeps the fraction p")
local one = lit.plan(lit.configure { scale = "tiny", root = tmp, sections = "barbero" })
check(#one == cfg.seeds * #cfg.barbero_encodings, "sections= plans that section only")

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
local per_section, valid = {}, { reproduced = true, ["not reproduced"] = true, inconclusive = true }
for _, c in ipairs(claims) do
  per_section[c.section] = (per_section[c.section] or 0) + 1
  check(valid[c.verdict], "verdict '" .. tostring(c.verdict) .. "' is one of the three")
  check(c.paper ~= "" and c.published ~= "" and c.measured ~= "", "claim row complete: " .. c.claim)
  -- Models trained for a few dozen steps learn nothing: no claim may be
  -- read from them.
  check(c.verdict == "inconclusive", "untrained tiny models give no verdict: " .. c.claim)
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
  for _, c in ipairs(pres.claims) do check(c.verdict == "inconclusive", "partial: " .. c.claim) end
end
print(string.format("tiny study: %d runs, %d claims, %.1f s", #plan, #claims, pb.now() - t0))

os.execute("rm -rf '" .. tmp .. "'")
checks.close("test_literature")
