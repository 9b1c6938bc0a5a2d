-- Writes one step file for the PyTorch reference (scripts/torch_reference.py):
-- a small model's forward, backward and AdamW steps on one batch.
--
--   posbench run tests/torch/check_step.lua encoding=rope causal=true \
--       norm=rmsnorm tied=false out=/tmp/x.pbt [enc.base=100 ...]
--
-- Arguments (all optional except out): encoding, causal, norm, tied, task
-- (copy; grid2d uses grid positions), length (problem size), batch, steps,
-- lr, wd, warmup, seed, and enc.KEY=VALUE for encoding options (dotted keys nest, e.g.
-- enc.scaling.type=yarn), or spec=NAME for one of the per-layer models below
-- (docs/hybrids.md; then encoding and enc are ignored).
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

-- Per-layer models: every per-layer setting, beside the anchors' shapes.
local SPECS = {
    rnope_swa = {{encoding = "rope", window = 3}, {encoding = "rope", window = 3},
                 {encoding = "none", temperature = {rule = "log", scale = 2, floor_scale = 1}}},
    irope = {{encoding = "rope", enc = {base = 500}, chunk = 4, qk_norm = "post", qk_norm_eps = 1e-5},
             {encoding = "none", temperature = {rule = "length", scale = 0.8}}},
    gemma3 = {{encoding = "rope", enc = {base = 100}, window = 2, qk_norm = "pre", qk_norm_weight = true},
              {encoding = "rope", qk_norm = "pre", qk_norm_weight = true}},
    softcap_bias = {{encoding = "alibi", window = 4, softcap = 2},
                    {encoding = "kerple_log", softcap = 1.5},
                    {encoding = "rope", temperature = {rule = "const", scale = 1.5}, softcap = 3}},
    xpos_chunk_t5 = {{encoding = "xpos", enc = {scale_base = 8}, chunk = 3}, {encoding = "t5"}},
    partial_window = {{encoding = "rope", enc = {fraction = 0.5}, window = 3},
                      {encoding = "none", temperature = {rule = "log", floor_scale = 2, at = "eval"}}},
}
local spec = arg("spec")
assert(spec == nil or SPECS[spec], "check_step.lua: unknown spec " .. tostring(spec))

local model = pb.model{
    vocab = task:info().vocab,
    d = 16, heads = 2, layers = spec and SPECS[spec] or 2, ff = 32,
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
