-- Tests of the results library: json, csv, stats, results, plot, report
-- and the C helpers in posbench.core. Run: build/posbench run tests/lua/test_lualib.lua
local core = require "posbench.core"
local json, csv, stats, plot, report = pb.json, pb.csv, pb.stats, pb.plot, pb.report

local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with
local function close(a, b, tol, msg)
  check(type(a) == "number" and math.abs(a - b) <= tol * math.max(1, math.abs(a), math.abs(b)),
    string.format("%s: got %s, expected %s", msg, tostring(a), tostring(b)), 3)
end
-- Deep equality; NaN equals NaN.
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then return (a ~= a and b ~= b) or (a == b and math.type(a) == math.type(b)) end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
local read = checks.read

local tmp = os.tmpname()
os.remove(tmp)
core.mkdir_p(tmp)

-- C helpers ---------------------------------------------------------------
check(core.hash64("") == "cbf29ce484222325", "FNV-1a 64 of the empty string")
check(core.hash64("a") == "af63dc4c8601ec8c", "FNV-1a 64 of 'a'")
check(core.base64("") == "" and core.base64("f") == "Zg==" and core.base64("fo") == "Zm8="
  and core.base64("foo") == "Zm9v" and core.base64("foobar") == "Zm9vYmFy", "base64 (RFC 4648 vectors)")
close(core.t_quantile(0.975, 4), 2.776445105, 1e-8, "t_{0.975,4}")
close(core.t_quantile(0.975, 1), 12.70620474, 1e-8, "t_{0.975,1}")
close(core.t_quantile(0.995, 10), 3.169272673, 1e-8, "t_{0.995,10}")
close(core.t_quantile(0.5, 7), 0.0, 1e-12, "t median")
errors_with("probability", core.t_quantile, 1.0, 3)
errors_with("degrees of freedom", core.t_quantile, 0.9, 0)
core.mkdir_p(tmp .. "/a/b/c")
check(core.file_exists(tmp .. "/a/b/c"), "mkdir_p makes nested directories")
core.mkdir_p(tmp .. "/a/b/c")  -- existing: fine
core.write_atomic(tmp .. "/a/file", "payload\0bytes")
check(read(tmp .. "/a/file") == "payload\0bytes", "write_atomic writes the exact bytes")
errors_with(tmp .. "/a/file", core.mkdir_p, tmp .. "/a/file/sub")
errors_with(tmp .. "/missing/x.txt", core.write_atomic, tmp .. "/missing/x.txt", "x")
local t1 = core.now()
local t2 = core.now()
check(type(t1) == "number" and t2 >= t1, "now() is monotonic")
local m = core.machine()
check(type(m.cpu) == "string" and math.type(m.cores) == "integer" and m.cores >= 1
  and m.memory > 0 and type(m.os) == "string", "machine() fields")
check(type(core.isatty_stderr()) == "boolean", "isatty_stderr is a boolean")

-- json --------------------------------------------------------------------
check(json.encode { b = 1, a = 2, c = { z = true, y = false } } == '{"a":2,"b":1,"c":{"y":false,"z":true}}',
  "keys are sorted at every level")
local t_in_order, t_reversed = {}, {}
for i = 1, 20 do t_in_order["k" .. i] = i end
for i = 20, 1, -1 do t_reversed["k" .. i] = i end
check(json.encode(t_in_order) == json.encode(t_reversed), "encoding does not depend on insertion order")
check(json.encode { 1, 2, 3 } == "[1,2,3]" and json.encode {} == "{}" and json.encode(json.array {}) == "[]",
  "arrays, empty table, marked empty array")
check(json.encode { [1] = "a", [3] = "c" } == '{"1":"a","3":"c"}', "a table with holes is an object")
check(json.encode(3) == "3" and json.encode(3.0) == "3.0" and json.encode(0.1) == "0.1"
  and json.encode(-2.5e-300) == "-2.5e-300", "number forms")
check(json.encode { x = 0 / 0, y = math.huge } == '{"x":null,"y":null}', "NaN and inf become null")
errors_with("value.x is", json.encode, { x = 0 / 0 }, { nan = "error" })
check(json.encode('q"\\\n\t\1/') == '"q\\"\\\\\\n\\t\\u0001/"', "string escapes")
check(json.encode({ a = { 1 } }, { indent = true }) == '{\n  "a": [\n    1\n  ]\n}', "indented output")
errors_with("config.model.act is a function", json.encode, { model = { act = print } }, { name = "config" })
local cyc = {}
cyc.self = cyc
errors_with("cycle", json.encode, cyc)
local doc = {
  name = "rope", lr = 3e-4, steps = 2000, flags = { true, false }, nested = { list = { 1, 2.5, "x" }, empty = {} },
  text = "tab\there \"quoted\" é 😀", neg = -7, tiny = 5e-324, big = 1.7976931348623157e308, third = 1 / 3,
}
local back = json.decode(json.encode(doc))
check(same(back, doc), "json round trip keeps values and integer/float types")
check(same(json.decode(json.encode(doc, { indent = true })), doc), "indented round trip")
check(json.encode(back) == json.encode(doc), "re-encoding a decoded value gives the same text")
local d = json.decode('  {"a": [1, null, 3], "s": "\\u00e9\\ud83d\\ude00", "n": null, "e": 1E3, "m": -0.5}  ')
check(d.a[1] == 1 and d.a[2] == json.null and d.a[3] == 3 and d.n == nil, "null: json.null in arrays, nil in fields")
check(d.s == "é😀" and d.e == 1000.0 and math.type(d.e) == "float" and d.m == -0.5, "escapes and number forms")
check(json.decode("[null]", { null = 0 })[1] == 0, "null option")
errors_with("line 2 column 8", json.decode, '{"a": 1,\n  "b": tru}')
errors_with("trailing characters", json.decode, "[1] 2")
errors_with("leading zero", json.decode, "012")
errors_with("unterminated string", json.decode, '"abc')
errors_with("expected ',' or '}'", json.decode, '{"a":1 "b":2}')

-- csv ---------------------------------------------------------------------
local rows = {
  { name = "plain", n = 1, x = 0.1, note = "a,b", q = 'say "hi"' },
  { name = "007", n = -2, x = 0 / 0, note = "line1\nline2", q = "" },
  { name = " padded ", x = math.huge, note = "1e5", q = "true" },
  { name = "float", n = 3, x = 2.0, note = "nan" },
}
local cols = { "name", "n", "x", "note", "q" }
local csv_path = tmp .. "/t/table.csv"
csv.write(csv_path, rows, cols)
local text = read(csv_path)
check(text:sub(1, 15) == "name,n,x,note,q", "header in column order")
check(text:find('plain,1,0.1,"a,b","say ""hi"""', 1, true) ~= nil, "fields with , and \" are quoted")
check(text:find('"007",-2,nan,', 1, true) ~= nil, "number-like strings quoted, NaN as nan")
local rrows, rcols = csv.read(csv_path)
check(same(rcols, cols), "columns read back")
check(#rrows == #rows, "row count read back")
for i = 1, #rows do
  check(same(rrows[i], rows[i]), "csv row " .. i .. " round trip")
end
local drows = csv.decode("a,b\r\n1,\r\n,x\r\n")
check(#drows == 2 and drows[1].a == 1 and drows[1].b == nil and drows[2].b == "x", "CRLF and empty fields")
errors_with("record 2 has 3 fields", csv.decode, "a,b\n1,2,3\n")
errors_with("column 'a' is a table", csv.write, tmp .. "/bad.csv", { { a = {} } }, { "a" })

-- stats -------------------------------------------------------------------
local s = stats.summary { 1, 2, 3, 4, 5 }
local t4 = core.t_quantile(0.975, 4)
check(s.n == 5, "n")
close(s.mean, 3.0, 1e-15, "mean")
close(s.sd, math.sqrt(2.5), 1e-15, "sample sd")
close(s.se, math.sqrt(0.5), 1e-15, "se")
close(s.lo, 3 - 2.776445105 * math.sqrt(0.5), 1e-8, "CI lo (hand value)")
close(s.hi, 3 + t4 * math.sqrt(0.5), 1e-15, "CI hi (t_quantile)")
check(s.min == 1 and s.max == 5 and s.median == 3 and s.has_ci == true, "min/max/median/has_ci")
local s90 = stats.summary({ 2.0, 4.0, 9.0 }, { level = 0.9 })
close(s90.hi - s90.mean, core.t_quantile(0.95, 2) * s90.sd / math.sqrt(3), 1e-14, "90% interval uses t_{0.95,2}")
local s1 = stats.summary { 7.5 }
check(s1.n == 1 and s1.lo == 7.5 and s1.hi == 7.5 and s1.has_ci == false and s1.sd == 0, "n = 1: no interval")
check(stats.summary({ 1, 0 / 0 }).mean ~= stats.summary({ 1, 0 / 0 }).mean, "NaN propagates")
errors_with("no values", stats.summary, {})
errors_with("values[2] is a string", stats.summary, { 1, "2" })
local res_rows = {
  { enc = "rope", L = 64, acc = 0.9 }, { enc = "alibi", L = 64, acc = 0.8 }, { enc = "rope", L = 8, acc = 1.0 },
  { enc = "rope", L = 64, acc = 0.7 }, { enc = "rope", L = 8, acc = 0.98 },
}
local groups = stats.group(res_rows, { "enc", "L" })
check(#groups == 3 and groups[1].label == "enc=alibi,L=64" and groups[2].label == "enc=rope,L=8"
  and groups[3].label == "enc=rope,L=64" and #groups[3].rows == 2, "group sorts keys (numbers numerically)")
local first = stats.group(res_rows, "enc", { order = "first" })
check(first[1].key.enc == "rope" and #first[1].rows == 4, "group in order of appearance")
local agg, agg_cols = stats.aggregate(res_rows, { "enc", "L" }, { "acc" })
check(agg_cols[1] == "enc" and agg_cols[3] == "acc_mean", "aggregate columns")
close(agg[3].acc_mean, 0.8, 1e-15, "aggregate mean")
close(agg[3].acc_hi, 0.8 + core.t_quantile(0.975, 1) * 0.1, 1e-12, "aggregate CI")

-- results -----------------------------------------------------------------
local R = pb.results("exp/sub", { root = tmp .. "/results" })
check(R.dir == tmp .. "/results/exp/sub" and core.file_exists(R.dir), "results dir created")
local config = { encoding = "rope", seed = 3, lr = 1e-3, model = { dim = 32, heads = 2 }, lengths = { 16, 32 } }
local run = R:run("rope_s3", config)
for i = 1, 3 do run:log { step = i * 10, loss = 1 / i } end
run:summary { acc = 0.95, loss = 0 / 0 }
local rec = json.decode(read(run.dir .. "/config.json"))
check(same(rec.config, config), "config.json holds the config")
check(rec.config_hash == core.hash64(json.encode(config)) and rec.config_hash == run.config_hash, "config hash")
check(rec.seed == 3 and type(rec.git_commit) == "string" and type(rec.git_dirty) == "boolean"
  and rec.time:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$") and rec.machine.cores == m.cores
  and type(rec.posbench_version) == "string", "config.json run facts")
local nlines, last = 0, nil
for line in read(run.dir .. "/metrics.jsonl"):gmatch("[^\n]+") do nlines = nlines + 1; last = json.decode(line) end
check(nlines == 3 and last.step == 30 and math.abs(last.loss - 1 / 3) < 1e-16, "metrics.jsonl lines")
local summ = json.decode(read(run.dir .. "/summary.json"))
check(summ.acc == 0.95 and summ.loss == nil, "summary.json (NaN written as null)")
local loaded = R:load("rope_s3")
check(#loaded.metrics == 3 and loaded.summary.acc == 0.95, "R:load")
check(R:completed("rope_s3", config) ~= nil and R:completed("rope_s3", { seed = 4 }) == nil, "R:completed")
local run2 = R:run("rope_s3", config)
check(not core.file_exists(run2.dir .. "/summary.json") and not core.file_exists(run2.dir .. "/metrics.jsonl"),
  "rerunning a name clears its old metrics and summary")
errors_with("'/'", R.run, R, "a/b", {})
errors_with("'..'", R.run, R, "..", {})
errors_with("config.f is a function", R.run, R, "bad", { f = print })
check(not core.file_exists(R.dir .. "/bad"), "a bad config creates no directory")
R:csv("agg", agg, agg_cols)
check(core.file_exists(R.dir .. "/agg.csv"), "R:csv adds .csv")
R:write("notes/readme.txt", "hello")
check(read(R:path("notes/readme.txt")) == "hello", "R:write and R:path")
errors_with("'..'", R.path, R, "../escape")

-- plot --------------------------------------------------------------------
local pngs = {}
if plot.available() then
  local x, y, lo, hi = {}, {}, {}, {}
  for i = 1, 8 do x[i] = 2 ^ (i + 2); y[i] = 1 / (1 + math.exp(i - 5)); lo[i] = y[i] - 0.05; hi[i] = y[i] + 0.05 end
  local out = plot { path = tmp .. "/plots/acc", title = "accuracy", xlabel = "length", ylabel = "acc",
    logx = 2, yrange = { 0, 1.05 }, series = { { name = "rope_a", x = x, y = y, lo = lo, hi = hi },
      { name = "alibi", x = x, y = hi } }, vlines = { { x = 64, label = "train" } }, hlines = { { y = 0.1, label = "chance" } } }
  local png, svg = read(out.png), read(out.svg)
  check(png and #png > 1000 and png:sub(1, 8) == "\137PNG\r\n\26\n", "plot writes a PNG")
  check(svg and svg:find("<svg", 1, true) ~= nil, "plot writes an SVG")
  check(core.file_exists(tmp .. "/plots/acc.gp") and core.file_exists(tmp .. "/plots/acc.dat"), "script and data kept")
  pngs[1] = out.png
  local hm = plot.heatmap { path = tmp .. "/plots/heat", matrix = { { 1, 0.5 }, { 0.25, 0 } }, title = "map" }
  check((read(hm.png) or ""):sub(2, 4) == "PNG", "heatmap writes a PNG")
  local bars = plot.bars { path = tmp .. "/plots/bars", categories = { "a", "b" },
    series = { { name = "id", values = { 1, 2 }, lo = { 0.5, 1.5 }, hi = { 1.5, 2.5 } }, { name = "ood", values = { 2, 1 } } } }
  check((read(bars.png) or ""):sub(2, 4) == "PNG", "bars writes a PNG")
  errors_with("series[1] 'a'.y has 1 values, expected 2", plot,
    { path = tmp .. "/plots/bad", series = { { name = "a", x = { 1, 2 }, y = { 1 } } } })
  errors_with("bad.gp", plot, { path = tmp .. "/plots/bad", series = { { x = { 1 }, y = { 1 } } }, extra = { "set nonsense 1" } })
else
  print("note: gnuplot is not installed (Debian gnuplot-nox): plot tests skipped")
end

-- report ------------------------------------------------------------------
local image = pngs[1]
if not image then  -- a tiny valid PNG so the report tests run without gnuplot
  image = tmp .. "/plots/dot.png"
  core.mkdir_p(tmp .. "/plots")
  core.write_atomic(image, "\137PNG\r\n\26\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\8\6\0\0\0\31\21\196\137"
    .. "\0\0\0\rIDATx\218c\248\15\0\1\1\1\0\24\221\141\176\0\0\0\0IEND\174B`\130")
end
local rep = report.new("Length extrapolation")
rep:section("Results"):para("RoPE keeps **high** accuracy up to `L = 64` & <then> drops.")
rep:table(agg, { "enc", "L", "acc_mean" }, { format = { acc_mean = "%.3f" }, headers = { acc_mean = "accuracy" } })
rep:figure(image, "Accuracy vs length")
rep:claim { text = "RoPE does not extrapolate.", verdict = "confirmed", evidence = "accuracy 0.12 at 4x" }
errors_with("not one of confirmed", rep.claim, rep, { text = "x", verdict = "maybe" })
local md_path, html_path = tmp .. "/report/report.md", tmp .. "/report/report.html"
rep:write(md_path)
rep:write_html(html_path)
local md, html = read(md_path), read(html_path)
check(md and md:find("# Length extrapolation", 1, true) == 1, "markdown title")
check(md:find("| rope | 64 | 0.800 |", 1, true) ~= nil, "markdown table row with format")
check(md:find("](../plots/", 1, true) ~= nil, "figure link relative to the report")
check(md:find("**Confirmed**: RoPE does not extrapolate.", 1, true) ~= nil, "claim in markdown")
check(html and html:find("data:image/png;base64," .. core.base64(read(image)), 1, true) ~= nil, "image embedded in HTML")
check(html:find("&amp; &lt;then&gt;", 1, true) ~= nil and html:find("<strong>high</strong>", 1, true) ~= nil
  and html:find("<code>L = 64</code>", 1, true) ~= nil, "HTML escaping and inline markup")
check(html:find('<td class="num">0.800</td>', 1, true) ~= nil, "HTML table")
check(html:find('class="claim confirmed"', 1, true) ~= nil, "HTML claim")

checks.close("test_lualib", "files kept in " .. tmp)
os.execute("rm -rf '" .. tmp .. "'")
