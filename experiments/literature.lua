-- Reproducing the literature: one section per paper on length
-- generalisation and context extension, each on the paper's protocol as
-- far as a small CPU budget allows, with the paper's claim, posbench's
-- measurement (mean and 95% CI over seeds, and max over seeds) and a
-- verdict: reproduced, not reproduced, or inconclusive (intervals overlap).
--
--   1 kazemnejad  decoder, exact match beyond L: NoPE, T5, ALiBi, RoPE, APE
--   2 ruoss       encoder, per-token accuracy: randomised vs deterministic positions
--   3 press       lm perplexity against window on licence texts (base-files): ALiBi, sinusoidal, RoPE, T5
--   4 context     RoPE + PI / NTK / YaRN at 2x and 4x, zero-shot and fine-tuned
--   5 abacus      addition, Abacus against NoPE, RoPE, FIRE
--   6 heo         grid2d, 2D RoPE mixed / axial against absolute 2D
--   7 barbero     p-RoPE against RoPE and NoPE, RoPE frequency usage
--   8 deletang    parity and modular arithmetic at chance (negative controls)
--
-- Run:    posbench run experiments/literature.lua [scale=tiny|default|paper] [key=value ...]
-- Sweep:  posbench sweep literature [scale=...] --plan | --local N | --slurm | --commands
-- Results: <root>/literature/ with report.md, report.html, claims.csv,
-- runs.csv, plots/ and one directory per run. docs/literature.md has the
-- protocols, scales and runtimes.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "experiments"
if not package.path:find(here .. "/?.lua", 1, true) then package.path = here .. "/?.lua;" .. package.path end

local core = require "posbench.core"
local experiment = require "posbench.experiment"
local json = pb.json
local runs = require "literature.runs"
local measure = require "literature.measure"

local M = { name = "literature" }

M.sections = {}
for _, part in ipairs { "literature.task_sections", "literature.lm_sections" } do
  for _, s in ipairs(require(part)) do M.sections[s.id] = s end
end
M.order = { "kazemnejad", "ruoss", "press", "context", "abacus", "heo", "barbero", "deletang" }

M.config = {
  scale = "default",
  root = "results",
  threads = 1,
  sections = M.order,
  seeds = 5, level = 0.95,
  -- a comparison is read only when its models learned the task in
  -- distribution: per-token accuracy at sizes <= L, or lm perplexity at L
  -- (a character unigram model of the held-out text has perplexity 29.6)
  learn_threshold = 0.8, lm_learned_ppl = 15,
  -- every model: width, heads, blocks; every training run: steps, batch, lr
  d = 32, heads = 4, layers = 2, steps = 3000, batch = 32, lr = 1e-3, samples = 100,
  vocab = 16,                  -- symbols of copy / reverse / sort / duplicate
  sinusoidal_scale = 0.1,      -- amplitude of sinusoidal tables (docs/extrapolation.md)
  -- 1 Kazemnejad et al.
  kaz_tasks = { "copy", "reverse", "sort" },
  kaz_encodings = { "none", "t5", "alibi", "rope", "learned" },
  kaz_L = 8, kaz_factors = { 0.5, 1, 1.5, 2 },
  -- 2 Ruoss et al.
  ruoss_tasks = { "reverse", "duplicate" },
  ruoss_encodings = { "sinusoidal", "rope" },
  ruoss_L = 8, ruoss_factors = { 0.5, 1, 2, 4 }, ruoss_pos_factor = 2,
  -- 3 Press et al., 7 Barbero et al., 4 (lm part): English text from
  -- Debian's base-files package (distinct licences, no two versions of
  -- one); the last `holdout` of each file is held out for evaluation
  texts = { "/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
            "/usr/share/common-licenses/MPL-2.0", "/usr/share/common-licenses/GFDL-1.3",
            "/usr/share/common-licenses/Artistic", "/usr/share/common-licenses/CC0-1.0" },
  holdout = 0.2,
  lm_L = 32, lm_factors = { 1, 2, 4, 8 }, lm_steps = 1500, lm_max_tokens = 4096,
  press_encodings = { "alibi", "sinusoidal", "rope", "t5" }, flat_margin = 0.1,
  barbero_encodings = { "rope", "p-rope", "none" }, p = 0.75,
  -- 4 context extension
  ctx_tasks = { "copy", "lm" }, ctx_methods = { "rope", "pi", "ntk", "yarn" },
  ctx_factors = { 1, 2, 4 }, finetune_steps = 200, finetune_lr = 1e-3,
  -- 5 McLeish et al.
  add_L = 5, add_factors = { 1, 2, 3 }, abacus_encodings = { "abacus", "none", "rope", "fire" },
  abacus_max_offset = 20,
  -- 6 Heo et al.
  grid_rows = 3, grid_width = 4, grid_factors = { 1, 2 },
  heo_encodings = { "rope2d_mixed", "rope2d_axial", "sinusoidal2d" },
  -- 8 Deletang et al.
  del_tasks = { "parity", "modular" }, del_encodings = { "none", "rope", "alibi" },
  del_L = 8, del_factors = { 0.5, 1, 2, 4 }, chance_margin = 0.05,
}

-- tiny: the smoke test (make test); default: every section, about half an
-- hour with `sweep --local 2`; paper: the papers' sizes as far as a CPU
-- cluster allows (plan it with `posbench sweep literature scale=paper --plan`).
M.scales = {
  tiny = {
    seeds = 2, d = 16, heads = 2, layers = 1, steps = 40, lm_steps = 40, samples = 12, batch = 8,
    kaz_tasks = { "copy" }, kaz_encodings = { "none", "t5", "alibi", "rope", "learned" },
    kaz_L = 4, kaz_factors = { 1, 2 },
    ruoss_tasks = { "reverse" }, ruoss_encodings = { "rope" }, ruoss_L = 4, ruoss_factors = { 1, 2 },
    lm_L = 16, lm_factors = { 1, 2, 4 }, lm_max_tokens = 256,
    ctx_factors = { 1, 2 }, finetune_steps = 5,
    add_L = 3, add_factors = { 1, 2 }, abacus_encodings = { "abacus", "none" }, abacus_max_offset = 5,
    grid_rows = 2, grid_width = 3, heo_encodings = { "rope2d_mixed", "rope2d_axial", "sinusoidal2d" },
    del_tasks = { "parity", "modular" }, del_encodings = { "none", "rope" }, del_L = 4, del_factors = { 1, 2 },
  },
  default = {},
  paper = {
    seeds = 10, d = 128, heads = 4, layers = 4, steps = 20000, lm_steps = 20000, batch = 64,
    samples = 500, kaz_L = 20, kaz_factors = { 0.5, 1, 1.25, 1.5, 1.75, 2 },
    kaz_tasks = { "copy", "reverse", "sort", "add", "induction", "recall" },
    ruoss_tasks = { "reverse", "duplicate", "missing_duplicate", "sort", "add" },
    ruoss_encodings = { "sinusoidal", "rope", "alibi", "learned" },
    del_encodings = { "none", "rope", "alibi", "learned", "t5" },
    ruoss_L = 40, ruoss_factors = { 0.5, 1, 2, 4, 8, 12 }, ruoss_pos_factor = 4,
    lm_L = 128, lm_factors = { 1, 2, 4, 8, 16 }, lm_max_tokens = 8192,
    finetune_steps = 1000, add_L = 20, add_factors = { 1, 2, 3, 5 }, abacus_max_offset = 100,
    grid_rows = 8, grid_width = 8, grid_factors = { 1, 1.5, 2 },
    del_L = 40, del_factors = { 1, 2, 4, 8 },
  },
}

local function contains(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

function M.configure(overrides)
  local cfg = experiment.configure("literature", M.config, M.scales, overrides)
  if cfg.seeds < 1 then error("literature: seeds must be >= 1", 0) end
  for _, s in ipairs(cfg.sections) do
    if not M.sections[s] then
      error(string.format("literature: unknown section '%s' (valid: %s)", tostring(s),
        table.concat(M.order, ", ")), 0)
    end
  end
  M.build_corpus(cfg)
  return cfg
end

--- The language-model corpus: the first (1 - holdout) of every text file,
--- then the rest of every file, as one file (so training and held-out
--- slices share token ids); cfg._holdout is the held-out fraction of it.
--- Written once per results root, atomically. Run configs name it relative
--- to the study's directory (cfg._corpus) with the hash of its text
--- (cfg._corpus_hash), so a moved results directory keeps its runs and a
--- changed corpus makes them stale; cfg._corpus_dir is that directory.
function M.build_corpus(cfg)
  local train, test = {}, {}
  for _, path in ipairs(cfg.texts) do
    local f = io.open(path, "rb")
    if not f then
      error(string.format("literature: text file '%s' not found (texts=PATH,...; the defaults come " ..
        "with Debian's base-files package)", tostring(path)), 0)
    end
    local text = f:read("a")
    f:close()
    local cut = math.floor(#text * (1 - cfg.holdout))
    train[#train + 1], test[#test + 1] = text:sub(1, cut), text:sub(cut + 1)
  end
  local a, b = table.concat(train), table.concat(test)
  local path = string.format("%s/%s/corpus.txt", cfg.root, M.name)  -- cfg._corpus
  local results = require "posbench.results"
  results.open(M.name, { root = cfg.root })  -- the study's directory
  local old = results.read_text(cfg.root, path)  -- nil unless a regular file
  if old ~= a .. b then results.write_file(cfg.root, path, a .. b) end
  cfg._corpus, cfg._corpus_hash, cfg._holdout = "corpus.txt", core.hash64(a .. b), #b / (#a + #b)
  cfg._corpus_dir = core.realpath(string.format("%s/%s", cfg.root, M.name))
end

-- Plan ------------------------------------------------------------------------

local sizes = experiment.sizes

local function task_options(cfg, task)
  local o = { min_len = (task == "grid2d" or task == "induction") and 2 or 1 }
  if contains({ "copy", "reverse", "sort", "duplicate" }, task) then o.vocab = cfg.vocab end
  if task == "grid2d" then o.width = cfg.grid_width end
  return o
end

-- Model config of an encoding variant ("p-rope" = RoPE with enc.p).
local function model_config(cfg, enc, vocab, T_train, T_max, seed, o)
  local m = { vocab = vocab, d = cfg.d, heads = cfg.heads, layers = cfg.layers, max_len = T_train,
              encoding = enc == "p-rope" and "rope" or enc, seed = seed, causal = o.causal ~= false }
  if enc == "p-rope" then m.enc = { p = cfg.p } end
  if enc == "learned" then m.enc = { size = o.random and o.max_pos or T_max } end
  if enc == "sinusoidal" or enc == "sinusoidal2d" then m.enc = { scale = cfg.sinusoidal_scale } end
  if enc == "abacus" then
    m.enc = { size = cfg.abacus_max_offset + T_max + 2 }
    m.positions = { scheme = "abacus", max_offset = cfg.abacus_max_offset }
  end
  if enc:match("2d") then m.positions = { scheme = "grid" } end
  if o.random then m.positions = { scheme = "random", max_pos = o.max_pos } end
  return m
end

local function cost(c, T) return c.steps * c.batch * T * c.model.layers * c.model.d ^ 2 * 1e-9 end
M.cost_rate = 0.25  -- units per second on one core (the extrapolation study's rate)

function M.plan(cfg)
  local plan, by_name = {}, {}
  local function add(e)
    local old = by_name[e.name]
    if old then  -- shared by two sections: must be the same run
      if json.encode(old.config) ~= json.encode(e.config) then
        error("literature: two sections plan run '" .. e.name .. "' with different configs", 0)
      end
      return
    end
    by_name[e.name] = e
    plan[#plan + 1] = e
  end
  local P = {}
  function P.seq(prefix, task, enc, o)
    local variant = enc .. (o.random and "+random" or "")
    local c0 = { task = task, topts = task_options(cfg, task), L = o.L }
    local t = runs.task(c0)
    local lengths = sizes(o.L, o.factors)
    local T_train, T_max = runs.seq_len(t, o.L), runs.seq_len(t, lengths[#lengths])
    if o.random then o.max_pos = cfg.ruoss_pos_factor * T_max end
    for seed = 1, cfg.seeds do
      local c = { family = "seq", series = prefix .. "-" .. task .. "-" .. variant, seed = seed, task = task,
                  topts = c0.topts, L = o.L, lengths = lengths, samples = cfg.samples, steps = cfg.steps,
                  batch = cfg.batch, lr = cfg.lr,
                  checkpoint = enc == "rope" and not o.random and o.causal ~= false,
                  model = model_config(cfg, enc, t:info().vocab, T_train, T_max, seed, o) }
      add { name = c.series .. "-s" .. seed, stage = 1, config = c, cost = cost(c, T_train) }
    end
  end
  function P.lm(enc)
    local c0 = { task = "lm", text = cfg._corpus, holdout = cfg._holdout, L = cfg.lm_L }
    local t = runs.task(c0, "train", cfg._corpus_dir)
    local lengths = sizes(cfg.lm_L, cfg.lm_factors)
    local T_train, T_max = runs.seq_len(t, cfg.lm_L), runs.seq_len(t, lengths[#lengths])
    for seed = 1, cfg.seeds do
      local c = { family = "lm", series = "lm-" .. enc, seed = seed, task = "lm", text = cfg._corpus,
                  text_hash = cfg._corpus_hash, holdout = cfg._holdout, L = cfg.lm_L, lengths = lengths, max_tokens = cfg.lm_max_tokens,
                  steps = cfg.lm_steps, batch = cfg.batch, lr = cfg.lr, freq_usage = enc == "rope",
                  checkpoint = enc == "rope",
                  model = model_config(cfg, enc, t:info().vocab, T_train, T_max, seed, {}) }
      add { name = c.series .. "-s" .. seed, stage = 1, config = c, cost = cost(c, T_train) }
    end
  end
  function P.scaling(task)
    if task == "lm" then
      P.lm("rope")
    else
      P.seq("kaz", task, "rope", { L = cfg.kaz_L, factors = cfg.kaz_factors })
    end
    for seed = 1, cfg.seeds do
      local need = (task == "lm" and "lm-rope" or "kaz-" .. task .. "-rope") .. "-s" .. seed
      local base = by_name[need].config
      local c = { family = "scaling", series = "ctx-" .. task, base = base, methods = cfg.ctx_methods,
                  lengths = sizes(base.L, cfg.ctx_factors), finetune_steps = cfg.finetune_steps,
                  finetune_lr = cfg.finetune_lr }
      local ft = { steps = cfg.finetune_steps * #cfg.ctx_methods, batch = base.batch, model = base.model }
      add { name = "ctx-" .. task .. "-s" .. seed, stage = 2, needs = { need }, config = c,
            cost = cost(ft, 2 * base.model.max_len) }
    end
  end
  for _, id in ipairs(cfg.sections) do M.sections[id].plan(cfg, P) end
  return plan
end

function M.announce(cfg, e, i, n)
  experiment.sayer("literature")("run %d/%d: %s", i, n, e.name)
  if i == 1 then pb.threads(cfg.threads) end
end

function M.run_one(cfg, e, R)
  return runs.run_one(e, R)
end

M.collect = require("literature.collect")(M)

--- The whole study in this process: every run, then collect.
function M.run(overrides)
  return require("posbench.sweep").run_inprocess(M, overrides)
end

if experiment.is_main(...) then M.run(pb.args) end
return M
