-- What the literature report reads from the run directories: the eval
-- records indexed by series, seed and length; per-seed statistics (a
-- value at one length, a mean over out-of-distribution lengths) with
-- their mean, 95% Student-t interval and max over seeds; verdicts from
-- intervals; and plots of series against length.
local measure = {}

local M = {}
M.__index = M

--- rows: eval records (with seed); freq: frequency-usage records.
function measure.new(level, rows, freq)
  local X = setmetatable({ level = level, idx = {}, seeds = {}, lengths = {}, freq = freq or {} }, M)
  for _, r in ipairs(rows) do
    X.idx[r.series] = X.idx[r.series] or {}
    X.idx[r.series][r.seed] = X.idx[r.series][r.seed] or {}
    X.idx[r.series][r.seed][r.length] = r
    X.seeds[r.series] = X.seeds[r.series] or {}
    X.seeds[r.series][r.seed] = true
    X.lengths[r.series] = X.lengths[r.series] or {}
    X.lengths[r.series][r.length] = true
  end
  return X
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t or {}) do out[#out + 1] = k end
  table.sort(out)
  return out
end

function M:lengths_of(series) return sorted_keys(self.lengths[series]) end
function M:seeds_of(series) return sorted_keys(self.seeds[series]) end

--- Summary over seeds of f(records by length of one seed) -> number|nil;
--- nil when no seed gives a value. Fields: mean, lo, hi, max, min, n, has_ci.
function M:over_seeds(series, f)
  local vals = {}
  for _, s in ipairs(self:seeds_of(series)) do
    local v = f(self.idx[series][s])
    if v ~= nil then vals[#vals + 1] = v end
  end
  if #vals == 0 then return nil end
  local r = pb.stats.summary(vals, { level = self.level })
  r.values = vals
  return r
end

--- metric at length n.
function M:at(series, metric, n)
  return self:over_seeds(series, function(by) return by[n] and by[n][metric] end)
end

--- Mean of metric over the lengths in (lo_n, hi_n] (default: every
--- out-of-distribution length).
function M:mean_over(series, metric, pred)
  pred = pred or function(r) return not r.in_dist end
  return self:over_seeds(series, function(by)
    local s, k = 0, 0
    for _, r in pairs(by) do
      if pred(r) and r[metric] then s, k = s + r[metric], k + 1 end
    end
    return k > 0 and s / k or nil
  end)
end

--- Mean over several series (e.g. tasks) per seed, then over seeds.
function M:mean_of_series(list, metric, pred)
  pred = pred or function(r) return not r.in_dist end
  local by_seed = {}
  for _, series in ipairs(list) do
    for s, by in pairs(self.idx[series] or {}) do
      for _, r in pairs(by) do
        if pred(r) and r[metric] then
          by_seed[s] = by_seed[s] or { 0, 0 }
          by_seed[s][1], by_seed[s][2] = by_seed[s][1] + r[metric], by_seed[s][2] + 1
        end
      end
    end
  end
  local vals = {}
  for _, s in ipairs(sorted_keys(by_seed)) do vals[#vals + 1] = by_seed[s][1] / by_seed[s][2] end
  if #vals == 0 then return nil end
  local r = pb.stats.summary(vals, { level = self.level })
  r.values = vals
  return r
end

--- Whether a series learned its task in distribution: mean over seeds of
--- the in-distribution per-token accuracy >= cfg.learn_threshold, or for
--- language models perplexity at L <= cfg.lm_learned_ppl. -> ok, value
function M:learned(series, cfg)
  local lm = series:match("^lm%-") or series:match("^ctx%-lm")
  local r = self:mean_over(series, lm and "ppl" or "accuracy", function(x) return x.in_dist end)
  if not r then return false, nil end
  if lm then return r.mean <= cfg.lm_learned_ppl, r.mean end
  return r.mean >= cfg.learn_threshold, r.mean
end

--- "0.512 [0.401, 0.623] (max 0.70, 5 seeds)".
function measure.ci(r, fmt)
  if not r then return "n/a" end
  fmt = fmt or "%.3f"
  local s = string.format(fmt, r.mean)
  if r.has_ci then s = s .. string.format(" [" .. fmt .. ", " .. fmt .. "]", r.lo, r.hi) end
  return s .. string.format(" (max " .. fmt .. ", %d seed%s)", r.max, r.n, r.n == 1 and "" or "s")
end

--- +1 when a is separated above b (intervals do not overlap), -1 below,
--- 0 when they overlap or either has no interval. lower: smaller is better.
function measure.compare(a, b, lower)
  if not (a and b and a.has_ci and b.has_ci) then return 0 end
  if lower then a, b = b, a end
  if a.lo > b.hi then return 1 end
  if a.hi < b.lo then return -1 end
  return 0
end

--- Verdict of "a beats each of bs": reproduced when every comparison
--- separates in a's favour, not reproduced when one separates against.
function measure.beats_all(a, bs, lower)
  local worst, all = 1, true
  for _, b in ipairs(bs) do
    local c = measure.compare(a, b, lower)
    if c < 0 then worst = -1 end
    if c ~= 1 then all = false end
  end
  if worst < 0 then return "not reproduced" end
  return all and "reproduced" or "inconclusive"
end

--- Verdict of several claims that must all hold.
function measure.all_of(verdicts)
  local out = "reproduced"
  for _, v in ipairs(verdicts) do
    if v == "not reproduced" then return v end
    if v ~= "reproduced" then out = "inconclusive" end
  end
  return out
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
