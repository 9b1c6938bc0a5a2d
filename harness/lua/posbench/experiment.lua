-- Shared plumbing of experiment scripts: a config table with named scales
-- and key=value overrides, and progress lines tagged with the experiment.
--
--   local experiment = require "posbench.experiment"
--   local cfg = experiment.configure("snr", M.config, M.scales, overrides)
--   local say = experiment.sayer("snr")      say("trained %d models", n)
local json = require "posbench.json"

local experiment = {}

--- Merge defaults, then the chosen scale (overrides.scale or
--- defaults.scale), then the overrides. Unknown keys are errors naming the
--- valid ones; each override must be of its default's kind
--- (experiment.check_setting).
function experiment.configure(name, defaults, scales, overrides)
  local cfg = {}
  for k, v in pairs(defaults) do cfg[k] = v end
  overrides = overrides or {}
  local scale = overrides.scale or cfg.scale
  if not scales[scale] then
    local valid = {}
    for s in pairs(scales) do valid[#valid + 1] = s end
    table.sort(valid)
    error(string.format("%s: unknown scale '%s' (valid: %s)", name, tostring(scale),
                        table.concat(valid, ", ")), 0)
  end
  for k, v in pairs(scales[scale]) do cfg[k] = v end
  cfg.scale = scale
  -- Plain keys first, so that a dotted key edits the table it names
  -- whatever order the overrides arrive in.
  local dotted = {}
  for k, v in pairs(overrides) do
    local top = k:match("^([^.]+)%.")
    if defaults[top or k] == nil then
      local names = {}
      for key in pairs(defaults) do names[#names + 1] = key end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (valid: %s)", name, top or k,
                          table.concat(names, ", ")), 0)
    end
    if top then dotted[#dotted + 1] = k else cfg[k] = experiment.check_setting(name, k, defaults[k], v) end
  end
  table.sort(dotted)
  for _, k in ipairs(dotted) do experiment.set_field(name, cfg, k, overrides[k]) end
  return cfg
end

--- A dotted override (recipes.kaz.layers=3): one field inside a table
--- setting, the rest of the table kept. The tables on the path are copied,
--- never edited in place (they belong to the study's defaults and scales);
--- missing ones are created. The value is checked against the field it
--- replaces, or else against the top-level setting of the same name
--- (recipes.kaz.layers against layers).
function experiment.set_field(name, cfg, key, v)
  local parts = {}
  for p in key:gmatch("[^.]+") do parts[#parts + 1] = p end
  if #parts < 2 or key:find("..", 1, true) or key:sub(-1) == "." then
    error(string.format("%s: option '%s' is not a dotted path (setting.field)", name, key), 0)
  end
  if type(cfg[parts[1]]) ~= "table" then
    error(string.format("%s: %s is not a table setting, so '%s' names no field of it", name, parts[1], key), 0)
  end
  local t = cfg
  for i = 1, #parts - 1 do
    local inner = t[parts[i]]
    -- a missing field is checked like its top-level namesake (recipes.kaz.layers.x: layers is a number)
    local kind = inner
    if kind == nil and i > 1 then kind = cfg[parts[i]] end
    if kind ~= nil and type(kind) ~= "table" then
      error(string.format("%s: %s is a %s, not a table, so '%s' names no field of it", name,
        table.concat(parts, ".", 1, i), type(kind), key), 0)
    end
    if inner ~= nil and #inner > 0 then
      error(string.format("%s: %s is a list; set it whole (%s=a,b,c), not by '%s'", name,
        table.concat(parts, ".", 1, i), table.concat(parts, ".", 1, i), key), 0)
    end
    local copy = {}
    for kk, vv in pairs(inner or {}) do copy[kk] = vv end
    t[parts[i]] = copy
    t = copy
  end
  local last = parts[#parts]
  local like = t[last]
  if like == nil then like = cfg[last] end
  t[last] = like == nil and v or experiment.check_setting(name, key, like, v)
end

--- An override v of setting k checked against the kind of its default d:
--- a list takes a table or "a,b,c"; a number takes a finite number, and an
--- integer default an integer (seeds=1.5 is not one seed); text takes text
--- (root=2024 arrives as a number: write root=./2024); a boolean takes
--- true or false.
function experiment.check_setting(name, k, d, v)
  local function bad(want)
    error(string.format("%s: %s=%s must be %s", name, k, tostring(v), want), 0)
  end
  if type(d) == "table" then
    if type(v) == "table" then return v end
    -- A JSON list (sections=["press","barbero"]), as the study's config
    -- files and collect's config.json spell lists.
    if type(v) == "string" and v:match("^%s*%[") then
      local ok, list = pcall(json.decode, v)
      if not ok or type(list) ~= "table" then bad("a list: a,b,c or a JSON list") end
      return list
    end
    local list = {}
    for item in tostring(v):gmatch("[^,]+") do list[#list + 1] = tonumber(item) or item end
    return list
  elseif type(d) == "number" then
    if type(v) ~= "number" then bad("a number") end
    if v ~= v or v == math.huge or v == -math.huge then bad("a finite number") end
    if math.type(d) == "integer" then
      v = math.tointeger(v) or bad(string.format("an integer (its default is %d)", d))
    end
  elseif type(d) == "string" then
    if type(v) ~= "string" then
      local path = (k == "root" or k == "results") and type(v) == "number"
      bad("text" .. (path and string.format(" (a directory named like a number: write %s=./%s)", k,
        tostring(v)) or ""))
    end
  elseif type(d) == "boolean" then
    if type(v) ~= "boolean" then bad("true or false") end
  end
  return v
end

--- seeds= a whole number in lo..1000 (lo: 1, or 2 for paired tests): a
--- bound, so that a typo (seeds=1e9) fails at once instead of hanging the plan.
function experiment.check_seeds(name, cfg, lo, why)
  lo = lo or 1
  if math.type(cfg.seeds) ~= "integer" or cfg.seeds < lo or cfg.seeds > 1000 then
    error(string.format("%s: seeds must be in %d..1000%s, got %s", name, lo, why and " (" .. why .. ")" or "",
      tostring(cfg.seeds)), 0)
  end
  return cfg
end

--- A study's learning-rate grid (cfg.lr_grid, the rates its pilots try):
--- finite rates > 0, checked when the study is configured, not when a
--- pilot trains at 0 or a selection finds no pilot.
function experiment.check_lr_grid(name, cfg)
  for _, lr in ipairs(cfg.lr_grid) do
    if not (type(lr) == "number" and lr > 0 and lr < math.huge) then
      error(string.format("%s: lr_grid must list learning rates > 0, got %s", name, tostring(lr)), 0)
    end
  end
  return cfg
end

--- A printf that tags each line with [name] and flushes (progress).
function experiment.sayer(name)
  return function(fmt, ...)
    io.stdout:write("[", name, "] ", string.format(fmt, ...), "\n")
    io.stdout:flush()
  end
end

--- True when the calling file is the script `posbench run` was given (and
--- not loaded with dofile/require by another script such as article.lua):
---   if experiment.is_main(...) then M.run(pb.args) end
function experiment.is_main(...)
  if experiment.library_mode then return false end  -- loaded by the sweep engine
  local this = debug.getinfo(2, "S").source:match("([^/@]+)$")
  return select("#", ...) == 0 and type(arg) == "table" and type(arg[0]) == "string"
    and arg[0]:match("([^/]+)$") == this
end

-- Copies every regular file under src to dst (same relative paths; both
-- below the results root), except the names in skip (at the top level);
-- atomic per file. Symbolic links are not followed.
local function copy_tree(root, src, dst, skip)
  local core, util = require "posbench.core", require "posbench.util"
  local rfs = core._rfs
  for _, f in ipairs(rfs.list(root, src) or {}) do
    local from, to = util.join(src, f), util.join(dst, f)
    local st = rfs.lstat(from)
    if st and st.kind == "dir" then
      copy_tree(root, from, to, {})
    elseif st and st.kind == "file" and not (skip and skip[f]) and not f:find("%.tmp%.%d+%.%d+$") then
      local text, err = rfs.read(root, from)
      if not text then error("copy: " .. err, 0) end
      require("posbench.results").write_file(root, to, text)
    end
  end
end

local RUN_FILES = { ["config.json"] = true, ["summary.json"] = true, ["metrics.jsonl"] = true,
                    ["lock"] = true, ["failed.json"] = true, ["report.json"] = true,
                    ["report.md"] = true }

--- A study whose parts share what they train, run as one unit:
---   experiment.whole_study(M, name, configure, body)
--- body(cfg, R) -> result with result.report (a report) does the whole
--- study with R rooted in its run directory <root>/<name>/study/. The plan
--- is that one run; collect copies its tables and plots into <root>/<name>/
--- and writes report.md there from the report's blocks (saved as
--- report.json in the run directory). Defines M.name, configure, plan,
--- run_one, collect and run.
function experiment.whole_study(M, name, configure, body)
  local json, results = require "posbench.json", require "posbench.results"
  M.name, M.configure = name, configure
  function M.plan(cfg)
    local c = {}
    for k, v in pairs(cfg) do if k ~= "root" and k ~= "threads" then c[k] = v end end
    return { { name = "study", kind = "whole", config = c } }
  end
  function M.run_one(cfg, e, R)
    local run = R:run(e.name, e.config)
    local result = body(cfg, results.open(name .. "/" .. e.name, { root = cfg.root }))
    local rep = result.report
    run:write("report.json", json.encode({ title = rep.title, blocks = rep.blocks, nfig = rep.nfig,
                                           ntab = rep.ntab }, { indent = true }) .. "\n")
    local numbers = {}
    for k, v in pairs(result) do
      if type(v) == "number" or type(v) == "string" or type(v) == "boolean" then numbers[k] = v end
    end
    numbers.dir = nil
    run:summary(numbers)
  end
  function M.collect(cfg, R, plan)
    local util = require "posbench.util"
    local e = plan[1]
    if not e.done then return { dir = R.dir } end
    local rundir = util.join(R.dir, e.name)
    copy_tree(R.root, rundir, R.dir, RUN_FILES)
    local core = require "posbench.core"
    local real, rdir = core.realpath(rundir) or rundir, core.realpath(R.dir) or R.dir
    local saved, err = results.read_json(R.root, util.join(rundir, "report.json"))
    if type(saved) ~= "table" then error("collect: " .. tostring(err or "report.json is not an object"), 0) end
    local rep = pb.report.new(saved.title)
    rep.nfig, rep.ntab = saved.nfig, saved.ntab
    for _, b in ipairs(saved.blocks) do
      if b.kind == "figure" and type(b.path) == "string" and b.path:sub(1, #real + 1) == real .. "/" then
        b.path = rdir .. b.path:sub(#real + 1)  -- the copy in the study directory
      end
      rep.blocks[#rep.blocks + 1] = b
    end
    rep:write(R:path("report.md"))
    local out = R:load(e.name).summary or {}
    out.run_info, out.dir, out.report = nil, R.dir, rep
    return out
  end
  function M.run(overrides)
    return require("posbench.sweep").run_inprocess(M, overrides)
  end
end

--- A study's settings as a user sets them: cfg without its internal keys
--- (a leading "_") and the keys of `omit`.
function experiment.public_settings(cfg, omit)
  local out = {}
  for k, v in pairs(cfg) do
    if k:sub(1, 1) ~= "_" and not (omit and omit[k]) then out[k] = v end
  end
  return out
end

--- The same as "key<sep>value" lines, sorted by key, tables as JSON.
function experiment.settings_lines(cfg, sep, omit)
  local shown = experiment.public_settings(cfg, omit)
  local keys = {}
  for k in pairs(shown) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = shown[k]
    out[#out + 1] = k .. sep .. (type(v) == "table" and json.encode(v) or tostring(v))
  end
  return out
end

--- Evaluation sizes of a study trained up to L: round(f * L) for each
--- factor, at least 1, sorted, each once.
function experiment.sizes(L, factors)
  local seen, out = {}, {}
  for _, f in ipairs(factors) do
    local n = math.max(1, math.floor(f * L + 0.5))
    if not seen[n] then seen[n], out[#out + 1] = true, n end
  end
  table.sort(out)
  return out
end

return experiment
