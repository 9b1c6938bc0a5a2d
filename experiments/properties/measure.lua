-- The properties of one encoding: one row of the properties study's table
-- (Pr1 unique, Pr2 linear, Pr3 generalises, Pr4 deterministic, Pr5
-- multi-dim; definitions in properties.lua and docs/metrics.md).
local M = {}

-- value or nil, reason
local function try(f, ...)
  local ok, v = pcall(f, ...)
  if ok then return v end
  return nil, tostring(v):gsub("^pb%.metrics%.[%w_]+: ", "")
end
M.try = try

--- RMS norm of a table's rows: sqrt(mean over rows of ||row||^2).
function M.rms(rows)
  local sum = 0
  for p = 1, #rows do
    local s = 0
    for _, v in ipairs(rows[p]) do s = s + v * v end
    sum = sum + s
  end
  return math.sqrt(sum / #rows)
end

local function max_norm(rows, from, to)
  local mx = 0
  for p = from, to do
    local s = 0
    for _, v in ipairs(rows[p + 1]) do s = s + v * v end
    mx = math.max(mx, math.sqrt(s))
  end
  return mx
end

local function same_rows(a, b)
  for i = 1, #a do
    for j = 1, #a[i] do
      if a[i][j] ~= b[i][j] then return false end
    end
  end
  return true
end

-- One row of the properties table.
function M.row(cfg, name)
  local geom = { d = cfg.d, heads = cfg.heads, max_len = cfg.train_len, seed = cfg.seed }
  local info = pb.encoding(name, geom):info()
  local sites = table.concat(info.sites, "+")
  local bias_only = sites == "bias"
  local two_d = info.pos_dims == 2
  local L = two_d and cfg.grid * cfg.grid or cfg.length
  local width = two_d and cfg.grid or nil
  -- learned tables need rows for every position a metric visits
  local function g(extra)
    local t = {}
    for k, v in pairs(geom) do t[k] = v end
    if name == "learned" then t.size = extra or (L + cfg.shift + 1) end
    return t
  end
  local row = { encoding = name, sites = sites .. (two_d and " 2D" or ""),
                n_params = info.n_params }
  local notes = {}

  -- Pr1: uniqueness
  if bias_only then
    row.unique = "relative only"
  else
    local md = try(pb.metrics.min_distance, name, g(), { length = L, width = width })
    local mb = try(pb.metrics.min_distance, name, g(), { length = L, width = width, format = "bf16" })
    row.min_dist = md and md.distance
    row.min_dist_bf16 = mb and mb.distance
    local dl = two_d and cfg.grid * cfg.grid or cfg.distinct_length
    local g_d = g(dl + 1)
    row.distinct_bf16 = try(pb.metrics.distinct, name, g_d, { length = dl, format = "bf16",
                                                             width = width })
    row.distinct_of = dl
    if not two_d then
      row.length_diff = try(pb.metrics.length_consistency, name, g(),
                            { length = L // 2, other = L })
    end
    row.unique = (row.min_dist or 0) > 1e-6 and (two_d or row.length_diff == 0)
  end

  -- Pr2: linear relation and relative scores
  if not bias_only and not two_d then
    row.linear_res_1 = try(pb.metrics.linear_residual, name, g(), { length = L, k = 1 })
    row.linear_res_k = try(pb.metrics.linear_residual, name, g(), { length = L, k = cfg.k })
    local dv = try(pb.metrics.dot_variance, name, g(), { length = L, k = cfg.k })
    if dv then row.dot_cv = dv.mean ~= 0 and math.sqrt(dv.var) / math.abs(dv.mean) or (dv.var == 0 and 0 or math.huge) end
  end
  local si, why = try(pb.metrics.shift_invariance, name, g(),
                      { length = two_d and cfg.grid or cfg.train_len, shift = two_d and cfg.grid or cfg.shift,
                        samples = cfg.shift_samples, seed = cfg.seed })
  row.shift_rel = si and si.rel
  if not si then notes[#notes + 1] = "shift: " .. why end

  -- Pr3: range beyond the training length
  local Lt, Lg = cfg.train_len, cfg.train_len * cfg.generalise_factor
  if two_d then
    row.generalises = "n/a (2D)"
  elseif bias_only then
    local enc = pb.encoding(name, geom)
    local inside, beyond = 0, 0
    for h = 1, cfg.heads do
      inside = math.max(inside, math.abs(enc:bias(Lt - 1, 0, { head = h })))
      beyond = math.max(beyond, math.abs(enc:bias(Lg - 1, 0, { head = h })))
    end
    row.range_ratio = inside > 0 and beyond / inside or (beyond == 0 and 1 or math.huge)
    row.generalises = "bias grows x" .. string.format("%.3g", row.range_ratio)
  else
    local rows, why3 = try(pb.metrics.table, name, g(Lt), { length = Lg })
    if not rows then
      -- "learned: position 255 is beyond ... (size 64): ..." -> the middle clause
      local short = why3:gsub("^[%w_]+: ", ""):gsub(":.*", "")
      row.generalises = "no: " .. short
    else
      local inside, beyond = max_norm(rows, 0, Lt - 1), max_norm(rows, 0, Lg - 1)
      row.range_ratio = inside > 0 and beyond / inside or (beyond == 0 and 1 or math.huge)
      row.generalises = row.range_ratio <= 1.0001 and "bounded" or
        string.format("norm grows x%.3g", row.range_ratio)
    end
  end

  -- Pr4: deterministic (same from another seed) and learnable
  local g1, g2 = g(), g()
  g2.seed = cfg.seed + 1
  if bias_only then
    local a, b = pb.encoding(name, g1), pb.encoding(name, g2)
    local same = true
    for h = 1, cfg.heads do
      for i = 0, 16 do
        if a:bias(i, 0, { head = h }) ~= b:bias(i, 0, { head = h }) then same = false end
      end
    end
    row.deterministic = same
  else
    local a = try(pb.metrics.table, name, g1, { length = 32, width = width })
    local b = try(pb.metrics.table, name, g2, { length = 32, width = width })
    row.deterministic = a ~= nil and b ~= nil and same_rows(a, b)
  end
  row.learnable = info.n_params > 0

  -- Pr5: 2D
  if two_d then
    local s = try(pb.metrics.separability, name, g(), { grid = cfg.grid, max_d = cfg.max_d,
                                                        bases = cfg.bases, seed = cfg.seed })
    if s then
      row.sep_rel_var, row.sep_split_err = s.rel_var, s.split_error
    end
  end
  row.notes = table.concat(notes, "; ")
  return row
end

return M
