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
-- Run names are single path components: '/' and '..' are rejected.
local core = require "posbench.core"
local json = require "posbench.json"
local csv = require "posbench.csv"
local util = require "posbench.util"

local results = {}

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

function Run:summary(tbl)
  if type(tbl) ~= "table" then error("run:summary: expected a table, got " .. type(tbl), 2) end
  local ok, text = pcall(json.encode, tbl, { indent = true, name = "summary" })
  if not ok then error("run:summary: " .. text, 2) end
  core.write_atomic(util.join(self.dir, "summary.json"), text .. "\n")
  return tbl
end

local Experiment = setmetatable({}, { __index = Files })
Experiment.__index = Experiment

local function config_hash(config)
  local ok, text = pcall(json.encode, config, { name = "config" })
  if not ok then error(text, 3) end
  return core.hash64(text)
end

function Experiment:run(name, config)
  util.check_name(name, "run name", false)
  config = config or {}
  if type(config) ~= "table" then error("R:run: config must be a table, got " .. type(config), 2) end
  local hash = config_hash(config)  -- before mkdir: a bad config leaves no directory
  local dir = util.join(self.dir, name)
  core.mkdir_p(dir)
  local run = setmetatable({
    name = name, dir = dir, config = config, config_hash = hash,
    metrics_path = util.join(dir, "metrics.jsonl"), _lines = {},
  }, Run)
  os.remove(run.metrics_path)
  os.remove(util.join(dir, "summary.json"))
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

function results.open(experiment, opts)
  util.check_name(experiment, "experiment name", true)
  local root = opts and opts.root or "results"
  if type(root) ~= "string" or root == "" then error("results.open: root must be a non-empty string", 2) end
  local dir = util.join(root, experiment)
  core.mkdir_p(dir)
  return setmetatable({ name = experiment, root = root, dir = dir }, Experiment)
end

return results
