-- Collect of the scorecard: reads the runs, compares the proposal with each
-- baseline on every per-seed measure (pb.verdict, paired by seed), and
-- writes report.md / report.html (one table, then the figures and the
-- configuration), scorecard.csv, tests.csv and config.json.
local experiment = require "posbench.experiment"
local measure = require "literature.measure"

local ci = measure.ci

-- Records from disk, in plan order.
local function load(cfg, R, plan)
  local d = { eval = {}, measure = {}, property = {}, snr = {}, cost = {}, lr = {} }
  for _, e in ipairs(plan) do
    if e.done and not e.config.pilot then
      local run = R:load(e.name)
      local c, s = e.config, run.summary or {}
      if c.series and s.lr then d.lr[c.series] = s.lr end
      for _, rec in ipairs(run.metrics) do
        rec.seed = c.seed
        if rec.kind == "eval" then d.eval[#d.eval + 1] = rec
        elseif d[rec.kind] then d[rec.kind][#d[rec.kind] + 1] = rec end
      end
    end
  end
  return d
end

-- Per-seed values {[seed] = v} of a measure record field of one series.
local function measured(d, series, field)
  local out = {}
  for _, r in ipairs(d.measure) do
    if r.series == series and type(r[field]) == "number" then out[r.seed] = r[field] end
  end
  return out
end

-- The per-seed measures (the table's tested rows): {id, label, better =
-- "higher" | "lower" | nil (no better side), margin, fmt, values(enc) ->
-- by-seed table, show(summary) -> text}.
local function measures(cfg, X, d)
  local list = {}
  local log_margin = math.log(1 + cfg.ppl_margin)
  local function add(m) list[#list + 1] = m end
  for _, task in ipairs(cfg.tasks) do
    if task == "lm" then
      local function ppl_cell(r)
        if not r then return "n/a" end
        local s = string.format("%.2f", math.exp(r.mean))
        if r.has_ci then s = s .. string.format(" [%.2f, %.2f]", math.exp(r.lo), math.exp(r.hi)) end
        return s
      end
      add { id = "lm-at-L", log = true, label = "lm: perplexity at L (held-out text)", better = "lower", margin = log_margin,
            values = function(enc)
              return X:seed_at("lm-" .. enc, "ppl", cfg.lm_L)
            end, transform = math.log, show = ppl_cell, margin_text = string.format("%g%%", 100 * cfg.ppl_margin) }
      add { id = "lm-beyond", log = true, label = "lm: perplexity beyond L (mean of log over lengths)", better = "lower",
            margin = log_margin, values = function(enc)
              return X:by_seed("lm-" .. enc, function(by)
                local s, k = 0, 0
                for n, r in pairs(by) do if n > cfg.lm_L and r.ppl then s, k = s + math.log(r.ppl), k + 1 end end
                return k > 0 and s / k or nil
              end)
            end, show = ppl_cell, margin_text = string.format("%g%%", 100 * cfg.ppl_margin) }
    else
      add { id = task .. "-in", label = task .. ": accuracy at sizes <= L", better = "higher", margin = cfg.acc_margin,
            bounds = { 0, 1 }, values = function(enc)
              return X:seed_mean(task .. "-" .. enc, "accuracy", function(r) return r.in_dist end)
            end }
      add { id = task .. "-beyond", label = task .. ": accuracy beyond L (mean over sizes)", better = "higher",
            margin = cfg.acc_margin, bounds = { 0, 1 }, values = function(enc)
              return X:seed_mean(task .. "-" .. enc, "accuracy")
            end }
    end
  end
  local pt = cfg.precision_task
  local has_pt = false
  for _, t in ipairs(cfg.tasks) do has_pt = has_pt or t == pt end
  if has_pt then
    local function field(f) return function(enc) return measured(d, pt .. "-" .. enc, f) end end
    add { id = "D-fp32", label = "relative-property deviation D, fp32", better = "lower", margin = cfg.D_margin,
          fmt = "%.3g", values = field("D_fp32") }
    for _, f in ipairs(cfg.formats) do
      add { id = "D-" .. f, label = string.format("D with %s at %s", f, table.concat(cfg.sites, ", ")),
            better = "lower", margin = cfg.D_margin, fmt = "%.3g", values = field("D_" .. f) }
    end
    for _, f in ipairs(cfg.formats) do
      add { id = "drop-" .. f, label = string.format("accuracy drop at L with %s at %s", f, table.concat(cfg.sites, ", ")),
            better = "lower", margin = cfg.acc_margin, values = field("drop_" .. f) }
    end
    add { id = "share", label = "position share of the logits (mean over layers, heads)", better = nil,
          margin = cfg.share_margin, bounds = { 0, 1 }, values = field("share") }
  end
  return list
end

-- Claims of one measure: the proposal above / below each baseline.
local function claims_of(cfg, m, P, B)
  local out = {}
  for _, b in ipairs(cfg.against) do
    if P and B[b] then
      out[#out + 1] = { id = m.id .. "|" .. b .. "|above", kind = "greater", a = P, b = B[b], margin = m.margin,
                        text = cfg.proposal .. " above " .. b .. " on " .. m.label }
      out[#out + 1] = { id = m.id .. "|" .. b .. "|below", kind = "less", a = P, b = B[b], margin = m.margin,
                        text = cfg.proposal .. " below " .. b .. " on " .. m.label }
    end
  end
  return out
end

-- "better" / "worse" / "no different" / "higher" / "lower" / "undecided"
-- from the two claims of one comparison.
local function word(m, above, below)
  if not above or not below then return "not tested" end
  if above.verdict == "not testable" then return "not testable: " .. tostring(above.reason) end
  -- within the margin on both sides (two one-sided tests): no different,
  -- even where a difference smaller than the margin is also shown
  if above.refute.rejected and below.refute.rejected then return "no different" end
  local up, down = above.hold.rejected, below.hold.rejected
  if up and not down then
    return m.better == "higher" and "better" or m.better == "lower" and "worse" or "higher"
  elseif down and not up then
    return m.better == "lower" and "better" or m.better == "higher" and "worse" or "lower"
  end
  return "undecided"
end

local function checklist(cfg, d)
  local by = {}
  for _, r in ipairs(d.property) do by[r.encoding] = r end
  local function mark(ok) if ok == nil then return "n/a" end; return ok and "yes" or "no" end
  local rows = {
    { "unique (min distance between positions)", function(r)
        if r.unique == "relative only" then return "relative only" end
        return mark(r.unique == true) .. (r.min_dist and string.format(" (%.3g)", r.min_dist) or "") end },
    { "linear relation (residual at offset k)", function(r)
        return r.linear_res and string.format("%s (%.3g)", mark(r.linear_res < 1e-3), r.linear_res) or "n/a" end },
    { "relative (score change under a shift)", function(r)
        return r.shift_rel and string.format("%s (%.3g)", mark(r.shift_rel < 1e-3), r.shift_rel) or "n/a" end },
    { "smooth (largest step / RMS of the table)", function(r)
        return r.step_over_rms and string.format("%s (%.3g)", mark(r.step_over_rms < 0.5), r.step_over_rms) or "n/a" end },
    { "decays with distance (Spearman of self-score)", function(r)
        return r.decay_rho and string.format("%s (%.2f)", mark(r.decay_rho < -0.5), r.decay_rho) or "n/a" end },
    { "beyond L", function(r) return tostring(r.generalises or "n/a") end },
    { "deterministic", function(r) return mark(r.deterministic) end },
    { "learnable parameters", function(r) return tostring(r.n_params or 0) end },
    { "2D", function(r) return r.two_d and ("yes" .. (r.sep_split_err and string.format(" (split error %.3g)", r.sep_split_err) or "")) or "no" end },
  }
  local out = {}
  for _, spec in ipairs(rows) do
    local row = { measure = "property: " .. spec[1] }
    for _, enc in ipairs(cfg.encodings) do row[enc] = by[enc] and spec[2](by[enc]) or "n/a" end
    out[#out + 1] = row
  end
  return out
end

local function cost_rows(cfg, d)
  local by = {}
  for _, r in ipairs(d.cost) do by[r.encoding] = r end
  local ref = by.none
  local step = { measure = "cost: training step time (ratio to NoPE)" }
  local mem = { measure = "cost: evaluation memory added (ratio to NoPE)" }
  for _, enc in ipairs(cfg.encodings) do
    local r = by[enc]
    step[enc] = r and r.step_seconds and string.format("%.1f ms%s", 1000 * r.step_seconds,
      ref and ref.step_seconds and string.format(" (%.2fx)", r.step_seconds / ref.step_seconds) or "") or "n/a"
    mem[enc] = r and r.eval_kb and string.format("%.1f MB%s", r.eval_kb / 1024,
      ref and ref.eval_kb and ref.eval_kb > 0 and string.format(" (%.2fx)", r.eval_kb / ref.eval_kb) or "") or "n/a"
  end
  return { step, mem }, by
end

local function snr_rows(cfg, d)
  local last, series = {}, {}
  for _, r in ipairs(d.snr) do
    if type(r.snr) ~= "number" then goto next end
    series[r.encoding] = series[r.encoding] or { name = r.encoding, x = {}, y = {}, style = "lines" }
    local s = series[r.encoding]
    s.x[#s.x + 1], s.y[#s.y + 1] = r.p, r.snr
    last[r.encoding] = r
    ::next::
  end
  local row = { measure = string.format("SNR of the position signal at position %d (input encodings)", cfg.snr_length - 1) }
  for _, enc in ipairs(cfg.encodings) do
    row[enc] = last[enc] and string.format("%.3g", last[enc].snr) or "n/a (no input table)"
  end
  local list = {}
  for _, enc in ipairs(cfg.encodings) do if series[enc] then list[#list + 1] = series[enc] end end
  return row, list
end

-- Per-seed values and their summaries: vals[id][enc], sums[id][enc].
local function values_of(cfg, X, ms)
  local vals, sums = {}, {}
  for _, m in ipairs(ms) do
    vals[m.id], sums[m.id] = {}, {}
    for _, enc in ipairs(cfg.encodings) do
      local v = m.values(enc)
      if m.transform then for s, x in pairs(v) do v[s] = m.transform(x) end end
      vals[m.id][enc] = v
      sums[m.id][enc] = X:summarise(v, m.bounds)
    end
  end
  return vals, sums
end

-- The tests: a family per measure (the proposal against each baseline), or
-- one family for the whole table. -> results by claim id
local function decide_all(cfg, ms, vals)
  local P, results, all = cfg.proposal, {}, {}
  local function decide(claims)
    if #claims == 0 then return end
    for _, r in ipairs(pb.verdict.decide(claims, { alpha = cfg.alpha, level = cfg.level })) do results[r.id] = r end
  end
  for _, m in ipairs(ms) do
    local B = {}
    for _, b in ipairs(cfg.against) do B[b] = next(vals[m.id][b]) and vals[m.id][b] or nil end
    local cl = claims_of(cfg, m, next(vals[m.id][P]) and vals[m.id][P] or nil, B)
    if cfg.family == "measure" then decide(cl) else for _, c in ipairs(cl) do all[#all + 1] = c end end
  end
  if cfg.family == "table" then decide(all) end
  return results
end

-- The tested rows of the table and of scorecard.csv, the tests behind
-- them and the count of each verdict.
local function tested_rows(cfg, ms, sums, results)
  local P = cfg.proposal
  local rows, csv_rows, test_results = {}, {}, {}
  local counts = {}
  for _, m in ipairs(ms) do
    local show = m.show or function(r) return (ci(r, m.fmt or "%.3f"):gsub(" %(max.*$", "")) end
    local row = { measure = m.label .. " [" .. (m.better and (m.better .. " is better") or "no better side") ..
      "; margin " .. (m.margin_text or string.format("%g", m.margin)) .. "]" }
    for _, enc in ipairs(cfg.encodings) do
      local s = sums[m.id][enc]
      local cell = show(s)
      local csv_row = { measure = m.id, encoding = enc, mean = s and s.mean, lo = s and s.lo, hi = s and s.hi,
                        n = s and s.n }
      if enc ~= P then
        local above, below = results[m.id .. "|" .. enc .. "|above"], results[m.id .. "|" .. enc .. "|below"]
        local w = word(m, above, below)
        local eff = above and above.effects and above.effects[1]
        csv_row.verdict, csv_row.effect = w, eff and eff.mean
        csv_row.effect_lo, csv_row.effect_hi = eff and eff.lo, eff and eff.hi
        csv_row.p_above, csv_row.p_below = above and above.hold and above.hold.p, below and below.hold and below.hold.p
        csv_row.holm_above = above and above.hold and above.hold.holm
        csv_row.holm_below = below and below.hold and below.hold.holm
        local short = w:match("^not testable") and "not testable" or w
        counts[short] = (counts[short] or 0) + 1
        cell = cell .. string.format(" — %s: %s", P, w)
        if eff and eff.mean then
          cell = cell .. string.format(" (%s%s %s [%s, %s])", m.log and "log ratio " or "", P .. " - " .. enc,
            string.format("%.3g", eff.mean),
            string.format("%.3g", eff.lo or 0 / 0), string.format("%.3g", eff.hi or 0 / 0))
        end
        if above then test_results[#test_results + 1] = above end
        if below then test_results[#test_results + 1] = below end
      end
      row[enc] = cell
      csv_rows[#csv_rows + 1] = csv_row
    end
    rows[#rows + 1] = row
  end
  return rows, csv_rows, test_results, counts
end

-- The untested rows (SNR, properties, cost), added to rows and csv_rows.
local function measured_rows(cfg, d, rows, csv_rows)
  local snr_row, snr_series = snr_rows(cfg, d)
  rows[#rows + 1] = snr_row
  for _, r in ipairs(checklist(cfg, d)) do rows[#rows + 1] = r end
  local crows, cost_by = cost_rows(cfg, d)
  for _, r in ipairs(crows) do rows[#rows + 1] = r end
  for _, enc in ipairs(cfg.encodings) do
    local c = cost_by[enc]
    csv_rows[#csv_rows + 1] = { measure = "step_seconds", encoding = enc, mean = c and c.step_seconds }
    csv_rows[#csv_rows + 1] = { measure = "eval_kb", encoding = enc, mean = c and c.eval_kb }
  end

  return snr_series
end

-- report.md / .html, the CSVs and config.json.
local function write_all(cfg, R, X, d, rows, csv_rows, test_results, counts, snr_series, t0)
  local P = cfg.proposal
  local rep = pb.report.new("Scorecard: " .. P)
  local n_comp = 0
  for _, v in pairs(counts) do n_comp = n_comp + v end
  local parts = {}
  for _, k in ipairs { "better", "no different", "worse", "higher", "lower", "undecided", "not testable" } do
    if counts[k] then parts[#parts + 1] = string.format("%d %s", counts[k], k) end
  end
  rep:para(string.format("The proposal **%s**%s against %s: %d comparisons on per-seed measures: %s. Scale `%s`, " ..
    "%d seeds, d = %d, %d heads, %d layers, %d steps (lm %d), batch %d; learning rate per task and encoding " ..
    "from {%s} on the pilot seed's validation problems (never beyond L).", P,
    cfg.proposal_file and (" (" .. cfg.proposal_file .. ")") or "", table.concat(cfg.against, ", "), n_comp,
    #parts > 0 and table.concat(parts, ", ") or "none", cfg.scale, cfg.seeds, cfg.d, cfg.heads, cfg.layers, cfg.steps,
    cfg.lm_steps, cfg.batch, table.concat((function()
      local t = {}
      for i, v in ipairs(cfg.lr_grid) do t[i] = string.format("%g", v) end
      return t
    end)(), ", ")))
  rep:para(string.format("Each baseline's cell: its estimate (mean over seeds [%g%% interval], accuracies kept " ..
    "inside [0, 1]) and the verdict on the proposal against it. The two one-sided paired t-tests of \"%s above X\" " ..
    "and \"%s below X\" (per-seed differences, seeds share weights and data) run with Holm at alpha = %g %s; " ..
    "\"better\"/\"worse\" (\"higher\"/\"lower\" where neither side is better) when one direction is shown; " ..
    "\"no different\" when both differences beyond the margin are rejected (two one-sided tests: equivalent within " ..
    "the margin); \"undecided\" otherwise (more seeds would decide it). Properties, SNR and cost are single " ..
    "measurements, shown without a test.", 100 * cfg.level, P, P, cfg.alpha,
    cfg.family == "measure" and "within each measure (the proposal against every baseline on it)" or
    "over the whole table"))
  rep:table(rows, (function()
    local cols = { "measure" }
    for _, enc in ipairs(cfg.encodings) do cols[#cols + 1] = enc end
    return cols
  end)(), { caption = "The scorecard: rows are measures, columns the proposal and each baseline." })

  -- figures
  local figures = 0
  for _, task in ipairs(cfg.tasks) do
    local list = {}
    for _, enc in ipairs(cfg.encodings) do list[#list + 1] = { series = task .. "-" .. enc, name = enc } end
    local lm = task == "lm"
    local png = X:plot_lines(R:path("plots/" .. task), task .. ": " .. (lm and "perplexity" or "accuracy") ..
      " against length", list, lm and "ppl" or "accuracy",
      { xlabel = lm and "window (characters)" or "problem size n", ylabel = lm and "perplexity" or "accuracy",
        L = lm and cfg.lm_L or cfg.L, logy = lm, yrange = not lm and { 0, 1 } or nil })
    if png then
      rep:figure(png, task .. ": mean and " .. 100 * cfg.level .. "% interval over seeds against length; the line marks L.")
      figures = figures + 1
    end
  end
  if #snr_series > 0 and pb.plot.available() then
    local p = pb.plot { path = R:path("plots/snr"), title = "SNR of the position signal", xlabel = "position",
                        ylabel = "SNR", logy = true, series = snr_series }
    rep:figure(p.png, "SNR(p) = ||e|| / ||PE(p)|| of the input encodings (properties study's definition).")
    figures = figures + 1
  end
  rep:section("Tests", 3)
  local trows, tcols = pb.verdict.rows(test_results)
  rep:table(trows, tcols, { caption = "Every test behind the table's verdicts." })
  rep:section("Configuration", 3)
  local conf = experiment.public_settings(cfg, { root = true })
  local lines = experiment.settings_lines(conf, " = ")
  local lrs = {}
  for series, lr in pairs(d.lr) do lrs[#lrs + 1] = string.format("%s: %g", series, lr) end
  table.sort(lrs)
  rep:code(table.concat(lines, "\n"))
  rep:para("Learning rates chosen: " .. (#lrs > 0 and table.concat(lrs, "; ") or "none") .. ".")
  rep:para(string.format("Collected in %.1f s from %s.", pb.now() - t0, R.dir))

  R:csv("scorecard.csv", csv_rows, { "measure", "encoding", "mean", "lo", "hi", "n", "verdict", "effect", "effect_lo",
                                     "effect_hi", "p_above", "p_below", "holm_above", "holm_below" })
  R:csv("tests.csv", trows, tcols)
  R:write("config.json", pb.json.encode(conf, { indent = true }) .. "\n")
  rep:write(R:path("report.md"))
  rep:write_html(R:path("report.html"))
  experiment.sayer("scorecard")("%s: %d comparisons (%s), %d figures: %s", P, n_comp,
    #parts > 0 and table.concat(parts, ", ") or "none", figures, R:path("report.html"))
  return { dir = R.dir, counts = counts, rows = rows, csv = csv_rows, report = rep }
end

return function(cfg, R, plan)
  local t0 = pb.now()
  local d = load(cfg, R, plan)
  local X = measure.new(cfg.level, d.eval, nil)
  local ms = measures(cfg, X, d)
  local vals, sums = values_of(cfg, X, ms)
  local results = decide_all(cfg, ms, vals)
  local rows, csv_rows, test_results, counts = tested_rows(cfg, ms, sums, results)
  local snr_series = measured_rows(cfg, d, rows, csv_rows)
  return write_all(cfg, R, X, d, rows, csv_rows, test_results, counts, snr_series, t0)
end
