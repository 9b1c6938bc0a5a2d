-- Golden outputs of the engine: seeded short runs per encoding (causal and
-- bidirectional), evaluations with per-call overrides, diagnostics, metrics
-- of encodings inside and outside a model, and Lua-defined encodings. Every
-- float is printed as a hex float (%a), so two trees that print the same
-- text computed the same bits. A refactor that claims to change nothing is
-- checked by diffing this script's output before and after it:
--   build/posbench run tests/golden/golden.lua > before.txt   (old tree)
--   build/posbench run tests/golden/golden.lua > after.txt    (new tree)
--   diff before.txt after.txt
-- Settings other work may change on purpose are left out: sinusoidal
-- defaults (amplitude, embedding scale), YaRN's default ramp, T5 at
-- non-default buckets/max_distance, abacus offsets, the probe's score.
pb.threads(1)

local function hex(x)
  if x ~= x then return "nan" end
  return string.format("%a", x)
end

local function out(...)
  local parts = {}
  for i, v in ipairs { ... } do
    parts[i] = type(v) == "number" and hex(v) or tostring(v)
  end
  io.write(table.concat(parts, " "), "\n")
end

-- order-independent but bit-sensitive fingerprint of an array of numbers
local function sum(xs)
  local s, sa = 0.0, 0.0
  for i = 1, #xs do
    local x = xs[i]
    if type(x) == "table" then
      local a, b = sum(x)
      s, sa = s + a * i, sa + b
    else
      s, sa = s + x * ((i % 7) + 1), sa + math.abs(x)
    end
  end
  return s, sa
end

local function keys_sorted(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
  return ks
end

-- every number in a nested table, in sorted key order
local function dump(prefix, t)
  if type(t) ~= "table" then
    out(prefix, t)
    return
  end
  for _, k in ipairs(keys_sorted(t)) do dump(prefix .. "." .. tostring(k), t[k]) end
end

local copy = pb.task("copy", { min_len = 2, max_len = 6, vocab = 6 })
local sort = pb.task("sort", { min_len = 2, max_len = 6, vocab = 6 })
local grid = pb.task("grid2d", { min_len = 2, max_len = 3, width = 3 })

-- One encoding, one protocol: train, evaluate, diagnose, forward.
local function case(encoding, enc, causal, task)
  task = task or copy
  local label = string.format("%s%s causal=%s", encoding, enc and pb.json.encode(enc) or "",
                              tostring(causal))
  out("== " .. label)
  local m = pb.model { vocab = 16, d = 32, heads = 4, layers = 2, encoding = encoding,
                       enc = enc, max_len = 24, causal = causal, seed = 11,
                       positions = task == grid and { scheme = "grid" } or nil }
  local r = pb.train(m, task, { steps = 6, batch = 6, lr = 3e-3, seed = 5, progress = false })
  for i, l in ipairs(r.losses) do out("loss", i, l, r.grad_norms[i]) end
  out("qkv_w", sum(m:param("qkv_w")))
  local lens = task == grid and { 2, 3 } or { 4, 6, 9 }
  local ev = pb.eval(m, task, { lengths = lens, samples = 8, seed = 3 })
  for _, n in ipairs(lens) do out("eval", n, ev[n].loss, ev[n].accuracy, ev[n].exact) end
  local d = pb.diagnose(m, task, { lengths = { lens[#lens] }, samples = 4, seed = 2 })
  dump("diag", d)
  if task ~= grid then
    local f = m:forward({ 1, 2, 3, 4, 5, 1, 2 })
    out("forward", sum(f.logits))
    out("forward_hidden", sum(f.hidden))
  end
  return m, task
end

local function metrics(m, task)
  out("-- metrics")
  local ok, v = pcall(pb.metrics.relative_deviation, m, task,
                      { d1 = 0, d2 = 3, length = 4, batch = 3, seed = 2 })
  if ok then dump("relative_deviation", v) else out("relative_deviation error") end
  ok, v = pcall(pb.metrics.relative_deviation, m, task,
                { d1 = 0, d2 = 3, length = 4, batch = 3, seed = 2, precision = { qk_post = "bf16" } })
  if ok then dump("relative_deviation_bf16", v) else out("relative_deviation_bf16 error") end
  ok, v = pcall(pb.metrics.position_share, m, task, { length = 4, batch = 3, seed = 2 })
  if ok then dump("position_share", v) else out("position_share error") end
  ok, v = pcall(pb.metrics.position_share, m, task,
                { length = 4, batch = 3, seed = 2, precision = { logits = "e4m3" } })
  if ok then dump("position_share_e4m3", v) else out("position_share_e4m3 error") end
  ok, v = pcall(pb.metrics.logit_terms, m, task, { length = 4, batch = 3, seed = 2 })
  if ok then dump("logit_terms", v) else out("logit_terms error") end
  for _, which in ipairs { "q", "k" } do
    ok, v = pcall(pb.metrics.frequency_usage, m, task,
                  { length = 4, batch = 3, seed = 2, which = which })
    if ok then dump("frequency_usage_" .. which, v) else out("frequency_usage error") end
  end
end

local function evals(m, task)
  out("-- eval overrides")
  local variants = {
    { precision = { qk_post = "bf16" } },
    { precision = { logits = { format = "e4m3", rounding = "stochastic" } } },
    { positions = { scheme = "shift", shift = 7 } },
  }
  if m:info().encoding == "rope" then
    variants[#variants + 1] = { scaling = { type = "pi", factor = 2, original_len = 6 } }
    variants[#variants + 1] = { scaling = { type = "ntk", factor = 2, original_len = 6 } }
    variants[#variants + 1] = { enc = { base = 500 } }
  end
  for i, v in ipairs(variants) do
    local ok, ev = pcall(pb.eval, m, task, { lengths = { 4, 6 }, samples = 6, seed = 4,
                                             precision = v.precision, positions = v.positions,
                                             scaling = v.scaling, enc = v.enc })
    if ok then out("override", i, ev[4].loss, ev[6].loss, ev[6].accuracy)
    else out("override", i, "error") end
  end
  local ev = pb.eval(m, task, { lengths = { 6 }, samples = 6, seed = 4 })
  out("after overrides", ev[6].loss)
end

for _, spec in ipairs {
  { "none" }, { "integer" }, { "integer_norm" }, { "binary" }, { "learned" },
  { "rope" }, { "rope", { pairing = "half", fraction = 0.5 } }, { "rope", { p = 0.5 } },
  { "xpos" }, { "alibi" }, { "t5" }, { "kerple_log" }, { "kerple_power" }, { "fire" },
} do
  for _, causal in ipairs { true, false } do
    local m, task = case(spec[1], spec[2], causal, spec[1] == "alibi" and sort or nil)
    if causal then metrics(m, task) end
    if causal and (spec[1] == "rope" or spec[1] == "t5" or spec[1] == "learned") then
      evals(m, task)
    end
    m:close()
  end
end
for _, enc in ipairs { "rope2d_axial", "rope2d_mixed" } do
  for _, causal in ipairs { true, false } do
    local m = case(enc, nil, causal, grid)
    m:close()
  end
end

-- Encodings outside a model: tables, transforms, biases, metrics by name.
out("== probes")
local v = {}
for i = 1, 8 do v[i] = math.sin(i * 1.3) end
for _, name in ipairs { "rope", "xpos", "alibi", "t5", "kerple_log", "fire", "integer",
                        "binary", "learned" } do
  local e = pb.encoding(name, { d = 16, heads = 2, max_len = 32, seed = 3 })
  local info = e:info()
  if info.sites.input or (info.sites and info.sites[1] == "input") then
    out(name, "table", sum(e:table { 0, 1, 5, 20 }))
  end
  local ok, x = pcall(e.transform, e, v, 13, { head = 2 })
  if ok then out(name, "transform", sum(x)) end
  ok, x = pcall(e.transform, e, v, 13, { head = 1, key = true })
  if ok then out(name, "transform_key", sum(x)) end
  ok, x = pcall(e.bias, e, 9, 2, { head = 2 })
  if ok then out(name, "bias", x) end
  out(name, "params", sum(e:params()))
end
for _, name in ipairs { "integer", "binary", "learned", "rope", "alibi" } do
  local function m(f, opts)
    local ok, r = pcall(pb.metrics[f], name, { d = 16, heads = 2, max_len = 32 }, opts)
    if ok then dump(name .. "." .. f, r) else out(name .. "." .. f, "error") end
  end
  m("min_distance", { length = 24 })
  m("distinct", { length = 24, format = "bf16" })
  m("steps", { length = 8 })
  m("linear_residual", { length = 24, k = 2 })
  m("dot_variance", { length = 16, k = 1 })
  m("shift_invariance", { length = 8, shift = 3, samples = 20, seed = 2 })
  m("snr", { length = 8 })
end
dump("noise_probe", pb.metrics.noise_probe("integer", { d = 16, heads = 2 },
                                           { snr_db = 0, positions = 8, vocab = 8, train = 400,
                                             test = 200, seed = 2 }))
dump("separability", pb.metrics.separability("rope2d_axial", { d = 16, heads = 2 },
                                             { grid = 6, max_d = 2, bases = 4, seed = 1 }))
dump("rope_distinct", pb.metrics.rope_distinct { format = "bf16", length = 300, d_head = 16 })
dump("rope_phase_error", pb.metrics.rope_phase_error { format = "bf16", length = 300, d_head = 16 })
dump("rope_drift", pb.metrics.rope_drift { format = "bf16", positions = { 0, 100, 1000 },
                                          d_head = 16, samples = 4, seed = 2 })
dump("decay_bound", pb.metrics.decay_bound { d = 16, distances = { 1, 10, 100 } })

-- Encodings defined in Lua.
out("== lua encodings")
pb.register_encoding("g_theta", { theta = function(k, dh) return 300 ^ (-2 * k / dh) end })
pb.register_encoding("g_angle", { angle = function(p, k, dh) return p * 50 ^ (-2 * k / dh) end })
pb.register_encoding("g_table", { table = function(p, i, d) return 0.01 * math.cos(p * (i + 1) / d) end })
pb.register_encoding("g_bias", { bias = function(h, i, j) return -0.1 * h * math.abs(i - j) end })
for _, name in ipairs { "g_theta", "g_angle", "g_table", "g_bias" } do
  for _, causal in ipairs { true, false } do
    local m = case(name, nil, causal)
    if causal then metrics(m, copy) end
    m:close()
  end
  local e = pb.encoding(name, { d = 16, heads = 2, max_len = 32 })
  local ok, x = pcall(e.transform, e, v, 13, { head = 2 })
  if ok then out(name, "transform", sum(x)) end
  ok, x = pcall(e.bias, e, 9, 2, { head = 2 })
  if ok then out(name, "bias", x) end
  ok, x = pcall(e.table, e, { 0, 3 })
  if ok then out(name, "table", sum(x)) end
end

-- Precision on the model: a model built with rounding sites, trained.
out("== precision model")
local m = pb.model { vocab = 16, d = 32, heads = 4, layers = 2, encoding = "rope", max_len = 24,
                     seed = 4, precision = { angles = "bf16", qk_post = "bf16",
                                             weights = "bf16" } }
local r = pb.train(m, copy, { steps = 5, batch = 6, lr = 3e-3, seed = 5, progress = false })
for i, l in ipairs(r.losses) do out("loss", i, l) end
local ev = pb.eval(m, copy, { lengths = { 6 }, samples = 6, seed = 4 })
out("eval", ev[6].loss)
local path = os.tmpname()
m:save(path)
local m2 = pb.load(path)
os.remove(path)
out("loaded eval", pb.eval(m2, copy, { lengths = { 6 }, samples = 6, seed = 4 })[6].loss)
m:close()
m2:close()

-- Per-layer models (docs/hybrids.md): windows, chunks, temperature, QK-norm,
-- soft-cap, several encodings; training, evaluation and diagnostics.
out("== hybrids")
for _, c in ipairs {
  { "rnope_swa", { { window = 3 }, { window = 3 }, { encoding = "none",
                 temperature = { rule = "log", scale = 0.5, floor_scale = 2 } } } },
  { "irope", { { chunk = 4, enc = { base = 500 }, qk_norm = "post" },
               { encoding = "none", temperature = { rule = "length", scale = 0.8, at = "eval" } } } },
  { "gemma", { { window = 2, qk_norm = "pre", qk_norm_weight = true, softcap = 5 },
               { encoding = "alibi", softcap = 5 }, { encoding = "t5" } } },
} do
  local name, layers = c[1], c[2]
  local m = pb.model { vocab = 16, d = 32, heads = 4, layers = layers, encoding = "rope",
                       max_len = 24, seed = 4 }
  local r = pb.train(m, copy, { steps = 5, batch = 6, lr = 3e-3, seed = 5, progress = false })
  for i, l in ipairs(r.losses) do out(name, "loss", i, l) end
  out(name, "eval", pb.eval(m, copy, { lengths = { 6, 12 }, samples = 6, seed = 4 })[12].loss)
  dump(name .. ".diag", pb.diagnose(m, copy, { lengths = { 6 }, samples = 4, seed = 1 })[6])
  m:close()
end
