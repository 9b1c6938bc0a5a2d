-- pb.check_encoding(name, opts): central-difference gradient checks of a
-- learnable Lua encoding (docs/encodings.md, "Learnable encodings in Lua"):
--   fn:   the tape's gradient of sum_c w_c f(args_c) (random weights w, every
--         distinct argument for `positions` positions) against central
--         differences of the function itself, in double precision;
--   loss: the model's gradient of the loss (C gathers the upstream gradient
--         per distinct argument, the tape takes it to the parameters) in a
--         one-layer model on a copy batch, against central differences of
--         that float32 loss along two directions (check_loss).
-- Errors are |analytic - numeric| / max(|analytic| + |numeric|, floor).
local core = require "posbench.core"
local learn = require "posbench.learn"

local M = {}

local valid = { d = true, heads = true, causal = true, max_len = true, seed = true, enc = true,
                positions = true, tol_fn = true, tol_loss = true, max_params = true }

-- A small deterministic generator in [-1, 1) (Park-Miller).
local function noise(seed)
  local s = seed % 2147483646 + 1
  return function()
    s = (s * 16807) % 2147483647
    return 2 * s / 2147483647 - 1
  end
end

local function check_opts(name, opts)
  if type(name) ~= "string" then
    error("pb.check_encoding(name, opts): name must be a string, got a " .. type(name), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("pb.check_encoding(name, opts): opts must be a table, got a " .. type(opts), 3)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not valid[k] then
      error("pb.check_encoding: unknown option '" .. tostring(k) .. "' (valid: causal, d, enc, " ..
        "heads, max_len, max_params, positions, seed, tol_fn, tol_loss)", 3)
    end
  end
  local rec = core._lua_encoding_record(name)
  if not rec then
    error(string.format("pb.check_encoding: '%s' is not an encoding registered from Lua " ..
      "(pb.register_encoding)", name), 3)
  end
  if not rec.params then
    error(string.format("pb.check_encoding: encoding '%s' has no params; there is no " ..
      "gradient to check", name), 3)
  end
  return rec, opts
end

-- The opts table the function receives (as the binding builds it).
local function function_opts(rec, o)
  local t = {}
  for k, v in pairs(rec.defaults) do t[k] = v end
  for k, v in pairs(o.enc or {}) do t[k] = v end
  t.d, t.heads, t.causal, t.max_len = o.d, o.heads, o.causal, o.max_len
  t.d_head = o.d // o.heads
  return t
end

-- Every distinct argument for P positions, flat (as callback_learn.c lists them).
local function distinct_args(rec, fo, P)
  local a = {}
  local function add(...) for _, v in ipairs { ... } do a[#a + 1] = v end end
  if rec.form == "theta" then
    for k = 0, fo.d_head // 2 - 1 do add(k, fo.d_head) end
  elseif rec.form == "angle" then
    for p = 0, P - 1 do for k = 0, fo.d_head // 2 - 1 do add(p, k, fo.d_head) end end
  elseif rec.form == "table" then
    for p = 0, P - 1 do for i = 0, fo.d - 1 do add(p, i, fo.d) end end
  else
    for h = 1, fo.heads do
      if rec.relative then
        for r = -(P - 1), P - 1 do add(h, r, 0) end
      else
        for i = 0, P - 1 do for j = 0, fo.causal and i or P - 1 do add(h, i, j) end end
      end
    end
  end
  return a, #a // (rec.form == "theta" and 2 or 3)
end

-- Indices of at most max parameters, evenly spread.
local function picks(n, max)
  local out = {}
  if n <= max then for k = 1, n do out[k] = k end return out end
  for k = 1, max do out[k] = 1 + (k - 1) * (n - 1) // (max - 1) end
  return out
end

local function rel_err(a, b, floor)
  return math.abs(a - b) / math.max(math.abs(a) + math.abs(b), floor)
end

local function check_function(rec, fo, params, P, rnd, max)
  local args, count = distinct_args(rec, fo, P)
  local w = {}
  for c = 1, count do w[c] = rnd() end
  local g = learn.grad(rec, fo, params, args, count, w)
  local function f(p)
    local v, s = learn.eval(rec, fo, p, args, count), 0
    for c = 1, count do s = s + w[c] * v[c] end
    return s
  end
  local worst, n = 0, 0
  for _, k in ipairs(picks(#params, max)) do
    local x, h = params[k], 1e-6 * math.max(1, math.abs(params[k]))
    params[k] = x + h
    local fp = f(params)
    params[k] = x - h
    local fm = f(params)
    params[k] = x
    worst, n = math.max(worst, rel_err(g[k], (fp - fm) / (2 * h), 1e-6)), n + 1
  end
  return { max_rel_err = worst, checked = n, calls = count }
end

-- Derivatives of the float32 loss along two directions, the gradient's own
-- and a random one (as tests/test_model_grad.c checks every layer):
-- Richardson-combined central differences at h = 3e-2 and h / 2 against the
-- analytic g . v; the error's scale is at least 0.2 |g| and 1e-3 (the loss's
-- float rounding makes ~1e-5 of noise).
local function check_loss(pb, name, o, params, rnd)
  local task = pb.task("copy", { min_len = 2, max_len = 4, vocab = 6 })
  local m <close> = pb.model { vocab = task:info().vocab, d = o.d, heads = o.heads, layers = 1,
                               encoding = name, enc = o.enc, max_len = o.max_len,
                               causal = o.causal, seed = o.seed }
  local bo = { batch = 4, length = 4, seed = o.seed }
  local function f32(x) return (string.unpack("f", string.pack("f", x))) end
  local p0 = {}
  for k, v in ipairs(params) do p0[k] = f32(v) end
  local _, g = core._enc_loss_grad(m, task, bo, p0)
  local gnorm = 0
  for _, v in ipairs(g) do gnorm = gnorm + v * v end
  gnorm = math.sqrt(gnorm)
  local worst = 0
  for along_grad = 1, 0, -1 do
    local dir, norm, gv = {}, 0, 0
    for k = 1, #g do dir[k] = along_grad == 1 and g[k] or rnd() norm = norm + dir[k] ^ 2 end
    norm = math.sqrt(norm)
    if norm > 0 then
      for k = 1, #g do dir[k] = dir[k] / norm gv = gv + dir[k] * g[k] end
      local num = 0
      for half = 0, 1 do
        local h, p = half == 1 and 1.5e-2 or 3e-2, {}
        for k = 1, #g do p[k] = f32(p0[k] + h * dir[k]) end
        local fp = core._enc_loss_grad(m, task, bo, p)
        for k = 1, #g do p[k] = f32(p0[k] - h * dir[k]) end
        local fm = core._enc_loss_grad(m, task, bo, p)
        num = num + (half == 1 and 4 or -1) / 3 * (fp - fm) / (2 * h)
      end
      local scale = math.max(math.abs(num) + math.abs(gv), 0.2 * gnorm, 1e-3)
      worst = math.max(worst, math.abs(num - gv) / scale)
    end
  end
  return { max_rel_err = worst, checked = 2 }
end

--- M.run(pb, name, opts) -> {fn = {max_rel_err, checked, calls}, loss =
--- {max_rel_err, checked}, tol_fn, tol_loss, pass}
function M.run(pb, name, opts)
  local rec
  rec, opts = check_opts(name, opts)
  local o = { d = opts.d or 32, heads = opts.heads or 4, max_len = opts.max_len or 16,
              seed = opts.seed or 1, enc = opts.enc or {} }
  o.causal = opts.causal == nil and true or opts.causal
  local popts = { d = o.d, heads = o.heads, causal = o.causal, max_len = o.max_len, seed = o.seed }
  for k, v in pairs(o.enc) do popts[k] = v end
  local probe = pb.encoding(name, popts)
  local params = probe:params()
  probe:close()
  -- move off the initial values (ties, equal heads) by a few percent
  local rnd = noise(o.seed)
  for k, v in ipairs(params) do params[k] = v * (1 + 0.05 * rnd()) + 0.01 * rnd() end
  local fo = function_opts(rec, o)
  local max = opts.max_params or 64
  local r = { tol_fn = opts.tol_fn or 1e-5, tol_loss = opts.tol_loss or 1e-2 }
  r.fn = check_function(rec, fo, params, opts.positions or 8, rnd, max)
  r.loss = check_loss(pb, name, o, params, rnd)
  r.pass = r.fn.max_rel_err <= r.tol_fn and r.loss.max_rel_err <= r.tol_loss
  return r
end

return M
