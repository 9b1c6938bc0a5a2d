-- The sweep's Slurm path: one job array per stage (several runs per array
-- task with --chunk, at most P tasks at once with --max-parallel, arrays
-- split at the cluster's MaxArraySize), each stage after the previous one
-- with afterany (a failed task must not block the rest forever: the runs
-- that need it fail clearly instead), then a collect job after all of
-- them. Array indices map to runs through a task file written at
-- submission (line i+1 = the run ids of array index i), never through plan
-- order, so a later change of the plan cannot shift them.
--
-- Files, under <root>/<study>/: slurm/<stamp>-stage<S>[-<part>].tasks and
-- .sh (the batch script: absolute paths, since a batch job runs a spool
-- copy of it), logs/slurm-<job>_<index>.out, logs/collect-<job>.out.
local core = require "posbench.core"
local util = require "posbench.util"
local json = require "posbench.json"
local proc = core._proc
local rfs = core._rfs

local slurm = {}

local function q(s) return util.shell_quote(s) end

-- A directory as the literal start of a Slurm filename pattern: its '%'
-- doubled, so that Slurm expands only the %A, %a or %j appended to it.
local function pattern_dir(dir)
  return core.quote_slurm_pattern(assert(core.realpath(dir)))
end

-- MaxArraySize of the cluster (array indices are 0 .. MaxArraySize-1).
local function max_array_size()
  local ok, out = util.run("scontrol show config")
  local n = ok and tonumber(out:match("MaxArraySize%s*=%s*(%d+)")) or nil
  return n or 1001
end

local function write_script(R, path, argv)
  local parts = {}
  for _, a in ipairs(argv) do parts[#parts + 1] = q(a) end
  rfs.write(R.root, path, "#!/bin/sh\n# Written by posbench sweep --slurm.\nexec " ..
    table.concat(parts, " ") .. "\n")
  os.execute("chmod +x " .. q(path))
end

-- Runs sbatch (or prints it with --dry-run); returns the job id.
local function sbatch(args, dry_run, fake_id)
  local parts = { "sbatch", "--parsable" }
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  local cmd = table.concat(parts, " ")
  if dry_run then
    print("  " .. cmd)
    return fake_id
  end
  local ok, out = util.run(cmd)
  local id = ok and out:match("^%s*(%d+)") or nil
  if not id then error("sweep --slurm: sbatch failed: " .. cmd .. "\n" .. out, 0) end
  return id
end

-- The unfinished runs of each stage: {{stage=, ids={...}}, ...}.
local function todo_by_stage(S)
  local stages, skipped = {}, {}
  for _, e in ipairs(S.plan) do
    if e.state ~= "running" and require("posbench.sweep").wants_run(S, e) then
      local last = stages[#stages]
      if not last or last.stage ~= e.stage then
        last = { stage = e.stage, ids = {} }
        stages[#stages + 1] = last
      end
      last.ids[#last.ids + 1] = e.id
    elseif e.state ~= "done" then
      skipped[#skipped + 1] = e.id .. " (" .. e.state .. ")"
    end
  end
  return stages, skipped
end

function slurm.submit(S, o, worker_argv)
  local R = require("posbench.sweep").results_of(S.cfg, S.M.name)
  -- Log paths are Slurm filename patterns: a results directory Slurm would
  -- misread is refused before anything is written or submitted.
  local okp, perr = pcall(core.quote_slurm_pattern, R.dir)
  if not okp then
    io.stderr:write(string.format("posbench sweep --slurm: results directory '%s': %s\n",
      util.printable(R.dir), perr))
    return 2
  end
  local stages, skipped = todo_by_stage(S)
  for _, s in ipairs(skipped) do print("not submitted: " .. util.printable(s)) end
  if #stages == 0 then
    print(string.format("nothing to submit: every run of %s is done or running; " ..
      "collect with: posbench collect %s", S.M.name, util.shell_line { S.path, table.unpack(S.argv_args) }))
    return 0
  end
  local chunk, maxsize = o.chunk or 1, max_array_size()
  local dir, logs = R:path("slurm"), R:path("logs")
  rfs.mkdir(R.root, dir)
  rfs.mkdir(R.root, logs)
  local stamp = os.date("!%Y%m%dT%H%M%S") .. "-" .. proc.getpid()
  local all_ids, prev, n_runs, fake = {}, {}, 0, 0
  if o.dry_run then print("dry run: these sbatch commands would be run") end
  for _, st in ipairs(stages) do
    local tasks = {}
    for i = 1, #st.ids, chunk do
      tasks[#tasks + 1] = table.concat({ table.unpack(st.ids, i, math.min(i + chunk - 1, #st.ids)) }, " ")
    end
    n_runs = n_runs + #st.ids
    local this_stage = {}
    local parts = math.ceil(#tasks / maxsize)
    for part = 1, parts do
      local first = (part - 1) * maxsize + 1
      local lines = { table.unpack(tasks, first, math.min(first + maxsize - 1, #tasks)) }
      local base = string.format("%s-stage%d%s", stamp, st.stage, parts > 1 and ("-" .. part) or "")
      local tfile = util.join(dir, base .. ".tasks")
      rfs.write(R.root, tfile, table.concat(lines, "\n") .. "\n")
      local script = util.join(dir, base .. ".sh")
      write_script(R, script, worker_argv(S, { "--array-tasks", core.realpath(tfile) }))
      local array = "0-" .. (#lines - 1) .. (o.max_parallel and ("%" .. o.max_parallel) or "")
      local args = { "--job-name=pb-" .. S.M.name .. "-s" .. st.stage, "--array=" .. array,
                     "--requeue", "--open-mode=append",
                     "--output=" .. util.join(pattern_dir(logs), "slurm-%A_%a.out") }
      if #prev > 0 then args[#args + 1] = "--dependency=afterany:" .. table.concat(prev, ":") end
      for _, a in ipairs(o.sbatch) do args[#args + 1] = a end
      args[#args + 1] = script
      fake = fake + 1
      local id = sbatch(args, o.dry_run, "JOB" .. fake)
      this_stage[#this_stage + 1] = id
      all_ids[#all_ids + 1] = id
      local nr = 0
      for _, l in ipairs(lines) do for _ in l:gmatch("%S+") do nr = nr + 1 end end
      print(string.format("stage %d: job %s, array %s, %d runs in %d tasks (task file %s)", st.stage, id,
        array, nr, #lines, tfile))
    end
    for _, id in ipairs(this_stage) do prev[#prev + 1] = id end
  end
  local cscript = util.join(dir, stamp .. "-collect.sh")
  local cargv = S.collect_argv  -- a sequential sweep: the sweep itself takes the look
  if not cargv then
    cargv = { proc.exe(), "collect", S.path }
    for _, a in ipairs(S.argv_args) do cargv[#cargv + 1] = a end
  end
  write_script(R, cscript, cargv)
  local cargs = { "--job-name=pb-" .. S.M.name .. "-collect", "--dependency=afterany:" .. table.concat(all_ids, ":"),
                  "--output=" .. util.join(pattern_dir(logs), "collect-%j.out") }
  for _, a in ipairs(o.sbatch) do cargs[#cargs + 1] = a end
  cargs[#cargs + 1] = cscript
  local cid = sbatch(cargs, o.dry_run, "JOB" .. (fake + 1))
  if not o.dry_run then
    local rec = { time = os.date("!%Y-%m-%dT%H:%M:%SZ"), stamp = stamp, jobs = all_ids, collect = cid,
                  runs = n_runs }
    local ok, err = rfs.append(R.root, util.join(dir, "submissions.jsonl"), json.encode(rec) .. "\n")
    if not ok then io.stderr:write("posbench sweep: warning: " .. err .. "\n") end
  end
  print(string.format("submitted %d runs of %s in %d array job%s (%s); collect job %s",
    n_runs, S.M.name, #all_ids, #all_ids == 1 and "" or "s", table.concat(all_ids, ", "), cid))
  print("follow:   squeue -j " .. table.concat(all_ids, ",") .. "," .. cid)
  print("          tail -f " .. q(logs) .. "/slurm-*.out")
  print("progress: posbench sweep " .. util.shell_line { S.path, table.unpack(S.argv_args) } .. " --plan")
  print("results:  " .. R.dir .. "/report.md once job " .. cid .. " ends; " ..
        "after preemption or failures, run this same command again: it submits only what is not done")
  return 0
end

--- One array task: the runs on line SLURM_ARRAY_TASK_ID+1 of the task file.
function slurm.array_task(S, o, run_ids)
  local index = tonumber(os.getenv("SLURM_ARRAY_TASK_ID") or "")
  if not index then error("--array-tasks: SLURM_ARRAY_TASK_ID is not set (not a Slurm array task)", 0) end
  local lines = {}
  for line in util.read_file(o.task_file, "--array-tasks"):gmatch("[^\n]+") do lines[#lines + 1] = line end
  local line = lines[index + 1]
  if not line then error(string.format("%s has no line for array index %d", o.task_file, index), 0) end
  local ids = {}
  for id in line:gmatch("%S+") do ids[#ids + 1] = id end
  local R = require("posbench.sweep").results_of(S.cfg, S.M.name)
  local log = R:path(string.format("logs/slurm-%s_%s.out", os.getenv("SLURM_ARRAY_JOB_ID") or "?", index))
  o.log = log
  print(string.format("posbench sweep: Slurm job %s array task %d (restart %s) on %s: %s; log: %s",
    os.getenv("SLURM_ARRAY_JOB_ID") or "?", index, os.getenv("SLURM_RESTART_COUNT") or "0",
    proc.hostname(), table.concat(ids, " "), log))
  return run_ids(S, ids, o)
end

return slurm
