-- The Lua half of learnable Lua encodings (docs/encodings.md, "Learnable
-- encodings in Lua"): parameter layout and initial values, and evaluating the
-- encoding's function at a list of distinct arguments, with plain numbers
-- (values) or on the autodiff tape (gradients). The binding
-- (harness/bind/lua_encoding.c) only converts: it calls layout, init, eval
-- and grad with the registration record `rec` = {fn =, params =, form =,
-- name =} and the opts table the function receives.
local ad = require "posbench.autodiff"

local M = {}

local form_args = { theta = { "k", "d_head" }, angle = { "pos", "k", "d_head" },
                    table = { "pos", "i", "d" }, bias = { "head", "i", "j" } }
local geometry = { heads = true, d_head = true, d = true, max_len = true }

local function fail(rec, fmt, ...)
  error(string.format("encoding '%s': " .. fmt, rec.name, ...), 0)
end

-- One dimension of a shape: a positive integer, a geometry name, "pairs"
-- (d_head / 2) or a declared option holding a positive integer.
local function dim(rec, pname, entry, opts)
  local v = entry
  if type(entry) == "string" then
    if entry == "pairs" then v = opts.d_head // 2
    elseif geometry[entry] or opts[entry] ~= nil then v = opts[entry]
    else
      fail(rec, "parameter '%s': unknown shape entry '%s' (valid: a positive integer, heads, " ..
        "d_head, pairs, d, max_len or a declared option holding one)", pname, entry)
    end
  end
  if type(v) ~= "number" or v ~= math.floor(v) or v < 1 or v > 2 ^ 31 then
    fail(rec, "parameter '%s': shape entry %s is %s; it must be a positive integer", pname,
      tostring(entry), tostring(v))
  end
  return math.tointeger(v)
end

--- M.layout(rec, opts) -> list of {name, dims, size, offset, init}, total:
--- the parameters in declared order (an array of {name =, shape =, init =})
--- or sorted by name (a table keyed by name), each row-major.
function M.layout(rec, opts)
  local entries = {}
  if rec.params[1] ~= nil then
    for k in pairs(rec.params) do
      if math.type(k) ~= "integer" then
        fail(rec, "params is a list of {name =, shape =, init =}; it cannot also have the key '%s'",
          tostring(k))
      end
    end
    for k, e in ipairs(rec.params) do
      if type(e) ~= "table" or type(e.name) ~= "string" then
        fail(rec, "params[%d] must be a table {name = \"...\", shape = {...}, init = ...}", k)
      end
      entries[#entries + 1] = { name = e.name, spec = e }
    end
  else
    for name, e in pairs(rec.params) do
      if type(name) ~= "string" or type(e) ~= "table" then
        fail(rec, "params must map names to {shape = {...}, init = ...}")
      end
      entries[#entries + 1] = { name = name, spec = e }
    end
    table.sort(entries, function(a, b) return a.name < b.name end)
  end
  local out, total, seen = {}, 0, {}
  for _, e in ipairs(entries) do
    local s = e.spec
    for k in pairs(s) do
      if k ~= "shape" and k ~= "init" and k ~= "name" then
        fail(rec, "parameter '%s': unknown field '%s' (valid: shape, init)", e.name, tostring(k))
      end
    end
    if seen[e.name] then fail(rec, "parameter '%s' is declared twice", e.name) end
    seen[e.name] = true
    if type(s.shape) ~= "table" or #s.shape < 1 then
      fail(rec, "parameter '%s': shape must be a non-empty list such as {\"heads\"}", e.name)
    end
    local dims, size = {}, 1
    for k, d in ipairs(s.shape) do
      dims[k] = dim(rec, e.name, d, opts)
      size = size * dims[k]
    end
    local it = type(s.init)
    if s.init ~= nil and it ~= "number" and it ~= "table" and it ~= "function" then
      fail(rec, "parameter '%s': init must be a number, a table or a function(index, rng, " ..
        "opts), not a %s", e.name, it)
    end
    out[#out + 1] = { name = e.name, dims = dims, size = size, offset = total, init = s.init or 0 }
    total = total + size
  end
  if total == 0 then fail(rec, "params declares no parameter (leave params out for a fixed encoding)") end
  return out, total
end

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- A table init as a flat row-major list: flat, or nested as the shape.
local function flatten(t, out)
  for _, v in ipairs(t) do
    if type(v) == "table" then flatten(v, out) else out[#out + 1] = v end
  end
  return out
end

--- M.init(rec, opts, rng) -> flat array of the initial values; function
--- inits are called in layout order, index by index, and may draw from rng
--- (rng:uniform() in [0, 1), rng:normal(sd)).
function M.init(rec, opts, rng)
  local layout, total = M.layout(rec, opts)
  local out = {}
  for _, l in ipairs(layout) do
    local init = l.init
    if type(init) == "number" then
      if not finite(init) then fail(rec, "parameter '%s': init %s is not finite", l.name, tostring(init)) end
      for k = 1, l.size do out[l.offset + k] = init end
    elseif type(init) == "table" then
      local flat = flatten(init, {})
      if #flat ~= l.size then
        fail(rec, "parameter '%s': init has %d values, its shape {%s} needs %d", l.name, #flat,
          table.concat(l.dims, ", "), l.size)
      end
      for k = 1, l.size do
        if not finite(flat[k]) then
          fail(rec, "parameter '%s': init[%d] is %s, not a finite number", l.name, k, tostring(flat[k]))
        end
        out[l.offset + k] = flat[k]
      end
    else
      for k = 1, l.size do
        local ok, v = pcall(init, k, rng, opts)
        if not ok then fail(rec, "parameter '%s': init(%d) raised an error: %s", l.name, k, tostring(v)) end
        if not finite(v) then
          fail(rec, "parameter '%s': init(%d) returned %s; it must return a finite number", l.name,
            k, type(v) == "number" and tostring(v) or "a " .. type(v))
        end
        out[l.offset + k] = v
      end
    end
  end
  return out, total
end

-- p.name as nested tables of the shape, filled by leaf(flat index).
local function build_p(layout, leaf)
  local p = {}
  for _, l in ipairs(layout) do
    local function fill(level, base)
      local t, stride = {}, 1
      for k = level + 1, #l.dims do stride = stride * l.dims[k] end
      for k = 1, l.dims[level] do
        local off = base + (k - 1) * stride
        t[k] = level == #l.dims and leaf(l.offset + off + 1) or fill(level + 1, off)
      end
      return t
    end
    p[l.name] = fill(1, 0)
  end
  return p
end

local function describe_call(rec, args, c, nargs)
  local names, parts = form_args[rec.form], {}
  for a = 1, nargs do
    parts[a] = names[a] .. "=" .. tostring(args[(c - 1) * nargs + a])
  end
  return rec.form .. "(" .. table.concat(parts, ", ") .. ")"
end

local function describe_value(v)
  if type(v) == "number" then return v ~= v and "nan" or tostring(v) end
  if type(v) == "string" then return string.format("the string %q", v:sub(1, 60)) end
  if type(v) == "boolean" then return tostring(v) end
  return "a " .. type(v)
end

-- fn at every argument tuple; returns the results (values or numbers).
local function run_all(rec, opts, p, args, count)
  local fn, nargs = rec.fn, #form_args[rec.form]
  local out = {}
  for c = 1, count do
    local o = (c - 1) * nargs
    local ok, v
    if nargs == 3 then ok, v = pcall(fn, args[o + 1], args[o + 2], args[o + 3], p, opts)
    else ok, v = pcall(fn, args[o + 1], args[o + 2], p, opts) end
    if not ok then
      fail(rec, "%s raised an error: %s", describe_call(rec, args, c, nargs), tostring(v))
    end
    if not finite(ad.value(v)) then
      fail(rec, "%s returned %s; it must return a finite number", describe_call(rec, args, c, nargs),
        describe_value(ad.value(v)))
    end
    out[c] = v
  end
  return out
end

--- M.eval(rec, opts, params, args, count) -> values: the function at
--- `count` argument tuples (args flat, tuple after tuple) with plain numbers.
function M.eval(rec, opts, params, args, count)
  local layout = M.layout(rec, opts)
  local p = build_p(layout, function(k) return params[k] end)
  return ad.with_math(run_all, rec, opts, p, args, count)
end

--- M.grad(rec, opts, params, args, count, seeds) -> d(sum_c seeds[c] *
--- f(args_c)) / d params, a flat array, by one reverse sweep of the tape.
function M.grad(rec, opts, params, args, count, seeds)
  local layout, total = M.layout(rec, opts)
  ad.reset()
  local leaves = {}
  for k = 1, total do leaves[k] = ad.leaf(params[k]) end  -- tape entries 1..total
  local p = build_p(layout, function(k) return leaves[k] end)
  local out = ad.with_math(run_all, rec, opts, p, args, count)
  local adj = {}
  for c = 1, count do
    local v = out[c]
    if ad.is_value(v) then adj[v.i] = (adj[v.i] or 0) + seeds[c] end
  end
  adj = ad.reverse(adj)
  local g = {}
  for k = 1, total do g[k] = adj[k] end
  return g
end

return M
