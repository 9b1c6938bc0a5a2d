-- Learnable Lua encodings against their C twins (`make bench`;
-- docs/encodings.md, "Learnable encodings in Lua"): the training step of
-- config A (d=128, 4 layers, 4 heads, T=128, batch 32, vocab 64; lm task)
-- with one thread, the Lua encoding and its twin measured in interleaved
-- rounds of this one run (ratio = Lua / C):
--   bias:  experiments/proposals/learned_alibi.lua against alibi learn=1;
--   table: a learned position table in Lua against the C encoding learned.
-- Prints key=value lines.
--   posbench run scripts/bench_learnable.lua [steps=6] [rounds=3]
local args = pb.args
local steps, rounds = tonumber(args.steps or 6), tonumber(args.rounds or 3)
pb.threads(1)

dofile("experiments/proposals/learned_alibi.lua")
pb.register_encoding("lua_learned_table", {
  params = { E = { shape = { "max_len", "d" }, init = function(_, rng) return rng:normal(0.02) end } },
  table = function(pos, i, d, p) return p.E[pos + 1][i + 1] end,
  summary = "GPT-2's learned position table, in Lua (twin of learned)",
})

local T = 128
local task = pb.task("lm", { min_len = T, max_len = T, corpus_len = 200000 })
assert(task:info().vocab <= 64, "the lm task's vocabulary exceeds config A's 64")
local function model(enc, e)
  return pb.model { vocab = 64, d = 128, heads = 4, layers = 4, max_len = T, seed = 1,
                    encoding = enc, enc = e }
end

local function step_time(m)
  pb.train(m, task, { steps = 1, batch = 32, lr = 1e-3, progress = false })
  local log = pb.train(m, task, { steps = steps, batch = 32, lr = 1e-3, progress = false })
  return log.seconds / steps
end

for _, c in ipairs { { form = "bias", lua = "lua_alibi_learned", twin = "alibi", enc = { learn = 1 } },
                     { form = "table", lua = "lua_learned_table", twin = "learned" } } do
  local ml, mc = model(c.lua), model(c.twin, c.enc)
  local tl, tc = math.huge, math.huge
  for _ = 1, rounds do -- interleaved, so both see the same machine load
    tl = math.min(tl, step_time(ml))
    tc = math.min(tc, step_time(mc))
  end
  print(string.format("learnable_step form=%s lua=%s twin=%s lua_ms=%.2f twin_ms=%.2f ratio=%.3f",
    c.form, c.lua, c.twin, tl * 1e3, tc * 1e3, tl / tc))
  ml:close()
  mc:close()
end
