-- A synthetic study for the sequential sweep test (test_sequential.sh):
-- three series whose per-seed value is a planted effect plus unit noise
-- (big: 3, small: 0.6, null: 0), one claim each ("greater than 0", margin
-- 0.5). Runs take no time; the point is which series get more seeds.
local experiment = require "posbench.experiment"

local M = { name = "seq_study", sequential = true }
M.config = { scale = "default", root = "results", seeds = 4, alpha = 0.05, until_decided = false, max_seeds = 16 }
local EFFECT = { big = 3, small = 0.6, null = 0 }
local ORDER = { "big", "small", "null" }

function M.configure(overrides)
  return experiment.configure("seq_study", M.config, { default = {} }, overrides)
end

function M.plan(cfg)
  local plan = {}
  for _, s in ipairs(ORDER) do
    for seed = 1, math.max(cfg.seeds, cfg._seeds and cfg._seeds[s] or 0) do
      plan[#plan + 1] = { name = s .. "-s" .. seed, config = { series = s, seed = seed } }
    end
  end
  return plan
end

function M.run_one(cfg, e, R)
  local c = e.config
  local rng = pb.stats.rng(1000 * c.seed + #c.series)
  local run = R:run(e.name, c)
  run:summary { series = c.series, seed = c.seed, value = EFFECT[c.series] + rng:normal() }
end

function M.collect(cfg, R, plan)
  local by = { big = {}, small = {}, null = {} }
  for _, e in ipairs(plan) do
    if e.done then
      local s = R:load(e.name).summary
      by[s.series][s.seed] = s.value
    end
  end
  local claims = {}
  for _, s in ipairs(ORDER) do
    claims[#claims + 1] = { id = s, kind = "greater", x = by[s], reference = 0, margin = 0.5 }
  end
  local q = cfg._sequential
  local rows, seq = {}, nil
  if q then
    local state
    for j = 1, q.look do
      local cut = {}
      for i, c in ipairs(claims) do
        local x = {}
        for seed, v in pairs(c.x) do if seed <= q.looks[j] then x[seed] = v end end
        cut[i] = { id = c.id, kind = c.kind, x = x, reference = 0, margin = 0.5 }
      end
      seq = pb.verdict.sequential(cut, { alpha = cfg.alpha, looks = q.looks, look = j, state = state })
      state = seq.state
    end
    seq.more_series = seq.more
    for _, r in ipairs(seq.results) do rows[#rows + 1] = { claim = r.id, verdict = r.verdict, look = r.stage } end
  else
    for _, r in ipairs(pb.verdict.decide(claims, { alpha = cfg.alpha })) do
      rows[#rows + 1] = { claim = r.id, verdict = r.verdict }
    end
  end
  R:csv("claims.csv", rows, { "claim", "verdict", "look" })
  return { dir = R.dir, sequential = seq }
end

if experiment.is_main(...) then require("posbench.sweep").run_inprocess(M, pb.args) end
return M
