-- KERPLE-log, written in Lua: the twin of the C encoding "kerple_log".
-- bias = -r1 ln(1 + r2 |i - j|), r = softplus(u) per head, initialised at
-- r1 = r2 = 1 (options r1, r2 change that, as in C).
local function softplus(u)
  if u > 0 then return u + math.log1p(math.exp(-u)) end
  return math.log1p(math.exp(u))
end
local function inverse_softplus(r) return math.log(math.exp(r) - 1) end

return pb.register_encoding("lua_kerple_log", {
  options = { r1 = 1, r2 = 1 },
  params = {
    { name = "u1", shape = { "heads" }, init = function(_, _, o) return inverse_softplus(o.r1) end },
    { name = "u2", shape = { "heads" }, init = function(_, _, o) return inverse_softplus(o.r2) end },
  },
  relative = true,
  bias = function(head, i, j, p)
    return -softplus(p.u1[head]) * math.log1p(softplus(p.u2[head]) * math.abs(i - j))
  end,
  summary = "KERPLE-log (Lua twin of kerple_log)",
  reference = "Chi et al. 2022",
})
