-- ALiBi with learned slopes, written in Lua: the twin of the C encoding
-- pb.model{encoding = "alibi", enc = {learn = 1}}. The slopes start at
-- ALiBi's (the paper's get_slopes); the gradient comes from autodiff.
local function alibi_slope(h, H)
  local n = 1
  while n * 2 <= H do n = n * 2 end
  if h <= n then return 2 ^ (-8 * h / n) end
  return 2 ^ (-8 * (2 * (h - n) - 1) / (2 * n))
end

return pb.register_encoding("lua_alibi_learned", {
  params = { slopes = { shape = { "heads" },
                        init = function(h, _, o) return alibi_slope(h, o.heads) end } },
  relative = true, -- one evaluation per head and distance
  bias = function(head, i, j, p, o)
    local dist = i - j
    if not o.causal then dist = math.abs(dist) end
    return -p.slopes[head] * dist
  end,
  summary = "ALiBi with learned slopes (Lua twin of alibi learn=1)",
  reference = "Press et al. 2022",
})
