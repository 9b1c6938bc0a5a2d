-- Claims as data -> verdicts with familywise error control.
-- docs/statistics.md has the rules, the formulas and the simulation results.
--
--   verdict.decide(claims, {alpha = 0.05, test = "t" | "signflip", level = 0.95,
--                           power = 0.8, signflip = true, adjust = "holm"})
--       -> results (one per claim, in order)
--   verdict.boundaries(looks, {alpha = 0.05, spending = "obf" | "pocock"})
--       -> {t, spent, z, nominal}: Lan-DeMets boundaries, one-sided, z scale
--   verdict.sequential(claims, {look = k, looks = {5, 10, 20}, state = prev,
--                               futility = 0.1, spending = "obf", ...})
--       -> {results, decided, futile, more, final, not_testable, next_n, state}
--     claim ids by status: decided (a hypothesis rejected at this look),
--     futile (conditional power below futility: stop adding seeds), more
--     (run seeds up to next_n and call again with look = k + 1 and state),
--     final (undecided at the last look). Claims stopped at earlier looks
--     keep their result (r.stage says when); only seeds 1..looks[k] are used.
--   verdict.replay(tests_at, opts) -> verdict.sequential's output at look
--     opts.look, the earlier looks taken first on tests_at(j), the claims
--     stated on the seeds look j had (a study's collect, which keeps no state)
--   verdict.rows(results) -> rows, columns (a markdown table's content;
--     verdict.columns is the same list of column names)
--   verdict.check_settings(name, cfg) -> cfg: a study's decision settings
--     (alpha, level, power, spending, futility, every *_margin) checked when
--     it is configured, not after its runs
--   verdict.rules_text(opts) -> the rules in a paragraph
--   verdict.test_text(result, row) -> the test, effect, p-values and verdict in a line
--   verdict.report_mark[result.verdict] -> the verdict rep:claim takes
--
-- A claim: {id =, text =, kind =, margin = 0, lower_is_better = false,
--   paired = true, reference = 0, best_of = false, premise =, learned =,
--   max_seeds = nil  (verdict.sequential: its last look is the last within it)
--   a =, bs = {name = series}  (beats_each)
--   x =  or  a =, b =          (greater, less, equivalent)
--   claims = {...}             (all_of)}
-- A series is a table indexed by seed (holes allowed): values with the same
-- seed are paired; a seed missing from one side is dropped and reported.
-- premise / learned: a table {ok =, reason =, would_need =} or a function
-- returning one; ok = false makes the claim "not testable" (outside the family).
local core = require "posbench.core"
local stats = require "posbench.stats"

local verdict = {}

local KINDS = { beats_each = true, greater = true, less = true, equivalent = true, all_of = true }
local FLIP = { greater = "less", less = "greater", ["two-sided"] = "two-sided" }
local SPENDING = { obf = true, pocock = true }

local function fail(c, fmt, ...)
  error(string.format("verdict: claim '%s': " .. fmt, tostring(c.id), ...), 0)
end

-- Largest seed of a series (limited to `limit`), checking keys and values.
local function top_seed(c, name, v, limit)
  if type(v) ~= "table" then
    fail(c, "series %s must be a table of per-seed numbers, got %s", name, type(v))
  end
  local top = 0
  for s, x in pairs(v) do
    if math.type(s) ~= "integer" or s < 1 then
      fail(c, "series %s has key %s; keys must be seeds 1, 2, ...", name, tostring(s))
    end
    if type(x) ~= "number" then
      fail(c, "series %s seed %d is a %s, expected a number", name, s, type(x))
    end
    if s > top then top = s end
  end
  return limit and math.min(top, limit) or top
end

local function dense(v, top)
  local out, seeds = {}, {}
  for s = 1, top do
    if v[s] ~= nil then out[#out + 1], seeds[#seeds + 1] = v[s], s end
  end
  return out, seeds
end

local function best_of(v, lower)
  local b = v[1]
  for i = 2, #v do
    if (lower and v[i] < b) or (not lower and v[i] > b) then b = v[i] end
  end
  return b
end

-- Seeds for power `power` at one-sided level a when the effect lies delta
-- from the null boundary, if the per-seed sd is s: the normal approximation
-- n = ((z_{1-a} + z_power) s / delta)^2, then the same with Student-t
-- quantiles at n - 1 df until n settles (few seeds: the normal one is
-- optimistic). nil when delta <= 0.
-- Counts beyond a million come back as MANY_SEEDS (an integer, so that
-- texts and prices stay well defined; a float count overflowed %d).
local MANY_SEEDS = 1000001
verdict.MANY_SEEDS = MANY_SEEDS
local function seeds_needed(delta, s, a, power)
  if not (delta > 0) then return nil end
  if s == 0 then return 2 end
  local raw = ((stats.normal_quantile(1 - a) + stats.normal_quantile(power)) * s / delta) ^ 2
  if raw >= MANY_SEEDS then return MANY_SEEDS end
  local n = math.max(2, math.ceil(raw))
  for _ = 1, 20 do
    local tz = core.t_quantile(1 - a, n - 1) + core.t_quantile(power, n - 1)
    raw = (tz * s / delta) ^ 2
    if raw >= MANY_SEEDS then return MANY_SEEDS end
    local next_n = math.max(2, math.ceil(raw))
    if next_n == n then break end
    n = next_n
  end
  return n
end

-- Paired (or one-sample) effects orient * (x - y - ref) by seed.
local function paired_effects(c, spec, comp, limit)
  local tx = top_seed(c, spec.xname, spec.x, limit)
  local ty = spec.y and top_seed(c, spec.yname, spec.y, limit) or tx
  local e = {}
  comp.seeds, comp.dropped = {}, {}
  -- up to the look's seeds: a one-sample series' last seeds, left out (not
  -- learned), are dropped too, not passed over
  local last = math.max(tx, ty)
  if not spec.y and limit then last = math.max(last, limit) end
  for s = 1, last do
    local a, b = spec.x[s], 0
    if spec.y then b = spec.y[s] end
    if a ~= nil and b ~= nil then
      e[#e + 1] = spec.orient * (a - b - spec.ref)
      comp.seeds[#comp.seeds + 1] = s
      if e[#e] ~= e[#e] then comp.problem = string.format("seed %d is NaN (a diverged run?)", s) end
    elseif a ~= nil or b ~= nil then
      comp.dropped[#comp.dropped + 1] = s
    end
  end
  comp.e, comp.n = e, #e
  if comp.n >= 2 and not comp.problem then
    local r = stats.one_sample(e, 0, { level = comp.level, signflip = false })
    comp.mean, comp.sd, comp.lo, comp.hi, comp.s_unit = r.mean, r.sd, r.lo, r.hi, r.sd
    comp.min, comp.max = best_of(e, true), best_of(e, false)
  end
  local xs = dense(spec.x, tx)
  if comp.best_of and #xs > 0 then
    local ys = spec.y and dense(spec.y, ty) or { 0 }
    comp.best = spec.orient * (best_of(xs, spec.lower) - best_of(ys, spec.lower) - spec.ref)
  end
end

local function welch_effects(c, spec, comp, limit)
  local xs = dense(spec.x, top_seed(c, spec.xname, spec.x, limit))
  local ys = dense(spec.y, top_seed(c, spec.yname, spec.y, limit))
  comp.xs, comp.ys, comp.n, comp.dropped = xs, ys, math.min(#xs, #ys), {}
  for _, v in ipairs { xs, ys } do
    for i = 1, #v do if v[i] ~= v[i] then comp.problem = "a value is NaN (a diverged run?)" end end
  end
  if comp.n >= 2 and not comp.problem then
    local r = stats.welch(xs, ys, { level = comp.level })
    local lo, hi = spec.orient * (r.lo - spec.ref), spec.orient * (r.hi - spec.ref)
    comp.mean, comp.lo, comp.hi = spec.orient * (r.mean - spec.ref), math.min(lo, hi), math.max(lo, hi)
    comp.s_unit = math.sqrt(stats.sd(xs) ^ 2 + stats.sd(ys) ^ 2)
    comp.sd = comp.s_unit
  end
  if comp.best_of and #xs > 0 and #ys > 0 then
    comp.best = spec.orient * (best_of(xs, spec.lower) - best_of(ys, spec.lower) - spec.ref)
  end
end

-- One comparison: spec = {label, x, xname, y, yname, orient, ref, paired, lower}.
-- comp.p(mu, alt) -> p (t), p (sign-flip or nil) of the effect against mu.
local function component(c, spec, opts)
  local comp = { label = spec.label, level = opts.level, best_of = c.best_of }
  if spec.y and spec.paired == false then
    comp.kind = "welch"
    welch_effects(c, spec, comp, opts.limit)
  else
    comp.kind = spec.y and "paired" or "one-sample"
    paired_effects(c, spec, comp, opts.limit)
  end
  if comp.n < 2 and not comp.problem then
    comp.problem = string.format("%s: %d seed(s) with values, a test needs 2", spec.label, comp.n)
  end
  function comp.p(mu, alt)
    if comp.kind == "welch" then
      local r = stats.welch(comp.xs, comp.ys, { mu = spec.ref + spec.orient * mu,
        alternative = spec.orient > 0 and alt or FLIP[alt] })
      return r.p, nil
    end
    local t = (comp.mean - mu) / (comp.sd / math.sqrt(comp.n))
    return stats.t_pvalue(t, comp.n - 1, alt), opts.signflip and stats.signflip_p(comp.e, mu, alt) or nil
  end
  return comp
end

local function max_p(list, field)
  local m = 0.0
  for _, h in ipairs(list) do
    if h[field] == nil then return nil end
    m = math.max(m, h[field])
  end
  return m
end

local function bonferroni_p(list, field)
  local m = 1.0
  for _, h in ipairs(list) do
    if h[field] == nil then return nil end
    m = math.min(m, h[field])
  end
  return math.min(1, #list * m)
end

local function hyp(t, sf, need) return { t = t, sf = sf, need = need } end

-- Intersection-union over parts for holding; Bonferroni over parts for refuting.
local function combine(holds, refutes)
  local k = #refutes
  return hyp(max_p(holds, "t"), max_p(holds, "sf"), function(a, power)
      local n = 0
      for _, h in ipairs(holds) do
        local nh = h.need(a, power)
        if nh == nil then return nil end
        n = math.max(n, nh)
      end
      return n
    end),
    hyp(bonferroni_p(refutes, "t"), bonferroni_p(refutes, "sf"), function(a, power)
      local n
      for _, h in ipairs(refutes) do
        local nh = h.need(a / k, power)
        if nh and (n == nil or nh < n) then n = nh end
      end
      return n
    end)
end

-- hold: effect <= 0 rejected; refute: effect >= margin rejected.
local function directional(comp, margin)
  local t1, s1 = comp.p(0, "greater")
  local t2, s2 = comp.p(margin, "less")
  return hyp(t1, s1, function(a, power) return seeds_needed(comp.mean, comp.s_unit, a, power) end),
    hyp(t2, s2, function(a, power) return seeds_needed(margin - comp.mean, comp.s_unit, a, power) end)
end

-- hold: TOST inside (-margin, margin); refute: beyond one of the margins
-- (Bonferroni over the two directions).
local function equivalence(comp, margin)
  local tl, sl = comp.p(-margin, "greater")
  local th, sh = comp.p(margin, "less")
  local tu, su = comp.p(margin, "greater")
  local td, sd = comp.p(-margin, "less")
  local function both(x, y) return x and y and math.max(x, y) or nil end
  local function bonf(x, y) return x and y and math.min(1, 2 * math.min(x, y)) or nil end
  return hyp(math.max(tl, th), both(sl, sh), function(a, power)
      return seeds_needed(margin - math.abs(comp.mean), comp.s_unit, a, power) end),
    hyp(bonf(tu, td), bonf(su, sd), function(a, power)
      return seeds_needed(math.abs(comp.mean) - margin, comp.s_unit, a / 2, power) end)
end

local function check_margin(c)
  local margin = c.margin or 0
  if type(margin) ~= "number" or not (margin >= 0) or margin == math.huge then
    fail(c, "margin must be a finite number >= 0, got %s", tostring(margin))
  end
  if c.kind == "equivalent" and margin == 0 then fail(c, "an equivalent claim needs a margin > 0") end
  return margin
end

-- The comparisons of a claim (not all_of).
local function components(c, opts)
  local lower = c.lower_is_better == true
  local ref = c.reference or 0
  if type(ref) ~= "number" then fail(c, "reference must be a number") end
  if c.kind == "beats_each" then
    if type(c.a) ~= "table" or type(c.bs) ~= "table" then fail(c, "beats_each needs a = series, bs = {name = series}") end
    local names = {}
    for name in pairs(c.bs) do names[#names + 1] = tostring(name) end
    table.sort(names)
    if #names == 0 then fail(c, "bs is empty") end
    local out = {}
    for i, name in ipairs(names) do
      out[i] = component(c, { label = "A - " .. name, x = c.a, xname = "a", y = c.bs[name], yname = name,
        orient = lower and -1 or 1, ref = 0, paired = c.paired, lower = lower }, opts)
    end
    return out
  end
  local x, xname, y = c.x, "x", nil
  if x == nil then x, xname, y = c.a, "a", c.b end
  if type(x) ~= "table" then fail(c, "%s needs x = series, or a = and b = series", c.kind) end
  local orient = c.kind == "less" and -1 or 1
  -- the effect's own formula: orient * (x - ref), or orient * (A - B - ref)
  local diff = y and "A - B" or "x"
  local label
  if orient > 0 then
    label = diff .. (ref > 0 and string.format(" - %g", ref) or ref < 0 and string.format(" + %g", -ref) or "")
  elseif ref == 0 then
    label = y and "B - A" or "-x"
  else
    label = string.format("%g - ", ref) .. (y and "(A - B)" or "x")
  end
  return { component(c, { label = label, x = x, xname = xname, y = y, yname = "b", orient = orient,
    ref = ref, paired = c.paired, lower = lower }, opts) }
end

local function premise_failure(c)
  for _, field in ipairs { "premise", "learned" } do
    local v = c[field]
    if type(v) == "function" then v = v(c) end
    if v ~= nil then
      if type(v) ~= "table" or type(v.ok) ~= "boolean" then
        fail(c, "%s must be {ok = true|false, reason =, would_need =} or a function returning it", field)
      end
      if not v.ok then
        return (field == "learned" and "learned check failed: " or "premise failed: ") ..
          tostring(v.reason or "(no reason given)"), v.would_need
      end
    end
  end
end

-- A claim's result: effects, the hold and refute hypotheses, or the reason
-- it is not testable.
local function evaluate(c, opts)
  if type(c) ~= "table" then error("verdict: each claim must be a table", 0) end
  if c.id == nil then fail(c, "needs an id") end
  if not KINDS[c.kind] then
    fail(c, "kind '%s' is not one of beats_each, greater, less, equivalent, all_of", tostring(c.kind))
  end
  local r = { id = c.id, text = c.text, kind = c.kind, claim = c, effects = {}, margin = check_margin(c) }
  local reason, would_need = premise_failure(c)
  if reason then
    r.verdict, r.reason, r.would_need = "not testable", reason, would_need
    return r
  end
  local holds, refutes, kinds = {}, {}, {}
  if c.kind == "all_of" then
    if type(c.claims) ~= "table" or #c.claims == 0 then fail(c, "all_of needs claims = {sub-claims}") end
    for _, sc in ipairs(c.claims) do
      local sr = evaluate(sc, opts)
      if sr.verdict == "not testable" then
        r.verdict, r.reason, r.would_need = "not testable", sc.id .. ": " .. sr.reason, sr.would_need
        return r
      end
      holds[#holds + 1], refutes[#refutes + 1] = sr.hold, sr.refute
      r.disjoint = r.disjoint ~= false and sr.disjoint
      for _, e in ipairs(sr.effects) do
        e.label = tostring(sc.id) .. ": " .. e.label
        r.effects[#r.effects + 1] = e
      end
      for k in pairs(sr.kinds) do kinds[k] = true end
      r.n = math.min(r.n or math.huge, sr.n)
    end
  else
    for _, comp in ipairs(components(c, opts)) do
      if comp.problem then
        r.verdict, r.reason = "not testable", comp.problem
        return r
      end
      local h, f
      if c.kind == "equivalent" then h, f = equivalence(comp, r.margin) else h, f = directional(comp, r.margin) end
      holds[#holds + 1], refutes[#refutes + 1] = h, f
      r.effects[#r.effects + 1] = comp
      kinds[comp.kind] = true
      r.n = math.min(r.n or math.huge, comp.n)
    end
  end
  r.kinds = kinds
  -- hold (effect <= 0) and refute (effect >= margin) exclude each other
  -- when the margin is positive; equivalence nulls touch at the margin
  if c.kind ~= "all_of" then r.disjoint = c.kind ~= "equivalent" and r.margin > 0 end
  if #holds == 1 then r.hold, r.refute = holds[1], refutes[1] else r.hold, r.refute = combine(holds, refutes) end
  return r
end

local function test_name(r, test)
  local names = {}
  for k in pairs(r.kinds) do
    local sf = test == "signflip" and k ~= "welch"
    names[#names + 1] = k .. (sf and " sign-flip" or " t")
  end
  table.sort(names)
  return table.concat(names, ", ")
end

-- The ranges of the decision settings, shared by the options of
-- pb.verdict.decide / sequential and a study's check_settings:
-- {low, high, low included}.
local RANGE = { alpha = { 0, 0.5 }, level = { 0, 1 }, power = { 0, 1 }, futility = { 0, 1, true } }

-- "in (lo, hi)" when v is not a number in setting k's range, else nil.
local function out_of_range(k, v)
  local r = RANGE[k]
  if type(v) == "number" and (v > r[1] or r[3] and v == r[1]) and v < r[2] then return nil end
  return string.format("in %s%g, %g)", r[3] and "[" or "(", r[1], r[2])
end

local function check_opts(opts)
  opts = opts or {}
  local o = { alpha = opts.alpha or 0.05, test = opts.test or "t", level = opts.level or 0.95,
              power = opts.power or 0.8, signflip = opts.signflip ~= false,
              adjust = opts.adjust or "holm" }
  for _, k in ipairs { "alpha", "level", "power" } do
    local want = out_of_range(k, o[k])
    if want then error(string.format("verdict: %s must be %s, got %s", k, want, tostring(o[k])), 0) end
  end
  if o.test ~= "t" and o.test ~= "signflip" then
    error("verdict: test must be \"t\" or \"signflip\", got " .. tostring(o.test), 0)
  end
  if o.test == "signflip" and not o.signflip then error("verdict: test = \"signflip\" needs signflip p-values", 0) end
  if o.adjust ~= "holm" and o.adjust ~= "none" then
    error("verdict: adjust must be \"holm\" or \"none\", got " .. tostring(o.adjust), 0)
  end
  return o
end

-- Evaluates every claim; ids must be unique.
local function evaluate_all(claims, o)
  if type(claims) ~= "table" then error("verdict: claims must be an array of claims", 0) end
  local results, seen = {}, {}
  for i, c in ipairs(claims) do
    local r = evaluate(c, o)
    if seen[r.id] then fail(c, "duplicate id (claims %d and %d)", seen[r.id], i) end
    seen[r.id] = i
    results[i] = r
    if r.hold then
      r.test = test_name(r, o.test)
      if o.test == "signflip" and r.hold.sf == nil then  -- an unpaired part: t for the whole claim
        r.test = test_name(r, "t") .. " (no sign-flip p for unpaired parts)"
      end
      for _, h in ipairs { r.hold, r.refute } do
        h.p = (o.test == "signflip" and h.sf) or h.t
      end
    end
  end
  return results
end

-- The family: both hypotheses of every testable claim.
local function family(results)
  local hyps = {}
  for _, r in ipairs(results) do
    if r.hold then hyps[#hyps + 1], hyps[#hyps + 2] = r.hold, r.refute end
  end
  return hyps
end

local function what_would_decide(r, o, m)
  local a, level = o.alpha / m, string.format("alpha/%d", m)
  -- In a sequential sweep the level is what alpha spending leaves the last
  -- look, below alpha/m: at alpha/m a claim pending at look 1 was told it
  -- needed fewer seeds than it had.
  if o.looks then
    a = verdict.boundaries(o.looks, { alpha = a, spending = o.spending }).nominal[#o.looks]
    level = string.format("%.2g, alpha/%d at the last look", a, m)
  end
  local nh, nr = r.hold.need(a, o.power), r.refute.need(a, o.power)
  r.would_decide = { hold = nh, refute = nr, alpha = a, power = o.power }
  local parts = {}
  local function seeds(n) return n >= MANY_SEEDS and "over a million seeds" or string.format("about %d seeds", n) end
  if nh then parts[#parts + 1] = seeds(nh) .. " to reproduce" end
  if nr then parts[#parts + 1] = seeds(nr) .. " to refute" end
  r.would_decide.text = #parts > 0 and table.concat(parts, "; ") ..
    string.format(" at the observed effect (power %g at %s)", o.power, level)
    or "no number of seeds: the observed effect lies on the null boundary"
end

local function set_verdict(r, o, m)
  if r.hold.rejected then
    r.verdict = "reproduced"
    if r.refute.rejected then r.note = "the effect is also shown to be below the margin" end
  elseif r.refute.rejected then
    r.verdict = "not reproduced"
  else
    r.verdict = "inconclusive"
    what_would_decide(r, o, m)
  end
end

function verdict.decide(claims, opts)
  local o = check_opts(opts)
  local results = evaluate_all(claims, o)
  local hyps = family(results)
  if #hyps > 0 then
    local ps = {}
    for i, h in ipairs(hyps) do ps[i] = h.p end
    -- A claim's two hypotheses cannot both be true when its margin is
    -- positive (effect <= 0 and effect >= margin): Shaffer's refinement.
    local group, cap = {}, {}
    for _, r in ipairs(results) do
      if r.hold then
        group[#group + 1], group[#group + 2] = r.id, r.id
        cap[r.id] = r.disjoint and 1 or 2
      end
    end
    local adj = stats.holm_shaffer(ps, group, cap)
    for i, h in ipairs(hyps) do
      h.holm = adj[i]
      h.rejected = (o.adjust == "holm" and adj[i] or h.p) <= o.alpha
    end
  end
  for _, r in ipairs(results) do
    if r.hold then set_verdict(r, o, #hyps) end
    r.family = #hyps
  end
  return results
end


-- Group-sequential seeds ----------------------------------------------------

-- Cumulative one-sided alpha spent at information fraction t (Lan-DeMets).
local function spent_at(t, alpha, spending)
  if spending == "obf" then
    return 2 * stats.normal_cdf(-stats.normal_quantile(1 - alpha / 2) / math.sqrt(t))
  end
  return alpha * math.log(1 + (math.exp(1) - 1) * t)
end

local GRID_LOW, GRID_STEP = -8.0, 0.05

-- Grid points on [GRID_LOW, hi] with trapezoid weights.
local function grid(hi)
  local n = math.max(2, math.ceil((hi - GRID_LOW) / GRID_STEP))
  local h = (hi - GRID_LOW) / n
  local z, w = {}, {}
  for i = 0, n do
    z[i + 1], w[i + 1] = GRID_LOW + i * h, (i == 0 or i == n) and 0.5 * h or h
  end
  return z, w
end

local function check_looks(looks)
  if type(looks) ~= "table" or #looks == 0 then error("verdict: looks must be an array of seed counts", 0) end
  for i, n in ipairs(looks) do
    if math.type(n) ~= "integer" or n < 2 or (i > 1 and n <= looks[i - 1]) then
      error("verdict: looks must be increasing integers >= 2, got " .. tostring(n) .. " at " .. i, 0)
    end
  end
end

local boundary_cache = {}

-- z_k by recursive numerical integration of the continuation sub-density
-- of Z_k = W(t_k) / sqrt(t_k) under the null (one-sided upper boundaries).
function verdict.boundaries(looks, opts)
  check_looks(looks)
  local alpha, spending = opts and opts.alpha or 0.05, opts and opts.spending or "obf"
  if not SPENDING[spending] then error("verdict: spending must be \"obf\" or \"pocock\", got " .. tostring(spending), 0) end
  if not (alpha > 0 and alpha < 0.5) then error("verdict: alpha must be in (0, 0.5)", 0) end
  local key = table.concat(looks, ",") .. "|" .. string.format("%.17g", alpha) .. "|" .. spending
  if boundary_cache[key] then return boundary_cache[key] end
  local K, b = #looks, { t = {}, spent = {}, z = {}, nominal = {}, alpha = alpha, spending = spending }
  local zs, mass  -- continuation region of the previous look
  for k = 1, K do
    local t = looks[k] / looks[K]
    b.t[k], b.spent[k] = t, spent_at(t, alpha, spending)
    local inc = b.spent[k] - (b.spent[k - 1] or 0)
    local c
    if k == 1 then
      c = -stats.normal_quantile(inc)
    else
      local tp = b.t[k - 1]
      local sp, st, sd = math.sqrt(tp), math.sqrt(t), math.sqrt(t - tp)
      local function cross(x)
        local s = 0.0
        for i = 1, #zs do s = s + mass[i] * stats.normal_cdf((zs[i] * sp - x * st) / sd) end
        return s
      end
      local lo, hi = -10.0, 20.0
      for _ = 1, 60 do
        local mid = 0.5 * (lo + hi)
        if cross(mid) > inc then lo = mid else hi = mid end
      end
      c = 0.5 * (lo + hi)
    end
    b.z[k], b.nominal[k] = c, stats.normal_cdf(-c)
    if k < K then
      local ys, w = grid(c)
      local new = {}
      for j = 1, #ys do
        if k == 1 then
          new[j] = w[j] * math.exp(-0.5 * ys[j] ^ 2) / math.sqrt(2 * math.pi)
        else
          local tp, s = b.t[k - 1], 0.0
          local sp, st, sd = math.sqrt(tp), math.sqrt(t), math.sqrt(t - tp)
          for i = 1, #zs do
            local u = (ys[j] * st - zs[i] * sp) / sd
            s = s + mass[i] * math.exp(-0.5 * u * u)
          end
          new[j] = w[j] * s * st / (sd * math.sqrt(2 * math.pi))
        end
      end
      zs, mass = ys, new
    end
  end
  boundary_cache[key] = b
  return b
end

-- Conditional power of a hypothesis under the current trend: the final
-- boundary zK is reached from z at information fraction t.
local function conditional_power(p, t, zK)
  local z = -stats.normal_quantile(math.min(math.max(p, 1e-300), 1 - 1e-16))
  return stats.normal_cdf(-(zK - z / math.sqrt(t)) / math.sqrt(1 - t))
end

local function sequential_opts(opts)
  local o = check_opts(opts)
  o.looks = opts.looks or { 5, 10, 20 }
  check_looks(o.looks)
  o.look = opts.look
  if math.type(o.look) ~= "integer" or o.look < 1 or o.look > #o.looks then
    error("verdict.sequential: look must be an integer in 1.." .. #o.looks .. ", got " .. tostring(o.look), 0)
  end
  o.spending = opts.spending or "obf"
  o.futility = opts.futility == nil and 0.1 or opts.futility
  local want = o.futility and out_of_range("futility", o.futility)  -- false: no futility stop
  if want then error(string.format("verdict.sequential: futility must be %s or false, got %s", want,
    tostring(o.futility)), 0) end
  o.state = opts.state or { look = 0, rejected = 0, stopped = {}, testable = 0 }
  if o.state.look ~= o.look - 1 then
    error(string.format("verdict.sequential: look %d follows look %d, but the state is from look %d",
      o.look, o.look - 1, o.state.look), 0)
  end
  o.limit = o.looks[o.look]
  return o
end

-- Holm step-down at this look: the hypotheses rejected at earlier looks
-- take the first steps; step r faces the look's nominal alpha for a total
-- of alpha / (m - r + 1).
local function sequential_step_down(hyps, o, m, rejected_before)
  table.sort(hyps, function(x, y) return x.p < y.p end)
  local r = rejected_before
  for _, h in ipairs(hyps) do
    r = r + 1
    local b = verdict.boundaries(o.looks, { alpha = o.alpha / (m - r + 1), spending = o.spending })
    h.threshold = b.nominal[o.look]
    if h.p > h.threshold then break end
    h.rejected = true
  end
end

-- A claim's last look: the study's last, or the last within the claim's
-- own cap on seeds (c.max_seeds: a study may spare a costly claim the
-- later looks). Stopping a claim early never spends more alpha, so the
-- study's boundaries still hold for it.
local function last_look(c, looks)
  local cap = c.max_seeds
  if cap == nil then return #looks end
  if math.type(cap) ~= "integer" or cap < looks[1] then
    fail(c, "max_seeds must be a whole number >= the first look's %d seeds, got %s", looks[1], tostring(cap))
  end
  local K = 1
  while K < #looks and looks[K + 1] <= cap do K = K + 1 end
  return K
end

local function sequential_status(r, o, m, rejected)
  local K = last_look(r.claim, o.looks)
  if r.hold.rejected or r.refute.rejected then
    set_verdict(r, o, m)
    return "decided"
  end
  set_verdict(r, o, m)
  if o.look >= K then
    if K < #o.looks then r.note = string.format("its seeds are capped at %d", r.claim.max_seeds) end
    return "final"
  end
  local zK = verdict.boundaries(o.looks, { alpha = o.alpha / math.max(1, m - rejected),
    spending = o.spending }).z[K]
  local t = o.looks[o.look] / o.looks[K]
  r.conditional_power = math.max(conditional_power(r.hold.p, t, zK), conditional_power(r.refute.p, t, zK))
  -- Futility reads the trend, and a trend from fewer seeds than the first
  -- look's (seeds left out as not learned) is no guide: such a claim
  -- takes the next look's seeds first.
  if o.futility and r.conditional_power < o.futility and (r.n or 0) >= o.looks[1] then return "futile" end
  r.would_decide = nil  -- pending: the next look adds the seeds
  return "more"
end

function verdict.sequential(claims, opts)
  local o = sequential_opts(opts or {})
  local state, active, idx = o.state, {}, {}
  for i, c in ipairs(claims) do
    if type(c) ~= "table" then error("verdict: each claim must be a table", 0) end
    if not state.stopped[c.id] then active[#active + 1], idx[#active + 1] = c, i end
  end
  local results = evaluate_all(active, o)
  local hyps, m = family(results), 2 * state.testable
  m = m + #hyps
  sequential_step_down(hyps, o, m, state.rejected)
  local new = { look = o.look, rejected = state.rejected, stopped = {}, testable = state.testable }
  for id, s in pairs(state.stopped) do new.stopped[id] = s end
  local out = { decided = {}, futile = {}, more = {}, final = {}, not_testable = {}, results = {},
                next_n = o.looks[o.look + 1] }
  for _, c in ipairs(claims) do if state.stopped[c.id] then out.results[#out.results + 1] = state.stopped[c.id] end end
  for _, r in ipairs(results) do
    r.stage, r.limit, r.family = o.look, o.limit, m
    if r.hold then
      for _, h in ipairs { r.hold, r.refute } do if h.rejected then new.rejected = new.rejected + 1 end end
    end
    r.status = r.hold and sequential_status(r, o, m, new.rejected) or "not testable"
    if r.status ~= "more" then
      new.stopped[r.id] = r
      if r.hold then new.testable = new.testable + 1 end
    end
    local list = out[r.status == "not testable" and "not_testable" or r.status]
    list[#list + 1] = r.id
    out.results[#out.results + 1] = r
  end
  local order = {}
  for i, c in ipairs(claims) do order[c.id] = i end
  table.sort(out.results, function(x, y) return order[x.id] < order[y.id] end)
  out.state = new
  return out
end

function verdict.replay(tests_at, opts)
  local o, state = {}, nil
  for k, v in pairs(opts) do o[k] = v end
  for j = 1, opts.look - 1 do
    o.look, o.state = j, state
    state = verdict.sequential(tests_at(j), o).state
  end
  o.look, o.state = opts.look, state
  return verdict.sequential(tests_at(opts.look), o)
end

-- Report helpers --------------------------------------------------------------

local function g(x) return x == nil and "-" or string.format("%.3g", x) end

local function effect_text(r)
  local parts = {}
  for _, e in ipairs(r.effects) do
    local s = string.format("%s: %s [%s, %s]", e.label, g(e.mean), g(e.lo), g(e.hi))
    if e.best then s = s .. ", best-of " .. g(e.best) end
    parts[#parts + 1] = s
  end
  return table.concat(parts, "; ")
end

local function per_seed_text(r)
  local parts = {}
  for _, e in ipairs(r.effects) do
    local s = e.kind == "welch" and string.format("n=%d+%d", #e.xs, #e.ys)
      or string.format("n=%d, %s..%s", e.n, g(e.min), g(e.max))
    if e.dropped and #e.dropped > 0 then s = s .. " (dropped seeds " .. table.concat(e.dropped, ",") .. ")" end
    parts[#parts + 1] = s
  end
  return table.concat(parts, "; ")
end

local function verdict_text(r)
  local v = r.verdict
  if r.status == "more" then v = "pending (more seeds)" end
  if r.status == "futile" then v = string.format("inconclusive (futile: conditional power %.2g)", r.conditional_power) end
  if r.reason then v = v .. ": " .. r.reason end
  if r.would_need then v = v .. "; would need " .. tostring(r.would_need) end
  if r.note then v = v .. " (" .. r.note .. ")" end
  if r.would_decide then v = v .. "; " .. r.would_decide.text end
  return v
end

--- One line of a claim's test for its evidence text: "paired t; effect
--- ...; p (reproduce / refute) ...; Holm ...; <verdict and what would
--- decide it>". result: one of decide's results; row: its verdict.rows row.
function verdict.test_text(result, row)
  return string.format("%s; effect %s; p (reproduce / refute) %s; Holm %s; %s", result.test or "-",
    row["effect [interval]"] or "-", row["p hold / refute"] or "-", row["Holm p"] or "-", row.verdict)
end

-- The mark rep:claim shows for each verdict.
verdict.report_mark = { reproduced = "confirmed", ["not reproduced"] = "contradicted",
                        inconclusive = "inconclusive", ["not testable"] = "untestable" }

verdict.columns = { "claim", "test", "per seed", "effect [interval]", "p hold / refute",
                    "Holm p", "stage", "verdict" }

function verdict.rows(results)
  local rows = {}
  for i, r in ipairs(results) do
    local row = {}
    for _, c in ipairs(verdict.columns) do row[c] = "-" end
    row.claim, row.test, row.verdict = tostring(r.id), r.test or "-", verdict_text(r)
    if r.stage then row.stage = string.format("look %d (n <= %d)", r.stage, r.limit) end
    if r.hold then
      row["per seed"] = per_seed_text(r)
      row["effect [interval]"] = effect_text(r)
      row["p hold / refute"] = g(r.hold.p) .. " / " .. g(r.refute.p)
      if r.hold.sf and r.test:find("t$") then
        row["p hold / refute"] = row["p hold / refute"] .. string.format(" (sign-flip %s / %s)", g(r.hold.sf), g(r.refute.sf))
      end
      row["Holm p"] = r.hold.holm and (g(r.hold.holm) .. " / " .. g(r.refute.holm))
        or string.format("thr %s / %s", g(r.hold.threshold), g(r.refute.threshold))
    end
    rows[i] = row
  end
  return rows, verdict.columns
end

--- A study's decision settings, those of them it has: a bad one is an
--- error naming the study and the setting before any run, not at collect.
function verdict.check_settings(name, cfg)
  local function bad(k, want)
    error(string.format("%s: %s=%s must be %s", name, k, tostring(cfg[k]), want), 0)
  end
  for _, k in ipairs { "alpha", "level", "power", "futility" } do
    local want = cfg[k] ~= nil and out_of_range(k, cfg[k])
    if want then bad(k, want) end
  end
  if cfg.spending ~= nil and not SPENDING[cfg.spending] then bad("spending", "obf or pocock") end
  for k, v in pairs(cfg) do
    if type(k) == "string" and k:match("_margin$") and not (type(v) == "number" and v >= 0 and v < math.huge) then
      bad(k, "a finite number >= 0")
    end
  end
  return cfg
end

function verdict.rules_text(opts)
  local alpha = opts and opts.alpha or 0.05
  return string.format(
    "Each claim is tested twice on per-seed values paired by seed: \"reproduced\" when the " ..
    "hypothesis that the claim is false (effect <= 0) is rejected, \"not reproduced\" when the " ..
    "hypothesis that it holds by at least its margin is rejected, \"inconclusive\" otherwise. " ..
    "Both hypotheses of every testable claim form one family, adjusted by Holm (with Shaffer's " ..
    "refinement: a claim with a positive margin cannot have both true) at alpha = %g " ..
    "(familywise error rate <= %g). A claim against several baselines must beat each one " ..
    "(intersection-union: its p is the largest). Equivalence claims (\"flat\", \"at chance\") use two " ..
    "one-sided tests against a margin declared before the run. Decisions use the paired t-test; the " ..
    "exact sign-flip p is shown beside it. Claims whose premise is not met at this scale are " ..
    "\"not testable\" and stay outside the family.", alpha, alpha)
end

return verdict
