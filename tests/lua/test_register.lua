-- Encodings defined in Lua (pb.register_encoding): each form against the
-- built-in it reproduces (same training losses, bit for bit), the errors a
-- bad function or spec gives, and the listing.
-- Run: build/posbench run tests/lua/test_register.lua

local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with

-- float32 rounding of a double, as C's (float) cast does
local function f32(x) return (string.unpack("f", string.pack("f", x))) end

-- A few training steps of a small model; returns the loss of every step
-- followed by the trained attention weights (a sensitive fingerprint).
local task = pb.task("copy", { min_len = 3, max_len = 6, vocab = 6 })
local function losses(encoding, enc, heads)
  local m = pb.model { vocab = task:info().vocab, d = 32, heads = heads or 4, layers = 2,
                       encoding = encoding, enc = enc, max_len = 16, seed = 7 }
  local r = pb.train(m, task, { steps = 6, batch = 8, lr = 3e-3, seed = 3, progress = false })
  local out = r.losses
  for _, w in ipairs(m:param("qkv_w")) do out[#out + 1] = w end
  m:close()
  return out
end
local function same_losses(a, b, msg)
  local ok, first = #a == #b and #a > 0, nil
  for i = 1, #a do
    if a[i] ~= b[i] then ok, first = false, first or i end
  end
  check(ok, msg .. string.format(": first difference at %s (%s vs %s)", tostring(first),
    tostring(first and a[first]), tostring(first and b[first])))
end

-- theta form = RoPE -------------------------------------------------------
pb.register_encoding("lua_rope", {
  theta = function(k, d_head, opts) return opts.base ^ (-2 * k / d_head) end,
  options = { base = 10000 },
  summary = "RoPE written in Lua",
  reference = "Su et al. 2021",
})
local rope = losses("rope")
same_losses(losses("lua_rope"), rope, "theta form with RoPE's schedule = encoding 'rope'")
same_losses(losses("lua_rope", { base = 500 }), losses("rope", { base = 500 }),
  "an option reaches the function (base=500)")
local other = losses("lua_rope", { base = 20 })
check(other[#other] ~= rope[#rope], "a different schedule trains differently")

-- angle form = theta form --------------------------------------------------
pb.register_encoding("lua_rope_angle", {
  angle = function(pos, k, d_head) return pos * 10000 ^ (-2 * k / d_head) end,
})
same_losses(losses("lua_rope_angle"), rope, "angle form pos*theta_k = theta form = rope")
do
  local a = pb.encoding("lua_rope_angle", { d = 32, heads = 2 })
  local t = pb.encoding("lua_rope", { d = 32, heads = 2 })
  local v = {}
  for i = 1, 16 do v[i] = math.sin(i) end
  local ok = true
  for _, p in ipairs { 0, 1, 7, 100, 3000 } do
    local x, y = a:transform(v, p), t:transform(v, p)
    for i = 1, 16 do ok = ok and x[i] == y[i] end
  end
  check(ok, "angle and theta forms transform identically (positions up to 3000)")
end

-- table form = sinusoidal ---------------------------------------------------
pb.register_encoding("lua_sinusoidal", {
  table = function(pos, i, d, opts)
    local w = opts.base ^ (-2 * (i // 2) / d)
    if i % 2 == 0 then return math.sin(pos * w) end
    return math.cos(pos * w)
  end,
  options = { base = 10000 },
})
do
  local a = pb.encoding("lua_sinusoidal", { d = 32 })
  local b = pb.encoding("sinusoidal", { d = 32, scale = 1 }) -- the paper's amplitude
  local pos = { 0, 1, 2, 9, 63, 200 }
  local ta, tb = a:table(pos), b:table(pos)
  local ok = #ta == #pos
  for r = 1, #pos do
    for c = 1, 32 do ok = ok and ta[r][c] == tb[r][c] end
  end
  check(ok, "table form :table equals sinusoidal's")
end
same_losses(losses("lua_sinusoidal"), losses("sinusoidal", { scale = 1 }), "table form = sinusoidal")

-- bias form = ALiBi ----------------------------------------------------------
-- ALiBi's slopes are stored as floats: f32 makes the Lua product round the same.
local function alibi_slope(h, H)
  local n = 1
  while n * 2 <= H do n = n * 2 end
  if h <= n then return f32(2 ^ (-8 * h / n)) end
  return f32(2 ^ (-8 * (2 * (h - n) - 1) / (2 * n)))
end
pb.register_encoding("lua_alibi", {
  bias = function(head, i, j, opts) return -alibi_slope(head, opts.heads) * math.abs(i - j) end,
})
same_losses(losses("lua_alibi"), losses("alibi"), "bias form = alibi (4 heads)")
same_losses(losses("lua_alibi", nil, 8), losses("alibi", nil, 8), "bias form = alibi (8 heads)")
do
  local a = pb.encoding("lua_alibi", { heads = 6, d_head = 8, causal = false })
  local b = pb.encoding("alibi", { heads = 6, d_head = 8, causal = false })
  local ok = true
  for h = 1, 6 do
    for _, ij in ipairs { { 0, 0 }, { 5, 2 }, { 2, 5 }, { 40, 1 } } do
      ok = ok and a:bias(ij[1], ij[2], { head = h }) == b:bias(ij[1], ij[2], { head = h })
    end
  end
  check(ok, "bias form :bias equals alibi's with 6 heads (non power of two)")
end

-- Longer evaluation grows the tables (positions past training length).
do
  local m = pb.model { vocab = task:info().vocab, d = 32, heads = 4, layers = 1,
                       encoding = "lua_alibi", max_len = 16, seed = 1 }
  local r = pb.eval(m, task, { lengths = { 6, 30 }, samples = 8 })
  check(r[30] and r[30].loss == r[30].loss, "eval beyond the training length works (tables grow)")
end

-- checkpoints name the encoding: loading one needs the registration, nothing more
do
  local m = pb.model { vocab = 8, d = 16, heads = 2, encoding = "lua_rope", enc = { base = 700 } }
  local path = os.tmpname()
  m:save(path)
  local back = pb.load(path)
  os.remove(path)
  local a, b = m:param("qkv_w"), back:param("qkv_w")
  check(back:info().encoding == "lua_rope" and back:info().enc.base == 700 and a[5] == b[5],
    "a model with a Lua encoding saves and loads")
end

-- options and the opts argument ----------------------------------------------
local seen
pb.register_encoding("lua_opts_probe", {
  table = function(pos, i, d, opts) seen = opts; return 0 end,
  options = { "scale", mode = "linear", flag = false, width = 2 },
})
pb.encoding("lua_opts_probe", { d = 8, heads = 2, scale = 3, flag = true }):table { 0 }
check(seen and seen.scale == 3 and seen.mode == "linear" and seen.flag == true and seen.width == 2,
  "opts holds given values over defaults; booleans stay booleans")
check(seen and seen.d == 8 and seen.heads == 2 and seen.d_head == 4 and seen.causal == true
  and seen.max_len == 64, "opts holds the geometry")
errors_with({ "lua_opts_probe", "unknown option 'scal'", "scale" },
  pb.encoding, "lua_opts_probe", { scal = 1 })
errors_with({ "unknown option 'base'", "valid options: none" },
  pb.model, { encoding = "lua_rope_angle", enc = { base = 5 } })

-- errors from the functions ----------------------------------------------------
local function bad(name, spec_fn, form)
  pb.register_encoding(name, { [form or "theta"] = spec_fn })
end
bad("err_raise", function(k) if k == 3 then error("boom at three") end return 1 end)
errors_with({ "encoding 'err_raise'", "theta(k=3, d_head=8)", "boom at three" },
  pb.model, { encoding = "err_raise", d = 16, heads = 2 })
bad("err_string", function(k) return "fast" end)
errors_with({ "encoding 'err_string'", "theta(k=0, d_head=8)", "the string \"fast\"", "finite number" },
  pb.model, { encoding = "err_string", d = 16, heads = 2 })
bad("err_nil", function() end)
errors_with({ "encoding 'err_nil'", "returned a nil" }, pb.model, { encoding = "err_nil", d = 16, heads = 2 })
bad("err_nan", function(pos, k) if pos == 5 and k == 1 then return 0 / 0 end return pos end, "angle")
do
  local m = pb.model { vocab = task:info().vocab, d = 16, heads = 2, encoding = "err_nan", seed = 1 }
  errors_with({ "encoding 'err_nan'", "angle(pos=5, k=1, d_head=8)", "returned nan" },
    pb.train, m, task, { steps = 1, batch = 2, progress = false })
end
bad("err_inf", function(pos, i) if pos == 2 and i == 4 then return math.huge end return 0 end, "table")
errors_with({ "encoding 'err_inf'", "table(pos=2, i=4, d=16)", "returned inf" },
  function() pb.encoding("err_inf", { d = 16 }):table { 0, 1, 2 } end)
bad("err_bias", function(h, i, j) if h == 2 and i == 3 and j == 1 then return -math.huge end return 0 end, "bias")
errors_with({ "encoding 'err_bias'", "bias(head=2, i=3, j=1)", "returned -inf" },
  function() pb.encoding("err_bias", { heads = 2 }):bias(3, 1) end)
-- after an error the encoding and the interpreter still work
check(pcall(function() return pb.encoding("err_bias", { heads = 2 }):bias(1, 1, { head = 2 }) end),
  "an encoding still works after one of its calls failed")

-- errors of the spec ----------------------------------------------------------------
errors_with({ "'rope' already exists", "built-in" }, pb.register_encoding, "rope",
  { theta = function() return 1 end })
errors_with({ "'lua_rope' already exists", "registered from Lua" }, pb.register_encoding,
  "lua_rope", { theta = function() return 1 end })
errors_with({ "needs one function", "theta=", "bias=" }, pb.register_encoding, "x1", { summary = "s" })
errors_with({ "not both theta= and table=" }, pb.register_encoding, "x2",
  { theta = function() end, table = function() end })
errors_with({ "'bias' must be a function" }, pb.register_encoding, "x3", { bias = 1 })
errors_with({ "unknown option 'thetta'" }, pb.register_encoding, "x4", { thetta = function() end })
errors_with({ "bad name" }, pb.register_encoding, "has space", { theta = function() end })
errors_with({ "option name 'heads' is reserved" }, pb.register_encoding, "x5",
  { theta = function() end, options = { "heads" } })
errors_with({ "lua_rope", "d_head must be even" }, pb.encoding, "lua_rope", { d = 12, heads = 4 })
check(not pcall(pb.encoding, "x1"), "a failed registration leaves no encoding behind")
errors_with({ "unknown encoding 'x1'", "lua_rope", "rope" }, pb.encoding, "x1")

-- listing -----------------------------------------------------------------------------
local listed
for _, e in ipairs(pb.list_encodings()) do
  if e.name == "lua_rope" then listed = e end
end
check(listed and listed.lua == true and listed.summary == "RoPE written in Lua"
  and listed.options == "base=10000" and listed.sites[1] == "qk", "pb.list_encodings shows it")
do
  local lines = {}
  local real_print = print
  print = function(s) lines[#lines + 1] = s end
  local ok = pcall(pb.cli_list, "encodings")
  print = real_print
  local text = table.concat(lines, "\n")
  check(ok and text:find("lua_rope", 1, true) and text:find("(Lua) Su et al. 2021", 1, true)
    and text:find("rope ", 1, true), "`posbench list encodings` marks it (Lua)")
end

checks.close("test_register")
