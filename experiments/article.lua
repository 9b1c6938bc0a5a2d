-- The main experiment (`make run`): the comparisons of "You could have
-- designed state of the art positional encoding" on tiny models.
--
-- This first part trains one task with each of the article's families of
-- encodings at short lengths and evaluates them at 1x to 4x the training
-- length. Override any setting from the command line, e.g.
--   build/posbench run experiments/article.lua steps=500 seeds=1
local config = {
  task = "copy",             -- a task from `posbench list tasks`
  encodings = { "none", "sinusoidal", "learned", "rope", "alibi" },
  min_len = 2, train_len = 8,  -- train on problem sizes min_len..train_len
  eval_factors = { 1, 1.5, 2, 3, 4 },
  vocab = 8,                 -- task symbols
  d = 64, heads = 4, layers = 2,
  steps = 1500, batch = 32, lr = 3e-3,
  seeds = 2,
  samples = 200,             -- evaluation problems per length
  results = "results",       -- results root
}
for k, v in pairs(pb.args) do
  if config[k] == nil then
    local names = {}
    for name in pairs(config) do names[#names + 1] = name end
    table.sort(names)
    error(string.format("article.lua: unknown setting '%s' (valid: %s)", k,
                        table.concat(names, ", ")), 0)
  end
  config[k] = v
end
if type(config.encodings) == "string" then
  local list = {}
  for name in config.encodings:gmatch("[^,]+") do list[#list + 1] = name end
  config.encodings = list
end

local task = pb.task(config.task, { min_len = config.min_len, max_len = config.train_len,
                                    vocab = config.vocab })
local lengths = {}
for _, f in ipairs(config.eval_factors) do
  lengths[#lengths + 1] = math.floor(config.train_len * f + 0.5)
end
local max_len = lengths[#lengths] * 3 + 4    -- sequence length of the longest problem
local R = pb.results("article", { root = config.results })
local total = #config.encodings * config.seeds
local started = pb.now and pb.now() or os.clock()

-- Train and evaluate every encoding x seed; one run directory each.
local rows, done = {}, 0
for _, enc in ipairs(config.encodings) do
  for seed = 1, config.seeds do
    done = done + 1
    io.stderr:write(string.format("run %d/%d: %s %s seed %d\n", done, total, enc,
                                  config.task, seed))
    local model_cfg = { vocab = task:info().vocab, d = config.d, heads = config.heads,
                        layers = config.layers, encoding = enc, max_len = max_len,
                        seed = seed }
    local run = R:run(string.format("%s-%s-seed%d", enc, config.task, seed),
                      { model = model_cfg, task = config.task, train_len = config.train_len,
                        steps = config.steps, batch = config.batch, lr = config.lr,
                        seed = seed })
    local model = pb.model(model_cfg)
    local log = pb.train(model, task, { steps = config.steps, batch = config.batch,
                                        lr = config.lr, seed = seed,
                                        label = string.format("  %s seed %d", enc, seed) })
    for s = 1, #log.losses, math.max(1, #log.losses // 50) do
      run:log { step = s, loss = log.losses[s] }
    end
    local ev = pb.eval(model, task, { lengths = lengths, samples = config.samples, seed = 1000 + seed })
    for _, n in ipairs(lengths) do
      rows[#rows + 1] = { encoding = enc, seed = seed, length = n,
                          in_dist = n <= config.train_len, accuracy = ev[n].accuracy,
                          exact = ev[n].exact, loss = ev[n].loss }
    end
    run:summary { final_loss = log.final_loss, tokens_per_s = log.tokens_per_s,
                  seconds = log.seconds, eval = ev }
  end
end

-- Mean and 95% confidence interval over seeds, per encoding and length.
local summary = {}
for _, g in ipairs(pb.stats.group(rows, { "encoding", "length" }, { order = "first" })) do
  local acc, ex = {}, {}
  for _, r in ipairs(g.rows) do acc[#acc + 1] = r.accuracy; ex[#ex + 1] = r.exact end
  local s = pb.stats.summary(acc)
  summary[#summary + 1] = { encoding = g.rows[1].encoding, length = g.rows[1].length,
                            in_dist = g.rows[1].in_dist, accuracy = s.mean, lo = s.lo,
                            hi = s.hi, max = s.max, exact = pb.stats.mean(ex),
                            chance = task:info().chance, seeds = s.n }
end
local columns = { "encoding", "length", "in_dist", "accuracy", "lo", "hi", "max", "exact",
                  "chance", "seeds" }
R:csv("accuracy_by_length.csv", summary, columns)
R:csv("runs.csv", rows, { "encoding", "seed", "length", "in_dist", "accuracy", "exact", "loss" })

-- One line per encoding: accuracy against length, CI band, training length.
local series = {}
for _, enc in ipairs(config.encodings) do
  local s = { name = enc, x = {}, y = {}, lo = {}, hi = {} }
  for _, r in ipairs(summary) do
    if r.encoding == enc then
      s.x[#s.x + 1] = r.length; s.y[#s.y + 1] = r.accuracy
      s.lo[#s.lo + 1] = r.lo; s.hi[#s.hi + 1] = r.hi
    end
  end
  series[#series + 1] = s
end
local fig = pb.plot { path = R:path("accuracy_by_length"),
                      title = string.format("%s: answer-token accuracy vs problem length",
                                            config.task),
                      xlabel = "problem length", ylabel = "accuracy", yrange = { 0, 1.02 },
                      series = series,
                      vlines = { { x = config.train_len, label = "longest training length" } },
                      hlines = { { y = task:info().chance, label = "chance" } } }

-- The table on stdout.
print(string.format("\n%s, trained on lengths %d..%d, mean accuracy over %d seeds",
                    config.task, config.min_len, config.train_len, config.seeds))
local header = string.format("%-12s", "encoding")
for _, n in ipairs(lengths) do header = header .. string.format(" %8s", "L=" .. n) end
print(header)
for _, enc in ipairs(config.encodings) do
  local line = string.format("%-12s", enc)
  for _, r in ipairs(summary) do
    if r.encoding == enc then line = line .. string.format(" %8.3f", r.accuracy) end
  end
  print(line)
end
print(string.format("\nwrote %s (accuracy_by_length.csv, runs.csv, %s)", R.dir,
                    fig.png or "plot"))
