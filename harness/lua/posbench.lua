-- The public posbench module: the C core plus the parts written in Lua.
-- `local pb = require "posbench"` (also the global `pb` in `posbench run`).
local core = require "posbench.core"

local pb = {}
for k, v in pairs(core) do
  if k:sub(1, 1) ~= "_" then pb[k] = v end
end

pb.json = require "posbench.json"
pb.csv = require "posbench.csv"
pb.stats = require "posbench.stats"
pb.verdict = require "posbench.verdict"
local designs = require "posbench.designs"
pb.design, pb.register_design, pb.list_designs = designs.layers, designs.register, designs.list
pb.plot = require "posbench.plot"
pb.results = require("posbench.results").open
pb.report = require "posbench.report"
pb.args = {}
pb.autodiff = require "posbench.autodiff"

--- pb.check_encoding(name, opts) -> gradient checks of a learnable Lua
--- encoding (posbench/check_encoding.lua).
function pb.check_encoding(name, opts)
  return require("posbench.check_encoding").run(pb, name, opts)
end

local Model = core._model_methods

-- The Lua encodings a model uses, {name =, source = "file.lua:line"} each,
-- sorted by name: a checkpoint names the registrations it needs.
local function lua_encodings_of(info)
  local names, out = {}, {}
  names[info.encoding] = true
  for _, spec in ipairs(info.layer_specs or {}) do names[spec.encoding or info.encoding] = true end
  for name in pairs(names) do
    local rec = core._lua_encoding_record(name)
    if rec then out[#out + 1] = { name = name, source = rec.source } end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

--- model:save(path): parameters and config, written atomically. A model
--- with Lua encodings records each one's name and where it was registered
--- (lua_encodings), so pb.load can say what to register first.
function Model:save(path)
  assert(type(path) == "string", "model:save(path): path must be a string")
  local info = self:info()
  local lua_encs = lua_encodings_of(info)
  local meta = { format = "posbench-checkpoint", version = core.version,
                 config = self:config(), info = info,
                 lua_encodings = #lua_encs > 0 and lua_encs or nil }
  core._save(self, path, pb.json.encode(meta))
end

-- A checkpoint's Lua encodings must be registered before its model is built.
local function check_lua_encodings(path, meta)
  if meta.lua_encodings == nil then return end
  if type(meta.lua_encodings) ~= "table" then
    error(path .. ": the checkpoint's lua_encodings is not a list", 3)
  end
  local known = {}
  for _, e in ipairs(pb.list_encodings()) do known[e.name] = true end
  for _, e in ipairs(meta.lua_encodings) do
    if type(e) ~= "table" or type(e.name) ~= "string" then
      error(path .. ": the checkpoint's lua_encodings has an entry without a name", 3)
    end
    if not known[e.name] then
      error(string.format("%s: the model uses the Lua encoding '%s', which is not registered; " ..
        "run its registration (pb.register_encoding, from %s) before pb.load", path, e.name,
        tostring(e.source or "an unknown file")), 3)
    end
  end
end

--- pb.load(path [, {enc = {...}, allow_nonfinite = false}]) -> model with
--- the saved config and parameters. enc= overrides encoding options (e.g.
--- RoPE scaling for a scaled fine-tune) key by key, nested groups included,
--- as pb.eval's enc= does; the parameter layout must stay the same. Every
--- tensor must have the shape the config gives, and NaN or inf parameters
--- are refused unless allow_nonfinite = true. The file is read once.
function pb.load(path, opts)
  if type(path) ~= "string" then
    error("pb.load(path, opts): path must be a string, got a " .. type(path), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("pb.load(path, opts): opts must be a table such as {enc = {...}, " ..
      "allow_nonfinite = true}, got the %s %s", type(opts), tostring(opts)), 2)
  end
  for k in pairs(opts or {}) do
    if k ~= "enc" and k ~= "allow_nonfinite" then
      error("pb.load: unknown option '" .. tostring(k) .. "' (valid: enc, allow_nonfinite)", 2)
    end
  end
  local text, checkpoint = core._read_checkpoint(path)
  local ok, meta = pcall(pb.json.decode, text)
  if not ok then
    -- json.decode's message says what is wrong (invalid UTF-8, a bad token, ...)
    error(string.format("%s: the checkpoint's metadata is not valid JSON (%s)", path, tostring(meta)), 2)
  end
  if type(meta) ~= "table" or meta.format ~= "posbench-checkpoint" then
    error(path .. ": not a posbench checkpoint", 2)
  end
  local config = meta.config
  if type(config) ~= "table" then
    error(path .. ": checkpoint has no config object", 2)
  end
  check_lua_encodings(path, meta)
  -- enc= is merged into config.enc key by key, in C (as pb.eval merges it)
  local made, m = pcall(core._model_from_checkpoint, config, opts and opts.enc)
  if not made then error(path .. ": " .. tostring(m), 2) end
  core._load_params(m, checkpoint, path, opts and opts.allow_nonfinite)
  return m
end

--- pb.check_step(model, task, opts): writes one training step's inputs,
--- outputs and gradients (and `steps` AdamW updates) to opts.path for the
--- PyTorch reference (scripts/torch_reference.py).
function pb.check_step(model, task, opts)
  opts = opts or {}
  local info = model:info()
  local config = {
    vocab = info.vocab, d = info.d, heads = info.heads, layers = info.layers,
    ff = info.ff, norm = info.norm, causal = info.causal, tied = info.tied,
    encoding = info.encoding, enc = info.enc, max_len = info.max_len,
    layer_specs = info.hybrid and info.layer_specs or nil,
  }
  local case = {}
  for _, k in ipairs { "batch", "length", "seed", "steps", "lr", "wd", "warmup", "clip",
                       "min_lr_ratio", "b1", "b2", "eps" } do
    case[k] = opts[k]
  end
  return core._check_step(model, task, opts, pb.json.encode { config = config, case = case })
end

local function print_list(rows, names_only)
  for _, r in ipairs(rows) do
    if names_only then
      print(r.name)
    else
      print(r.text)
    end
  end
end

--- `posbench list WHAT [--names] [FILE.lua ...]`: FILE.lua arguments run
--- first, so encodings they register (pb.register_encoding) are listed too.
function pb.cli_list(what, ...)
  local names_only = false
  for _, a in ipairs { ... } do
    if a == "--names" then
      names_only = true
    elseif a:match "%.lua$" then
      dofile(a)
    else
      error("list: unknown argument '" .. a .. "' (expected --names or a FILE.lua)", 0)
    end
  end
  local rows = {}
  if what == "encodings" then
    for _, e in ipairs(pb.list_encodings()) do
      local source = e.lua and ("(Lua)" .. (e.reference ~= "" and " " .. e.reference or ""))
        or e.reference
      rows[#rows + 1] = { name = e.name, text = string.format(
        "%-14s %-12s %s\n%14s options: %s\n%14s source:  %s", e.name,
        table.concat(e.sites, "+") .. (e.pos_dims == 2 and " 2D" or ""), e.summary, "",
        e.options ~= "" and e.options or "(none)", "", source) }
    end
  elseif what == "tasks" then
    for _, t in ipairs(pb.list_tasks()) do
      rows[#rows + 1] = { name = t.name, text = string.format("%-18s %s\n%18s options: %s",
        t.name, t.summary, "", t.options) }
    end
  elseif what == "formats" then
    for _, f in ipairs(pb.formats()) do
      rows[#rows + 1] = { name = f.name, text = string.format("%-8s %s", f.name, f.description) }
    end
  elseif what == "sites" then
    for _, s in ipairs(pb.precision_sites()) do
      rows[#rows + 1] = { name = s, text = s }
    end
  elseif what == "schemes" then
    for _, s in ipairs { "linear", "shift", "random", "abacus", "grid" } do
      rows[#rows + 1] = { name = s, text = s }
    end
  else
    error("list what? (encodings, tasks, formats, schemes, sites)", 0)
  end
  print_list(rows, names_only)
end

return pb
