-- Tests of the length-extrapolation tools: perplexity windows (pb.eval
-- window=), diagnostics (pb.diagnose), aggregation over seeds, long
-- sequences, and a smoke run of experiments/extrapolation.lua at tiny scale.
-- Run: build/posbench run tests/lua/test_extrapolation.lua
local core = require "posbench.core"
local stats, csv, json = pb.stats, pb.csv, pb.json

local passed, failed = 0, 0
local function check(cond, msg, level)
  if cond then
    passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write("FAIL line ", debug.getinfo(level or 2, "l").currentline, ": ", msg, "\n")
  end
end
local function close(a, b, tol, msg)
  check(type(a) == "number" and type(b) == "number"
    and math.abs(a - b) <= tol * math.max(1, math.abs(a), math.abs(b)),
    string.format("%s: got %s, expected %s", msg, tostring(a), tostring(b)), 3)
end
local function errors_with(pattern, f, ...)
  local ok, err = pcall(f, ...)
  check(not ok and tostring(err):find(pattern, 1, true) ~= nil,
    string.format("expected an error containing '%s', got %s", pattern, ok and "no error" or tostring(err)), 3)
end
local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

pb.threads(1)
local tmp = os.tmpname()
os.remove(tmp)
core.mkdir_p(tmp)
local write = dofile("tests/lua/checks.lua").write

-- Perplexity windows on a hand-checkable corpus -------------------------------
-- Blocks of 3 characters, each a permutation of "abc": every 5 consecutive
-- characters hold all three letters, so any window of >= 5 characters saved
-- as its own corpus maps the letters to the same token ids (1, 2, 3) as the
-- whole corpus. Its loss, from the ordinary evaluation path (pb.eval without
-- window=, where a corpus of exactly n + 1 characters has one offset, 0),
-- is then the loss of that window inside the whole corpus.
local perms = { "abc", "acb", "bac", "bca", "cab", "cba" }
local parts = {}
for k = 0, 16 do parts[#parts + 1] = perms[(k * 5 + k // 2) % 6 + 1] end
local corpus = table.concat(parts) .. "ab"  -- 53 characters
local C = #corpus
local n, s = 8, 4

local full = pb.task("lm", { path = write(tmp .. "/corpus.txt", corpus), min_len = n, max_len = n })
check(full:info().vocab == 4, "corpus of a, b, c gives vocab 4")
local model = pb.model { vocab = 4, d = 16, heads = 2, layers = 2, max_len = n, encoding = "rope", seed = 3 }
pb.train(model, full, { steps = 40, batch = 8, lr = 1e-2, progress = false })

-- Mean loss of the window of length m at corpus offset o, via its own corpus.
local window_tasks = {}
local function window_loss(o, m)
  local key = o .. ":" .. m
  if not window_tasks[key] then
    local path = write(string.format("%s/w%d_%d.txt", tmp, o, m), corpus:sub(o + 1, o + m + 1))
    window_tasks[key] = pb.task("lm", { path = path, min_len = m, max_len = m })
  end
  local t = window_tasks[key]
  check(t:info().vocab == 4, "window corpus keeps the token ids")
  return pb.eval(model, t, { lengths = { m }, samples = 1 })[m].loss
end

-- Non-overlapping: offsets 0, n, 2n, ... while offset + n < C.
local K = (C - n - 1) // n + 1
local sum = 0
for k = 0, K - 1 do sum = sum + window_loss(k * n, n) end
local non = pb.eval(model, full, { lengths = { n }, window = "nonoverlap" })[n]
check(non.windows == K and non.tokens == K * n,
  string.format("nonoverlap: %d windows, %d tokens (expected %d, %d)", non.windows, non.tokens, K, K * n))
close(non.loss, sum / K, 1e-5, "nonoverlap loss = mean of the per-window losses")
close(non.ppl, math.exp(sum / K), 1e-5, "nonoverlap ppl = exp(mean loss)")

-- Sliding: offsets 0, s, 2s, ...; window 0 scores all n predictions, window
-- k > 0 its last s. In a causal model the first n - s predictions of a
-- window are those of the window of length n - s at the same offset, so the
-- last s sum to n L_n(o) - (n - s) L_{n-s}(o).
local Ks = (C - n - 1) // s + 1
local total = n * window_loss(0, n)
for k = 1, Ks - 1 do
  total = total + n * window_loss(k * s, n) - (n - s) * window_loss(k * s, n - s)
end
local tokens = n + (Ks - 1) * s
local sli = pb.eval(model, full, { lengths = { n }, window = "sliding", stride = s })[n]
check(sli.windows == Ks and sli.tokens == tokens,
  string.format("sliding: %d windows, %d tokens (expected %d, %d)", sli.windows, sli.tokens, Ks, tokens))
check(sli.tokens == C - 1 - ((C - n - 1) % s), "sliding scores every corpus token once up to the last window")
close(sli.loss, total / tokens, 1e-5, "sliding loss from per-window losses")
close(sli.ppl, math.exp(total / tokens), 1e-5, "sliding ppl = exp(mean loss)")

-- Default stride n/2; stride n is the non-overlapping walk; max_tokens caps.
local d2 = pb.eval(model, full, { lengths = { n }, window = "sliding" })[n]
check(d2.stride == n // 2 and d2.tokens == tokens, "default stride is n/2")
local sn = pb.eval(model, full, { lengths = { n }, window = "sliding", stride = n })[n]
close(sn.loss, non.loss, 1e-12, "sliding with stride n equals nonoverlap")
local cap = pb.eval(model, full, { lengths = { n }, window = "nonoverlap", max_tokens = 20 })[n]
check(cap.windows == 3 and cap.tokens == 24, "max_tokens=20 stops after the window reaching 20 (3 x 8)")
close(cap.loss, (window_loss(0, n) + window_loss(n, n) + window_loss(2 * n, n)) / 3, 1e-5,
  "capped walk = first three windows")
local capped_s = pb.eval(model, full, { lengths = { n }, window = "sliding", stride = s, max_tokens = 1 })[n]
check(capped_s.windows == 1 and capped_s.tokens == n, "at least one window is scored")

-- Errors name the problem.
local copy = pb.task("copy", { max_len = 4, vocab = 2 })
errors_with("needs task 'lm'", pb.eval, model, copy, { lengths = { 4 }, window = "nonoverlap" })
errors_with("valid: nonoverlap, sliding", pb.eval, model, full, { lengths = { n }, window = "overlap" })
errors_with("stride= is for window=\"sliding\"", pb.eval, model, full,
  { lengths = { n }, window = "nonoverlap", stride = 2 })
errors_with("add window=", pb.eval, model, full, { lengths = { n }, stride = 2 })
errors_with("stride=9 must be in [1, window length 8]", pb.eval, model, full,
  { lengths = { n }, window = "sliding", stride = 9 })
errors_with("needs 54 corpus tokens", pb.eval, model, full, { lengths = { 53 }, window = "nonoverlap" })

-- Diagnostics ----------------------------------------------------------------
-- Near-uniform attention (fresh model, no encoding): normalised entropy ~ 1
-- and the mean attended distance of query i ~ i / 2 over keys 0..i.
local cp = pb.task("copy", { max_len = 8, vocab = 8 })
local fresh = pb.model { vocab = 10, d = 16, heads = 2, layers = 2, max_len = 16, encoding = "none", seed = 1 }
local dg = pb.diagnose(fresh, cp, { lengths = { 6 }, samples = 4 })[6]
-- decoder copy of n = 6: T = 12, answer queries i = 6..11
local expect = 0
for i = 6, 11 do expect = expect + i / 2 end
expect = expect / 6
check(dg.queries == 4 * 6, "diagnose counts answer-slot queries (4 x 6)")
check(#dg.entropy == 2 and #dg.entropy[1] == 2, "entropy per layer and head")
for l = 1, 2 do
  for h = 1, 2 do
    check(dg.entropy_norm[l][h] > 0.99 and dg.entropy_norm[l][h] <= 1 + 1e-9,
      "near-uniform attention has normalised entropy ~1")
    close(dg.distance[l][h], expect, 0.02, "uniform causal attention distance ~ i/2")
  end
end
check(dg.in_dist and dg.positions_beyond_train == 0 and dg.train_seq_len == 16,
  "length 6 of a task trained to 8 is in distribution")

-- T5: causal, 32 buckets, max_distance 128 -> distances 0..15 exact. Trained
-- at T = 16 (copy, n = 8) only buckets 0..15 occur; at T = 128 the other 16
-- appear, on the pairs at distance >= 16.
local t5 = pb.model { vocab = 10, d = 16, heads = 2, layers = 1, max_len = 16, encoding = "t5", seed = 1 }
local dt = pb.diagnose(t5, cp, { lengths = { 8, 64 }, samples = 1 })
check(dt[8].t5.unseen_buckets == 0 and dt[8].t5.buckets_train == 16, "t5 in distribution: no unseen bucket")
check(dt[64].t5.unseen_buckets == 16 and dt[64].t5.buckets_eval == 32, "t5 at T=128: 16 unseen buckets")
close(dt[64].t5.unseen_pair_frac, (112 * 113 / 2) / (128 * 129 / 2), 1e-12, "t5 unseen pair fraction")

-- Learned table of 32 rows, training positions 0..15.
local learned = pb.model { vocab = 10, d = 16, heads = 2, layers = 1, max_len = 16, encoding = "learned",
                           enc = { size = 32 }, seed = 1 }
local dl = pb.diagnose(learned, cp, { lengths = { 12, 20 }, samples = 2 })
check(dl[12].learned.untrained_rows == 8 and dl[12].learned.beyond_table == 0
  and dl[12].positions_beyond_train == 8 and dl[12].entropy ~= nil,
  "learned at T=24: 8 untrained rows, none beyond the table")
check(dl[20].learned.beyond_table == 8 and dl[20].learned.untrained_rows == 16
  and dl[20].entropy == nil and dl[20].attention_skipped:find("beyond the learned table", 1, true),
  "learned at T=40: 8 positions beyond the table, attention skipped with a reason")
errors_with("max_seq_len=32", pb.diagnose, fresh, cp, { lengths = { 20 }, max_seq_len = 32 })

-- Long sequences: inference is blockwise, so a 4096-token window of a small
-- model needs no 4096 x 4096 matrix.
do
  local lm = pb.task("lm", { min_len = 16, max_len = 16, corpus_len = 5000 })
  local small = pb.model { vocab = lm:info().vocab, d = 16, heads = 2, layers = 1, max_len = 16,
                           encoding = "rope", seed = 1 }
  local t0 = pb.now()
  local r = pb.eval(small, lm, { lengths = { 4096 }, window = "nonoverlap", max_tokens = 1 })[4096]
  check(r.tokens == 4096 and r.windows == 1 and r.ppl == r.ppl and r.ppl > 1,
    "evaluation at length 4096 works")
  local kb = pb.peak_rss_kb()
  check(math.type(kb) == "integer" and kb > 0, "peak_rss_kb is a positive integer")
  io.stderr:write(string.format("length 4096: %.2f s, peak RSS %.1f MB\n", pb.now() - t0, kb / 1024))
end

-- Aggregation over seeds: mean and t interval against core.t_quantile ----------
local vals = { 0.5, 0.7, 0.9 }
local sm = stats.summary(vals, { level = 0.95 })
local se = 0.2 / math.sqrt(3)
close(sm.mean, 0.7, 1e-12, "mean")
close(sm.hi - sm.mean, core.t_quantile(0.975, 2) * se, 1e-12, "CI half width = t_{0.975,2} se")
close(core.t_quantile(0.975, 2), 4.302652729911275, 1e-9, "t_{0.975,2} (tables)")

-- Smoke run of the experiment at tiny scale ----------------------------------
local posbench_binary = dofile("tests/lua/checks.lua").posbench_binary
local root = tmp .. "/results"
local script = core.source_root() .. "/experiments/extrapolation.lua"
local cmd = string.format("'%s' run '%s' scale=tiny root='%s' > '%s/smoke.log' 2>&1",
  posbench_binary(), script, root, tmp)
local t0 = pb.now()
local ok = os.execute(cmd)
local secs = pb.now() - t0
check(ok, "extrapolation.lua scale=tiny runs (log: " .. tmp .. "/smoke.log)")
io.stderr:write(string.format("extrapolation.lua scale=tiny: %.1f s\n", secs))
local dir = root .. "/extrapolation"
if ok then
  for _, f in ipairs { "summary.csv", "scaling.csv", "diagnostics.csv", "report.md",
                       "plots/copy_accuracy.png", "plots/copy_accuracy.svg", "plots/lm_ppl.png",
                       "plots/scaling_zero_shot.png", "copy-rope-s1/config.json",
                       "copy-rope-s1/metrics.jsonl", "copy-rope-s1/summary.json" } do
    check(exists(dir .. "/" .. f), "smoke run wrote " .. f)
  end
  local rows, cols = csv.read(dir .. "/summary.csv")
  local want = { "encoding", "task", "length", "in_dist", "mean_acc", "lo", "hi", "max_acc",
                 "mean_exact", "chance", "n_seeds" }
  for _, c in ipairs(want) do
    local found = false
    for _, have in ipairs(cols) do found = found or have == c end
    check(found, "summary.csv has column " .. c)
  end
  check(#rows == 2 * 3 + 2 * 3, "one row per encoding x task x length (2 x 2 tasks x 3 lengths)")
  -- Recompute one row from the runs' own metrics with core.t_quantile.
  local accs = {}
  for seed = 1, 2 do
    local f = assert(io.open(string.format("%s/copy-alibi-s%d/metrics.jsonl", dir, seed)))
    for line in f:lines() do
      local rec = json.decode(line)
      if rec.kind == "eval" and rec.length == 8 then accs[#accs + 1] = rec.accuracy end
    end
    f:close()
  end
  local row
  for _, r in ipairs(rows) do
    if r.task == "copy" and r.encoding == "alibi" and r.length == 8 then row = r end
  end
  check(row and #accs == 2, "copy/alibi/n=8 row and its two seeds")
  if row and #accs == 2 then
    local m = (accs[1] + accs[2]) / 2
    local sd = math.abs(accs[1] - accs[2]) / math.sqrt(2)
    local half = core.t_quantile(0.975, 1) * sd / math.sqrt(2)
    close(row.mean_acc, m, 1e-12, "summary mean over seeds")
    close(row.hi, m + half, 1e-9, "summary CI upper bound")
    close(row.lo, m - half, 1e-9, "summary CI lower bound")
    close(row.max_acc, math.max(accs[1], accs[2]), 1e-12, "summary max over seeds")
    check(row.in_dist == false and row.n_seeds == 2, "n=8 is out of distribution for L=4")
    close(row.chance, 1 / 32, 1e-12, "chance of copy with 32 symbols")
  end
  local rep = io.open(dir .. "/report.md"):read("a")
  check(rep:find("Reading", 1, true) and rep:find("plots/copy_accuracy.png", 1, true),
    "report has the readings and the plots")
end

os.execute("rm -rf '" .. tmp .. "'")
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
