-- Tests of the literature study's opt-in section `hybrids`
-- (experiments/literature/hybrid_sections.lua): it stays out of the default
-- study; its plan builds the per-layer models each design names (windows and
-- floor_scale scaled to the training length, the temperature at evaluation
-- only or always, Gemma's bases), configs that survive JSON and build; the
-- evaluation-only temperature trains exactly as RNoPE-SWA and changes only
-- its evaluation; a tiny run through collect decides nothing; and the sweep
-- (`--local 2`) writes the same claims as the in-process run.
-- Run: build/posbench run tests/lua/test_literature_hybrids.lua
local core = require "posbench.core"

local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with

pb.threads(1)
local tmp = os.tmpname()
os.remove(tmp)
core.mkdir_p(tmp)

package.path = "experiments/?.lua;" .. package.path
local lit = dofile("experiments/literature.lua")
local H = require "literature.hybrid_sections"

-- Opt-in ----------------------------------------------------------------------
local default = lit.configure { scale = "tiny", root = tmp }
local listed = false
for _, s in ipairs(default.sections) do listed = listed or s == "hybrids" end
check(not listed, "the default study leaves the hybrids section out")
for _, e in ipairs(lit.plan(default)) do
  check(not e.name:match("^hyb%-"), "the default plan has no hybrid run: " .. e.name)
end
check(lit.sections.hybrids ~= nil, "the section is registered")
errors_with({ "unknown section 'hybrid'", "opt-in: hybrids" }, lit.configure,
  { scale = "tiny", root = tmp, sections = "hybrid" })

-- Plan ------------------------------------------------------------------------
local cfg = lit.configure { scale = "tiny", root = tmp, sections = "hybrids" }
local plan = lit.plan(cfg)
local by = {}
for _, e in ipairs(plan) do
  check(e.name:match("^hyb%-") ~= nil, "sections=hybrids plans hybrid runs only: " .. e.name)
  by[e.name] = e
end
-- every design on both tasks: pilots per lr (none for the evaluation-only
-- temperature, which selects from RNoPE-SWA's), then one run per seed
local n_designs = #cfg.hyb_designs
check(#plan == #cfg.hyb_tasks * ((n_designs - 1) * (#cfg.lr_grid + cfg.seeds) + cfg.seeds),
  string.format("%d runs planned", #plan))
check(cfg.hyb_tasks[1] == "induction" and cfg.hyb_tasks[2] == "lm", "the needle task and the lm by default")
check(by["hyb-induction-rnope-swa+temp-lr0.001"] == nil, "no pilots of their own for the evaluation-only temperature")
local temp = by["hyb-induction-rnope-swa+temp-s1"]
check(temp and temp.needs[1] == "hyb-induction-rnope-swa-lr0.001" and temp.stage == 2,
  "the evaluation-only temperature selects its lr from RNoPE-SWA's pilots")

for _, task in ipairs(cfg.hyb_tasks) do
  local T_train, T_max = H.geometry(cfg, task)
  local W, F = H.spans(cfg, T_train)
  check(W == math.floor(cfg.hyb_window * T_train + 0.5) and W >= 2 and W < T_train,
    task .. ": the window is hyb_window of the training length (" .. W .. " of " .. T_train .. ")")
  local function layers(name)
    local e = by["hyb-" .. task .. "-" .. name .. "-s1"]
    check(e ~= nil, task .. ": " .. name .. " planned")
    return e and e.config.model.layers or {}, e
  end
  for _, name in ipairs(cfg.hyb_designs) do
    local list, e = layers(name)
    check(#list == 4, task .. " " .. name .. ": four layers")
    -- the plan's config survives JSON and builds the model it describes
    local back = pb.json.decode(pb.json.encode(e.config))
    check(pb.json.encode(back) == pb.json.encode(e.config), task .. " " .. name .. ": config round-trips")
    local m = pb.model(back.model)
    local specs = m:info().layer_specs
    for i = 1, 4 do
      check(specs[i].encoding == list[i].encoding and specs[i].window == list[i].window,
        task .. " " .. name .. ": layer " .. i .. " builds as planned")
    end
    m:close()
  end
  local rn = layers("rnope-swa")
  for i = 1, 3 do
    check(rn[i].encoding == "rope" and rn[i].window == W and rn[i].enc.base == cfg.hyb_local_base,
      task .. ": RNoPE-SWA layer " .. i .. " is windowed RoPE")
  end
  check(rn[4].encoding == "none" and rn[4].window == nil and rn[4].temperature == nil,
    task .. ": RNoPE-SWA's last layer is global NoPE")
  local t, tt = layers("rnope-swa+temp"), layers("rnope-swa+temp-train")
  check(t[4].temperature.rule == "log" and t[4].temperature.at == "eval" and t[4].temperature.floor_scale == F and
    t[4].temperature.scale == cfg.hyb_temp_scale and t[1].temperature == nil,
    task .. ": Llama 4's temperature on the NoPE layer only, at evaluation")
  check(tt[4].temperature.at == "always" and tt[4].temperature.floor_scale == F, task .. ": and in training too")
  local all_rope, all_nope, swa = layers("rope"), layers("nope"), layers("rope-swa")
  local gem, one = layers("gemma-split"), layers("swa-global-rope")
  for i = 1, 4 do
    check(all_rope[i].encoding == "rope" and all_rope[i].window == nil, task .. ": all-RoPE is global")
    check(all_nope[i].encoding == "none" and all_nope[i].window == nil, task .. ": all-NoPE is global")
    check(swa[i].encoding == "rope" and swa[i].window == W, task .. ": all-RoPE-SWA has the window everywhere")
  end
  check(gem[1].enc.base == cfg.hyb_local_base and gem[1].window == W and gem[4].enc.base == cfg.hyb_global_base
    and gem[4].window == nil, task .. ": Gemma's split: local 10 000, global 1 000 000")
  check(one[4].enc.base == cfg.hyb_local_base and one[4].window == nil, task .. ": the single-base control")
  local e = by["hyb-" .. task .. "-rope-s1"]
  check(e.config.lengths[#e.config.lengths] == 2 * e.config.L, task .. ": evaluated to hyb_factors (2x at tiny)")
  if task == "lm" then check(e.config.steps == cfg.lm_steps, "lm: trains for lm_steps") end
end
-- recall instead of the needle task: enough keys for the longest test
local rc = lit.configure { scale = "tiny", root = tmp, sections = "hybrids", hyb_tasks = "recall", hyb_L = 40 }
for _, e in ipairs(lit.plan(rc)) do
  check(e.config.task == "recall" and e.config.topts.keys == 80, "recall: keys raised to the longest test (80 pairs)")
end
errors_with("unknown hybrid design 'bogus'", lit.plan,
  lit.configure { scale = "tiny", root = tmp, sections = "hybrids", hyb_designs = "bogus" })

-- The tiny section through collect -------------------------------------------------
local res = lit.run { scale = "tiny", root = tmp, sections = "hybrids" }
local dir = tmp .. "/literature"
local md = checks.read(dir .. "/report.md") or ""
check(md:find("## " .. lit.sections.hybrids.title, 1, true) ~= nil, "report has the section")
check(md:find("W/L = 0.50", 1, true) ~= nil, "the report states W/L")
if pb.plot.available() then
  check(core.file_exists(dir .. "/plots/hybrids_induction.png") and core.file_exists(dir .. "/plots/hybrids_lm.png"),
    "one plot per task")
end
local claims = pb.csv.read(dir .. "/claims.csv")
check(#claims == 6 * #cfg.hyb_tasks and #res.claims == #claims, #claims .. " claims, six per task")
for _, c in ipairs(claims) do
  check(c.section == "hybrids" and c.published ~= "" and c.measured ~= "", "claim row complete: " .. c.claim)
  check(c.paper == "Yang et al. 2025" or c.paper == "Llama 4" or c.paper == "Gemma 3", "each claim names its paper")
  check(c.verdict == "inconclusive" or c.verdict == "not testable",
    "untrained tiny models give no verdict: " .. c.claim .. " (" .. c.verdict .. ")")
end
-- the evaluation-only temperature: the same training, another evaluation
local runs_csv = pb.csv.read(dir .. "/runs.csv")
local loss = {}
for _, r in ipairs(runs_csv) do loss[r.run] = r.final_loss end
for _, task in ipairs(cfg.hyb_tasks) do
  for s = 1, cfg.seeds do
    local a, b = loss["hyb-" .. task .. "-rnope-swa-s" .. s], loss["hyb-" .. task .. "-rnope-swa+temp-s" .. s]
    check(a ~= nil and a == b, task .. " s" .. s .. ": the evaluation-only temperature trains as RNoPE-SWA")
  end
end
local R = require("posbench.results").open("literature", { root = tmp })
local function ppl(run)
  local out = {}
  for _, m in ipairs(R:load(run).metrics) do if m.kind == "eval" then out[m.length] = m.ppl end end
  return out
end
local base, scaled = ppl("hyb-lm-rnope-swa-s1"), ppl("hyb-lm-rnope-swa+temp-s1")
local far = 2 * cfg.lm_L
check(base[far] and scaled[far] and base[far] ~= scaled[far], "the temperature changes the evaluation beyond L")

-- The sweep writes the same claims ------------------------------------------------
local sweep_root = tmp .. "/sweep"
-- the running executable (build/ or build-sanitize/)
local cmd = string.format("%s sweep literature scale=tiny sections=hybrids --local 2 root=%s >%s/sweep.log 2>&1",
  core._proc.exe(), sweep_root, tmp)
check(os.execute(cmd) == true, "posbench sweep literature sections=hybrids --local 2 runs")
check(checks.read(sweep_root .. "/literature/claims.csv") == checks.read(dir .. "/claims.csv"),
  "the sweep's claims.csv equals the in-process run's")

os.execute("rm -rf '" .. tmp .. "'")
checks.close("test_literature_hybrids")
