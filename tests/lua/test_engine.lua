-- Engine behaviour seen from Lua: determinism, save/load, evaluation
-- overrides that must not leak, progress-free training logs.
local checks = dofile("tests/lua/checks.lua")
local check = checks.check

local function train_losses(enc, seed, threads)
  if threads then pb.threads(threads) end
  local m = pb.model{vocab = 16, d = 32, heads = 4, layers = 2, encoding = enc,
                     max_len = 32, seed = seed}
  local t = pb.task("copy", {min_len = 2, max_len = 8, vocab = 8})
  local log = pb.train(m, t, {steps = 15, batch = 8, lr = 3e-3, seed = seed, progress = false})
  return log.losses, m, t
end

local function same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- Same seed and thread count: bit-identical losses, for every encoding
-- family and with random positions.
local threads = pb.threads()
for _, enc in ipairs { "rope", "alibi", "learned", "sinusoidal", "fire", "t5" } do
  local a = train_losses(enc, 5)
  local b = train_losses(enc, 5)
  check(same(a, b), enc .. ": same seed gives identical losses")
  local c = train_losses(enc, 6)
  check(not same(a, c), enc .. ": another seed gives other losses")
end
for _, n in ipairs { 1, 2 } do
  local a = train_losses("rope", 9, n)
  local b = train_losses("rope", 9, n)
  check(same(a, b), "threads=" .. n .. ": identical losses")
end
pb.threads(threads)

-- Training lowers the loss and the log has one entry per step.
local losses, m, t = train_losses("rope", 3)
check(#losses == 15, "one loss per step")
check(losses[15] < losses[1], "loss decreases: " .. losses[1] .. " -> " .. losses[15])

-- Save and load: identical evaluation.
local path = os.tmpname()
m:save(path)
local m2 = pb.load(path)
os.remove(path)
local e1 = pb.eval(m, t, {lengths = {4, 8}, samples = 16})
local e2 = pb.eval(m2, t, {lengths = {4, 8}, samples = 16})
check(e1[8].loss == e2[8].loss and e1[4].accuracy == e2[4].accuracy,
      "loaded model evaluates identically")
check(m2:info().encoding == "rope" and m2:info().n_params == m:info().n_params,
      "loaded model has the same config")

-- Evaluation overrides (scaling, precision, positions) apply only to that call.
local base = pb.eval(m, t, {lengths = {8}, samples = 16})[8].loss
local scaled = pb.eval(m, t, {lengths = {8}, samples = 16,
                              scaling = {type = "pi", factor = 4, original_len = 8}})[8].loss
local lowp = pb.eval(m, t, {lengths = {8}, samples = 16, precision = {qk_post = "e4m3"}})[8].loss
local shifted = pb.eval(m, t, {lengths = {8}, samples = 16,
                               positions = {scheme = "shift", shift = 100}})[8].loss
local after = pb.eval(m, t, {lengths = {8}, samples = 16})[8].loss
check(scaled ~= base, "PI scaling changes the loss")
check(lowp ~= base, "e4m3 at qk_post changes the loss")
check(math.abs(shifted - base) < 1e-3 * math.abs(base) + 1e-4,
      "RoPE is shift invariant: " .. base .. " vs " .. shifted)
check(after == base, "overrides do not leak into later evaluations")

-- Exact match never exceeds token accuracy; chance is the task's.
local ev = pb.eval(m, t, {lengths = {2, 8}, samples = 32})
check(ev[8].exact <= ev[8].accuracy + 1e-12, "exact <= accuracy")
check(ev[8].n == 32 and ev[8].tokens == 32 * 8, "counts: " .. ev[8].tokens)
check(math.abs(t:info().chance - 1 / 8) < 1e-12, "copy chance = 1/vocab")

-- The named precision sites, in computation order.
local sites = pb.precision_sites()
check(#sites == 11 and sites[1] == "positions" and sites[11] == "gradients",
      "eleven precision sites from positions to gradients")

checks.close("test_engine")
