-- Length extrapolation study.
--
-- Every encoding is trained on every task at problem sizes min_len..L and
-- evaluated at sizes up to 8L (metrics.md, protocols (a) and (c)):
--   sequence tasks  decoder, per answer-token accuracy and exact match
--                   (greedy exact match = teacher-forced exact match)
--   lm              perplexity against window length, non-overlapping and
--                   sliding windows over the corpus (pb.eval window=)
-- Per length: mean and 95% CI over seeds (Student t), max over seeds, the
-- in/out-of-distribution flag and the task's chance level. Per run:
-- attention diagnostics (pb.diagnose). RoPE context extension: a RoPE model
-- trained at L is evaluated at 2L and 4L with PI / NTK / YaRN scaling, next
-- to p-RoPE (a separate model), each with and without a short fine-tune at
-- 2L.
--
-- Run:      posbench run experiments/extrapolation.lua [scale=tiny|default|article|full] [key=value ...]
-- Library:  local ex = dofile("experiments/extrapolation.lua"); ex.run{scale = "tiny", root = ...}
--
-- Any key of M.config below can be overridden (lists as comma-separated
-- values: encodings=rope,alibi). Results: <root>/extrapolation/ with
-- summary.csv, scaling.csv, diagnostics.csv, per-run directories, plots/
-- and report.md. docs/extrapolation.md describes protocols and outputs.
local core = require "posbench.core"
local experiment = require "posbench.experiment"
local util = require "posbench.util"
local stats, json = pb.stats, pb.json

local M = { name = "extrapolation", sequential = true }

-- Configuration ---------------------------------------------------------------

M.config = {
  scale = "default",
  root = "results",              -- results go to root/extrapolation
  threads = 1,                   -- 1 is fastest on a shared 2-core machine
  encodings = { "none", "sinusoidal", "learned", "rope", "alibi", "t5" },
  tasks = { "copy", "lm" },
  seeds = 3,
  -- sequence tasks: training sizes min_len..L, symbols `vocab`
  L = 8, min_len = 1, vocab = 32,
  -- lm: training window lm_L characters of a generated corpus
  lm_L = 32, lm_corpus_len = 100000, lm_max_tokens = 8192,
  -- evaluation sizes round(f * L) for f in eval_factors (deduplicated)
  eval_factors = { 0.5, 1, 1.5, 2, 3, 4, 6, 8 },
  samples = 200,                 -- problems per evaluation length
  -- model and training
  d = 64, heads = 4, layers = 2,
  steps = 3000, lm_steps = 600, batch = 32, lr = 1e-3,
  -- diagnostics at sizes f * L (f in diag_factors), diag_samples problems
  diag = true, diag_factors = { 1, 2, 4, 8 }, diag_samples = 8, diag_max_seq_len = 1024,
  -- RoPE scaling and p-RoPE on scaling_task
  scaling = true, scaling_task = "copy", scaling_factors = { 2, 4 },
  scaling_types = { "pi", "ntk", "yarn" }, p = 0.75, rope_base = 10000,
  finetune_steps = 200, finetune_lr = 1e-3,
  -- RoPE base of the p-RoPE comparison (p-RoPE against RoPE, both at this
  -- base, trained for it); 0 compares p-RoPE at base 10000 with the grid's
  -- RoPE, whose lowest frequencies barely turn at these lengths
  prope_base = 0,
  level = 0.95,                  -- confidence level of the intervals
  -- verdicts: the report's claims are one family, Holm at alpha (pb.verdict);
  -- margins (smallest effect a claim means, declared before the run):
  -- accuracy in absolute units, perplexity as a ratio
  alpha = 0.05, acc_margin = 0.03, ppl_margin = 0.03,
  -- a sequential sweep (sweep --until-decided, docs/sweeps.md): alpha
  -- spending "pocock" or "obf" and the futility stop (conditional power
  -- below it). Pocock, because the article's looks are 5 and 10 seeds and
  -- O'Brien-Fleming spends almost nothing at the first (nominal 1.1e-4 at
  -- the first Holm step of 8 hypotheses, Pocock 0.0039): claims the fixed
  -- design decides at 5 seeds would mostly wait for 10.
  spending = "pocock", futility = 0.1,
  -- Amplitude of the sinusoidal table. At 1 (Vaswani et al., who also
  -- scale embeddings by sqrt(d)) it is ~50x the 0.02-scale token
  -- embeddings here and copy is not learned (accuracy 0.05 at n = 8);
  -- at 0.1 it is learned (0.999).
  sinusoidal_scale = 0.1,
  -- a per-layer design named in `encodings` (pb.design): its span as a
  -- fraction of the training sequence; 0 keeps the design's own
  design_window = 0.0,
}

-- Scales: tiny is a smoke run (under a minute), default a small study
-- (about 8-10 minutes on 2 cores), article the part of it the article
-- report uses (copy only, about 4 minutes), full the real study (hours).
M.scales = {
  tiny = {
    encodings = { "rope", "alibi" }, tasks = { "copy", "lm" }, seeds = 2,
    L = 4, steps = 800, lm_steps = 300, lm_L = 16, lm_corpus_len = 20000,
    lm_max_tokens = 2048, eval_factors = { 1, 2, 4 }, samples = 64, d = 32,
    diag_factors = { 1, 4 }, diag_samples = 4, scaling_factors = { 2 },
    finetune_steps = 50,
  },
  default = {},
  -- the article's claims are paired tests over seeds: 5 seeds give them
  -- the power the family's correction needs (3 left RoPE vs learned open)
  -- and p-RoPE is compared at a base scaled to the sequence (the removed
  -- frequencies turn by about a radian at 2L, as base 10000 does over
  -- thousands of positions)
  article = { encodings = { "none", "sinusoidal", "learned", "rope", "alibi" }, tasks = { "copy" }, seeds = 5,
              prope_base = 100 },
  full = {
    encodings = { "none", "sinusoidal", "learned", "rope", "alibi", "t5", "kerple_log", "fire",
                  "xpos" },
    tasks = { "copy", "reverse", "induction", "recall", "lm" }, seeds = 5,
    L = 16, steps = 20000, lm_steps = 10000, lm_L = 64, lm_corpus_len = 1000000,
    lm_max_tokens = 65536, samples = 500, d = 128, layers = 3,
    eval_factors = { 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 7, 8 },
    diag_samples = 16, finetune_steps = 1000,
  },
}

-- Helpers (every one takes the configuration) ----------------------------------

local function contains(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

local function copy_table(t)
  local out = {}
  for k, v in pairs(t) do out[k] = type(v) == "table" and copy_table(v) or v end
  return out
end

local function is_lm(task) return task == "lm" end

-- Training size L of a task (lm counts characters).
local function train_len(cfg, task) return is_lm(task) and cfg.lm_L or cfg.L end

local function make_task(cfg, task, max_len)
  if is_lm(task) then
    return pb.task("lm", { min_len = max_len, max_len = max_len, corpus_len = cfg.lm_corpus_len })
  end
  local opts = { min_len = math.max(cfg.min_len, task == "induction" and 2 or 1), max_len = max_len }
  if task ~= "parity" then opts.vocab = cfg.vocab end
  if task == "recall" then opts.keys = math.max(64, 2 * max_len * 8) end
  return pb.task(task, opts)
end

local sizes = experiment.sizes

-- Model sequence length T of problem size n under the decoder protocol.
local function seq_len(task_obj, n)
  return #task_obj:sample(n, { seed = 1, causal = true }).tokens
end

-- A name in `encodings` is an encoding or a per-layer design (pb.design,
-- docs/hybrids.md): a design gets its layer list for the training length.
local function is_design(name)
  for _, e in ipairs(pb.list_encodings()) do if e.name == name then return false end end
  for _, d in ipairs(pb.list_designs()) do if d.name == name then return true end end
  return false
end

local function model_config(cfg, enc, vocab, T_train, T_max, seed)
  local m = { vocab = vocab, d = cfg.d, heads = cfg.heads, layers = cfg.layers,
              max_len = T_train, encoding = enc, seed = seed }
  if is_design(enc) then
    local ctx = { layers = cfg.layers, T_train = T_train }
    if cfg.design_window > 0 then ctx.window = cfg.design_window end
    m.layers = pb.design(enc, ctx)
    m.encoding = m.layers[1].encoding
    return m
  end
  -- A learned table needs a row for every evaluated position; rows past
  -- T_train stay at their initial values (what the diagnostics count).
  if enc == "learned" then m.enc = { size = T_max } end
  if enc == "rope" and cfg.rope_base ~= 10000 then m.enc = { base = cfg.rope_base } end
  if enc == "sinusoidal" then m.enc = { scale = cfg.sinusoidal_scale } end
  return m
end

-- What every run of a task shares: its task object, training size,
-- evaluation and diagnostic sizes and sequence lengths (cached per task).
local function task_setup(cfg, task)
  cfg._tasks = cfg._tasks or {}
  if cfg._tasks[task] then return cfg._tasks[task] end
  local L = train_len(cfg, task)
  local task_obj = make_task(cfg, task, L)
  local lengths = sizes(L, cfg.eval_factors)
  -- Problems of any size can be drawn from the training task; its max_len
  -- stays L, which is what the diagnostics take as the training length.
  local t = { L = L, task_obj = task_obj, info = task_obj:info(), lengths = lengths,
              T_train = seq_len(task_obj, L), T_max = seq_len(task_obj, lengths[#lengths]),
              diag_lengths = {} }
  for _, n in ipairs(sizes(L, cfg.diag_factors)) do
    if seq_len(task_obj, n) <= cfg.diag_max_seq_len then t.diag_lengths[#t.diag_lengths + 1] = n end
  end
  cfg._tasks[task] = t
  return t
end

local function scaling_on(cfg)
  return cfg.scaling and contains(cfg.tasks, cfg.scaling_task) and not is_lm(cfg.scaling_task)
end

local function train_model(cfg, model, task_obj, steps, seed, label, lr)
  return pb.train(model, task_obj, { steps = steps, batch = cfg.batch, lr = lr or cfg.lr,
                                     seed = 1000 + seed, label = label })
end

-- Configuration and plan ------------------------------------------------------

function M.configure(overrides)
  local cfg = experiment.configure("extrapolation", M.config, M.scales, overrides)
  experiment.check_seeds("extrapolation", cfg)
  pb.verdict.check_settings("extrapolation", cfg)
  -- Check names before hours of training find a typo.
  local designs = pb.list_designs()
  for what, list in pairs { encoding = pb.list_encodings(), task = pb.list_tasks() } do
    local valid, names = {}, {}
    for _, e in ipairs(list) do valid[e.name], names[#names + 1] = true, e.name end
    if what == "encoding" then
      for _, d in ipairs(designs) do
        if not valid[d.name] then valid[d.name], names[#names + 1] = true, d.name .. " (design)" end
      end
    end
    for _, name in ipairs(cfg[what .. "s"]) do
      if not valid[name] then
        error(string.format("extrapolation: unknown %s '%s' (valid: %s)", what, tostring(name),
          table.concat(names, ", ")), 0)
      end
    end
  end
  -- a design's depth must hold its global layer (layers=4 for the 3:1 designs)
  for _, name in ipairs(cfg.encodings) do
    if is_design(name) then
      local ok, err = pcall(pb.design, name, { layers = cfg.layers, T_train = 2 })
      if not ok then error("extrapolation: " .. tostring(err), 0) end
    end
  end
  return cfg
end

-- Work of a training run in units of d^2-sized products per token step,
-- for the sweep's CPU-time estimate.
local function work(cfg, steps, T)
  return steps * cfg.batch * T * cfg.layers * cfg.d * cfg.d * 1e-9
end
M.cost_rate = 1  -- units per second on one core (full scale: copy 1.9, lm 0.5)

local function grid_config(cfg, task, enc, seed)
  local t = task_setup(cfg, task)
  local c = { task = task, encoding = enc, seed = seed, L = t.L,
              model = model_config(cfg, enc, t.info.vocab, t.T_train, t.T_max, seed),
              steps = is_lm(task) and cfg.lm_steps or cfg.steps,
              batch = cfg.batch, lr = cfg.lr, lengths = t.lengths, samples = cfg.samples,
              diag = cfg.diag and json.array(t.diag_lengths) or false,
              diag_samples = cfg.diag_samples, diag_max_seq_len = cfg.diag_max_seq_len }
  if is_lm(task) then
    c.corpus_len, c.max_tokens = cfg.lm_corpus_len, cfg.lm_max_tokens
  else
    c.min_len, c.vocab = cfg.min_len, cfg.vocab
  end
  -- The RoPE runs the scaling runs start from keep their model.
  if scaling_on(cfg) and task == cfg.scaling_task and enc == "rope" then c.checkpoint = true end
  return c
end

-- Series: the runs a claim reads, to which a sequential sweep adds seeds.
-- The grid's runs of one task and encoding, and the scaling block of a task
-- (its p-RoPE models, RoPE at prope_base and the scaling runs).
local function grid_series(task, enc) return task .. "-" .. enc end
local function scaling_series(task) return "scaling-" .. task end

--- Seeds of a series: cfg.seeds, or more where a sequential sweep
--- (cfg._seeds, docs/sweeps.md) gives it more.
function M.seeds_of(cfg, series)
  return math.max(cfg.seeds, cfg._seeds and cfg._seeds[series] or 0)
end

-- Seeds of a grid series; the RoPE runs of the scaling task keep the
-- checkpoint of every scaling seed.
local function grid_seeds(cfg, task, enc)
  local n = M.seeds_of(cfg, grid_series(task, enc))
  if scaling_on(cfg) and task == cfg.scaling_task and enc == "rope" then
    n = math.max(n, M.seeds_of(cfg, scaling_series(task)))
  end
  return n
end

--- One run per task x encoding x seed and, with scaling, one p-RoPE model
--- per seed (stage 1); then per seed one RoPE scaling run (stage 2) that
--- starts from the stage-1 checkpoints (model.pbt in their run directories;
--- RoPE trained there when it is not in the grid).
function M.plan(cfg)
  local plan, hash_of = {}, {}
  for _, task in ipairs(cfg.tasks) do
    local t = task_setup(cfg, task)
    for _, enc in ipairs(cfg.encodings) do
      for seed = 1, grid_seeds(cfg, task, enc) do
        local c = grid_config(cfg, task, enc, seed)
        local name = string.format("%s-%s-s%d", task, enc, seed)
        plan[#plan + 1] = { name = name, kind = "grid", stage = 1, config = c,
                            cost = work(cfg, c.steps, t.T_train) }
        hash_of[name] = core.hash64(json.encode(c))
      end
    end
  end
  if scaling_on(cfg) then
    local task = cfg.scaling_task
    local t = task_setup(cfg, task)
    local lengths = { t.L }
    for _, f in ipairs(cfg.scaling_factors) do lengths[#lengths + 1] = f * t.L end
    for seed = 1, M.seeds_of(cfg, scaling_series(task)) do
      -- Stage 1: the p-RoPE model (its own run, so that stage 2 is short).
      local rope_model = model_config(cfg, "rope", t.info.vocab, t.T_train, t.T_max, seed)
      local pmodel = copy_table(rope_model)
      pmodel.enc = pmodel.enc or {}
      pmodel.enc.p = cfg.p
      if cfg.prope_base > 0 then pmodel.enc.base = cfg.prope_base end
      local prope = string.format("prope-%s-s%d", task, seed)
      local pc = { task = task, seed = seed, L = t.L, model = pmodel, steps = cfg.steps, batch = cfg.batch,
                   lr = cfg.lr, min_len = cfg.min_len, vocab = cfg.vocab }
      plan[#plan + 1] = { name = prope, kind = "prope", stage = 1, config = pc,
                          cost = work(cfg, cfg.steps, t.T_train) }
      -- With prope_base, p-RoPE is compared with RoPE at the same base
      -- (trained like the p-RoPE model, p = 1), not with the grid's RoPE.
      local base_run, bc = nil, nil
      if cfg.prope_base > 0 then
        base_run = string.format("ropebase-%s-s%d", task, seed)
        bc = copy_table(pc)
        bc.model = copy_table(pmodel)
        bc.model.enc = { base = cfg.prope_base }
        plan[#plan + 1] = { name = base_run, kind = "prope", stage = 1, config = bc,
                            cost = work(cfg, cfg.steps, t.T_train) }
      end
      -- Stage 2: zero-shot and fine-tuned evaluation of RoPE (the grid's
      -- checkpoint, or trained here when RoPE is not in the grid) and p-RoPE.
      local rope = string.format("%s-rope-s%d", task, seed)
      local c = { task = task, seed = seed, L = t.L, lengths = lengths, types = cfg.scaling_types,
                  p = cfg.p, finetune_steps = cfg.finetune_steps, finetune_lr = cfg.finetune_lr,
                  model = rope_model, steps = cfg.steps, batch = cfg.batch, lr = cfg.lr,
                  samples = cfg.samples, min_len = cfg.min_len, vocab = cfg.vocab,
                  rope_run = hash_of[rope] or false, prope_run = core.hash64(json.encode(pc)),
                  rope_base_run = bc and core.hash64(json.encode(bc)) or nil }
      local trained = (hash_of[rope] and 0 or cfg.steps) + cfg.finetune_steps * (2 + #cfg.scaling_types)
      local needs = hash_of[rope] and { rope, prope } or { prope }
      if base_run then needs[#needs + 1] = base_run end
      plan[#plan + 1] = { name = string.format("scaling-%s-s%d", task, seed), kind = "scaling", stage = 2,
                          needs = needs, config = c, cost = work(cfg, trained, t.T_train) }
    end
  end
  return plan
end

function M.announce(cfg, e, i, n)
  experiment.sayer("extrapolation")("run %d/%d: %s", i, n, e.name)
  if i == 1 then pb.threads(cfg.threads) end
end

-- Runs ------------------------------------------------------------------------

-- Per-length results of a trained model: accuracy and exact match, or
-- perplexity with non-overlapping and sliding windows for lm.
local function evaluate(cfg, model, task, t)
  local per_len = {}
  if is_lm(task) then
    local o = { lengths = t.lengths, max_tokens = cfg.lm_max_tokens }
    o.window = "nonoverlap"
    local non = pb.eval(model, t.task_obj, o)
    o.window = "sliding"
    local sli = pb.eval(model, t.task_obj, o)
    for _, n in ipairs(t.lengths) do
      per_len[n] = { accuracy = non[n].accuracy, loss = non[n].loss, ppl = non[n].ppl,
                     ppl_sliding = sli[n].ppl, loss_sliding = sli[n].loss,
                     tokens = non[n].tokens, seq_len = n }
    end
  else
    local ev = pb.eval(model, t.task_obj, { lengths = t.lengths, samples = cfg.samples })
    for _, n in ipairs(t.lengths) do
      per_len[n] = { accuracy = ev[n].accuracy, exact = ev[n].exact, loss = ev[n].loss,
                     tokens = ev[n].tokens, seq_len = ev[n].seq_len }
    end
  end
  return per_len
end

local function run_grid(cfg, e, R)
  local c = e.config
  local task, enc, seed = c.task, c.encoding, c.seed
  local t = task_setup(cfg, task)
  local run = R:run(e.name, c)
  local model = pb.model(c.model)
  local tr = train_model(cfg, model, t.task_obj, c.steps, seed, string.format("%s %s seed %d", enc, task, seed))
  local every = math.max(1, c.steps // 50)
  for s = every, c.steps, every do
    run:log { kind = "train", step = s, loss = tr.losses[s], grad_norm = tr.grad_norms[s] }
  end
  local per_len = evaluate(cfg, model, task, t)
  local acc_by_len, in_acc, n_in = {}, 0, 0
  for _, n in ipairs(t.lengths) do
    local r = per_len[n]
    acc_by_len[tostring(n)] = r.accuracy
    if n <= t.L then in_acc, n_in = in_acc + r.accuracy, n_in + 1 end
    run:log { kind = "eval", task = task, encoding = enc, seed = seed, length = n, seq_len = r.seq_len,
              in_dist = n <= t.L, accuracy = r.accuracy, exact = r.exact, loss = r.loss, ppl = r.ppl,
              ppl_sliding = r.ppl_sliding, loss_sliding = r.loss_sliding, tokens = r.tokens }
  end
  if cfg.diag and #t.diag_lengths > 0 then
    local diag = pb.diagnose(model, t.task_obj, { lengths = t.diag_lengths, samples = cfg.diag_samples,
                                                  max_seq_len = cfg.diag_max_seq_len })
    for _, n in ipairs(t.diag_lengths) do
      local rec = copy_table(diag[n])
      rec.kind, rec.length = "diag", n
      run:log(rec)
    end
  end
  if c.checkpoint then model:save(run:path("model.pbt")) end
  run:summary { task = task, encoding = enc, seed = seed, final_loss = tr.final_loss,
                train_seconds = tr.seconds, tokens_per_s = tr.tokens_per_s,
                in_dist_accuracy = n_in > 0 and in_acc / n_in or nil,
                accuracy = acc_by_len, chance = t.info.chance }
  model:close()
end

-- The scaling run's evaluation lengths and their factors s = T(n)/T(L).
local function scaling_setup(cfg, c)
  local t = task_setup(cfg, c.task)
  local factor = {}
  for _, n in ipairs(c.lengths) do factor[n] = seq_len(t.task_obj, n) / t.T_train end
  local ft_task = make_task(cfg, c.task, 2 * t.L)
  return t, factor, ft_task, seq_len(ft_task, 2 * t.L) / t.T_train
end

-- RoPE scaling and p-RoPE of one seed: zero-shot, then each model after a
-- short fine-tune at 2L (a copy through a checkpoint in the run directory).
local function run_scaling(cfg, e, R)
  local c = e.config
  local task, seed = c.task, c.seed
  local t, factor, ft_task, s2 = scaling_setup(cfg, c)
  local say = experiment.sayer("extrapolation")
  local rope
  if c.rope_run then
    rope = pb.load(util.join(util.join(R.dir, string.format("%s-rope-s%d", task, seed)), "model.pbt"))
  else
    rope = pb.model(c.model)
    train_model(cfg, rope, t.task_obj, c.steps, seed, string.format("rope %s seed %d", task, seed))
  end
  local run = R:run(e.name, c)
  local pdir = util.join(R.dir, string.format("prope-%s-s%d", task, seed))
  local prope = pb.load(util.join(pdir, "model.pbt"))
  local function record(method, finetuned, n, ev)
    run:log { kind = "scaling", task = task, method = method, finetuned = finetuned, seed = seed,
              length = n, factor = factor[n], accuracy = ev.accuracy, exact = ev.exact }
  end
  local function eval_one(model, n, scaling)
    local o = { lengths = { n }, samples = c.samples }
    if scaling then o.scaling = scaling end
    return pb.eval(model, t.task_obj, o)[n]
  end
  local rope_base = c.rope_base_run
    and pb.load(util.join(util.join(R.dir, string.format("ropebase-%s-s%d", task, seed)), "model.pbt"))
  -- Without fine-tuning: the scaling factor follows the evaluated length.
  for _, n in ipairs(c.lengths) do
    record("rope", false, n, eval_one(rope, n))
    record("p-rope", false, n, eval_one(prope, n))
    if rope_base then record("rope@base", false, n, eval_one(rope_base, n)) end
    for _, ty in ipairs(c.types) do
      local sc = factor[n] > 1 and { type = ty, factor = factor[n], original_len = t.T_train } or nil
      record("rope+" .. ty, false, n, eval_one(rope, n, sc))
    end
  end
  -- With a short fine-tune at 2L: a copy of each model, trained with its
  -- method's scaling at factor T(2L)/T(L) built in; evaluated at every
  -- length with the factor of that length (PI-style static scaling).
  local function finetune(model, name, enc_override)
    local path = run:path("finetune-start.pbt")
    model:save(path)
    local m = pb.load(path, { enc = enc_override })
    os.remove(path)
    say("  fine-tune %s seed %d: %d steps at L=%d", name, seed, c.finetune_steps, 2 * t.L)
    train_model(cfg, m, ft_task, c.finetune_steps, seed + 500, string.format("ft %s seed %d", name, seed),
                c.finetune_lr)
    return m
  end
  local ft, ftp = finetune(rope, "rope"), finetune(prope, "p-rope")
  for _, n in ipairs(c.lengths) do
    record("rope", true, n, eval_one(ft, n))
    record("p-rope", true, n, eval_one(ftp, n))
  end
  ft:close()
  ftp:close()
  for _, ty in ipairs(c.types) do
    local m = finetune(rope, "rope+" .. ty, { scaling = { type = ty, factor = s2, original_len = t.T_train } })
    for _, n in ipairs(c.lengths) do
      record("rope+" .. ty, true, n,
        eval_one(m, n, { type = ty, factor = math.max(factor[n], s2), original_len = t.T_train }))
    end
    m:close()
  end
  run:summary { task = task, seed = seed, p_rope_final_loss = R:load(util.basename(pdir)).summary.final_loss }
  rope:close()
  prope:close()
  if rope_base then rope_base:close() end
end

-- The p-RoPE model of one seed, kept for its scaling run.
local function run_prope(cfg, e, R)
  local c = e.config
  local t = task_setup(cfg, c.task)
  local run = R:run(e.name, c)
  local model = pb.model(c.model)
  local tr = train_model(cfg, model, t.task_obj, c.steps, c.seed, string.format("p-rope %s seed %d", c.task, c.seed))
  model:save(run:path("model.pbt"))
  model:close()
  run:summary { task = c.task, seed = c.seed, final_loss = tr.final_loss, train_seconds = tr.seconds,
                tokens_per_s = tr.tokens_per_s }
end

--- Fills the run directory of one plan entry.
function M.run_one(cfg, e, R)
  if e.kind == "scaling" then return run_scaling(cfg, e, R) end
  if e.kind == "prope" then return run_prope(cfg, e, R) end
  return run_grid(cfg, e, R)
end

-- Diagnostic rows of one run at one length: the summary row and one row per
-- layer and head.
local function add_diag_rows(X, c, d)
  local task, enc, seed, n = c.task, c.encoding, c.seed, d.length
  X.diag_rows[#X.diag_rows + 1] = { task = task, encoding = enc, seed = seed, length = n, seq_len = d.seq_len,
    in_dist = d.in_dist, entropy = d.entropy_mean, entropy_norm = d.entropy_norm_mean,
    distance = d.distance_mean, positions_beyond_train = d.positions_beyond_train,
    untrained_rows = d.learned and d.learned.untrained_rows or nil,
    beyond_table = d.learned and d.learned.beyond_table or nil,
    t5_unseen_buckets = d.t5 and d.t5.unseen_buckets or nil,
    t5_unseen_pair_frac = d.t5 and d.t5.unseen_pair_frac or nil }
  for l, heads in ipairs(d.entropy or {}) do
    for h in ipairs(heads) do
      X.head_rows[#X.head_rows + 1] = { task = task, encoding = enc, seed = seed, length = n,
        layer = l, head = h, entropy = d.entropy[l][h], entropy_norm = d.entropy_norm[l][h],
        distance = d.distance[l][h] }
    end
  end
end

-- Collect: tables, plots and report from the run directories ----------------

local train_len_of = train_len

-- Settings that act only in a sequential sweep.
local SEQUENTIAL_ONLY = { spending = true, futility = true }

-- The settings the report shows (not where results go or the thread count,
-- so that every way of running a study writes the same report; the
-- sequential settings only when the sweep is sequential).
local function shown_config(cfg)
  local c = {}
  for k, v in pairs(cfg) do
    if k ~= "root" and k ~= "threads" and k:sub(1, 1) ~= "_" and (cfg._sequential or not SEQUENTIAL_ONLY[k]) then
      c[k] = v
    end
  end
  return c
end

-- The rows of every done run, read back from metrics.jsonl and
-- summary.json (in plan order, so the tables do not depend on which run
-- finished first).
local function load_rows(cfg, R, plan)
  local X = { cfg = cfg, R = R, eval_rows = {}, diag_rows = {}, head_rows = {}, run_rows = {},
              timing_rows = {}, scale_rows = {}, chance_of = {}, figures = {}, claims = {} }
  for _, e in ipairs(plan) do
    if e.done and e.experiment == M.name then
      local run = R:load(e.name)
      local c, s = e.config, run.summary
      local info = s.run_info or {}
      X.timing_rows[#X.timing_rows + 1] = { run = e.name, wall_seconds = info.wall_seconds,
        train_seconds = s.train_seconds, tokens_per_s = s.tokens_per_s, host = info.host,
        slurm_job = info.slurm and (info.slurm.array_job_id or info.slurm.job_id) or nil,
        slurm_task = info.slurm and info.slurm.array_task_id or nil, attempt = info.attempt }
      if e.kind == "scaling" then
        for _, rec in ipairs(run.metrics) do
          if rec.kind == "scaling" then
            rec.kind = nil
            X.scale_rows[#X.scale_rows + 1] = rec
          end
        end
      elseif e.kind == "grid" then
        X.chance_of[c.task] = s.chance
        X.run_rows[#X.run_rows + 1] = s
        for _, rec in ipairs(run.metrics) do
          if rec.kind == "eval" then
            X.eval_rows[#X.eval_rows + 1] = { task = rec.task, encoding = rec.encoding, seed = rec.seed,
              length = rec.length, seq_len = rec.seq_len, in_dist = rec.in_dist, accuracy = rec.accuracy,
              exact = rec.exact, loss = rec.loss, ppl = rec.ppl, ppl_sliding = rec.ppl_sliding }
          elseif rec.kind == "diag" then
            add_diag_rows(X, c, rec)
          end
        end
      end
    end
  end
  return X
end

-- Lookups over the loaded rows (closures the report parts share).
local function add_lookups(X)
  local config, eval_rows = X.cfg, X.eval_rows
  local level = config.level
  local function train_len(task) return train_len_of(config, task) end
  -- Aggregation -----------------------------------------------------------------

  local function agg_index(rows, keys, values)
    local out = stats.aggregate(rows, keys, values, { level = level, bounds = { accuracy = { 0, 1 }, exact = { 0, 1 } } })
    local index = {}
    for _, r in ipairs(out) do
      local parts = {}
      for i, k in ipairs(keys) do parts[i] = tostring(r[k]) end
      index[table.concat(parts, "|")] = r
    end
    return function(...) return index[table.concat({ ... }, "|")] end
  end

  local eval_agg = agg_index(eval_rows, { "task", "encoding", "length" },
    { "accuracy", "exact", "ppl", "ppl_sliding" })

  local function lengths_of(task)
    local seen, out = {}, {}
    for _, r in ipairs(eval_rows) do
      if r.task == task and not seen[r.length] then seen[r.length], out[#out + 1] = true, r.length end
    end
    table.sort(out)
    return out
  end

  local function seq_len_of(task, n)
    for _, r in ipairs(eval_rows) do
      if r.task == task and r.length == n then return r.seq_len end
    end
  end

  X.agg_index, X.eval_agg, X.lengths_of, X.seq_len_of = agg_index, eval_agg, lengths_of, seq_len_of
end

-- summary.csv and runs.csv (timing.csv apart: it differs between runs).
local function aggregate_summary(X)
  local config, R, summary, run_rows = X.cfg, X.R, X.summary, X.run_rows
  local chance_of, lengths_of, seq_len_of = X.chance_of, X.lengths_of, X.seq_len_of
  local function train_len(task) return train_len_of(config, task) end
  local eval_agg = X.eval_agg
  local summary, summary_cols = {}, {
    "encoding", "task", "length", "seq_len", "in_dist", "mean_acc", "lo", "hi", "max_acc",
    "mean_exact", "exact_lo", "exact_hi", "max_exact", "chance", "n_seeds",
    "mean_ppl", "ppl_lo", "ppl_hi", "min_ppl", "mean_ppl_sliding", "ppl_sliding_lo",
    "ppl_sliding_hi" }
  for _, task in ipairs(config.tasks) do
    for _, enc in ipairs(config.encodings) do
      for _, n in ipairs(lengths_of(task)) do
        local a = eval_agg(task, enc, n)
        if a then
          summary[#summary + 1] = {
            encoding = enc, task = task, length = n, seq_len = seq_len_of(task, n),
            in_dist = n <= train_len(task), mean_acc = a.accuracy_mean, lo = a.accuracy_lo,
            hi = a.accuracy_hi, max_acc = a.accuracy_max, mean_exact = a.exact_mean,
            exact_lo = a.exact_lo, exact_hi = a.exact_hi, max_exact = a.exact_max,
            chance = chance_of[task], n_seeds = a.accuracy_n, mean_ppl = a.ppl_mean,
            ppl_lo = a.ppl_lo, ppl_hi = a.ppl_hi, min_ppl = a.ppl_min,
            mean_ppl_sliding = a.ppl_sliding_mean, ppl_sliding_lo = a.ppl_sliding_lo,
            ppl_sliding_hi = a.ppl_sliding_hi }
        end
      end
    end
  end
  R:csv("summary.csv", summary, summary_cols)
  R:csv("runs.csv", run_rows, { "task", "encoding", "seed", "final_loss", "in_dist_accuracy", "chance" })
  R:csv("timing.csv", X.timing_rows, { "run", "wall_seconds", "train_seconds", "tokens_per_s", "host",
    "slurm_job", "slurm_task", "attempt" })

  X.summary = summary
end

local function aggregate_diagnostics(X)
  local config, R, level, diag_summary = X.cfg, X.R, X.cfg.level, X.diag_summary
  local diag_rows, head_rows = X.diag_rows, X.head_rows
  local function train_len(task) return train_len_of(config, task) end
  local diag_summary = {}
  if #diag_rows > 0 then
    local dagg = stats.aggregate(diag_rows, { "task", "encoding", "length" },
      { "entropy", "entropy_norm", "distance", "positions_beyond_train", "untrained_rows",
        "t5_unseen_buckets", "t5_unseen_pair_frac" }, { level = level, order = "first" })
    for _, r in ipairs(dagg) do
      diag_summary[#diag_summary + 1] = {
        task = r.task, encoding = r.encoding, length = r.length, in_dist = r.length <= train_len(r.task),
        entropy = r.entropy_mean, entropy_norm = r.entropy_norm_mean,
        entropy_norm_lo = r.entropy_norm_lo, entropy_norm_hi = r.entropy_norm_hi,
        distance = r.distance_mean, positions_beyond_train = r.positions_beyond_train_mean,
        untrained_rows = r.untrained_rows_mean, t5_unseen_buckets = r.t5_unseen_buckets_mean,
        t5_unseen_pair_frac = r.t5_unseen_pair_frac_mean, n_seeds = r.entropy_norm_n }
    end
    R:csv("diagnostics.csv", diag_summary, { "task", "encoding", "length", "in_dist", "entropy",
      "entropy_norm", "entropy_norm_lo", "entropy_norm_hi", "distance", "positions_beyond_train",
      "untrained_rows", "t5_unseen_buckets", "t5_unseen_pair_frac", "n_seeds" })
    R:csv("diagnostics_heads.csv", head_rows, { "task", "encoding", "seed", "length", "layer",
      "head", "entropy", "entropy_norm", "distance" })
  end

  X.diag_summary = diag_summary
end

local function aggregate_scaling(X)
  local config, R, scale_summary, scale_rows = X.cfg, X.R, X.scale_summary, X.scale_rows
  local chance_of, methods = X.chance_of, X.methods
  local function train_len(task) return train_len_of(config, task) end
  local agg_index = X.agg_index
  local scale_summary = {}
  local methods = { "rope", "p-rope" }
  if config.prope_base > 0 then methods[#methods + 1] = "rope@base" end
  for _, ty in ipairs(config.scaling_types) do methods[#methods + 1] = "rope+" .. ty end
  if #scale_rows > 0 then
    local sagg = agg_index(scale_rows, { "method", "finetuned", "length" }, { "accuracy", "exact" })
    local seen_len, slens = {}, {}
    for _, r in ipairs(scale_rows) do
      if not seen_len[r.length] then seen_len[r.length], slens[#slens + 1] = true, r.length end
    end
    table.sort(slens)
    for _, ft in ipairs { false, true } do
      for _, meth in ipairs(methods) do
        for _, n in ipairs(slens) do
          local a = sagg(meth, tostring(ft), n)
          if a then
            scale_summary[#scale_summary + 1] = {
              task = config.scaling_task, method = meth, finetuned = ft, length = n,
              in_dist = n <= train_len(config.scaling_task), mean_acc = a.accuracy_mean,
              lo = a.accuracy_lo, hi = a.accuracy_hi, max_acc = a.accuracy_max,
              mean_exact = a.exact_mean, chance = chance_of[config.scaling_task],
              n_seeds = a.accuracy_n }
          end
        end
      end
    end
    R:csv("scaling.csv", scale_summary, { "task", "method", "finetuned", "length", "in_dist",
      "mean_acc", "lo", "hi", "max_acc", "mean_exact", "chance", "n_seeds" })
  end
  X.scale_summary, X.methods = scale_summary, methods
  if scaling_on(config) then  -- the longest sequence of the scaling evaluation
    local t = task_setup(config, config.scaling_task)
    local f = config.scaling_factors
    X.scaling_T_max = seq_len(t.task_obj, #f > 0 and f[#f] * t.L or t.L)
  end
end

-- A line plot per series (mean with its interval) into plots/<name>.
local function line_plot(X, name, title, ylabel, rows, series_key, names, x_key, y, lo, hi, L, chance, opts)
  local R, figures = X.R, X.figures
  local series = {}
  for _, nm in ipairs(names) do
    local s = { name = nm, x = {}, y = {}, lo = {}, hi = {} }
    for _, r in ipairs(rows) do
      if r[series_key] == nm and r[y] ~= nil and r[y] == r[y] then
        s.x[#s.x + 1] = r[x_key]
        s.y[#s.y + 1] = r[y]
        s.lo[#s.lo + 1] = r[lo] or r[y]
        s.hi[#s.hi + 1] = r[hi] or r[y]
      end
    end
    if #s.x > 0 then series[#series + 1] = s end
  end
  if #series == 0 then return end
  local o = { path = R:path("plots/" .. name), title = title, xlabel = "length (problem size n)",
              ylabel = ylabel, series = series, logx = 2,
              vlines = { { x = L, label = "train L = " .. L } } }
  if chance then o.hlines = { { y = chance, label = string.format("chance %.3g", chance) } } end
  for k, v in pairs(opts or {}) do o[k] = v end
  local out = pb.plot(o)
  figures[#figures + 1] = { path = out.png, name = name, title = title }
end

local function make_plots(X)
  local config, summary, diag_summary, scale_summary = X.cfg, X.summary, X.diag_summary, X.scale_summary
  local chance_of, methods = X.chance_of, X.methods
  local function train_len(task) return train_len_of(config, task) end
  local say = experiment.sayer("extrapolation")
  local function line_plot_(...) return line_plot(X, ...) end
  local has_gnuplot = pb.plot.available()
  if not has_gnuplot then say("gnuplot is not installed: plots skipped") end
  for _, task in ipairs(has_gnuplot and config.tasks or {}) do
    local rows = {}
    for _, r in ipairs(summary) do if r.task == task then rows[#rows + 1] = r end end
    local L = train_len(task)
    if is_lm(task) then
      line_plot_("lm_ppl", "lm: perplexity, non-overlapping windows (mean, 95% CI)", "perplexity",
        rows, "encoding", config.encodings, "length", "mean_ppl", "ppl_lo", "ppl_hi", L, nil, { logy = true })
      line_plot_("lm_ppl_sliding", "lm: perplexity, sliding windows (stride n/2)", "perplexity",
        rows, "encoding", config.encodings, "length", "mean_ppl_sliding", "ppl_sliding_lo",
        "ppl_sliding_hi", L, nil, { logy = true })
    else
      line_plot_(task .. "_accuracy", task .. ": per-token accuracy (mean, 95% CI over seeds)",
        "accuracy", rows, "encoding", config.encodings, "length", "mean_acc", "lo", "hi", L,
        chance_of[task], { yrange = { 0, 1.02 } })
      line_plot_(task .. "_exact", task .. ": exact match (mean, 95% CI over seeds)", "exact match",
        rows, "encoding", config.encodings, "length", "mean_exact", "exact_lo", "exact_hi", L,
        nil, { yrange = { 0, 1.02 } })
    end
    local drows = {}
    for _, r in ipairs(diag_summary) do if r.task == task then drows[#drows + 1] = r end end
    if #drows > 0 then
      line_plot_(task .. "_entropy", task .. ": normalised attention entropy (1 = uniform)",
        "entropy / ln(keys)", drows, "encoding", config.encodings, "length", "entropy_norm",
        "entropy_norm_lo", "entropy_norm_hi", L, nil, { yrange = { 0, 1.02 } })
    end
  end
  if has_gnuplot and #scale_summary > 0 then
    local L = train_len(config.scaling_task)
    for _, ft in ipairs { false, true } do
      local rows = {}
      for _, r in ipairs(scale_summary) do if r.finetuned == ft then rows[#rows + 1] = r end end
      line_plot_("scaling_" .. (ft and "finetuned" or "zero_shot"),
        string.format("%s: RoPE scaling %s (mean, 95%% CI)", config.scaling_task,
          ft and "after a fine-tune at 2L" or "without fine-tuning"),
        "accuracy", rows, "method", methods, "length", "mean_acc", "lo", "hi", L,
        chance_of[config.scaling_task], { yrange = { 0, 1.02 } })
    end
  end
end

local function f3(x) return (x == nil or x ~= x) and "-" or string.format("%.3f", x) end
local function ci(r, m, lo, hi)
  if r[m] == nil then return "-" end
  if r.n_seeds and r.n_seeds > 1 then
    return string.format("%.3f [%.3f, %.3f]", r[m], r[lo], r[hi])
  end
  return string.format("%.3f", r[m])
end

local function add_readers(X)
  local summary = X.summary
  local lengths_of = X.lengths_of
  local function train_len(task) return train_len_of(X.cfg, task) end
  local function row_of(task, enc, n)
    for _, r in ipairs(summary) do
      if r.task == task and r.encoding == enc and r.length == n then return r end
    end
  end

  -- The first evaluated length at or beyond 2L (the usual extrapolation
  -- test length), or the longest one.
  local function test_length(task)
    local lens, L = lengths_of(task), train_len(task)
    for _, n in ipairs(lens) do if n >= 2 * L then return n end end
    return lens[#lens]
  end

  local function in_dist_mean(task, enc, field)
    local s, k = 0, 0
    for _, r in ipairs(summary) do
      if r.task == task and r.encoding == enc and r.in_dist and r[field] ~= nil then
        s, k = s + r[field], k + 1
      end
    end
    return k > 0 and s / k or nil
  end

  X.row_of, X.in_dist_mean, X.test_length = row_of, in_dist_mean, test_length
end

local function report_setup(X, rep)
  local config, level = X.cfg, X.cfg.level
  rep:section("Setup")
  rep:para(string.format(
    "Scale `%s`: %d seeds; model d=%d, %d heads, %d layers; sequence tasks trained on sizes %d..%d " ..
    "(vocab %d) for %d steps, lm on windows of %d characters for %d steps; batch %d, lr %g. " ..
    "Intervals are %d%% Student-t confidence intervals of the mean over seeds; `max` is the best " ..
    "seed. Lengths above L are out of distribution. Run times are in `timing.csv`.",
    config.scale, config.seeds, config.d, config.heads, config.layers, config.min_len, config.L,
    config.vocab, config.steps, config.lm_L, config.lm_steps, config.batch, config.lr,
    math.floor(level * 100 + 0.5)))
  local q = config._sequential
  if q then
    local more = {}
    for series, n in pairs(config._seeds or {}) do more[#more + 1] = string.format("%s %d", series, n) end
    table.sort(more)
    rep:para(string.format("Sequential sweep (`--until-decided`), look %d of %d: looks at %s seeds, " ..
      "%s alpha spending, futility stop below conditional power %g. Seeds are added at a look only to " ..
      "the runs behind the claims still undecided (%s); each claim's test names the look that decided it " ..
      "and uses the seeds that look had. Tables, figures and the means quoted in the evidence use every " ..
      "seed run.", q.look, #q.looks, table.concat(q.looks, ", "), config.spending, config.futility,
      #more > 0 and "seeds per series now: " .. table.concat(more, ", ") or "none so far"))
  end
  rep:code(json.encode(shown_config(config), { indent = true }))

  -- Readings: generated from the numbers below.
end

-- The readings of one task: generated sentences from its numbers.
local function report_readings(X, rep, task)
  local config, chance_of, lengths_of, row_of = X.cfg, X.chance_of, X.lengths_of, X.row_of
  local in_dist_mean = X.in_dist_mean
  local function train_len(task) return train_len_of(config, task) end
  local L = train_len(task)
  local lens = lengths_of(task)
  -- Reading.
  local items = {}
  local ood = {}
  for _, n in ipairs(lens) do if n > L then ood[#ood + 1] = n end end
  if is_lm(task) then
    local best_in
    for _, enc in ipairs(config.encodings) do
      local m = in_dist_mean(task, enc, "mean_ppl")
      if m and (not best_in or m < best_in) then best_in = m end
    end
    local weak = {}
    for _, enc in ipairs(config.encodings) do
      local m = in_dist_mean(task, enc, "mean_ppl")
      if m and best_in and m > 1.5 * best_in then weak[#weak + 1] = string.format("%s (%.3f)", enc, m) end
    end
    if #weak > 0 then
      items[#items + 1] = string.format("In distribution, more than 1.5x the best perplexity (%.3f), " ..
        "so not trained as well as the others: %s.", best_in, table.concat(weak, ", "))
    end
    for _, enc in ipairs(config.encodings) do
      local a, b = row_of(task, enc, L), row_of(task, enc, lens[#lens])
      if a and b and a.mean_ppl and b.mean_ppl then
        items[#items + 1] = string.format(
          "%s: perplexity %.3f at the training window %d and %.3f at %d (%.2fx; sliding windows %.3f)",
          enc, a.mean_ppl, L, b.mean_ppl, lens[#lens], b.mean_ppl / a.mean_ppl, b.mean_ppl_sliding or 0 / 0)
      end
    end
  else
    local chance = chance_of[task]
    local not_learned = {}
    for _, enc in ipairs(config.encodings) do
      local m = in_dist_mean(task, enc, "mean_acc")
      if m and m < 0.9 then not_learned[#not_learned + 1] = string.format("%s (%.3f)", enc, m) end
    end
    if #not_learned > 0 then
      items[#items + 1] = "Did not reach 0.9 mean accuracy in distribution at this scale, so their " ..
        "out-of-distribution numbers say little about extrapolation: " .. table.concat(not_learned, ", ") .. "."
    else
      items[#items + 1] = "Every encoding reached at least 0.9 mean accuracy in distribution."
    end
    for _, n in ipairs(ood) do
      local best, second
      for _, enc in ipairs(config.encodings) do
        local r = row_of(task, enc, n)
        if r and r.mean_acc then
          if not best or r.mean_acc > best.mean_acc then best, second = r, best
          elseif not second or r.mean_acc > second.mean_acc then second = r end
        end
      end
      if best then
        local text = string.format("n=%d (%.3gL): best %s %s", n, n / L, best.encoding,
          ci(best, "mean_acc", "lo", "hi"))
        if second then
          local overlap = best.n_seeds > 1 and second.n_seeds > 1 and second.hi >= best.lo
          text = text .. string.format("; next %s %s%s", second.encoding,
            ci(second, "mean_acc", "lo", "hi"),
            best.n_seeds > 1 and (overlap and " (intervals overlap: not separated)"
              or " (intervals do not overlap)") or "")
        end
        local at_chance = {}
        for _, enc in ipairs(config.encodings) do
          local r = row_of(task, enc, n)
          if r and r.mean_acc and r.mean_acc <= 1.5 * chance then at_chance[#at_chance + 1] = enc end
        end
        if #at_chance > 0 then
          text = text .. string.format("; within 1.5x chance (%.3f): %s", chance, table.concat(at_chance, ", "))
        end
        items[#items + 1] = text .. "."
      end
    end
    for _, enc in ipairs(config.encodings) do
      local m = in_dist_mean(task, enc, "mean_acc")
      local far = row_of(task, enc, lens[#lens])
      if m and far and m >= 0.9 then
        items[#items + 1] = string.format("%s keeps %.0f%% of its in-distribution accuracy at n=%d.",
          enc, 100 * far.mean_acc / m, lens[#lens])
      end
    end
  end
  rep:para("Reading (generated from the numbers above):")
  rep:list(items)
end

-- Claims -----------------------------------------------------------------------
-- Each claim is a test on per-seed values (pb.verdict): every encoding of
-- a comparison shares the seed, so the test is on per-seed differences.
-- The claims of the report are one family, decided in M.collect once
-- every part has stated its claims (claim_block keeps the block to fill).

-- The per-seed readers below keep the seeds up to X.max_seed when it is set
-- (a look of a sequential sweep: the seeds that look had).
local function seed_in(X, seed) return not X.max_seed or seed <= X.max_seed end

-- Per seed: metric of task x encoding at length n (log for perplexity).
local function seeds_at(X, task, enc, n, metric)
  local out = {}
  for _, r in ipairs(X.eval_rows) do
    if r.task == task and r.encoding == enc and r.length == n and r[metric] and seed_in(X, r.seed) then
      out[r.seed] = metric == "ppl" and math.log(r[metric]) or r[metric]
    end
  end
  return out
end

-- Per seed: mean accuracy of task x encoding over sizes <= L.
local function seeds_in_dist(X, task, enc)
  local sum, k = {}, {}
  for _, r in ipairs(X.eval_rows) do
    if r.task == task and r.encoding == enc and r.in_dist and r.accuracy and seed_in(X, r.seed) then
      sum[r.seed], k[r.seed] = (sum[r.seed] or 0) + r.accuracy, (k[r.seed] or 0) + 1
    end
  end
  for s in pairs(sum) do sum[s] = sum[s] / k[s] end
  return sum
end

-- Per seed: accuracy of a scaling method (fine-tuned or not) at length n.
local function scale_seeds(X, method, ft, n)
  local out = {}
  for _, r in ipairs(X.scale_rows) do
    if r.method == method and r.finetuned == ft and r.length == n and seed_in(X, r.seed) then
      out[r.seed] = r.accuracy
    end
  end
  return out
end

-- Premise: every seed of the listed per-seed in-distribution accuracies
-- reaches the threshold.
local function learned_premise(threshold, list)
  for name, by in pairs(list) do
    for s, v in pairs(by) do
      if v < threshold then
        return { ok = false, reason = string.format("%s reaches %.3f in distribution on seed %d (< %g)",
          name, v, s, threshold), would_need = "a recipe under which it learns the task in distribution" }
      end
    end
    if next(by) == nil then return { ok = false, reason = name .. " has no runs" } end
  end
  return { ok = true }
end

local function claim_block(X, rep, c)
  rep:claim { section = "extrapolation", text = c.text, verdict = "inconclusive", evidence = c.evidence }
  c.block = rep.blocks[#rep.blocks]
  c.test.id = string.format("extrapolation-%d", #X.claims + 1)
  X.claims[#X.claims + 1] = c
end

local MARK = pb.verdict.report_mark

local function tests_of(claims)
  local tests = {}
  for i, c in ipairs(claims) do tests[i] = c.test end
  return tests
end

-- The series behind a claim: the runs it reads, sorted, each once.
local function claim_series(c)
  local out, seen = {}, {}
  for _, s in ipairs(c.series) do
    if not seen[s] then seen[s], out[#out + 1] = true, s end
  end
  table.sort(out)
  return out
end

-- What a look did with a claim, and the series it reads, for its evidence.
local function look_text(r, q, c)
  local at = string.format("look %d of %d (n <= %d seeds)", r.stage, #q.looks, r.limit)
  local what = "not testable at " .. at
  if r.status == "decided" then what = "decided at " .. at
  elseif r.status == "futile" then what = "stopped as futile at " .. at
  elseif r.status == "more" then what = "undecided at " .. at .. ", more seeds at the next look"
  elseif r.status == "final" then what = "undecided at the last look, " .. at end
  return what .. "; series " .. table.concat(claim_series(c), ", ")
end

-- A sequential sweep's decision (cfg._sequential = {looks =, look =}): the
-- group-sequential rule replayed on the seeds each earlier look had (the
-- claims stated again from the per-seed tables cut at looks[j], into a
-- scratch report), then this look. -> results, sequential output
local function decide_sequential(X, restate)
  local cfg, q = X.cfg, X.cfg._sequential
  local function tests_at(j) return tests_of(j == q.look and X.claims or restate(q.looks[j])) end
  local out = pb.verdict.replay(tests_at, { alpha = cfg.alpha, level = cfg.level, looks = q.looks, look = q.look,
                                            spending = cfg.spending, futility = cfg.futility })
  out.more_series = {}
  for i, r in ipairs(out.results) do
    if r.status == "more" then
      for _, s in ipairs(claim_series(X.claims[i])) do out.more_series[#out.more_series + 1] = s end
    end
  end
  return out.results, out
end

-- One family: every claim of the report, decided at once (Holm) or, in a
-- sequential sweep, look by look; fills the claim blocks.
-- -> results, sequential output or nil
local function decide_claims(X, restate)
  local q = X.cfg._sequential
  local results, seq
  if q then
    results, seq = decide_sequential(X, restate)
  else
    results = pb.verdict.decide(tests_of(X.claims), { alpha = X.cfg.alpha, level = X.cfg.level })
  end
  local rows = pb.verdict.rows(results)
  for i, c in ipairs(X.claims) do
    local r, row = results[i], rows[i]
    c.block.verdict = MARK[r.verdict]
    if q then
      c.block.evidence = c.evidence .. string.format(" Test (%s, %d claims, group-sequential with %s " ..
        "spending at alpha = %g, Holm within each look; %s): %s.", r.id, #X.claims, X.cfg.spending,
        X.cfg.alpha, look_text(r, q, c), pb.verdict.test_text(r, row))
    else
      c.block.evidence = c.evidence .. string.format(" Test (%s, %d claims, Holm at alpha = %g): %s.", r.id,
        #X.claims, X.cfg.alpha, pb.verdict.test_text(r, row))
    end
  end
  return results, seq
end

-- The claims one task tests.
local function report_claims(X, rep, task)
  local config, chance_of, lengths_of, row_of = X.cfg, X.chance_of, X.lengths_of, X.row_of
  local in_dist_mean, test_length = X.in_dist_mean, X.test_length
  local function train_len(task) return train_len_of(config, task) end
  local L = train_len(task)
  local lens = lengths_of(task)
  local n2 = test_length(task)
  local margin = config.acc_margin
  if is_lm(task) then
    local far = lens[#lens]
    local r, l = row_of(task, "rope", far), row_of(task, "learned", far)
    if r and l and r.mean_ppl and l.mean_ppl then
      claim_block(X, rep, { text = "Relative positions (RoPE) generalise beyond the training length better " ..
          "than a learned absolute table (language modelling).",
        series = { grid_series(task, "rope"), grid_series(task, "learned") },
        evidence = string.format("lm perplexity at %d characters (trained at %d): RoPE %s, learned %s.",
          far, L, ci(r, "mean_ppl", "ppl_lo", "ppl_hi"), ci(l, "mean_ppl", "ppl_lo", "ppl_hi")),
        test = { kind = "beats_each", a = seeds_at(X, task, "rope", far, "ppl"),
                 bs = { learned = seeds_at(X, task, "learned", far, "ppl") }, lower_is_better = true,
                 margin = math.log(1 + config.ppl_margin) } })
    end
  else
    local lm_in = in_dist_mean(task, "learned", "mean_acc")
    local l2 = row_of(task, "learned", n2)
    local learned_in, rope_in_seeds = seeds_in_dist(X, task, "learned"), seeds_in_dist(X, task, "rope")
    if lm_in and l2 then
      -- per seed: accuracy at n2 minus half the in-distribution accuracy
      local gap, at2 = {}, seeds_at(X, task, "learned", n2, "accuracy")
      for s, v in pairs(at2) do gap[s] = learned_in[s] and v - 0.5 * learned_in[s] end
      claim_block(X, rep, { text = "A learned absolute position table does not generalise beyond the training length.",
        series = { grid_series(task, "learned") },
        evidence = string.format("%s: learned reaches %.3f in distribution and %s at n=%d (%.3gL); " ..
          "the claim holds when its accuracy at n=%d is below half its in-distribution accuracy. Chance %.3f.",
          task, lm_in, ci(l2, "mean_acc", "lo", "hi"), n2, n2 / L, n2, chance_of[task]),
        test = { kind = "less", x = gap, reference = 0, margin = margin,
                 premise = learned_premise(0.9, { learned = learned_in }) } })
    end
    local r2 = row_of(task, "rope", n2)
    local rope_in = in_dist_mean(task, "rope", "mean_acc")
    if l2 and r2 and lm_in and rope_in then
      claim_block(X, rep, { text = "Relative positions (RoPE) generalise beyond the training length better than a " ..
          "learned absolute table.",
        series = { grid_series(task, "rope"), grid_series(task, "learned") },
        evidence = string.format("%s accuracy at n=%d (%.3gL): RoPE %s, learned %s (in distribution " ..
          "%.3f and %.3f).", task, n2, n2 / L, ci(r2, "mean_acc", "lo", "hi"),
          ci(l2, "mean_acc", "lo", "hi"), rope_in, lm_in),
        test = { kind = "beats_each", a = seeds_at(X, task, "rope", n2, "accuracy"),
                 bs = { learned = seeds_at(X, task, "learned", n2, "accuracy") }, margin = margin,
                 premise = learned_premise(0.9, { learned = learned_in, rope = rope_in_seeds }) } })
    end
  end
end

local function report_task(X, rep, task)
  local config, chance_of, figures, lengths_of = X.cfg, X.chance_of, X.figures, X.lengths_of
  local row_of = X.row_of
  local function train_len(task) return train_len_of(config, task) end
  local L = train_len(task)
  local lens = lengths_of(task)
  rep:section("Task " .. task)
  local cols = { "encoding" }
  local tab = {}
  local field, lo_f, hi_f = "mean_acc", "lo", "hi"
  if is_lm(task) then field, lo_f, hi_f = "mean_ppl", "ppl_lo", "ppl_hi" end
  for _, enc in ipairs(config.encodings) do
    local line = { encoding = enc }
    for _, n in ipairs(lens) do
      local r = row_of(task, enc, n)
      line["n=" .. n] = r and ci(r, field, lo_f, hi_f) or "-"
    end
    tab[#tab + 1] = line
  end
  for _, n in ipairs(lens) do cols[#cols + 1] = "n=" .. n end
  rep:table(tab, cols, { caption = is_lm(task)
    and string.format("lm perplexity (non-overlapping windows), mean [95%% CI]; trained at %d", L)
    or string.format("%s per-token accuracy, mean [95%% CI] over seeds; trained at sizes <= %d, chance %.3f",
      task, L, chance_of[task]) })
  if is_lm(task) then
    local tab2 = {}
    for _, enc in ipairs(config.encodings) do
      local line = { encoding = enc }
      for _, n in ipairs(lens) do
        local r = row_of(task, enc, n)
        line["n=" .. n] = r and ci(r, "mean_ppl_sliding", "ppl_sliding_lo", "ppl_sliding_hi") or "-"
      end
      tab2[#tab2 + 1] = line
    end
    rep:table(tab2, cols, { caption = "lm perplexity, sliding windows (stride n/2)" })
  else
    local tab3 = {}
    for _, enc in ipairs(config.encodings) do
      local line = { encoding = enc }
      for _, n in ipairs(lens) do
        local r = row_of(task, enc, n)
        line["n=" .. n] = r and string.format("%s (max %s)", f3(r.mean_exact), f3(r.max_exact)) or "-"
      end
      tab3[#tab3 + 1] = line
    end
    rep:table(tab3, cols, { caption = task .. " exact match: mean over seeds (best seed)" })
  end

  report_readings(X, rep, task)
  report_claims(X, rep, task)
  for _, fig in ipairs(figures) do
    if fig.name:sub(1, #task + 1) == task .. "_" and not fig.name:match("_entropy$") then
      local tag = (fig.name:match("_accuracy$") or fig.name == "lm_ppl") and { section = "extrapolation" } or nil
      rep:figure(fig.path, fig.title, tag)
    end
  end
end

local function report_diagnostics(X, rep)
  local config, diag_summary, figures = X.cfg, X.diag_summary, X.figures
  if #diag_summary > 0 then
    rep:section("Diagnostics")
    rep:para("Attention entropy is averaged over answer-slot queries, layers and heads; normalised by " ..
      "ln(number of visible keys) it is 1 for uniform attention. Distance is the mean attended " ..
      "distance in tokens. `beyond train` counts positions above the largest training position; " ..
      "`untrained rows` are learned-table rows training never updated; T5 columns count relative " ..
      "buckets never used in training and the share of query-key pairs that fall in them.")
    rep:table(diag_summary, { "task", "encoding", "length", "entropy_norm", "distance",
      "positions_beyond_train", "untrained_rows", "t5_unseen_buckets", "t5_unseen_pair_frac" },
      { format = "%.3f", caption = "Diagnostics, mean over seeds" })
    local items = {}
    for _, task in ipairs(config.tasks) do
      for _, enc in ipairs(config.encodings) do
        local first, last
        for _, r in ipairs(diag_summary) do
          if r.task == task and r.encoding == enc then
            first = first or r
            last = r
          end
        end
        if first and last and first ~= last and first.entropy_norm and last.entropy_norm then
          items[#items + 1] = string.format(
            "%s %s: normalised entropy %.3f at n=%d and %.3f at n=%d; mean attended distance %.1f -> %.1f tokens.",
            task, enc, first.entropy_norm, first.length, last.entropy_norm, last.length,
            first.distance, last.distance)
        end
      end
    end
    rep:list(items)
    for _, fig in ipairs(figures) do
      if fig.name:match("_entropy$") then rep:figure(fig.path, fig.title) end
    end
  end

end

local function report_scaling(X, rep)
  local config, scale_summary, figures, methods = X.cfg, X.scale_summary, X.figures, X.methods
  local scaling_T_max = X.scaling_T_max
  local function train_len(task) return train_len_of(config, task) end
  if #scale_summary > 0 then
    local task, L = config.scaling_task, train_len(config.scaling_task)
    rep:section("RoPE scaling and p-RoPE")
    rep:para(string.format(
      "RoPE trained at L=%d evaluated at longer sizes with the scaling factor s = T(n)/T(L) " ..
      "(original_len = T(L) = the training sequence length), next to p-RoPE (p=%g, its own " ..
      "model). Fine-tuned: %d steps (lr %g) on sizes up to 2L with the method's scaling at " ..
      "the 2L factor built in; at longer sizes the factor follows the length.",
      L, config.p, config.finetune_steps, config.finetune_lr))
    local tab, cols, slens = {}, { "method", "finetuned" }, {}
    for _, r in ipairs(scale_summary) do
      if not contains(slens, r.length) then slens[#slens + 1] = r.length end
    end
    table.sort(slens)
    for _, n in ipairs(slens) do cols[#cols + 1] = "n=" .. n end
    for _, ft in ipairs { false, true } do
      for _, meth in ipairs(methods) do
        local line = { method = meth, finetuned = ft and "yes" or "no" }
        for _, r in ipairs(scale_summary) do
          if r.method == meth and r.finetuned == ft then line["n=" .. r.length] = ci(r, "mean_acc", "lo", "hi") end
        end
        tab[#tab + 1] = line
      end
    end
    rep:table(tab, cols, { caption = task .. " per-token accuracy, mean [95% CI] over seeds" })
    -- How much p-RoPE changes at these lengths: the largest angle any of the
    -- frequencies it removes would reach at the longest evaluated position.
    local dh = config.d // config.heads
    local n_pairs = dh // 2
    local keep = math.floor(config.p * n_pairs + 0.5)
    local items = {}
    local prope_note = ""
    local turn = 0  -- largest angle of a removed frequency over the longest sequence
    if keep < n_pairs then
      local theta = (config.prope_base > 0 and config.prope_base or config.rope_base) ^ (-2 * keep / dh)
      local T_last = scaling_T_max
      turn = theta * math.max(T_last - 1, 0)
      items[#items + 1] = string.format(
        "p-RoPE keeps %d of %d frequency pairs per head; the highest removed frequency (%.3g rad " ..
        "per position) turns by at most %.3g rad over the %d positions of the longest evaluated " ..
        "sequence, so at these lengths p-RoPE %s.", keep, n_pairs, theta, theta * math.max(T_last - 1, 0),
        T_last, theta * math.max(T_last - 1, 0) < 0.5 and "differs little from RoPE"
          or "removes rotations that matter")
      prope_note = items[#items]
    end
    for _, ft in ipairs { false, true } do
      for _, n in ipairs(slens) do
        if n > L then
          local best
          for _, r in ipairs(scale_summary) do
            if r.finetuned == ft and r.length == n and (not best or r.mean_acc > best.mean_acc) then best = r end
          end
          local base
          for _, r in ipairs(scale_summary) do
            if r.finetuned == ft and r.length == n and r.method == "rope" then base = r end
          end
          if best and base then
            local sep = ""
            if best ~= base and best.n_seeds > 1 and base.n_seeds > 1 then
              sep = base.hi >= best.lo and " (intervals overlap)" or " (intervals do not overlap)"
            end
            items[#items + 1] = string.format("%s, n=%d: best %s %s vs plain RoPE %s%s.",
              ft and "fine-tuned" or "zero-shot", n, best.method, ci(best, "mean_acc", "lo", "hi"),
              ci(base, "mean_acc", "lo", "hi"), sep)
          end
        end
      end
    end
    rep:list(items)

    local function srow(meth, ft, n)
      for _, r in ipairs(scale_summary) do
        if r.method == meth and r.finetuned == ft and r.length == n then return r end
      end
    end
    local n2 = slens[2]
    if n2 then
      local plain, pr = srow("rope", false, n2), srow("p-rope", false, n2)
      local parts = {}
      local against = config.prope_base > 0 and "rope@base" or "rope"  -- RoPE at p-RoPE's base
      for _, n in ipairs(slens) do
        local a, b = srow("p-rope", false, n), srow(against, false, n)
        if a and b then
          parts[#parts + 1] = string.format("n=%d: p-RoPE %s, RoPE %s", n, ci(a, "mean_acc", "lo", "hi"),
            ci(b, "mean_acc", "lo", "hi"))
        end
      end
      if config.prope_base > 0 then
        parts[#parts] = parts[#parts] .. string.format(" (both at RoPE base %g)", config.prope_base)
      end
      if plain and pr then
        claim_block(X, rep, { text = "Removing the lowest RoPE frequencies (p-RoPE) improves performance.",
          series = { scaling_series(task), grid_series(task, "rope") },
          evidence = table.concat(parts, "; ") .. ". " .. prope_note .. string.format(" Tested at n=%d.", n2),
          test = { kind = "beats_each", a = scale_seeds(X, "p-rope", false, n2),
                   bs = config.prope_base > 0 and { ["rope@base"] = scale_seeds(X, "rope@base", false, n2) }
                     or { rope = scale_seeds(X, "rope", false, n2) }, margin = config.acc_margin,
                   -- removed frequencies that barely turn make p-RoPE RoPE
                   premise = turn >= 0.5 and { ok = true } or { ok = false,
                     reason = string.format("the frequencies p-RoPE removes turn by at most %.3g rad over the " ..
                       "longest sequence: at these lengths p-RoPE is RoPE", turn),
                     would_need = "longer sequences, or a RoPE base scaled to them (prope_base=)" } } })
      end
      local each, gain, n_methods = {}, {}, 0
      local base = scale_seeds(X, "rope", false, n2)
      local rope_in_dist = scale_seeds(X, "rope", false, L)
      for _, ty in ipairs(config.scaling_types) do
        local r = srow("rope+" .. ty, false, n2)
        if r then
          each[#each + 1] = string.format("%s %s", ty, ci(r, "mean_acc", "lo", "hi"))
          n_methods = n_methods + 1
          for seed, v in pairs(scale_seeds(X, "rope+" .. ty, false, n2)) do
            if base[seed] then gain[seed] = (gain[seed] or 0) + v - base[seed] end
          end
        end
      end
      for seed, v in pairs(gain) do gain[seed] = v / n_methods end
      if n_methods > 0 and plain then
        claim_block(X, rep, { text = "Rescaling RoPE's frequencies at evaluation time (position interpolation, " ..
            "NTK, YaRN) improves a RoPE model's accuracy beyond its training length, without retraining.",
          series = { scaling_series(task), grid_series(task, "rope") },
          evidence = string.format("%s accuracy at n=%d (trained at %d), no fine-tuning: plain RoPE %s; %s. " ..
            "Tested on the gain over plain RoPE per seed, averaged over the methods (no method is picked " ..
            "after seeing the results).", task, n2, L, ci(plain, "mean_acc", "lo", "hi"), table.concat(each, ", ")),
          test = { kind = "greater", x = gain, reference = 0, margin = config.acc_margin,
                   premise = learned_premise(0.9, { rope = rope_in_dist }) } })
      end
    end
    for _, fig in ipairs(figures) do
      if fig.name:match("^scaling_") then rep:figure(fig.path, fig.title, { section = "extrapolation" }) end
    end
  end
end

--- Tables, plots and report from the done runs of the plan.
function M.collect(cfg, R, plan)
  local t0 = pb.now()
  local X = load_rows(cfg, R, plan)
  add_lookups(X)
  aggregate_summary(X)
  aggregate_diagnostics(X)
  aggregate_scaling(X)
  make_plots(X)
  add_readers(X)
  local rep = pb.report.new("Length extrapolation")
  report_setup(X, rep)
  -- a sequential look reads the seeds it had
  X.max_seed = cfg._sequential and cfg._sequential.looks[cfg._sequential.look] or nil
  for _, task in ipairs(cfg.tasks) do report_task(X, rep, task) end
  report_diagnostics(X, rep)
  report_scaling(X, rep)
  -- The claims as an earlier look (seeds <= n) stated them.
  local function restate(n)
    local kept_claims, kept_max = X.claims, X.max_seed
    X.claims, X.max_seed = {}, n
    local scratch = pb.report.new("scratch")
    for _, task in ipairs(cfg.tasks) do report_claims(X, scratch, task) end
    report_scaling(X, scratch)
    local claims = X.claims
    X.claims, X.max_seed = kept_claims, kept_max
    return claims
  end
  local results, seq = decide_claims(X, restate)
  local config = cfg

  rep:section("Files")
  rep:list {
    "`summary.csv`: one row per encoding x task x length (mean, CI, max over seeds, chance).",
    "`scaling.csv`: RoPE scaling and p-RoPE per method x fine-tune x length.",
    "`diagnostics.csv`, `diagnostics_heads.csv`: attention and encoding diagnostics.",
    "`timing.csv`: wall and training time per run (host, Slurm ids); the only file that differs between executions.",
    "`runs.csv` and one directory per run with config.json, metrics.jsonl, summary.json.",
  }
  rep:write(R:path("report.md"))
  local elapsed = pb.now() - t0
  experiment.sayer("extrapolation")("collected in %.1f s: %s", elapsed, R:path("report.md"))
  return { dir = R.dir, summary = X.summary, scaling = X.scale_summary, diagnostics = X.diag_summary,
           claims = results, seconds = elapsed, report = rep,  -- report: lets experiments/article.lua adopt claims and figures
           sequential = seq }
end

--- The whole study in this process: every run, then collect.
function M.run(overrides)
  return require("posbench.sweep").run_inprocess(M, overrides)
end

if experiment.is_main(...) then M.run(pb.args) end
return M
