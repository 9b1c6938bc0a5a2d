-- Smoke run of the main experiment at tiny scale: every study runs, and the
-- assembled report follows the article's order, states verdicts and embeds
-- its figures.
local checks = dofile("tests/lua/checks.lua")
local check = checks.check
local build = os.getenv("BUILD") or "build"
local root = os.tmpname()
os.remove(root)

local log = root .. ".log"
local ok = os.execute(string.format("%s/posbench run experiments/article.lua scale=tiny results=%s > %s 2>&1",
                                    build, root, log))
check(ok, "article.lua scale=tiny exits 0 (log: " .. log .. ")")

local read = checks.read

local md = read(root .. "/article/report.md") or ""
local html = read(root .. "/article/report.html") or ""
check(#md > 0 and #html > 0, "report.md and report.html written")
local claims = pb.csv.read(root .. "/article/claims.csv")
check(#claims >= 10 and claims[1].verdict ~= nil, "claims.csv lists the claims with verdicts")
local last = 0
for _, title in ipairs { "The problem", "Integer positions", "Binary positions",
                         "Sinusoidal positions", "Rotary positions", "Length extrapolation",
                         "2D RoPE", "Open question: precision", "Open question: signal" } do
  local at = md:find("## " .. title, 1, true)
  check(at ~= nil and at > last, "section '" .. title .. "' present, in the article's order")
  last = at or last
end
local verdicts = 0
for _ in md:gmatch("%*%*Confirmed%*%*") do verdicts = verdicts + 1 end
for _ in md:gmatch("%*%*Contradicted%*%*") do verdicts = verdicts + 1 end
for _ in md:gmatch("%*%*Inconclusive%*%*") do verdicts = verdicts + 1 end
check(verdicts >= 10, "at least 10 claims with verdicts, got " .. verdicts)
check(md:find("%(Not measured") == nil, "every section has measurements")
local figures = select(2, html:gsub("<img src=\"data:image/png;base64,", ""))
check(figures >= 8, "figures embedded in the HTML: " .. figures)
for _, study in ipairs { "properties", "snr", "precision", "extrapolation" } do
  check(read(root .. "/" .. study .. "/report.md") ~= nil, study .. " report written")
end
if checks.failed == 0 then os.execute("rm -rf " .. root .. " " .. log)
else io.stderr:write("kept " .. root .. " and " .. log .. " for inspection\n") end
checks.close("test_article")
