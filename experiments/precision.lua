-- Low-precision robustness of positional encodings (the seed article's open
-- question: "encoding schemes that remain robust under low-precision
-- arithmetic"). Definitions: metrics.md "Low-precision robustness";
-- formats and sites: precision.md.
--
--   1. Static, no model: RoPE with the position, the angle p theta_k or the
--      cos/sin table cast to each format (the GPT-NeoX #1003 bug class):
--        distinct positions among 0..L-1, max phase error, the phase error
--        against position, and the drift of the score <R(p+m) q, R(p) k>
--        from its exact value as the absolute position p grows (the
--        relative property, broken by the format); additive tables cast
--        to each format (distinct rows).
--   2. Trained models: the relative-property deviation D and D_logit
--      (Wang et al. 2024) between position shifts 0 and D2, in fp32 and with
--      bf16/fp16 at q/k (qk_post) or at the angles.
--   3. Trained models evaluated with each format at each site, per length;
--      a RoPE model evaluated at large position offsets with its angles in
--      each format; a model trained with a bf16 forward against fp32.
--
-- Run:      posbench run experiments/precision.lua [scale=tiny|default] [key=value ...]
-- Library:  local prec = dofile("experiments/precision.lua"); prec.run{scale = "tiny", root = ...}
-- Results:  <root>/precision/ static.csv, tables.csv, drift.csv, deviation.csv,
--           eval_sites.csv, offsets.csv, trained_bf16.csv, plots and report.md.

local experiment = require "posbench.experiment"

local M = {}

M.config = {
  scale = "default",
  root = "results",
  -- 1. static
  static_length = 65536, d_head = 64, base = 10000,
  static_formats = { "fp32", "bf16", "fp16", "e5m2", "e4m3" },
  static_sites = { "positions", "angles", "tables" },
  table_encodings = { "integer", "sinusoidal" },
  drift_offset = 16, drift_points = 200,
  -- 2./3. trained models
  task = "copy", min_len = 2, L = 8, vocab = 8,
  model_encodings = { "rope", "sinusoidal", "alibi" },
  d = 64, heads = 4, layers = 2,
  steps = 1500, batch = 32, lr = 3e-3,
  shifts = { 64, 1024, 16384, 60000 },
  deviation_batch = 8,
  eval_sites = { "angles", "tables", "qk_post", "logits", "probs", "values", "activations", "weights" },
  eval_formats = { "bf16", "fp16", "e4m3" },
  eval_factors = { 1, 2 },
  samples = 200,
  offsets = { 0, 256, 2048, 16384, 60000 },
  train_precision = { "qk_post", "logits", "probs", "values", "activations", "weights" },
  train_format = "bf16",
  threads = 1,
  seed = 1,
}

M.scales = {
  tiny = { static_length = 8192, static_formats = { "fp32", "bf16", "fp16" },
           drift_points = 60, model_encodings = { "rope", "sinusoidal" }, d = 32, steps = 150,
           shifts = { 64, 4096 }, deviation_batch = 4, eval_sites = { "angles", "qk_post", "logits" },
           eval_formats = { "bf16", "e4m3" }, samples = 50, offsets = { 0, 2048, 16384 } },
  default = {},
}

local function configure(overrides)
  return experiment.configure("precision", M.config, M.scales, overrides)
end

local say = experiment.sayer("precision")

-- Log-spaced integer positions in [0, n) (0 first), about `count` of them.
local function log_positions(n, count)
  local out, seen = { 0 }, { [0] = true }
  for i = 0, count - 1 do
    local p = math.floor(math.exp(math.log(n - 1) * i / (count - 1)) + 0.5)
    if p < n and not seen[p] then seen[p], out[#out + 1] = true, p end
  end
  return out
end

local function positive(v, floor)
  if v ~= v or v == math.huge then return v end
  return math.max(v, floor)
end

-- Part 1 ------------------------------------------------------------------------

local function static_part(cfg, R, rep, summary)
  local L = cfg.static_length
  local rows = {}
  say("static: distinct positions and phase error over 0..%d", L - 1)
  local phase_series = {}
  for _, fmt in ipairs(cfg.static_formats) do
    for _, site in ipairs(cfg.static_sites) do
      local args = { format = fmt, site = site, length = L, d_head = cfg.d_head, base = cfg.base }
      local dist = pb.metrics.rope_distinct(args)
      args.per_position = site == "angles"
      local pe = pb.metrics.rope_phase_error(args)
      local n = #dist.per_freq
      rows[#rows + 1] = { format = fmt, site = site, length = L, distinct = dist.count,
                          distinct_highest_freq = dist.per_freq[1], distinct_lowest_freq = dist.per_freq[n],
                          phase_error = pe.max, phase_error_highest = pe.per_freq[1],
                          phase_error_lowest = pe.per_freq[n] }
      summary[string.format("distinct_%s_%s", fmt, site)] = dist.count
      if pe.per_position then
        -- the max over bins of ~L/512 positions keeps the plot light
        local bin = math.max(1, L // 512)
        local x, y = {}, {}
        for b0 = 1, L, bin do
          local mx = 0
          for p = b0, math.min(L, b0 + bin - 1) do mx = math.max(mx, pe.per_position[p]) end
          x[#x + 1], y[#y + 1] = b0 - 1 + bin // 2, positive(mx, 1e-9)
        end
        phase_series[#phase_series + 1] = { name = fmt, x = x, y = y, style = "lines" }
      end
    end
  end
  local cols = { "format", "site", "length", "distinct", "distinct_highest_freq",
                 "distinct_lowest_freq", "phase_error", "phase_error_highest", "phase_error_lowest" }
  R:csv("static.csv", rows, cols)
  rep:section("RoPE angles in low precision (no model)")
  rep:para(string.format("Positions 0..%d, d_head = %d, base %g. positions: p cast to the " ..
    "format; angles: p theta_k cast; tables: cos and sin cast. distinct: positions whose " ..
    "site values (all frequencies together) differ from every other position's; per " ..
    "frequency for theta_0 = 1 (highest) and the lowest. Phase error: max |wrapped angle " ..
    "error| in radians (inf: the value overflowed).", L - 1, cfg.d_head, cfg.base))
  rep:table(rows, { "format", "site", "distinct", "distinct_highest_freq", "distinct_lowest_freq",
                    "phase_error", "phase_error_highest", "phase_error_lowest" })
  local plot_ok = pb.plot.available()
  if plot_ok and #phase_series > 0 then
    local p = pb.plot { path = R:path("plots/phase_error"), title = "Phase error of cast angles",
                        xlabel = "position p", ylabel = "max_k |angle error| (rad)", logy = true,
                        series = phase_series }
    rep:figure(p.png, "Angle p theta_k cast to each format: worst phase error per position bin.", { section = "precision" })
  end

  -- additive tables cast to a format
  local trows = {}
  for _, enc in ipairs(cfg.table_encodings) do
    for _, fmt in ipairs(cfg.static_formats) do
      local c = pb.metrics.distinct(enc, { d = cfg.d_head, heads = 1 }, { length = L, format = fmt })
      trows[#trows + 1] = { encoding = enc, format = fmt, length = L, distinct = c }
      summary[string.format("table_distinct_%s_%s", enc, fmt)] = c
    end
  end
  R:csv("tables.csv", trows, { "encoding", "format", "length", "distinct" })
  rep:para("Additive tables (width d = d_head) cast to each format: distinct rows among " ..
    "positions 0.." .. (L - 1) .. ".")
  rep:table(trows, { "encoding", "format", "distinct" })

  -- drift of the score with absolute position
  say("static: drift of the relative property")
  local pos = log_positions(L, cfg.drift_points)
  local drows, dseries = {}, {}
  local cases = { { "fp32", "angles" }, { "bf16", "angles" }, { "fp16", "angles" },
                  { "bf16", "tables" }, { "bf16", "qk_post" }, { "fp16", "qk_post" } }
  for _, c in ipairs(cases) do
    local r = pb.metrics.rope_drift { format = c[1], site = c[2], offset = cfg.drift_offset,
                                      positions = pos, d_head = cfg.d_head, base = cfg.base,
                                      seed = cfg.seed }
    local x, y = {}, {}
    for i, p in ipairs(r.positions) do
      drows[#drows + 1] = { format = c[1], site = c[2], position = p, deviation = r.deviation[i] }
      if p > 0 then x[#x + 1], y[#y + 1] = p, positive(r.deviation[i], 1e-12) end
    end
    dseries[#dseries + 1] = { name = c[1] .. " " .. c[2], x = x, y = y, style = "lines" }
    summary[string.format("drift_max_%s_%s", c[1], c[2])] = r.max
  end
  R:csv("drift.csv", drows, { "format", "site", "position", "deviation" })
  rep:para(string.format("Drift: |<R(p+m) q, R(p) k> - exact| for fixed random unit q, k and " ..
    "m = %d, as the absolute position p grows. Exact RoPE gives 0 at every p.", cfg.drift_offset))
  if plot_ok then
    local p = pb.plot { path = R:path("plots/drift"), title = "RoPE relative property under casting",
                        xlabel = "absolute position p", ylabel = "|score error|", logx = true,
                        logy = true, series = dseries }
    rep:figure(p.png, "Score error against absolute position, per format and site.", { section = "precision" })
  end
  return rows
end

-- Parts 2 and 3 ------------------------------------------------------------------

local function train_models(cfg, task, T_max)
  local models = {}
  for i, enc in ipairs(cfg.model_encodings) do
    say("train %d/%d: %s", i, #cfg.model_encodings, enc)
    local m = pb.model { vocab = task:info().vocab, d = cfg.d, heads = cfg.heads,
                         layers = cfg.layers, encoding = enc, max_len = T_max, seed = cfg.seed }
    local log = pb.train(m, task, { steps = cfg.steps, batch = cfg.batch, lr = cfg.lr,
                                    seed = cfg.seed, progress = false })
    models[#models + 1] = { name = enc, model = m, final_loss = log.final_loss }
  end
  return models
end

local variants = {
  { name = "fp32", precision = nil },
  { name = "qk_post bf16", precision = { qk_post = "bf16" } },
  { name = "qk_post fp16", precision = { qk_post = "fp16" } },
  { name = "angles bf16", precision = { angles = "bf16" } },
  { name = "angles fp16", precision = { angles = "fp16" } },
}

local function deviation_part(cfg, R, rep, summary, task, models)
  say("relative-property deviation D")
  local rows, series = {}, {}
  for _, mm in ipairs(models) do
    for vi, v in ipairs(variants) do
      local x, y = {}, {}
      for _, s in ipairs(cfg.shifts) do
        local r = pb.metrics.relative_deviation(mm.model, task, { d1 = 0, d2 = s, length = cfg.L,
          batch = cfg.deviation_batch, seed = cfg.seed, precision = v.precision })
        rows[#rows + 1] = { encoding = mm.name, variant = v.name, shift = s, D = r.D,
                            D_logit = r.D_logit }
        x[#x + 1], y[#y + 1] = s, positive(r.D, 1e-12)
        summary[string.format("D_%s_%s_%d", mm.name, v.name:gsub(" ", "_"), s)] = r.D
      end
      if mm.name == "rope" then series[#series + 1] = { name = v.name, x = x, y = y } end
      if vi == 1 and mm.name ~= "rope" then
        series[#series + 1] = { name = mm.name .. " fp32", x = x, y = y, dash = 2 }
      end
    end
  end
  R:csv("deviation.csv", rows, { "encoding", "variant", "shift", "D", "D_logit" })
  rep:section("Relative-property deviation of trained models")
  rep:para(string.format("D between positions shifted by 0 and by D2 (Wang et al. 2024; " ..
    "sum over layers, heads and key columns of the mean |change| of attention, batch of %d " ..
    "problems of size %d); D_logit the same on the first key column's logits. A relative " ..
    "encoding gives D = 0 in exact arithmetic.", cfg.deviation_batch, cfg.L))
  rep:table(rows, { "encoding", "variant", "shift", "D", "D_logit" })
  if pb.plot.available() and #series > 0 then
    local p = pb.plot { path = R:path("plots/deviation"), title = "Relative-property deviation D",
                        xlabel = "position shift D2", ylabel = "D", logx = true, logy = true,
                        series = series }
    rep:figure(p.png, "D against the shift: the RoPE model per precision variant; other " ..
      "encodings in fp32 (dashed). D = 0 is drawn at 1e-12.", { section = "precision" })
  end
  return rows
end

local function eval_part(cfg, R, rep, summary, task, models)
  local lengths = {}
  for _, f in ipairs(cfg.eval_factors) do lengths[#lengths + 1] = math.max(1, math.floor(f * cfg.L + 0.5)) end
  say("evaluation per site and format")
  local rows = {}
  for _, mm in ipairs(models) do
    local base = pb.eval(mm.model, task, { lengths = lengths, samples = cfg.samples, seed = 77 })
    for _, n in ipairs(lengths) do
      rows[#rows + 1] = { encoding = mm.name, site = "none", format = "fp32", length = n,
                          accuracy = base[n].accuracy, loss = base[n].loss, delta = 0 }
    end
    for _, site in ipairs(cfg.eval_sites) do
      for _, fmt in ipairs(cfg.eval_formats) do
        local ev = pb.eval(mm.model, task, { lengths = lengths, samples = cfg.samples, seed = 77,
                                             precision = { [site] = fmt } })
        for _, n in ipairs(lengths) do
          rows[#rows + 1] = { encoding = mm.name, site = site, format = fmt, length = n,
                              accuracy = ev[n].accuracy, loss = ev[n].loss,
                              delta = ev[n].accuracy - base[n].accuracy }
        end
      end
    end
  end
  R:csv("eval_sites.csv", rows, { "encoding", "site", "format", "length", "accuracy", "loss", "delta" })
  rep:section("Trained models evaluated with a format at one site")
  rep:para(string.format("Per-token accuracy and loss (%d problems per length, lengths %s; " ..
    "trained in fp32 at sizes %d..%d); delta = change of accuracy against fp32.", cfg.samples,
    table.concat(lengths, ", "), cfg.min_len, cfg.L))
  rep:table(rows, { "encoding", "site", "format", "length", "accuracy", "loss", "delta" })

  -- RoPE at large position offsets, angles in each format
  local rope
  for _, mm in ipairs(models) do if mm.name == "rope" then rope = mm.model end end
  if rope then
    say("RoPE at position offsets")
    local orows, series = {}, {}
    local ovariants = { { "fp32", nil }, { "angles bf16", { angles = "bf16" } },
                        { "angles fp16", { angles = "fp16" } }, { "qk_post bf16", { qk_post = "bf16" } } }
    for _, v in ipairs(ovariants) do
      local x, y = {}, {}
      for _, off in ipairs(cfg.offsets) do
        local ev = pb.eval(rope, task, { lengths = { cfg.L }, samples = cfg.samples, seed = 77,
                                         positions = { scheme = "shift", shift = off },
                                         precision = v[2] })
        orows[#orows + 1] = { variant = v[1], offset = off, accuracy = ev[cfg.L].accuracy,
                              loss = ev[cfg.L].loss }
        x[#x + 1], y[#y + 1] = math.max(off, 1), ev[cfg.L].accuracy
        summary[string.format("offset_acc_%s_%d", v[1]:gsub(" ", "_"), off)] = ev[cfg.L].accuracy
      end
      series[#series + 1] = { name = v[1], x = x, y = y }
    end
    R:csv("offsets.csv", orows, { "variant", "offset", "accuracy", "loss" })
    rep:section("RoPE model at large position offsets")
    rep:para(string.format("The RoPE model trained at positions 0..%d evaluated on size-%d " ..
      "problems whose positions start at an offset. In exact arithmetic RoPE sees only " ..
      "relative positions, so accuracy should not change.", cfg.L * 2, cfg.L))
    rep:table(orows, { "variant", "offset", "accuracy", "loss" })
    if pb.plot.available() then
      local p = pb.plot { path = R:path("plots/offsets"), title = "RoPE accuracy at position offsets",
                          xlabel = "position offset (0 plotted at 1)", ylabel = "accuracy",
                          logx = true, yrange = { 0, 1 }, series = series }
      rep:figure(p.png, "Accuracy against the position offset, per precision variant.", { section = "precision" })
    end
  end

  -- trained with a low-precision forward
  say("training with %s sites", cfg.train_format)
  local tp = {}
  for _, site in ipairs(cfg.train_precision) do tp[site] = cfg.train_format end
  local enc = cfg.model_encodings[1]
  local T_max = #task:sample(cfg.L * cfg.eval_factors[#cfg.eval_factors], { seed = 1 }).tokens
  local low = pb.model { vocab = task:info().vocab, d = cfg.d, heads = cfg.heads,
                         layers = cfg.layers, encoding = enc, max_len = T_max, seed = cfg.seed,
                         precision = tp }
  local log = pb.train(low, task, { steps = cfg.steps, batch = cfg.batch, lr = cfg.lr,
                                    seed = cfg.seed, progress = false })
  local brows = {}
  local ref = models[1].model
  for _, spec in ipairs { { "fp32-trained", ref }, { cfg.train_format .. "-trained", low } } do
    for _, ev_name in ipairs { "fp32", cfg.train_format } do
      local ev = pb.eval(spec[2], task, { lengths = lengths, samples = cfg.samples, seed = 77,
                                          precision = ev_name == "fp32" and {} or tp })
      for _, n in ipairs(lengths) do
        brows[#brows + 1] = { model = spec[1], evaluated = ev_name, length = n,
                              accuracy = ev[n].accuracy, loss = ev[n].loss }
      end
    end
  end
  R:csv("trained_bf16.csv", brows, { "model", "evaluated", "length", "accuracy", "loss" })
  rep:section(string.format("Training with a %s forward", cfg.train_format))
  rep:para(string.format("%s model trained with %s at the sites %s (final training loss " ..
    "%.3g, fp32 model %.3g), each model evaluated both ways.", enc, cfg.train_format,
    table.concat(cfg.train_precision, ", "), log.final_loss, models[1].final_loss))
  rep:table(brows, { "model", "evaluated", "length", "accuracy", "loss" })
  low:close()
  return rows
end

-- The whole study, into R (its run directory: see experiment.whole_study).
local function study(cfg, R)
  pb.threads(cfg.threads)
  local rep = pb.report.new("Positional encodings in low precision")
  local t0 = pb.now()
  local summary = {}
  rep:para(string.format("Scale `%s`. Formats are emulated by rounding (round to nearest " ..
    "even) at named sites; see `posbench list formats` and `posbench list sites`.", cfg.scale))
  local static_rows = static_part(cfg, R, rep, summary)

  local task = pb.task(cfg.task, { min_len = cfg.min_len, max_len = cfg.L, vocab = cfg.vocab })
  local T_max = #task:sample(cfg.L * cfg.eval_factors[#cfg.eval_factors], { seed = 1 }).tokens
  local models = train_models(cfg, task, T_max)
  deviation_part(cfg, R, rep, summary, task, models)
  eval_part(cfg, R, rep, summary, task, models)

  -- Claims
  rep:section("Claims")
  local function static(fmt, site)
    for _, r in ipairs(static_rows) do
      if r.format == fmt and r.site == site then return r end
    end
  end
  local b, f32 = static("bf16", "angles"), static("fp32", "angles")
  if b and f32 then
    rep:claim { section = "precision", text = "RoPE angles computed in bf16 make distant positions collide " ..
      "(GPT-NeoX #1003, transformers #29285).",
      verdict = b.distinct < f32.distinct and "confirmed" or "contradicted",
      evidence = string.format("distinct positions among 0..%d: fp32 %d, bf16 %d (theta = 1 " ..
        "alone: %d); max phase error bf16 %.3g rad", cfg.static_length - 1, f32.distinct,
        b.distinct, b.distinct_highest_freq, b.phase_error) }
  end
  local d32 = summary[string.format("D_rope_fp32_%d", cfg.shifts[#cfg.shifts])]
  local dbf = summary[string.format("D_rope_qk_post_bf16_%d", cfg.shifts[#cfg.shifts])]
  if d32 and dbf then
    rep:claim { section = "precision", text = "Casting rotated q/k to bf16 breaks RoPE's relative property " ..
      "(Wang et al. 2024).",
      verdict = dbf > 10 * d32 and "confirmed" or "contradicted",
      evidence = string.format("D at shift %d: fp32 %.3g, bf16 q/k %.3g",
        cfg.shifts[#cfg.shifts], d32, dbf) }
  end
  local far = cfg.offsets[#cfg.offsets]
  local a32 = summary["offset_acc_fp32_" .. far]
  local abf = summary["offset_acc_angles_bf16_" .. far]
  local a0 = summary["offset_acc_fp32_" .. cfg.offsets[1]]
  if a32 and abf and a0 then
    rep:claim { section = "precision", text = "A RoPE model whose angles are computed in bf16 fails at large absolute " ..
      "positions although it only ever sees short relative distances; in fp32 it does not.",
      verdict = (abf < a32 - 0.05 and math.abs(a32 - a0) < 0.02) and "confirmed" or
        (math.abs(abf - a32) < 0.02 and "contradicted" or "inconclusive"),
      evidence = string.format("accuracy at offset %d: fp32 %.3g (offset %d: %.3g), bf16 " ..
        "angles %.3g", far, a32, cfg.offsets[1], a0, abf) }
  end
  rep:para(string.format("Took %.1f s.", pb.now() - t0))
  rep:write(R:path("report.md"))
  for _, mm in ipairs(models) do mm.model:close() end
  say("done in %.1f s: %s", pb.now() - t0, R:path("report.md"))
  summary.dir = R.dir
  summary.report = rep  -- lets experiments/article.lua adopt claims and figures
  return summary
end

experiment.whole_study(M, "precision", configure, study)

if experiment.is_main(...) then M.run(pb.args) end
return M
