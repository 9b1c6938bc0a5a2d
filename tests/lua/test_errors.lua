-- Bad input: every case must exit non-zero with a message that names the
-- problem, and must not damage results written before the error.
local build = os.getenv("BUILD") or "build"
local bin = build .. "/posbench"
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)

local checks = dofile("tests/lua/checks.lua")
local check = checks.check

local read = checks.read

-- Run a script (text) through the binary; returns exit code and stderr.
local n = 0
local function run(source, args)
  n = n + 1
  local script = string.format("%s/case%d.lua", tmp, n)
  local f = assert(io.open(script, "w"))
  f:write(source)
  f:close()
  local errfile = script .. ".err"
  local ok, how, code = os.execute(string.format("cd %s && %s/%s run %s %s >/dev/null 2>%s",
    tmp, os.getenv("PWD"), bin, script, args or "", errfile))
  return (ok and 0 or code), read(errfile) or "", script
end

local function expect_error(name, source, pattern)
  local code, err = run(source)
  check(code ~= 0, name .. ": exit status should be non-zero, got " .. tostring(code))
  check(err:find(pattern, 1, true) ~= nil,
        name .. ": message should contain '" .. pattern .. "', got: " .. err:sub(1, 300))
end

expect_error("syntax error", "local x = 1\nlocal y = = 2\n", "case1.lua:2:")
expect_error("unknown encoding", 'pb.model{encoding="ropee"}',
             "unknown encoding 'ropee' (valid encodings: none, integer")
expect_error("unknown task", 'pb.task("copyy", {})', "unknown task 'copyy' (valid tasks: copy")
expect_error("d not divisible by heads", 'pb.model{d=30, heads=4}',
             "d=30 is not divisible by heads=4")
expect_error("odd head width with rope", 'pb.model{d=12, heads=4, encoding="rope"}',
             "d_head must be even")
expect_error("non-positive size", 'pb.model{d=0}', "pb.model: 'd' must be positive, got 0")
expect_error("negative layers", 'pb.model{layers=-1}', "pb.model: 'layers' must be positive, got -1")
expect_error("unknown model option", 'pb.model{widht=3}', "unknown option 'widht'")
expect_error("unknown encoding option", 'pb.model{encoding="rope", enc={bse=10}}',
             "unknown option 'bse'")
expect_error("bad option type", 'pb.model{d="wide"}', "'d' must be an integer")
expect_error("vocab too small for task", [[
local m = pb.model{vocab=4, d=16, heads=2}
pb.train(m, pb.task("copy", {min_len=2, max_len=4, vocab=8}), {steps=1, progress=false})]],
             "uses 10 tokens but the model's vocab is 4")
expect_error("length beyond a learned table", [[
local m = pb.model{vocab=16, d=16, heads=2, encoding="learned", max_len=20}
local t = pb.task("copy", {min_len=2, max_len=4, vocab=8})
pb.eval(m, t, {lengths={40}, samples=2})]], "beyond the learned table")
expect_error("corrupt checkpoint", [[
local f = io.open("bad.pbt", "wb") f:write("PBTENS01garbage") f:close()
pb.load("bad.pbt")]], "bad.pbt")
expect_error("runtime error names the line", "local t = nil\nprint(t.x)\n", "case14.lua:2:")
expect_error("2D encoding with 1D positions", 'pb.model{encoding="rope2d_axial", d=32, heads=2}',
             "needs 2D positions but scheme 'linear' gives 1D")
expect_error("p outside (0, 1]", 'pb.model{encoding="rope", enc={p=1.5}, d=32, heads=2}',
             "option 'p' must be in (0, 1], got 1.5")
expect_error("negative base", 'pb.model{encoding="rope", enc={base=-3}, d=32, heads=2}', "base")
expect_error("Lua encoding returning NaN", [[
pb.register_encoding("bad", {theta = function(k) return 0/0 end})
pb.model{encoding = "bad", d = 32, heads = 2}]], "theta(k=0, d_head=16) returned nan")
expect_error("Lua encoding that raises", [[
pb.register_encoding("worse", {table = function(p, i, d) error("boom") end})
local m = pb.model{encoding = "worse", d = 8, heads = 2, vocab = 12}
pb.train(m, pb.task("copy", {vocab = 4}), {steps = 1, progress = false})]], "boom")
-- key=value arguments that are not key=value
do
  local code, err = run("print(pb.args.steps)", "steps")
  check(code ~= 0 and err:find("not of the form key=value", 1, true),
        "bad argument: " .. err)
end

-- Study settings of the wrong kind, through `posbench run STUDY key=value`:
-- one line naming the setting, nothing run.
do
  local study = os.getenv("PWD") .. "/experiments/extrapolation.lua"
  for _, case in ipairs {
    { "seeds=1.5", "extrapolation: seeds=1.5 must be an integer (its default is 3)" },
    { "seeds=1e300", "extrapolation: seeds=1e+300 must be an integer" },
    { "seeds=5000", "extrapolation: seeds must be in 1..1000, got 5000" },
    { "root=2024", "extrapolation: root=2024 must be text (a directory named like a number: write root=./2024)" },
    { "root=true", "extrapolation: root=true must be text" },
    { "diag=1", "extrapolation: diag=1 must be true or false" },
    { "lr=1e999", "extrapolation: lr=inf must be a finite number" },
    { "spending=linear", "extrapolation: spending=linear must be obf or pocock" },
    { "futility=1", "extrapolation: futility=1 must be in [0, 1)" },
    { "alpha=0.6", "extrapolation: alpha=0.6 must be in (0, 0.5)" },
    { "acc_margin=-0.1", "extrapolation: acc_margin=-0.1 must be a finite number >= 0" },
  } do
    local errfile = tmp .. "/study.err"
    local ok = os.execute(string.format("cd %s && %s/%s run %s scale=tiny %s >/dev/null 2>%s",
      tmp, os.getenv("PWD"), bin, study, case[1], errfile))
    local err = read(errfile) or ""
    check(not ok and err:find(case[2], 1, true), case[1] .. ": " .. err:sub(1, 300))
  end
  check(io.popen("ls " .. tmp .. "/results 2>/dev/null | wc -l"):read("l") == "0", "nothing written")
end

-- Results written before an error stay whole: the run's files parse.
do
  local code, err = run([[
local R = pb.results("exp", {root = "res"})
local run = R:run("r1", {seed = 1, note = "before the error"})
run:log({step = 1, loss = 2.5})
run:summary({done = true})
error("deliberate failure after writing")]])
  check(code ~= 0 and err:find("deliberate failure", 1, true), "error after writing: " .. err)
  local cfg = read(tmp .. "/res/exp/r1/config.json")
  local sum = read(tmp .. "/res/exp/r1/summary.json")
  check(cfg and pb.json.decode(cfg).config.note == "before the error", "config.json intact")
  check(sum and pb.json.decode(sum).done == true, "summary.json intact")
  local leftovers = io.popen("find " .. tmp .. "/res -name '*.tmp*' | wc -l"):read("l")
  check(tonumber(leftovers) == 0, "no temporary files left: " .. tostring(leftovers))
end

-- A failing save keeps the previous checkpoint.
do
  local code, err = run([[
local m = pb.model{vocab=8, d=8, heads=2}
m:save("ck.pbt")
local ok = pcall(m.save, m, "missing-dir/ck.pbt")
assert(not ok, "saving into a missing directory must fail")
local again = pb.load("ck.pbt")
assert(tostring(again) == tostring(m))]])
  check(code == 0, "checkpoint survives a failed save: " .. err)
end

os.execute("rm -rf " .. tmp)
checks.close("test_errors")
