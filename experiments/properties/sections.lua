-- The parts of the properties study, in report order (parts.order). Each
-- takes the study's state S = { cfg, R, rep, summary } (properties.lua),
-- measures, writes its CSV and plots into R, adds its report section, and
-- leaves in S what later parts read: S.rows and S.by (the properties
-- table), S.step_stats (step smoothness), S.dog_rows (the dog check).
local experiment = require "posbench.experiment"
local measure = require "properties.measure"
local try = measure.try
local say = experiment.sayer("properties")

local parts = {}
parts.order = { "table", "steps", "decay", "separability", "dog", "claims" }

local function fmt_num(v)
  if v == nil then return "" end
  if type(v) == "boolean" then return v and "yes" or "no" end
  if type(v) ~= "number" then return tostring(v) end
  if v == math.huge then return "inf" end
  if v == 0 then return "0" end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.3g", v)
end

-- One row per encoding: properties.csv and the summary table.
function parts.table(S)
  local cfg, R, rep, summary = S.cfg, S.R, S.rep, S.summary
  local rows = {}
  for i, name in ipairs(cfg.encodings) do
    say("%d/%d %s", i, #cfg.encodings, name)
    rows[#rows + 1] = measure.row(cfg, name)
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
  S.rows, S.by = rows, by
end

-- ||PE(p+1) - PE(p)|| against position: steps.csv and a plot.
function parts.steps(S)
  local cfg, R, rep, summary = S.cfg, S.R, S.rep, S.summary
  say("step smoothness")
  local series, step_rows, step_stats = {}, {}, {}
  for _, name in ipairs(cfg.steps_encodings) do
    local geom = { d = cfg.d, heads = cfg.heads, seed = cfg.seed }
    if name == "learned" then geom.size = cfg.steps_length end
    local tab = try(pb.metrics.table, name, geom, { length = cfg.steps_length })
    local st = tab and pb.metrics.steps(name, geom, { length = cfg.steps_length })
    if st then
      local rms = measure.rms(tab)
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
  S.step_stats = step_stats
end

-- RoFormer's long-term decay bound of RoPE: decay.csv and a plot.
function parts.decay(S)
  local cfg, R, rep = S.cfg, S.R, S.rep
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
  local plot_ok = pb.plot.available()
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
end

-- 2D encodings: relative and separable? separability.csv.
function parts.separability(S)
  local cfg, R, rep, rows = S.cfg, S.R, S.rep, S.rows
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
end

-- "The dog chased another dog" on untrained models: dog.csv.
function parts.dog(S)
  local cfg, R, rep = S.cfg, S.R, S.rep
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
  S.dog_rows = dog_rows
end

-- The article's claims, read from the parts before.
function parts.claims(S)
  local cfg, rep, by, dog_rows, step_stats = S.cfg, S.rep, S.by, S.dog_rows, S.step_stats
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
end

return parts
