-- Smoke test of the studies: experiments/properties.lua, snr.lua and
-- precision.lua at scale=tiny into a temporary results root (each as its own
-- posbench process, as a user runs them), checking that every promised file
-- exists; the scripts load as modules without running; the pb.metrics
-- binding reports bad arguments by name.
-- Run: build/posbench run tests/lua/test_studies.lua
local core = require "posbench.core"

local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local exe = core.realpath("/proc/self/exe")
local root = core.source_root()
local tmp = os.tmpname()
os.remove(tmp)
core.mkdir_p(tmp)

-- Each script as a separate run ------------------------------------------------
local expected = {
  properties = { "report.md", "properties.csv", "steps.csv", "decay.csv", "separability.csv",
                 "dog.csv" },
  snr = { "report.md", "snr.csv", "models.csv", "terms.csv", "share.csv", "freq_usage.csv",
          "probe.csv" },
  precision = { "report.md", "static.csv", "tables.csv", "drift.csv", "deviation.csv",
                "eval_sites.csv", "offsets.csv", "trained_bf16.csv" },
}
local plots = {
  properties = { "steps", "decay" },
  snr = { "snr", "terms", "share", "freq_usage", "probe_position", "probe_token" },
  precision = { "phase_error", "drift", "deviation", "offsets" },
}
for _, name in ipairs { "properties", "snr", "precision" } do
  local t0 = pb.now()
  local log = tmp .. "/" .. name .. ".log"
  local cmd = string.format("%s run %s scale=tiny root=%s > %s 2>&1", q(exe),
    q(root .. "/experiments/" .. name .. ".lua"), q(tmp), q(log))
  local ok = os.execute(cmd)
  check(ok == true, name .. ".lua exited with an error; see " .. log)
  for _, f in ipairs(expected[name]) do
    check(core.file_exists(tmp .. "/" .. name .. "/" .. f), name .. ": missing " .. f)
  end
  if pb.plot.available() then
    for _, p in ipairs(plots[name]) do
      for _, ext in ipairs { ".png", ".svg" } do
        check(core.file_exists(tmp .. "/" .. name .. "/plots/" .. p .. ext),
          name .. ": missing plot " .. p .. ext)
      end
    end
  end
  local report = io.open(tmp .. "/" .. name .. "/report.md")
  local text = report and report:read("a") or ""
  if report then report:close() end
  check(text:find("Confirmed", 1, true) ~= nil or text:find("Contradicted", 1, true) ~= nil,
    name .. ": the report states verdicts")
  io.stdout:write(string.format("%s: %.1f s\n", name, pb.now() - t0))
end

-- A bad override fails with a message naming it
local log = tmp .. "/bad.log"
local ok = os.execute(string.format("%s run %s scale=tiny root=%s no_such_key=1 > %s 2>&1",
  q(exe), q(root .. "/experiments/properties.lua"), q(tmp), q(log)))
local f = io.open(log)
local msg = f and f:read("a") or ""
if f then f:close() end
check(ok ~= true and msg:find("unknown option 'no_such_key'", 1, true) ~= nil,
  "unknown override is an error naming it: " .. msg)

-- As modules: loading does not run them --------------------------------------
for _, name in ipairs { "properties", "snr", "precision" } do
  local mod = dofile(root .. "/experiments/" .. name .. ".lua")
  check(type(mod) == "table" and type(mod.run) == "function" and type(mod.config) == "table",
    name .. ".lua returns {run = function, config = ...} when loaded")
end

-- pb.metrics argument errors ------------------------------------------------------
errors_with("acts on attention logits only", pb.metrics.table, "alibi", { d = 16 }, { length = 4 })
errors_with("unknown option 'lenght'", pb.metrics.steps, "sinusoidal", { d = 16 }, { lenght = 4 })
errors_with("unknown encoding 'nope'", pb.metrics.table, "nope", {}, {})
errors_with("site 'logits'", pb.metrics.rope_distinct, { format = "bf16", site = "logits" })
errors_with("format= is required", pb.metrics.rope_phase_error, { site = "angles" })
errors_with("d2=", function()
  local m = pb.model { vocab = 8, d = 16, heads = 2, layers = 1, encoding = "rope" }
  local t = pb.task("copy", { max_len = 4, vocab = 4 })
  return pb.metrics.relative_deviation(m, t, {})
end)
local m = pb.model { vocab = 8, d = 16, heads = 2, layers = 1, encoding = "rope", causal = false }
local out = m:forward({ 1, 2, 3 }, { positions = { 5, 6, 7 } })
check(#out.hidden == 3 and #out.hidden[1] == 16 and #out.logits[1] == 8,
  "model:forward returns hidden [T][d] and logits [T][V]")
errors_with("tokens[2]", m.forward, m, { 1, 99 })

os.execute("rm -rf " .. q(tmp))
checks.close("test_studies")
