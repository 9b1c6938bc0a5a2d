-- The scorecard: one encoding proposal against the field on a fixed battery,
-- with the same seeds, data and recipe for every encoding.
--
--   extrapolation  copy, reverse, recall (accuracy) and the character LM
--                  (perplexity) trained at L, tested to 8L
--   precision      on the copy models: the relative-property deviation D
--                  (Wang et al. 2024) in fp32, bf16 and e4m3, and the drop of
--                  accuracy at L with bf16 / e4m3 at the positions, angles
--                  and logits sites
--   signal/noise   on the copy models: the position share of the logits;
--                  the SNR of the position signal against position (input
--                  encodings)
--   properties     the article's checklist: unique, linear relation, smooth,
--                  decays, bounded beyond L, deterministic, 2D
--   cost           training step time and evaluation memory against NoPE
--
-- Every per-seed measure compares the proposal with each baseline by paired
-- tests (pb.verdict): "better", "worse" or "no different" (equivalent within
-- the measure's margin, declared below before any run), Holm within each
-- measure (or over the whole table: family=table); "undecided" otherwise.
--
-- Run:    posbench sweep scorecard encoding=FILE.lua:NAME [against=rope,alibi,none] [scale=tiny|default]
--         (--local N, --slurm, --commands, resume, as every study; or posbench run experiments/scorecard.lua ...)
-- Results: <root>/scorecard/NAME/report.html (and .md), scorecard.csv, plots/, config.json.
-- docs/scorecard.md describes the battery and the statistics.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "experiments"
if not package.path:find(here .. "/?.lua", 1, true) then package.path = here .. "/?.lua;" .. package.path end

local core = require "posbench.core"
local experiment = require "posbench.experiment"
local runs = require "literature.runs"
local battery = require "scorecard.battery"

local M = { name = "scorecard" }

M.config = {
  scale = "default",
  root = "results",
  threads = 1,
  encoding = "",                         -- the proposal: FILE.lua:NAME, or a registered encoding's name
  against = { "rope", "alibi", "none" }, -- the baselines
  tasks = { "copy", "reverse", "recall", "lm" },
  seeds = 5,
  -- sequence tasks: sizes 1..L, `vocab` symbols; tests at factors x L
  L = 8, vocab = 16, factors = { 0.5, 1, 2, 4, 8 }, samples = 100, valid_samples = 64,
  -- language model: licence texts of Debian's base-files, windows of lm_L
  -- characters, held-out perplexity at lm_factors x lm_L
  texts = { "/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
            "/usr/share/common-licenses/MPL-2.0" },
  holdout = 0.2, lm_L = 32, lm_factors = { 1, 2, 4, 8 }, lm_max_tokens = 4096,
  -- model and recipe (one for every encoding; its lr per task and encoding
  -- from lr_grid on the pilot seed's validation problems, never beyond L)
  d = 64, heads = 4, layers = 2, steps = 1500, lm_steps = 600, batch = 32,
  lr_grid = { 1e-3, 3e-3 }, pilot_seed = 0,
  -- precision and signal/noise, on the models of precision_task
  precision_task = "copy", formats = { "bf16", "e4m3" }, sites = { "positions", "angles", "logits" },
  deviation_shift = 64, metric_batch = 16,
  -- cost: step time (best of cost_rounds x cost_steps steps, interleaved
  -- over the encodings) and peak memory of an evaluation at cost_T tokens
  cost_steps = 20, cost_rounds = 5, cost_T = 1024,
  -- properties (the properties study's metrics, at the battery's d and heads)
  prop_length = 512, prop_distinct_length = 8192, prop_train_len = 64, prop_factor = 4, prop_k = 8,
  prop_shift = 1000, prop_shift_samples = 200, prop_grid = 16, prop_max_d = 4, prop_bases = 16,
  snr_length = 512,
  -- statistics: margins (the smallest difference a verdict means)
  alpha = 0.05, level = 0.95, family = "measure",
  acc_margin = 0.03, ppl_margin = 0.03, D_margin = 0.02, share_margin = 0.05,
}

M.scales = {
  -- the test's scale: everything runs, nothing is decided
  tiny = { seeds = 2, L = 4, factors = { 1, 2 }, lm_L = 16, lm_factors = { 1, 2 }, samples = 16,
           valid_samples = 16, d = 32, heads = 2, steps = 40, lm_steps = 20, lm_max_tokens = 512,
           lr_grid = { 3e-3 }, deviation_shift = 16, metric_batch = 4, cost_steps = 2, cost_rounds = 1,
           cost_T = 128, prop_length = 64, prop_distinct_length = 256, prop_train_len = 16,
           prop_shift = 100, prop_shift_samples = 10, prop_grid = 6, prop_max_d = 2, prop_bases = 4,
           snr_length = 64 },
  default = {},
}

-- The proposal: "FILE.lua:NAME" runs FILE once per process (it registers
-- NAME with pb.register_encoding); "NAME" must already be an encoding.
local loaded = {}
local function known(name)
  for _, e in ipairs(pb.list_encodings()) do if e.name == name then return true end end
  return false
end

function M.load_proposal(spec)
  if type(spec) ~= "string" or spec == "" then
    error("scorecard: give the proposal as encoding=FILE.lua:NAME (or the name of a registered encoding)", 0)
  end
  local file, name = spec:match("^(.+%.lua):([%w_%-]+)$")
  if not file then
    if spec:match("%.lua") then
      error(string.format("scorecard: encoding=%s: expected FILE.lua:NAME (the name the file registers)", spec), 0)
    end
    name = spec
  elseif not loaded[file] then
    local f = io.open(file, "rb")
    if not f then error(string.format("scorecard: proposal file '%s' not found", file), 0) end
    f:close()
    local ok, err = pcall(dofile, file)
    if not ok then error(string.format("scorecard: loading %s failed: %s", file, tostring(err)), 0) end
    loaded[file] = true
  end
  if not known(name) then
    error(string.format("scorecard: no encoding '%s'%s (posbench list encodings%s)", name,
      file and (" after running " .. file) or "", file and (" " .. file) or ""), 0)
  end
  return name, file
end

function M.configure(overrides)
  local cfg = experiment.configure("scorecard", M.config, M.scales, overrides)
  experiment.check_seeds("scorecard", cfg, 2, "paired tests")
  pb.verdict.check_settings("scorecard", cfg)
  experiment.check_lr_grid("scorecard", cfg)
  local name, file = M.load_proposal(cfg.encoding)
  -- (every process configures: sweep workers register the proposal here too)
  cfg.proposal, cfg.proposal_file = name, file and core.realpath(file) or nil
  cfg.proposal_hash = file and core.hash64(assert(io.open(file, "rb")):read("a")) or nil
  for _, b in ipairs(cfg.against) do
    if not known(b) then error(string.format("scorecard: unknown baseline '%s' in against=", tostring(b)), 0) end
    if b == name then error("scorecard: the proposal '" .. name .. "' is also in against=", 0) end
  end
  if #cfg.against == 0 then error("scorecard: against= needs at least one baseline", 0) end
  for _, t in ipairs(cfg.tasks) do
    if not battery.TASKS[t] then
      error(string.format("scorecard: unknown task '%s' (the battery has copy, reverse, recall, lm)", tostring(t)), 0)
    end
  end
  if cfg.family ~= "measure" and cfg.family ~= "table" then
    error("scorecard: family must be measure or table, got " .. tostring(cfg.family), 0)
  end
  cfg.encodings = { name }
  for _, b in ipairs(cfg.against) do cfg.encodings[#cfg.encodings + 1] = b end
  -- results/scorecard/NAME: one directory per proposal
  M.name = "scorecard/" .. name
  for _, t in ipairs(cfg.tasks) do
    if t == "lm" then runs.build_corpus(cfg, M.name, "scorecard") end
  end
  return cfg
end

-- units per second on one core: the literature study's measured rate (a default
-- scorecard took 12.2 CPU-minutes, 11.6 by this model)
M.cost_rate = 1

function M.plan(cfg) return battery.plan(cfg) end

function M.announce(cfg, e, i, n)
  experiment.sayer("scorecard")("run %d/%d: %s", i, n, e.name)
  if i == 1 then pb.threads(cfg.threads) end
end

function M.run_one(cfg, e, R) return battery.run_one(cfg, e, R) end

M.collect = require("scorecard.collect")

--- The whole scorecard in this process: every run, then collect.
function M.run(overrides)
  return require("posbench.sweep").run_inprocess(M, overrides)
end

if experiment.is_main(...) then M.run(pb.args) end
return M
