-- Writes one step file for the PyTorch reference (scripts/torch_reference.py):
-- a small model's forward, backward and AdamW steps on one batch.
--
--   posbench run tests/torch/check_step.lua encoding=rope causal=true \
--       norm=rmsnorm tied=false out=/tmp/x.pbt [enc.base=100 ...]
--
-- Arguments (all optional except out): encoding, causal, norm, tied, task
-- (copy; grid2d uses grid positions), length (problem size), batch, steps,
-- lr, wd, warmup, seed, and enc.KEY=VALUE for encoding options (dotted keys nest, e.g.
-- enc.scaling.type=yarn).
local pb = pb or require "posbench"
local args = pb.args or {}

local function value(s)  -- "true"/"false" -> boolean, numerals -> number
    if type(s) ~= "string" then return s end
    if s == "true" then return true end
    if s == "false" then return false end
    return tonumber(s) or s
end

local function arg(key, default)
    local v = args[key]
    if v == nil then return default end
    return value(v)
end

-- enc.a.b=v -> enc = {a = {b = v}}
local enc = {}
for k, v in pairs(args) do
    local path = k:match("^enc%.(.+)$")
    if path then
        local t = enc
        local parts = {}
        for part in path:gmatch("[^.]+") do parts[#parts + 1] = part end
        for i = 1, #parts - 1 do
            t[parts[i]] = t[parts[i]] or {}
            t = t[parts[i]]
        end
        t[parts[#parts]] = value(v)
    end
end

local out = arg("out")
assert(out, "check_step.lua: give out=FILE.pbt")
local task_name = arg("task", "copy")
local grid = task_name == "grid2d"

local task
if grid then
    task = pb.task("grid2d", {min_len = 2, max_len = 3, vocab = 6, width = 3})
else
    task = pb.task(task_name, {min_len = 3, max_len = 6, vocab = 6})
end

local model = pb.model{
    vocab = task:info().vocab,
    d = 16, heads = 2, layers = 2, ff = 32,
    norm = arg("norm", "layernorm"),
    causal = arg("causal", true),
    tied = arg("tied", false),
    encoding = arg("encoding", "none"),
    enc = enc,
    positions = grid and {scheme = "grid"} or nil,
    max_len = 16,
    seed = arg("seed", 3),
}

pb.check_step(model, task, {
    batch = arg("batch", 4), length = arg("length", grid and 3 or 6), seed = 1,
    steps = arg("steps", 10), lr = arg("lr", 1e-2), wd = arg("wd", 0.01), warmup = arg("warmup", 0),
    clip = 1.0, min_lr_ratio = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8,
    path = out,
})
print("wrote " .. out)
