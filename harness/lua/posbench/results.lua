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
--
-- Every file operation below the results root goes through core._rfs
-- (harness/io/results_fs.c): no symbolic link is followed there, only
-- regular files are read, written over or removed, and nothing outside the
-- root is touched. A run is done only when its summary.json is a complete
-- summary (an object with run_info.config_hash) and both it and
-- config.json carry the plan's config hash.
local core = require "posbench.core"
local json = require "posbench.json"
local csv = require "posbench.csv"
local util = require "posbench.util"
-- Process primitives (harness/bind/lua_proc.c); a binary built before them
-- gets a clear message instead of an index error.
local function needs_rebuild()
  return setmetatable({}, { __index = function()
    error("this posbench binary is older than its Lua library: rebuild it (make)", 3)
  end })
end
local proc = core._proc or needs_rebuild()
local rfs = core._rfs or needs_rebuild()

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
    -- --no-optional-locks: a plain status refreshes the index under
    -- .git/index.lock, which a run killed at that moment (kill -9, Slurm
    -- preemption) leaves behind, and the user's next commit then fails
    local ok2, status = util.run("git --no-optional-locks -C " .. root ..
                                 " status --porcelain --untracked-files=no")
    dirty = not ok2 or status:find("%S") ~= nil
  end
  git_info = { commit = head or "unknown", dirty = dirty }
  return git_info
end

-- text of a regular file below root, or nil and why not.
local function read_text(root, path)
  return rfs.read(root, path)
end
results.read_text = read_text

-- A JSON file below root: value, or nil and why not (absent, not a
-- regular file, unreadable, not JSON).
local function read_json(root, path)
  local text, err = rfs.read(root, path)
  if not text then return nil, err end
  local ok, v = pcall(json.decode, text)
  if not ok then return nil, string.format("%s: %s", path, v) end
  return v
end
results.read_json = read_json

local function write_file(root, path, text)
  local d = util.dirname(path)
  if d ~= "." and d ~= "/" then rfs.mkdir(root, d) end
  rfs.write(root, path, text)
  return path
end
results.write_file = write_file

local function write_text(root, path, text, who)
  if type(text) ~= "string" then
    error(string.format("%s: text for '%s' must be a string, got %s", who, path, type(text)), 3)
  end
  return write_file(root, path, text)
end

-- Removes a regular file below root (absent is fine); raises otherwise.
local function remove_file(root, path, who)
  local ok, err = rfs.remove(root, path)
  if not ok then error(who .. ": " .. err, 0) end
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
  return write_text(self.root, self:path(f), text, "write")
end

function Files:csv(f, rows, columns)
  local path = self:path(with_csv_ext(f))
  local ok, text = pcall(csv.encode, rows, columns)
  if not ok then error(string.format("csv.write '%s': %s", path, text), 2) end
  return write_file(self.root, path, text)
end

local Run = setmetatable({}, { __index = Files })
Run.__index = Run

function Run:log(tbl)
  if type(tbl) ~= "table" then error("run:log: expected a table, got " .. type(tbl), 2) end
  local ok, line = pcall(json.encode, tbl, { name = "metrics" })
  if not ok then error("run:log: " .. line, 2) end
  self._lines[#self._lines + 1] = line
  rfs.write(self.root, self.metrics_path, table.concat(self._lines, "\n") .. "\n")
  return tbl
end

local function unlock(dir)
  local h = held[dir]
  if h then
    held[dir] = nil
    rfs.unlock(h.fd, h.path)
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
  rfs.write(self.root, util.join(self.dir, "summary.json"), text .. "\n")
  self:close()
  return tbl
end

--- run:fail(message): failed.json (the error, host, Slurm ids), then the
--- lock is released. A failed run is rerun by the next sweep.
function Run:fail(message)
  local rec = self:info()
  rec.error = tostring(message)
  rfs.write(self.root, util.join(self.dir, "failed.json"), json.encode(rec, { indent = true }) .. "\n")
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
local function clean_tmp(root, dir, all)
  local names = rfs.list(root, dir) or {}
  local me, now = proc.getpid(), os.time()
  for _, f in ipairs(names) do
    local pid = f:match(TMP_PATTERN)
    if pid then
      pid = tonumber(pid)
      local path = util.join(dir, f)
      local st = rfs.lstat(path)
      if st and st.kind == "file" and pid ~= me
        and (all or (not proc.alive(pid) and now - st.mtime > 60)) then
        rfs.remove(root, path)
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
  rfs.mkdir(self.root, dir)
  local path = util.join(dir, "lock")
  local wait = opts and opts.wait
  local deadline = core.now() + (wait == true and math.huge or tonumber(wait) or 0)
  local blank = 0
  while true do
    local fd, prev, busy = rfs.lock(self.root, path, lock_text())
    if fd then
      held[dir] = { fd = fd, path = path }
      if prev ~= "" then
        io.stderr:write(string.format("posbench: %s: took over the lock of a writer that is gone (%s)\n",
                                      dir, holder_text(prev)))
      end
      clean_tmp(self.root, dir, true)
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
  rfs.write(self.root, util.join(dir, "failed.json"), json.encode(rec, { indent = true }) .. "\n")
  unlock(dir)
end

--- R:holder(name) -> who holds the lock of a run (nil when nobody does;
--- nil and an error when the lock cannot be looked at, e.g. a symbolic
--- link). Only looks: takes no lock and writes nothing.
function Experiment:holder(name)
  local dir = util.join(self.dir, name)
  if held[dir] then return nil end
  local who, err = rfs.holder(self.root, util.join(dir, "lock"))
  if who == nil then return nil, err end
  return who and holder_text(who) or nil
end

function Experiment:run(name, config, opts)
  util.check_name(name, "run name", false)
  config = config or {}
  if type(config) ~= "table" then error("R:run: config must be a table, got " .. type(config), 2) end
  local hash = config_hash(config)  -- before mkdir: a bad config leaves no directory
  local dir = util.join(self.dir, name)
  if held[dir] and getmetatable(held[dir].owner) == Run then
    error(string.format("R:run: run '%s' of '%s' is already open in this process; finish it " ..
      "(run:summary, run:fail or run:close) before opening it again", name, self.name), 2)
  end
  local ok, who = self:lock(name, opts)
  if not ok then
    error(string.format("R:run: run '%s' of '%s' is being written by another process (%s); " ..
      "one run directory has one writer at a time", name, self.name, who), 2)
  end
  local prev_attempt = 0
  local prev = read_json(self.root, util.join(dir, "config.json"))
  if type(prev) == "table" and prev.config_hash == hash then
    prev_attempt = tonumber(prev.attempt) or 1
  end
  local run = setmetatable({
    name = name, dir = dir, root = self.root, config = config, config_hash = hash,
    metrics_path = util.join(dir, "metrics.jsonl"), _lines = {},
    t0 = core.now(), attempt = prev_attempt + 1,
  }, Run)
  held[dir].owner = run
  local ok_rm, err_rm = pcall(function()
    remove_file(self.root, util.join(dir, "summary.json"), "R:run")  -- first: no longer done
    remove_file(self.root, run.metrics_path, "R:run")
    remove_file(self.root, util.join(dir, "failed.json"), "R:run")
  end)
  if not ok_rm then
    unlock(dir)
    error(err_rm, 2)
  end
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
  rfs.write(self.root, util.join(dir, "config.json"), json.encode(record, { indent = true }) .. "\n")
  return run
end

-- A file of run `name` for R:load: its text, nil when absent; an error
-- naming it when it is anything but a readable regular file.
local function run_file(self, name, f)
  local path = util.join(util.join(self.dir, name), f)
  local st = rfs.lstat(path)
  if not st then return nil, path end
  local text, err = read_text(self.root, path)
  if not text then error("R:load: " .. err, 3) end
  return text, path
end

function Experiment:load(name)
  util.check_name(name, "run name", false)
  local function decode(text, path)
    local ok, v = pcall(json.decode, text)
    if not ok then error(string.format("R:load: %s: %s", path, v), 3) end
    return v
  end
  local ctext, cpath = run_file(self, name, "config.json")
  if not ctext then error("R:load: " .. cpath .. ": no such file", 2) end
  local out = { config = decode(ctext, cpath), metrics = {} }
  local mtext, mpath = run_file(self, name, "metrics.jsonl")
  if mtext then
    local n = 0
    for line in mtext:gmatch("[^\n]+") do
      n = n + 1
      local ok, v = pcall(json.decode, line)
      if not ok then error(string.format("%s line %d: %s", mpath, n, v), 2) end
      out.metrics[n] = v
    end
  end
  local stext, spath = run_file(self, name, "summary.json")
  if stext then out.summary = decode(stext, spath) end
  return out
end

-- The sweep state of one run directory, from its files only:
--   dir_kind: what lstat says the run directory is (nil: absent);
--   summary, summary_err: summary.json's text (nil: absent) or why it
--   cannot be read; config: config.json's text or nil; failed: failed.json's
--   text or nil; holder: who holds the lock, holder_err: why the lock
--   cannot be looked at.
-- results.classify(state, hash) turns it into a state; keeping the two
-- apart lets tests/fuzz/fuzz_sweep_state.c feed the classifier any files.
function Experiment:run_state(name)
  local dir = util.join(self.dir, name)
  local st = rfs.lstat(dir)
  local out = { dir_kind = st and st.kind }
  if not st or st.kind ~= "dir" then return out end
  local function get(f)
    local path = util.join(dir, f)
    if not rfs.lstat(path) then return nil end
    local text, err = read_text(self.root, path)
    return text, err
  end
  out.summary, out.summary_err = get("summary.json")
  out.config, out.config_err = get("config.json")
  out.failed = get("failed.json")
  if not held[dir] then out.holder, out.holder_err = self:holder(name) end
  return out
end

-- A complete summary: a JSON object whose run_info has a config hash.
local function summary_hash(text)
  local ok, s = pcall(json.decode, text)
  if not ok then return nil, "summary.json is not valid JSON (truncated?)" end
  if type(s) ~= "table" or type(s.run_info) ~= "table"
    or type(s.run_info.config_hash) ~= "string" then
    return nil, "summary.json is not a complete summary (no run_info.config_hash)"
  end
  return s.run_info.config_hash
end

--- results.classify(state, hash) -> "done" | "stale" | "failed" | "running"
--- | "todo", detail. state is Experiment:run_state's. Done needs a complete
--- summary with this hash and a config.json with the same hash.
function results.classify(st, hash)
  if st.dir_kind and st.dir_kind ~= "dir" then
    return "failed", "the run directory is a " .. (st.dir_kind == "link" and "symbolic link" or
      "non-directory") .. ": refused"
  end
  if st.summary_err then return "failed", st.summary_err end
  if st.summary then
    local have, why = summary_hash(st.summary)
    if not have then return "failed", why end
    if have ~= hash then return "stale", have end
    local ok, c = pcall(json.decode, st.config or "")
    if not ok or type(c) ~= "table" or c.config_hash ~= hash then
      return "failed", "summary.json and config.json disagree on the config hash"
    end
    return "done"
  end
  if st.holder_err then return "failed", st.holder_err end
  if st.holder then return "running", st.holder end
  if st.failed then
    local ok, rec = pcall(json.decode, st.failed)
    return "failed", ok and type(rec) == "table" and type(rec.error) == "string" and rec.error
      or "see failed.json"
  end
  return "todo"
end

function Experiment:completed(name, config)
  util.check_name(name, "run name", false)
  if results.classify(self:run_state(name), config_hash(config or {})) ~= "done" then return nil end
  return read_json(self.root, util.join(util.join(self.dir, name), "summary.json"))
end

--- R:status(name, hash) -> state, detail: "done" (a complete summary.json
--- and config.json with this config hash), "stale" (finished with another
--- hash), "failed" (failed.json: detail is its error; or files that are
--- not a complete run: detail says what), "running" (locked: detail is the
--- holder) or "todo".
function Experiment:status(name, hash)
  return results.classify(self:run_state(name), hash)
end

--- R:clean(): temporary files of dead writers, in R.dir (recursively) and
--- in every run directory nobody holds. Symbolic links are not followed.
function Experiment:clean()
  local function walk(dir)
    local is_run = rfs.lstat(util.join(dir, "config.json")) or rfs.lstat(util.join(dir, "lock"))
    if is_run and dir ~= self.dir then
      local name = dir:sub(#self.dir + 2)
      if not name:find("/", 1, true) then
        local ok, got = pcall(self.lock, self, name)
        if ok and got then
          held[dir].owner = "clean"
          unlock(dir)
        elseif not ok then  -- e.g. a symlinked lock: left alone, said so
          io.stderr:write(string.format("posbench: %s: not cleaned: %s\n", dir, tostring(got)))
        end
      end
      return
    end
    clean_tmp(self.root, dir, false)
    for _, f in ipairs(rfs.list(self.root, dir) or {}) do
      local p = util.join(dir, f)
      local st = rfs.lstat(p)
      if st and st.kind == "dir" then walk(p) end
    end
  end
  walk(self.dir)
end

function results.open(experiment, opts)
  util.check_name(experiment, "experiment name", true)
  local root = opts and opts.root or "results"
  if type(root) ~= "string" or root == "" then error("results.open: root must be a non-empty string", 2) end
  local dir = util.join(root, experiment)
  rfs.mkdir(root, dir)
  return setmetatable({ name = experiment, root = root, dir = dir }, Experiment)
end

return results
