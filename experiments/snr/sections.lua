-- The parts of the signal-to-noise study, in report order (parts.order).
-- Each takes the study's state S = { cfg, R, rep, summary } (snr.lua),
-- measures, writes its CSV and plots into R, adds its report section, and
-- leaves in S what later parts read: S.task, S.T_max, S.models and
-- S.model_rows (the trained models), S.e_init (the initial embedding
-- norm), S.probe_rows (the noise probe).
local experiment = require "posbench.experiment"
local say = experiment.sayer("snr")

local parts = {}
parts.order = { "train", "snr", "terms", "share", "frequency_usage", "probe", "claims" }

local function mean_row_norm(flat, rows, width)
  local total = 0
  for r = 0, rows - 1 do
    local s = 0
    for i = 1, width do
      local v = flat[r * width + i]
      s = s + v * v
    end
    total = total + math.sqrt(s)
  end
  return total / rows
end

local function mean(t)
  local s = 0
  for _, v in ipairs(t) do s = s + v end
  return #t > 0 and s / #t or 0 / 0
end

-- Trained models first: their embedding scale feeds the SNR part. models.csv.
function parts.train(S)
  local cfg, R = S.cfg, S.R
  local task = pb.task(cfg.task, { min_len = cfg.min_len, max_len = cfg.L, vocab = cfg.vocab })
  local T_max = #task:sample(cfg.L, { seed = 1 }).tokens
  local models, model_rows = {}, {}
  for i, enc in ipairs(cfg.train_encodings) do
    say("train %d/%d: %s", i, #cfg.train_encodings, enc)
    local mcfg = { vocab = task:info().vocab, d = cfg.d, heads = cfg.heads, layers = cfg.layers,
                   norm = cfg.norm, encoding = enc, max_len = T_max, seed = cfg.seed }
    if enc == "learned" then mcfg.enc = { size = math.max(T_max, cfg.snr_length) } end
    local m = pb.model(mcfg)
    local log = pb.train(m, task, { steps = cfg.steps, batch = cfg.batch, lr = cfg.lr,
                                    seed = cfg.seed, progress = false })
    local ev = pb.eval(m, task, { lengths = { cfg.L }, samples = cfg.eval_samples, seed = 99 })
    local e_norm = mean_row_norm(m:param("wte"), mcfg.vocab, cfg.d)
    models[enc] = m
    model_rows[#model_rows + 1] = { encoding = enc, accuracy = ev[cfg.L].accuracy,
                                    exact = ev[cfg.L].exact, final_loss = log.final_loss,
                                    e_norm = e_norm }
  end
  R:csv("models.csv", model_rows, { "encoding", "accuracy", "exact", "final_loss", "e_norm" })
  S.task, S.T_max, S.models, S.model_rows = task, T_max, models, model_rows
end

-- SNR against position, and the trained models' table. snr.csv.
function parts.snr(S)
  local cfg, R, rep, summary = S.cfg, S.R, S.rep, S.summary
  local models, model_rows, T_max = S.models, S.model_rows, S.T_max
  local plot_ok = pb.plot.available()
  say("SNR against position")
  local e_init = 0.02 * math.sqrt(cfg.d)
  local snr_rows, series = {}, {}
  for _, enc in ipairs(cfg.snr_encodings) do
    local geom = { d = cfg.d, heads = cfg.heads, seed = cfg.seed }
    if enc == "learned" then geom.size = cfg.snr_length end
    local s = pb.metrics.snr(enc, geom, { length = cfg.snr_length, e_norm = e_init })
    local x, y = {}, {}
    for p = 2, #s do -- p = 0 is infinite for integer encodings
      x[#x + 1], y[#y + 1] = p - 1, s[p]
    end
    for p = 1, #s do snr_rows[#snr_rows + 1] = { encoding = enc, p = p - 1, snr = s[p] } end
    series[#series + 1] = { name = enc, x = x, y = y, style = "lines" }
    summary["snr_" .. enc] = s[#s]
  end
  R:csv("snr.csv", snr_rows, { "encoding", "p", "snr" })
  rep:section("SNR against position")
  rep:para(string.format("SNR(p) = ||e|| / ||PE(p)|| with ||e|| = 0.02 sqrt(d) = %.3g (the " ..
    "initial embedding scale). Integer: 1/(p sqrt(d)) times ||e||; sinusoidal: constant " ..
    "||e|| / (scale sqrt(d/2)), scale = 1/sqrt(d) by default, so ||e|| sqrt(2). " ..
    "RoPE adds nothing to the token vector (a rotation keeps its " ..
    "norm), so it has no such ratio. The trained models' mean ||e|| is in the next table.", e_init))
  if plot_ok then
    local p = pb.plot { path = R:path("plots/snr"), title = "Token-to-position signal ratio",
                        xlabel = "position p", ylabel = "||e|| / ||PE(p)||", logx = true,
                        logy = true, series = series }
    rep:figure(p.png, "SNR(p) for each additive encoding.", { section = "integer" })
  end
  local trained_snr = {}
  for _, r in ipairs(model_rows) do
    local enc = r.encoding
    if enc == "integer" or enc == "binary" or enc == "sinusoidal" or enc == "learned" then
      local geom = { d = cfg.d, heads = cfg.heads, seed = cfg.seed }
      if enc == "learned" then geom.size = cfg.snr_length end
      local s = enc == "learned"
        and pb.metrics.snr(models[enc], { length = T_max, e_norm = r.e_norm })
        or pb.metrics.snr(enc, geom, { length = T_max, e_norm = r.e_norm })
      r.snr_at_T = s[#s]
      trained_snr[enc] = s[#s]
    end
  end
  rep:section("Trained models")
  rep:table(model_rows, { "encoding", "accuracy", "exact", "final_loss", "e_norm", "snr_at_T" },
    { caption = string.format("Per-token accuracy at size %d; e_norm the trained mean token " ..
      "embedding norm; snr_at_T its SNR at the last position (%d) of the longest training " ..
      "sequence.", cfg.L, T_max - 1) })
  S.e_init = e_init
end

-- The four-term logit decomposition of layer 1. terms.csv.
function parts.terms(S)
  local cfg, R, rep, summary = S.cfg, S.R, S.rep, S.summary
  local models, task = S.models, S.task
  local plot_ok = pb.plot.available()
  say("logit decomposition")
  local term_rows = {}
  for _, enc in ipairs(cfg.train_encodings) do
    local ok, t = pcall(pb.metrics.logit_terms, models[enc], task,
                        { length = cfg.L, batch = cfg.metric_batch, seed = 7 })
    if ok then
      term_rows[#term_rows + 1] = { encoding = enc, word_word = t.all.word_word,
        word_position = t.all.word_position, position_word = t.all.position_word,
        position_position = t.all.position_position, var_logit = t.all.var_logit }
    end
  end
  R:csv("terms.csv", term_rows, { "encoding", "word_word", "word_position", "position_word",
                                  "position_position", "var_logit" })
  rep:section("Four-term logit decomposition (layer 1)")
  rep:para("Share of each term's variance in the sum of the four (Ke et al., TUPE), over " ..
    "every unmasked query-key pair, all heads pooled. Additive encodings only.")
  if #term_rows > 0 then
    rep:table(term_rows, { "encoding", "word_word", "word_position", "position_word",
                           "position_position", "var_logit" })
    if plot_ok then
      local cats, terms = {}, { "word_word", "word_position", "position_word", "position_position" }
      for _, r in ipairs(term_rows) do cats[#cats + 1] = r.encoding end
      local s = {}
      for i, term in ipairs(terms) do
        local v = {}
        for j, r in ipairs(term_rows) do v[j] = r[term] end
        s[i] = { name = term, values = v }
      end
      local p = pb.plot.bars { path = R:path("plots/terms"), title = "Logit variance shares, layer 1",
                               categories = cats, series = s, ylabel = "share", yrange = { 0, 1 } }
      rep:figure(p.png, "Four-term variance shares per encoding.", { section = "integer" })
    end
  end
  summary.terms = term_rows
end

-- The position share of the logits per layer and head. share.csv.
function parts.share(S)
  local cfg, R, rep, summary = S.cfg, S.R, S.rep, S.summary
  local models, task = S.models, S.task
  local plot_ok = pb.plot.available()
  say("position share")
  local share_rows, share_cats, share_series = {}, {}, {}
  for l = 1, cfg.layers do share_series[l] = { name = "layer " .. l, values = {} } end
  for _, enc in ipairs(cfg.train_encodings) do
    local sh = pb.metrics.position_share(models[enc], task,
                                         { length = cfg.L, batch = cfg.metric_batch, seed = 7 })
    share_cats[#share_cats + 1] = enc
    for l, heads in ipairs(sh) do
      for h, v in ipairs(heads) do
        share_rows[#share_rows + 1] = { encoding = enc, layer = l, head = h, share = v }
      end
      share_series[l].values[#share_cats] = mean(heads)
    end
  end
  R:csv("share.csv", share_rows, { "encoding", "layer", "head", "share" })
  rep:section("Position share of the logits")
  rep:para("f(m) = mean logit over pairs at offset i - j = m; share = Var(f) / Var(A): how " ..
    "much of a head's logit variance the offset alone explains (mean over heads).")
  if plot_ok then
    local p = pb.plot.bars { path = R:path("plots/share"), title = "Position share of logits",
                             categories = share_cats, series = share_series, ylabel = "Var(f)/Var(A)",
                             yrange = { 0, 1 } }
    rep:figure(p.png, "Mean position share per layer.", { section = "signal" })
  end
  summary.share = share_rows
end

-- RoPE's per-frequency usage (when a RoPE model was trained). freq_usage.csv.
function parts.frequency_usage(S)
  local cfg, R, rep, summary = S.cfg, S.R, S.rep, S.summary
  local models, task = S.models, S.task
  local plot_ok = pb.plot.available()
  if models.rope then
    say("RoPE frequency usage")
    local U = pb.metrics.frequency_usage(models.rope, task,
                                         { length = cfg.L, batch = cfg.metric_batch, seed = 7 })
    local mat, labels, rows = {}, {}, {}
    local n = #U[1][1]
    local hi_sum, lo_sum = 0, 0
    for l, heads in ipairs(U) do
      for h, u in ipairs(heads) do
        mat[#mat + 1] = u
        labels[#labels + 1] = string.format("L%d H%d", l, h)
        for k, v in ipairs(u) do
          rows[#rows + 1] = { layer = l, head = h, pair = k - 1, usage = v }
          if k <= n // 4 then hi_sum = hi_sum + v end
          if k > n - n // 4 then lo_sum = lo_sum + v end
        end
      end
    end
    R:csv("freq_usage.csv", rows, { "layer", "head", "pair", "usage" })
    rep:section("RoPE frequency usage")
    rep:para("U_k = mean ||q^(k)|| per rotary pair k (k = 0 the highest frequency), per layer " ..
      "and head (Barbero et al. 2024 find trained LLMs use the lowest frequencies most).")
    if plot_ok then
      local xl = {}
      for k = 1, n do xl[k] = tostring(k - 1) end
      local p = pb.plot.heatmap { path = R:path("plots/freq_usage"), title = "RoPE frequency usage U_k",
                                  matrix = mat, xlabels = xl, ylabels = labels,
                                  xlabel = "pair k (0 = highest frequency)", cblabel = "mean ||q^(k)||" }
      rep:figure(p.png, "Per-pair query norms of the trained RoPE model.", { section = "signal" })
    end
    local ratio = hi_sum > 0 and lo_sum / hi_sum or 0 / 0
    summary.rope_low_high_ratio = ratio
    rep:claim { section = "signal", text = "As Barbero et al. found for Gemma, the trained RoPE model puts more query " ..
      "norm on its lowest frequencies than on its highest (here: a small model on one task).",
      verdict = ratio > 1.1 and "confirmed" or (ratio < 0.9 and "contradicted" or "inconclusive"),
      evidence = string.format("mean U of the lowest quarter of frequencies / highest quarter " ..
        "= %.3g in this small model (task %s)", ratio, cfg.task) }
  end
end

-- The noise-injection linear probe. probe.csv.
function parts.probe(S)
  local cfg, R, rep, summary = S.cfg, S.R, S.rep, S.summary
  local plot_ok = pb.plot.available()
  say("noise probe")
  local probe_rows, pos_series, tok_series, reg_series = {}, {}, {}, {}
  for _, enc in ipairs(cfg.probe_encodings) do
    local geom = { d = cfg.d, heads = cfg.heads, seed = cfg.seed }
    if enc == "learned" then geom.size = cfg.probe_positions end
    local xs, pa, ta, ra = {}, {}, {}, {}
    for _, db in ipairs(cfg.probe_snr_db) do
      local r = pb.metrics.noise_probe(enc, geom, { snr_db = db, positions = cfg.probe_positions,
        vocab = cfg.probe_vocab, train = cfg.probe_train, test = cfg.probe_test, seed = cfg.seed })
      probe_rows[#probe_rows + 1] = { encoding = enc, snr_db = db, position = r.position,
                                      position_regression = r.position_regression,
                                      token = r.token, noise_sd = r.noise_sd }
      xs[#xs + 1], pa[#pa + 1], ta[#ta + 1], ra[#ra + 1] = db, r.position, r.token,
        r.position_regression
    end
    pos_series[#pos_series + 1] = { name = enc, x = xs, y = pa }
    reg_series[#reg_series + 1] = { name = enc .. " (regression)", x = xs, y = ra, dash = 2 }
    tok_series[#tok_series + 1] = { name = enc, x = xs, y = ta }
  end
  R:csv("probe.csv", probe_rows, { "encoding", "snr_db", "position", "position_regression",
                                   "token", "noise_sd" })
  rep:section("Noise-injection linear probe")
  rep:para(string.format("Ridge one-vs-all probes read the position (of %d) and the token " ..
    "(of %d, embeddings N(0, 0.02)) from e + PE(p) + noise; the noise level is the SNR of the " ..
    "whole clean input, so a large position vector leaves little room for the token. " ..
    "position_regression: least squares onto p itself, right when |p_hat - p| < 1/2 (a " ..
    "class read-out cannot pick positions off the integer encoding's ramp, a regression " ..
    "can). Chance: %.3g and %.3g.", cfg.probe_positions, cfg.probe_vocab,
    1 / cfg.probe_positions, 1 / cfg.probe_vocab))
  rep:table(probe_rows, { "encoding", "snr_db", "position", "position_regression", "token",
                          "noise_sd" })
  if plot_ok then
    local chance_p = { { y = 1 / cfg.probe_positions, label = "chance" } }
    local chance_t = { { y = 1 / cfg.probe_vocab, label = "chance" } }
    local p1 = pb.plot { path = R:path("plots/probe_position"), title = "Decoding the position",
                         xlabel = "SNR (dB)", ylabel = "accuracy", yrange = { 0, 1 },
                         series = (function()
                           local all = {}
                           for _, s in ipairs(pos_series) do all[#all + 1] = s end
                           for _, s in ipairs(reg_series) do all[#all + 1] = s end
                           return all
                         end)(), hlines = chance_p }
    local p2 = pb.plot { path = R:path("plots/probe_token"), title = "Decoding the token",
                         xlabel = "SNR (dB)", ylabel = "accuracy", yrange = { 0, 1 },
                         series = tok_series, hlines = chance_t }
    rep:figure(p1.png, "Position probe accuracy against input SNR (dashed: regression onto p).", { section = "signal" })
    rep:figure(p2.png, "Token probe accuracy against input SNR.", { section = "signal" })
  end
  summary.probe = probe_rows
  S.probe_rows = probe_rows
end

-- The article's claims, read from the parts before.
function parts.claims(S)
  local cfg, rep, summary = S.cfg, S.rep, S.summary
  local e_init, probe_rows = S.e_init, S.probe_rows
  rep:section("The article's claims")
  local si, ss = summary.snr_integer, summary.snr_sinusoidal
  if si and ss then
    rep:claim { section = "integer", text = "Adding the integer position gives a very low signal-to-noise ratio.",
      verdict = si < 0.01 * ss and "confirmed" or "contradicted",
      evidence = string.format("SNR at p = %d: integer %.3g, sinusoidal %.3g (||e|| = %.3g)",
        cfg.snr_length - 1, si, ss, e_init) }
  end
  local function tok_acc(enc, db)
    for _, r in ipairs(probe_rows) do
      if r.encoding == enc and r.snr_db == db then return r.token end
    end
  end
  local top = cfg.probe_snr_db[#cfg.probe_snr_db]
  local ti, ts = tok_acc("integer", top), tok_acc("sinusoidal", top)
  if ti and ts then
    rep:claim { section = "integer", text = "With integer positions it is hard to separate the semantic (token) " ..
      "information from the position.",
      verdict = ti < ts and "confirmed" or "contradicted",
      evidence = string.format("token probe accuracy at %g dB: integer %.3g, sinusoidal %.3g " ..
        "(chance %.3g)", top, ti, ts, 1 / cfg.probe_vocab) }
  end
end

return parts
