-- Results directories. Every file is written atomically (temp + rename),
-- so an interrupted experiment never leaves a torn file.
--
--   local R = results.open(experiment, {root = "results"})
--     R.dir = root/experiment (created); experiment may contain '/'
--   local run = R:run(name, config)
--     creates R.dir/name/ and writes config.json:
--       {config, config_hash = hash64(json.encode(config)), seed = config.seed,
--        git_commit, git_dirty, machine, time (ISO-8601 UTC), posbench_version,
--        experiment, run, script (arg[0] when set)}
--     A previous metrics.jsonl / summary.json of the same run name is
--     removed, so the directory never mixes two configs.
--   run:log(tbl)        appends one JSON line to metrics.jsonl
--   run:summary(tbl)    writes summary.json
--   run:path(f), run:write(f, text), run:csv(f, rows, columns)
--   run.dir, run.name, run.config, run.config_hash
--   R:path(f), R:write(f, text), R:csv(f, rows, columns)   in R.dir
--     (f may contain '/'; parent directories are made; ".csv" is added by
--     csv when f has no extension)
--   R:load(name) -> {config = <config.json>, metrics = {...}, summary = ...|nil}
--   R:completed(name, config) -> summary when that run finished with the same
--     config hash, else nil (lets a sweep skip finished runs)
--   R:status(name, hash) -> "done" | "stale" | "failed" | "running" | "todo", info
--   R:clean() removes temporary files that dead writers left (see below)
-- Run names are single path components: '/' and '..' are rejected.
--
-- One writer per run directory: R:run takes an exclusive lock (file `lock`
-- in the run directory: host, pid, Slurm job) and a second writer fails
-- with an error naming the holder (or waits, with {wait = true}). The
-- kernel drops the lock when its process dies, so the lock of a killed
-- writer is taken over. run:summary(tbl) writes summary.json LAST (the
-- commit marker, with a `run_info` record: config hash, host, Slurm ids,
-- restart count, wall time) and releases the lock; run:fail(msg) writes
-- failed.json and releases it; run:close() releases it.
--
-- Temporary files (`*.tmp.PID.N` of write_atomic) that a killed writer left
-- are removed when the run directory is opened (under its lock, so no live
-- writer can own them) and by R:clean() (in unlocked run directories, and
-- elsewhere only when PID is dead here and the file is over a minute old).
local core = require "posbench.core"
local json = require "posbench.json"
local csv = require "posbench.csv"
local util = require "posbench.util"
-- Process primitives (harness/bind/lua_proc.c); a binary built before them
-- gets a clear message instead of an index error.
local proc = core._proc or setmetatable({}, { __index = function()
  error("this posbench binary is older than its Lua library (no locks): rebuild it (make)", 3)
end })

local results = {}

-- Locks this process holds: run directory -> {fd=, path=}.
local held = {}

local git_info
local function git()
  if git_info then return git_info end
  local root = util.shell_quote(core.source_root and core.source_root() or ".")
  local ok, head = util.run("git -C " .. root .. " rev-parse HEAD")
  head = ok and head:match("^(%x+)%s*$") or nil
  local dirty = false
  if head then
    local ok2, status = util.run("git -C " .. root .. " status --porcelain --untracked-files=no")
    dirty = not ok2 or status:find("%S") ~= nil
  end
  git_info = { commit = head or "unknown", dirty = dirty }
  return git_info
end

local function write_text(path, text, who)
  if type(text) ~= "string" then
    error(string.format("%s: text for '%s' must be a string, got %s", who, path, type(text)), 3)
  end
  util.ensure_parent(path)
  core.write_atomic(path, text)
  return path
end

local function with_csv_ext(f)
  return util.basename(f):find(".", 1, true) and f or (f .. ".csv")
end

-- Methods shared by experiments and runs: files inside self.dir.
local Files = {}
Files.__index = Files

function Files:path(f)
  util.check_name(f, "file name", true)
  return util.join(self.dir, f)
end

function Files:write(f, text)
  return write_text(self:path(f), text, "write")
end

function Files:csv(f, rows, columns)
  return csv.write(self:path(with_csv_ext(f)), rows, columns)
end

local Run = setmetatable({}, { __index = Files })
Run.__index = Run

function Run:log(tbl)
  if type(tbl) ~= "table" then error("run:log: expected a table, got " .. type(tbl), 2) end
  local ok, line = pcall(json.encode, tbl, { name = "metrics" })
  if not ok then error("run:log: " .. line, 2) end
  self._lines[#self._lines + 1] = line
  core.write_atomic(self.metrics_path, table.concat(self._lines, "\n") .. "\n")
  return tbl
end

local function unlock(dir)
  local h = held[dir]
  if h then
    held[dir] = nil
    proc.unlock(h.fd, h.path)
  end
end

local function slurm_ids()
  local e = os.getenv
  return { job_id = e("SLURM_JOB_ID"), array_job_id = e("SLURM_ARRAY_JOB_ID"),
           array_task_id = e("SLURM_ARRAY_TASK_ID") }
end

-- What summary.json records about the run itself (not its results).
function Run:info()
  return {
    config_hash = self.config_hash, host = proc.hostname(), pid = proc.getpid(),
    slurm = slurm_ids(), restart_count = tonumber(os.getenv("SLURM_RESTART_COUNT") or "0"),
    attempt = self.attempt, wall_seconds = core.now() - self.t0,
    finished = os.date("!%Y-%m-%dT%H:%M:%SZ"),
  }
end

function Run:summary(tbl)
  if type(tbl) ~= "table" then error("run:summary: expected a table, got " .. type(tbl), 2) end
  local rec = {}
  for k, v in pairs(tbl) do rec[k] = v end
  if rec.run_info == nil then rec.run_info = self:info() end
  local ok, text = pcall(json.encode, rec, { indent = true, name = "summary" })
  if not ok then error("run:summary: " .. text, 2) end
  core.write_atomic(util.join(self.dir, "summary.json"), text .. "\n")
  self:close()
  return tbl
end

--- run:fail(message): failed.json (the error, host, Slurm ids), then the
--- lock is released. A failed run is rerun by the next sweep.
function Run:fail(message)
  local rec = self:info()
  rec.error = tostring(message)
  core.write_atomic(util.join(self.dir, "failed.json"), json.encode(rec, { indent = true }) .. "\n")
  self:close()
end

function Run:close()
  if held[self.dir] and held[self.dir].owner == self then unlock(self.dir) end
end

local Experiment = setmetatable({}, { __index = Files })
Experiment.__index = Experiment

local function config_hash(config)
  local ok, text = pcall(json.encode, config, { name = "config" })
  if not ok then error(text, 3) end
  return core.hash64(text)
end

local TMP_PATTERN = "%.tmp%.(%d+)%.%d+$"

-- Removes write_atomic's temporary files in dir. all: every one (the
-- caller holds the directory's lock); otherwise only those whose writer
-- is dead on this host and which are over a minute old (a live writer on
-- another host of a shared file system finishes its write in far less).
local function clean_tmp(dir, all)
  local names = proc.listdir(dir) or {}
  local me, now = proc.getpid(), os.time()
  for _, f in ipairs(names) do
    local pid = f:match(TMP_PATTERN)
    if pid then
      pid = tonumber(pid)
      local path = util.join(dir, f)
      local st = proc.stat(path)
      if st and not st.dir and pid ~= me
        and (all or (not proc.alive(pid) and now - st.mtime > 60)) then
        os.remove(path)
      end
    end
  end
end
results.clean_tmp = clean_tmp

local function lock_text()
  local ids = slurm_ids()
  return json.encode({ host = proc.hostname(), pid = proc.getpid(), job = ids.job_id,
                       array_job = ids.array_job_id, array_task = ids.array_task_id,
                       since = os.date("!%Y-%m-%dT%H:%M:%SZ") }) .. "\n"
end

local function holder_text(text)
  local ok, h = pcall(json.decode, text or "")
  if not ok or type(h) ~= "table" then return "another process" end
  local s = string.format("host %s, pid %s", tostring(h.host), tostring(h.pid))
  if h.job then s = s .. ", Slurm job " .. h.job end
  if h.since then s = s .. ", since " .. h.since end
  return s
end

--- R:lock(name [, {wait=seconds|true}]) -> true, or nil and who holds it.
--- Held until the run's summary, fail or close (or this process ends).
function Experiment:lock(name, opts)
  util.check_name(name, "run name", false)
  local dir = util.join(self.dir, name)
  if held[dir] then return true end
  core.mkdir_p(dir)
  local path = util.join(dir, "lock")
  local wait = opts and opts.wait
  local deadline = core.now() + (wait == true and math.huge or tonumber(wait) or 0)
  local blank = 0
  while true do
    local fd, prev, busy = proc.lock(path, lock_text())
    if fd then
      held[dir] = { fd = fd, path = path }
      if prev ~= "" then
        io.stderr:write(string.format("posbench: %s: took over the lock of a writer that is gone (%s)\n",
                                      dir, holder_text(prev)))
      end
      clean_tmp(dir, true)
      return true
    end
    if not busy then error("R:lock: " .. tostring(prev), 2) end
    -- A holder that has just taken the lock may not have written who it is.
    blank = prev == "" and blank + 1 or 0
    if core.now() >= deadline and (blank == 0 or blank > 20) then return nil, holder_text(prev) end
    proc.sleep(blank > 0 and 0.01 or 0.2)
  end
end

--- R:unlock(name): releases this process's lock of a run (if held).
function Experiment:unlock(name)
  unlock(util.join(self.dir, name))
end

--- R:fail(name, message): failed.json in a run this process holds, then
--- the lock is released.
function Experiment:fail(name, message)
  local dir = util.join(self.dir, name)
  local h = held[dir]
  if h and type(h.owner) == "table" then return h.owner:fail(message) end
  local rec = { error = tostring(message), host = proc.hostname(), pid = proc.getpid(),
                slurm = slurm_ids(), finished = os.date("!%Y-%m-%dT%H:%M:%SZ") }
  core.write_atomic(util.join(dir, "failed.json"), json.encode(rec, { indent = true }) .. "\n")
  unlock(dir)
end

--- R:holder(name) -> who holds the lock of a run (nil when nobody does).
function Experiment:holder(name)
  local path = util.join(util.join(self.dir, name), "lock")
  if held[util.join(self.dir, name)] or not core.file_exists(path) then return nil end
  local fd, prev, busy = proc.lock(path, lock_text())
  if fd then
    proc.unlock(fd, path)
    return nil
  end
  return busy and holder_text(prev) or nil
end

function Experiment:run(name, config, opts)
  util.check_name(name, "run name", false)
  config = config or {}
  if type(config) ~= "table" then error("R:run: config must be a table, got " .. type(config), 2) end
  local hash = config_hash(config)  -- before mkdir: a bad config leaves no directory
  local dir = util.join(self.dir, name)
  local ok, who = self:lock(name, opts)
  if not ok then
    error(string.format("R:run: run '%s' of '%s' is being written by another process (%s); " ..
      "one run directory has one writer at a time", name, self.name, who), 2)
  end
  local prev_attempt = 0
  local cpath = util.join(dir, "config.json")
  if core.file_exists(cpath) then
    local okc, prev = pcall(json.read, cpath)
    if okc and type(prev) == "table" and prev.config_hash == hash then
      prev_attempt = tonumber(prev.attempt) or 1
    end
  end
  local run = setmetatable({
    name = name, dir = dir, config = config, config_hash = hash,
    metrics_path = util.join(dir, "metrics.jsonl"), _lines = {},
    t0 = core.now(), attempt = prev_attempt + 1,
  }, Run)
  held[dir].owner = run
  os.remove(util.join(dir, "summary.json"))  -- first: the run is no longer done
  os.remove(run.metrics_path)
  os.remove(util.join(dir, "failed.json"))
  local g = git()
  local record = {
    config = config,
    config_hash = run.config_hash,
    seed = config.seed == nil and json.null or config.seed,
    git_commit = g.commit,
    git_dirty = g.dirty,
    machine = core.machine(),
    time = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    posbench_version = core.version or "dev",
    experiment = self.name,
    run = name,
    script = type(rawget(_G, "arg")) == "table" and arg[0] or nil,
    attempt = run.attempt,
  }
  core.write_atomic(util.join(dir, "config.json"), json.encode(record, { indent = true }) .. "\n")
  return run
end

function Experiment:load(name)
  util.check_name(name, "run name", false)
  local dir = util.join(self.dir, name)
  local out = { config = json.read(util.join(dir, "config.json")), metrics = {} }
  local mpath = util.join(dir, "metrics.jsonl")
  if core.file_exists(mpath) then
    local n = 0
    for line in util.read_file(mpath, "R:load"):gmatch("[^\n]+") do
      n = n + 1
      local ok, v = pcall(json.decode, line)
      if not ok then error(string.format("%s line %d: %s", mpath, n, v), 2) end
      out.metrics[n] = v
    end
  end
  local spath = util.join(dir, "summary.json")
  if core.file_exists(spath) then out.summary = json.read(spath) end
  return out
end

function Experiment:completed(name, config)
  util.check_name(name, "run name", false)
  local dir = util.join(self.dir, name)
  local spath, cpath = util.join(dir, "summary.json"), util.join(dir, "config.json")
  if not (core.file_exists(spath) and core.file_exists(cpath)) then return nil end
  local ok, rec = pcall(json.read, cpath)
  if not ok or type(rec) ~= "table" or rec.config_hash ~= config_hash(config or {}) then return nil end
  local ok2, summary = pcall(json.read, spath)
  return ok2 and summary or nil
end

--- R:status(name, hash) -> state, detail: "done" (summary.json with this
--- config hash), "stale" (finished with another hash), "failed"
--- (failed.json: detail is its error), "running" (locked: detail is the
--- holder) or "todo".
function Experiment:status(name, hash)
  local dir = util.join(self.dir, name)
  local spath = util.join(dir, "summary.json")
  if core.file_exists(spath) then
    local ok, summary = pcall(json.read, spath)
    local have = ok and type(summary) == "table" and type(summary.run_info) == "table"
      and summary.run_info.config_hash
    if not have then
      local okc, rec = pcall(json.read, util.join(dir, "config.json"))
      have = okc and type(rec) == "table" and rec.config_hash
    end
    if have == hash then return "done" end
    return "stale", have
  end
  local who = self:holder(name)
  if who then return "running", who end
  local fpath = util.join(dir, "failed.json")
  if core.file_exists(fpath) then
    local ok, rec = pcall(json.read, fpath)
    return "failed", ok and type(rec) == "table" and rec.error or "see failed.json"
  end
  return "todo"
end

--- R:clean(): temporary files of dead writers, in R.dir (recursively) and
--- in every run directory nobody holds.
function Experiment:clean()
  local function walk(dir)
    local is_run = core.file_exists(util.join(dir, "config.json")) or core.file_exists(util.join(dir, "lock"))
    if is_run and dir ~= self.dir then
      local name = dir:sub(#self.dir + 2)
      if not name:find("/", 1, true) and self:lock(name) then
        held[dir].owner = "clean"
        unlock(dir)
      end
      return
    end
    clean_tmp(dir, false)
    for _, f in ipairs(proc.listdir(dir) or {}) do
      local p = util.join(dir, f)
      local st = proc.stat(p)
      if st and st.dir then walk(p) end
    end
  end
  walk(self.dir)
end

function results.open(experiment, opts)
  util.check_name(experiment, "experiment name", true)
  local root = opts and opts.root or "results"
  if type(root) ~= "string" or root == "" then error("results.open: root must be a non-empty string", 2) end
  local dir = util.join(root, experiment)
  core.mkdir_p(dir)
  return setmetatable({ name = experiment, root = root, dir = dir }, Experiment)
end

return results
