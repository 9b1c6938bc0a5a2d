-- Long-sequence evaluation: time and peak memory of evaluating small models
-- at 1024..8192 tokens. Inference attention is blockwise (no T x T matrix),
-- so memory should grow linearly in T, not quadratically.
--
--   posbench run experiments/long_context.lua [key=value ...]
--
-- Run it as its own process: peak memory (getrusage ru_maxrss, and VmHWM of
-- /proc/self/status) is per process and only grows, so lengths are
-- evaluated in increasing order and each row shows the peak so far.
-- Results: <root>/long_context/summary.csv and report.md.
local config = {
  root = "results",
  threads = 1,
  encodings = { "rope", "alibi", "t5" },
  lengths = { 1024, 2048, 4096, 8192 },   -- model sequence lengths T
  d = 32, heads = 2, layers = 2,
  train_steps = 200,                      -- a short lm training at window 64
  corpus_len = 20000,
}
for k, v in pairs(pb.args or {}) do
  if config[k] == nil then error("long_context: unknown option '" .. k .. "'", 0) end
  if type(config[k]) == "table" then
    local out = {}
    for item in tostring(v):gmatch("[^,]+") do out[#out + 1] = tonumber(item) or item end
    v = out
  end
  config[k] = v
end
pb.threads(config.threads)

local function vm_hwm_kb()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)"))
end

local R = pb.results("long_context", { root = config.root })
local lm = pb.task("lm", { min_len = 64, max_len = 64, corpus_len = config.corpus_len })
local copy = pb.task("copy", { min_len = 1, max_len = 8, vocab = 8 })
local rows = {}
local base_kb = pb.peak_rss_kb()
for _, enc in ipairs(config.encodings) do
  local model = pb.model { vocab = math.max(lm:info().vocab, copy:info().vocab), d = config.d,
                           heads = config.heads, layers = config.layers, max_len = 64,
                           encoding = enc, seed = 1 }
  pb.train(model, lm, { steps = config.train_steps, batch = 16, lr = 3e-3, label = enc .. " lm" })
  for _, T in ipairs(config.lengths) do
    local t0 = pb.now()
    local r = pb.eval(model, lm, { lengths = { T }, window = "nonoverlap", max_tokens = 1 })[T]
    local lm_s = pb.now() - t0
    -- copy of n = T/2 symbols has decoder length T
    t0 = pb.now()
    local c = pb.eval(model, copy, { lengths = { T // 2 }, samples = 1 })[T // 2]
    local copy_s = pb.now() - t0
    rows[#rows + 1] = { encoding = enc, seq_len = T, lm_ppl = r.ppl, lm_seconds = lm_s,
                        copy_seq_len = c.seq_len, copy_seconds = copy_s,
                        peak_rss_mb = pb.peak_rss_kb() / 1024, vm_hwm_mb = (vm_hwm_kb() or 0) / 1024 }
    print(string.format("%-6s T=%5d  lm ppl %.3f (%.2f s)  copy (%.2f s)  peak RSS %.1f MB", enc, T,
      r.ppl, lm_s, copy_s, rows[#rows].peak_rss_mb))
  end
  model:close()
end
local cols = { "encoding", "seq_len", "lm_ppl", "lm_seconds", "copy_seq_len", "copy_seconds",
               "peak_rss_mb", "vm_hwm_mb" }
R:csv("summary.csv", rows, cols)
local rep = pb.report.new("Long-sequence evaluation")
rep:para(string.format("Models d=%d, %d heads, %d layers, trained %d steps on 64-character " ..
  "windows, evaluated on one window of each length (lm) and one copy problem of the same " ..
  "length. Peak memory is the process's peak so far (%.1f MB before the first model).",
  config.d, config.heads, config.layers, config.train_steps, base_kb / 1024))
rep:table(rows, cols, { format = "%.3f" })
rep:write(R:path("report.md"))
print("peak RSS " .. string.format("%.1f MB", pb.peak_rss_kb() / 1024) .. ": " .. R:path("report.md"))
