-- Sequential sweeps (`posbench sweep STUDY --until-decided [--max-seeds N]`):
-- seeds are added in looks (by default cfg.seeds, doubling up to
-- --max-seeds: 5, 10, 20) only to the runs behind claims that are still
-- undecided, and the study decides with a group-sequential rule
-- (pb.verdict.sequential: alpha spending, futility), so its familywise error
-- rate holds over the looks.
--
-- A study takes part by reading cfg._seeds ({series = seeds}, the seeds a
-- look gives each series beyond cfg.seeds) in its plan and cfg._sequential
-- ({looks =, look =}) in its collect, whose result carries
-- `sequential.more_series`: the series whose claims want the next look.
--
-- The state (the looks, the current look, the seeds per series) lives in
-- the study's directory as sequential.json; the sweep derives it again from
-- the runs look by look, and workers and collect read it. It resumes: with
-- --local it goes through the looks in one call; with --commands or
-- --slurm each call prints or submits the current look's runs, and calling
-- it again after they finished takes the look and moves to the next one.
local json = require "posbench.json"
local util = require "posbench.util"
local core = require "posbench.core"
local results = require "posbench.results"

local sequential = {}

local STATE = "sequential.json"

--- Looks from `first` seeds, doubling, the last one max_seeds.
function sequential.looks(first, max_seeds)
  if max_seeds < first then
    error(string.format("--max-seeds %d (or max_seeds=) is below the study's seeds=%d", max_seeds, first), 0)
  end
  local looks, n = {}, first
  while n < max_seeds do looks[#looks + 1], n = n, 2 * n end
  looks[#looks + 1] = max_seeds
  return looks
end

local function same(a, b) return json.encode(a) == json.encode(b) end

local function read_state(R, looks)
  local path = util.join(R.dir, STATE)
  if not core.file_exists(path) then return { looks = looks, look = 1, seeds = {} } end
  local ok, st = pcall(results.read_json, R.root, path)
  if not ok or type(st) ~= "table" or type(st.looks) ~= "table" or math.type(st.look) ~= "integer"
      or type(st.seeds) ~= "table" then
    error(path .. ": not a sequential sweep state (remove it to start the looks over)", 0)
  end
  if not same(st.looks, looks) then
    error(string.format("%s: this sweep's looks are %s, the state's %s (use the same seeds= and --max-seeds, " ..
      "or remove the file to start over)", path, json.encode(looks), json.encode(st.looks)), 0)
  end
  return st
end

--- --max-seeds, or four times the study's seeds.
function sequential.max_seeds(o, cfg)
  -- a study of parts (the article) has seeds only with a part that adds them
  if math.type(cfg.seeds) ~= "integer" then
    error("--until-decided: these settings have no seeds to add (no part whose claims are tested over seeds)", 0)
  end
  return o.max_seeds or 4 * cfg.seeds
end

-- The study's config and plan at the state's look.
local function apply(S, st, H)
  S.cfg._sequential, S.cfg._seeds = { looks = st.looks, look = st.look }, st.seeds
  H.replan(S)
end

-- The saved state (or look 1), checked against this sweep's looks. -> state,
-- the study's results
local function saved_state(S, o, H)
  local R = H.results(S)
  return read_state(R, sequential.looks(S.cfg.seeds, sequential.max_seeds(o, S.cfg))), R
end

--- Runs the looks. S: the sweep (study, cfg, plan); o: parsed options
--- (max_seeds); H: the sweep's steps {results(S), replan(S), execute(S) ->
--- "done" | "pending", collect(S) -> status}. Returns the exit status.
function sequential.main(S, o, H)
  local M = S.M
  if not M.sequential then
    error(string.format("study %s does not support --until-decided", M.name), 0)
  end
  local saved, R = saved_state(S, o, H)
  -- Which series a look gives seeds follows from the runs, so the looks are
  -- walked again from the first (a done look costs one collect): a sweep
  -- resumed after its claims changed (a new rule, a fixed bug) then adds
  -- the seeds they now want instead of trusting the saved state's. The
  -- saved state only has to name the same looks.
  local st = { looks = saved.looks, look = 1, seeds = {} }
  apply(S, st, H)
  local function say(fmt, ...) io.stderr:write(string.format("posbench sweep: " .. fmt .. "\n", ...)) end
  while true do
    say("look %d of %d (seeds %s)", st.look, #st.looks, table.concat(st.looks, ", "))
    if H.execute(S) ~= "done" then
      say(o.action == "slurm" and "the collect job takes look %d and submits the next one"
        or "when these runs have finished, run the same command again to take look %d", st.look)
      return 0
    end
    local status = H.collect(S)
    if status ~= 0 then return status end
    local out = S.result and S.result.sequential
    if not out then error("study " .. M.name .. ": its collect returned no sequential result", 0) end
    say("look %d: %d claims decided, %d futile, %d not testable, %d want more seeds", st.look, #out.decided,
      #out.futile, #out.not_testable, #out.more)
    if #out.more > 0 and #out.more_series == 0 then
      error(string.format("study %s: claims %s want more seeds but name no series to add them to", M.name,
        table.concat(out.more, ", ")), 0)
    end
    if #out.more_series == 0 or st.look == #st.looks then return 0 end
    st.look = st.look + 1
    for _, series in ipairs(out.more_series) do st.seeds[series] = st.looks[st.look] end
    R:write(STATE, json.encode(st) .. "\n")
    apply(S, st, H)
  end
end

--- Applies a saved state to the study (collect --until-decided, --plan,
--- workers): the looks so far, without taking a new one.
function sequential.resume(S, o, H)
  apply(S, saved_state(S, o, H), H)
end

return sequential
