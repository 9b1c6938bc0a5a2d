-- The seed article's desirable properties, measured for every encoding
-- ("You could have designed state of the art positional encoding", HF blog,
-- Nov 2024; definitions in docs: metrics.md "Properties named in the seed
-- article"). No training: everything here is a property of the encoding
-- itself, or of an untrained model (the "dog" check).
--
--   Pr1 unique       min ||PE(p) - PE(q)|| over p != q < L, in fp32 and
--                    after casting the table to bf16; distinct rows in bf16;
--                    PE(p) the same inside sequences of different lengths
--   Pr2 linear       least-squares M_k with PE(p+k) = M_k PE(p) (relative
--                    residual), the spread of PE(p).PE(p+k) over p, and the
--                    shift-invariance error of the position score
--   Pr3 generalises  max ||PE|| (or |bias|) up to 4x the training length
--                    over that within it; "no rows" for a learned table
--   Pr4 deterministic same table from two seeds; learnable parameter count
--   Pr5 multi-dim    2D encodings: score variance at fixed (dx, dy) and the
--                    error of an x-only + y-only split
-- plus step smoothness ||PE(p+1) - PE(p)|| (binary "jumps"), the RoFormer
-- long-term decay bound, and the "dog chased another dog" check.
--
-- Run:      posbench run experiments/properties.lua [scale=tiny|default] [key=value ...]
-- Library:  local props = dofile("experiments/properties.lua")
--           local summary = props.run{scale = "tiny", root = "/tmp/r"}
--           (any config key; lists as arrays or comma-separated strings)
-- Results:  <root>/properties/ properties.csv, steps.csv, decay.csv,
--           separability.csv, dog.csv, plots (PNG + SVG) and report.md.
-- Parts:    properties/measure.lua (one encoding's row of the table),
--           properties/sections.lua (the report's sections, in order).

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "experiments"
if not package.path:find(here .. "/?.lua", 1, true) then package.path = here .. "/?.lua;" .. package.path end

local experiment = require "posbench.experiment"
local sections = require "properties.sections"

local M = {}

M.config = {
  scale = "default",
  root = "results",
  encodings = { "none", "integer", "integer_norm", "binary", "sinusoidal", "learned",
                "rope", "xpos", "alibi", "t5", "kerple_log", "fire",
                "rope2d_axial", "rope2d_mixed", "sinusoidal2d" },
  d = 64, heads = 4,
  length = 512,            -- positions 0..length-1 for the table metrics
  distinct_length = 8192,  -- positions for the bf16 distinct count
  train_len = 64,          -- "training length" for Pr3 (learned tables have this many rows)
  generalise_factor = 4,
  k = 8,                   -- offset of the linear relation (also k = 1)
  shift = 1000, shift_samples = 200,
  grid = 16, max_d = 4, bases = 16,          -- 2D separability
  decay_d = 128, decay_bases = { 100, 10000, 500000 }, decay_max = 4096,
  steps_encodings = { "integer", "binary", "sinusoidal", "learned", "rope" },
  steps_length = 256,
  seed = 1,
}

M.scales = {
  tiny = { length = 160, distinct_length = 1024, shift_samples = 50, grid = 10, max_d = 3,
           bases = 6, decay_max = 1024, steps_length = 96, d = 32 },
  default = {},
}

-- Configuration: defaults, then the scale, then the overrides.
local function configure(overrides)
  return experiment.configure("properties", M.config, M.scales, overrides)
end

local say = experiment.sayer("properties")

-- The whole study, into R (its run directory: see experiment.whole_study):
-- the parts of properties/sections.lua in report order.
local function study(cfg, R)
  local rep = pb.report.new("The seed article's properties, per encoding")
  local t0 = pb.now()
  local summary = {}
  rep:para(string.format("Scale `%s`: d = %d, %d heads, table metrics over positions 0..%d, " ..
    "training length %d for Pr3, offset k = %d, shifts up to %d. Encodings act as in " ..
    "`posbench list encodings`; a q/k encoding's PE(p) is T(p) applied to the unit vector " ..
    "(1, ..., 1)/sqrt(d_head) in every head.", cfg.scale, cfg.d, cfg.heads, cfg.length - 1,
    cfg.train_len, cfg.k, cfg.shift))
  local S = { cfg = cfg, R = R, rep = rep, summary = summary }
  for _, part in ipairs(sections.order) do sections[part](S) end
  rep:para(string.format("Took %.1f s.", pb.now() - t0))
  rep:write(R:path("report.md"))
  say("done in %.1f s: %s", pb.now() - t0, R:path("report.md"))
  summary.dog = S.dog_rows
  summary.dir = R.dir
  summary.report = rep  -- lets experiments/article.lua adopt claims and figures
  return summary
end

-- Run when executed as the script (posbench run experiments/properties.lua).
experiment.whole_study(M, "properties", configure, study)

if experiment.is_main(...) then M.run(pb.args) end
return M
