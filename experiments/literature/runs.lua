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
--            and after a short fine-tune at 2L (at finetune_lr_ratio times
--            the base model's learning rate)
--
-- Learning rates: a seq or lm config either names its lr, or is a pilot
-- (c.pilot: one lr of the grid, on the pilot seed, scored on validation
-- problems only), or selects (c.lr_select = {pilot run names}): it reads
-- the pilots' validation loss and trains at the lr of the best. Validation
-- problems come from their own stream (seq tasks) or their own slice of the
-- held-out text (lm); nothing beyond the training length is looked at.
--
-- Every evaluation record is {kind="eval", series=, length=, in_dist=,
-- accuracy=, exact=, ppl=}; `series` names the curve the report reads.
local core = require "posbench.core"
local results = require "posbench.results"
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
--- The held-out text is split in two: its first half validates (picks
--- learning rates), its second half evaluates.
function runs.task(c, which, dir)
  if c.task == "lm" then
    local o = { path = util.join(dir, c.text), min_len = c.L, max_len = c.L }
    local cut = 1 - c.holdout / 2
    if which == "eval" then o.from = cut
    elseif which == "valid" then o.from, o.to = 1 - c.holdout, cut
    else o.to = 1 - c.holdout end
    return pb.task("lm", o)
  end
  local o = copy(c.topts)
  o.max_len = c.L
  return pb.task(c.task, o)
end

--- A section's recipe: the study's d, heads, layers, steps (lm_steps for
--- language models: recipe lm or barbero, or task lm), batch and evaluation
--- samples, with the section's entry of cfg.recipes over them.
function runs.recipe(cfg, name, task)
  local lm = name == "lm" or name == "barbero" or task == "lm"
  local r = { d = cfg.d, heads = cfg.heads, layers = cfg.layers, batch = cfg.batch, samples = cfg.samples,
              steps = lm and cfg.lm_steps or cfg.steps }
  for k, v in pairs(cfg.recipes[name] or {}) do r[k] = v end
  return r
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

-- Validation of a trained model on sizes min_len..L (seq: problems of the
-- validation stream; lm: the validation slice at window L): mean loss per
-- answer token, accuracy and exact match (seq), perplexity (lm); `sizes`
-- keeps the per-size results (seq).
local function validate(c, model, task_obj, dir)
  if c.task == "lm" then
    local ev = pb.eval(model, runs.task(c, "valid", dir),
                       { lengths = { c.L }, max_tokens = c.max_tokens, window = "nonoverlap" })[c.L]
    return { loss = math.log(ev.ppl), ppl = ev.ppl }
  end
  local sizes = {}
  for n = task_obj:info().min_len, c.L do sizes[#sizes + 1] = n end
  local ev = pb.eval(model, task_obj, { lengths = sizes, samples = c.valid_samples, split = "valid" })
  local v = { loss = 0, accuracy = 0, exact = 0 }
  for _, n in ipairs(sizes) do
    for k in pairs(v) do v[k] = v[k] + ev[n][k] / #sizes end
  end
  v.min_exact = math.huge
  for _, n in ipairs(sizes) do v.min_exact = math.min(v.min_exact, ev[n].exact) end
  v.sizes = ev
  return v
end

--- Whether validation v (per-size results v.sizes) meets a learn
--- criterion {metric =, threshold =}: exact match at every size <= L, or
--- mean per-token accuracy at the test sizes <= L (c.lengths), which is
--- where the report's learned check reads it. Not the mean over every
--- size <= L: its short, easy sizes stopped Ruoss models that the
--- report's check then put at 0.75-0.79 (medium scale).
function runs.learned(c, v, crit)
  if crit.metric == "exact" then return v.min_exact >= crit.threshold end
  local sum, k = 0, 0
  for _, n in ipairs(c.lengths) do
    if n <= c.L and v.sizes[n] then sum, k = sum + v.sizes[n].accuracy, k + 1 end
  end
  if k == 0 then error("literature: " .. c.series .. " has no test size <= L to judge learning on", 0) end
  return sum / k >= crit.threshold
end

-- Train-until-learned (a recipe's until_learned = the most rounds): after
-- each round of c.steps the model is validated (sizes <= L, the validation
-- stream; nothing beyond L) against c.until_learned's criterion, and
-- another round follows until it passes or the cap is reached. A round is
-- a warm restart of the schedule (warm-up, cosine decay) at the same lr on
-- new training batches. -> the last round's training log, rounds, learned
local function train_until_learned(c, model, task_obj, lr, label, dir)
  local u = c.until_learned
  local tr = train(c, model, task_obj, c.steps, lr, 0, label)
  if not u then return tr, 1, nil end
  local seconds, ok = tr.seconds, runs.learned(c, validate(c, model, task_obj, dir), u)
  local round = 1
  while not ok and round < u.rounds do
    round = round + 1
    tr = train(c, model, task_obj, c.steps, lr, 1000000 * (round - 1), label .. " round " .. round)
    seconds = seconds + tr.seconds
    ok = runs.learned(c, validate(c, model, task_obj, dir), u)
  end
  tr.seconds = seconds
  return tr, round, ok
end

--- The learning rate a selecting config trains at: that of the pilot with
--- the lowest validation loss (a diverged pilot counts as infinite; ties go
--- to the pilot named first). R: the study's results. -> lr, pilot name
function runs.selected_lr(c, R)
  local best, best_loss, name
  for _, pilot in ipairs(c.lr_select) do
    local s = R:load(pilot).summary
    if type(s) ~= "table" or type(s.lr) ~= "number" or type(s.valid_loss) ~= "number" then
      error(string.format("literature: pilot run '%s' has no validation result (rerun it)", pilot), 0)
    end
    if s.valid_loss == s.valid_loss and (not best_loss or s.valid_loss < best_loss) then
      best, best_loss, name = s.lr, s.valid_loss, pilot
    end
  end
  if not best then
    error("literature: every pilot of " .. c.series .. " diverged (" .. table.concat(c.lr_select, ", ") .. ")", 0)
  end
  return best, name
end

-- A pilot: train at its lr (a divergence is a result, not a failure), then
-- validate. Nothing beyond L is evaluated.
local function run_pilot(c, e, R, run, model, task_obj)
  local ok, tr = pcall(train, c, model, task_obj, c.steps, c.lr, 0, e.name)
  local v = ok and validate(c, model, task_obj, R.dir) or { loss = 1 / 0 }
  run:summary { series = c.series, seed = c.seed, lr = c.lr, pilot = true, valid_loss = v.loss,
                valid_accuracy = v.accuracy, valid_exact = v.exact, valid_ppl = v.ppl,
                diverged = not ok or nil, final_loss = ok and tr.final_loss or nil,
                train_seconds = ok and tr.seconds or nil }
end

-- seq and lm: train one model, evaluate it, keep RoPE checkpoints for the
-- scaling runs and record RoPE frequency usage on lm. more(c, model,
-- task_obj, run), when given, records what another study measures on the
-- trained model.
local function run_model(c, e, R, more)
  local lr, from = c.lr, nil
  if c.lr_select then lr, from = runs.selected_lr(c, R) end
  local run = R:run(e.name, c)
  local task_obj = runs.task(c, "train", R.dir)
  local model = pb.model(c.model)
  if c.pilot then
    run_pilot(c, e, R, run, model, task_obj)
    return model:close()
  end
  local eval_task = c.task == "lm" and runs.task(c, "eval", R.dir) or task_obj
  local tr, rounds, valid_learned = train_until_learned(c, model, task_obj, lr, e.name, R.dir)
  for _, rec in ipairs(evaluate(c, model, eval_task, c.lengths, c.series)) do run:log(rec) end
  if c.freq_usage then
    local U = pb.metrics.frequency_usage(model, task_obj, { length = c.L, batch = 16, seed = 7 })
    for l, heads in ipairs(U) do
      for h, u in ipairs(heads) do
        for k, v in ipairs(u) do run:log { kind = "freq", layer = l, head = h, pair = k - 1, usage = v } end
      end
    end
  end
  if more then more(c, model, task_obj, run) end
  if c.checkpoint then model:save(run:path("model.pbt")) end
  run:summary { series = c.series, seed = c.seed, lr = lr, lr_from = from, final_loss = tr.final_loss,
                steps = rounds * c.steps, valid_learned = valid_learned,
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
  local base_lr = base.lr or R:load(e.needs[1]).summary.lr
  local ft_lr = c.finetune_lr or c.finetune_lr_ratio * base_lr
  local ft_base = runs.copy(base)
  ft_base.L = 2 * base.L
  local ft_task = runs.task(ft_base, "train", R.dir)
  local s2 = runs.seq_len(ft_task, 2 * base.L) / T_L
  for _, ty in ipairs(c.methods) do
    local path = run:path("finetune-start.pbt")
    rope:save(path)
    local m = pb.load(path, ty ~= "rope" and { enc = { scaling = scaled(ty, s2) } } or nil)
    os.remove(path)
    train(base, m, ft_task, c.finetune_steps, ft_lr, 500, e.name .. " ft " .. ty)
    eval_all(m, ty, c.series .. "/" .. ty .. "+ft", s2)
    m:close()
  end
  run:summary { series = c.series, seed = base.seed, finetune_lr = ft_lr }
  rope:close()
end

--- The language-model corpus: the first (1 - holdout) of every text file,
--- then the rest of every file, as one file (so training and held-out
--- slices share token ids); cfg._holdout is the held-out fraction of it.
--- Written once per results root, atomically, in the directory of the
--- study `name` (`who` names it in errors). Run configs name it relative
--- to the study's directory (cfg._corpus) with the hash of its text
--- (cfg._corpus_hash), so a moved results directory keeps its runs and a
--- changed corpus makes them stale; cfg._corpus_dir is that directory.
function runs.build_corpus(cfg, name, who)
  local train, test = {}, {}
  for _, path in ipairs(cfg.texts) do
    local f = io.open(path, "rb")
    if not f then
      error(string.format("%s: text file '%s' not found (texts=PATH,...; the defaults come " ..
        "with Debian's base-files package)", who, tostring(path)), 0)
    end
    local text = f:read("a")
    f:close()
    local cut = math.floor(#text * (1 - cfg.holdout))
    train[#train + 1], test[#test + 1] = text:sub(1, cut), text:sub(cut + 1)
  end
  local a, b = table.concat(train), table.concat(test)
  local path = string.format("%s/%s/corpus.txt", cfg.root, name)  -- cfg._corpus
  results.open(name, { root = cfg.root })  -- the study's directory
  local old = results.read_text(cfg.root, path)  -- nil unless a regular file
  if old ~= a .. b then results.write_file(cfg.root, path, a .. b) end
  cfg._corpus, cfg._corpus_hash, cfg._holdout = "corpus.txt", core.hash64(a .. b), #b / (#a + #b)
  cfg._corpus_dir = core.realpath(string.format("%s/%s", cfg.root, name))
end

function runs.run_one(e, R, more)
  if e.config.family == "scaling" then return run_scaling(e.config, e, R) end
  return run_model(e.config, e, R, more)
end

return runs
