-- Results directories that hold what they should not (docs/hardening.md,
-- "Results directories"): symbolic links in place of locks, logs, run
-- directories and directories collect walks; special files in place of
-- results or checkpoints; truncated or empty summaries; a run opened twice.
-- Nothing may be written or deleted through a link or outside the results
-- root, nothing may block, and a run that is not complete is never done.
-- The sweep cases use a two-run study that trains nothing (a second each).
local checks = dofile("tests/lua/checks.lua")
local check, errors_with, read, write = checks.check, checks.errors_with, checks.read, checks.write

local build = os.getenv("BUILD") or "build"
local bin = os.getenv("PWD") .. "/" .. build .. "/posbench"
local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp .. "/outside"))
local outside = tmp .. "/outside"

local function sh(cmd) return os.execute(cmd) end

-- Runs a posbench command line (in tmp, at most `limit` seconds); returns
-- its exit code (124: timed out), stdout and stderr.
local n = 0
local function pb_cmd(args, limit)
  n = n + 1
  local out, err = string.format("%s/cmd%d.out", tmp, n), string.format("%s/cmd%d.err", tmp, n)
  local _, _, code = os.execute(string.format("cd %s && timeout %d %s %s >%s 2>%s", tmp, limit or 60,
    bin, args, out, err))
  return code, read(out) or "", read(err) or ""
end

local victim = write(outside .. "/victim", "precious\n")
local function victim_intact() return read(victim) == "precious\n" end

-- A study of two runs that train nothing; collect writes out.csv from the
-- summaries it reads.
local study = write(tmp .. "/tiny.lua", [[
local M = { name = "tiny" }
function M.configure(o) return { root = o.root or "results" } end
function M.plan(cfg) return { { name = "r1", config = { i = 1 } }, { name = "r2", config = { i = 2 } } } end
function M.run_one(cfg, e, R)
  local run = R:run(e.name, e.config)
  run:log { step = 1 }
  run:summary { v = e.config.i }
end
function M.collect(cfg, R, plan)
  local rows = {}
  for _, e in ipairs(plan) do
    if e.done then rows[#rows + 1] = { name = e.name, v = R:load(e.name).summary.v } end
  end
  R:csv("out", rows, { "name", "v" })
  return { dir = R.dir }
end
return M
]])

local function fresh(name)
  local root = tmp .. "/" .. name
  local code, out, err = pb_cmd(string.format("sweep %s root=%s --local 1", study, root))
  assert(code == 0, "the tiny study must run: " .. out .. err)
  return root, root .. "/tiny"
end

-- ---------------------------------------------------------------------------
-- 1. Locks are never followed through a symbolic link, and looking at one
--    (--plan, collect's states) writes nothing.
do
  local root, d = fresh("locks")
  sh(string.format("ln -s %s %s/r1/lock", victim, d))
  local code, out = pb_cmd(string.format("sweep %s root=%s --plan", study, root))
  check(code == 0 and out:find("2 runs: 2 done", 1, true), "--plan with a symlinked lock: " .. out)
  check(victim_intact(), "--plan did not write through a symlinked run lock: " .. tostring(read(victim)))
  sh(string.format("rm %s/r1/summary.json", d))
  code, out = pb_cmd(string.format("sweep %s root=%s --plan", study, root))
  check(out:find("r1 .* failed %(.*symbolic link"), "a symlinked lock of an unfinished run is reported: " .. out)
  check(victim_intact(), "and still not written through")
  local err
  code, out, err = pb_cmd(string.format("sweep %s root=%s --run r1", study, root))
  check(code ~= 0 and err:find("symbolic link", 1, true), "a worker refuses it: " .. code .. " " .. err)
  check(victim_intact(), "the worker did not write through it")
  code, _, err = pb_cmd(string.format("collect %s root=%s --allow-partial", study, root))
  check(code == 3 and err:find("r1 failed", 1, true) and not err:find("traceback", 1, true),
    "collect names the run with a symlinked lock and goes on (exit " .. code .. "): " .. err)
  check(victim_intact(), "collect did not write through it")
  sh(string.format("rm %s/r1/lock", d))
  pb_cmd(string.format("sweep %s root=%s --local 1", study, root))
  sh(string.format("ln -s %s %s/collect.lock", victim, d))
  code, out, err = pb_cmd(string.format("collect %s root=%s", study, root))
  check(code ~= 0 and err:find("symbolic link", 1, true), "collect refuses a symlinked collect.lock: " .. err)
  check(victim_intact(), "collect did not write through collect.lock")
end

-- 5. collect follows no symbolic link: no temporary file outside the root
--    is deleted, `x -> .` loops end, a symlinked run directory is refused.
do
  local root, d = fresh("links")
  local dead = io.popen("sh -c 'echo $$'"):read("l")
  local tmpfile = string.format("%s/out.csv.tmp.%s.0", outside, dead)
  write(tmpfile, "someone else's\n")
  sh("touch -d '10 minutes ago' " .. tmpfile)
  sh(string.format("ln -s %s %s/elsewhere", outside, d))
  sh(string.format("ln -s . %s/x && ln -s . %s/y", d, d))
  local code, _, err = pb_cmd(string.format("collect %s root=%s", study, root), 20)
  check(code == 0, "collect with symlinked directories ends and exits 0 (got " .. code .. "): " .. err)
  check(read(tmpfile) == "someone else's\n", "collect left a temporary file outside the root alone")

  sh(string.format("rm -r %s/r2 && mkdir %s/r2dir && ln -s %s/r2dir %s/r2", d, outside, outside, d))
  local out
  code, out = pb_cmd(string.format("sweep %s root=%s --plan", study, root))
  check(out:find("r2 .* failed %(.*symbolic link"), "--plan: a symlinked run directory is refused: " .. out)
  code, out, err = pb_cmd(string.format("sweep %s root=%s --local 1", study, root))
  check(code ~= 0, "the sweep does not complete with it (exit " .. code .. ")")
  check(read(outside .. "/r2dir/config.json") == nil and read(outside .. "/r2dir/summary.json") == nil,
    "nothing was written through the symlinked run directory")
end

-- 6. A worker's log that is a symbolic link gets nothing appended.
do
  local root, d = fresh("logs")
  sh(string.format("rm %s/r1/summary.json && rm -f %s/logs/r1.log && ln -s %s %s/logs/r1.log", d, d, victim, d))
  local code, _, err = pb_cmd(string.format("sweep %s root=%s --local 1", study, root))
  check(code ~= 0 and err:find("symbolic link", 1, true), "a symlinked log is refused: " .. code .. " " .. err)
  check(victim_intact(), "no worker output went through it: " .. tostring(read(victim)))
end

-- 9. A summary that is not complete is not done: the sweep reruns it and
--    collect exits 3 naming it (no traceback, no blank rows).
do
  local root, d = fresh("summaries")
  for _, case in ipairs { { "empty", "" }, { "truncated", '{"v": 1, "run_info": {"config_' },
                          { "an array", "[]" }, { "without run_info", '{"v": 1}\n' } } do
    write(d .. "/r1/summary.json", case[2])
    local code, out = pb_cmd(string.format("sweep %s root=%s --plan", study, root))
    check(out:find("1 done", 1, true) and out:find("r1 .* failed"), case[1] .. " summary: --plan says failed: " .. out)
    local err
    code, out, err = pb_cmd(string.format("collect %s root=%s", study, root))
    check(code == 3 and err:find("r1 failed: summary.json", 1, true),
      case[1] .. " summary: collect exits 3 naming it (got " .. code .. "): " .. err)
    check(not err:find("traceback", 1, true), case[1] .. " summary: no traceback")
  end
  local code = pb_cmd(string.format("sweep %s root=%s --local 1", study, root))
  check(code == 0 and read(d .. "/out.csv") == "name,v\nr1,1\nr2,2\n",
    "the sweep reruns it and collect writes both rows: " .. tostring(read(d .. "/out.csv")))

  -- a wall time that is not a number does not stop --plan's estimate
  local s1 = read(d .. "/r2/summary.json")
  check(s1:find('"wall_seconds": %d'), "a summary records its wall time")
  write(d .. "/r2/summary.json", (s1:gsub('"wall_seconds": [^,\n]+', '"wall_seconds": "x"')))
  local pcode, pout, perr = pb_cmd(string.format("sweep %s root=%s --plan", study, root))
  check(pcode == 0 and pout:find("2 runs: 2 done", 1, true), "a bad wall_seconds: --plan still works: " .. pout .. perr)
  write(d .. "/r2/summary.json", s1)

  -- a summary of this config whose config.json says another one
  local c = read(d .. "/r2/config.json")
  write(d .. "/r2/config.json", (c:gsub('"config_hash": "%x+"', '"config_hash": "0000000000000000"')))
  local _, out = pb_cmd(string.format("sweep %s root=%s --plan", study, root))
  check(out:find("r2 .* failed %(summary.json and config.json disagree"), "a config.json of another hash: " .. out)

  -- a directory in place of summary.json or metrics.jsonl
  sh(string.format("rm %s/r2/summary.json && mkdir %s/r2/summary.json", d, d))
  _, out = pb_cmd(string.format("sweep %s root=%s --plan", study, root))
  check(out:find("r2 .* failed %(.*not a regular file"), "a directory as summary.json: " .. out)
  local err
  code, _, err = pb_cmd(string.format("sweep %s root=%s --local 1", study, root))
  check(code ~= 0 and err:find("summary.json", 1, true) and not err:find("nil value", 1, true),
    "rerunning it names the directory in the way: " .. err)
  local R = pb.results("tiny", { root = root })
  sh(string.format("rm %s/r1/metrics.jsonl && mkdir %s/r1/metrics.jsonl", d, d))
  errors_with({ "metrics.jsonl", "not a regular file" }, function() return R:load("r1") end)
end

-- 9. A second R:run of a run this process holds is refused; the first
--    one's files stay consistent.
do
  local R = pb.results("twice", { root = tmp .. "/twice" })
  local a = R:run("r", { x = 1 })
  errors_with("already open in this process", function() return R:run("r", { x = 2 }) end)
  a:summary { ok = true }
  check(R:status("r", a.config_hash) == "done", "the first run completes: " .. R:status("r", a.config_hash))
  local b = R:run("r", { x = 2 })
  b:summary { ok = true }
  check(R:status("r", b.config_hash) == "done", "and can be opened again once finished")
end

-- 4. Special files are never replaced by a rename, nor read (which could
--    block on a FIFO).
do
  local fifo = tmp .. "/fifo"
  sh("mkfifo " .. fifo)
  errors_with("not a regular file", function() pb.write_atomic(fifo, "x") end)
  local model = pb.model { vocab = 4, d = 8, heads = 1, layers = 1, encoding = "none", max_len = 8 }
  errors_with("not a regular file", function() model:save(fifo) end)
  check(io.popen("stat -c %F " .. fifo):read("l") == "fifo", "the FIFO is still a FIFO")
  local fifo2 = tmp .. "/fifo2.pbt"
  sh("mkfifo " .. fifo2)
  local code, _, err = pb_cmd(string.format("run %s", write(tmp .. "/load_fifo.lua",
    string.format("pb.load(%q)", fifo2))), 10)
  check(code == 1 and err:find("FIFO", 1, true), "pb.load on a FIFO fails at once (exit " .. code .. "): " .. err)
  local fifo3 = tmp .. "/corpus.fifo"
  sh("mkfifo " .. fifo3)
  code, _, err = pb_cmd(string.format("run %s", write(tmp .. "/lm_fifo.lua",
    string.format("pb.task('lm', {path = %q})", fifo3))), 10)
  check(code == 1 and err:find("FIFO", 1, true), "an lm corpus that is a FIFO fails at once (exit " .. code .. "): " .. err)
  local link = tmp .. "/model_link.pbt"
  sh(string.format("ln -s %s %s", victim, link))
  errors_with("not a regular file", function() model:save(link) end)
  check(victim_intact(), "model:save over a symbolic link replaces nothing")
  model:close()
end

os.execute("rm -rf " .. tmp)
checks.close("test_hardening_results")
