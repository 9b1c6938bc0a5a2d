-- The seed article's desirable properties, measured for every encoding
-- ("You could have designed state of the art positional encoding", HF blog,
-- Nov 2024; definitions in docs: metrics.md "Properties named in the seed
-- article"). No training: everything here is a property of the encoding
-- itself, or of an untrained model (the "dog" check).
--
--   Pr1 unique       min ||PE(p) - PE(q)|| over p != q < L, in fp32 and
--                    after casting the table to bf16; distinct rows in bf16;
--                    PE(p) the same inside sequences of different lengths
--   Pr2 linear       least-squares M_k with PE(p+k) = M_k PE(p) (relative
--                    residual), the spread of PE(p).PE(p+k) over p, and the
--                    shift-invariance error of the position score
--   Pr3 generalises  max ||PE|| (or |bias|) up to 4x the training length
--                    over that within it; "no rows" for a learned table
--   Pr4 deterministic same table from two seeds; learnable parameter count
--   Pr5 multi-dim    2D encodings: score variance at fixed (dx, dy) and the
--                    error of an x-only + y-only split
-- plus step smoothness ||PE(p+1) - PE(p)|| (binary "jumps"), the RoFormer
-- long-term decay bound, and the "dog chased another dog" check.
--
-- Run:      posbench run experiments/properties.lua [scale=tiny|default] [key=value ...]
-- Library:  local props = dofile("experiments/properties.lua")
--           local summary = props.run{scale = "tiny", root = "/tmp/r"}
--           (any config key; lists as arrays or comma-separated strings)
-- Results:  <root>/properties/ properties.csv, steps.csv, decay.csv,
--           separability.csv, dog.csv, plots (PNG + SVG) and report.md.

local experiment = require "posbench.experiment"

local M = {}

M.config = {
  scale = "default",
  root = "results",
  encodings = { "none", "integer", "integer_norm", "binary", "sinusoidal", "learned",
                "rope", "xpos", "alibi", "t5", "kerple_log", "fire",
                "rope2d_axial", "rope2d_mixed", "sinusoidal2d" },
  d = 64, heads = 4,
  length = 512,            -- positions 0..length-1 for the table metrics
  distinct_length = 8192,  -- positions for the bf16 distinct count
  train_len = 64,          -- "training length" for Pr3 (learned tables have this many rows)
  generalise_factor = 4,
  k = 8,                   -- offset of the linear relation (also k = 1)
  shift = 1000, shift_samples = 200,
  grid = 16, max_d = 4, bases = 16,          -- 2D separability
  decay_d = 128, decay_bases = { 100, 10000, 500000 }, decay_max = 4096,
  steps_encodings = { "integer", "binary", "sinusoidal", "learned", "rope" },
  steps_length = 256,
  seed = 1,
}

M.scales = {
  tiny = { length = 160, distinct_length = 1024, shift_samples = 50, grid = 10, max_d = 3,
           bases = 6, decay_max = 1024, steps_length = 96, d = 32 },
  default = {},
}

-- Configuration: defaults, then the scale, then the overrides.
local function configure(overrides)
  return experiment.configure("properties", M.config, M.scales, overrides)
end

local say = experiment.sayer("properties")

-- value or nil, reason
local function try(f, ...)
  local ok, v = pcall(f, ...)
  if ok then return v end
  return nil, tostring(v):gsub("^pb%.metrics%.[%w_]+: ", "")
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
local function measure(cfg, name)
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

local function fmt_num(v)
  if v == nil then return "" end
  if type(v) == "boolean" then return v and "yes" or "no" end
  if type(v) ~= "number" then return tostring(v) end
  if v == math.huge then return "inf" end
  if v == 0 then return "0" end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.3g", v)
end

-- The whole study, into R (its run directory: see experiment.whole_study).
local function study(cfg, R)
  local rep = pb.report.new("The seed article's properties, per encoding")
  local t0 = pb.now()
  local summary = {}
  rep:para(string.format("Scale `%s`: d = %d, %d heads, table metrics over positions 0..%d, " ..
    "training length %d for Pr3, offset k = %d, shifts up to %d. Encodings act as in " ..
    "`posbench list encodings`; a q/k encoding's PE(p) is T(p) applied to the unit vector " ..
    "(1, ..., 1)/sqrt(d_head) in every head.", cfg.scale, cfg.d, cfg.heads, cfg.length - 1,
    cfg.train_len, cfg.k, cfg.shift))

  -- Properties table -----------------------------------------------------------
  local rows = {}
  for i, name in ipairs(cfg.encodings) do
    say("%d/%d %s", i, #cfg.encodings, name)
    rows[#rows + 1] = measure(cfg, name)
  end
  local columns = { "encoding", "sites", "unique", "min_dist", "min_dist_bf16", "distinct_bf16",
                    "distinct_of", "length_diff", "linear_res_1", "linear_res_k", "dot_cv",
                    "shift_rel", "generalises", "range_ratio", "deterministic", "learnable",
                    "n_params", "sep_rel_var", "sep_split_err", "notes" }
  local csv_rows = {}
  for _, r in ipairs(rows) do
    local c = {}
    for _, k in ipairs(columns) do
      local v = r[k]
      if type(v) == "boolean" then v = v and 1 or 0 end
      c[k] = v
    end
    csv_rows[#csv_rows + 1] = c
  end
  R:csv("properties.csv", csv_rows, columns)
  local shown = {}
  for _, r in ipairs(rows) do
    shown[#shown + 1] = {
      encoding = r.encoding, sites = r.sites,
      ["Pr1 unique"] = r.unique == "relative only" and "relative only" or
        string.format("%s (min %s, bf16 %s)", fmt_num(r.unique), fmt_num(r.min_dist), fmt_num(r.min_dist_bf16)),
      ["bf16 distinct"] = r.distinct_bf16 and string.format("%d/%d", r.distinct_bf16, r.distinct_of) or "",
      ["Pr2 residual k=1/k"] = r.linear_res_1 and (fmt_num(r.linear_res_1) .. " / " .. fmt_num(r.linear_res_k)) or "",
      ["Pr2 shift err"] = fmt_num(r.shift_rel),
      ["Pr3"] = r.generalises or "",
      ["Pr4 det./params"] = fmt_num(r.deterministic) .. " / " .. fmt_num(r.n_params),
      ["Pr5 2D var/split"] = r.sep_rel_var and (fmt_num(r.sep_rel_var) .. " / " .. fmt_num(r.sep_split_err)) or "1D",
    }
  end
  rep:section("One row per encoding")
  rep:table(shown, { "encoding", "sites", "Pr1 unique", "bf16 distinct", "Pr2 residual k=1/k",
                     "Pr2 shift err", "Pr3", "Pr4 det./params", "Pr5 2D var/split" },
    { caption = "Pr1: min distance between positions (fp32 and after bf16 casting) and " ..
      "whether PE(p) is the same in sequences of different lengths. Pr2: relative residual " ..
      "of the best linear map PE(p) -> PE(p+k), and the relative shift-invariance error of " ..
      "the position score. Pr3: range up to " .. cfg.generalise_factor .. "x the training " ..
      "length. Pr4: same table from another seed / learnable parameters. Pr5: relative " ..
      "variance at fixed (dx, dy) / error of an x + y split. Full numbers: properties.csv." })
  local by = {}
  for _, r in ipairs(rows) do by[r.encoding] = r end
  summary.properties = by

  -- Step smoothness --------------------------------------------------------------
  say("step smoothness")
  local series, step_rows, step_stats = {}, {}, {}
  for _, name in ipairs(cfg.steps_encodings) do
    local geom = { d = cfg.d, heads = cfg.heads, seed = cfg.seed }
    if name == "learned" then geom.size = cfg.steps_length end
    local tab = try(pb.metrics.table, name, geom, { length = cfg.steps_length })
    local st = tab and pb.metrics.steps(name, geom, { length = cfg.steps_length })
    if st then
      local rms = 0
      for p = 1, #tab do
        local s = 0
        for _, v in ipairs(tab[p]) do s = s + v * v end
        rms = rms + s
      end
      rms = math.sqrt(rms / #tab)
      local x, y, lo, hi, sum = {}, {}, math.huge, 0, 0
      for p = 1, #st do
        x[p], y[p] = p - 1, rms > 0 and st[p] / rms or 0
        step_rows[#step_rows + 1] = { encoding = name, p = p - 1, step = st[p], relative = y[p] }
        lo, hi, sum = math.min(lo, st[p]), math.max(hi, st[p]), sum + st[p]
      end
      series[#series + 1] = { name = name, x = x, y = y, style = "lines" }
      step_stats[#step_stats + 1] = { encoding = name, mean = sum / #st, min = lo, max = hi,
                                      ["max/min"] = lo > 0 and hi / lo or math.huge }
    end
  end
  R:csv("steps.csv", step_rows, { "encoding", "p", "step", "relative" })
  local plot_ok = pb.plot.available()
  rep:section("Step smoothness")
  rep:para("||PE(p+1) - PE(p)|| divided by the RMS norm of PE over the plotted positions: " ..
    "the article calls binary codes \"jumpy\" and sinusoids smooth.")
  rep:table(step_stats, { "encoding", "mean", "min", "max", "max/min" })
  if plot_ok and #series > 0 then
    local p = pb.plot { path = R:path("plots/steps"), title = "Step size between neighbouring positions",
                        xlabel = "position p", ylabel = "||PE(p+1) - PE(p)|| / rms ||PE||",
                        logy = true, series = series }
    rep:figure(p.png, "Relative step size against position.", { section = "binary" })
  end
  summary.steps = step_stats

  -- Long-term decay bound ---------------------------------------------------------
  say("decay bound")
  local dist = {}
  for r = 0, math.min(cfg.decay_max, 256) do dist[#dist + 1] = r end
  local r = 256
  while r < cfg.decay_max do
    r = math.floor(r * 1.05) + 1
    dist[#dist + 1] = math.min(r, cfg.decay_max)
  end
  local decay_rows, dseries = {}, {}
  for _, base in ipairs(cfg.decay_bases) do
    local b = pb.metrics.decay_bound { d = cfg.decay_d, base = base, distances = dist }
    for i, rr in ipairs(dist) do
      decay_rows[#decay_rows + 1] = { base = base, distance = rr, bound = b[i] }
    end
    dseries[#dseries + 1] = { name = "base " .. base, x = dist, y = b, style = "lines" }
  end
  R:csv("decay.csv", decay_rows, { "base", "distance", "bound" })
  rep:section("Long-term decay (RoFormer 3.4.3)")
  rep:para(string.format("Relative upper bound (1/(d/2)) sum_j |S_j| of a RoPE score against " ..
    "distance, d = %d. Only the bound decays; a trained model's scores need not.", cfg.decay_d))
  if plot_ok then
    local p = pb.plot { path = R:path("plots/decay"), title = "RoPE long-term decay bound",
                        xlabel = "relative distance m - n", ylabel = "bound", logx = true,
                        series = (function()
                          -- log x: drop distance 0
                          local out = {}
                          for i, s in ipairs(dseries) do
                            local x, y = {}, {}
                            for j = 2, #s.x do x[#x + 1], y[#y + 1] = s.x[j], s.y[j] end
                            out[i] = { name = s.name, x = x, y = y, style = "lines" }
                          end
                          return out
                        end)() }
    rep:figure(p.png, "Decay bound for several bases.", { section = "rope" })
  end

  -- 2D separability ---------------------------------------------------------------
  local sep_rows = {}
  for _, rrow in ipairs(rows) do
    if rrow.sep_rel_var then
      sep_rows[#sep_rows + 1] = { encoding = rrow.encoding, rel_var = rrow.sep_rel_var,
                                  split_error = rrow.sep_split_err }
    end
  end
  R:csv("separability.csv", sep_rows, { "encoding", "rel_var", "split_error" })
  rep:section("2D: relative and separable?")
  rep:para(string.format("Position score at offsets (dx, dy) in [-%d, %d]^2 on a %d x %d grid: " ..
    "variance at fixed offset over the total variance, and the error of the best x-only + " ..
    "y-only fit. The article: pair components within the same dimension, else x and y " ..
    "offsets are intermixed.", cfg.max_d, cfg.max_d, cfg.grid, cfg.grid))
  if #sep_rows > 0 then rep:table(sep_rows, { "encoding", "rel_var", "split_error" }) end

  -- The dog check -------------------------------------------------------------------
  say("dog check")
  local tokens = { 1, 2, 3, 4, 2 } -- The dog chased another dog
  local dog_rows = {}
  for _, c in ipairs { { "none", false }, { "none", true }, { "sinusoidal", false },
                       { "rope", false }, { "alibi", false } } do
    local m = pb.model { vocab = 8, d = cfg.d, heads = cfg.heads, layers = 2, encoding = c[1],
                         causal = c[2], max_len = 16, seed = cfg.seed }
    local out = m:forward(tokens)
    local diff = 0
    for i, v in ipairs(out.hidden[2]) do diff = math.max(diff, math.abs(v - out.hidden[5][i])) end
    dog_rows[#dog_rows + 1] = { encoding = c[1], causal = c[2] and 1 or 0, max_diff = diff,
                                identical = diff < 1e-6 and 1 or 0 }
    m:close()
  end
  R:csv("dog.csv", dog_rows, { "encoding", "causal", "max_diff", "identical" })
  rep:section("\"The dog chased another dog\"")
  rep:para("Untrained 2-layer models on tokens [The dog chased another dog]: the largest " ..
    "difference between the final hidden states of the two \"dog\" tokens.")
  rep:table(dog_rows, { "encoding", "causal", "max_diff", "identical" })

  -- Claims ---------------------------------------------------------------------------
  local function get(n) return by[n] or {} end
  local dog_ok = dog_rows[1].identical == 1
  for i = 2, #dog_rows do dog_ok = dog_ok and dog_rows[i].identical == 0 end
  rep:section("The article's claims")
  rep:claim { section = "problem", text = "Self-attention without positions gives identical outputs for the same " ..
    "token at different positions (bidirectional); a causal mask or any encoding separates them.",
    verdict = dog_ok and "confirmed" or "contradicted",
    evidence = string.format("max |h(dog1) - h(dog2)|: none bidirectional %.3g, none causal %.3g",
      dog_rows[1].max_diff, dog_rows[2].max_diff) }
  local s, b = get("sinusoidal"), get("binary")
  if s.linear_res_k and b.linear_res_k then
    rep:claim { section = "sinusoidal", text = "Sinusoidal encodings make PE(p+k) a linear function (a rotation) of " ..
      "PE(p); binary codes do not.",
      verdict = (s.linear_res_k < 1e-4 and b.linear_res_k > 1e-2) and "confirmed" or "contradicted",
      evidence = string.format("relative residual of the best M_k (k = %d): sinusoidal %.2g, " ..
        "binary %.2g", cfg.k, s.linear_res_k, b.linear_res_k) }
  end
  local function ratio(n)
    for _, st in ipairs(step_stats) do if st.encoding == n then return st["max/min"] end end
  end
  if ratio("binary") and ratio("sinusoidal") then
    rep:claim { section = "binary", text = "Binary position codes are jumpy; sinusoids change smoothly.",
      verdict = ratio("binary") > 2 * ratio("sinusoidal") and "confirmed" or "contradicted",
      evidence = string.format("max/min step: binary %.3g, sinusoidal %.3g",
        ratio("binary"), ratio("sinusoidal")) }
  end
  local n = get("integer_norm")
  if n.length_diff then
    rep:claim { section = "integer", text = "Normalising integer positions by the sequence length breaks uniqueness " ..
      "across lengths (Pr1).", verdict = n.length_diff > 0 and "confirmed" or "contradicted",
      evidence = string.format("max |PE_N(p) - PE_2N(p)| = %.3g", n.length_diff) }
  end
  local ro = get("rope")
  if ro.shift_rel then
    rep:claim { section = "rope", text = "RoPE's score depends on relative position only.",
      verdict = ro.shift_rel < 1e-4 and "confirmed" or "contradicted",
      evidence = string.format("relative shift-invariance error %.2g over shifts up to %d",
        ro.shift_rel, cfg.shift) }
  end
  local ax, mx = get("rope2d_axial"), get("rope2d_mixed")
  if ax.sep_split_err and mx.sep_split_err then
    rep:claim { section = "rope2d", text = "2D RoPE that rotates x-pairs and y-pairs separately keeps the x and y " ..
      "offsets apart; pairs mixing x and y intermix them.",
      verdict = (ax.sep_split_err < 1e-3 and mx.sep_split_err > 1e-2) and "confirmed" or "contradicted",
      evidence = string.format("x + y split error: axial %.2g, mixed %.2g", ax.sep_split_err,
        mx.sep_split_err) }
  end
  rep:para(string.format("Took %.1f s.", pb.now() - t0))
  rep:write(R:path("report.md"))
  say("done in %.1f s: %s", pb.now() - t0, R:path("report.md"))
  summary.dog = dog_rows
  summary.dir = R.dir
  summary.report = rep  -- lets experiments/article.lua adopt claims and figures
  return summary
end

-- Run when executed as the script (posbench run experiments/properties.lua).
experiment.whole_study(M, "properties", configure, study)

if experiment.is_main(...) then M.run(pb.args) end
return M
