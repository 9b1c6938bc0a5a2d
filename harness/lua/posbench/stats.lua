-- Summary statistics over seeds and grouping of result rows.
--
--   stats.summary(values, {level = 0.95}) -> {n, mean, sd, se, lo, hi, min,
--       max, median, level, has_ci}
--     sd is the sample standard deviation (n - 1), se = sd / sqrt(n), and
--     [lo, hi] = mean -+ t_{(1+level)/2, n-1} * se, the Student-t confidence
--     interval for the mean. With n = 1 there is no interval: sd = se = 0,
--     lo = hi = mean and has_ci = false. NaN values propagate (a diverged
--     seed shows up as NaN rather than silently vanishing).
--   stats.mean(values), stats.sd(values), stats.median(values)
--   stats.group(rows, keys, {order = "sorted" | "first"}) -> groups
--     keys: a column name or an array of names; each group is
--     {key = {col = value...}, label = "col=value,...", rows = {...}},
--     sorted by key values (numbers numerically) or in order of first
--     appearance.
--   stats.aggregate(rows, keys, value_columns, {level = 0.95, bounds = {v = {lower, upper}}})
--       -> rows, columns
--     one row per group with the key columns and, for each value column v,
--     v_mean, v_lo, v_hi, v_sd, v_n, v_min, v_max (nil values are skipped);
--     bounds: the range a column's values cannot leave (accuracies: {0, 1}),
--     which its interval keeps to.
--
-- Tests and distributions (docs/statistics.md has the formulas and choices):
--   stats.summary(values, {bounds = {lower, upper}}) and
--   stats.bounded_interval(values, {lower = 0, upper = 1, level = 0.95})
--     the Student-t interval clipped to [lower, upper] (bounded_interval
--     returns the summary table with lo, hi clipped and bounds set).
--   stats.one_sample(x, mu, {level = 0.95, alternative = "two-sided"})
--   stats.paired(a, b, opts)     d[i] = a[i] - b[i]; opts.mu (default 0)
--   stats.welch(a, b, opts)      unpaired, Welch-Satterthwaite df
--     -> {test, n, mean, sd, se, lo, hi, t, df, p, p_signflip, mu, level,
--         alternative} (paired/one-sample also diffs or values; welch also
--         n_a, n_b, mean_a, mean_b, and sd = sqrt(sd_a^2 + sd_b^2), the sd
--         of one draw of a minus one of b). alternative: "two-sided", "greater"
--     (true mean > mu), "less". One-sided alternatives give one-sided
--     intervals (lo or hi infinite), as scipy does. sd = 0: t = +-inf (p 0
--     or 1 by the alternative), or NaN when mean = mu, then p = 1.
--     opts.signflip = false skips p_signflip (it is nil for welch).
--   stats.signflip_p(d, mu, alternative) exact sign-flip permutation p of
--     mean(d) = mu (all 2^n patterns, counted by meet-in-the-middle) for
--     n <= 30; above, a fixed-seed Monte Carlo of 20000 patterns.
--   stats.tost(x, {low =, high =, alpha = 0.05}) two one-sided tests of
--     low < mean < high: {p_low, p_high, p = max, lo, hi (the 1 - 2 alpha
--     interval), equivalent, ...}
--   stats.holm(ps) -> Holm-adjusted p-values, input order.
--   stats.holm_shaffer(ps, group, cap) Holm with Shaffer's logical
--     refinement: at most cap[g] hypotheses of group g can be true at once.
--   stats.t_pvalue(t, df, alternative) p of a t statistic (NaN t: p = 1)
--   stats.normal_cdf(z), stats.normal_quantile(p), stats.t_cdf(t, df),
--   stats.beta_inc(a, b, x) (regularized), stats.log_gamma(x)
--   stats.rng(seed) -> generator with :uniform() in [0, 1) and :normal()
--     (splitmix64 + Box-Muller; the same seed gives the same numbers).
local core = require "posbench.core"

local stats = {}

local function check_values(values, who)
  if type(values) ~= "table" then
    error(string.format("%s: values must be an array of numbers, got %s", who, type(values)), 3)
  end
  local n = #values
  if n == 0 then error(who .. ": no values", 3) end
  for i = 1, n do
    if type(values[i]) ~= "number" then
      error(string.format("%s: values[%d] is a %s, expected a number", who, i, type(values[i])), 3)
    end
  end
  return n
end

local function mean_of(values, n)
  local s = 0.0
  for i = 1, n do s = s + values[i] end
  return s / n
end

function stats.mean(values)
  return mean_of(values, check_values(values, "stats.mean"))
end

-- Two passes (mean, then squared deviations): accurate when the spread is
-- small compared with the mean.
local function variance_of(values, n, m)
  if n < 2 then return 0.0 end
  local s = 0.0
  for i = 1, n do
    local d = values[i] - m
    s = s + d * d
  end
  return s / (n - 1)
end

function stats.sd(values)
  local n = check_values(values, "stats.sd")
  return math.sqrt(variance_of(values, n, mean_of(values, n)))
end

local function median_of(values, n)
  local sorted = table.move(values, 1, n, 1, {})
  for i = 1, n do if sorted[i] ~= sorted[i] then return 0 / 0 end end
  table.sort(sorted)
  if n % 2 == 1 then return sorted[(n + 1) // 2] end
  return 0.5 * (sorted[n // 2] + sorted[n // 2 + 1])
end

function stats.median(values)
  return median_of(values, check_values(values, "stats.median"))
end

function stats.summary(values, opts)
  local n = check_values(values, "stats.summary")
  local level = opts and opts.level or 0.95
  if type(level) ~= "number" or not (level > 0 and level < 1) then
    error("stats.summary: level must be in (0, 1), got " .. tostring(level), 2)
  end
  local m = mean_of(values, n)
  local sd = math.sqrt(variance_of(values, n, m))
  local se = sd / math.sqrt(n)
  local lo, hi, has_ci = m, m, false
  if n >= 2 then
    local half = core.t_quantile(0.5 + 0.5 * level, n - 1) * se
    lo, hi, has_ci = m - half, m + half, true
  end
  local bounds = opts and opts.bounds
  if bounds ~= nil then
    if type(bounds) ~= "table" or type(bounds[1]) ~= "number" or type(bounds[2]) ~= "number"
        or not (bounds[1] < bounds[2]) then
      error("stats.summary: bounds must be {lower, upper} with lower < upper", 2)
    end
    -- the true mean lies in the range, so clipping keeps the coverage
    lo, hi = math.min(math.max(lo, bounds[1]), bounds[2]), math.max(math.min(hi, bounds[2]), bounds[1])
  end
  local mn, mx = values[1], values[1]
  for i = 2, n do
    local v = values[i]
    if v ~= v or mn ~= mn then mn, mx = 0 / 0, 0 / 0 end
    if v < mn then mn = v end
    if v > mx then mx = v end
  end
  return {
    n = n, mean = m, sd = sd, se = se, lo = lo, hi = hi, min = mn, max = mx,
    median = median_of(values, n), level = level, has_ci = has_ci, bounds = bounds,
  }
end

-- Orders key values: numbers (numerically), then strings, then booleans.
local type_rank = { number = 1, string = 2, boolean = 3 }
local function less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (type_rank[ta] or 4) < (type_rank[tb] or 4) end
  if ta == "boolean" then return (not a) and b end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

function stats.group(rows, keys, opts)
  if type(keys) == "string" then keys = { keys } end
  if type(rows) ~= "table" or type(keys) ~= "table" or #keys == 0 then
    error("stats.group(rows, keys): rows must be an array and keys a column name or array of names", 2)
  end
  local order = opts and opts.order or "sorted"
  if order ~= "sorted" and order ~= "first" then
    error("stats.group: order must be \"sorted\" or \"first\", got " .. tostring(order), 2)
  end
  local groups, index = {}, {}
  for r, row in ipairs(rows) do
    local parts, key = {}, {}
    for i, k in ipairs(keys) do
      local v = row[k]
      if v == nil then error(string.format("stats.group: row %d has no value for key '%s'", r, k), 2) end
      key[k] = v
      parts[i] = k .. "=" .. tostring(v)
    end
    local label = table.concat(parts, ",")
    local id = label
    for i, k in ipairs(keys) do id = id .. "\0" .. type(row[k]) .. i end  -- 1 and "1" differ
    local g = index[id]
    if not g then
      g = { key = key, label = label, rows = {} }
      index[id] = g
      groups[#groups + 1] = g
    end
    g.rows[#g.rows + 1] = row
  end
  if order == "sorted" then
    table.sort(groups, function(a, b)
      for _, k in ipairs(keys) do
        local x, y = a.key[k], b.key[k]
        if less(x, y) then return true end
        if less(y, x) then return false end
      end
      return false
    end)
  end
  return groups
end

-- Values known to lie in [lower, upper] (accuracies: [0, 1]).
function stats.bounded_interval(values, opts)
  opts = opts or {}
  local lower, upper = opts.lower or 0, opts.upper or 1
  for i = 1, check_values(values, "stats.bounded_interval") do
    if not (values[i] >= lower and values[i] <= upper) then
      error(string.format("stats.bounded_interval: values[%d] = %s is outside [%s, %s]",
        i, tostring(values[i]), tostring(lower), tostring(upper)), 2)
    end
  end
  return stats.summary(values, { level = opts.level, bounds = { lower, upper } })
end

function stats.aggregate(rows, keys, value_columns, opts)
  if type(keys) == "string" then keys = { keys } end
  if type(value_columns) == "string" then value_columns = { value_columns } end
  local out, columns = {}, {}
  for _, k in ipairs(keys) do columns[#columns + 1] = k end
  for _, v in ipairs(value_columns) do
    for _, s in ipairs { "mean", "lo", "hi", "sd", "n", "min", "max" } do
      columns[#columns + 1] = v .. "_" .. s
    end
  end
  for _, g in ipairs(stats.group(rows, keys, opts)) do
    local row = {}
    for k, v in pairs(g.key) do row[k] = v end
    for _, col in ipairs(value_columns) do
      local vals = {}
      for r, src in ipairs(g.rows) do
        local v = src[col]
        if v ~= nil and type(v) ~= "number" then
          error(string.format("stats.aggregate: group %s row %d column '%s' is a %s, expected a number",
            g.label, r, col, type(v)), 2)
        end
        vals[#vals + 1] = v
      end
      if #vals > 0 then
        local s = stats.summary(vals, { level = opts and opts.level, bounds = opts and opts.bounds and opts.bounds[col] })
        for _, f in ipairs { "mean", "lo", "hi", "sd", "n", "min", "max" } do
          row[col .. "_" .. f] = s[f]
        end
      else
        row[col .. "_n"] = 0
      end
    end
    out[#out + 1] = row
  end
  return out, columns
end

-- Distributions ------------------------------------------------------------

-- Lanczos approximation (g = 7, 9 terms): about 15 significant digits.
local LANCZOS = { 0.99999999999980993, 676.5203681218851, -1259.1392167224028,
  771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7 }

function stats.log_gamma(x)
  if x < 0.5 then  -- reflection
    return math.log(math.pi / math.abs(math.sin(math.pi * x))) - stats.log_gamma(1 - x)
  end
  x = x - 1
  local a = LANCZOS[1]
  local t = x + 7.5
  for i = 1, 8 do a = a + LANCZOS[i + 1] / (x + i) end
  return 0.5 * math.log(2 * math.pi) + (x + 0.5) * math.log(t) - t + math.log(a)
end

local TINY, EPS, MAXIT = 1e-300, 1e-15, 1000

-- Continued fraction of the incomplete beta function (modified Lentz).
local function beta_cf(a, b, x)
  local qab, qap, qam = a + b, a + 1, a - 1
  local c, d = 1.0, 1 - qab * x / qap
  if math.abs(d) < TINY then d = TINY end
  d = 1 / d
  local h = d
  for m = 1, MAXIT do
    local m2 = 2 * m
    local aa = m * (b - m) * x / ((qam + m2) * (a + m2))
    d = 1 + aa * d; if math.abs(d) < TINY then d = TINY end
    c = 1 + aa / c; if math.abs(c) < TINY then c = TINY end
    d = 1 / d
    h = h * d * c
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
    d = 1 + aa * d; if math.abs(d) < TINY then d = TINY end
    c = 1 + aa / c; if math.abs(c) < TINY then c = TINY end
    d = 1 / d
    local del = d * c
    h = h * del
    if math.abs(del - 1) < EPS then return h end
  end
  return h
end

--- Regularized incomplete beta I_x(a, b), a, b > 0, 0 <= x <= 1.
function stats.beta_inc(a, b, x)
  if x ~= x then return x end
  if x <= 0 then return 0.0 end
  if x >= 1 then return 1.0 end
  local front = math.exp(stats.log_gamma(a + b) - stats.log_gamma(a) - stats.log_gamma(b)
    + a * math.log(x) + b * math.log(1 - x))
  if x < (a + 1) / (a + b + 2) then return front * beta_cf(a, b, x) / a end
  return 1 - front * beta_cf(b, a, 1 - x) / b
end

--- P(T <= t) for Student's t with df > 0 degrees of freedom (df may be
--- fractional). The tail is computed directly, so small p stay accurate.
function stats.t_cdf(t, df)
  if t ~= t or df ~= df then return 0 / 0 end
  if df == math.huge then return stats.normal_cdf(t) end
  local tail = 0.5 * stats.beta_inc(0.5 * df, 0.5, df / (df + t * t))
  if t > 0 then return 1 - tail end
  return tail
end

-- Regularized upper incomplete gamma Q(a, x) (series or continued fraction).
local function gamma_q(a, x)
  if x <= 0 then return 1.0 end
  local lg = stats.log_gamma(a)
  if x < a + 1 then
    local ap, sum, del = a, 1 / a, 1 / a
    for _ = 1, MAXIT do
      ap = ap + 1
      del = del * x / ap
      sum = sum + del
      if math.abs(del) < math.abs(sum) * EPS then break end
    end
    return 1 - sum * math.exp(-x + a * math.log(x) - lg)
  end
  local b, c = x + 1 - a, 1 / TINY
  local d = 1 / b
  local h = d
  for i = 1, MAXIT do
    local an = -i * (i - a)
    b = b + 2
    d = an * d + b; if math.abs(d) < TINY then d = TINY end
    c = b + an / c; if math.abs(c) < TINY then c = TINY end
    d = 1 / d
    local del = d * c
    h = h * del
    if math.abs(del - 1) < EPS then break end
  end
  return math.exp(-x + a * math.log(x) - lg) * h
end

--- Standard normal CDF, Phi(z) = erfc(-z / sqrt 2) / 2 with erfc(x) = Q(1/2, x^2).
function stats.normal_cdf(z)
  if z ~= z then return z end
  if z == math.huge then return 1.0 end
  if z == -math.huge then return 0.0 end
  local q = 0.5 * gamma_q(0.5, 0.5 * z * z)  -- P(|Z| > |z|) / 2
  if z < 0 then return q end
  return 1 - q
end

-- Acklam's rational approximation, then one Halley step on normal_cdf.
local QA = { -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
  1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00 }
local QB = { -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
  6.680131188771972e+01, -1.328068155288572e+01 }
local QC = { -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
  -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00 }
local QD = { 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
  3.754408661907416e+00 }

--- z with Phi(z) = p (0 < p < 1; 0 and 1 give -inf and inf).
function stats.normal_quantile(p)
  if type(p) ~= "number" or p ~= p or p < 0 or p > 1 then
    error("stats.normal_quantile: probability must be in [0, 1], got " .. tostring(p), 2)
  end
  if p == 0 then return -math.huge end
  if p == 1 then return math.huge end
  local x
  if p < 0.02425 or p > 1 - 0.02425 then
    local q = math.sqrt(-2 * math.log(math.min(p, 1 - p)))
    x = (((((QC[1] * q + QC[2]) * q + QC[3]) * q + QC[4]) * q + QC[5]) * q + QC[6]) /
        ((((QD[1] * q + QD[2]) * q + QD[3]) * q + QD[4]) * q + 1)
    if p > 0.5 then x = -x end
  else
    local q = p - 0.5
    local r = q * q
    x = (((((QA[1] * r + QA[2]) * r + QA[3]) * r + QA[4]) * r + QA[5]) * r + QA[6]) * q /
        (((((QB[1] * r + QB[2]) * r + QB[3]) * r + QB[4]) * r + QB[5]) * r + 1)
  end
  local e  -- Phi(x) - p, from the smaller tail
  if x > 0 then e = (1 - p) - stats.normal_cdf(-x) else e = stats.normal_cdf(x) - p end
  local u = e * math.sqrt(2 * math.pi) * math.exp(0.5 * x * x)
  return x - u / (1 + 0.5 * x * u)
end

--- A deterministic generator: splitmix64 (64-bit integer arithmetic wraps in
--- Lua 5.4) and Box-Muller normals.
function stats.rng(seed)
  if math.type(seed) ~= "integer" then
    error("stats.rng(seed): seed must be an integer, got " .. tostring(seed), 2)
  end
  local state, spare = seed, nil
  local g = {}
  function g.uniform()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return (z >> 11) * 2.0 ^ -53
  end
  function g.normal()
    if spare then
      local s = spare
      spare = nil
      return s
    end
    local u1 = 1 - g.uniform()  -- in (0, 1]
    local r, a = math.sqrt(-2 * math.log(u1)), 2 * math.pi * g.uniform()
    spare = r * math.sin(a)
    return r * math.cos(a)
  end
  return setmetatable(g, { __index = function(_, k)
    error("stats.rng: no method '" .. tostring(k) .. "' (uniform, normal)", 2)
  end })
end

-- Tests ----------------------------------------------------------------------

local ALTERNATIVES = { ["two-sided"] = true, greater = true, less = true }

local function test_opts(opts, who)
  opts = opts or {}
  local level = opts.level or 0.95
  if type(level) ~= "number" or not (level > 0 and level < 1) then
    error(who .. ": level must be in (0, 1), got " .. tostring(level), 3)
  end
  local alt = opts.alternative or "two-sided"
  if not ALTERNATIVES[alt] then
    error(who .. ": alternative must be \"two-sided\", \"greater\" or \"less\", got " .. tostring(alt), 3)
  end
  return level, alt
end

--- p-value of a t statistic for the alternative; t = +-inf or NaN (sd = 0)
--- included: NaN (no difference at all) gives p = 1.
function stats.t_pvalue(t, df, alt)
  if t ~= t then return 1.0 end
  if alt == "greater" then return stats.t_cdf(-t, df) end
  if alt == "less" then return stats.t_cdf(t, df) end
  return math.min(1, 2 * stats.t_cdf(-math.abs(t), df))
end

-- Interval for the alternative: two-sided at level, or one-sided bound.
local function t_interval(m, se, df, level, alt)
  if alt == "two-sided" then
    local half = core.t_quantile(0.5 + 0.5 * level, df) * se
    return m - half, m + half
  end
  local half = core.t_quantile(level, df) * se
  if alt == "greater" then return m - half, math.huge end
  return -math.huge, m + half
end

-- All 2^k sums of +-v[i] for i in [from, to].
local function signed_sums(v, from, to)
  local sums = { 0.0 }
  for i = from, to do
    local n = #sums
    for j = 1, n do
      sums[n + j] = sums[j] - v[i]
      sums[j] = sums[j] + v[i]
    end
  end
  return sums
end

-- Number of elements of sorted s that are >= c.
local function count_at_least(s, c)
  local lo, hi = 1, #s + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if s[mid] >= c then hi = mid else lo = mid + 1 end
  end
  return #s + 1 - lo
end

--- Exact sign-flip permutation p of H0: the d[i] - mu are symmetric about 0.
--- Ties with the observed sum count as at least as extreme (a relative
--- tolerance of 1e-12 absorbs rounding).
function stats.signflip_p(d, mu, alternative)
  local n = check_values(d, "stats.signflip_p")
  mu, alternative = mu or 0, alternative or "two-sided"
  local v, total = {}, 0.0
  for i = 1, n do
    v[i] = d[i] - mu
    total = total + math.abs(v[i])
  end
  if total ~= total then return 0 / 0 end
  local obs = 0.0
  for i = 1, n do obs = obs + v[i] end
  local tol = 1e-12 * total
  -- count(S >= c): S is the signed sum over all patterns
  local count, patterns
  if n <= 30 then
    local half = n // 2
    local left, right = signed_sums(v, 1, half), signed_sums(v, half + 1, n)
    table.sort(right)
    patterns = #left * #right
    count = function(c)
      local k = 0
      for i = 1, #left do k = k + count_at_least(right, c - left[i]) end
      return k
    end
  else
    local g, draws = stats.rng(20240601), 20000
    local sums = {}
    for r = 1, draws do
      local s = 0.0
      for i = 1, n do s = s + (g.uniform() < 0.5 and -v[i] or v[i]) end
      sums[r] = s
    end
    table.sort(sums)
    patterns = draws + 1  -- the observed pattern is counted once more
    count = function(c) return count_at_least(sums, c) + 1 end
  end
  if alternative == "greater" then return count(obs - tol) / patterns end
  if alternative == "less" then return count(-obs - tol) / patterns end
  return math.min(1, 2 * count(math.abs(obs) - tol) / patterns)
end

local t_p = stats.t_pvalue

local function one_sample_core(x, n, mu, level, alt, signflip)
  local m = mean_of(x, n)
  local sd = math.sqrt(variance_of(x, n, m))
  local se = sd / math.sqrt(n)
  local df = n - 1
  local t = (m - mu) / se  -- sd = 0: +-inf, or NaN when m = mu
  local lo, hi = t_interval(m, se, df, level, alt)
  return { n = n, mean = m, sd = sd, se = se, lo = lo, hi = hi, t = t, df = df,
           p = t_p(t, df, alt), mu = mu, level = level, alternative = alt,
           p_signflip = signflip ~= false and stats.signflip_p(x, mu, alt) or nil }
end

local function need_two(n, who)
  if n < 2 then error(who .. ": needs at least 2 values, got " .. n, 3) end
end

--- One-sample t-test of mean(x) = mu.
function stats.one_sample(x, mu, opts)
  local n = check_values(x, "stats.one_sample")
  need_two(n, "stats.one_sample")
  if type(mu) ~= "number" then error("stats.one_sample(x, mu): mu must be a number", 2) end
  local level, alt = test_opts(opts, "stats.one_sample")
  local r = one_sample_core(x, n, mu, level, alt, opts and opts.signflip)
  r.test, r.values = "one-sample", x
  return r
end

--- Paired t-test of mean(a - b) = opts.mu (default 0); a[i], b[i] share a seed.
function stats.paired(a, b, opts)
  if type(a) ~= "table" or type(b) ~= "table" then
    error("stats.paired(a, b): a and b must be arrays of numbers", 2)
  end
  local n = math.max(#a, #b)
  for i = 1, n do
    if type(a[i]) ~= "number" or type(b[i]) ~= "number" then
      error(string.format("stats.paired: pair %d is incomplete (a[%d] = %s, b[%d] = %s)",
        i, i, tostring(a[i]), i, tostring(b[i])), 2)
    end
  end
  need_two(n, "stats.paired")
  local level, alt = test_opts(opts, "stats.paired")
  local d = {}
  for i = 1, n do d[i] = a[i] - b[i] end
  local r = one_sample_core(d, n, opts and opts.mu or 0, level, alt, opts and opts.signflip)
  r.test, r.diffs = "paired", d
  return r
end

--- Welch's unpaired t-test of mean(a) - mean(b) = opts.mu (default 0).
function stats.welch(a, b, opts)
  local na, nb = check_values(a, "stats.welch"), check_values(b, "stats.welch")
  need_two(math.min(na, nb), "stats.welch")
  local level, alt = test_opts(opts, "stats.welch")
  local mu = opts and opts.mu or 0
  local ma, mb = mean_of(a, na), mean_of(b, nb)
  local va, vb = variance_of(a, na, ma) / na, variance_of(b, nb, mb) / nb
  local se = math.sqrt(va + vb)
  local df = (va + vb) ^ 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
  if se == 0 then df = na + nb - 2 end
  local m = ma - mb
  local t = (m - mu) / se
  local lo, hi = t_interval(m, se, df, level, alt)
  return { test = "welch", n = na + nb, n_a = na, n_b = nb, mean_a = ma, mean_b = mb,
           mean = m, sd = math.sqrt(va * na + vb * nb), se = se, lo = lo, hi = hi, t = t, df = df,
           p = t_p(t, df, alt), mu = mu, level = level, alternative = alt }
end

--- Two one-sided tests of low < mean(x) < high at alpha (default 0.05).
function stats.tost(x, opts)
  local n = check_values(x, "stats.tost")
  need_two(n, "stats.tost")
  opts = opts or {}
  local low, high, alpha = opts.low, opts.high, opts.alpha or 0.05
  if type(low) ~= "number" or type(high) ~= "number" or not (low < high) then
    error("stats.tost: needs numbers low < high, got " .. tostring(low) .. ", " .. tostring(high), 2)
  end
  if not (alpha > 0 and alpha < 0.5) then error("stats.tost: alpha must be in (0, 0.5)", 2) end
  local sf = opts.signflip
  local up = one_sample_core(x, n, low, 1 - 2 * alpha, "greater", sf)
  local down = one_sample_core(x, n, high, 1 - 2 * alpha, "less", sf)
  local lo, hi = t_interval(up.mean, up.se, n - 1, 1 - 2 * alpha, "two-sided")
  local p = math.max(up.p, down.p)
  return { test = "tost", n = n, mean = up.mean, sd = up.sd, se = up.se, df = n - 1,
           low = low, high = high, p_low = up.p, p_high = down.p, p = p,
           p_signflip = sf ~= false and math.max(up.p_signflip, down.p_signflip) or nil,
           lo = lo, hi = hi, level = 1 - 2 * alpha, alpha = alpha, equivalent = p <= alpha }
end

--- Holm step-down adjusted p-values (input order; monotone, at most 1).
--- Holm's step-down with Shaffer's logical refinement (his method 2): the
--- hypotheses come in groups (group[i] names the group of ps[i]) of which
--- at most cap[g] can be true together; at each step the divisor is the
--- largest number of hypotheses that can still be true given those ranked
--- before are false, instead of the number left. With every cap at least
--- the group's size it is Holm's procedure. -> adjusted p, input order
function stats.holm_shaffer(ps, group, cap)
  local m = check_values(ps, "stats.holm_shaffer")
  local size, rejected = {}, {}
  for i = 1, m do
    if not (ps[i] >= 0 and ps[i] <= 1) then
      error(string.format("stats.holm_shaffer: ps[%d] = %s is not a probability", i, tostring(ps[i])), 2)
    end
    local g = group[i]
    if g == nil or type(cap[g]) ~= "number" or cap[g] < 1 then
      error(string.format("stats.holm_shaffer: hypothesis %d has no group with a cap >= 1", i), 2)
    end
    size[g], rejected[g] = (size[g] or 0) + 1, 0
  end
  local order = {}
  for i = 1, m do order[i] = i end
  table.sort(order, function(i, j)
    if ps[i] ~= ps[j] then return ps[i] < ps[j] end
    return i < j
  end)
  local adj, running = {}, 0.0
  for _, i in ipairs(order) do
    local t = 0
    for g, n in pairs(size) do t = t + math.min(n - rejected[g], cap[g]) end
    running = math.max(running, math.min(1, t * ps[i]))
    adj[i] = running
    rejected[group[i]] = rejected[group[i]] + 1
  end
  return adj
end

-- Holm's procedure: every hypothesis its own group (each can be true).
function stats.holm(ps)
  local group, cap = {}, {}
  for i = 1, check_values(ps, "stats.holm") do group[i], cap[i] = i, 1 end
  return stats.holm_shaffer(ps, group, cap)
end

return stats
