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
local stats, json = pb.stats, pb.json

local M = {}

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
  level = 0.95,                  -- confidence level of the intervals
  -- Amplitude of the sinusoidal table. At 1 (Vaswani et al., who also
  -- scale embeddings by sqrt(d)) it is ~50x the 0.02-scale token
  -- embeddings here and copy is not learned (accuracy 0.05 at n = 8);
  -- at 0.1 it is learned (0.999).
  sinusoidal_scale = 0.1,
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
  article = { encodings = { "none", "sinusoidal", "learned", "rope", "alibi" }, tasks = { "copy" } },
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

function M.run(overrides)
  local config = experiment.configure("extrapolation", M.config, M.scales, overrides)
  if config.seeds < 1 then error("extrapolation: seeds must be >= 1", 0) end
  -- Check names before hours of training find a typo.
  for what, list in pairs { encoding = pb.list_encodings(), task = pb.list_tasks() } do
    local valid, names = {}, {}
    for _, e in ipairs(list) do valid[e.name], names[#names + 1] = true, e.name end
    for _, name in ipairs(config[what .. "s"]) do
      if not valid[name] then
        error(string.format("extrapolation: unknown %s '%s' (valid: %s)", what, tostring(name),
          table.concat(names, ", ")), 0)
      end
    end
  end
  pb.threads(config.threads)

  -- Helpers ---------------------------------------------------------------------

  local say = experiment.sayer("extrapolation")

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
  local function train_len(task) return is_lm(task) and config.lm_L or config.L end

  local function make_task(task, max_len)
    if is_lm(task) then
      return pb.task("lm", { min_len = max_len, max_len = max_len,
                             corpus_len = config.lm_corpus_len })
    end
    local opts = { min_len = math.max(config.min_len, task == "induction" and 2 or 1),
                   max_len = max_len }
    if task ~= "parity" then opts.vocab = config.vocab end
    if task == "recall" then opts.keys = math.max(64, 2 * max_len * 8) end
    return pb.task(task, opts)
  end

  -- Sorted, deduplicated sizes round(f * L), at least 1.
  local function sizes(L, factors)
    local seen, out = {}, {}
    for _, f in ipairs(factors) do
      local n = math.max(1, math.floor(f * L + 0.5))
      if not seen[n] then seen[n], out[#out + 1] = true, n end
    end
    table.sort(out)
    return out
  end

  -- Model sequence length T of problem size n under the decoder protocol.
  local function seq_len(task_obj, n)
    return #task_obj:sample(n, { seed = 1, causal = true }).tokens
  end

  local function model_config(enc, vocab, T_train, T_max, seed)
    local cfg = { vocab = vocab, d = config.d, heads = config.heads, layers = config.layers,
                  max_len = T_train, encoding = enc, seed = seed }
    -- A learned table needs a row for every evaluated position; rows past
    -- T_train stay at their initial values (what the diagnostics count).
    if enc == "learned" then cfg.enc = { size = T_max } end
    if enc == "rope" and config.rope_base ~= 10000 then cfg.enc = { base = config.rope_base } end
    if enc == "sinusoidal" then cfg.enc = { scale = config.sinusoidal_scale } end
    return cfg
  end

  local tmpdir = os.tmpname()
  os.remove(tmpdir)
  core.mkdir_p(tmpdir)
  local function tmp_path(name) return tmpdir .. "/" .. name end

  -- Copy of a model through a checkpoint, optionally with other encoding
  -- options (RoPE scaling for a scaled fine-tune).
  local function clone_model(model, name, enc_override)
    local path = tmp_path(name .. ".pbt")
    model:save(path)
    return pb.load(path, { enc = enc_override })
  end

  local R = pb.results("extrapolation", { root = config.root })
  local t_start = pb.now()

  -- The plan: one run per task x encoding x seed, then the scaling runs.
  local scaling_on = config.scaling and contains(config.tasks, config.scaling_task)
    and not is_lm(config.scaling_task)
  local n_runs = #config.tasks * #config.encodings * config.seeds
  if scaling_on then n_runs = n_runs + config.seeds * (contains(config.encodings, "rope") and 1 or 2) end
  local run_no = 0

  say("scale=%s: %d tasks x %d encodings x %d seeds%s, results in %s",
    config.scale, #config.tasks, #config.encodings, config.seeds,
    scaling_on and " + RoPE scaling" or "", R.dir)

  -- Main grid -------------------------------------------------------------------

  local eval_rows, diag_rows, head_rows, run_rows = {}, {}, {}, {}
  local chance_of, rope_ckpt = {}, {}

  local function train_model(model, task_obj, steps, seed, label, lr)
    return pb.train(model, task_obj, { steps = steps, batch = config.batch, lr = lr or config.lr,
                                       seed = 1000 + seed, label = label })
  end

  for _, task in ipairs(config.tasks) do
    local L = train_len(task)
    local task_obj = make_task(task, L)
    local info = task_obj:info()
    chance_of[task] = info.chance
    local lengths = sizes(L, config.eval_factors)
    local max_n = lengths[#lengths]
    -- Problems of any size can be drawn from the training task; its max_len
    -- stays L, which is what the diagnostics take as the training length.
    local eval_task = task_obj
    local T_train, T_max = seq_len(task_obj, L), seq_len(eval_task, max_n)
    local diag_lengths = {}
    for _, n in ipairs(sizes(L, config.diag_factors)) do
      if seq_len(eval_task, n) <= config.diag_max_seq_len then diag_lengths[#diag_lengths + 1] = n end
    end
    for _, enc in ipairs(config.encodings) do
      for seed = 1, config.seeds do
        run_no = run_no + 1
        local label = string.format("%s %s seed %d", enc, task, seed)
        say("run %d/%d: %s", run_no, n_runs, label)
        local run_cfg = { task = task, encoding = enc, seed = seed, L = L,
                          model = model_config(enc, info.vocab, T_train, T_max, seed),
                          steps = is_lm(task) and config.lm_steps or config.steps,
                          batch = config.batch, lr = config.lr, lengths = lengths,
                          samples = config.samples, scale = config.scale }
        local run = R:run(string.format("%s-%s-s%d", task, enc, seed), run_cfg)
        local model = pb.model(run_cfg.model)
        local tr = train_model(model, task_obj, run_cfg.steps, seed, label)
        local every = math.max(1, run_cfg.steps // 50)
        for s = every, run_cfg.steps, every do
          run:log { kind = "train", step = s, loss = tr.losses[s], grad_norm = tr.grad_norms[s] }
        end

        local per_len = {}
        if is_lm(task) then
          local max_tok = config.lm_max_tokens
          local non = pb.eval(model, eval_task, { lengths = lengths, window = "nonoverlap",
                                                  max_tokens = max_tok })
          local sli = pb.eval(model, eval_task, { lengths = lengths, window = "sliding",
                                                  max_tokens = max_tok })
          for _, n in ipairs(lengths) do
            per_len[n] = { accuracy = non[n].accuracy, loss = non[n].loss, ppl = non[n].ppl,
                           ppl_sliding = sli[n].ppl, loss_sliding = sli[n].loss,
                           tokens = non[n].tokens, seq_len = n }
          end
        else
          local ev = pb.eval(model, task_obj, { lengths = lengths, samples = config.samples })
          for _, n in ipairs(lengths) do
            per_len[n] = { accuracy = ev[n].accuracy, exact = ev[n].exact, loss = ev[n].loss,
                           tokens = ev[n].tokens, seq_len = ev[n].seq_len }
          end
        end
        local acc_by_len = {}
        for _, n in ipairs(lengths) do
          local r = per_len[n]
          local row = { task = task, encoding = enc, seed = seed, length = n, seq_len = r.seq_len,
                        in_dist = n <= L, accuracy = r.accuracy, exact = r.exact, loss = r.loss,
                        ppl = r.ppl, ppl_sliding = r.ppl_sliding }
          eval_rows[#eval_rows + 1] = row
          acc_by_len[tostring(n)] = r.accuracy
          local rec = copy_table(row)
          rec.kind = "eval"
          rec.loss_sliding, rec.tokens = r.loss_sliding, r.tokens
          run:log(rec)
        end

        local diag = {}
        if config.diag and #diag_lengths > 0 then
          diag = pb.diagnose(model, eval_task, { lengths = diag_lengths,
                                                 samples = config.diag_samples,
                                                 max_seq_len = config.diag_max_seq_len })
          for _, n in ipairs(diag_lengths) do
            local d = diag[n]
            local row = { task = task, encoding = enc, seed = seed, length = n, seq_len = d.seq_len,
                          in_dist = d.in_dist, entropy = d.entropy_mean,
                          entropy_norm = d.entropy_norm_mean, distance = d.distance_mean,
                          positions_beyond_train = d.positions_beyond_train,
                          untrained_rows = d.learned and d.learned.untrained_rows or nil,
                          beyond_table = d.learned and d.learned.beyond_table or nil,
                          t5_unseen_buckets = d.t5 and d.t5.unseen_buckets or nil,
                          t5_unseen_pair_frac = d.t5 and d.t5.unseen_pair_frac or nil }
            diag_rows[#diag_rows + 1] = row
            for l, heads in ipairs(d.entropy or {}) do
              for h in ipairs(heads) do
                head_rows[#head_rows + 1] = { task = task, encoding = enc, seed = seed, length = n,
                  layer = l, head = h, entropy = d.entropy[l][h],
                  entropy_norm = d.entropy_norm[l][h], distance = d.distance[l][h] }
              end
            end
            local rec = copy_table(d)
            rec.kind = "diag"
            run:log(rec)
          end
        end

        local in_acc, n_in = 0, 0
        for _, n in ipairs(lengths) do
          if n <= L then in_acc, n_in = in_acc + per_len[n].accuracy, n_in + 1 end
        end
        local summary = { task = task, encoding = enc, seed = seed, final_loss = tr.final_loss,
                          train_seconds = tr.seconds, tokens_per_s = tr.tokens_per_s,
                          in_dist_accuracy = n_in > 0 and in_acc / n_in or nil,
                          accuracy = acc_by_len, chance = info.chance }
        run:summary(summary)
        run_rows[#run_rows + 1] = summary
        if scaling_on and task == config.scaling_task and enc == "rope" then
          rope_ckpt[seed] = tmp_path(string.format("rope-s%d.pbt", seed))
          model:save(rope_ckpt[seed])
        end
        model:close()
      end
    end
  end

  -- RoPE scaling and p-RoPE -----------------------------------------------------

  local scale_rows = {}
  local scaling_T_max = 0  -- longest sequence of the scaling evaluation
  if scaling_on then
    local task = config.scaling_task
    local L = train_len(task)
    local task_obj = make_task(task, L)
    local ft_task = make_task(task, 2 * L)
    local info = task_obj:info()
    local lengths = { L }
    for _, f in ipairs(config.scaling_factors) do lengths[#lengths + 1] = f * L end
    local T_train = seq_len(task_obj, L)
    local T_max = seq_len(task_obj, lengths[#lengths])
    scaling_T_max = T_max
    -- factor s of each length: the ratio of sequence lengths (T(fL) / T(L))
    local factor = {}
    for _, n in ipairs(lengths) do factor[n] = seq_len(task_obj, n) / T_train end
    local T_ft = seq_len(ft_task, 2 * L)

    local function record(method, finetuned, seed, n, ev)
      scale_rows[#scale_rows + 1] = { task = task, method = method, finetuned = finetuned,
        seed = seed, length = n, factor = factor[n], accuracy = ev.accuracy, exact = ev.exact }
    end

    -- eval_one(model, n, scaling table or nil)
    local function eval_one(model, n, scaling)
      local o = { lengths = { n }, samples = config.samples }
      if scaling then o.scaling = scaling end
      return pb.eval(model, task_obj, o)[n]
    end

    for seed = 1, config.seeds do
      local rope
      if rope_ckpt[seed] then
        rope = pb.load(rope_ckpt[seed])
      else
        run_no = run_no + 1
        say("run %d/%d: rope %s seed %d (for scaling)", run_no, n_runs, task, seed)
        rope = pb.model(model_config("rope", info.vocab, T_train, T_max, seed))
        train_model(rope, task_obj, config.steps, seed, string.format("rope %s seed %d", task, seed))
      end
      run_no = run_no + 1
      say("run %d/%d: p-rope %s seed %d (p=%g)", run_no, n_runs, task, seed, config.p)
      local cfg = model_config("rope", info.vocab, T_train, T_max, seed)
      cfg.enc = cfg.enc or {}
      cfg.enc.p = config.p
      local prope = pb.model(cfg)
      local ptr = train_model(prope, task_obj, config.steps, seed,
        string.format("p-rope %s seed %d", task, seed))
      local run = R:run(string.format("scaling-%s-s%d", task, seed),
        { task = task, seed = seed, L = L, lengths = lengths, types = config.scaling_types,
          p = config.p, finetune_steps = config.finetune_steps, finetune_lr = config.finetune_lr,
          scale = config.scale })

      -- Without fine-tuning: the scaling factor follows the evaluated length.
      for _, n in ipairs(lengths) do
        record("rope", false, seed, n, eval_one(rope, n))
        record("p-rope", false, seed, n, eval_one(prope, n))
        for _, ty in ipairs(config.scaling_types) do
          local sc = factor[n] > 1 and { type = ty, factor = factor[n], original_len = T_train } or nil
          record("rope+" .. ty, false, seed, n, eval_one(rope, n, sc))
        end
      end

      -- With a short fine-tune at 2L: a copy of each model, trained with its
      -- method's scaling at factor T(2L)/T(L) built in; evaluated at every
      -- length with the factor of that length (PI-style static scaling).
      local s2 = T_ft / T_train
      local function finetune(model, name, enc_override)
        local m = clone_model(model, name .. "-s" .. seed, enc_override)
        say("  fine-tune %s seed %d: %d steps at L=%d", name, seed, config.finetune_steps, 2 * L)
        train_model(m, ft_task, config.finetune_steps, seed + 500,
          string.format("ft %s seed %d", name, seed), config.finetune_lr)
        return m
      end
      local ft = finetune(rope, "rope")
      local ftp = finetune(prope, "p-rope")
      for _, n in ipairs(lengths) do
        record("rope", true, seed, n, eval_one(ft, n))
        record("p-rope", true, seed, n, eval_one(ftp, n))
      end
      ft:close()
      ftp:close()
      for _, ty in ipairs(config.scaling_types) do
        local m = finetune(rope, "rope+" .. ty, { scaling = { type = ty, factor = s2,
                                                              original_len = T_train } })
        for _, n in ipairs(lengths) do
          local f = math.max(factor[n], s2)
          record("rope+" .. ty, true, seed, n,
            eval_one(m, n, { type = ty, factor = f, original_len = T_train }))
        end
        m:close()
      end
      for _, r in ipairs(scale_rows) do
        if r.seed == seed then
          local rec = copy_table(r)
          rec.kind = "scaling"
          run:log(rec)
        end
      end
      run:summary { task = task, seed = seed, p_rope_final_loss = ptr.final_loss }
      rope:close()
      prope:close()
    end
  end

  -- Aggregation -----------------------------------------------------------------

  local level = config.level
  local function agg_index(rows, keys, values)
    local out = stats.aggregate(rows, keys, values, { level = level })
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
  R:csv("runs.csv", run_rows, { "task", "encoding", "seed", "final_loss", "in_dist_accuracy",
    "chance", "train_seconds", "tokens_per_s" })

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

  local scale_summary = {}
  local methods = { "rope", "p-rope" }
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

  -- Plots -----------------------------------------------------------------------

  local figures = {}
  local function line_plot(name, title, ylabel, rows, series_key, names, x_key, y, lo, hi, L, chance, opts)
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

  local has_gnuplot = pb.plot.available()
  if not has_gnuplot then say("gnuplot is not installed: plots skipped") end
  for _, task in ipairs(has_gnuplot and config.tasks or {}) do
    local rows = {}
    for _, r in ipairs(summary) do if r.task == task then rows[#rows + 1] = r end end
    local L = train_len(task)
    if is_lm(task) then
      line_plot("lm_ppl", "lm: perplexity, non-overlapping windows (mean, 95% CI)", "perplexity",
        rows, "encoding", config.encodings, "length", "mean_ppl", "ppl_lo", "ppl_hi", L, nil, { logy = true })
      line_plot("lm_ppl_sliding", "lm: perplexity, sliding windows (stride n/2)", "perplexity",
        rows, "encoding", config.encodings, "length", "mean_ppl_sliding", "ppl_sliding_lo",
        "ppl_sliding_hi", L, nil, { logy = true })
    else
      line_plot(task .. "_accuracy", task .. ": per-token accuracy (mean, 95% CI over seeds)",
        "accuracy", rows, "encoding", config.encodings, "length", "mean_acc", "lo", "hi", L,
        chance_of[task], { yrange = { 0, 1.02 } })
      line_plot(task .. "_exact", task .. ": exact match (mean, 95% CI over seeds)", "exact match",
        rows, "encoding", config.encodings, "length", "mean_exact", "exact_lo", "exact_hi", L,
        nil, { yrange = { 0, 1.02 } })
    end
    local drows = {}
    for _, r in ipairs(diag_summary) do if r.task == task then drows[#drows + 1] = r end end
    if #drows > 0 then
      line_plot(task .. "_entropy", task .. ": normalised attention entropy (1 = uniform)",
        "entropy / ln(keys)", drows, "encoding", config.encodings, "length", "entropy_norm",
        "entropy_norm_lo", "entropy_norm_hi", L, nil, { yrange = { 0, 1.02 } })
    end
  end
  if has_gnuplot and #scale_summary > 0 then
    local L = train_len(config.scaling_task)
    for _, ft in ipairs { false, true } do
      local rows = {}
      for _, r in ipairs(scale_summary) do if r.finetuned == ft then rows[#rows + 1] = r end end
      line_plot("scaling_" .. (ft and "finetuned" or "zero_shot"),
        string.format("%s: RoPE scaling %s (mean, 95%% CI)", config.scaling_task,
          ft and "after a fine-tune at 2L" or "without fine-tuning"),
        "accuracy", rows, "method", methods, "length", "mean_acc", "lo", "hi", L,
        chance_of[config.scaling_task], { yrange = { 0, 1.02 } })
    end
  end

  -- Report ----------------------------------------------------------------------

  local elapsed = pb.now() - t_start
  local rep = pb.report.new("Length extrapolation")

  local function f3(x) return (x == nil or x ~= x) and "-" or string.format("%.3f", x) end
  local function ci(r, m, lo, hi)
    if r[m] == nil then return "-" end
    if r.n_seeds and r.n_seeds > 1 then
      return string.format("%.3f [%.3f, %.3f]", r[m], r[lo], r[hi])
    end
    return string.format("%.3f", r[m])
  end

  rep:section("Setup")
  rep:para(string.format(
    "Scale `%s`: %d seeds; model d=%d, %d heads, %d layers; sequence tasks trained on sizes %d..%d " ..
    "(vocab %d) for %d steps, lm on windows of %d characters for %d steps; batch %d, lr %g. " ..
    "Intervals are %d%% Student-t confidence intervals of the mean over seeds; `max` is the best " ..
    "seed. Lengths above L are out of distribution. Total runtime %.0f s.",
    config.scale, config.seeds, config.d, config.heads, config.layers, config.min_len, config.L,
    config.vocab, config.steps, config.lm_L, config.lm_steps, config.batch, config.lr,
    math.floor(level * 100 + 0.5), elapsed))
  rep:code(json.encode(config, { indent = true }))

  -- Readings: generated from the numbers below.
  local function row_of(task, enc, n)
    for _, r in ipairs(summary) do
      if r.task == task and r.encoding == enc and r.length == n then return r end
    end
  end

  -- 1 when a's interval lies above b's, -1 below, 0 when they overlap or a
  -- side has no interval (one seed).
  local function separated(a, b, lo, hi)
    if not (a and b and a.n_seeds > 1 and b.n_seeds > 1) then return 0 end
    if a[lo] > b[hi] then return 1 end
    if a[hi] < b[lo] then return -1 end
    return 0
  end
  local VERDICT = { [1] = "confirmed", [0] = "inconclusive", [-1] = "contradicted" }

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

  for _, task in ipairs(config.tasks) do
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

    -- Claims of the seed article and its sources, with verdicts from the
    -- intervals over seeds.
    local n2 = test_length(task)
    if is_lm(task) then
      local far = lens[#lens]
      local r, l = row_of(task, "rope", far), row_of(task, "learned", far)
      if r and l and r.mean_ppl and l.mean_ppl then
        rep:claim { section = "extrapolation",
          text = "Relative positions (RoPE) generalise beyond the training length better than a " ..
            "learned absolute table (language modelling).",
          verdict = VERDICT[separated(l, r, "ppl_lo", "ppl_hi")],
          evidence = string.format("lm perplexity at %d characters (trained at %d): RoPE %s, learned %s.",
            far, L, ci(r, "mean_ppl", "ppl_lo", "ppl_hi"), ci(l, "mean_ppl", "ppl_lo", "ppl_hi")) }
      end
    else
      local lm_in = in_dist_mean(task, "learned", "mean_acc")
      local l2 = row_of(task, "learned", n2)
      if lm_in and l2 then
        local verdict = "inconclusive"
        if lm_in >= 0.9 and l2.n_seeds > 1 then
          verdict = l2.hi < 0.5 * lm_in and "confirmed" or (l2.lo >= 0.5 * lm_in and "contradicted" or "inconclusive")
        end
        rep:claim { section = "extrapolation",
          text = "A learned absolute position table does not generalise beyond the training length.",
          verdict = verdict,
          evidence = string.format("%s: learned reaches %.3f in distribution and %s at n=%d (%.3gL); " ..
            "confirmed when the interval at n=%d lies below half the in-distribution accuracy. Chance %.3f.",
            task, lm_in, ci(l2, "mean_acc", "lo", "hi"), n2, n2 / L, n2, chance_of[task]) }
      end
      local r2 = row_of(task, "rope", n2)
      local rope_in = in_dist_mean(task, "rope", "mean_acc")
      if l2 and r2 and lm_in and rope_in then
        local learned_ok = lm_in >= 0.9 and rope_in >= 0.9
        rep:claim { section = "extrapolation",
          text = "Relative positions (RoPE) generalise beyond the training length better than a " ..
            "learned absolute table.",
          verdict = learned_ok and VERDICT[separated(r2, l2, "lo", "hi")] or "inconclusive",
          evidence = string.format("%s accuracy at n=%d (%.3gL): RoPE %s, learned %s (in distribution " ..
            "%.3f and %.3f)%s.", task, n2, n2 / L, ci(r2, "mean_acc", "lo", "hi"),
            ci(l2, "mean_acc", "lo", "hi"), rope_in, lm_in,
            learned_ok and "" or "; one of them did not learn the task in distribution") }
      end
    end
    for _, fig in ipairs(figures) do
      if fig.name:sub(1, #task + 1) == task .. "_" and not fig.name:match("_entropy$") then
        local tag = (fig.name:match("_accuracy$") or fig.name == "lm_ppl") and { section = "extrapolation" } or nil
        rep:figure(fig.path, fig.title, tag)
      end
    end
  end

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
    local pairs = dh // 2
    local keep = math.floor(config.p * pairs + 0.5)
    local items = {}
    local prope_note = ""
    if keep < pairs then
      local theta = config.rope_base ^ (-2 * keep / dh)
      local T_last = scaling_T_max
      items[#items + 1] = string.format(
        "p-RoPE keeps %d of %d frequency pairs per head; the highest removed frequency (%.3g rad " ..
        "per position) turns by at most %.3g rad over the %d positions of the longest evaluated " ..
        "sequence, so at these lengths p-RoPE %s.", keep, pairs, theta, theta * math.max(T_last - 1, 0),
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
      local verdict, parts = 0, {}
      for _, n in ipairs(slens) do
        local a, b = srow("p-rope", false, n), srow("rope", false, n)
        if a and b then
          local v = separated(a, b, "lo", "hi")
          if v < 0 then verdict = -1 elseif v > 0 and verdict == 0 then verdict = 1 end
          parts[#parts + 1] = string.format("n=%d: p-RoPE %s, RoPE %s", n, ci(a, "mean_acc", "lo", "hi"),
            ci(b, "mean_acc", "lo", "hi"))
        end
      end
      if plain and pr then
        rep:claim { section = "extrapolation",
          text = "Removing the lowest RoPE frequencies (p-RoPE) improves performance.",
          verdict = VERDICT[verdict],
          evidence = table.concat(parts, "; ") .. ". " .. prope_note }
      end
      local best
      for _, ty in ipairs(config.scaling_types) do
        local r = srow("rope+" .. ty, false, n2)
        if r and (not best or r.mean_acc > best.mean_acc) then best = r end
      end
      if best and plain then
        local each = {}
        for _, ty in ipairs(config.scaling_types) do
          local r = srow("rope+" .. ty, false, n2)
          if r then each[#each + 1] = string.format("%s %s", ty, ci(r, "mean_acc", "lo", "hi")) end
        end
        rep:claim { section = "extrapolation",
          text = "Rescaling RoPE's frequencies at evaluation time (position interpolation, NTK, YaRN) " ..
            "improves a RoPE model's accuracy beyond its training length, without retraining.",
          verdict = VERDICT[separated(best, plain, "lo", "hi")],
          evidence = string.format("%s accuracy at n=%d (trained at %d), no fine-tuning: plain RoPE %s; %s. " ..
            "Confirmed when the best method's interval lies above plain RoPE's.", task, n2, L,
            ci(plain, "mean_acc", "lo", "hi"), table.concat(each, ", ")) }
      end
    end
    for _, fig in ipairs(figures) do
      if fig.name:match("^scaling_") then rep:figure(fig.path, fig.title, { section = "extrapolation" }) end
    end
  end

  rep:section("Files")
  rep:list {
    "`summary.csv`: one row per encoding x task x length (mean, CI, max over seeds, chance).",
    "`scaling.csv`: RoPE scaling and p-RoPE per method x fine-tune x length.",
    "`diagnostics.csv`, `diagnostics_heads.csv`: attention and encoding diagnostics.",
    "`runs.csv` and one directory per run with config.json, metrics.jsonl, summary.json.",
  }
  rep:write(R:path("report.md"))

  -- Clean up the temporary checkpoints.
  os.execute("rm -rf '" .. tmpdir:gsub("'", "") .. "'")

  say("done in %.1f s: %s", elapsed, R:path("report.md"))
  return { dir = R.dir, summary = summary, scaling = scale_summary, diagnostics = diag_summary,
           seconds = elapsed, report = rep }  -- report: lets experiments/article.lua adopt claims and figures
end

if experiment.is_main(...) then M.run(pb.args) end
return M
