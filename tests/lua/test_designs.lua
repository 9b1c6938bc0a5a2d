-- Per-layer designs by name (pb.design, harness/lua/posbench/designs.lua):
-- each anchor expands to its published layer pattern, builds a model, and
-- the extrapolation study and its sweep take a design where they take an
-- encoding. Run: build/posbench run tests/lua/test_designs.lua
local core = require "posbench.core"
local csv, json = pb.csv, pb.json
local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with

pb.threads(1)

-- Expansion -------------------------------------------------------------------
local function kinds(list)
  local t = {}
  for i, l in ipairs(list) do
    t[i] = (l.window and "W" .. l.window) or (l.chunk and "C" .. l.chunk) or "G"
    t[i] = t[i] .. ":" .. l.encoding
  end
  return table.concat(t, " ")
end

local r = pb.design("rnope-swa", { layers = 8, T_train = 64 })
check(kinds(r) == "W32:rope W32:rope W32:rope G:none W32:rope W32:rope W32:rope G:none",
  "rnope-swa: 3 windowed RoPE layers (W = L/2) then a global NoPE layer, twice: " .. kinds(r))
check(r[1].enc.base == 10000, "rnope-swa: local base 10 000")
r[1].enc.base = 1
check(pb.design("rnope-swa", { layers = 8, T_train = 64 })[2].enc.base == 10000, "layers are copies, not shared tables")
check(kinds(pb.design("rnope-swa", { layers = 4, T_train = 64, window = 0.25 })) ==
  "W16:rope W16:rope W16:rope G:none", "window= is a fraction of T_train")
check(kinds(pb.design("rnope-swa", { layers = 4, T_train = 3 })):sub(1, 2) == "W2", "a window is at least 2")

local g3 = pb.design("gemma3", { layers = 6, T_train = 64 })
check(kinds(g3) == "W8:rope W8:rope W8:rope W8:rope W8:rope G:rope", "gemma3: 5 local (W = L/8) : 1 global: " .. kinds(g3))
check(g3[1].enc.base == 10000 and g3[6].enc.base == 1000000, "gemma3: bases 10k local, 1M global")
check(g3[1].qk_norm == "pre" and g3[6].qk_norm_weight == true, "gemma3: QK-norm with weights before RoPE")

local l4 = pb.design("llama4", { layers = 4, T_train = 64 })
check(kinds(l4) == "C8:rope C8:rope C8:rope G:none", "llama4: 3 chunked RoPE : 1 global NoPE: " .. kinds(l4))
check(l4[1].enc.base == 500000 and l4[1].qk_norm == "post", "llama4: base 500k, QK-norm after RoPE")
check(l4[4].temperature.rule == "log" and l4[4].temperature.floor_scale == 8 and l4[4].temperature.scale == 0.1,
  "llama4: the log temperature with floor_scale = chunk")

local sw = pb.design("swan", { layers = 4, T_train = 64 })
check(kinds(sw) == "W4:rope G:none W4:rope G:none", "swan: 1 : 1, window L/16: " .. kinds(sw))
check(math.abs(sw[2].temperature.scale - 1 / math.log(64)) < 1e-15 and sw[2].temperature.at == "eval",
  "swan: log(n)/log(L) scaling at evaluation")
check(kinds(pb.design("gemma2", { layers = 2, T_train = 64 })) == "W32:rope G:rope", "gemma2: 1 : 1")
check(pb.design("gemma2", { layers = 2, T_train = 64 })[2].softcap == 50, "gemma2: soft-cap 50")
check(kinds(pb.design("rope-swa", { layers = 3, T_train = 10 })) == "W5:rope W5:rope W5:rope",
  "rope-swa: every layer windowed, any depth")

errors_with("unknown design 'nosuch' (valid: rnope-swa", pb.design, "nosuch", { layers = 4, T_train = 8 })
errors_with("2 layers hold no global layer", pb.design, "rnope-swa", { layers = 2, T_train = 8 })
errors_with("use layers >= 6", pb.design, "gemma3", { layers = 4, T_train = 8 })
errors_with("T_train must be a positive integer", pb.design, "swan", { layers = 2, T_train = 0 })
errors_with("spec must be a table with a function layers", pb.register_design, "x", {})

-- Every design builds a model whose layer list is the design's.
for _, d in ipairs(pb.list_designs()) do
  local n = math.max(d.period, 2)
  local list = pb.design(d.name, { layers = n, T_train = 16 })
  local ok, m = pcall(pb.model, { vocab = 8, d = 16, heads = 2, layers = list, max_len = 16,
                                  encoding = list[1].encoding, seed = 1 })
  check(ok, d.name .. ": pb.model builds it (" .. tostring(not ok and m or "") .. ")")
  if ok then
    local specs = m:info().layer_specs
    check(#specs == n and m:info().hybrid == (d.name ~= "rope-swa" or true),
      d.name .. ": the model holds " .. n .. " layers")
    for i, l in ipairs(list) do
      check((specs[i].window or 0) == (l.window or 0) and (specs[i].chunk or 0) == (l.chunk or 0)
        and specs[i].encoding == l.encoding, string.format("%s: layer %d as designed", d.name, i))
    end
    m:close()
  end
end

-- A design registered by a script is a name like the built-in ones.
pb.register_design("test-2to1", { text = "2 windowed RoPE : 1 global ALiBi", period = 3,
  layers = function(c) return { encoding = "rope", window = c.W }, { encoding = "alibi" } end })
check(kinds(pb.design("test-2to1", { layers = 3, T_train = 20 })) == "W10:rope W10:rope G:alibi",
  "a registered design expands")

-- The extrapolation study takes designs by name --------------------------------
local ex = dofile(core.source_root() .. "/experiments/extrapolation.lua")
errors_with("unknown encoding 'nosuch'", ex.configure, { scale = "tiny", encodings = { "rope", "nosuch" } })
errors_with("rnope-swa (design)", ex.configure, { scale = "tiny", encodings = { "nosuch" } })
errors_with("extrapolation: pb.design('rnope-swa'): 2 layers hold no global layer", ex.configure,
  { scale = "tiny", encodings = { "rnope-swa" } })
local cfg = ex.configure { scale = "tiny", encodings = { "rope", "rnope-swa" }, layers = 4, tasks = { "copy" } }
local plan = ex.plan(cfg)
local by = {}
for _, e in ipairs(plan) do by[e.name] = e end
local e = by["copy-rnope-swa-s1"]
check(e ~= nil, "the plan has a run of the design")
if e then
  local m = e.config.model
  check(type(m.layers) == "table" and #m.layers == 4 and m.layers[4].encoding == "none"
    and m.layers[1].window == math.max(2, math.floor(0.5 * m.max_len + 0.5)),
    "its model is the design's layer list for the training length " .. json.encode(m.layers))
  check(by["copy-rope-s1"].config.model.layers == 4, "an encoding keeps its uniform model")
end
local cfg2 = ex.configure { scale = "tiny", encodings = { "rnope-swa" }, layers = 4, design_window = 0.25,
                            tasks = { "copy" } }
local m2 = ex.plan(cfg2)[1].config.model
check(m2.layers[1].window == math.max(2, math.floor(0.25 * m2.max_len + 0.5)), "design_window= sets the span")

-- A short run through the sweep: the design trains, evaluates, is summarised.
local posbench_binary = checks.posbench_binary
local tmp = os.tmpname()
os.remove(tmp)
core.mkdir_p(tmp)
local cmd = string.format("'%s' sweep '%s/experiments/extrapolation.lua' scale=tiny encodings=rope,rnope-swa " ..
  "layers=4 tasks=copy seeds=2 steps=40 scaling=false samples=16 root='%s' --local 1 > '%s/sweep.log' 2>&1",
  posbench_binary(), core.source_root(), tmp, tmp)
local ok = os.execute(cmd)
check(ok, "sweep of the study with a design runs (log: " .. tmp .. "/sweep.log)")
local dir = tmp .. "/extrapolation"
if ok then
  local rows = csv.read(dir .. "/summary.csv")
  local n = 0
  for _, row in ipairs(rows) do if row.encoding == "rnope-swa" then n = n + 1 end end
  check(n == 3, "summary.csv has the design's rows (one per length): " .. n)
  local c = json.decode(io.open(dir .. "/copy-rnope-swa-s1/config.json"):read("a")).config
  check(c and c.model.layers and c.model.layers[1].window ~= nil and c.model.layers[4].encoding == "none", "the run's config.json holds the layer list")
  local rep = io.open(dir .. "/report.md"):read("a")
  check(rep:find("rnope-swa", 1, true) ~= nil, "the report names the design")
  -- resume: a second sweep has nothing left to do
  local ok2 = os.execute(cmd:gsub("sweep%.log", "sweep2.log"))
  local log2 = io.open(tmp .. "/sweep2.log"):read("a")
  check(ok2 and not log2:find("copy%-rnope%-swa%-s1 done") and log2:find("0 to run") ~= nil,
    "a second sweep finds every run done")
end
os.execute("rm -rf '" .. tmp .. "'")
checks.close("test_designs")
