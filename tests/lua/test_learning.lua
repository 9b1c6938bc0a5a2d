-- Learning (seeded, so every outcome is reproducible):
--  1. a 3-layer RoPE model learns copy at lengths 4..16 to >= 98.5% answer-token
--     accuracy in distribution within 3000 steps of 32 sequences;
--  2. with its default options, every 1D encoding learns copy at sizes 2..4
--     (vocab 6) to >= 95% mean answer-token accuracy over those sizes, in a
--     fixed budget: d = 32, 4 heads, 2 layers, ff = 128, 3000 steps of 32,
--     lr 3e-3, one thread. Encodings that cannot are listed in
--     `cannot_learn` with the reason (none at present);
--  3. final_loss is the mean loss of the last 5% of the steps.
local checks = dofile("tests/lua/checks.lua")

do
  local model = pb.model{ vocab = 40, d = 64, heads = 4, layers = 3, encoding = "rope",
                          max_len = 64, seed = 1 }
  local task = pb.task("copy", { min_len = 4, max_len = 16, vocab = 32 })
  local log = pb.train(model, task, { steps = 3000, batch = 32, lr = 3e-3, seed = 1,
                                      progress = false })
  local lengths = {}
  for n = 4, 16 do lengths[#lengths + 1] = n end
  local ev = pb.eval(model, task, { lengths = lengths, samples = 100, seed = 7 })
  local mean, worst = 0, 1
  for _, n in ipairs(lengths) do
    mean = mean + ev[n].accuracy / #lengths
    worst = math.min(worst, ev[n].accuracy)
    print(string.format("length %2d  accuracy %.4f  exact %.3f", n, ev[n].accuracy, ev[n].exact))
  end
  print(string.format("mean in-distribution accuracy %.4f (worst length %.4f), final loss %.4f, "
                      .. "%.0f tokens/s", mean, worst, log.final_loss, log.tokens_per_s))
  -- avx512 set: this run gave 0.9915 before the attention products moved
  -- to the set's GEMM and 0.9898 after (their last bits move it); seeds 2-5
  -- at one thread 0.9920-0.9955 before, 0.9913-0.9954 after. 0.985 leaves
  -- room for rounding; a model that does not learn copy is far below
  checks.check(mean >= 0.985, "rope copy 4..16: mean < 0.985")
  checks.check(log.final_loss < log.losses[1] / 10, "loss did not fall tenfold")
  -- final_loss is the mean of the last 5% of the steps (150 of 3000): one
  -- step trains one size, so its loss alone is that size's
  local sum = 0
  for s = 2851, 3000 do sum = sum + log.losses[s] end
  checks.check(math.abs(log.final_loss - sum / 150) <= 1e-6 * sum / 150,
               string.format("final_loss %.9g is not the mean of the last 150 losses (%.9g)",
                             log.final_loss, sum / 150))
  model:close()
end

-- Every 1D encoding with its defaults (the model's too: token embeddings
-- scaled by sqrt(d), docs/model.md).
local cannot_learn = {
  -- name = "reason",
}
pb.threads(1) -- the outcome is bit-reproducible for a given thread count
local lo, hi = 2, 4
local task = pb.task("copy", { min_len = lo, max_len = hi, vocab = 6 })
local lengths = {}
for n = lo, hi do lengths[#lengths + 1] = n end
for _, e in ipairs(pb.list_encodings()) do
  if e.pos_dims == 1 and not e.lua then
    local model = pb.model{ vocab = 10, d = 32, heads = 4, layers = 2, ff = 128,
                            encoding = e.name, max_len = 16, seed = 1 }
    local log = pb.train(model, task, { steps = 3000, batch = 32, lr = 3e-3, seed = 1,
                                        progress = false })
    local ev = pb.eval(model, task, { lengths = lengths, samples = 100, seed = 7 })
    local mean, worst = 0, 1
    for _, n in ipairs(lengths) do
      mean = mean + ev[n].accuracy / #lengths
      worst = math.min(worst, ev[n].accuracy)
    end
    print(string.format("%-14s copy %d..%d  mean accuracy %.3f  worst size %.3f  (%.1f s)",
                        e.name, lo, hi, mean, worst, log.seconds))
    if cannot_learn[e.name] then
      print("  (not required: " .. cannot_learn[e.name] .. ")")
    else
      checks.check(mean >= 0.95, string.format("%s with default options: copy accuracy %.3f < 0.95",
                                               e.name, mean))
    end
    model:close()
  end
end
checks.close("test_learning")
