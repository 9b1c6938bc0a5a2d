-- Signal-to-noise of positional encodings (the seed article's argument
-- against adding integer positions: "the magnitude of the position value
-- vastly exceeds the actual values of our input", so "the signal-to-noise
-- ratio is very low"). Definitions: metrics.md "Signal-to-noise".
--
--   1. SNR(p) = ||e_token|| / ||PE(p)|| against position, for token
--      embeddings at the models' initial scale (N(0, 0.02), ||e|| ~
--      0.02 sqrt(d)) and at the scale a trained model reaches.
--   2. Small models trained on one task with each encoding (rmsnorm: a
--      layernorm would subtract integer encodings' constant vector and turn
--      them into NoPE), then on each:
--        the four-term logit decomposition of layer 1 (additive encodings:
--        word-word, word-position, position-word, position-position);
--        the position share of the logits Var(f)/Var(A) per layer and head;
--        RoPE's per-frequency usage U_k (Barbero et al. 2024) per layer and
--        head.
--   3. A linear probe that decodes the position and the token from
--      e + PE(p) + Gaussian noise, against the noise level (SNR in dB of the
--      whole input).
--
-- Run:      posbench run experiments/snr.lua [scale=tiny|default] [key=value ...]
-- Library:  local snr = dofile("experiments/snr.lua"); snr.run{scale = "tiny", root = ...}
-- Results:  <root>/snr/ snr.csv, models.csv, terms.csv, share.csv,
--           freq_usage.csv, probe.csv, plots and report.md.
-- Parts:    snr/sections.lua (the report's sections, in order).

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "experiments"
if not package.path:find(here .. "/?.lua", 1, true) then package.path = here .. "/?.lua;" .. package.path end

local experiment = require "posbench.experiment"
local sections = require "snr.sections"

local M = {}

M.config = {
  scale = "default",
  root = "results",
  snr_encodings = { "integer", "integer_norm", "binary", "sinusoidal", "learned" },
  snr_length = 1024,
  train_encodings = { "none", "integer", "binary", "sinusoidal", "learned", "rope", "alibi" },
  task = "copy", min_len = 2, L = 8, vocab = 8,
  d = 64, heads = 4, layers = 2, norm = "rmsnorm",
  steps = 1500, batch = 32, lr = 3e-3,
  eval_samples = 200, metric_batch = 16,
  probe_encodings = { "integer", "binary", "sinusoidal", "learned" },
  probe_snr_db = { -20, -10, -5, 0, 5, 10, 20, 30 },
  probe_positions = 64, probe_vocab = 32, probe_train = 20000, probe_test = 4000,
  threads = 1,
  seed = 1,
}

M.scales = {
  tiny = { snr_length = 256, train_encodings = { "integer", "sinusoidal", "rope" },
           steps = 150, d = 32, eval_samples = 50, metric_batch = 4,
           probe_encodings = { "integer", "sinusoidal" }, probe_snr_db = { -10, 0, 10, 30 },
           probe_positions = 32, probe_train = 3000, probe_test = 600 },
  default = {},
}

local function configure(overrides)
  return experiment.configure("snr", M.config, M.scales, overrides)
end

local say = experiment.sayer("snr")

-- The whole study, into R (its run directory: see experiment.whole_study):
-- the parts of snr/sections.lua in report order.
local function study(cfg, R)
  pb.threads(cfg.threads)
  local rep = pb.report.new("Signal-to-noise of positional encodings")
  local t0 = pb.now()
  local summary = {}
  rep:para(string.format("Scale `%s`: d = %d, %d heads, %d layers (%s); task %s trained on " ..
    "sizes %d..%d for %d steps.", cfg.scale, cfg.d, cfg.heads, cfg.layers, cfg.norm, cfg.task,
    cfg.min_len, cfg.L, cfg.steps))
  local S = { cfg = cfg, R = R, rep = rep, summary = summary }
  for _, part in ipairs(sections.order) do sections[part](S) end
  rep:para(string.format("Took %.1f s.", pb.now() - t0))
  rep:write(R:path("report.md"))
  for _, m in pairs(S.models) do m:close() end
  say("done in %.1f s: %s", pb.now() - t0, R:path("report.md"))
  summary.models = S.model_rows
  summary.dir = R.dir
  summary.report = rep  -- lets experiments/article.lua adopt claims and figures
  return summary
end

experiment.whole_study(M, "snr", configure, study)

if experiment.is_main(...) then M.run(pb.args) end
return M
