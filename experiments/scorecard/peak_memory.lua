-- Evaluation memory of one model, measured in a process of its own (the
-- scorecard's cost run starts one per encoding, so that no allocation of
-- another model is reused): builds the model of config=FILE.json, then
-- evaluates one problem of its size and prints the resident memory the
-- evaluation added, in KiB: "eval_kb=N".
--   posbench run experiments/scorecard/peak_memory.lua config=FILE.json
local c = pb.json.decode(assert(io.open(assert(pb.args.config, "config=FILE.json is required"), "rb")):read("a"))
if c.proposal_file then dofile(c.proposal_file) end
pb.threads(1)
local task = pb.task("copy", c.topts)
local model = pb.model(c.model)
local function rss_kb()
  local f = assert(io.open("/proc/self/status", "r"))
  local v
  for line in f:lines() do v = v or tonumber(line:match("^VmRSS:%s+(%d+)")) end
  f:close()
  return v
end
local before = rss_kb()
pb.eval(model, task, { lengths = { c.size }, samples = 1, seed = 5 })
print(string.format("eval_kb=%d", math.max(0, pb.peak_rss_kb() - before)))
