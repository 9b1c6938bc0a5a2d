-- Learning: a 3-layer RoPE model learns copy at lengths 4..16 to >= 99%
-- answer-token accuracy in distribution within a fixed budget of 3000 steps
-- of 32 sequences (seeded, so the outcome is reproducible).
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
local checks = dofile("tests/lua/checks.lua")
checks.check(mean >= 0.99, "mean < 0.99")
checks.check(log.final_loss < log.losses[1] / 10, "loss did not fall tenfold")
checks.close("test_learning")
