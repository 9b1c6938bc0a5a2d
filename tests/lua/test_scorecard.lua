-- The scorecard (experiments/scorecard.lua) at tiny scale with a learnable
-- proposal written in Lua: the sweep runs, resumes and collects; the table, CSV,
-- figures and configuration are written; a verdict's effect is recomputed
-- from the runs' own records; bad input gets a clear error.
-- Run: build/posbench run tests/lua/test_scorecard.lua
local core = require "posbench.core"
local csv, json = pb.csv, pb.json
local checks = dofile("tests/lua/checks.lua")
local check, errors_with, read = checks.check, checks.errors_with, checks.read

local tmp = os.tmpname()
os.remove(tmp)
core.mkdir_p(tmp)
-- a learnable proposal: ALiBi with learned slopes (experiments/proposals), copied
-- so that the test can change the file
local proposal = checks.write(tmp .. "/learned_alibi.lua",
  read(core.source_root() .. "/experiments/proposals/learned_alibi.lua"))

local posbench_binary = checks.posbench_binary
local exe = posbench_binary()
local function sweep(args, log)
  local ok = os.execute(string.format("'%s' sweep scorecard %s > '%s/%s' 2>&1", exe, args, tmp, log))
  return ok, read(tmp .. "/" .. log) or ""
end

-- Configuration errors ---------------------------------------------------------
local sc = dofile(core.source_root() .. "/experiments/scorecard.lua")
errors_with("give the proposal as encoding=FILE.lua:NAME", sc.configure, { scale = "tiny", root = tmp })
errors_with("proposal file '" .. tmp .. "/nosuch.lua' not found", sc.configure,
  { scale = "tiny", root = tmp, encoding = tmp .. "/nosuch.lua:x" })
errors_with({ "no encoding 'other'", "after running " .. proposal }, sc.configure,
  { scale = "tiny", root = tmp, encoding = proposal .. ":other" })
errors_with("expected FILE.lua:NAME", sc.configure, { scale = "tiny", root = tmp, encoding = proposal })
errors_with("unknown baseline 'ropee'", sc.configure,
  { scale = "tiny", root = tmp, encoding = "rope", against = { "ropee" } })
errors_with("'rope' is also in against=", sc.configure, { scale = "tiny", root = tmp, encoding = "rope" })
errors_with("unknown task 'sort'", sc.configure,
  { scale = "tiny", root = tmp, encoding = "rope", against = { "none" }, tasks = { "sort" } })
errors_with("scorecard: seeds must be in 2..1000 (paired tests), got 1", sc.configure,
  { scale = "tiny", root = tmp, encoding = "rope", against = { "none" }, seeds = 1 })
local broken = checks.write(tmp .. "/broken.lua", "pb.register_encoding(")
errors_with("loading " .. broken .. " failed", sc.configure, { scale = "tiny", root = tmp, encoding = broken .. ":x" })

-- A sweep of the battery ---------------------------------------------------------
local args = string.format("scale=tiny encoding='%s:lua_alibi_learned' against=rope,none root='%s' --local 2", proposal, tmp)
local ok, log = sweep(args, "sweep.log")
check(ok, "the scorecard sweep runs (log " .. tmp .. "/sweep.log)")
local dir = tmp .. "/scorecard/lua_alibi_learned"
for _, f in ipairs { "report.html", "report.md", "scorecard.csv", "tests.csv", "config.json", "plots/copy.png",
                     "plots/lm.png" } do
  check(read(dir .. "/" .. f) ~= nil, "the scorecard wrote " .. f)
end
check(log:find("comparisons", 1, true) ~= nil, "the collect line counts the comparisons")
-- the checklist reads the learnable slopes (one per head)
local md = read(dir .. "/report.md") or ""
check(md:find("| property: learnable parameters | 2 |", 1, true) ~= nil, "the checklist counts the proposal's 2 slopes")

if ok then
  local rows = csv.read(dir .. "/scorecard.csv")
  local by = {}
  for _, r in ipairs(rows) do by[r.measure .. "/" .. r.encoding] = r end
  for _, m in ipairs { "copy-in", "copy-beyond", "reverse-beyond", "recall-beyond", "lm-at-L", "lm-beyond",
                       "D-fp32", "D-bf16", "D-e4m3", "drop-bf16", "drop-e4m3", "share" } do
    for _, enc in ipairs { "lua_alibi_learned", "rope", "none" } do
      check(by[m .. "/" .. enc] ~= nil, "scorecard.csv has " .. m .. " of " .. enc)
    end
    local v = by[m .. "/rope"] and by[m .. "/rope"].verdict
    check(v == "better" or v == "worse" or v == "no different" or v == "undecided" or v == "higher" or v == "lower",
      m .. ": the proposal against rope has a verdict (" .. tostring(v) .. ")")
  end
  -- the paired effect of copy beyond L, from the runs' own eval records
  local function beyond(enc, seed)
    local s, k = 0, 0
    for line in io.lines(string.format("%s/copy-%s-s%d/metrics.jsonl", dir, enc, seed)) do
      local r = json.decode(line)
      if r.kind == "eval" and not r.in_dist then s, k = s + r.accuracy, k + 1 end
    end
    return s / k
  end
  local diff = ((beyond("lua_alibi_learned", 1) - beyond("rope", 1)) + (beyond("lua_alibi_learned", 2) - beyond("rope", 2))) / 2
  local eff = by["copy-beyond/rope"] and by["copy-beyond/rope"].effect
  check(type(eff) == "number" and math.abs(eff - diff) < 1e-9,
    string.format("copy beyond L: the paired effect %s is the mean per-seed difference %s", tostring(eff), diff))
  -- D of a relative bias is exactly 0 in fp32: the proposal and NoPE do not differ
  check(by["D-fp32/none"].verdict == "no different", "D in fp32: ALiBi-like and NoPE are both exactly relative")
  -- the proposal's runs are tied to its file's text
  local conf_run = json.decode(read(dir .. "/copy-lua_alibi_learned-s1/config.json")).config
  check(conf_run.model.encoding == "lua_alibi_learned" and conf_run.proposal_hash ~= nil,
    "the proposal's runs carry its file's hash")
  local cost = by["step_seconds/none"]
  check(cost and type(cost.mean) == "number" and cost.mean > 0, "the cost row has NoPE's step time")
  local mem = by["eval_kb/lua_alibi_learned"]
  check(mem and type(mem.mean) == "number", "the cost row has the proposal's evaluation memory")
  local html = read(dir .. "/report.html") or ""
  check(html:find("Scorecard: lua_alibi_learned", 1, true) and html:find("property: decays with distance", 1, true)
    and html:find("cost: training step time", 1, true), "the page has the table's rows")
  local conf = json.decode(read(dir .. "/config.json"))
  check(conf.proposal == "lua_alibi_learned" and conf.scale == "tiny" and conf.against[2] == "none",
    "config.json holds the configuration")
  -- resume: nothing left to run
  local ok2, log2 = sweep(args, "sweep2.log")
  check(ok2 and log2:find("0 to run", 1, true) ~= nil, "a second sweep finds every run done")
  -- a changed proposal file makes its runs stale (8 runs, the static and
  -- cost runs), not the baselines' 16
  checks.write(proposal, read(proposal) .. "\n-- changed\n")
  local ok3, log3 = sweep(args:gsub("%-%-local 2", "--plan"), "plan.log")
  check(ok3 and log3:find("26 runs: 16 done, 0 todo, 10 stale", 1, true) ~= nil,
    "a changed proposal file makes its own runs stale, not the baselines': " .. (log3:match("%d+ runs:[^\n]*") or log3))
end
os.execute("rm -rf '" .. tmp .. "'")
checks.close("test_scorecard")
