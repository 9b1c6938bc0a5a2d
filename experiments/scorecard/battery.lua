-- The scorecard's runs: the plan and what each run measures.
--
--   seq / lm   one model per task x encoding x seed (literature/runs.lua:
--              lr pilots on the pilot seed, evaluation per length); the
--              models of the precision task also record D, the accuracy
--              drop under each format and the position share of the logits
--   static     the properties checklist and the SNR curves (no training)
--   cost       step time and evaluation memory of every encoding, measured
--              interleaved in one process so their ratios share its load
local core = require "posbench.core"
local experiment = require "posbench.experiment"
local util = require "posbench.util"
local runs = require "literature.runs"
local pmeasure = require "properties.measure"

local B = {}

B.TASKS = { copy = true, reverse = true, recall = true, lm = true }

local sizes = experiment.sizes

-- Model of an encoding for training sequences of T_train tokens and tests
-- up to T_max (a learned table needs a row for each position it is tested at).
function B.model_config(cfg, enc, vocab, T_train, T_max)
  local m = { vocab = vocab, d = cfg.d, heads = cfg.heads, layers = cfg.layers, max_len = T_train, encoding = enc }
  if enc == "learned" then m.enc = { size = T_max } end
  -- the extrapolation study's amplitude: at 1 copy is not learned (docs/extrapolation.md)
  if enc == "sinusoidal" then m.enc = { scale = 0.1 } end
  return m
end

local function task_options(cfg, task, longest)
  local o = { min_len = 1 }
  if task == "copy" or task == "reverse" then o.vocab = cfg.vocab end
  if task == "recall" then o.keys = math.max(64, longest) end
  return o
end

-- First config of a series (seed and lr set per run) and its training length.
local function series_config(cfg, task, enc)
  if task == "lm" then
    local c0 = { task = "lm", text = cfg._corpus, holdout = cfg._holdout, L = cfg.lm_L }
    local t = runs.task(c0, "train", cfg._corpus_dir)
    local lengths = sizes(cfg.lm_L, cfg.lm_factors)
    local T_train, T_max = runs.seq_len(t, cfg.lm_L), runs.seq_len(t, lengths[#lengths])
    return { family = "lm", series = "lm-" .. enc, task = "lm", text = cfg._corpus, text_hash = cfg._corpus_hash,
             holdout = cfg._holdout, L = cfg.lm_L, lengths = lengths, max_tokens = cfg.lm_max_tokens,
             steps = cfg.lm_steps, batch = cfg.batch,
             model = B.model_config(cfg, enc, t:info().vocab, T_train, T_max) }, T_train
  end
  local lengths = sizes(cfg.L, cfg.factors)
  local topts = task_options(cfg, task, lengths[#lengths])
  local t = runs.task { task = task, topts = topts, L = cfg.L }
  local T_train, T_max = runs.seq_len(t, cfg.L), runs.seq_len(t, lengths[#lengths])
  return { family = "seq", series = task .. "-" .. enc, task = task, topts = topts, L = cfg.L, lengths = lengths,
           samples = cfg.samples, steps = cfg.steps, batch = cfg.batch,
           measure = task == cfg.precision_task or nil,
           model = B.model_config(cfg, enc, t:info().vocab, T_train, T_max) }, T_train
end

local function cost(c, T)
  return c.steps * c.batch * T * c.model.layers * c.model.d ^ 2 * 1e-9
end

function B.plan(cfg)
  local plan = {}
  for _, task in ipairs(cfg.tasks) do
    for _, enc in ipairs(cfg.encodings) do
      local c0, T = series_config(cfg, task, enc)
      -- a changed proposal file makes its runs stale (not the baselines')
      if enc == cfg.proposal then c0.proposal_hash = cfg.proposal_hash end
      local select
      if #cfg.lr_grid > 1 then
        select = {}
        for _, lr in ipairs(cfg.lr_grid) do
          local c = runs.copy(c0)
          c.pilot, c.lr, c.seed, c.model.seed, c.valid_samples = true, lr, cfg.pilot_seed, cfg.pilot_seed, cfg.valid_samples
          c.lengths, c.measure = nil, nil
          local name = string.format("%s-lr%g", c.series, lr)
          plan[#plan + 1] = { name = name, stage = 1, config = c, cost = cost(c, T) }
          select[#select + 1] = name
        end
      else
        c0.lr = cfg.lr_grid[1]
      end
      for seed = 1, cfg.seeds do
        local c = runs.copy(c0)
        c.seed, c.model.seed, c.lr_select = seed, seed, select
        plan[#plan + 1] = { name = c.series .. "-s" .. seed, stage = select and 2 or 1, needs = select, config = c,
                            cost = cost(c, T) }
      end
    end
  end
  -- the cost run times copy models (run_cost)
  local copy_opts = task_options(cfg, "copy", cfg.L)
  local t = runs.task { task = "copy", topts = copy_opts, L = cfg.L }
  local T_train = runs.seq_len(t, cfg.L)
  plan[#plan + 1] = { name = "static", stage = 1, cost = 1, config = {
    family = "static", encodings = cfg.encodings, proposal_hash = cfg.proposal_hash, d = cfg.d, heads = cfg.heads,
    props = { d = cfg.d, heads = cfg.heads, seed = 1, length = cfg.prop_length, distinct_length = cfg.prop_distinct_length,
              train_len = cfg.prop_train_len, generalise_factor = cfg.prop_factor, k = cfg.prop_k,
              shift = cfg.prop_shift, shift_samples = cfg.prop_shift_samples, grid = cfg.prop_grid,
              max_d = cfg.prop_max_d, bases = cfg.prop_bases },
    snr_length = cfg.snr_length } }
  local models = {}
  for _, enc in ipairs(cfg.encodings) do
    models[enc] = B.model_config(cfg, enc, t:info().vocab, T_train, math.max(T_train, cfg.cost_T))
  end
  plan[#plan + 1] = { name = "cost", stage = 1, config = {
    family = "cost", encodings = cfg.encodings, proposal_hash = cfg.proposal_hash, models = models,
    topts = copy_opts, L = cfg.L, batch = cfg.batch, steps = cfg.cost_steps,
    rounds = cfg.cost_rounds, T = cfg.cost_T },
    cost = cost({ steps = cfg.cost_steps * cfg.cost_rounds * #cfg.encodings, batch = cfg.batch,
                  model = { layers = cfg.layers, d = cfg.d } }, T_train) }
  return plan
end

-- Measures -------------------------------------------------------------------

local try = pmeasure.try  -- value, or nil and the reason

local function mean_of(list_of_lists)
  local s, k = 0, 0
  for _, l in ipairs(list_of_lists) do for _, v in ipairs(l) do s, k = s + v, k + 1 end end
  return k > 0 and s / k or nil
end

-- Precision and signal/noise on a trained model of the precision task.
local function measure_model(cfg_of_run)
  return function(c, model, task_obj, run)
    local rec = { kind = "measure", series = c.series }
    local function precision(f)
      local p = {}
      for _, site in ipairs(cfg_of_run.sites) do p[site] = f end
      return p
    end
    local dev_opts = { d1 = 0, d2 = cfg_of_run.shift, length = c.L, batch = cfg_of_run.batch, seed = 7 }
    local D, why = try(pb.metrics.relative_deviation, model, task_obj, dev_opts)
    rec.D_fp32, rec.D_why = D and D.D, why
    local base = pb.eval(model, task_obj, { lengths = { c.L }, samples = c.samples, seed = 77 })[c.L].accuracy
    for _, f in ipairs(cfg_of_run.formats) do
      local o = {}
      for k, v in pairs(dev_opts) do o[k] = v end
      o.precision = precision(f)
      local Df = try(pb.metrics.relative_deviation, model, task_obj, o)
      rec["D_" .. f] = Df and Df.D
      local ev = pb.eval(model, task_obj, { lengths = { c.L }, samples = c.samples, seed = 77,
                                            precision = precision(f) })
      rec["drop_" .. f] = base - ev[c.L].accuracy
    end
    local sh = try(pb.metrics.position_share, model, task_obj, { length = c.L, batch = cfg_of_run.batch, seed = 7 })
    rec.share = sh and mean_of(sh)
    run:log(rec)
  end
end

-- The article's checklist for one encoding, beyond the properties study's
-- row: decay (the score of a vector with itself against distance falls:
-- Spearman correlation below -0.5) and smoothness (largest step between
-- neighbouring table rows against the rows' RMS, tables only).
local function decay_of(name, geom, n)
  local enc = pb.encoding(name, geom)
  local s = {}
  local u = {}
  for i = 1, geom.d // geom.heads do u[i] = 1 / math.sqrt(geom.d // geom.heads) end
  for r = 0, n - 1 do
    local v = 0
    for h = 1, geom.heads do
      local ok, x = pcall(enc.score, enc, u, u, r, 0, { head = h, length = n })
      if not ok then return nil, "no score: " .. tostring(x) end
      v = v + x
    end
    s[#s + 1] = v / geom.heads
  end
  -- Spearman: the correlation of the ranks of s with 1..n
  local idx = {}
  for i = 1, #s do idx[i] = i end
  table.sort(idx, function(a, b) return s[a] < s[b] end)
  local rank = {}
  for r, i in ipairs(idx) do rank[i] = r end
  local m, num, da, db = (#s + 1) / 2, 0, 0, 0
  for i = 1, #s do
    num, da, db = num + (i - m) * (rank[i] - m), da + (i - m) ^ 2, db + (rank[i] - m) ^ 2
  end
  return (da > 0 and db > 0) and num / math.sqrt(da * db) or 0
end

local function smoothness_of(name, geom, n)
  local tab = try(pb.metrics.table, name, geom, { length = n })
  if not tab then return nil end
  local st = try(pb.metrics.steps, name, geom, { length = n })
  if not st then return nil end
  local rms = pmeasure.rms(tab)
  local mx = 0
  for _, v in ipairs(st) do mx = math.max(mx, v) end
  return rms > 0 and mx / rms or nil
end

local function run_static(c, run)
  for _, name in ipairs(c.encodings) do
    local row = pmeasure.row(c.props, name)
    local geom = { d = c.d, heads = c.heads, max_len = c.props.train_len, seed = 1 }
    if name == "learned" then geom.size = c.props.length end
    local rho = decay_of(name, geom, c.props.train_len)
    local smooth = row.sites ~= "bias" and smoothness_of(name, geom, c.props.train_len) or nil
    run:log { kind = "property", encoding = name, sites = row.sites, unique = row.unique, min_dist = row.min_dist,
              linear_res = row.linear_res_k, shift_rel = row.shift_rel, generalises = row.generalises,
              range_ratio = row.range_ratio, deterministic = row.deterministic, learnable = row.learnable,
              two_d = row.sites:find("2D") ~= nil, sep_split_err = row.sep_split_err, decay_rho = rho,
              step_over_rms = smooth, n_params = row.n_params }
    local g = { d = c.d, heads = c.heads, seed = 1 }
    if name == "learned" then g.size = c.snr_length end
    local s = try(pb.metrics.snr, name, g, { length = c.snr_length })
    if s then
      for p = 2, #s do run:log { kind = "snr", encoding = name, p = p - 1, snr = s[p] } end
    end
  end
  run:summary { family = "static", encodings = c.encodings }
end

-- Evaluation memory of one encoding's model at a problem of size n, in
-- KiB, from a process of its own (peak_memory.lua); nil and the reason
-- when that process fails.
local function eval_memory_kb(c, name, n, run, proposal_file)
  local path = run:path("memory-" .. name .. ".json")
  run:write("memory-" .. name .. ".json", pb.json.encode { model = c.models[name], topts = c.topts, size = n,
                                                         proposal_file = proposal_file })
  local script = core.source_root() .. "/experiments/scorecard/peak_memory.lua"
  local p = io.popen(util.shell_line { core._proc.exe(), "run", script, "config=" .. path } .. " 2>&1")
  local out = p:read("a")
  p:close()
  os.remove(path)
  local kb = tonumber(out:match("eval_kb=(%d+)"))
  if kb then return kb end
  return nil, out:sub(1, 300)
end

local function run_cost(c, run, proposal_file)
  local task = runs.task { task = "copy", topts = c.topts, L = c.L }
  local models, best = {}, {}
  for _, name in ipairs(c.encodings) do
    local m = runs.copy(c.models[name])
    m.seed = 1
    models[name] = pb.model(m)
    pb.train(models[name], task, { steps = 1, batch = c.batch, lr = 1e-3, progress = false })  -- warm-up
  end
  for _ = 1, c.rounds do
    for _, name in ipairs(c.encodings) do
      local tr = pb.train(models[name], task, { steps = c.steps, batch = c.batch, lr = 1e-3, progress = false })
      best[name] = math.min(best[name] or math.huge, tr.seconds / c.steps)
    end
  end
  local n = math.max(1, (c.T - 2) // 2)  -- a copy problem of size n is about 2n + 2 tokens
  for _, name in ipairs(c.encodings) do
    local kb, why = eval_memory_kb(c, name, n, run, proposal_file)
    run:log { kind = "cost", encoding = name, step_seconds = best[name], eval_kb = kb, eval_size = n,
              eval_error = why }
    models[name]:close()
  end
  run:summary { family = "cost", encodings = c.encodings }
end

function B.run_one(cfg, e, R)
  local c = e.config
  if c.family == "static" or c.family == "cost" then
    local run = R:run(e.name, c)
    if c.family == "static" then return run_static(c, run) end
    return run_cost(c, run, cfg.proposal_file)
  end
  return runs.run_one(e, R, c.measure and measure_model {
    sites = cfg.sites, formats = cfg.formats, shift = cfg.deviation_shift, batch = cfg.metric_batch } or nil)
end

return B
