-- Tests of the statistics (pb.stats tests and distributions) and of the
-- verdict machinery (pb.verdict), with simulations of its error rates.
-- Run: build/posbench run tests/lua/test_verdict.lua
local core = require "posbench.core"
local stats, verdict = pb.stats, pb.verdict

local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with
local function close(a, b, tol, msg)
  check(type(a) == "number" and math.abs(a - b) <= tol * math.max(1, math.abs(b)),
    string.format("%s: got %s, expected %s", msg, tostring(a), tostring(b)), 3)
end
local started = os.clock()

-- Distributions -------------------------------------------------------------
for _, df in ipairs { 1, 2, 4, 7.5, 30, 1000 } do
  for _, p in ipairs { 1e-6, 0.01, 0.3, 0.5, 0.9, 0.975, 0.999999 } do
    local c = stats.t_cdf(core.t_quantile(p, df), df)
    local rel = p < 0.5 and c / p - 1 or (1 - c) / (1 - p) - 1
    check(math.abs(rel) < 1e-7, string.format("t_cdf(t_quantile(%g, %g)) round trip: relative error %g", p, df, rel))
  end
end
for _, t in ipairs { -30, -3, -0.5, 0, 1.2, 8 } do
  close(stats.t_cdf(t, 1), 0.5 + math.atan(t) / math.pi, 1e-13, "t_cdf, df 1 (Cauchy) at " .. t)
  close(stats.t_cdf(t, 2), 0.5 + t / (2 * math.sqrt(t * t + 2)), 1e-13, "t_cdf, df 2 closed form at " .. t)
end
check(stats.t_cdf(-40, 3) > 0 and stats.t_cdf(-40, 3) < 1e-4, "small t tail is not lost to rounding")
check(stats.t_cdf(math.huge, 3) == 1 and stats.t_cdf(-math.huge, 3) == 0, "t_cdf at +-inf")
close(stats.normal_cdf(1.959963984540054), 0.975, 1e-14, "Phi(z_0.975)")
close(stats.normal_cdf(-5) / 2.866515718791939e-07, 1, 1e-12, "Phi(-5) (relative)")
close(stats.normal_cdf(0), 0.5, 1e-15, "Phi(0)")
for _, p in ipairs { 1e-12, 1e-5, 0.02, 0.3, 0.5, 0.8, 0.975, 1 - 1e-9 } do
  local z = stats.normal_quantile(p)
  close(stats.normal_cdf(z) / p, 1, 1e-12, "normal_quantile round trip at " .. p)
end
close(stats.normal_quantile(0.975), 1.959963984540054, 1e-13, "z_0.975")
close(stats.normal_quantile(0.05), -1.6448536269514722, 1e-13, "z_0.05")
errors_with("probability", stats.normal_quantile, 1.5)
close(stats.beta_inc(1, 1, 0.3), 0.3, 1e-14, "I_x(1, 1) = x")
close(stats.beta_inc(3, 1, 0.4), 0.4 ^ 3, 1e-13, "I_x(a, 1) = x^a")
close(stats.beta_inc(2.5, 2.5, 0.5), 0.5, 1e-13, "I_0.5(a, a) = 1/2")
close(stats.log_gamma(5), math.log(24), 1e-13, "log Gamma(5)")
close(stats.log_gamma(0.5), 0.5 * math.log(math.pi), 1e-13, "log Gamma(1/2)")

local g1, g2 = stats.rng(7), stats.rng(7)
local same, sum, sum2, in_range = true, 0, 0, true
for _ = 1, 20000 do
  local u = g1.uniform()
  same = same and u == g2.uniform()
  in_range = in_range and u >= 0 and u < 1
end
for _ = 1, 20000 do
  local z = g1.normal()
  sum, sum2 = sum + z, sum2 + z * z
end
check(same and in_range, "rng: the same seed gives the same uniforms in [0, 1)")
check(math.abs(sum / 20000) < 0.03 and math.abs(sum2 / 20000 - 1) < 0.04,
  string.format("rng normals: mean %.4f, variance %.4f", sum / 20000, sum2 / 20000))
check(stats.rng(8).uniform() ~= stats.rng(7).uniform(), "rng: different seeds differ")
errors_with("integer", stats.rng, 1.5)

-- Tests -----------------------------------------------------------------------
local r = stats.paired({ 1, 2, 3, 4, 5 }, { 0, 0, 0, 0, 0 })
close(r.t, 4.242640687119285, 1e-12, "paired t")
close(r.p, 0.013235599563683, 1e-9, "paired two-sided p (scipy ttest_rel)")
close(r.lo, 3 - 2.776445105 * math.sqrt(0.5), 1e-8, "paired interval lo")
close(r.hi, 3 + 2.776445105 * math.sqrt(0.5), 1e-8, "paired interval hi")
check(r.df == 4 and r.n == 5 and r.test == "paired" and r.diffs[5] == 5, "paired fields")
close(r.p_signflip, 2 / 32, 1e-15, "sign-flip, n = 5 all positive: smallest two-sided p 2/32")
r = stats.paired({ 1, 2, 3, 4, 5 }, { 0, 0, 0, 0, 0 }, { alternative = "greater" })
close(r.p, 0.013235599563683 / 2, 1e-9, "paired one-sided p")
check(r.hi == math.huge and r.lo > 0, "one-sided interval is one-sided")
close(r.p_signflip, 1 / 32, 1e-15, "sign-flip one-sided 1/32")
close(stats.paired({ 1, 2, 3, 4, 5 }, { 0, 0, 0, 0, 0 }, { alternative = "less" }).p,
  1 - 0.013235599563683 / 2, 1e-9, "paired p, other side")
close(stats.signflip_p({ 1, -2, 3, 4, 5 }), 6 / 32, 1e-15, "sign-flip p: 3 patterns per side of 32")
close(stats.signflip_p({ 1, 2, 3, 4, 5, 6 }), 2 / 64, 1e-15, "sign-flip n = 6: 2/64")
-- against brute-force enumeration
local gen = stats.rng(3)
for trial = 1, 5 do
  local n, d = 7 + trial, {}
  for i = 1, n do d[i] = gen.normal() + 0.3 end
  local obs = 0
  for i = 1, n do obs = obs + d[i] end
  local ge, abs_ge = 0, 0
  for mask = 0, (1 << n) - 1 do
    local s = 0
    for i = 1, n do s = s + (((mask >> (i - 1)) & 1 == 1) and -d[i] or d[i]) end
    if s >= obs - 1e-12 then ge = ge + 1 end
    if math.abs(s) >= math.abs(obs) - 1e-12 then abs_ge = abs_ge + 1 end
  end
  close(stats.signflip_p(d, 0, "greater"), ge / (1 << n), 1e-15, "sign-flip (greater) = brute force, n = " .. n)
  close(stats.signflip_p(d, 0), abs_ge / (1 << n), 1e-15, "sign-flip (two-sided) = brute force, n = " .. n)
end
local ones = {}
for i = 1, 31 do ones[i] = 1 end
close(stats.signflip_p(ones, 0, "greater"), 1 / 20001, 1e-12, "sign-flip Monte Carlo above n = 30")
r = stats.paired({ 2, 2, 2 }, { 1, 1, 1 })
check(r.t == math.huge and r.p == 0, "sd 0, mean > 0: t = inf, p = 0")
check(stats.paired({ 2, 2, 2 }, { 1, 1, 1 }, { alternative = "less" }).p == 1, "sd 0: p 1 the other way")
r = stats.paired({ 1, 1, 1 }, { 1, 1, 1 })
check(r.t ~= r.t and r.p == 1, "sd 0, mean 0: t NaN, p = 1")
errors_with({ "pair 2", "b[2] = nil" }, stats.paired, { 1, 2, 3 }, { 1, nil, 3 })
errors_with("at least 2", stats.paired, { 1 }, { 2 })
errors_with("alternative", stats.paired, { 1, 2 }, { 2, 3 }, { alternative = "bigger" })
r = stats.one_sample({ 1, 2, 3, 4, 5 }, 2, { alternative = "greater" })
close(r.t, 1 / math.sqrt(0.5), 1e-12, "one-sample t against mu = 2")
check(r.test == "one-sample", "one-sample test name")
r = stats.welch({ 1, 2, 3, 4 }, { 2, 4, 6, 8, 10, 12 })
-- by hand: va = 1.6667 / 4, vb = 14 / 6, df = (va + vb)^2 / (va^2 / 3 + vb^2 / 5)
local va, vb = (5 / 3) / 4, 14 / 6
close(r.df, (va + vb) ^ 2 / (va * va / 3 + vb * vb / 5), 1e-12, "Welch-Satterthwaite df")
close(r.df, 6.5946709729511, 1e-10, "Welch df value")
close(r.t, -4.5 / math.sqrt(va + vb), 1e-12, "Welch t")
close(r.p, 2 * stats.t_cdf(r.t, r.df), 1e-12, "Welch p")
check(r.p_signflip == nil and r.test == "welch", "no sign-flip p for an unpaired test")
close(r.sd, math.sqrt(5 / 3 + 14), 1e-12, "Welch sd: of one draw of a minus one of b")
local adj = stats.holm { 0.01, 0.04, 0.03, 0.005 }
check(adj[1] == 0.03 and adj[2] == 0.06 and adj[3] == 0.06 and adj[4] == 0.02,
  "Holm: textbook example (0.01, 0.04, 0.03, 0.005) -> (0.03, 0.06, 0.06, 0.02)")
adj = stats.holm { 0.5, 0.9, 0.01 }
check(adj[1] == 1 and adj[2] == 1 and adj[3] == 0.03, "Holm: capped at 1, monotone")
errors_with("ps[2]", stats.holm, { 0.1, 0 / 0 })
-- Shaffer's refinement: pairs of which at most one can be true divide by
-- the number of pairs still possibly true; caps >= the group size give Holm.
local sp = { 0.01, 0.04, 0.03, 0.005 }
local same = stats.holm_shaffer(sp, { "a", "a", "b", "b" }, { a = 2, b = 2 })
check(same[1] == 0.03 and same[2] == 0.06 and same[3] == 0.06 and same[4] == 0.02, "Holm-Shaffer with caps = sizes is Holm")
local sh = stats.holm_shaffer(sp, { "a", "a", "b", "b" }, { a = 1, b = 1 })
-- order 0.005 (b), 0.01 (a), 0.03 (b), 0.04 (a): divisors 2, 2, 2 (a and b each still have one), then 1
close(sh[4], 0.01, 1e-15, "Shaffer step 1: 2 x 0.005")
close(sh[1], 0.02, 1e-15, "Shaffer step 2: 2 x 0.01")
close(sh[3], 0.06, 1e-15, "Shaffer step 3: 2 x 0.03 (b's pair: one rejected, the other still possible)")
close(sh[2], 0.06, 1e-15, "Shaffer step 4: max(0.06, 1 x 0.04), monotone")
errors_with("no group", stats.holm_shaffer, { 0.1 }, { "a" }, {})
local x = { 0.1, -0.1, 0.05, -0.05, 0 }
r = stats.tost(x, { low = -0.2, high = 0.2 })
local se = math.sqrt(0.025 / 4 / 5)
close(r.p_low, stats.t_cdf(-0.2 / se, 4), 1e-12, "TOST lower test")
close(r.p, r.p_high, 1e-12, "TOST p is the max (symmetric here)")
close(r.hi, core.t_quantile(0.95, 4) * se, 1e-12, "TOST 90% interval")
check(r.equivalent and r.level == 0.9, "TOST: equivalent inside (-0.2, 0.2)")
check(not stats.tost(x, { low = -0.05, high = 0.05 }).equivalent, "TOST: not equivalent in a narrow band")
errors_with("low < high", stats.tost, x, { low = 1, high = 0 })
local s = stats.bounded_interval({ 1, 1, 0.98, 1, 0.99 }, { lower = 0, upper = 1 })
check(s.hi == 1 and s.lo < s.mean and s.lo > 0.97, "bounded interval is clipped to the range")
check(stats.summary({ 1, 1, 0.98, 1, 0.99 }).hi > 1, "the plain t interval leaves [0, 1]")
errors_with("values[2]", stats.bounded_interval, { 0.5, 1.5 })
check(stats.summary({ 0.1, 0.2, 0.05 }, { bounds = { 0, 1 } }).lo == 0, "summary bounds option")

-- Verdicts: units -------------------------------------------------------------
local A = { 0.9, 0.92, 0.91, 0.93, 0.95 }
local claims = {
  { id = "each", kind = "beats_each", a = A, bs = { t5 = { 0.8, 0.81, 0.79, 0.85, 0.82 },
    rope = { 0.85, 0.86, 0.84, nil, 0.87 } }, best_of = true },
  { id = "flat", kind = "equivalent", x = { 0.5, 0.51, 0.49, 0.5, 0.5 }, reference = 0.5, margin = 0.05 },
  { id = "small", kind = "greater", x = { 0.1, -0.2, 0.3, 0.0, 0.1 }, margin = 0.5 },
  { id = "big", kind = "greater", premise = { ok = false, reason = "model too small", would_need = "d = 256" } },
}
local res = verdict.decide(claims)
check(res[1].verdict == "reproduced" and res[2].verdict == "reproduced" and res[3].verdict == "not reproduced",
  "verdicts of clear claims: " .. res[1].verdict .. ", " .. res[2].verdict .. ", " .. res[3].verdict)
check(res[4].verdict == "not testable" and res[4].reason:find("model too small", 1, true)
  and res[4].would_need == "d = 256", "a failed premise makes the claim not testable")
check(res[1].family == 6, "the family: both hypotheses of the 3 testable claims")
local rope = res[1].effects[1]
check(rope.label == "A - rope" and rope.n == 4 and rope.dropped[1] == 4 and #rope.dropped == 1,
  "a seed missing from one series is dropped and reported")
close(rope.best, 0.95 - 0.87, 1e-12, "best-of effect beside the mean")
local p_rope = stats.paired({ 0.9, 0.92, 0.91, 0.95 }, { 0.85, 0.86, 0.84, 0.87 }, { alternative = "greater" }).p
local p_t5 = stats.paired(A, claims[1].bs.t5, { alternative = "greater" }).p
close(res[1].hold.p, math.max(p_rope, p_t5), 1e-12, "beats_each holds with the largest component p")
local r_rope = stats.paired({ 0.9, 0.92, 0.91, 0.95 }, { 0.85, 0.86, 0.84, 0.87 }, { alternative = "less" }).p
local r_t5 = stats.paired(A, claims[1].bs.t5, { alternative = "less" }).p
close(res[1].refute.p, math.min(1, 2 * math.min(r_rope, r_t5)), 1e-12, "beats_each refuted by Bonferroni")
local ps = {}
for _, rr in ipairs { res[1], res[2], res[3] } do ps[#ps + 1], ps[#ps + 2] = rr.hold.p, rr.refute.p end
-- a claim with a positive margin (small) cannot have both hypotheses
-- true; one with margin 0 (each) or an equivalence (flat) can, on the boundary
close(res[3].refute.holm, stats.holm_shaffer(ps, { 1, 1, 2, 2, 3, 3 }, { 2, 2, 1 })[6], 1e-15,
  "Holm with Shaffer's refinement over the whole family")
local lower = verdict.decide { { id = "loss", kind = "beats_each", lower_is_better = true,
  a = { 1.0, 1.1, 0.9, 1.0 }, bs = { b = { 2.0, 2.2, 1.9, 2.1 } } } }
check(lower[1].verdict == "reproduced" and lower[1].effects[1].mean > 0, "lower_is_better flips the sign")
local eq = verdict.decide { { id = "off", kind = "equivalent", x = { 0.9, 1.0, 1.1, 1.0, 0.95, 1.05 },
  reference = 0, margin = 0.2 } }
check(eq[1].verdict == "not reproduced", "equivalence refuted outside the band")
local sf = verdict.decide({ { id = "sf", kind = "greater", x = { 5, 6, 7, 5, 6 } } }, { test = "signflip" })
close(sf[1].hold.p, 1 / 32, 1e-15, "signflip decisions use the sign-flip p")
check(sf[1].test == "one-sample sign-flip", "the test used is named: " .. sf[1].test)
-- with n = 5 the sign-flip p cannot pass a Holm threshold over 40 hypotheses
local many = {}
for i = 1, 20 do many[i] = { id = "m" .. i, kind = "greater", x = { 5, 6, 7, 5, 6 } } end
check(verdict.decide(many, { test = "signflip" })[1].verdict == "inconclusive"
  and verdict.decide(many)[1].verdict == "reproduced", "n = 5: sign-flip cannot pass Holm over 40, t can")
local weak = verdict.decide { { id = "w", kind = "greater", x = { 0.3, -0.5, 1.2, 0.4, 0.6 } } }
check(weak[1].verdict == "inconclusive" and weak[1].would_decide.hold >= 5
  and weak[1].would_decide.refute == nil, "inconclusive: seeds that would decide it")
local un = verdict.decide { { id = "u", kind = "less", a = { 1, 2, 3, 4 }, b = { 3, 4, 5, 6, 7 }, paired = false } }
check(un[1].test == "welch t" and un[1].effects[1].kind == "welch", "paired = false uses Welch")
local mixed = verdict.decide({ { id = "mix", kind = "all_of", claims = {
  { id = "p", kind = "greater", x = { 1, 2, 3, 2, 1 } },
  { id = "w", kind = "greater", a = { 3, 4, 5 }, b = { 1, 2, 1 }, paired = false } } } }, { test = "signflip" })
check(mixed[1].test:find("no sign-flip", 1, true) and mixed[1].hold.p == mixed[1].hold.t,
  "signflip with an unpaired part decides by t and says so")
local nan = verdict.decide { { id = "n", kind = "greater", x = { 1, 0 / 0, 2 } } }
check(nan[1].verdict == "not testable" and nan[1].reason:find("seed 2", 1, true), "NaN seed: not testable")
local all = verdict.decide { { id = "all", kind = "all_of", claims = {
  { id = "s1", kind = "greater", x = { 1, 2, 3, 2, 1 } }, { id = "s2", kind = "less", x = { -1, -2, -3, -1, -1 } } } } }
check(all[1].verdict == "reproduced" and #all[1].effects == 2, "all_of: every sub-claim holds")
errors_with("kind 'wins'", verdict.decide, { { id = "k", kind = "wins" } })
errors_with("needs an id", verdict.decide, { { kind = "greater", x = { 1, 2 } } })
errors_with("duplicate id", verdict.decide, { { id = "d", kind = "greater", x = { 1, 2 } }, { id = "d", kind = "less", x = { 1, 2 } } })
errors_with("margin > 0", verdict.decide, { { id = "e", kind = "equivalent", x = { 1, 2 } } })
errors_with({ "claim 'v'", "seed 2" }, verdict.decide, { { id = "v", kind = "greater", x = { 1, "2" } } })
errors_with("test must be", verdict.decide, {}, { test = "z" })
errors_with("alpha must be in (0, 0.5), got 0.7", verdict.decide, {}, { alpha = 0.7 })
errors_with("level must be in (0, 1), got 1", verdict.decide, {}, { level = 1 })
errors_with("power must be in (0, 1), got 0", verdict.decide, {}, { power = 0 })
local rows, cols = verdict.rows(res)
check(#rows == 4 and #cols == 8, "one row per claim")
for _, row in ipairs(rows) do
  for _, c in ipairs(cols) do
    check(type(row[c]) == "string", "row column " .. c .. " is text")
  end
end
check(rows[1]["effect [interval]"]:find("best-of", 1, true) and rows[4].verdict:find("not testable", 1, true),
  "rows show the best-of statistic and the reason")
check(verdict.rules_text():find("Holm", 1, true) ~= nil, "rules text")

-- Boundaries: Lan-DeMets O'Brien-Fleming at t = 1/2, 1, one-sided 0.025: 2.963, 1.969
local b = verdict.boundaries({ 10, 20 }, { alpha = 0.025, spending = "obf" })
close(b.z[1], 2.963, 2e-3, "OBF boundary at t = 1/2")
close(b.z[2], 1.969, 2e-3, "OBF boundary at t = 1")
b = verdict.boundaries({ 5, 10, 20 }, { alpha = 0.05, spending = "pocock" })
check(b.nominal[1] < 0.05 and b.nominal[3] < 0.05 and math.abs(b.nominal[1] - b.nominal[2]) < 0.005,
  "Pocock-like: nearly equal nominal levels below alpha")
errors_with("spending", verdict.boundaries, { 5, 10 }, { spending = "linear" })
errors_with("looks", verdict.boundaries, { 10, 5 })

-- Simulations ---------------------------------------------------------------
local ALPHA = 0.05
local function series(g, n, mean)
  local v = {}
  for i = 1, n do v[i] = mean + g.normal() end
  return v
end
local function upper_tolerance(rate, reps) return rate + 3 * math.sqrt(rate * (1 - rate) / reps) end

-- A family of 19 claims over series with no differences. wrong(v) says
-- whether a verdict is false given the true effects.
local function null_family(g, n)
  local A, B, C, D, E = series(g, n, 0), series(g, n, 0), series(g, n, 0), series(g, n, 0), series(g, n, 0)
  local margin0 = function(v) return v == "reproduced" or v == "not reproduced" end  -- effect 0 = both boundaries
  local margined = function(v) return v == "reproduced" end                         -- effect 0 < margin
  local inside = function(v) return v == "not reproduced" end                       -- truly equivalent
  local outside = function(v) return v == "reproduced" end                          -- truly not equivalent
  return {
    { id = 1, kind = "beats_each", a = A, bs = { b = B, c = C, d = D }, wrong = margin0 },
    { id = 2, kind = "beats_each", a = A, bs = { b = B, c = C }, margin = 1, wrong = margined },
    { id = 3, kind = "beats_each", a = B, bs = { e = E }, lower_is_better = true, wrong = margin0 },
    { id = 4, kind = "greater", a = A, b = B, wrong = margin0 },
    { id = 5, kind = "less", a = C, b = D, wrong = margin0 },
    { id = 6, kind = "greater", x = A, wrong = margin0 },
    { id = 7, kind = "greater", x = B, margin = 0.5, wrong = margined },
    { id = 8, kind = "less", x = C, wrong = margin0 },
    { id = 9, kind = "less", x = E, reference = 0, margin = 2, wrong = margined },
    { id = 10, kind = "equivalent", a = A, b = B, margin = 1.5, wrong = inside },
    { id = 11, kind = "equivalent", x = D, reference = 3, margin = 1, wrong = outside },
    { id = 12, kind = "equivalent", x = E, margin = 1, wrong = inside },
    { id = 13, kind = "equivalent", a = C, b = E, reference = -2.5, margin = 1, wrong = outside },
    { id = 14, kind = "all_of", claims = { { id = "a", kind = "greater", a = A, b = B },
      { id = "b", kind = "less", a = C, b = D } }, wrong = margin0 },
    { id = 15, kind = "greater", a = A, b = C, paired = false, wrong = margin0 },
    { id = 16, kind = "less", a = D, b = E, paired = false, margin = 0.8, wrong = margined },
    { id = 17, kind = "greater", x = D, reference = -0.0, wrong = margin0 },
    { id = 18, kind = "beats_each", a = E, bs = { a = A, d = D }, margin = 0.3, wrong = margined },
    { id = 19, kind = "less", a = B, b = D, wrong = margin0 },
  }
end

local function any_wrong(claims_, results)
  for i, r in ipairs(results) do
    if claims_[i].wrong(r.verdict) then return true end
  end
  return false
end

local REPS = 2000
local wrong_holm, wrong_raw, correct = 0, 0, 0
local gen_null = stats.rng(20261206)
for _ = 1, REPS do
  local fam = null_family(gen_null, 5)
  local res_ = verdict.decide(fam, { signflip = false })
  if any_wrong(fam, res_) then wrong_holm = wrong_holm + 1 end
  -- the same p-values without adjustment (as adjust = "none" decides)
  local raw = {}
  for i, rr in ipairs(res_) do
    raw[i] = { verdict = rr.hold.p <= ALPHA and "reproduced" or rr.refute.p <= ALPHA and "not reproduced"
      or "inconclusive" }
    if rr.verdict ~= "inconclusive" and not fam[i].wrong(rr.verdict) then correct = correct + 1 end
  end
  if any_wrong(fam, raw) then wrong_raw = wrong_raw + 1 end
end
local same_raw = verdict.decide(null_family(stats.rng(1), 5), { adjust = "none" })
check(same_raw[1].hold.rejected == (same_raw[1].hold.p <= ALPHA), "adjust = \"none\" compares raw p with alpha")
local fwer, fwer_raw = wrong_holm / REPS, wrong_raw / REPS
print(string.format("null family (19 claims, 38 hypotheses, n = 5, %d replicates): FWER with Holm %.4f, " ..
  "without adjustment %.4f", REPS, fwer, fwer_raw))
check(fwer <= upper_tolerance(ALPHA, REPS), string.format("familywise error with Holm %.4f <= %.2f + tolerance", fwer, ALPHA))
check(fwer_raw > 0.15, string.format("the simulation detects a missing adjustment (raw FWER %.4f)", fwer_raw))
check(correct > 0, "correct verdicts occur too (equivalence and margin claims)")

-- Planted effect: one claim (2 hypotheses); reproduced iff the one-sided
-- p <= alpha/2, so the power is P(T'(n - 1, delta sqrt n) > t_{1-alpha/2}).
local function noncentral_t_power(delta, n, crit)
  local df, ncp = n - 1, delta * math.sqrt(n)
  -- P(Z + ncp > crit sqrt(V / df)) over V ~ chi^2(df), Simpson's rule
  local hi, steps, acc = df + 40 * math.sqrt(2 * df) + 40, 4000, 0
  local h = hi / steps
  local lg = stats.log_gamma(df / 2)
  for i = 0, steps do
    local v = i * h
    local dens = v == 0 and 0 or math.exp((df / 2 - 1) * math.log(v) - v / 2 - (df / 2) * math.log(2) - lg)
    local w = (i == 0 or i == steps) and 1 or (i % 2 == 1 and 4 or 2)
    acc = acc + w * dens * stats.normal_cdf(ncp - crit * math.sqrt(v / df))
  end
  return acc * h / 3
end
local gen_eff = stats.rng(99)
for _, case in ipairs { { delta = 1.0, n = 8 }, { delta = 0.8, n = 13 } } do
  local hits = 0
  for _ = 1, REPS do
    local fam = { { id = "planted", kind = "greater", x = series(gen_eff, case.n, case.delta) } }
    if verdict.decide(fam, { signflip = false })[1].verdict == "reproduced" then hits = hits + 1 end
  end
  local power = noncentral_t_power(case.delta, case.n, core.t_quantile(1 - ALPHA / 2, case.n - 1))
  local rate = hits / REPS
  print(string.format("planted effect %.1f sd, n = %d: reproduced in %.4f, noncentral-t power %.4f",
    case.delta, case.n, rate, power))
  check(math.abs(rate - power) <= 3 * math.sqrt(power * (1 - power) / REPS),
    string.format("detection rate %.4f matches the power %.4f", rate, power))
end
-- the seeds an inconclusive claim is told it needs give about the stated power
local advice = verdict.decide { { id = "adv", kind = "greater", x = { 0.8 - 1, 0.8 + 1, 0.8 - 0.5, 0.8 + 0.5, 0.8 } } }
local need = advice[1].would_decide.hold
local sd = advice[1].effects[1].sd
local implied = noncentral_t_power(0.8 / sd, need, core.t_quantile(1 - ALPHA / 2, need - 1))
print(string.format("advice: %d seeds for effect 0.8, sd %.3f: noncentral-t power %.3f", need, sd, implied))
check(advice[1].verdict == "inconclusive" and implied > 0.75 and implied < 0.9,
  string.format("advised seed count gives power near 0.8 (%.3f)", implied))

-- Sequential: looks at 5, 10, 20 seeds (O'Brien-Fleming-like or Pocock-like
-- spending), and the literature study's default, two looks at 5 and 10.
local LOOKS = { 5, 10, 20 }
local function run_sequential(fam, spending, looks)
  looks = looks or LOOKS
  local state, final = nil, {}
  for k = 1, #looks do
    local out = verdict.sequential(fam, { look = k, looks = looks, state = state, signflip = false, spending = spending })
    state = out.state
    for _, rr in ipairs(out.results) do final[rr.id] = rr end
    if #out.more == 0 then break end
  end
  return final
end
local function seq_null_family(g)
  local A, B, C, D = series(g, 20, 0), series(g, 20, 0), series(g, 20, 0), series(g, 20, 0)
  return {
    { id = 1, kind = "beats_each", a = A, bs = { b = B, c = C }, wrong = function(v) return v ~= "inconclusive" end },
    { id = 2, kind = "greater", a = A, b = D, wrong = function(v) return v ~= "inconclusive" end },
    { id = 3, kind = "less", x = B, wrong = function(v) return v ~= "inconclusive" end },
    { id = 4, kind = "greater", x = C, margin = 0.5, wrong = function(v) return v == "reproduced" end },
    { id = 5, kind = "equivalent", x = D, margin = 0.6, wrong = function(v) return v == "not reproduced" end },
    { id = 6, kind = "equivalent", a = B, b = C, reference = 1.5, margin = 1, wrong = function(v) return v == "reproduced" end },
  }
end
local SEQ_REPS, NAIVE_REPS = 1500, 600
local gen_seq = stats.rng(5150)
for _, design in ipairs { { "obf", LOOKS }, { "pocock", LOOKS }, { "pocock", { 5, 10 } } } do
  local spending, looks = design[1], design[2]
  local wrong, naive_wrong = 0, 0
  for rep = 1, SEQ_REPS do
    local fam = seq_null_family(gen_seq)
    local final = run_sequential(fam, spending, looks)
    for _, c in ipairs(fam) do
      if c.wrong(final[c.id].verdict) then wrong = wrong + 1 break end
    end
    if spending == "obf" and rep <= NAIVE_REPS then
      -- naive: a fixed-design decision at every look, stopping at the first decision
      local decided = {}
      for _, n in ipairs(LOOKS) do
        local cut = {}
        for i, c in ipairs(fam) do
          local t = {}
          for k, v in pairs(c) do t[k] = v end
          for _, f in ipairs { "a", "b", "x" } do
            if c[f] then t[f] = table.move(c[f], 1, n, 1, {}) end
          end
          if c.bs then
            t.bs = {}
            for name, v in pairs(c.bs) do t.bs[name] = table.move(v, 1, n, 1, {}) end
          end
          cut[i] = t
        end
        for i, rr in ipairs(verdict.decide(cut, { signflip = false })) do
          if rr.verdict ~= "inconclusive" and not decided[i] then decided[i] = rr.verdict end
        end
      end
      for i, c in ipairs(fam) do
        if decided[i] and c.wrong(decided[i]) then naive_wrong = naive_wrong + 1 break end
      end
    end
  end
  local rate = wrong / SEQ_REPS
  print(string.format("sequential (%s, looks %s, 6 claims, %d replicates): FWER %.4f%s", spending,
    table.concat(looks, "/"), SEQ_REPS, rate, spending == "obf" and string.format("; naive repeated fixed tests %.4f (%d replicates)", naive_wrong / NAIVE_REPS, NAIVE_REPS) or ""))
  check(rate <= upper_tolerance(ALPHA, SEQ_REPS), string.format("sequential %s (looks %s) FWER %.4f <= alpha + tolerance",
    spending, table.concat(looks, "/"), rate))
  if spending == "obf" then
    check(naive_wrong / NAIVE_REPS > rate, string.format("repeated fixed-design looks err more often (%.4f vs %.4f)",
      naive_wrong / NAIVE_REPS, rate))
  end
end

-- One claim with both nulls on the boundary (effect 0, margin 0): its two
-- hypotheses spend all of alpha, so the check is sharp (repeated fixed
-- looks without spending would reach about 0.09).
local SHARP_REPS = 3000
for _, design in ipairs { { "obf", LOOKS }, { "pocock", LOOKS }, { "pocock", { 5, 10 } } } do
  local spending, looks = design[1], design[2]
  local g, wrong = stats.rng(77), 0
  for _ = 1, SHARP_REPS do
    local final = run_sequential({ { id = "z", kind = "greater", x = series(g, 20, 0) } }, spending, looks)
    if final.z.verdict ~= "inconclusive" then wrong = wrong + 1 end
  end
  local rate = wrong / SHARP_REPS
  print(string.format("sequential (%s, looks %s), one claim on the null boundary, %d replicates: error rate %.4f",
    spending, table.concat(looks, "/"), SHARP_REPS, rate))
  check(rate <= upper_tolerance(ALPHA, SHARP_REPS), string.format("sequential %s (looks %s) error rate %.4f",
    spending, table.concat(looks, "/"), rate))
end

-- Planted effect: decided earlier than the fixed 20-seed design, losing
-- little power (futility at conditional power 0.1 costs some).
local P_REPS = 600
for _, case in ipairs { { spending = "obf", max_seeds = 19.5 }, { spending = "pocock", max_seeds = 15 } } do
  local gen_p = stats.rng(4242)
  local seq_hits, fixed_hits, seeds_used, futile_nulls = 0, 0, 0, 0
  for _ = 1, P_REPS do
    local fam = {
      { id = "planted", kind = "greater", x = series(gen_p, 20, 1.2) },
      { id = "null1", kind = "greater", x = series(gen_p, 20, 0) },
      { id = "null2", kind = "less", x = series(gen_p, 20, 0) },
    }
    local final = run_sequential(fam, case.spending)
    if final.planted.verdict == "reproduced" then seq_hits = seq_hits + 1 end
    seeds_used = seeds_used + LOOKS[final.planted.stage]
    if final.null1.status == "futile" then futile_nulls = futile_nulls + 1 end
    if verdict.decide(fam, { signflip = false })[1].verdict == "reproduced" then fixed_hits = fixed_hits + 1 end
  end
  local mean_seeds = seeds_used / P_REPS
  print(string.format("planted 1.2 sd + 2 null claims (%s, %d replicates): sequential reproduces %.3f with " ..
    "%.1f seeds on average, fixed 20 seeds %.3f; null claims stopped as futile %.3f", case.spending, P_REPS,
    seq_hits / P_REPS, mean_seeds, fixed_hits / P_REPS, futile_nulls / P_REPS))
  check(mean_seeds < case.max_seeds, string.format("%s decides earlier on average (%.1f seeds)", case.spending, mean_seeds))
  check(seq_hits >= fixed_hits - 0.08 * P_REPS, string.format("%s loses little power against the fixed design",
    case.spending))
  check(futile_nulls > 0.2 * P_REPS, "futility stops adding seeds to null claims")
end
errors_with("state is from look", verdict.sequential, {}, { look = 2 })
errors_with("futility must be in [0, 1) or false, got 1", verdict.sequential, {}, { look = 1, futility = 1 })
do
  local strong, mid = {}, {}
  for i = 1, 20 do strong[i], mid[i] = 10 + 0.01 * (i % 3), 0.6 + (i % 2 == 0 and 1 or -1) end
  local fam = { { id = "nt", kind = "greater", premise = { ok = false, reason = "r" } },
    { id = "strong", kind = "greater", x = strong }, { id = "mid", kind = "greater", x = mid } }
  local s1 = verdict.sequential(fam, { look = 1 })
  check(s1.not_testable[1] == "nt" and s1.decided[1] == "strong" and s1.more[1] == "mid" and s1.next_n == 10,
    "sequential look 1: not testable, decided, more seeds")
  local s2 = verdict.sequential(fam, { look = 2, state = s1.state })
  check(s2.results[2].id == "strong" and s2.results[2].stage == 1 and s2.results[2].verdict == "reproduced",
    "a claim decided at look 1 keeps its result")
  check(s2.results[3].stage == 2 and #s2.decided + #s2.more + #s2.futile == 1, "the open claim is looked at again")
  local s3 = verdict.sequential(fam, { look = 3, state = s2.state })
  check(s3.next_n == nil and (#s3.decided + #s3.final == 1 or s2.futile[1] == "mid"), "the last look closes every claim")
  local rows_ = verdict.rows(s3.results)
  check(rows_[2].stage == "look 1 (n <= 5)" and rows_[2]["Holm p"]:find("thr", 1, true), "sequential rows show stage and thresholds")
end
-- Futility needs the first look's seeds: a flat trend on 5 seeds stops,
-- the same on 3 (two left out as not learned) takes the next look.
do
  local flat = { 0.3, -0.3, 0.2, -0.25, 0.05 }
  local short = { [1] = 0.3, [3] = 0.2, [5] = -0.45 }
  local o = { looks = { 5, 10, 20 }, look = 1, signflip = false }
  local s5 = verdict.sequential({ { id = "f", kind = "greater", x = flat, margin = 0.05 } }, o)
  check(s5.futile[1] == "f", "a flat trend on the first look's 5 seeds is futile")
  local s3 = verdict.sequential({ { id = "f", kind = "greater", x = short, margin = 0.05 } }, o)
  check(s3.more[1] == "f" and s3.results[1].conditional_power < 0.1,
    "the same trend on 3 seeds takes the next look's seeds, whatever its conditional power")
end
-- A claim's own cap on seeds: it ends at the last look within the cap,
-- while the study's other claims go on; the cap is checked.
do
  local x = { 0.2, 1.0, 0.1, 0.9, 0.5, 0.1, 0.8, -0.4, 0.7, -0.1 }
  local o = { looks = { 5, 10, 20 }, spending = "pocock", futility = false, signflip = false, look = 1 }
  local fam = { { id = "open", kind = "greater", x = x }, { id = "capped", kind = "greater", x = x, max_seeds = 5 },
                { id = "cap10", kind = "greater", x = x, max_seeds = 12 } }
  local s1 = verdict.sequential(fam, o)
  check(s1.more[1] == "open" and s1.final[1] == "capped" and s1.more[2] == "cap10",
    "a claim capped at the first look's seeds ends there, the others take the next look")
  local row = verdict.rows(s1.results)[2]
  check(row.verdict:find("inconclusive (its seeds are capped at 5)", 1, true) == 1, "the cap is named: " .. row.verdict)
  o.look, o.state = 2, s1.state
  local s2 = verdict.sequential(fam, o)
  check(s2.final[1] == "cap10" and s2.more[1] == "open", "a cap between two looks ends the claim at the lower one")
  o.futility, o.look, o.state = 0.1, 1, nil
  local flat = { 0.3, -0.3, 0.2, -0.25, 0.05, 0.1, -0.2, 0.25, -0.3, 0.1 }
  local f = verdict.sequential({ { id = "f", kind = "greater", x = flat, margin = 0.05, max_seeds = 10 } }, o)
  local whole = verdict.sequential({ { id = "f", kind = "greater", x = flat, margin = 0.05 } }, o)
  check(f.results[1].conditional_power < whole.results[1].conditional_power,
    "conditional power reads the claim's own last look (fewer seeds to come, less power)")
  errors_with("max_seeds must be a whole number >= the first look's 5 seeds, got 4", verdict.sequential,
    { { id = "c", kind = "greater", x = x, max_seeds = 4 } }, { looks = { 5, 10 }, look = 1 })
end
-- An effect a hair from the null boundary: the seeds it would take are
-- "over a million", not a float count that broke the text's %d.
do
  local r = verdict.decide({ { id = "hair", kind = "greater", x = { 1, -1, 1, -1, 1e-12 } } })[1]
  check(r.verdict == "inconclusive" and r.would_decide.hold == verdict.MANY_SEEDS and
    r.would_decide.text:find("over a million seeds to reproduce", 1, true) ~= nil, "over a million seeds")
end
-- What would decide a claim, in a sequential sweep: nothing while it is
-- pending (the next look adds seeds); at the last look, seeds at the level
-- alpha spending leaves that look (below alpha/m), not at alpha/m.
do
  local x = { 0.2, 1.0, 0.1, 0.9, 0.5, 0.1, 0.8, -0.4, 0.7, -0.1 }
  local fam = { { id = "p", kind = "greater", x = x } }
  local o = { looks = { 5, 10 }, spending = "pocock", futility = false, signflip = false, look = 1 }
  local s1 = verdict.sequential(fam, o)
  check(s1.more[1] == "p" and s1.results[1].would_decide == nil, "a pending claim is not told what would decide it")
  o.look, o.state = 2, s1.state
  local r = verdict.sequential(fam, o).results[1]
  check(r.verdict == "inconclusive" and r.hold.p > r.hold.threshold and r.hold.p < 0.025,
    "the example lies between the last look's level and alpha/m")
  check(math.abs(r.would_decide.alpha - r.hold.threshold) < 1e-12 and r.would_decide.hold > 10,
    string.format("... and is told the seeds at the last look's level %.3g: %d", r.hold.threshold, r.would_decide.hold))
end
-- A one-sample series missing seeds (left out: not learned) lists every
-- one of them up to the look's seeds, the last ones too.
do
  local out = verdict.sequential({ { id = "gaps", kind = "greater", x = { [1] = 1, [2] = 1.2, [4] = 0.9 } } },
    { look = 1, looks = { 5, 10 } })
  local row = verdict.rows(out.results)[1]
  check(row["per seed"]:find("(dropped seeds 3,5)", 1, true) ~= nil, "dropped seeds up to the look: " .. row["per seed"])
end
local elapsed = os.clock() - started
print(string.format("elapsed %.1f s", elapsed))
check(elapsed < 30, "the whole test runs in under 30 s")
checks.close("test_verdict")
