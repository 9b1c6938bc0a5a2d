-- Shared plumbing of experiment scripts: a config table with named scales
-- and key=value overrides, and progress lines tagged with the experiment.
--
--   local experiment = require "posbench.experiment"
--   local cfg = experiment.configure("snr", M.config, M.scales, overrides)
--   local say = experiment.sayer("snr")      say("trained %d models", n)
local experiment = {}

--- Merge defaults, then the chosen scale (overrides.scale or
--- defaults.scale), then the overrides. Unknown keys are errors naming the
--- valid ones; list settings accept "a,b,c" strings; numeric settings
--- must be numbers.
function experiment.configure(name, defaults, scales, overrides)
  local cfg = {}
  for k, v in pairs(defaults) do cfg[k] = v end
  overrides = overrides or {}
  local scale = overrides.scale or cfg.scale
  if not scales[scale] then
    local valid = {}
    for s in pairs(scales) do valid[#valid + 1] = s end
    table.sort(valid)
    error(string.format("%s: unknown scale '%s' (valid: %s)", name, tostring(scale),
                        table.concat(valid, ", ")), 0)
  end
  for k, v in pairs(scales[scale]) do cfg[k] = v end
  cfg.scale = scale
  for k, v in pairs(overrides) do
    if defaults[k] == nil then
      local names = {}
      for key in pairs(defaults) do names[#names + 1] = key end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (valid: %s)", name, k,
                          table.concat(names, ", ")), 0)
    end
    if type(defaults[k]) == "table" and type(v) ~= "table" then
      local list = {}
      for item in tostring(v):gmatch("[^,]+") do list[#list + 1] = tonumber(item) or item end
      v = list
    elseif type(defaults[k]) == "number" and type(v) ~= "number" then
      error(string.format("%s: %s=%s must be a number", name, k, tostring(v)), 0)
    end
    cfg[k] = v
  end
  return cfg
end

--- A printf that tags each line with [name] and flushes (progress).
function experiment.sayer(name)
  return function(fmt, ...)
    io.stdout:write("[", name, "] ", string.format(fmt, ...), "\n")
    io.stdout:flush()
  end
end

--- True when the calling file is the script `posbench run` was given (and
--- not loaded with dofile/require by another script such as article.lua):
---   if experiment.is_main(...) then M.run(pb.args) end
function experiment.is_main(...)
  local this = debug.getinfo(2, "S").source:match("([^/@]+)$")
  return select("#", ...) == 0 and type(arg) == "table" and type(arg[0]) == "string"
    and arg[0]:match("([^/]+)$") == this
end

return experiment
