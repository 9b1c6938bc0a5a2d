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
--   stats.aggregate(rows, keys, value_columns, {level = 0.95})
--       -> rows, columns
--     one row per group with the key columns and, for each value column v,
--     v_mean, v_lo, v_hi, v_sd, v_n, v_min, v_max (nil values are skipped).
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
  local mn, mx = values[1], values[1]
  for i = 2, n do
    local v = values[i]
    if v ~= v or mn ~= mn then mn, mx = 0 / 0, 0 / 0 end
    if v < mn then mn = v end
    if v > mx then mx = v end
  end
  return {
    n = n, mean = m, sd = sd, se = se, lo = lo, hi = hi, min = mn, max = mx,
    median = median_of(values, n), level = level, has_ci = has_ci,
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
        local s = stats.summary(vals, opts)
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

return stats
