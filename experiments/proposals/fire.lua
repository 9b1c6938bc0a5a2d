-- FIRE, written in Lua: the twin of the C encoding "fire" (same options,
-- parameter order and initial values, drawn from the encoding's stream).
-- bias = MLP_head(psi(r) / (psi(max(L, i)) + 1e-6)), psi(x) = ln(1 + |c| x).
local function uniform(_, rng) return 2 * rng:uniform() - 1 end
local function uniform_scaled(_, rng, o) return (2 * rng:uniform() - 1) * (1 / math.sqrt(o.hidden)) end

return pb.register_encoding("lua_fire", {
  options = { "init_L", hidden = 32, init_c = 0.1 },
  params = {
    { name = "W1", shape = { "hidden" }, init = uniform },
    { name = "b1", shape = { "hidden" }, init = uniform },
    { name = "W2", shape = { "heads", "hidden" }, init = uniform_scaled },
    { name = "b2", shape = { "heads" }, init = uniform_scaled },
    { name = "c", shape = { 1 }, init = function(_, _, o) return o.init_c end },
    { name = "l", shape = { 1 }, init = 1 },
  },
  bias = function(head, i, j, p, o) -- not relative: the normaliser depends on i
    local init_L = o.init_L or (o.max_len >= 4 and o.max_len / 4 or 1)
    local c, L = math.abs(p.c[1]), math.abs(p.l[1]) * init_L
    local r = o.causal and math.max(i - j, 0) or math.abs(i - j)
    local z = math.log1p(c * r) / (math.log1p(c * math.max(L, i)) + 1e-6)
    local f, W2 = p.b2[head], p.W2[head] -- f = W2 relu(W1 z + b1) + b2
    for k = 1, o.hidden do f = f + W2[k] * math.max(p.W1[k] * z + p.b1[k], 0) end
    return f
  end,
  summary = "FIRE (Lua twin of fire)",
  reference = "Li et al. 2023",
})
