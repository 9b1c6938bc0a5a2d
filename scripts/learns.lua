-- Does an encoding learn a task in distribution with a given recipe?
-- Trains one model and prints its validation accuracy and exact match at
-- sizes up to L (held-out problems: `split = "valid"`, never longer ones).
--   posbench run scripts/learns.lua enc=kerple_log [task=copy] [L=8] [lr=3e-3]
--       [steps=3000] [d=64] [heads=4] [layers=2] [seed=1] [samples=200]
local a = pb.args
local function num(k, default)
  local v = a[k] == nil and default or tonumber(a[k])
  if v == nil then error(string.format("learns.lua: %s=%s is not a number", k, tostring(a[k])), 0) end
  return v
end
local enc, task_name = a.enc or "rope", a.task or "copy"
local L, lr, steps = num("L", 8), num("lr", 3e-3), num("steps", 3000)
local task = pb.task(task_name, { vocab = 16, min_len = 1, max_len = L })
local model = pb.model { d = num("d", 64), heads = num("heads", 4), layers = num("layers", 2),
                         vocab = task:info().vocab, encoding = enc, seed = num("seed", 1), max_len = 4 * L + 8 }
local r = pb.train(model, task, { steps = steps, batch = 32, lr = lr, seed = num("seed", 1), progress = false })
local sizes = {}
for n = math.max(1, L // 2), L, math.max(1, L // 4) do sizes[#sizes + 1] = n end
if sizes[#sizes] ~= L then sizes[#sizes + 1] = L end
local e = pb.eval(model, task, { lengths = sizes, samples = num("samples", 200), split = "valid" })
local parts = {}
for _, n in ipairs(sizes) do
  parts[#parts + 1] = string.format("n=%d acc %.3f exact %.3f", n, e[n].accuracy, e[n].exact)
end
print(string.format("%s on %s (L=%d, lr=%g, %d steps): final loss %.3f; %s; %.0f s", enc, task_name, L, lr,
  steps, r.final_loss, table.concat(parts, ", "), r.seconds))
