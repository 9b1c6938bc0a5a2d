-- Random streams per purpose (docs/model.md, "Random streams"): one seed
-- gives the same shared weights whatever the encoding, the same encoding
-- parameters whatever the model around them, the same training problems
-- whatever the position scheme, and validation problems apart from test
-- problems.
local checks = dofile("tests/lua/checks.lua")
local check = checks.check

local function same(a, b)
  if #a ~= #b or #a == 0 then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local geometry = {vocab = 16, d = 32, heads = 4, layers = 2, max_len = 32, seed = 7}
local function model(enc, extra)
  local c = {}
  for k, v in pairs(geometry) do c[k] = v end
  c.encoding = enc
  for k, v in pairs(extra or {}) do c[k] = v end
  return pb.model(c)
end

-- Shared weights: the same for encodings with and without parameters.
local shared = {"wte", "qkv_w", "proj_w", "fc_w", "fcp_w", "head_w"}
local base = model("none", {tied = false})
for _, enc in ipairs {"learned", "t5", "fire", "kerple_log", "abacus", "rope"} do
  local m = model(enc, {tied = false})
  for _, name in ipairs(shared) do
    check(same(base:param(name), m:param(name)),
          enc .. ": " .. name .. " equals that of encoding 'none' for the same seed")
  end
end
check(not same(base:param("wte"), model("none", {tied = false, seed = 8}):param("wte")),
      "another seed gives other shared weights")

-- Encoding parameters: from their own stream, so the model around them
-- (vocab, layers) does not move them, and a probe built with the same seed
-- holds them too.
for _, enc in ipairs {"learned", "t5"} do
  local a = model(enc):param("enc")
  local b = model(enc, {vocab = 24, layers = 1}):param("enc")
  check(same(a, b), enc .. ": parameters do not depend on the rest of the model")
  local probe = pb.encoding(enc, {d = 32, heads = 4, max_len = 32, seed = 7})
  check(same(a, probe:params()), enc .. ": a probe with the same seed holds the same parameters")
  check(not same(a, model(enc, {seed = 8}):param("enc")), enc .. ": another seed, other parameters")
end

-- Training data: with 'none' (positions are ignored) the losses are equal
-- bit for bit exactly when every step saw the same lengths, tokens and
-- targets, whatever randomness the position scheme draws.
local function train_none(task, positions, seed)
  local m = model("none", {positions = positions, max_len = 64})
  return pb.train(m, task, {steps = 12, batch = 8, lr = 3e-3, seed = seed or 3,
                            progress = false}).losses
end
local copy = pb.task("copy", {min_len = 2, max_len = 10, vocab = 8})
local linear = train_none(copy, {scheme = "linear"})
for _, pos in ipairs {
  {scheme = "random", max_pos = 64},
  {scheme = "shift", shift_max = 16},
} do
  check(same(linear, train_none(copy, pos)),
        "copy: scheme " .. pos.scheme .. " trains on the same batches as linear")
end
check(not same(linear, train_none(copy, {scheme = "linear"}, 4)),
      "another training seed gives other batches")
local add = pb.task("add", {min_len = 1, max_len = 6})
check(same(train_none(add, {scheme = "linear"}), train_none(add, {scheme = "abacus", max_offset = 20})),
      "add: scheme abacus trains on the same batches as linear")

-- Evaluation problems do not depend on the evaluation positions either
-- (300 problems of length 30 take several batches: positions drawn
-- between them must not move the next batch's problems).
local m = model("none", {max_len = 64})
local e_lin = pb.eval(m, copy, {lengths = {30}, samples = 300, seed = 5})[30].loss
local e_rand = pb.eval(m, copy, {lengths = {30}, samples = 300, seed = 5,
                                 positions = {scheme = "random", max_pos = 128}})[30].loss
check(e_lin == e_rand, "eval: random positions leave the problems as they are: " ..
      e_lin .. " vs " .. e_rand)

-- Validation: a split of its own, explicit and checked.
local test = pb.eval(m, copy, {lengths = {6, 8}, samples = 24, seed = 5})
local test2 = pb.eval(m, copy, {lengths = {6, 8}, samples = 24, seed = 5, split = "test"})
local valid = pb.eval(m, copy, {lengths = {6, 8}, samples = 24, seed = 5, split = "valid"})
local valid2 = pb.eval(m, copy, {lengths = {6, 8}, samples = 24, seed = 5, split = "valid"})
check(test[6].loss == test2[6].loss and test[8].loss == test2[8].loss,
      "split='test' is the default")
check(valid[6].loss == valid2[6].loss, "the validation split is deterministic")
check(valid[6].loss ~= test[6].loss and valid[8].loss ~= test[8].loss,
      "validation problems differ from test problems for the same seed")
checks.errors_with({"split", "'train'", "test, valid"}, pb.eval, m, copy,
                   {lengths = {6}, split = "train"})
checks.errors_with({"split", "'Valid'", "test, valid"}, pb.eval, m, copy,
                   {lengths = {6}, split = "Valid"})
local lm = pb.task("lm", {corpus_len = 2000})
local mlm = pb.model{vocab = lm:info().vocab, d = 16, heads = 2, layers = 1, max_len = 16}
checks.errors_with({"split", "perplexity"}, pb.eval, mlm, lm,
                   {lengths = {8}, window = "nonoverlap", split = "valid"})

checks.close("test_streams")
