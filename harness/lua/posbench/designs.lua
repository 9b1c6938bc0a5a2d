-- Named per-layer designs (docs/hybrids.md, "Designs by name"): a design
-- turns a depth and a training sequence length into a layer list for
-- pb.model{layers = ...}, so that a study or a sweep takes a hybrid by name
-- where it takes an encoding (encodings=rope,rnope-swa).
--
-- Spans are fractions of the training sequence length T_train, so a design
-- keeps the published ratio W / L at any scale: W = max(2, round(window *
-- T_train)); the Llama 4 temperature's floor_scale likewise (floor).
local D = {}

local registry, order = {}, {}

local function copy(t)
  if type(t) ~= "table" then return t end
  local out = {}
  for k, v in pairs(t) do out[k] = copy(v) end
  return out
end

local function round(x) return math.floor(x + 0.5) end

--- Span W and floor_scale F in tokens of the fractions window and floor of
--- a training sequence of T tokens: W >= 2, F >= 1.
function D.spans(T, window, floor)
  return math.max(2, round(window * T)), math.max(1, round(floor * T))
end

-- Context defaults; every key can be given to pb.design.
D.defaults = { window = 0.5, floor = 0.5, local_base = 10000, global_base = 1000000, temp_scale = 0.1 }

local function rope(base, extra)
  local l = { encoding = "rope", enc = { base = base } }
  for k, v in pairs(extra or {}) do l[k] = v end
  return l
end

--- pb.register_design(name, spec): spec.text (one line), spec.period and
--- spec.globals (layer i, 0-based, is global when i % period >= period -
--- globals; default 4 and 1: the last of every 4), spec.window (default
--- span fraction, over D.defaults.window) and spec.layers(ctx) -> local
--- layer, global layer (tables as in pb.model's list). ctx holds W and F
--- (span and floor_scale in tokens) and the context's keys.
function D.register(name, spec)
  if type(name) ~= "string" or not name:match("^[%w_+%-%.]+$") then
    error("pb.register_design: name must be letters, digits and _ + - . , got " .. tostring(name), 2)
  end
  if type(spec) ~= "table" or type(spec.layers) ~= "function" then
    error("pb.register_design('" .. name .. "'): spec must be a table with a function layers(ctx)", 2)
  end
  local period, globals = spec.period or 4, spec.globals or 1
  if math.type(period) ~= "integer" or math.type(globals) ~= "integer" or period < 1 or globals < 0 or globals > period then
    error(string.format("pb.register_design('%s'): period and globals must be integers with 0 <= globals <= period",
      name), 2)
  end
  if not registry[name] then order[#order + 1] = name end
  registry[name] = { name = name, text = spec.text or name, period = period, globals = globals,
                     window = spec.window, layers = spec.layers }
end

--- pb.list_designs() -> { {name =, text =, period =, globals =}, ... } in registration order.
function D.list()
  local out = {}
  for _, name in ipairs(order) do
    local d = registry[name]
    out[#out + 1] = { name = name, text = d.text, period = d.period, globals = d.globals }
  end
  return out
end

function D.exists(name) return registry[name] ~= nil end

local function names()
  return table.concat(order, ", ")
end

--- pb.design(name, {layers = N, T_train = T, window =, floor =, local_base =,
--- global_base =, temp_scale =}) -> the expanded layer list of N layers.
--- N must hold at least one global layer when the design has one.
function D.layers(name, ctx)
  local d = registry[name]
  if not d then error(string.format("pb.design: unknown design '%s' (valid: %s)", tostring(name), names()), 2) end
  if type(ctx) ~= "table" then error("pb.design('" .. name .. "', ctx): ctx must be a table", 2) end
  local N, T = ctx.layers, ctx.T_train
  if math.type(N) ~= "integer" or N < 1 then
    error(string.format("pb.design('%s'): layers must be a positive integer, got %s", name, tostring(N)), 2)
  end
  if math.type(T) ~= "integer" or T < 1 then
    error(string.format("pb.design('%s'): T_train must be a positive integer, got %s", name, tostring(T)), 2)
  end
  local first_global = d.period - d.globals
  if d.globals > 0 and N <= first_global then
    error(string.format("pb.design('%s'): %d layers hold no global layer (layer i is global when i %% %d >= %d); " ..
      "use layers >= %d", name, N, d.period, first_global, first_global + 1), 2)
  end
  local c = {}
  for k, v in pairs(D.defaults) do c[k] = v end
  if d.window then c.window = d.window end
  for k, v in pairs(ctx) do c[k] = v end
  c.W, c.F = D.spans(T, c.window, c.floor)
  local loc, glob = d.layers(c)
  local list = {}
  for i = 0, N - 1 do list[#list + 1] = copy(i % d.period >= first_global and glob or loc) end
  return list
end

-- The designs of Yang et al. 2025 (Command A), Llama 4, Gemma 2 and 3 and
-- SWAN-GPT, at 3 local : 1 global unless the anchor says otherwise.
D.register("rnope-swa", { text = "RNoPE-SWA: 3 RoPE layers with window W, 1 global NoPE layer (Command A)",
  layers = function(c) return rope(c.local_base, { window = c.W }), { encoding = "none" } end })
D.register("rope-swa", { text = "all-RoPE, window W in every layer", period = 1, globals = 0,
  layers = function(c) local l = rope(c.local_base, { window = c.W }); return l, l end })
D.register("rnope-swa+temp", { text = "RNoPE-SWA with Llama 4's temperature on the NoPE layer at evaluation only",
  layers = function(c)
    return rope(c.local_base, { window = c.W }), { encoding = "none",
      temperature = { rule = "log", scale = c.temp_scale, floor_scale = c.F, at = "eval" } }
  end })
D.register("rnope-swa+temp-train", { text = "RNoPE-SWA with the same temperature in training and evaluation",
  layers = function(c)
    return rope(c.local_base, { window = c.W }), { encoding = "none",
      temperature = { rule = "log", scale = c.temp_scale, floor_scale = c.F, at = "always" } }
  end })
D.register("swa-global-rope", { text = "3 RoPE layers with window W, 1 global RoPE layer, one base (Gemma 2's single base)",
  layers = function(c) return rope(c.local_base, { window = c.W }), rope(c.local_base) end })
D.register("gemma-split", { text = "3 RoPE layers with window W, 1 global RoPE layer with a raised base (Gemma 3's split)",
  layers = function(c) return rope(c.local_base, { window = c.W }), rope(c.global_base) end })
D.register("gemma2", { text = "Gemma 2: 1 local : 1 global, RoPE everywhere, logit soft-cap 50",
  period = 2, layers = function(c) return rope(c.local_base, { window = c.W, softcap = 50 }), rope(c.local_base, { softcap = 50 }) end })
D.register("gemma3", { text = "Gemma 3: 5 local (window L/8) : 1 global, bases 10k / 1M, QK-norm with weights before RoPE",
  period = 6, window = 1 / 8,
  layers = function(c)
    local q = { qk_norm = "pre", qk_norm_weight = true }
    local l, g = rope(c.local_base, { window = c.W }), rope(c.global_base)
    for k, v in pairs(q) do l[k], g[k] = v, v end
    return l, g
  end })
D.register("llama4", { text = "Llama 4 iRoPE: 3 chunked RoPE (chunk L/8, base 500k, QK-norm after RoPE) : 1 global NoPE " ..
    "with the log temperature (floor_scale = chunk)", window = 1 / 8,
  layers = function(c)
    return rope(500000, { chunk = c.W, qk_norm = "post", qk_norm_eps = 1e-5 }), { encoding = "none",
      temperature = { rule = "log", scale = c.temp_scale, floor_scale = c.W } }
  end })
D.register("swan", { text = "SWAN-GPT: 1 RoPE layer with window L/16 : 1 global NoPE layer with log(n)/log(L) " ..
    "query scaling at evaluation", period = 2, window = 1 / 16,
  layers = function(c)
    return rope(c.local_base, { window = c.W }), { encoding = "none",
      temperature = { rule = "length", scale = 1 / math.log(math.max(2, c.T_train)), at = "eval" } }
  end })

return D
