-- Runs of the literature study: three families, each filling one run
-- directory from its config alone (so any worker can run any entry).
--
--   seq      train on a task at sizes min_len..L, evaluate per size:
--            per answer-token accuracy and exact match
--   lm       character-level language model on a text file (training
--            slice), perplexity per window length on the held-out slice;
--            RoPE runs also record per-frequency usage (Barbero et al.)
--   scaling  a RoPE model (the checkpoint of a seq or lm run) evaluated
--            beyond its training length with PI / NTK / YaRN, zero-shot
--            and after a short fine-tune at 2L
--
-- Every evaluation record is {kind="eval", series=, length=, in_dist=,
-- accuracy=, exact=, ppl=}; `series` names the curve the report reads.
local util = require "posbench.util"

local runs = {}

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = type(v) == "table" and copy(v) or v end
  return out
end
runs.copy = copy

--- Task object of a config: its training task, or (lm) a slice of the
--- text, whose file c.text is named relative to the directory dir.
function runs.task(c, which, dir)
  if c.task == "lm" then
    local o = { path = util.join(dir, c.text), min_len = c.L, max_len = c.L }
    if which == "eval" then o.from = 1 - c.holdout else o.to = 1 - c.holdout end
    return pb.task("lm", o)
  end
  local o = copy(c.topts)
  o.max_len = c.L
  return pb.task(c.task, o)
end

-- Model sequence length of a problem of size n (what scaling factors use).
function runs.seq_len(task_obj, n)
  return #task_obj:sample(n, { seed = 1, causal = true }).tokens
end

local function train(c, model, task_obj, steps, lr, seed_offset, label)
  return pb.train(model, task_obj, { steps = steps, batch = c.batch, lr = lr,
                                     seed = 1000 + c.seed + (seed_offset or 0), label = label })
end

-- Per-length records of one model. extra: pb.eval options such as
-- scaling=, a table for lm and a function of the length for tasks.
local function evaluate(c, model, eval_task, lengths, series, extra)
  local recs = {}
  if c.task == "lm" then
    local o = { lengths = lengths, max_tokens = c.max_tokens, window = "nonoverlap" }
    for k, v in pairs(extra or {}) do o[k] = v end
    local ev = pb.eval(model, eval_task, o)
    for _, n in ipairs(lengths) do
      recs[#recs + 1] = { kind = "eval", series = series, length = n, in_dist = n <= c.L,
                          accuracy = ev[n].accuracy, ppl = ev[n].ppl, tokens = ev[n].tokens }
    end
  else
    for _, n in ipairs(lengths) do
      local o = { lengths = { n }, samples = c.samples }
      for k, v in pairs(extra and extra(n) or {}) do o[k] = v end
      local ev = pb.eval(model, eval_task, o)[n]
      recs[#recs + 1] = { kind = "eval", series = series, length = n, in_dist = n <= c.L,
                          accuracy = ev.accuracy, exact = ev.exact, seq_len = ev.seq_len }
    end
  end
  return recs
end

-- seq and lm: train one model, evaluate it, keep RoPE checkpoints for the
-- scaling runs and record RoPE frequency usage on lm.
local function run_model(c, e, R)
  local run = R:run(e.name, c)
  local task_obj = runs.task(c, "train", R.dir)
  local eval_task = c.task == "lm" and runs.task(c, "eval", R.dir) or task_obj
  local model = pb.model(c.model)
  local tr = train(c, model, task_obj, c.steps, c.lr, 0, e.name)
  for _, rec in ipairs(evaluate(c, model, eval_task, c.lengths, c.series)) do run:log(rec) end
  if c.freq_usage then
    local U = pb.metrics.frequency_usage(model, task_obj, { length = c.L, batch = 16, seed = 7 })
    for l, heads in ipairs(U) do
      for h, u in ipairs(heads) do
        for k, v in ipairs(u) do run:log { kind = "freq", layer = l, head = h, pair = k - 1, usage = v } end
      end
    end
  end
  if c.checkpoint then model:save(run:path("model.pbt")) end
  run:summary { series = c.series, seed = c.seed, final_loss = tr.final_loss,
                train_seconds = tr.seconds, tokens_per_s = tr.tokens_per_s,
                chance = task_obj:info().chance }
  model:close()
end

-- scaling: zero-shot at every length with the factor of that length, then
-- each method fine-tuned at 2L with its factor there built in.
local function run_scaling(c, e, R)
  local base = c.base
  local rope = pb.load(util.join(util.join(R.dir, e.needs[1]), "model.pbt"))
  local run = R:run(e.name, c)
  local task_obj = runs.task(base, "train", R.dir)
  local eval_task = base.task == "lm" and runs.task(base, "eval", R.dir) or task_obj
  local T_L = runs.seq_len(task_obj, base.L)
  local factor = {}
  for _, n in ipairs(c.lengths) do factor[n] = math.max(1, runs.seq_len(task_obj, n) / T_L) end
  local function scaled(ty, f)
    if ty == "rope" or f <= 1 then return nil end
    return { type = ty, factor = f, original_len = T_L }
  end
  local function eval_all(model, ty, series, fmin)
    if base.task == "lm" then  -- one call per length: each has its own factor
      for _, n in ipairs(c.lengths) do
        local sc = scaled(ty, math.max(factor[n], fmin or 1))
        for _, rec in ipairs(evaluate(base, model, eval_task, { n }, series, { scaling = sc })) do run:log(rec) end
      end
    else
      local recs = evaluate(base, model, eval_task, c.lengths, series,
        function(n) return { scaling = scaled(ty, math.max(factor[n], fmin or 1)) } end)
      for _, rec in ipairs(recs) do run:log(rec) end
    end
  end
  for _, ty in ipairs(c.methods) do eval_all(rope, ty, c.series .. "/" .. ty) end
  local ft_base = runs.copy(base)
  ft_base.L = 2 * base.L
  local ft_task = runs.task(ft_base, "train", R.dir)
  local s2 = runs.seq_len(ft_task, 2 * base.L) / T_L
  for _, ty in ipairs(c.methods) do
    local path = run:path("finetune-start.pbt")
    rope:save(path)
    local m = pb.load(path, ty ~= "rope" and { enc = { scaling = scaled(ty, s2) } } or nil)
    os.remove(path)
    train(base, m, ft_task, c.finetune_steps, c.finetune_lr, 500, e.name .. " ft " .. ty)
    eval_all(m, ty, c.series .. "/" .. ty .. "+ft", s2)
    m:close()
  end
  run:summary { series = c.series, seed = base.seed }
  rope:close()
end

function runs.run_one(e, R)
  if e.config.family == "scaling" then return run_scaling(e.config, e, R) end
  return run_model(e.config, e, R)
end

return runs
