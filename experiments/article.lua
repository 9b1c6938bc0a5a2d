-- The main experiment (`make run`): "You could have designed state of the
-- art positional encoding" (Hugging Face blog, Nov 2024), measured.
--
-- Runs the four studies — properties, signal-to-noise, precision and length
-- extrapolation (experiments/<name>.lua, each runnable on its own) — then
-- assembles results/article/report.md and report.html in the article's
-- order: the problem, integer, binary, sinusoidal, RoPE, 2D RoPE, and the
-- open questions on precision and signal processing. Every claim is stated,
-- measured, and marked confirmed, contradicted, inconclusive or not testable next to the
-- table or figure that shows it.
--
--   build/posbench run experiments/article.lua [scale=tiny|default] [key=value ...]
--
-- scale=tiny is a smoke run (about a minute); default takes about ten
-- minutes on a 2-core machine.
local config = {
  scale = "default",
  results = "results",     -- results root
  parts = { "properties", "snr", "precision", "extrapolation" },
}

-- Each study's scale for each article scale.
local study_scale = {
  tiny = { properties = "tiny", snr = "tiny", precision = "tiny", extrapolation = "tiny" },
  default = { properties = "default", snr = "default", precision = "default",
              extrapolation = "article" },
}

-- The article's order. `key` matches the section tags of the studies'
-- claims and figures.
local sections = {
  { key = "problem", title = "The problem: attention alone does not see order",
    intro = "Self-attention is permutation-equivariant: without positional information " ..
      "the two occurrences of \"dog\" in \"The dog chased another dog\" get identical " ..
      "outputs. A causal mask, or any positional encoding, breaks the tie." },
  { key = "integer", title = "Integer positions",
    intro = "The first idea: add the position p to every component. Its magnitude grows " ..
      "with p and drowns the token signal (low signal-to-noise ratio); normalising by the " ..
      "sequence length fixes the magnitude but makes the code of a position depend on the " ..
      "length of the sequence." },
  { key = "binary", title = "Binary positions",
    intro = "Writing p in binary keeps values in [0, 1], but the code jumps: consecutive " ..
      "positions can differ in many bits, so the encoding is not smooth." },
  { key = "sinusoidal", title = "Sinusoidal positions",
    intro = "Replacing bits by sinusoids of geometrically spaced frequencies keeps the " ..
      "values bounded, changes smoothly, and makes PE(p+k) a fixed linear map (a rotation " ..
      "per frequency pair) of PE(p)." },
  { key = "rope", title = "Rotary positions (RoPE)",
    intro = "Instead of adding positions, rotate q and k: the score then depends on the " ..
      "relative position only, and a long-term decay bound follows from the frequency " ..
      "schedule. Whether that helps beyond the training length is a separate question, " ..
      "measured below." },
  { key = "extrapolation", title = "Length extrapolation",
    intro = "Train on short sequences, test far beyond: accuracy against length for every " ..
      "encoding, with confidence intervals over seeds, and RoPE's scaling methods." },
  { key = "rope2d", title = "2D RoPE",
    intro = "For images, rotate half the pairs by x and half by y (axial) so the score " ..
      "separates into an x-part and a y-part; learnable mixed frequencies give up that " ..
      "separation to couple the axes." },
  { key = "precision", title = "Open question: precision",
    intro = "Positions, angles and tables computed in bf16 or fp16 lose resolution at large " ..
      "positions; rotated q/k in bf16 break the relative property. Which sites matter?" },
  { key = "signal", title = "Open question: signal processing",
    intro = "How much of a representation or an attention logit is position and how much " ..
      "is content, which RoPE frequencies a trained model uses, and how decodable " ..
      "positions and tokens stay under noise." },
}

local experiment = require "posbench.experiment"

-- sequential: `sweep article --until-decided` adds seeds to the runs behind
-- the undecided claims of the parts that support it (extrapolation).
local M = { name = "article", config = config, sequential = true }
local t_loaded = pb.now()  -- "Total time" of a run in one process

local function as_list(v)
  if type(v) ~= "string" then return v end
  local list = {}
  for x in v:gmatch("[^,]+") do list[#list + 1] = x end
  return list
end

--- Settings: scale, results (the results root) and parts; cfg.root is the
--- results root, cfg.studies[part] = {module =, cfg =} for each part.
function M.configure(overrides)
  local cfg = {}
  for k, v in pairs(config) do cfg[k] = v end
  for k, v in pairs(overrides or {}) do
    if config[k] == nil then
      error(string.format("article.lua: unknown setting '%s' (valid: parts, results, scale)", k), 0)
    end
    cfg[k] = v
  end
  cfg.parts = as_list(cfg.parts)
  local scales = study_scale[cfg.scale]
  if not scales then
    error(string.format("article.lua: unknown scale '%s' (valid: tiny, default)", cfg.scale), 0)
  end
  cfg.root = cfg.results
  cfg.studies = {}
  for _, part in ipairs(cfg.parts) do
    if not scales[part] then
      error(string.format("article.lua: unknown part '%s' (valid: properties, snr, precision, " ..
                          "extrapolation)", part), 0)
    end
    local was = experiment.library_mode
    experiment.library_mode = true  -- load the study without running it
    local study = dofile(pb.source_root() .. "/experiments/" .. part .. ".lua")
    experiment.library_mode = was
    cfg.studies[part] = { module = study, cfg = study.configure { scale = scales[part], root = cfg.root } }
    -- The sequential sweep's first look: the seeds of the sequential part.
    if study.sequential then cfg.seeds = cfg.studies[part].cfg.seeds end
  end
  return cfg
end

-- A sequential sweep's seeds per series (cfg._seeds, keyed "part:series")
-- and look (cfg._sequential), handed to the parts that support them.
local function pass_sequential(cfg, part)
  local s = cfg.studies[part]
  if not s.module.sequential then return end
  local seeds
  if cfg._seeds then
    seeds = {}
    for key, n in pairs(cfg._seeds) do
      local p, series = key:match("^([^:]+):(.+)$")
      if p == part then seeds[series] = n end
    end
  end
  s.cfg._seeds, s.cfg._sequential = seeds, cfg._sequential
end

--- The studies' plans, each run in its study's own results directory.
function M.plan(cfg)
  local plan = {}
  for _, part in ipairs(cfg.parts) do
    local s = cfg.studies[part]
    pass_sequential(cfg, part)
    for _, e in ipairs(s.module.plan(s.cfg)) do
      local entry = {}
      for k, v in pairs(e) do entry[k] = v end
      entry.experiment = s.module.name
      entry.part = part
      plan[#plan + 1] = entry
    end
  end
  return plan
end

function M.announce(cfg, e, i, n)
  io.stderr:write(string.format("\n== article run %d/%d: %s/%s ==\n", i, n, e.part, e.name))
  local s = cfg.studies[e.part]
  if s.cfg.threads then pb.threads(s.cfg.threads) end
end

function M.run_one(cfg, e, R)
  local s = cfg.studies[e.part]
  return s.module.run_one(s.cfg, e, R)
end

-- Each study's collect, on its part of the plan.
local function collect_parts(cfg, plan)
  local summaries = {}
  for _, part in ipairs(cfg.parts) do
    local s = cfg.studies[part]
    local sub = {}
    for _, e in ipairs(plan) do if e.part == part then sub[#sub + 1] = e end end
    pass_sequential(cfg, part)
    summaries[part] = s.module.collect(s.cfg, pb.results(s.module.name, { root = cfg.root }), sub)
  end
  return summaries
end

-- The parts' sequential results as one: their claim lists joined, their
-- series named "part:series".
local function merge_sequential(cfg, summaries)
  local out = { decided = {}, futile = {}, more = {}, final = {}, not_testable = {}, more_series = {} }
  local any = false
  for _, part in ipairs(cfg.parts) do
    local seq = summaries[part].sequential
    if seq then
      any = true
      for _, k in ipairs { "decided", "futile", "more", "final", "not_testable" } do
        for _, id in ipairs(seq[k]) do out[k][#out[k] + 1] = id end
      end
      for _, series in ipairs(seq.more_series) do out.more_series[#out.more_series + 1] = part .. ":" .. series end
    end
  end
  return any and out or nil
end

--- Every study's tables and report, then the article's report assembled
--- from their blocks; in a sequential sweep, with the sequential parts'
--- result (which series want the next look).
function M.collect(cfg, _, plan)
  local summaries = collect_parts(cfg, plan)
  local result = M.assemble(cfg, summaries, t_loaded)
  if cfg._sequential then result.sequential = merge_sequential(cfg, summaries) end
  return result
end

-- Assemble: each section adopts the blocks the studies tagged with its key.
function M.assemble(config, summaries, t0)
  local rep = pb.report.new("You could have designed state of the art positional encoding — measured")
  local verdicts, claims = { confirmed = 0, contradicted = 0, inconclusive = 0, untestable = 0 }, {}
  for _, part in ipairs(config.parts) do
    for _, b in ipairs(summaries[part].report and summaries[part].report.blocks or {}) do
      if b.kind == "claim" then
        verdicts[b.verdict] = verdicts[b.verdict] + 1
        claims[#claims + 1] = { claim = b.text, verdict = b.verdict, study = part }
      end
    end
  end
  rep:para(string.format("Every number below was measured by posbench in this run (scale " ..
    "`%s`, %s). %d claims confirmed, %d contradicted, %d inconclusive, %d not testable at this scale. " ..
    "Claims measured over seeds are tests on per-seed values with error control across each study's " ..
    "claims (the evidence of each names its test, effect, p-values and Holm adjustment). Each study's full " ..
    "report, tables and per-run data are in its own directory under `%s/`.", config.scale,
    os.date("!%Y-%m-%d %H:%M UTC"), verdicts.confirmed, verdicts.contradicted,
    verdicts.inconclusive, verdicts.untestable, config.results))
  rep:table(claims, { "claim", "verdict", "study" }, { caption = "All claims and their verdicts." })
  for _, s in ipairs(sections) do
    rep:section(s.title)
    rep:para(s.intro)
    local adopted = 0
    for _, part in ipairs(config.parts) do
      for _, b in ipairs(summaries[part].report and summaries[part].report.blocks or {}) do
        if b.section == s.key then
          rep:adopt(b)
          adopted = adopted + 1
        end
      end
    end
    if adopted == 0 then rep:para("(Not measured in this run: the study was not part of it.)") end
  end
  rep:section("Where the numbers come from")
  local list = {}
  for _, part in ipairs(config.parts) do
    list[#list + 1] = string.format("`%s`: %s/report.md", part, summaries[part].dir or "?")
  end
  rep:list(list)
  rep:para(string.format("Total time %.0f s.", pb.now() - t0))

  local R = pb.results("article", { root = config.results })
  R:csv("claims.csv", claims, { "claim", "verdict", "study" })
  rep:write(R:path("report.md"))
  rep:write_html(R:path("report.html"))
  print(string.format("\narticle: %d confirmed, %d contradicted, %d inconclusive, %d not testable (%.0f s)",
                      verdicts.confirmed, verdicts.contradicted, verdicts.inconclusive, verdicts.untestable,
                      pb.now() - t0))
  for _, c in ipairs(claims) do print(string.format("  [%s] %s", c.verdict, c.claim)) end
  print("wrote " .. R:path("report.md") .. ", " .. R:path("report.html") .. " and " ..
        R:path("claims.csv"))
  return { dir = R.dir, claims = claims, verdicts = verdicts }
end

--- The whole article in this process: every study's runs, then collect.
function M.run(overrides)
  return require("posbench.sweep").run_inprocess(M, overrides)
end

if experiment.is_main(...) then M.run(pb.args) end
return M
