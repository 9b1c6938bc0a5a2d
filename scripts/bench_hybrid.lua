-- Hybrid attention costs (`make bench`; docs/hybrids.md):
--   steps:  training step time of a 4-layer hybrid (3 windowed RoPE layers,
--           W = 64, + 1 global NoPE layer) against uniform RoPE, at T = 128
--           and T = 1024, both measured in this one run (ratio = hybrid / uniform);
--   eval:   evaluation time and peak memory of a windowed model (2 layers,
--           W = 256) per doubling of T from 1024 up to max_T;
--   memory: evaluation of 3 windowed RoPE layers (W = 256) + 1 global NoPE
--           layer at T = long_T (65536 by default) and its peak RSS.
-- Prints key=value lines; `parts=steps,eval` picks parts.
--   posbench run scripts/bench_hybrid.lua [parts=steps,eval,memory] [max_T=16384] [long_T=65536]
local args = pb.args
local parts = {}
for p in (args.parts or "steps,eval"):gmatch("[^,]+") do parts[p] = true end
local max_T = tonumber(args.max_T or 16384)
local long_T = tonumber(args.long_T or 65536)
pb.threads(tonumber(args.threads or 1))

local function lm(T, corpus)
  return pb.task("lm", { min_len = T, max_len = T, corpus_len = corpus or 200000 })
end

local function hybrid(vocab, W, max_len, extra)
  local cfg = { vocab = vocab, d = 64, heads = 4, layers = 4, max_len = max_len, seed = 1,
                encoding = "rope", pattern = "3:1", local_layer = { window = W },
                global_layer = { encoding = "none" } }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return pb.model(cfg)
end

local function uniform(vocab, max_len)
  return pb.model { vocab = vocab, d = 64, heads = 4, layers = 4, max_len = max_len, seed = 1,
                    encoding = "rope" }
end

-- seconds per training step (best of `rounds` timed runs after a warm-up)
local function step_time(model, task, batch, steps, rounds)
  pb.train(model, task, { steps = 2, batch = batch, lr = 1e-3, progress = false })
  local best = math.huge
  for _ = 1, rounds do
    local log = pb.train(model, task, { steps = steps, batch = batch, lr = 1e-3, progress = false })
    best = math.min(best, log.seconds / steps)
  end
  return best
end

if parts.steps then
  for _, c in ipairs { { T = 128, batch = 16, steps = 10 }, { T = 1024, batch = 2, steps = 4 } } do
    local task = lm(c.T)
    local V = task:info().vocab
    local h, u = hybrid(V, 64, c.T), uniform(V, c.T)
    -- interleaved rounds, so both see the same machine load
    local th, tu = math.huge, math.huge
    for _ = 1, 3 do
      th = math.min(th, step_time(h, task, c.batch, c.steps, 1))
      tu = math.min(tu, step_time(u, task, c.batch, c.steps, 1))
    end
    print(string.format("hybrid_step T=%d W=64 batch=%d hybrid_ms=%.2f uniform_rope_ms=%.2f ratio=%.3f",
      c.T, c.batch, th * 1e3, tu * 1e3, th / tu))
  end
end

-- evaluation of one window of T tokens: seconds
local function eval_once(model, task, T)
  local t0 = pb.now()
  pb.eval(model, task, { lengths = { T }, window = "nonoverlap", max_tokens = 1 })
  return pb.now() - t0
end

if parts.eval then
  local task = lm(64, 2 * max_T + 10)
  local V = task:info().vocab
  local m = pb.model { vocab = V, d = 64, heads = 4, max_len = 256, seed = 1, encoding = "rope",
                       layers = { { window = 256 }, { window = 256 } } }
  local prev_t, prev_rss
  local T = 1024
  while T <= max_T do
    local before = pb.peak_rss_kb()
    local s = eval_once(m, task, T)
    local rss = pb.peak_rss_kb() / 1024
    print(string.format("window_eval T=%d W=256 seconds=%.3f peak_rss_mb=%.1f time_ratio=%s rss_ratio=%s",
      T, s, rss, prev_t and string.format("%.2f", s / prev_t) or "-",
      prev_rss and string.format("%.2f", rss / prev_rss) or "-"))
    prev_t, prev_rss = s, rss
    T = T * 2
    local _ = before
  end
end

if parts.memory then
  local task = lm(64, long_T + 10)
  local V = task:info().vocab
  local m = hybrid(V, 256, 256)
  local s = eval_once(m, task, long_T)
  local rss = pb.peak_rss_kb() / 1024
  print(string.format("hybrid_eval T=%d layers=3x(RoPE, W=256)+1x(NoPE, global) seconds=%.1f peak_rss_mb=%.1f within_2GB=%s",
    long_T, s, rss, tostring(rss < 2048)))
end
