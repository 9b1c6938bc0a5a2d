-- Per-layer models (docs/hybrids.md): a uniform model written as a list or
-- a short form gives the same bits as `layers = N`; short forms expand to
-- the list that info() and config() show; checkpoints keep the list;
-- pb.eval and enc= overrides work on hybrids; bad specs fail by name.
pb.threads(1)
local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with

local task = pb.task("copy", { min_len = 2, max_len = 6, vocab = 6 })
local V = task:info().vocab

local function model(extra)
  local cfg = { vocab = V, d = 16, heads = 2, layers = 3, encoding = "rope", max_len = 32, seed = 3 }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return pb.model(cfg)
end

local function run(m)
  local log = pb.train(m, task, { steps = 12, batch = 4, lr = 1e-2, seed = 5, progress = false })
  local ev = pb.eval(m, task, { lengths = { 6, 12 }, samples = 16, seed = 2 })
  return { log.final_loss, ev[6].loss, ev[12].loss, ev[12].accuracy }, m:param("qkv_w")
end

local function same_bits(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if string.format("%a", a[i]) ~= string.format("%a", b[i]) then return false end end
  return true
end

-- the uniform model three ways: the same bits
local base, base_w = run(model())
for name, extra in pairs {
  list = { layers = { {}, {}, { encoding = "rope" } } },
  pattern = { pattern = "2:1", local_layer = {}, global_layer = {} },
  every = { every = 2, local_layer = {}, global_layer = {} },
} do
  local m = model(extra)
  check(not m:info().hybrid and m:info().encoding_groups == 1, name .. ": a uniform model")
  local got, w = run(m)
  check(same_bits(got, base) and same_bits(w, base_w),
        name .. ": same losses and weights as layers = 3 (" .. table.concat(got, " ") .. " vs " ..
        table.concat(base, " ") .. ")")
end
-- and a hybrid differs from it
local hyb = model { pattern = "2:1", local_layer = { window = 2 }, global_layer = { encoding = "none" } }
check(not same_bits((run(hyb)), base), "a windowed hybrid trains differently")

-- short forms expand once, to the list info() and config() show
local m8 = model { layers = 8, pattern = "3:1", local_layer = { window = 4, enc = { base = 100 } },
                   global_layer = { encoding = "none", temperature = { rule = "log", floor_scale = 8, at = "eval" } } }
local specs = m8:info().layer_specs
local cfg = m8:config()
check(#specs == 8 and type(cfg.layers) == "table" and #cfg.layers == 8, "8 records")
check(cfg.pattern == nil and cfg.local_layer == nil, "the config holds the list, not the short form")
for i = 1, 8 do
  local global = i % 4 == 0
  local s = specs[i]
  check(s.encoding == (global and "none" or "rope") and s.window == (not global and 4 or nil),
        "layer " .. i .. " is " .. (global and "global NoPE" or "windowed RoPE"))
  check(global == (s.temperature ~= nil and s.temperature.at == "eval"), "layer " .. i .. " temperature")
  check(global or s.enc.base == 100, "layer " .. i .. " keeps its options")
end
local every = model { layers = 8, every = 4, local_layer = { window = 4, enc = { base = 100 } },
                      global_layer = { encoding = "none", temperature = { rule = "log", floor_scale = 8, at = "eval" } } }
check(pb.json.encode(every:info().layer_specs) == pb.json.encode(specs), "every = 4 is pattern 3:1")
check(m8:info().encoding_groups == 2, "two encodings, two groups")

-- checkpoints keep the list; the loaded model evaluates to the same bits
local path = os.tmpname()
local h = model { layers = { { window = 2, qk_norm = "pre", qk_norm_weight = true },
                             { chunk = 3, qk_norm = "post", softcap = 5 },
                             { encoding = "alibi", temperature = { rule = "length", scale = 0.7 } } } }
local before = run(h)
h:save(path)
local back = pb.load(path)
check(pb.json.encode(back:info().layer_specs) == pb.json.encode(h:info().layer_specs),
      "the spec round-trips through save/load")
local e1 = pb.eval(h, task, { lengths = { 12 }, samples = 16, seed = 9 })
local e2 = pb.eval(back, task, { lengths = { 12 }, samples = 16, seed = 9 })
check(e1[12].loss == e2[12].loss, "the loaded hybrid evaluates to the same loss")
check(#before == 4, "the hybrid trains")
-- pb.load's enc= goes to the layers whose encoding takes the keys
local hs = model { layers = { { window = 2 }, { encoding = "none" } } }
hs:save(path)
local scaled = pb.load(path, { enc = { scaling = { type = "pi", factor = 2 } } })
local ls = scaled:info().layer_specs
check(ls[1].enc["scaling.type"] == "pi" and ls[1].enc["scaling.factor"] == 2 and (ls[2].enc == nil or next(ls[2].enc) == nil),
      "pb.load enc= reaches the RoPE layer only")
errors_with("no layer's encoding takes", pb.load, path, { enc = { bogus = 1 } })
os.remove(path)

-- pb.eval's enc= goes to the layers whose encoding takes the keys
local r = pb.eval(m8, task, { lengths = { 12 }, samples = 8, enc = { scaling = { type = "pi", factor = 2 } } })
check(r[12].loss == r[12].loss, "enc= scaling on the RoPE layers of a hybrid")
errors_with("no layer's encoding takes", pb.eval, m8, task, { lengths = { 6 }, samples = 4, enc = { bogus = 1 } })

-- a Lua-registered encoding in a layer
pb.register_encoding("rope_base77_hyb", { theta = function(k, dh) return 77 ^ (-2 * k / dh) end })
local lua_enc = model { layers = { { encoding = "rope_base77_hyb", window = 3 }, { encoding = "none" } } }
check(lua_enc:info().layer_specs[1].encoding == "rope_base77_hyb", "registered encodings per layer")
local trained = run(lua_enc)[1]
check(trained == trained and trained < math.huge, "it trains: final loss " .. trained)

-- diagnostics and metrics read each layer's own span and encoding
local dm = model { layers = { { window = 2 }, { chunk = 3 }, { encoding = "none" } } }
local dg = pb.diagnose(dm, task, { lengths = { 6 }, samples = 8, seed = 1 })[6]
for h = 1, 2 do
  check(dg.distance[1][h] <= 1 + 1e-9, "window 2: attended distance <= 1, got " .. dg.distance[1][h])
  check(dg.distance[2][h] <= 2 + 1e-9, "chunk 3: attended distance <= 2, got " .. dg.distance[2][h])
  check(dg.entropy_norm[1][h] > 0 and dg.entropy_norm[1][h] <= 1 + 1e-9,
        "window 2: normalised entropy in (0, 1], got " .. dg.entropy_norm[1][h])
end
check(dg.distance[3][1] > dg.distance[1][1], "the global layer attends further than the window")
local share = pb.metrics.position_share(dm, task, { length = 6, batch = 4, seed = 1 })
check(#share == 3 and share[1][1] == share[1][1], "position share per layer of a hybrid")
local rd = pb.metrics.relative_deviation(dm, task, { d1 = 0, d2 = 5, length = 6, batch = 4, seed = 1 })
-- spans follow token indices, RoPE relative positions: every layer shift-invariant
check(#rd.per_layer == 3 and rd.per_layer[1] < 1e-4 and rd.per_layer[2] < 1e-4 and rd.per_layer[3] < 1e-4,
      "windowed and chunked RoPE layers are shift-invariant: " .. table.concat(rd.per_layer, ", "))

-- the unseen-bucket diagnostics find T5 in layer 2
local t5h = model { layers = { { window = 2 }, { encoding = "t5", enc = { buckets = 8, max_distance = 8 } } } }
local d5 = pb.diagnose(t5h, task, { lengths = { 6 }, samples = 4, seed = 1 })[6]
check(d5.t5 ~= nil and d5.t5.buckets == 8 and d5.t5.buckets_eval > 0, "bucket diagnostics of a T5 layer 2")

-- encoding metrics of a model take the layer
local bases = model { layers = { { enc = { base = 10 } }, { enc = { base = 10000 } } } }
local t1 = pb.metrics.table(bases, { length = 4, layer = 1 })
local t2 = pb.metrics.table(bases, { length = 4, layer = 2 })
check(#t1 == 4 and t1[3][3] ~= t2[3][3], "layer= picks the layer's encoding (RoPE base 10 vs 10000)")
errors_with("outside 1..2", pb.metrics.table, bases, { length = 4, layer = 3 })
local s1 = pb.metrics.shift_invariance(bases, { length = 16, shift = 3, samples = 4, layer = 1 })
check(s1.max_abs < 1e-3, "layer 1's RoPE is shift-invariant")
local m_abs = model { layers = { { encoding = "alibi" }, { encoding = "none" } } }
errors_with("layer", pb.metrics.table, m_abs, { length = 4, layer = 0 })

-- a temperature at = "eval": training ignores it (same bits), pb.eval and
-- the diagnostics see it, in its own layer only
local function mk_temp(t)
  return model { encoding = "none", layers = { { window = 3, encoding = "rope" }, { temperature = t } } }
end
local plain, evalonly = mk_temp(nil), mk_temp { rule = "const", scale = 4, at = "eval" }
local lp = pb.train(plain, task, { steps = 8, batch = 4, lr = 1e-2, seed = 5, progress = false })
local le = pb.train(evalonly, task, { steps = 8, batch = 4, lr = 1e-2, seed = 5, progress = false })
check(string.format("%a", lp.final_loss) == string.format("%a", le.final_loss),
      "at = eval: training ignores the temperature")
check(pb.eval(plain, task, { lengths = { 6 }, samples = 16, seed = 2 })[6].loss ~=
      pb.eval(evalonly, task, { lengths = { 6 }, samples = 16, seed = 2 })[6].loss,
      "at = eval: evaluation applies it")
local dp = pb.diagnose(plain, task, { lengths = { 6 }, samples = 8, seed = 1 })[6]
local de = pb.diagnose(evalonly, task, { lengths = { 6 }, samples = 8, seed = 1 })[6]
check(dp.entropy[2][1] ~= de.entropy[2][1] and dp.entropy[1][1] == de.entropy[1][1],
      "at = eval: diagnostics see it, in its layer only")

-- bad specs fail naming the problem
errors_with({ "layers[2]", "unknown key 'windw'" }, model, { layers = { {}, { windw = 3 } } })
errors_with("not both", model, { layers = { { window = 2, chunk = 2 } } })
errors_with("positive", model, { layers = { { window = 0 } } })
errors_with("causal", model, { causal = false, layers = { { window = 2 } } })
errors_with("adds to the embedding", model, { layers = { { encoding = "sinusoidal" }, { encoding = "none" } } })
errors_with("learnable bias", model, { layers = { { encoding = "t5", window = 2 } } })
errors_with("unknown encoding", model, { layers = { { encoding = "nope_typo" } } })
errors_with("\"local:global\"", model, { pattern = "3-1" })
errors_with("one of pattern and every", model, { pattern = "3:1", every = 4 })
errors_with("need pattern or every", model, { local_layer = { window = 2 } })
errors_with("set each layer", model, { layers = { {} }, every = 2 })
errors_with("temperature rule", model, { layers = { { temperature = { rule = "cubic" } } } })
errors_with("floor_scale", model, { layers = { { temperature = { rule = "log" } } } })
errors_with("qk_norm must be", model, { layers = { { qk_norm = "middle" } } })
errors_with("softcap", model, { layers = { { softcap = -1 } } })

checks.close("test_hybrid")
