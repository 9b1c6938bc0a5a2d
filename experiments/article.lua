-- The main experiment (`make run`): "You could have designed state of the
-- art positional encoding" (Hugging Face blog, Nov 2024), measured.
--
-- Runs the four studies — properties, signal-to-noise, precision and length
-- extrapolation (experiments/<name>.lua, each runnable on its own) — then
-- assembles results/article/report.md and report.html in the article's
-- order: the problem, integer, binary, sinusoidal, RoPE, 2D RoPE, and the
-- open questions on precision and signal processing. Every claim is stated,
-- measured, and marked confirmed, contradicted or inconclusive next to the
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

local function as_list(v)
  if type(v) ~= "string" then return v end
  local list = {}
  for x in v:gmatch("[^,]+") do list[#list + 1] = x end
  return list
end

for k, v in pairs(pb.args) do
  if config[k] == nil then
    error(string.format("article.lua: unknown setting '%s' (valid: parts, results, scale)", k), 0)
  end
  config[k] = v
end
config.parts = as_list(config.parts)
local scales = study_scale[config.scale]
if not scales then
  error(string.format("article.lua: unknown scale '%s' (valid: tiny, default)", config.scale), 0)
end

local t0 = pb.now()
local root = pb.source_root()
local summaries = {}
for i, part in ipairs(config.parts) do
  if not scales[part] then
    error(string.format("article.lua: unknown part '%s' (valid: properties, snr, precision, " ..
                        "extrapolation)", part), 0)
  end
  io.stderr:write(string.format("\n== article part %d/%d: %s (scale %s) ==\n", i,
                                #config.parts, part, scales[part]))
  local study = dofile(root .. "/experiments/" .. part .. ".lua")
  summaries[part] = study.run { scale = scales[part], root = config.results }
end

-- Assemble: each section adopts the blocks the studies tagged with its key.
local rep = pb.report.new("You could have designed state of the art positional encoding — measured")
local verdicts, claims = { confirmed = 0, contradicted = 0, inconclusive = 0 }, {}
for _, part in ipairs(config.parts) do
  for _, b in ipairs(summaries[part].report and summaries[part].report.blocks or {}) do
    if b.kind == "claim" then
      verdicts[b.verdict] = verdicts[b.verdict] + 1
      claims[#claims + 1] = { claim = b.text, verdict = b.verdict, study = part }
    end
  end
end
rep:para(string.format("Every number below was measured by posbench in this run (scale " ..
  "`%s`, %s). %d claims confirmed, %d contradicted, %d inconclusive. Each study's full " ..
  "report, tables and per-run data are in its own directory under `%s/`.", config.scale,
  os.date("!%Y-%m-%d %H:%M UTC"), verdicts.confirmed, verdicts.contradicted,
  verdicts.inconclusive, config.results))
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
print(string.format("\narticle: %d confirmed, %d contradicted, %d inconclusive (%.0f s)",
                    verdicts.confirmed, verdicts.contradicted, verdicts.inconclusive,
                    pb.now() - t0))
for _, c in ipairs(claims) do print(string.format("  [%s] %s", c.verdict, c.claim)) end
print("wrote " .. R:path("report.md") .. ", " .. R:path("report.html") .. " and " ..
      R:path("claims.csv"))
