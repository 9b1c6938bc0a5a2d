-- What the literature report reads from the run directories: the eval
-- records indexed by series, seed and length; per-seed statistics (a
-- value at one length, a mean over out-of-distribution lengths), as
-- series by seed for the verdicts (pb.verdict) and summarised over seeds
-- (mean, 95% interval kept inside [0, 1] for accuracies, max) for tables;
-- which seeds learned their task in distribution; and plots of series
-- against length.
local measure = {}

local M = {}
M.__index = M

--- rows: eval records (with seed); freq: frequency-usage records;
--- max_seed: keep only seeds up to it (a look of a sequential sweep).
function measure.new(level, rows, freq, max_seed)
  local X = setmetatable({ level = level, idx = {}, seeds = {}, lengths = {}, freq = freq or {},
                           max_seed = max_seed or math.huge }, M)
  for _, r in ipairs(rows) do
    if r.seed > X.max_seed then goto skip end
    X.idx[r.series] = X.idx[r.series] or {}
    X.idx[r.series][r.seed] = X.idx[r.series][r.seed] or {}
    X.idx[r.series][r.seed][r.length] = r
    X.seeds[r.series] = X.seeds[r.series] or {}
    X.seeds[r.series][r.seed] = true
    X.lengths[r.series] = X.lengths[r.series] or {}
    X.lengths[r.series][r.length] = true
    ::skip::
  end
  return X
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t or {}) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function mean_where(by, metric, pred)
  local s, k = 0, 0
  for _, r in pairs(by) do
    if pred(r) and r[metric] then s, k = s + r[metric], k + 1 end
  end
  return k > 0 and s / k or nil
end
local function ood(r) return not r.in_dist end

function M:lengths_of(series) return sorted_keys(self.lengths[series]) end
function M:seeds_of(series) return sorted_keys(self.seeds[series]) end

--- Summary over seeds of f(records by length of one seed) -> number|nil;
--- nil when no seed gives a value. Fields: mean, lo, hi, max, min, n, has_ci.
--- bounds: {lower, upper} the values cannot leave (the interval is kept
--- inside them).
function M:over_seeds(series, f, bounds)
  return self:summarise(self:by_seed(series, f), bounds)
end

--- Summary of per-seed values {[seed] = v} (nil when there are none),
--- with the values in seed order as .values.
function M:summarise(by_seed, bounds)
  local vals = {}
  for _, s in ipairs(sorted_keys(by_seed)) do vals[#vals + 1] = by_seed[s] end
  if #vals == 0 then return nil end
  local r = pb.stats.summary(vals, { level = self.level, bounds = bounds })
  r.values = vals
  return r
end

-- Accuracies and exact match lie in [0, 1].
local BOUNDS = { accuracy = { 0, 1 }, exact = { 0, 1 } }
measure.BOUNDS = BOUNDS

--- metric at length n.
function M:at(series, metric, n)
  return self:over_seeds(series, function(by) return by[n] and by[n][metric] end, BOUNDS[metric])
end

--- Mean of metric over the lengths in (lo_n, hi_n] (default: every
--- out-of-distribution length).
function M:mean_over(series, metric, pred)
  return self:over_seeds(series, function(by) return mean_where(by, metric, pred or ood) end, BOUNDS[metric])
end

--- Mean over several series (e.g. tasks) per seed (seed_mean_of_series,
--- the values the claims test), then summarised over seeds.
function M:mean_of_series(list, metric, pred)
  return self:summarise(self:seed_mean_of_series(list, metric, pred), BOUNDS[metric])
end

--- Per-seed values {[seed] = v} of f(records by length of one seed).
function M:by_seed(series, f)
  local out = {}
  for _, s in ipairs(self:seeds_of(series)) do out[s] = f(self.idx[series][s]) end
  return out
end

--- Per seed: metric at length n.
function M:seed_at(series, metric, n)
  return self:by_seed(series, function(by) return by[n] and by[n][metric] end)
end

--- Per seed: mean of metric over the records pred accepts (default: every
--- out-of-distribution length).
function M:seed_mean(series, metric, pred)
  return self:by_seed(series, function(by) return mean_where(by, metric, pred or ood) end)
end

--- Per seed: mean over several series (e.g. tasks) of their per-seed means;
--- a seed missing from one series is left out.
function M:seed_mean_of_series(list, metric, pred)
  local out, first = {}, true
  for _, series in ipairs(list) do
    local v = self:seed_mean(series, metric, pred)
    for s in pairs(first and v or out) do
      if v[s] == nil then out[s] = nil else out[s] = (out[s] or 0) + v[s] / #list end
    end
    first = false
  end
  return out
end

--- Whether each seed of a series learned its task in distribution, judged
--- on metric: "accuracy" (mean per-token accuracy over sizes <= L at least
--- cfg.learn_threshold), "exact" (exact match at least cfg.exact_threshold
--- at every size <= L) or "ppl" (perplexity at the longest window <= L at
--- most cfg.lm_learned_ppl). -> {[seed] = true|false}, {[seed] = value}
function M:learned_seeds(series, metric, cfg)
  local ok, val = {}, {}
  for _, s in ipairs(self:seeds_of(series)) do
    local by, v = self.idx[series][s], nil
    if metric == "exact" then
      for _, r in pairs(by) do
        if r.in_dist and r.exact then v = math.min(v or 1, r.exact) end
      end
      ok[s] = v ~= nil and v >= cfg.exact_threshold
    elseif metric == "ppl" then
      local n
      for len, r in pairs(by) do if r.in_dist and r.ppl and (not n or len > n) then n = len end end
      v = n and by[n].ppl
      ok[s] = v ~= nil and v <= cfg.lm_learned_ppl
    else
      v = mean_where(by, "accuracy", function(r) return r.in_dist end)
      ok[s] = v ~= nil and v >= cfg.learn_threshold
    end
    val[s] = v
  end
  return ok, val
end

--- learned_seeds, and the seeds that did not learn as text, in seed order:
--- "series (s3 0.595, s5 0.729)" (no runs: "series (no runs)"), or nil.
function M:unlearned(series, metric, cfg)
  local ok, val = self:learned_seeds(series, metric, cfg)
  local bad = {}
  for _, s in ipairs(sorted_keys(ok)) do
    if not ok[s] then bad[#bad + 1] = string.format("s%d %.3g", s, val[s] or 0 / 0) end
  end
  if next(ok) == nil then bad[1] = "no runs" end
  return #bad > 0 and (series .. " (" .. table.concat(bad, ", ") .. ")") or nil, ok
end

--- Number of seeds of a series that learned (see learned_seeds).
function M:n_learned(series, metric, cfg)
  local n = 0
  for _, yes in pairs((self:learned_seeds(series, metric, cfg))) do n = n + (yes and 1 or 0) end
  return n
end

--- {[seed] = f(v)} of a by-seed table.
function measure.map(by_seed, f)
  local out = {}
  for s, v in pairs(by_seed) do out[s] = f(v) end
  return out
end

--- Premise of a comparison beyond L: some series is off the floor (its mean
--- over seeds above floor), else the test lengths are out of every model's
--- reach and the comparison says nothing. series: {name = by-seed table}.
function measure.off_floor(series, floor, what)
  local best, best_name = -math.huge, nil
  -- in name order, so that a tie names the same series in every process
  -- (the order of pairs() over string keys varies between runs)
  for _, name in ipairs(sorted_keys(series)) do
    local by = series[name]
    local s, k = 0, 0
    for _, v in pairs(by) do s, k = s + v, k + 1 end
    if k > 0 and s / k > best then best, best_name = s / k, name end
  end
  if best > floor then return { ok = true } end
  return { ok = false, reason = string.format("every series at the floor beyond L (best: %s %.3g <= %g in %s)",
    tostring(best_name), best, floor, what),
    would_need = "test sizes nearer L, or models that extrapolate some way" }
end

--- CPU seconds that `need` seeds of each of `series` would take beyond the
--- seeds they have, at each series' mean wall time per run in run_rows
--- ({series =, wall_seconds =} per run). nil when a series has no timed run.
function measure.seeds_cost(series, need, run_rows)
  local sum, runs = {}, {}
  for _, r in ipairs(run_rows) do
    if r.wall_seconds then
      sum[r.series], runs[r.series] = (sum[r.series] or 0) + r.wall_seconds, (runs[r.series] or 0) + 1
    end
  end
  local total = 0
  for _, s in ipairs(series) do
    if not runs[s] then return nil end
    total = total + math.max(0, need - runs[s]) * sum[s] / runs[s]
  end
  return total
end

--- "0.512 [0.401, 0.623] (max 0.70, 5 seeds)".
function measure.ci(r, fmt)
  if not r then return "n/a" end
  fmt = fmt or "%.3f"
  local s = string.format(fmt, r.mean)
  if r.has_ci then s = s .. string.format(" [" .. fmt .. ", " .. fmt .. "]", r.lo, r.hi) end
  return s .. string.format(" (max " .. fmt .. ", %d seed%s)", r.max, r.n, r.n == 1 and "" or "s")
end

--- Lines of metric against length, one per {series=, name=}, CI bands.
function M:plot_lines(path, title, list, metric, o)
  if not pb.plot.available() then return nil end
  local series, any = {}, false
  for _, s in ipairs(list) do
    local x, y, lo, hi = {}, {}, {}, {}
    for _, n in ipairs(self:lengths_of(s.series)) do
      local r = self:at(s.series, metric, n)
      if r then x[#x + 1], y[#y + 1], lo[#lo + 1], hi[#hi + 1] = n, r.mean, r.lo, r.hi end
    end
    if #x > 0 then
      series[#series + 1] = { name = s.name, x = x, y = y, lo = lo, hi = hi, dash = s.dash }
      any = true
    end
  end
  if not any then return nil end
  return pb.plot { path = path, title = title, xlabel = o.xlabel, ylabel = o.ylabel, logy = o.logy,
                   yrange = o.yrange,
                   series = series, vlines = o.L and { { x = o.L, label = "train" } } or nil,
                   hlines = o.chance and { { y = o.chance, label = "chance" } } or nil }.png
end

--- Grouped bars of summaries: categories x series, values[i][j] a summary.
function measure.plot_bars(path, title, categories, names, values, o)
  if not pb.plot.available() then return nil end
  -- A series with nothing measured yet (a partial collect) is left out:
  -- gnuplot refuses a histogram column without a valid point.
  local series = {}
  for j, name in ipairs(names) do
    local v, lo, hi, any = {}, {}, {}, false
    for i in ipairs(categories) do
      local r = values[i][j]
      any = any or r ~= nil
      v[i], lo[i], hi[i] = r and r.mean or 0 / 0, r and r.lo or 0 / 0, r and r.hi or 0 / 0
    end
    if any then series[#series + 1] = { name = name, values = v, lo = lo, hi = hi } end
  end
  if #series == 0 then return nil end
  return pb.plot.bars { path = path, title = title, categories = categories, series = series,
                        ylabel = o.ylabel, logy = o.logy, yrange = o.yrange,
                        hlines = o.chance and { { y = o.chance, label = "chance" } } or nil }.png
end

return measure
