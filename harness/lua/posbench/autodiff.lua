-- Reverse-mode automatic differentiation on a tape, for learnable Lua
-- encodings (docs/encodings.md, "Learnable encodings in Lua").
--
-- A value is a table {v = number, i = tape index} with this module's
-- metatable: + - * / ^ and unary minus record one tape entry each (at most
-- two parents and their local derivatives). Comparisons (< <= > >=) compare
-- the numbers and return booleans; == is true only for the same value object
-- (Lua compares a table with a number as different), so compare
-- autodiff.value(x) when it matters. % and // raise an error (not
-- differentiable). The math functions of M.math (exp, log, sqrt, abs, sin,
-- cos, tanh, log1p, min, max, floor, ceil) accept values and numbers alike;
-- floor and ceil return plain numbers (zero gradient); min and max pass the
-- gradient to the argument they pick, split in half on a tie.
--
-- One tape at a time: reset(), leaves, the computation, then reverse(seeds).
local M = {}

local rawmath = {}
for k, v in pairs(math) do rawmath[k] = v end
local m_exp, m_log, m_sqrt, m_sin, m_cos = rawmath.exp, rawmath.log, rawmath.sqrt,
  rawmath.sin, rawmath.cos
local m_floor, m_ceil, m_abs = rawmath.floor, rawmath.ceil, rawmath.abs
local setmetatable, getmetatable, type, select = setmetatable, getmetatable, type, select

local mt = { __name = "pb.autodiff value" }
-- the tape: parents and local derivatives of entry k (parent 0 = none)
local pa, da, pb, db = {}, {}, {}, {}
local n = 0

local function node(v, a, dva, b, dvb)
  n = n + 1
  pa[n], da[n], pb[n], db[n] = a, dva, b, dvb
  return setmetatable({ v = v, i = n }, mt)
end

-- The error points at the user's code calling the operator: level 4 from
-- operands() (bad <- operands <- metamethod), 3 from a metamethod itself.
local function bad(op, x, level)
  error(string.format("autodiff: cannot %s a %s", op, type(x)), level or 4)
end

--- M.reset(): start a new tape.
function M.reset() n = 0 end

--- M.leaf(x) -> a value with no parents (a parameter).
function M.leaf(x) return node(x, 0, 0, 0, 0) end

--- M.is_value(x) -> true for a tape value.
function M.is_value(x) return getmetatable(x) == mt end

--- M.value(x) -> the number inside a tape value (x itself for a number).
function M.value(x)
  if getmetatable(x) == mt then return x.v end
  return x
end

--- M.size() -> entries on the tape.
function M.size() return n end

-- Binary operators. A metamethod runs when one operand is a table with this
-- metatable (or its own); the other is a number or a value. The common case,
-- two values, is tested first.
local function operands(op, x, y)
  local tx, ty = type(x), type(y)
  if tx == "table" and ty == "table" then
    if getmetatable(x) ~= mt then bad(op, x) end
    bad(op, y)
  elseif tx == "number" then
    if ty ~= "table" or getmetatable(y) ~= mt then bad(op, y) end
    return 1
  end
  if ty ~= "number" then bad(op, y) end
  if getmetatable(x) ~= mt then bad(op, x) end
  return 2
end

mt.__add = function(x, y)
  local tx, ty = type(x), type(y)
  if tx == "table" and ty == "table" and getmetatable(x) == mt and getmetatable(y) == mt then return node(x.v + y.v, x.i, 1, y.i, 1) end
  local k = operands("add", x, y)
  if k == 1 then return node(x + y.v, y.i, 1, 0, 0) end
  return node(x.v + y, x.i, 1, 0, 0)
end
mt.__sub = function(x, y)
  local tx, ty = type(x), type(y)
  if tx == "table" and ty == "table" and getmetatable(x) == mt and getmetatable(y) == mt then return node(x.v - y.v, x.i, 1, y.i, -1) end
  local k = operands("subtract", x, y)
  if k == 1 then return node(x - y.v, y.i, -1, 0, 0) end
  return node(x.v - y, x.i, 1, 0, 0)
end
mt.__mul = function(x, y)
  local tx, ty = type(x), type(y)
  if tx == "table" and ty == "table" and getmetatable(x) == mt and getmetatable(y) == mt then
    return node(x.v * y.v, x.i, y.v, y.i, x.v)
  end
  local k = operands("multiply", x, y)
  if k == 1 then return node(x * y.v, y.i, x, 0, 0) end
  return node(x.v * y, x.i, y, 0, 0)
end
mt.__div = function(x, y)
  local tx, ty = type(x), type(y)
  if tx == "table" and ty == "table" and getmetatable(x) == mt and getmetatable(y) == mt then
    local q = x.v / y.v
    return node(q, x.i, 1 / y.v, y.i, -q / y.v)
  end
  local k = operands("divide", x, y)
  if k == 1 then
    local q = x / y.v
    return node(q, y.i, -q / y.v, 0, 0)
  end
  return node(x.v / y, x.i, 1 / y, 0, 0)
end
mt.__unm = function(x) return node(-x.v, x.i, -1, 0, 0) end
mt.__pow = function(x, y)
  if type(y) == "number" then
    if getmetatable(x) ~= mt then bad("raise", x, 3) end
    local d = y == 0 and 0 or y * x.v ^ (y - 1)
    return node(x.v ^ y, x.i, d, 0, 0)
  elseif type(x) == "number" then
    if getmetatable(y) ~= mt then bad("raise", y, 3) end
    local v = x ^ y.v
    return node(v, y.i, x > 0 and v * m_log(x) or 0, 0, 0)
  end
  if getmetatable(x) ~= mt then bad("raise", x, 3) end
  if getmetatable(y) ~= mt then bad("raise", y, 3) end
  local v = x.v ^ y.v
  local dx = y.v == 0 and 0 or y.v * x.v ^ (y.v - 1)
  return node(v, x.i, dx, y.i, x.v > 0 and v * m_log(x.v) or 0)
end
mt.__lt = function(x, y) return M.value(x) < M.value(y) end
mt.__le = function(x, y) return M.value(x) <= M.value(y) end
mt.__eq = function(x, y) return rawequal(x, y) end
mt.__mod = function() error("autodiff: % of a learnable value is not differentiable; " ..
  "use pb.autodiff.value(x) % m for a plain number", 2) end
mt.__idiv = function() error("autodiff: // of a learnable value is not differentiable; " ..
  "use pb.autodiff.value(x) // m for a plain number", 2) end
mt.__concat = function(x, y) return tostring(x) .. tostring(y) end
mt.__tostring = function(x) return "autodiff(" .. tostring(x.v) .. ")" end

-- unary functions: f(x) and f'(x) from the value
local function unary(name, f, df)
  return function(x)
    if type(x) == "number" then return f(x) end
    if getmetatable(x) ~= mt then
      error(string.format("bad argument #1 to '%s' (number expected, got %s)", name, type(x)), 2)
    end
    local v = f(x.v)
    return node(v, x.i, df(x.v, v), 0, 0)
  end
end

local function tanh(x)
  if x > 20 then return 1 elseif x < -20 then return -1 end
  local e2 = m_exp(2 * x)
  return (e2 - 1) / (e2 + 1)
end
local function log1p(x)
  local u = 1 + x
  if u == 1 then return x end
  return m_log(u) * x / (u - 1)
end

local admath = setmetatable({}, { __index = rawmath })
admath.exp = unary("exp", m_exp, function(_, v) return v end)
admath.sqrt = unary("sqrt", m_sqrt, function(_, v) return 0.5 / v end)
admath.sin = unary("sin", m_sin, function(x) return m_cos(x) end)
admath.cos = unary("cos", m_cos, function(x) return -m_sin(x) end)
admath.tanh = unary("tanh", tanh, function(_, v) return 1 - v * v end)
admath.log1p = unary("log1p", log1p, function(x) return 1 / (1 + x) end)
admath.abs = unary("abs", m_abs, function(x) return x > 0 and 1 or x < 0 and -1 or 0 end)
local ad_ln = unary("log", m_log, function(x) return 1 / x end)
admath.log = function(x, base)
  if base == nil then return ad_ln(x) end
  return ad_ln(x) / ad_ln(base)
end
admath.floor = function(x) return m_floor(M.value(x)) end
admath.ceil = function(x) return m_ceil(M.value(x)) end
-- min / max of two: the chosen argument itself, so the gradient flows to it
-- alone; on a tie between a value and another argument, half to each (as
-- torch.maximum does). More arguments fold from the left.
local function tie(x, y)
  local xi = getmetatable(x) == mt and x.i or 0
  local yi = getmetatable(y) == mt and y.i or 0
  if xi == 0 and yi == 0 then return x end
  return node(M.value(x), xi, 0.5, yi, 0.5)
end
local function max2(x, y)
  local xv, yv = M.value(x), M.value(y)
  if xv > yv then return x elseif yv > xv then return y end
  return tie(x, y)
end
local function min2(x, y)
  local xv, yv = M.value(x), M.value(y)
  if xv < yv then return x elseif yv < xv then return y end
  return tie(x, y)
end
admath.max = function(x, ...)
  local best = x
  for k = 1, select("#", ...) do best = max2(best, (select(k, ...))) end
  return best
end
admath.min = function(x, ...)
  local best = x
  for k = 1, select("#", ...) do best = min2(best, (select(k, ...))) end
  return best
end
M.math = admath

-- the names with_math puts into the global math table
local swapped = { "exp", "log", "sqrt", "sin", "cos", "tanh", "log1p", "abs", "min", "max",
                  "floor", "ceil" }

--- M.with_math(f, ...) -> f(...) with the global math table's functions
--- replaced by M.math's for the duration of the call (restored on error too).
function M.with_math(f, ...)
  local g = math
  for _, k in ipairs(swapped) do g[k] = admath[k] end
  local res = table.pack(pcall(f, ...))
  for _, k in ipairs(swapped) do g[k] = rawmath[k] end
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

--- M.reverse(seeds) -> adjoints: seeds[k] = d out / d (tape entry k) of the
--- outputs; returns the array of d out / d (entry k) for every entry.
function M.reverse(seeds)
  local adj = seeds
  for k = 1, n do if adj[k] == nil then adj[k] = 0 end end
  for k = n, 1, -1 do
    local g = adj[k]
    if g ~= 0 then
      local a = pa[k]
      if a > 0 then adj[a] = adj[a] + g * da[k] end
      local b = pb[k]
      if b > 0 then adj[b] = adj[b] + g * db[k] end
    end
  end
  return adj
end

return M
