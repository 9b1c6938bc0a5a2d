-- Long-sequence evaluation: time and peak memory of evaluating small models
-- at 1024..8192 tokens. Inference attention is blockwise (no T x T matrix),
-- so memory should grow linearly in T, not quadratically.
--
--   posbench run experiments/long_context.lua [key=value ...]
--   posbench sweep long_context --local        (one process per encoding)
--
-- Peak memory (getrusage ru_maxrss, and VmHWM of /proc/self/status) is per
-- process and only grows, so lengths are evaluated in increasing order and
-- each row shows the peak so far: in one process (posbench run) of every
-- encoding evaluated so far, in a sweep of that encoding's run alone.
-- One run per encoding; results: <root>/long_context/summary.csv and report.md.
local experiment = require "posbench.experiment"

local M = { name = "long_context" }

M.config = {
  scale = "default",
  root = "results",
  threads = 1,
  encodings = { "rope", "alibi", "t5" },
  lengths = { 1024, 2048, 4096, 8192 },   -- model sequence lengths T
  d = 32, heads = 2, layers = 2,
  train_steps = 200,                      -- a short lm training at window 64
  corpus_len = 20000,
}
M.scales = { default = {}, tiny = { lengths = { 256, 512 }, train_steps = 20, encodings = { "rope", "alibi" } } }

function M.configure(overrides)
  return experiment.configure("long_context", M.config, M.scales, overrides)
end

local function vm_hwm_kb()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)"))
end

local COLUMNS = { "encoding", "seq_len", "lm_ppl", "lm_seconds", "copy_seq_len", "copy_seconds",
                  "peak_rss_mb", "vm_hwm_mb" }

function M.plan(cfg)
  local plan = {}
  for _, enc in ipairs(cfg.encodings) do
    plan[#plan + 1] = { name = enc, config = { encoding = enc, lengths = cfg.lengths, d = cfg.d,
      heads = cfg.heads, layers = cfg.layers, train_steps = cfg.train_steps, corpus_len = cfg.corpus_len } }
  end
  return plan
end

function M.announce(cfg, _, i)
  if i == 1 then pb.threads(cfg.threads) end
end

--- One encoding: a short lm training, then one lm window and one copy
--- problem of each length, with time and peak memory.
function M.run_one(cfg, e, R)
  local c = e.config
  local run = R:run(e.name, c)
  local lm = pb.task("lm", { min_len = 64, max_len = 64, corpus_len = c.corpus_len })
  local copy = pb.task("copy", { min_len = 1, max_len = 8, vocab = 8 })
  local model = pb.model { vocab = math.max(lm:info().vocab, copy:info().vocab), d = c.d,
                           heads = c.heads, layers = c.layers, max_len = 64,
                           encoding = c.encoding, seed = 1 }
  pb.train(model, lm, { steps = c.train_steps, batch = 16, lr = 3e-3, label = c.encoding .. " lm" })
  for _, T in ipairs(c.lengths) do
    local t0 = pb.now()
    local r = pb.eval(model, lm, { lengths = { T }, window = "nonoverlap", max_tokens = 1 })[T]
    local lm_s = pb.now() - t0
    -- copy of n = T/2 symbols has decoder length T
    t0 = pb.now()
    local cp = pb.eval(model, copy, { lengths = { T // 2 }, samples = 1 })[T // 2]
    local row = { encoding = c.encoding, seq_len = T, lm_ppl = r.ppl, lm_seconds = lm_s,
                  copy_seq_len = cp.seq_len, copy_seconds = pb.now() - t0,
                  peak_rss_mb = pb.peak_rss_kb() / 1024, vm_hwm_mb = (vm_hwm_kb() or 0) / 1024 }
    run:log(row)
    print(string.format("%-6s T=%5d  lm ppl %.3f (%.2f s)  copy (%.2f s)  peak RSS %.1f MB", c.encoding, T,
      r.ppl, lm_s, row.copy_seconds, row.peak_rss_mb))
  end
  model:close()
  run:summary { encoding = c.encoding, peak_rss_mb = pb.peak_rss_kb() / 1024 }
end

function M.collect(cfg, R, plan)
  local rows = {}
  for _, e in ipairs(plan) do
    if e.done then
      for _, row in ipairs(R:load(e.name).metrics) do rows[#rows + 1] = row end
    end
  end
  R:csv("summary.csv", rows, COLUMNS)
  local rep = pb.report.new("Long-sequence evaluation")
  rep:para(string.format("Models d=%d, %d heads, %d layers, trained %d steps on 64-character " ..
    "windows, evaluated on one window of each length (lm) and one copy problem of the same " ..
    "length. Peak memory is the process's peak so far (in one process, of every encoding " ..
    "evaluated so far).", cfg.d, cfg.heads, cfg.layers, cfg.train_steps))
  rep:table(rows, COLUMNS, { format = "%.3f" })
  rep:write(R:path("report.md"))
  print("wrote " .. R:path("report.md"))
  return { dir = R.dir, rows = rows, report = rep }
end

function M.run(overrides)
  return require("posbench.sweep").run_inprocess(M, overrides)
end

if experiment.is_main(...) then M.run(pb.args) end
return M
