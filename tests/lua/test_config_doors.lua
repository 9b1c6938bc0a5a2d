-- Configuration enters through one door: a Lua table is flattened once
-- (pb_lua_to_opts) and the engine parses and merges it. Shown here:
--   * pb.load's enc= and pb.eval's enc= merge a nested override key by key,
--     the same way (a nested table does not replace the checkpoint's group);
--   * precision tables mean the same to pb.model and pb.encoding (one parser,
--     harness/numerics/precision_opts.c), with its error messages;
--   * pb.encoding and the name form of pb.metrics.* open the same object
--     (encodings/standalone.c) from the same settings, with one geometry rule.
-- Run: BUILD=build build/posbench run tests/lua/test_config_doors.lua

local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)

-- 1. Nested overrides: pb.load and pb.eval merge key by key ------------------
do
  local t = pb.task("copy", { vocab = 6, min_len = 4, max_len = 8 })
  local cfg = { vocab = 8, d = 16, heads = 2, layers = 1, encoding = "rope", max_len = 16,
                seed = 3, enc = { scaling = { type = "pi", factor = 2 } } }
  local m = pb.model(cfg)
  local path = tmp .. "/pi2.pbt"
  m:save(path)
  local function loss(model, o)
    o = o or {}
    o.lengths, o.samples, o.seed = { 8 }, 16, 5
    return pb.eval(model, t, o)[8].loss
  end
  -- the override changes one key of the group and keeps its other key (type)
  local override = { scaling = { factor = 4 } }
  local loaded = pb.load(path, { enc = override })
  local enc = loaded:info().enc
  check(enc["scaling.type"] == "pi" and enc["scaling.factor"] == 4,
    "pb.load: enc={scaling={factor=4}} keeps scaling.type=pi and sets factor 4, got " ..
    tostring(enc["scaling.type"]) .. ", " .. tostring(enc["scaling.factor"]))
  -- the same model built directly: what a key-wise merge must give
  local direct_cfg = {}
  for k, v in pairs(cfg) do direct_cfg[k] = v end
  direct_cfg.enc = { scaling = { type = "pi", factor = 4 } }
  local direct = pb.model(direct_cfg)
  local l_direct, l_loaded = loss(direct), loss(loaded)
  local l_eval, l_base = loss(m, { enc = override }), loss(m)
  check(l_loaded == l_direct, string.format("pb.load merged = built with factor 4: %.9g vs %.9g",
    l_loaded, l_direct))
  check(l_eval == l_direct, string.format("pb.eval merged = built with factor 4: %.9g vs %.9g",
    l_eval, l_direct))
  check(l_eval ~= l_base, "the override changes the evaluation (the test can fail)")
  check(loss(m) == l_base, "pb.eval's override applies to that call only")
  -- a loaded, overridden model saves its merged options and loads back the same
  local again_path = tmp .. "/pi4.pbt"
  loaded:save(again_path)
  local again = pb.load(again_path)
  check(again:info().enc["scaling.type"] == "pi" and again:info().enc["scaling.factor"] == 4
    and loss(again) == l_direct, "an overridden model round-trips through save and load")
  -- without an override the config is the one saved
  check(pb.load(path):info().enc["scaling.factor"] == 2, "pb.load without enc= keeps factor 2")
  -- errors of the merged options are the encoding's, prefixed with the path
  errors_with({ path .. ": ", "unknown scaling.type 'nope'" }, pb.load, path,
    { enc = { scaling = { type = "nope" } } })
  errors_with("pb.load enc must be a table", pb.load, path, { enc = 4 })
end

-- 2. Precision tables: one parser for pb.model and pb.encoding ----------------
do
  local v = {}
  for i = 1, 8 do v[i] = (i * 37 % 11) / 7 - 0.7 end
  local function rotated(prec)
    return pb.encoding("rope", { d_head = 8, heads = 1, precision = prec }):transform(v, 3000)
  end
  local function same(a, b)
    for i = 1, #a do if a[i] ~= b[i] then return false end end
    return true
  end
  local fp32, rne = rotated(nil), rotated({ angles = "bf16" })
  check(not same(fp32, rne), "bf16 angles change the transform")
  check(same(rne, rotated({ angles = { format = "bf16" } })),
    "a format name and {format=} are the same setting")
  check(same(rne, rotated({ angles = { format = "bf16", rounding = "rne", overflow = "inf",
    subnormals = true } })), "the default fields are the defaults")
  check(not same(rne, rotated({ angles = { format = "bf16", rounding = "rtz" } })),
    "rounding=rtz is read")
  check(same(fp32, rotated({ angles = "fp32" })), "fp32 is no rounding")
  local bad = {
    { { angles = { rounding = "rtz" } }, "precision.angles: needs format=" },
    { { angles = { format = "bf16", rounding = "up" } },
      "precision.angles: unknown rounding 'up' (valid: rne, rtz, stochastic)" },
    { { angles = { format = "bf16", overflow = "wrap" } },
      "precision.angles: unknown overflow 'wrap' (valid: inf, saturate, nan)" },
    { { angles = { format = "bf16", subnormals = "no" } },
      "precision.angles: 'subnormals' must be true or false" },
    { { angles = { format = "bf16", bits = 3 } },
      "precision.angles: unknown option 'bits' (valid options: format, rounding, overflow, "
      .. "subnormals)" },
    { { angles = 16 }, "precision.angles: expected a format name or table, got a number" },
    { { angles = "fp7" }, "precision.angles: unknown number format 'fp7'" },
    { { angle = "bf16" }, "precision: unknown precision site 'angle'" },
  }
  for _, b in ipairs(bad) do
    errors_with(b[2], pb.model, { d = 8, heads = 2, precision = b[1] })
    errors_with({ "pb.encoding: ", b[2] }, pb.encoding, "rope",
      { d = 8, heads = 2, precision = b[1] })
  end
  -- pb.format parses the same policies with the same words and refusals
  local policies = {
    { { rounding = "up" }, "unknown rounding 'up' (valid: rne, rtz, stochastic)" },
    { { overflow = "wrap" }, "unknown overflow 'wrap' (valid: inf, saturate, nan)" },
    { { subnormals = "no" }, "'subnormals' must be true or false" },
  }
  for _, b in ipairs(policies) do
    local site = { format = "bf16" }
    for k, v in pairs(b[1]) do site[k] = v end
    errors_with("pb.format: " .. b[2], pb.format, "bf16", b[1])
    errors_with("precision.logits: " .. b[2], pb.model, { d = 8, heads = 2, precision = { logits = site } })
  end
  local no_inf = "option 'overflow': e4m3 has no infinity"
  errors_with("pb.format: " .. no_inf, pb.format, "e4m3", { overflow = "inf" })
  errors_with("precision.logits: " .. no_inf, pb.model,
    { d = 8, heads = 2, precision = { logits = { format = "e4m3", overflow = "inf" } } })
  errors_with("precision.angles: " .. no_inf, pb.encoding, "rope",
    { d = 8, heads = 2, precision = { angles = { format = "e4m3", overflow = "inf" } } })
  local sat = pb.format("e4m3", { overflow = "nan", rounding = "rtz", subnormals = false }):info()
  check(sat.overflow == "nan" and sat.rounding == "rtz" and sat.subnormals == false,
    "pb.format's policies are read")

  -- the model's precision is the parsed one: bf16 angles change its logits
  local function logits(prec)
    local m = pb.model { vocab = 8, d = 8, heads = 1, layers = 1, encoding = "rope", max_len = 4096,
                         seed = 2, precision = prec }
    local toks, pos = { 1, 2, 3 }, { 0, 1, 3000 }
    return m:forward(toks, { positions = pos }).logits[3]
  end
  check(not same(logits(nil), logits({ angles = "bf16" })), "pb.model reads precision too")
end

-- 3. pb.encoding and pb.metrics open one object from one settings table --------
do
  local settings = { d = 12, heads = 3, seed = 7 }
  local e = pb.encoding("learned", settings)
  local info = e:info()
  check(info.d == 12 and info.heads == 3 and info.d_head == 4 and info.causal == true
    and info.max_len == 64, "geometry: d and heads give d_head = 4; causal and max_len 64")
  local positions = {}
  for p = 0, 9 do positions[#positions + 1] = p end
  local a, b = e:table(positions), pb.metrics.table("learned", settings, { length = 10 })
  local equal = #a == #b
  for p = 1, #a do for c = 1, 12 do equal = equal and a[p][c] == b[p][c] end end
  check(equal, "pb.encoding:table and pb.metrics.table agree (same object, same seed)")
  local other = pb.metrics.table("learned", { d = 12, heads = 3, seed = 8 }, { length = 10 })
  check(other[1][1] ~= b[1][1], "the seed reaches the standalone encoding")
  -- the geometry rule and its errors, the same through both doors
  local g = pb.encoding("rope", { d_head = 8, heads = 2 }):info()
  check(g.d == 16, "d from d_head and heads")
  g = pb.encoding("rope", { d = 32, d_head = 8 }):info()
  check(g.heads == 4, "heads from d and d_head")
  local bad = {
    { { d = 30 }, "d=30 is not divisible by heads=4" },
    { { d = 30, d_head = 8, heads = 4 }, "d=30, d_head=8 and heads=4 do not fit" },
    { { d = -4 }, "d, d_head and heads must be positive" },
    { { max_len = 0 }, "max_len=0 must be in [1, 1048576]" },
    { { causal = "yes" }, "'causal' must be true or false" },
    { { causal = 1 }, "'causal' must be true or false" },
    { { seed = -1 }, "'seed' must be an integer in [0, 4294967295], got -1" },
    { { precision = "bf16" }, "precision must be a table" },
  }
  for _, c in ipairs(bad) do
    errors_with({ "pb.encoding: ", c[2] }, pb.encoding, "rope", c[1])
    errors_with({ "pb.metrics.steps: ", c[2] }, pb.metrics.steps, "sinusoidal", c[1],
      { length = 4 })
  end
  -- an unknown key names both the encoding's options and the object's own
  errors_with({ "pb.metrics.table: encoding 'rope': unknown option 'bsae'", "valid options: base",
    "d_head" }, pb.metrics.table, "rope", { bsae = 1 })
  -- the object's keys never reach the encoding: its options are only its own
  local shown = pb.encoding("rope", { d = 16, heads = 2, base = 500, seed = 3,
                                      precision = { angles = "bf16" } }):info().enc
  local keys = {}
  for k in pairs(shown) do keys[#keys + 1] = k end
  check(#keys == 1 and shown.base == 500,
    "info().enc holds only base, got " .. table.concat(keys, ","))
end

os.execute("rm -rf " .. tmp)
checks.close("test_config_doors")
