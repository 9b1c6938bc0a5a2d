-- Sweeps: a study's grid of runs, planned, executed by local worker
-- processes, Slurm job arrays or any launcher, resumed and collected.
--
-- A study script (experiments/*.lua) returns a module M with
--   M.configure(overrides) -> cfg      (cfg.root: the results root)
--   M.plan(cfg) -> {{name=, config=, stage=, needs={names}, experiment=, cost=}, ...}
--   M.run_one(cfg, entry, R)           fills exactly one run directory
--   M.collect(cfg, R, plan) -> result  tables and report from disk only
-- and M.name (its results directory under cfg.root). A plan entry's run
-- directory is <root>/<entry.experiment or M.name>/<entry.name>; its id is
-- the name, prefixed with "<experiment>/" when the experiment differs from
-- the study's own (the article composes other studies). A run is done when
-- its summary.json carries the config hash of the plan (results.lua).
--
-- Sweep state lives in <root>/<M.name>/: plan.json, missing.txt, logs/,
-- slurm/ (task files and batch scripts).
--
--   sweep.main(mode, argv) -> exit status   (`posbench sweep|collect ...`)
--   sweep.run_inprocess(M, overrides) -> M.collect's result  (`posbench run`)
local core = require "posbench.core"
local json = require "posbench.json"
local util = require "posbench.util"
local results = require "posbench.results"
local experiment = require "posbench.experiment"
local proc = core._proc
local rfs = core._rfs

local sweep = {}

local EXIT_MISSING, EXIT_BUSY = 3, 75

local function say(fmt, ...)
  io.stdout:write("[sweep] ", string.format(fmt, ...), "\n")
  io.stdout:flush()
end

local function hms(s)
  if not s or s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%dh%02dm", s // 3600, s % 3600 // 60) end
  if s >= 60 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%ds", s)
end
sweep.hms = hms

-- Study ----------------------------------------------------------------------

--- Path of a study: an existing file, or a name under experiments/.
function sweep.study_path(study)
  if core.file_exists(study) then return core.realpath(study) end
  local p = string.format("%s/experiments/%s.lua", core.source_root(), study:gsub("%.lua$", ""))
  if core.file_exists(p) then return p end
  error(string.format("sweep: no study '%s' (a script path, or a name in experiments/)", study), 0)
end

function sweep.load_study(path)
  experiment.library_mode = true  -- the script must not run itself
  local M = dofile(path)
  if type(M) ~= "table" or not (M.plan and M.run_one and M.collect and M.configure) then
    error(path .. ": not a sweepable study (it must return a module with configure, plan, " ..
          "run_one and collect)", 0)
  end
  M.name = M.name or util.basename(path):gsub("%.lua$", "")
  return M
end

-- Plan -----------------------------------------------------------------------

--- Entries in execution order (by stage, then plan order) with id, hash,
--- index and experiment filled in. Checks names, needs and stages.
function sweep.plan(M, cfg)
  local raw = M.plan(cfg)
  local out, by_id = {}, {}
  for i, e in ipairs(raw) do
    util.check_name(e.name, "run name", false)
    local ex = e.experiment or M.name
    -- Slurm task files list run ids separated by spaces.
    for what, v in pairs { ["run name"] = e.name, experiment = ex } do
      if type(v) ~= "string" or v:find("%s") then
        error(string.format("%s: %s '%s' contains a space: sweep run ids must be single words",
          M.name, what, util.printable(v)), 0)
      end
    end
    local id = ex == M.name and e.name or (ex .. "/" .. e.name)
    if by_id[id] then error(string.format("%s: plan has run '%s' twice", M.name, id), 0) end
    local entry = {}
    for k, v in pairs(e) do entry[k] = v end  -- study fields (kind, ...) travel along
    entry.stage, entry.needs, entry.experiment, entry.id, entry.order = e.stage or 1,
      { table.unpack(e.needs or {}) }, ex, id, i
    entry.hash = core.hash64(json.encode(e.config, { name = "config" }))
    by_id[id] = entry
    out[#out + 1] = entry
  end
  for _, e in ipairs(out) do
    for k, n in ipairs(e.needs) do
      local id = (e.experiment == M.name) and n or (e.experiment .. "/" .. n)
      local dep = by_id[id] or by_id[n]
      if not dep then error(string.format("%s: run '%s' needs '%s', which is not in the plan", M.name, e.id, n), 0) end
      if dep.stage >= e.stage then
        error(string.format("%s: run '%s' (stage %d) needs '%s' of stage %d; needs must be of an earlier stage",
                            M.name, e.id, e.stage, dep.id, dep.stage), 0)
      end
      e.needs[k] = dep.id
    end
  end
  table.sort(out, function(a, b)
    if a.stage ~= b.stage then return a.stage < b.stage end
    return a.order < b.order
  end)
  for i, e in ipairs(out) do e.index = i end
  return out, by_id
end

local Rcache = {}
local function results_of(cfg, ex)
  local key = cfg.root .. "\0" .. ex
  if not Rcache[key] then Rcache[key] = results.open(ex, { root = cfg.root }) end
  return Rcache[key]
end
sweep.results_of = results_of

--- Fills e.state ("done", "stale", "failed", "running", "todo") and e.detail.
function sweep.refresh(cfg, plan)
  for _, e in ipairs(plan) do
    e.state, e.detail = results_of(cfg, e.experiment):status(e.name, e.hash)
  end
end

--- Whether a sweep S runs e (after sweep.refresh): not done, and not
--- stale unless S.rerun_stale.
function sweep.wants_run(S, e)
  return e.state ~= "done" and not (e.state == "stale" and not S.rerun_stale)
end

local function count(plan)
  local c = { done = 0, todo = 0, stale = 0, failed = 0, running = 0 }
  for _, e in ipairs(plan) do c[e.state] = c[e.state] + 1 end
  return c
end

-- A JSON file of run e (below the results root): value or nil.
local function run_json(cfg, e, f)
  local R = results_of(cfg, e.experiment)
  return (results.read_json(R.root, util.join(util.join(R.dir, e.name), f)))
end

-- Measured wall seconds of a done run, from its summary.json (nil unless
-- a finite number >= 0).
local function measured(cfg, e)
  local s = run_json(cfg, e, "summary.json")
  local w = type(s) == "table" and type(s.run_info) == "table" and s.run_info.wall_seconds
  return type(w) == "number" and w >= 0 and w < math.huge and w or nil
end

-- CPU seconds of each run: measured for done runs; for the others the
-- study's cost (an amount of work) times the seconds per unit of work that
-- the done runs show, else the study's own rate (cost_rate, units/s).
local function estimate(M, cfg, plan)
  local secs, units = 0, 0
  for _, e in ipairs(plan) do
    if e.state == "done" and e.cost then
      local w = measured(cfg, e)
      if w then secs, units = secs + w, units + e.cost end
    end
  end
  local per_unit = units > 0 and secs / units or (M.cost_rate and 1 / M.cost_rate) or nil
  local total, left, known = 0, 0, true
  for _, e in ipairs(plan) do
    local s = e.state == "done" and measured(cfg, e) or nil
    if not s and e.cost and per_unit then s = e.cost * per_unit end
    if s then
      total = total + s
      if e.state ~= "done" then left = left + s end
    else
      known = false
    end
  end
  return total, left, known, units > 0
end

function sweep.write_plan(M, cfg, plan, overrides)
  local runs = {}
  for _, e in ipairs(plan) do
    runs[#runs + 1] = { index = e.index, id = e.id, stage = e.stage, name = e.name,
                        experiment = e.experiment, config_hash = e.hash,
                        needs = json.array(e.needs) }
  end
  local R = results_of(cfg, M.name)
  local args = {}
  for k, v in pairs(overrides) do args[k] = v end
  return R:write("plan.json",
    json.encode({ study = M.name, args = args, root = cfg.root, runs = runs }, { indent = true }) .. "\n")
end

local function print_plan(M, cfg, plan, overrides)
  for _, e in ipairs(plan) do
    local state = e.state
    if state == "failed" or state == "running" or state == "stale" then
      state = state .. (e.detail and (" (" .. util.printable((tostring(e.detail):gsub("\n.*", ""))) .. ")") or "")
    end
    print(string.format("%4d  stage %d  %-40s %s  %s", e.index, e.stage, e.id, e.hash, state))
  end
  local c = count(plan)
  print(string.format("%d runs: %d done, %d todo, %d stale, %d failed, %d running",
                      #plan, c.done, c.todo, c.stale, c.failed, c.running))
  local total, left, known, calibrated = estimate(M, cfg, plan)
  print(string.format("CPU time: %s in all, %s left%s (%s)", hms(total), hms(left),
    known and "" or ", some runs without an estimate",
    calibrated and "from the finished runs' measured times" or "rough: from the study's work model"))
  print("plan: " .. sweep.write_plan(M, cfg, plan, overrides))
end

-- Worker ---------------------------------------------------------------------

-- Threads of one worker: SLURM_CPUS_PER_TASK when Slurm gives it, else
-- the study's threads setting, else 1.
local function worker_threads(cfg)
  return tonumber(os.getenv("SLURM_CPUS_PER_TASK") or "") or tonumber(cfg.threads) or 1
end

local function log_name(id) return (id:gsub("/", "__")) .. ".log" end

--- Runs one plan entry in this process. Returns "done", "failed" or "busy".
local function run_entry(M, cfg, plan_by_id, e, opts)
  local R = results_of(cfg, e.experiment)
  local state = R:status(e.name, e.hash)
  if state == "done" and not opts.force then
    print(string.format("posbench sweep: %s is already done", e.id))
    return "done"
  end
  for _, need in ipairs(e.needs) do
    local d = plan_by_id[need]
    local deadline = core.now() + (opts.wait_needs and 15 or 0)
    while true do
      local st = results_of(cfg, d.experiment):status(d.name, d.hash)
      if st == "done" then break end
      if opts.wait_needs and (st == "running" or (st == "todo" and core.now() < deadline)) then
        if st == "running" then deadline = core.now() + 15 end
        proc.sleep(1)
      else
        local msg = string.format("run %s needs %s, which is %s", e.id, need, st)
        io.stderr:write("posbench sweep: " .. msg .. "\n")
        if R:lock(e.name, { wait = 2 }) then R:fail(e.name, msg) end
        return "failed"
      end
    end
  end
  local ok, who = R:lock(e.name, { wait = 1 })
  if not ok then
    io.stderr:write(string.format("posbench sweep: %s is being written by another process (%s)\n", e.id,
      util.printable(who)))
    return "busy"
  end
  -- Another worker may have finished it while we waited for the lock.
  if not opts.force and R:status(e.name, e.hash) == "done" then
    R:unlock(e.name)
    print(string.format("posbench sweep: %s is already done", e.id))
    return "done"
  end
  print(string.format("posbench sweep: run %s on %s (pid %d, %d thread%s), directory %s%s",
    e.id, proc.hostname(), proc.getpid(), worker_threads(cfg), worker_threads(cfg) == 1 and "" or "s",
    util.join(R.dir, e.name), opts.log and (", log " .. opts.log) or ""))
  io.stdout:flush()
  local inject = os.getenv("POSBENCH_SWEEP_FAIL")  -- tests: make the named runs fail
  local good, err = xpcall(function()
    if inject and inject ~= "" then
      for pat in inject:gmatch("[^,]+") do
        if pat == e.id then error("injected failure (POSBENCH_SWEEP_FAIL)", 0) end
      end
    end
    M.run_one(cfg, e, R)
  end, debug.traceback)
  if good and R:status(e.name, e.hash) ~= "done" then
    good, err = false, "run_one returned without writing summary.json with the plan's config hash"
  end
  if not good then
    io.stderr:write(string.format("posbench sweep: run %s failed: %s\n", e.id, tostring(err)))
    R:fail(e.name, err)
    return "failed"
  end
  R:unlock(e.name)
  print(string.format("posbench sweep: run %s done", e.id))
  return "done"
end

local function setup_worker(cfg)
  pb.threads(worker_threads(cfg))
end

-- Local execution ------------------------------------------------------------

local function worker_argv(S, extra)
  local argv = { proc.exe(), "sweep", S.path }
  for _, a in ipairs(S.argv_args) do argv[#argv + 1] = a end
  for _, a in ipairs(extra) do argv[#argv + 1] = a end
  return argv
end

-- Runs the entries with up to n worker processes; returns nothing, the
-- caller re-reads the states.
local function run_pool(S, entries, n, progress)
  local queue, running, deferred = {}, {}, {}
  for _, e in ipairs(entries) do queue[#queue + 1] = e end
  local Rs = results_of(S.cfg, S.M.name)
  local logs = util.join(Rs.dir, "logs")
  rfs.mkdir(Rs.root, logs)
  local qi = 1
  while qi <= #queue or next(running) or #deferred > 0 do
    while qi <= #queue and #running < n do
      local e = queue[qi]
      qi = qi + 1
      local log = util.join(logs, log_name(e.id))
      local pid, err = proc.spawn(worker_argv(S, { "--run", e.id, "--log", log }), Rs.root, log)
      if not pid then error("sweep: " .. tostring(err), 0) end
      running[#running + 1] = { pid = pid, e = e, t0 = core.now(), log = log }
    end
    if #running == 0 and #deferred > 0 then
      -- Runs another process holds: wait until they are released.
      proc.sleep(1)
      local keep = {}
      for _, e in ipairs(deferred) do
        local R = results_of(S.cfg, e.experiment)
        if R:holder(e.name) then keep[#keep + 1] = e
        elseif R:status(e.name, e.hash) ~= "done" then queue[#queue + 1] = e end
      end
      deferred = keep
    elseif #running > 0 then
      local pid, code = proc.wait(-1)
      if not pid then break end
      for i, r in ipairs(running) do
        if r.pid == pid then
          table.remove(running, i)
          if code == EXIT_BUSY then
            deferred[#deferred + 1] = r.e
            say("%s is being written by another process: waiting for it", r.e.id)
          else
            progress(r.e, code == 0, core.now() - r.t0, r.log)
          end
          break
        end
      end
    end
  end
end

local function run_local(S, n)
  local cfg, plan = S.cfg, S.plan
  sweep.refresh(cfg, plan)
  local total = #plan
  local c0 = count(plan)
  local done, failures, walls = c0.done, 0, {}
  local left_total = 0
  local t0 = core.now()
  -- ETA: the runs left times the mean wall time of those finished, over n.
  local function progress(e, ok, secs, log)
    if ok then done = done + 1 else failures = failures + 1 end
    walls[#walls + 1] = secs
    local mean = 0
    for _, w in ipairs(walls) do mean = mean + w / #walls end
    say("%d/%d done, %d failed; %s %s in %s%s; ETA %s", done, total, failures, e.id,
      ok and "finished" or "FAILED", hms(secs), ok and "" or (" (log: " .. log .. ")"),
      hms(math.max(0, left_total - #walls) * mean / n))
  end
  say("%s: %d runs, %d done, %d to run with %d worker%s (logs in %s)", S.M.name, total, c0.done,
    total - c0.done, n, n == 1 and "" or "s", util.join(results_of(cfg, S.M.name).dir, "logs"))
  local stages = {}
  for _, e in ipairs(plan) do
    if not stages[#stages] or stages[#stages] ~= e.stage then stages[#stages + 1] = e.stage end
  end
  for _, e in ipairs(plan) do
    if sweep.wants_run(S, e) then left_total = left_total + 1 end
  end
  for _, stage in ipairs(stages) do
    sweep.refresh(cfg, plan)
    local todo = {}
    for _, e in ipairs(plan) do
      if e.stage == stage and e.state ~= "done" then
        if e.state == "stale" and not S.rerun_stale then
          say("%s is stale (finished with another config); --rerun-stale reruns it", e.id)
        else
          todo[#todo + 1] = e
        end
      end
    end
    -- Longest first (the study's cost), so that no long run starts last.
    table.sort(todo, function(a, b)
      if (a.cost or 0) ~= (b.cost or 0) then return (a.cost or 0) > (b.cost or 0) end
      return a.index < b.index
    end)
    if #todo > 0 then run_pool(S, todo, n, progress) end
  end
  say("runs finished in %s", hms(core.now() - t0))
end

-- Collect --------------------------------------------------------------------

--- Checks the plan's states, cleans temporary files, writes missing.txt
--- and runs M.collect unless runs are missing (allow_partial: collect what
--- there is). Returns the exit status (0, or 3 when runs are missing).
-- The source states (commit, and "+changes" for a tree with uncommitted
-- changes) the done runs were made with, from their config.json: a finished
-- run is reused while its settings are unchanged, even after a code change,
-- so a study collected from several states says so.
local function source_states(cfg, done)
  local n, order = {}, {}
  for _, e in ipairs(done) do
    local c = run_json(cfg, e, "config.json")
    local state = "unknown"
    if type(c) == "table" and type(c.git_commit) == "string" then
      state = c.git_commit:sub(1, 12) .. (c.git_dirty and "+changes" or "")
    end
    if not n[state] then order[#order + 1] = state end
    n[state] = (n[state] or 0) + 1
  end
  local parts = {}
  for _, st in ipairs(order) do
    parts[#parts + 1] = string.format("%s (%d run%s)", st, n[st], n[st] == 1 and "" or "s")
  end
  return parts
end
sweep.source_states = source_states

function sweep.collect(S, allow_partial)
  local cfg, plan, M = S.cfg, S.plan, S.M
  for _, e in ipairs(plan) do
    local R = results_of(cfg, e.experiment)
    if not R.cleaned then R:clean(); R.cleaned = true end
  end
  sweep.refresh(cfg, plan)
  local missing = {}
  for _, e in ipairs(plan) do
    e.done = e.state == "done"
    if not e.done then
      missing[#missing + 1] = string.format("%s %s%s", e.id, e.state,
        e.detail and (": " .. util.printable((tostring(e.detail):gsub("\n.*", "")))) or "")
    end
  end
  local R = results_of(cfg, M.name)
  local mpath = R:path("missing.txt")
  if #missing > 0 then
    R:write("missing.txt", table.concat(missing, "\n") .. "\n")
    io.stderr:write(string.format("posbench collect: %d of %d runs are not done (%s):\n", #missing, #plan, mpath))
    -- the file has them all; a terminal gets the first few
    local shown = #missing > 12 and 10 or #missing
    for i = 1, shown do io.stderr:write("  " .. missing[i] .. "\n") end
    if shown < #missing then io.stderr:write(string.format("  ... %d more in %s\n", #missing - shown, mpath)) end
    if not allow_partial then return EXIT_MISSING end
  else
    local ok, err = rfs.remove(R.root, mpath)
    if not ok then error("collect: " .. err, 0) end
  end
  local done = {}
  for _, e in ipairs(plan) do if e.done then done[#done + 1] = e end end
  -- One collect at a time writes a study's tables and plots.
  local lock_path, fd, holder, busy = R:path("collect.lock")
  while true do
    fd, holder, busy = rfs.lock(R.root, lock_path, string.format("collect pid %d\n", proc.getpid()))
    if fd or not busy then break end
    proc.sleep(0.2)
  end
  if not fd then error("collect: " .. tostring(holder), 0) end
  local ok, result = pcall(M.collect, cfg, R, plan)
  rfs.unlock(fd, lock_path)
  if not ok then error(result, 0) end
  S.result = result
  local states = source_states(cfg, done)
  if #states > 1 then
    io.stderr:write(string.format("posbench collect: warning: the runs come from %d source states: %s. " ..
      "A finished run is kept while its settings are unchanged, even after a code change; remove " ..
      "the runs to redo (or use root= for a fresh study).\n", #states, table.concat(states, ", ")))
  end
  print(string.format("posbench collect: %s from %d of %d runs%s", M.name, #done, #plan,
    result and result.dir and (" -> " .. result.dir) or ""))
  return #missing > 0 and EXIT_MISSING or 0
end

-- In-process (posbench run STUDY.lua) ----------------------------------------

--- Every run of the plan, one after another in this process (rerun even
--- when done, as a plain script run always did), then collect.
function sweep.run_inprocess(M, overrides)
  local cfg = M.configure(overrides or {})
  local plan = sweep.plan(M, cfg)
  for i, e in ipairs(plan) do
    if M.announce then M.announce(cfg, e, i, #plan) end
    local R = results_of(cfg, e.experiment)
    M.run_one(cfg, e, R)
    R:unlock(e.name)
  end
  for _, e in ipairs(plan) do e.state, e.done = "done", true end
  return M.collect(cfg, results_of(cfg, M.name), plan)
end

-- Command line ---------------------------------------------------------------

local USAGE = [==[
usage: posbench sweep STUDY [key=value ...] [--plan | --local [N] | --commands [--stage S]
                             | --slurm [--chunk K] [--max-parallel P] [--dry-run] [-- SBATCH ARGS]]
                             [--rerun-stale] [--until-decided [--max-seeds N]]
       posbench collect STUDY [key=value ...] [--allow-partial] [--until-decided [--max-seeds N]]
STUDY is a script path or a name in experiments/ (extrapolation, article, ...).]==]

-- Action flags (one per command line; --local is the default) and the
-- flags that mean something only with some actions.
local ACTIONS = { ["--plan"] = "plan", ["--local"] = "local", ["--commands"] = "commands",
                  ["--slurm"] = "slurm", ["--run"] = "run", ["--array-tasks"] = "array" }
local ONLY_WITH = {
  ["--chunk"] = { "slurm" }, ["--max-parallel"] = { "slurm" }, ["--dry-run"] = { "slurm" },
  ["--"] = { "slurm" }, ["--stage"] = { "commands" },
  ["--rerun-stale"] = { "local", "commands", "slurm" },
  ["--wait-needs"] = { "run", "array" }, ["--log"] = { "run", "array" },
  ["--allow-partial"] = { "collect" },
}

-- Fails on two actions, on a flag given twice, and on a flag its action
-- (or collect) would silently ignore.
local function check_flags(o, seen)
  local actions, given = {}, {}
  for _, f in ipairs(seen) do
    if given[f] then error(string.format("%s is given twice", f), 0) end
    given[f] = true
    if ACTIONS[f] then actions[#actions + 1] = f end
  end
  if o.mode == "collect" and #actions > 0 then
    error(string.format("%s is not an option of collect (it belongs to sweep)\n%s", actions[1], USAGE), 0)
  end
  if #actions > 1 then
    error(string.format("%s and %s are two actions: give one\n%s", actions[1], actions[2], USAGE), 0)
  end
  local action = o.mode == "collect" and "collect" or ACTIONS[actions[1]] or "local"
  for _, f in ipairs(seen) do
    local only = ONLY_WITH[f]
    if only then
      local ok = false
      for _, a in ipairs(only) do ok = ok or a == action end
      if not ok then
        local names = {}
        for _, a in ipairs(only) do
          names[#names + 1] = a == "collect" and "collect" or (a == "array" and "--array-tasks" or "--" .. a)
        end
        error(string.format("%s means nothing %s: it goes with %s only\n%s", f,
          action == "collect" and "to collect" or ("with " .. (action == "local" and
            "--local (the default action)" or (action == "array" and "--array-tasks" or "--" .. action))),
          table.concat(names, " or "), USAGE), 0)
      end
    end
  end
  o.action = action
end

local function parse(mode, argv)
  local o = { mode = mode, args = {}, argv_args = {}, sbatch = {} }
  local seen = {}
  local i = 1
  local function num(flag)
    local v = tonumber(argv[i + 1] or "")
    if not v or v < 1 or v % 1 ~= 0 or v > 2 ^ 31 - 1 then
      error(string.format("%s needs a positive integer", flag), 0)
    end
    i = i + 1
    return math.tointeger(v)
  end
  local function word(flag)
    local v = argv[i + 1]
    if v == nil then error(flag .. " needs a value", 0) end
    i = i + 1
    return v
  end
  while i <= #argv do
    local a = argv[i]
    if a:sub(1, 2) == "--" then seen[#seen + 1] = a end
    if a == "--" then
      for j = i + 1, #argv do o.sbatch[#o.sbatch + 1] = argv[j] end
      break
    elseif a == "--plan" or a == "--commands" or a == "--slurm" then -- the action
    elseif a == "--local" then
      if argv[i + 1] and argv[i + 1]:match("^%d+$") then o.workers = num(a) end
    elseif a == "--chunk" then o.chunk = num(a)
    elseif a == "--max-parallel" then o.max_parallel = num(a)
    elseif a == "--stage" then o.stage = num(a)
    elseif a == "--dry-run" then o.dry_run = true
    elseif a == "--rerun-stale" then o.rerun_stale = true
    elseif a == "--until-decided" then o.until_decided = true
    elseif a == "--max-seeds" then o.max_seeds = num(a)
    elseif a == "--allow-partial" then o.allow_partial = true
    elseif a == "--wait-needs" then o.wait_needs = true
    elseif a == "--log" then o.log = word(a)
    elseif a == "--run" then o.run = word(a)
    elseif a == "--array-tasks" then o.task_file = word(a)
    elseif a:sub(1, 2) == "--" then error("unknown option " .. a .. "\n" .. USAGE, 0)
    elseif not o.study then o.study = a
    else
      local k, v = a:match("^([%w_.]+)=(.*)$")
      if not k then error(string.format("argument '%s' is not of the form key=value\n%s", a, USAGE), 0) end
      o.argv_args[#o.argv_args + 1] = a
      if v == "true" then v = true elseif v == "false" then v = false else v = tonumber(v) or v end
      o.args[k] = v
    end
    i = i + 1
  end
  if not o.study then error("missing STUDY\n" .. USAGE, 0) end
  check_flags(o, seen)
  if o.max_seeds and not o.until_decided then error("--max-seeds goes with --until-decided", 0) end
  return o
end

local function setup(o)
  local path = sweep.study_path(o.study)
  -- Workers, GNU parallel lines, batch scripts and printed hints repeat
  -- these on command lines: one line each.
  util.check_command_text(path, "study path")
  for _, a in ipairs(o.argv_args) do util.check_command_text(a, "argument") end
  local M = sweep.load_study(path)
  util.check_command_text(M.name, "study name")
  local cfg = M.configure(o.args)
  if type(cfg.root) ~= "string" or cfg.root == "" then
    error(string.format("%s: the results root (cfg.root) must be a non-empty path, got %s", M.name,
      tostring(cfg.root)), 0)
  end
  util.check_command_text(cfg.root, "results root")
  local plan, by_id = sweep.plan(M, cfg)
  return { path = path, M = M, cfg = cfg, plan = plan, by_id = by_id, argv_args = o.argv_args,
           rerun_stale = o.rerun_stale, args = o.args }
end

local function cmd_run_ids(S, ids, o)
  setup_worker(S.cfg)
  local status = 0
  for _, id in ipairs(ids) do
    local e = S.by_id[id]
    if not e then
      io.stderr:write(string.format("posbench sweep: no run '%s' in the plan of %s\n", id, S.M.name))
      status = 1
    else
      local r = run_entry(S.M, S.cfg, S.by_id, e, o)
      if r == "busy" and #ids == 1 then return EXIT_BUSY end
      if r ~= "done" then status = 1 end
    end
  end
  return status
end

local function commands(S, o)
  sweep.refresh(S.cfg, S.plan)
  local n = 0
  for _, e in ipairs(S.plan) do
    if sweep.wants_run(S, e) and (not o.stage or o.stage == e.stage) then
      local argv = worker_argv(S, { "--run", e.id })
      if #e.needs > 0 and not o.stage then argv[#argv + 1] = "--wait-needs" end
      print(util.shell_line(argv))
      n = n + 1
    end
  end
  io.stderr:write(string.format("posbench sweep: %d commands (one per unfinished run, in stage order); " ..
    "then: posbench collect %s\n", n, util.shell_line { S.path, table.unpack(S.argv_args) }))
  return 0
end

-- --until-decided: the looks of posbench.sequential, each run by the
-- chosen action. With --slurm, the collect job is this same command, so
-- each look, once collected, submits the next one.
local function until_decided(mode, S, o)
  local seq = require "posbench.sequential"
  local H = {
    results = function(S_) return results_of(S_.cfg, S_.M.name) end,
    replan = function(S_) S_.plan, S_.by_id = sweep.plan(S_.M, S_.cfg) end,
    collect = function(S_) return sweep.collect(S_, false) end,
  }
  local action = o.action or "local"
  -- Workers (local, GNU parallel, Slurm tasks) plan the same look.
  local max_seeds = tostring(seq.max_seeds(o, S.cfg))
  for _, a in ipairs { "--until-decided", "--max-seeds", max_seeds } do S.argv_args[#S.argv_args + 1] = a end
  if mode == "collect" or action == "plan" or action == "run" or action == "array" then
    seq.resume(S, o, H)
    if mode == "collect" then return sweep.collect(S, o.allow_partial) end
    if action == "run" then return cmd_run_ids(S, { o.run }, o) end
    if action == "array" then return require("posbench.slurm").array_task(S, o, cmd_run_ids) end
    sweep.refresh(S.cfg, S.plan)
    print_plan(S.M, S.cfg, S.plan, S.args)
    return 0
  end
  if action ~= "local" and action ~= "commands" and action ~= "slurm" then
    error("--until-decided goes with --local, --commands, --slurm or --plan", 0)
  end
  function H.execute(S_)
    sweep.write_plan(S_.M, S_.cfg, S_.plan, S_.args)
    sweep.refresh(S_.cfg, S_.plan)
    local left, stale = 0, {}
    for _, e in ipairs(S_.plan) do
      if e.state == "stale" and not S_.rerun_stale then stale[#stale + 1] = e.id
      elseif e.state ~= "done" then left = left + 1 end
    end
    -- A look cannot be taken over runs made with other settings: say so
    -- before running the rest, not after (a collect that lists them).
    if #stale > 0 then
      error(string.format("%d runs of this look finished with other settings (stale; first %s): " ..
        "--rerun-stale reruns them (or start the study in a fresh results directory)", #stale, stale[1]), 0)
    end
    if left == 0 then return "done" end
    if action == "local" then
      run_local(S_, o.workers or core.machine().cores or 1)
      return "done"
    elseif action == "commands" then
      commands(S_, o)
    else
      local again = { "--slurm" }
      if o.chunk then again[#again + 1], again[#again + 2] = "--chunk", tostring(o.chunk) end
      if o.max_parallel then again[#again + 1], again[#again + 2] = "--max-parallel", tostring(o.max_parallel) end
      again[#again + 1] = "--"
      for _, a in ipairs(o.sbatch) do again[#again + 1] = a end
      S_.collect_argv = worker_argv(S_, again)
      require("posbench.slurm").submit(S_, o, worker_argv)
    end
    return "pending"
  end
  return seq.main(S, o, H)
end

function sweep.main(mode, argv)
  -- Bad usage, an unknown study or setting: a message and exit 2.
  local ok, o, S = pcall(function()
    local opts = parse(mode, argv)
    return opts, setup(opts)
  end)
  if not ok then
    io.stderr:write("posbench ", mode, ": ", tostring(o), "\n")
    return 2
  end
  -- A study may run its looks by default (cfg.until_decided, opted out
  -- with until_decided=false) and name its default --max-seeds.
  if S.cfg.until_decided == true and not o.until_decided then
    o.until_decided = true
    io.stderr:write(string.format("posbench %s: %s adds seeds where claims are undecided by default " ..
      "(until_decided=false for the fixed design)\n", mode, S.M.name))
  end
  if o.until_decided and not o.max_seeds and S.cfg.max_seeds then
    local n = math.tointeger(S.cfg.max_seeds)
    if not n or n < 1 then
      io.stderr:write(string.format("posbench %s: max_seeds must be a positive integer, got %s\n", mode,
        tostring(S.cfg.max_seeds)))
      return 2
    end
    o.max_seeds = n
  end
  if o.until_decided then
    local ok2, status = pcall(until_decided, mode, S, o)
    if ok2 then return status end
    io.stderr:write("posbench ", mode, ": ", tostring(status), "\n")
    return 2
  end
  if mode == "collect" then return sweep.collect(S, o.allow_partial) end
  local action = o.action or "local"
  if action == "plan" then
    sweep.refresh(S.cfg, S.plan)
    print_plan(S.M, S.cfg, S.plan, S.args)
    return 0
  elseif action == "run" then
    return cmd_run_ids(S, { o.run }, o)
  elseif action == "array" then
    return require("posbench.slurm").array_task(S, o, cmd_run_ids)
  elseif action == "commands" then
    sweep.write_plan(S.M, S.cfg, S.plan, S.args)
    return commands(S, o)
  elseif action == "slurm" then
    sweep.write_plan(S.M, S.cfg, S.plan, S.args)
    sweep.refresh(S.cfg, S.plan)
    return require("posbench.slurm").submit(S, o, worker_argv)
  end
  sweep.write_plan(S.M, S.cfg, S.plan, S.args)
  local n = o.workers or core.machine().cores or 1
  run_local(S, n)
  return sweep.collect(S, false)
end

return sweep
