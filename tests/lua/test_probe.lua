-- The encoding probe pb.encoding(name, opts): scores, transforms, biases and
-- tables against closed forms, invariances, parameters and errors.
-- Run: build/posbench run tests/lua/test_probe.lua

local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with
local function close(a, b, tol, msg)
  check(type(a) == "number" and math.abs(a - b) <= tol * math.max(1, math.abs(b)),
    string.format("%s: got %s, expected %s", msg, tostring(a), tostring(b)), 3)
end

-- deterministic vectors
local seed = 12345
local function rand()
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648 * 2 - 1
end
local function vec(n)
  local v = {}
  for i = 1, n do v[i] = rand() end
  return v
end
local function norm(v)
  local s = 0
  for i = 1, #v do s = s + v[i] * v[i] end
  return math.sqrt(s)
end

-- RoPE --------------------------------------------------------------------------
local dh = 32
local rope = pb.encoding("rope", { d_head = dh, heads = 2 })
local info = rope:info()
check(info.name == "rope" and info.sites[1] == "qk" and info.pos_dims == 1 and info.n_params == 0
  and info.logit_scale == 1 and info.d_head == dh and info.heads == 2 and info.d == 64
  and info.lua == false and info.reference:find("Su et al", 1, true)
  and #info.options > 0 and info.options[1] == "base", "rope :info()")
check(tostring(rope):find("posbench encoding rope", 1, true), "__tostring")

-- closed form: sum_k Re[(q_a + i q_b) conj(k_a + i k_b) e^{i (pi - pj) theta_k}] / sqrt(dh)
local function rope_closed(q, k, pi, pj, base)
  local s = 0
  for kk = 0, dh / 2 - 1 do
    local th = (base or 10000) ^ (-2 * kk / dh)
    local a = (pi - pj) * th
    local qa, qb, ka, kb = q[2 * kk + 1], q[2 * kk + 2], k[2 * kk + 1], k[2 * kk + 2]
    local re, im = qa * ka + qb * kb, qb * ka - qa * kb -- (q) * conj(k)
    s = s + re * math.cos(a) - im * math.sin(a)
  end
  return s / math.sqrt(dh)
end
do
  local q, k = vec(dh), vec(dh)
  for _, ij in ipairs { { 0, 0 }, { 5, 3 }, { 17, 0 }, { 60, 59 }, { 300, 10 } } do
    close(rope:score(q, k, ij[1], ij[2]), rope_closed(q, k, ij[1], ij[2]), 2e-5,
      string.format("rope score(%d, %d) = closed form", ij[1], ij[2]))
  end
  local r500 = pb.encoding("rope", { d_head = dh, heads = 2, base = 500 })
  close(r500:score(q, k, 40, 7), rope_closed(q, k, 40, 7, 500), 2e-5, "base=500 reaches the encoding")
  check(rope:score(q, k, 3, 9) == -math.huge, "causal: j > i is masked")
  close(rope:score(q, k, 3, 9, { causal = false }), rope_closed(q, k, 3, 9), 2e-5,
    "causal = false scores j > i")
  local bi = pb.encoding("rope", { d_head = dh, heads = 2, causal = false })
  check(bi:score(q, k, 3, 9) ~= -math.huge, "a bidirectional probe does not mask")
end

-- dynamic NTK: one length for q and k, max(i, j) + 1 unless length= is given
do
  local function base_at(l, s, L)
    local s_eff = math.max(1, s * l / L - (s - 1))
    return 10000 * s_eff ^ (dh / (dh - 2))
  end
  local dyn = pb.encoding("rope", { d_head = dh, heads = 2,
                                    scaling = { type = "dynamic_ntk", factor = 4, original_len = 8 } })
  local q, k = vec(dh), vec(dh)
  for _, ij in ipairs { { 30, 3 }, { 12, 11 }, { 40, 0 } } do
    local i, j = ij[1], ij[2]
    close(dyn:score(q, k, i, j), rope_closed(q, k, i, j, base_at(i + 1, 4, 8)), 2e-5,
      string.format("dynamic_ntk score(%d, %d) = closed form at length max(i, j) + 1", i, j))
    close(dyn:score(q, k, i, j, { length = 64 }), rope_closed(q, k, i, j, base_at(64, 4, 8)), 2e-5,
      string.format("dynamic_ntk score(%d, %d, {length = 64}) = closed form at 64", i, j))
  end
  errors_with({ "length=5 must exceed every position" }, dyn.score, dyn, q, k, 9, 2, { length = 5 })
end

-- invariance to a common shift, up to 4096
do
  local worst = 0
  for trial = 1, 5 do
    local q, k = vec(dh), vec(dh)
    local i, j = 7 + trial, 2 + trial
    local s0 = rope:score(q, k, i, j, { head = 2 })
    for _, shift in ipairs { 1, 13, 250, 1000, 4096 - i - 1 } do
      worst = math.max(worst, math.abs(rope:score(q, k, i + shift, j + shift, { head = 2 }) - s0))
    end
  end
  check(worst < 2e-5, "rope score is invariant to a common shift up to 4096 (worst " .. worst .. ")")
  -- the same in bf16 angles is not (GPT-NeoX #1003): the precision option reaches the encoding
  local lp = pb.encoding("rope", { d_head = dh, heads = 2, precision = { angles = "bf16" } })
  local q, k = vec(dh), vec(dh)
  local d = math.abs(lp:score(q, k, 4001, 3997) - lp:score(q, k, 4, 0))
  check(d > 1e-3, "with bf16 angles the score at 4000 differs from the score at 0 (" .. d .. ")")
end

-- transforms preserve norms, and act on the chosen head only through its positions
do
  local worst = 0
  for _, p in ipairs { 0, 1, 9, 100, 2047, 4095 } do
    local v = vec(dh)
    for _, key in ipairs { false, true } do
      local w = rope:transform(v, p, { key = key, head = 2 })
      worst = math.max(worst, math.abs(norm(w) - norm(v)) / norm(v))
    end
  end
  check(worst < 1e-6, "rope :transform preserves norms (worst relative " .. worst .. ")")
  local v = vec(dh)
  local w0 = rope:transform(v, 0)
  local same = true
  for i = 1, dh do same = same and math.abs(w0[i] - v[i]) < 1e-7 end
  check(same, "position 0 is the identity")
  errors_with({ "vec must have 32 numbers" }, rope.transform, rope, { 1, 2 }, 3)
  errors_with({ "head=3 is outside 1..2" }, rope.transform, rope, v, 3, { head = 3 })
  errors_with({ "unknown option 'kee'" }, rope.transform, rope, v, 3, { kee = true })
  errors_with({ "integer in [0, " }, rope.transform, rope, v, -1)
end

-- xPos: keys and queries get different scalings
do
  local x = pb.encoding("xpos", { d_head = dh, heads = 2 })
  local v = vec(dh)
  local a, b = x:transform(v, 50), x:transform(v, 50, { key = true })
  check(math.abs(norm(a) - norm(b)) > 1e-4, "xpos: key and query transforms differ")
end

-- ALiBi ----------------------------------------------------------------------------
local function alibi_closed(h, H, i, j, causal)
  local n = 2 ^ math.floor(math.log(H, 2))
  local m = h <= n and 2 ^ (-8 * h / n) or 2 ^ (-8 * (2 * (h - n) - 1) / (2 * n))
  return causal and -m * (i - j) or -m * math.abs(i - j)
end
for _, H in ipairs { 8, 6 } do
  for _, causal in ipairs { true, false } do
    local a = pb.encoding("alibi", { heads = H, d_head = 4, causal = causal })
    local worst = 0
    for h = 1, H do
      for _, ij in ipairs { { 0, 0 }, { 9, 4 }, { 4, 9 }, { 1000, 1 } } do
        if causal and ij[2] > ij[1] then goto continue end
        worst = math.max(worst, math.abs(a:bias(ij[1], ij[2], { head = h })
          - alibi_closed(h, H, ij[1], ij[2], causal)) / math.max(1, math.abs(ij[1] - ij[2])))
        ::continue::
      end
    end
    check(worst < 1e-7, string.format("alibi :bias = closed form (H=%d, causal=%s; worst %g)",
      H, tostring(causal), worst))
  end
end
do
  local a = pb.encoding("alibi", { heads = 4, d_head = 8 })
  local q, k = vec(8), vec(8)
  local dot = 0
  for c = 1, 8 do dot = dot + q[c] * k[c] end
  close(a:score(q, k, 12, 2, { head = 3 }), dot / math.sqrt(8) + alibi_closed(3, 4, 12, 2, true),
    1e-6, "alibi :score = q.k/sqrt(d_head) + bias")
  errors_with({ "encoding:table", "'alibi' has no input site", "bias" }, a.table, a, { 0, 1 })
  errors_with({ "'rope' has no bias site" }, rope.bias, rope, 1, 0)
end

-- 2D RoPE: the score depends on (dx, dy) only ----------------------------------------
do
  local r2 = pb.encoding("rope2d_axial", { d_head = 16, heads = 2 })
  check(r2:info().pos_dims == 2, "rope2d_axial has 2D positions")
  local q, k = vec(16), vec(16)
  local s0 = r2:score(q, k, { 5, 3 }, { 2, 7 })
  local worst = 0
  for _, sh in ipairs { { 1, 0 }, { 0, 1 }, { 10, 20 }, { 300, 7 }, { 1000, 1000 } } do
    local s = r2:score(q, k, { 5 + sh[1], 3 + sh[2] }, { 2 + sh[1], 7 + sh[2] })
    worst = math.max(worst, math.abs(s - s0))
  end
  check(worst < 2e-5, "rope2d_axial score depends only on (dx, dy) (worst " .. worst .. ")")
  check(math.abs(r2:score(q, k, { 6, 3 }, { 2, 7 }) - s0) > 1e-4
    and math.abs(r2:score(q, k, { 5, 4 }, { 2, 7 }) - s0) > 1e-4, "and on both of them")
  errors_with({ "takes {x, y} positions" }, r2.score, r2, q, k, 3, 4)
  -- mixed: learnable per-head frequencies, still relative
  local mx = pb.encoding("rope2d_mixed", { d_head = 16, heads = 2, seed = 3 })
  local m0 = mx:score(q, k, { 4, 4 }, { 1, 2 }, { head = 2 })
  close(mx:score(q, k, { 40, 14 }, { 37, 12 }, { head = 2 }), m0, 2e-5, "rope2d_mixed is relative")
  check(math.abs(mx:score(q, k, { 4, 4 }, { 1, 2 }, { head = 1 }) - m0) > 1e-6,
    "rope2d_mixed heads have their own frequencies")
end

-- sinusoidal table = formula ------------------------------------------------------------
do
  local d = 16
  local s = pb.encoding("sinusoidal", { d = d, heads = 2, scale = 1 }) -- the paper's amplitude
  local pos = { 0, 1, 2, 7, 100, 5000 }
  local t = s:table(pos)
  local worst = 0
  for r, p in ipairs(pos) do
    for k = 0, d / 2 - 1 do
      local w = 10000 ^ (-2 * k / d)
      worst = math.max(worst, math.abs(t[r][2 * k + 1] - math.sin(p * w)),
        math.abs(t[r][2 * k + 2] - math.cos(p * w)))
    end
  end
  check(#t == #pos and #t[1] == d and worst < 1e-6, "sinusoidal :table = formula (worst " .. worst .. ")")
  local dflt = pb.encoding("sinusoidal", { d = d, heads = 2 }):table(pos)
  local ratio = 0
  for r = 1, #pos do
    for c = 1, d do ratio = math.max(ratio, math.abs(dflt[r][c] * math.sqrt(d) - t[r][c])) end
  end
  check(ratio < 1e-6, "sinusoidal's default amplitude is 1/sqrt(d) (worst " .. ratio .. ")")
  local s2 = pb.encoding("sinusoidal2d", { d = d, heads = 2, scale = 1 })
  local t2 = s2:table { { 3, 5 } }
  close(t2[1][1], math.sin(3), 1e-6, "sinusoidal2d: x in the first half")
  close(t2[1][d / 2 + 1], math.sin(5), 1e-6, "sinusoidal2d: y in the second half")
  local q, k = vec(8), vec(8)
  local dot = 0
  for c = 1, 8 do dot = dot + q[c] * k[c] end
  close(s:score(q, k, 9, 1), dot / math.sqrt(8), 1e-6, "an input encoding leaves the score alone")
end

-- learnable parameters --------------------------------------------------------------------
do
  local a = pb.encoding("t5", { heads = 4, d_head = 8, seed = 5 })
  local b = pb.encoding("t5", { heads = 4, d_head = 8, seed = 5 })
  local c = pb.encoding("t5", { heads = 4, d_head = 8, seed = 6 })
  local pa, pb_, pc = a:params(), b:params(), c:params()
  check(#pa == 4 * 32 and a:info().n_params == 128, "t5 has H * buckets parameters")
  local same, differ = true, false
  for i = 1, #pa do
    same = same and pa[i] == pb_[i]
    differ = differ or pa[i] ~= pc[i]
  end
  check(same and differ, "parameters come from seed=")
  local ones = {}
  for i = 1, #pa do ones[i] = 0.25 end
  a:set_params(ones)
  check(a:params()[7] == 0.25 and a:bias(30, 2, { head = 4 }) == 0.25, "set_params reaches the bias")
  errors_with({ "has 128 parameters, got 2" }, a.set_params, a, { 1, 2 })
  -- kerple_log: u = ln(e - 1) gives r1 = r2 = softplus(u) = 1: bias = -ln(1 + |i - j|)
  local kl = pb.encoding("kerple_log", { heads = 2, d_head = 8 })
  local u = {}
  for i = 1, kl:info().n_params do u[i] = math.log(math.exp(1) - 1) end
  kl:set_params(u)
  close(kl:bias(20, 3, { head = 2 }), -math.log(1 + 17), 1e-5, "kerple_log with r1 = r2 = 1")
  local l = pb.encoding("learned", { d = 8, heads = 2, max_len = 4 })
  check(#l:params() == 32, "learned: max_len x d parameters")
  local rows = {}
  for i = 1, 32 do rows[i] = i end
  l:set_params(rows)
  check(l:table({ 2 })[1][3] == 19, "learned :table reads row p of the parameters")
  errors_with({ "learned" }, l.table, l, { 4 })
end

-- encodings registered from Lua work the same way ---------------------------------------------
do
  pb.register_encoding("probe_rope", { theta = function(k, d_head) return 10000 ^ (-2 * k / d_head) end })
  local lr = pb.encoding("probe_rope", { d_head = dh, heads = 2 })
  local q, k = vec(dh), vec(dh)
  check(lr:score(q, k, 77, 5) == rope:score(q, k, 77, 5), "a Lua theta schedule scores like rope")
  check(lr:info().lua == true and lr:info().summary:find("theta", 1, true), "its :info()")
  pb.register_encoding("probe_bias", { bias = function(h, i, j) return h * 100 + i - j end })
  local pbias = pb.encoding("probe_bias", { heads = 3, d_head = 4, causal = false })
  check(pbias:bias(7, 2, { head = 3 }) == 305 and pbias:bias(2, 7) == 95, "a Lua bias, head and positions")
  -- the table grows (8 -> 61 positions) and keeps every entry right
  local grown = pbias:bias(60, 40, { head = 2 }) == 220 and pbias:bias(3, 45, { head = 1 }) == 58
    and pbias:bias(45, 3, { head = 3 }) == 342 and pbias:bias(7, 2, { head = 3 }) == 305
  check(grown, "a Lua bias table grows with longer positions and keeps old entries")
  pb.register_encoding("probe_angle", { angle = function(pos, k, d_head) return pos * 10000 ^ (-2 * k / d_head) end })
  local la = pb.encoding("probe_angle", { d_head = dh, heads = 2 })
  local v = vec(dh)
  local same = true
  for _, p in ipairs { 3, 300, 3, 1000, 299 } do
    local x, y = la:transform(v, p), rope:transform(v, p)
    for c = 1, dh do same = same and x[c] == y[c] end
  end
  check(same, "a Lua angle table grows and matches rope at every position")
end

-- errors -----------------------------------------------------------------------------------
errors_with({ "unknown encoding 'ropee'", "valid encodings:", "rope", "alibi", "probe_rope" },
  pb.encoding, "ropee")
errors_with({ "encoding 'rope': unknown option 'bsae'", "valid options: base, pairing", "d_head" },
  pb.encoding, "rope", { bsae = 10 })
errors_with({ "d=30, d_head=8 and heads=4 do not fit" }, pb.encoding, "rope", { d = 30, d_head = 8, heads = 4 })
errors_with({ "precision" }, pb.encoding, "rope", { precision = { angles = "fp7" } })
do
  local e = pb.encoding("rope", { d_head = 8 })
  check(e:info().heads == 4 and e:info().d == 32, "d_head alone: heads = 4, d = 4 d_head")
  e:close()
  errors_with({ "closed" }, e.info, e)
  check(tostring(e):find("closed", 1, true), "__tostring of a closed probe")
  do
    local scoped <close> = pb.encoding("alibi", {})
    check(scoped:info().d == 64 and scoped:info().heads == 4, "defaults d = 64, heads = 4")
  end
end

checks.close("test_probe")
