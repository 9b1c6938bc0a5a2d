-- The encoding probe against the model: for every built-in encoding (and
-- variants: dynamic NTK, YaRN, partial rotation), a one-layer model's output
-- logits equal a forward pass rebuilt in Lua whose attention logits come from
-- probe:score(q, k, i, j, {length = T}) for every pair i, j of the sequence.
-- The model's q/k weights are scaled up (through a checkpoint) so that its
-- attention is sharp and a wrong score shows in the output.
-- Run: build/posbench run tests/lua/test_probe_model.lua

local checks = dofile("tests/lua/checks.lua")
local check = checks.check

local V, D, H, F, T = 8, 16, 2, 32, 10
local DH = D // H

-- a checkpoint's tensor, scaled in place (PBTENS01 container, docs/model.md)
local function scale_tensor(path, name, factor)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  local J = string.unpack("<I8", data, 9)
  local header = pb.json.decode(data:sub(17, 16 + J))
  local base = 16 + J
  for _, t in ipairs(header.tensors) do
    if t.name == name then
      local n = 1
      for _, s in ipairs(t.shape) do n = n * s end
      local parts = {}
      for i = 0, n - 1 do
        local at = base + t.offset + 4 * i + 1
        parts[#parts + 1] = string.pack("<f", string.unpack("<f", data, at) * factor)
      end
      local from = base + t.offset
      data = data:sub(1, from) .. table.concat(parts) .. data:sub(from + 4 * n + 1)
    end
  end
  f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function layernorm(x, w, b, off)
  local mean, var = 0, 0
  for i = 1, D do mean = mean + x[i] / D end
  for i = 1, D do var = var + (x[i] - mean) ^ 2 / D end
  local r, y = 1 / math.sqrt(var + 1e-5), {}
  for i = 1, D do y[i] = (x[i] - mean) * r * w[off + i] + b[off + i] end
  return y
end

-- y = W x + bias, W row-major [rows][cols] starting at flat offset woff
local function linear(W, woff, bias, boff, x, rows, cols)
  local y = {}
  for r = 1, rows do
    local s = bias and bias[boff + r] or 0
    local row = woff + (r - 1) * cols
    for c = 1, cols do s = s + W[row + c] * x[c] end
    y[r] = s
  end
  return y
end

local function gelu(x)
  return 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ^ 3)))
end

-- Rebuild model:forward's logits with the probe's scores. len: the length
-- handed to probe:score (nil: its default).
-- (docs/model.md: x = wte[token] + PE(pos), pre-norm block, tied head)
local function rebuild(model, name, enc, causal, tokens, pos, len)
  local P = function(n) return model:param(n) end
  local wte, lw, lb = P("wte"), P("ln1_w"), P("ln1_b")
  local qkv_w, qkv_b, proj_w, proj_b = P("qkv_w"), P("qkv_b"), P("proj_w"), P("proj_b")
  local l2w, l2b, fc_w, fc_b, fcp_w, fcp_b = P("ln2_w"), P("ln2_b"), P("fc_w"), P("fc_b"),
    P("fcp_w"), P("fcp_b")
  local lfw, lfb = P("lnf_w"), P("lnf_b")
  local opts = { d = D, heads = H, causal = causal, max_len = 16 }
  for k, v in pairs(enc) do opts[k] = v end
  local probe = pb.encoding(name, opts)
  if probe:info().n_params > 0 then probe:set_params(model:param("enc")) end
  local input = false
  for _, s in ipairs(probe:info().sites) do input = input or s == "input" end
  local table_ = input and probe:table(pos) or nil
  local n = #tokens
  local x, q, k, v = {}, {}, {}, {}
  for t = 1, n do
    x[t] = {}
    for i = 1, D do
      x[t][i] = wte[tokens[t] * D + i] + (table_ and table_[t][i] or 0)
    end
    local h = layernorm(x[t], lw, lb, 0)
    local qkv = linear(qkv_w, 0, qkv_b, 0, h, 3 * D, D)
    q[t], k[t], v[t] = {}, {}, {}
    for i = 1, D do q[t][i], k[t][i], v[t][i] = qkv[i], qkv[D + i], qkv[2 * D + i] end
  end
  local logits = {}
  for a = 1, n do
    local o = {}
    for h = 1, H do
      local qa = table.move(q[a], (h - 1) * DH + 1, h * DH, 1, {})
      local s, mx = {}, -math.huge
      local last = causal and a or n -- the model masks by token order
      for b = 1, last do
        local kb = table.move(k[b], (h - 1) * DH + 1, h * DH, 1, {})
        s[b] = probe:score(qa, kb, pos[a], pos[b], { head = h, causal = false, length = len })
        mx = math.max(mx, s[b])
      end
      local z = 0
      for b = 1, last do s[b] = math.exp(s[b] - mx); z = z + s[b] end
      for i = 1, DH do
        local acc = 0
        for b = 1, last do acc = acc + s[b] / z * v[b][(h - 1) * DH + i] end
        o[(h - 1) * DH + i] = acc
      end
    end
    local y = linear(proj_w, 0, proj_b, 0, o, D, D)
    local xa = {}
    for i = 1, D do xa[i] = x[a][i] + y[i] end
    local h2 = layernorm(xa, l2w, l2b, 0)
    local f = linear(fc_w, 0, fc_b, 0, h2, F, D)
    for i = 1, F do f[i] = gelu(f[i]) end
    local m = linear(fcp_w, 0, fcp_b, 0, f, D, F)
    for i = 1, D do xa[i] = xa[i] + m[i] end
    logits[a] = linear(wte, 0, nil, 0, layernorm(xa, lfw, lfb, 0), V, D)
  end
  probe:close()
  return logits
end

local function worst_diff(a, b)
  local w, scale = 0, 0
  for t = 1, #a do
    for i = 1, #a[t] do
      w = math.max(w, math.abs(a[t][i] - b[t][i]))
      scale = math.max(scale, math.abs(b[t][i]))
    end
  end
  return w / scale
end

local tmp = os.tmpname()
-- A model of cfg with its q/k/v weights scaled by 25 (sharper attention),
-- through a checkpoint.
local function sharpened(cfg)
  local m0 = pb.model(cfg)
  m0:save(tmp)
  m0:close()
  scale_tensor(tmp, "qkv_w", 25)
  return pb.load(tmp)
end

local function case(name, enc, causal, pos_dims)
  local cfg = { vocab = V, d = D, heads = H, layers = 1, ff = F, encoding = name, enc = enc,
                causal = causal, max_len = 16, seed = 3,
                positions = pos_dims == 2 and { scheme = "grid", width = 4 } or nil }
  local model = sharpened(cfg)
  local tokens, pos = {}, {}
  for t = 1, T do
    tokens[t] = (t * 5 + 3) % V
    -- 1D: 0..T-1; 2D: a 4-wide grid, row-major
    pos[t] = pos_dims == 2 and { (t - 1) % 4, (t - 1) // 4 } or t - 1
  end
  local want = model:forward(tokens, { positions = pos }).logits
  local mx = 0
  for _, p in ipairs(pos) do
    for _, c in ipairs(type(p) == "table" and p or { p }) do mx = math.max(mx, c) end
  end
  local got = rebuild(model, name, enc, causal, tokens, pos, mx + 1)
  model:close()
  return worst_diff(got, want), want, tokens, pos
end

local variants = {
  { "rope", { fraction = 0.5 } },
  { "rope", { scaling = { type = "dynamic_ntk", factor = 4, original_len = 4 } } },
  { "rope", { scaling = { type = "yarn", factor = 4, original_len = 4 } } },
  { "rope", { scaling = { type = "ntk", factor = 4 } } },
}
local names = {}
for _, e in ipairs(pb.list_encodings()) do
  if not e.lua then names[#names + 1] = { e.name, {}, e.pos_dims } end
end
for _, v in ipairs(variants) do names[#names + 1] = { v[1], v[2], 1 } end
for i, e in ipairs(names) do
  for _, causal in ipairs { true, false } do
    local d = case(e[1], e[2], causal, e[3] or 1)
    local label = string.format("%s%s %s", e[1], next(e[2]) and " " .. pb.json.encode(e[2]) or "",
      causal and "causal" or "bidirectional")
    check(d < 2e-4, string.format("probe scores rebuild the model's logits: %s (worst relative %.2g)",
      label, d))
    print(string.format("%-60s worst relative difference %.2g", label, d))
  end
end

-- The check can fail: dynamic NTK scored at max(i, j) + 1 instead of the
-- sequence's length gives other logits.
do
  local enc = { scaling = { type = "dynamic_ntk", factor = 4, original_len = 4 } }
  local cfg = { vocab = V, d = D, heads = H, layers = 1, ff = F, encoding = "rope", enc = enc,
                max_len = 16, seed = 3 }
  local model = sharpened(cfg)
  local tokens, pos = {}, {}
  for t = 1, T do tokens[t], pos[t] = (t * 5 + 3) % V, t - 1 end
  local want = model:forward(tokens, { positions = pos }).logits
  local d = worst_diff(rebuild(model, "rope", enc, true, tokens, pos, nil), want)
  check(d > 1e-3, "dynamic NTK at the default length (max(i, j) + 1) differs from the model "
    .. "run at T (" .. d .. ")")
  model:close()
end
os.remove(tmp)
checks.close("test_probe_model")
