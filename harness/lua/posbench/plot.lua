-- Plots through gnuplot. Each call writes PATH.dat (the data) and PATH.gp
-- (a script that reruns with `gnuplot PATH.gp` inside its directory) next
-- to the images, runs gnuplot, and returns
--   {png = PATH.png, svg = PATH.svg, script = PATH.gp, data = PATH.dat,
--    warnings = gnuplot's messages or nil}
--
-- plot{...} (the module is callable) draws lines:
--   path      output path without extension (parent directories are made)
--   title, xlabel, ylabel            text (no enhanced-text markup)
--   logx, logy                       true (base 10) or a base, e.g. 2
--   xrange, yrange                   {lo, hi}; either may be nil (auto)
--   xtics, ytics                     array of tic positions, or a raw string
--   series = { {name=, x={...}, y={...}, lo={...}, hi={...},
--               style="linespoints"|"lines"|"points", errorbars=false,
--               color="#rrggbb", dash=int, width=number}, ... }
--              lo/hi (optional) draw a translucent band, or error bars with
--              errorbars=true
--   vlines = { {x=, label=, color=}, ... }, hlines = { {y=, label=}, ... }
--   key       "outside right top" (default), any gnuplot key position
--             ("top left", "bottom right", ...), or false for none
--   size      {width, height} in pixels, default {900, 540}
--   formats   default {"png", "svg"}; "pdf" is also accepted
--   extra     array of raw gnuplot commands placed before the plot command
--             (one line each; xtics/ytics given as a string likewise)
--
-- plot.heatmap{path=, title=, matrix={{row 1}, {row 2}, ...}, xlabel=,
--   ylabel=, cblabel=, zrange={lo, hi}, palette="viridis"|"gray"|"diverging"
--   (diverging centres the colour scale on 0), xlabels=, ylabels= (tick
--   labels, e.g. tokens), values=true (print the numbers in the cells),
--   origin="upper" (row 1 at the top, like a matrix; "lower" flips)}
--
-- plot.bars{path=, title=, xlabel=, ylabel=, categories={"a", "b", ...},
--   series={ {name=, values={...}, lo={...}, hi={...}}, ... }, yrange=,
--   logy=, hlines=, key=}: grouped bars, one group per category, with
--   error bars when any series has lo/hi.
--
-- plot.available() -> true when gnuplot can be run.
-- Errors name the script and carry gnuplot's message.
local core = require "posbench.core"
local util = require "posbench.util"

local plot = {}

-- Okabe-Ito colours (distinguishable with colour-vision deficiency), then
-- a few more; after that the cycle repeats with another dash pattern.
plot.colors = {
  "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
  "#000000", "#8C564B", "#7F7F7F", "#BCBD22",
}
local point_types = { 7, 5, 9, 13, 11, 15 }

local FONT = "Sans,11"

-- Every string the script holds goes through q, a gnuplot string
-- expression that evaluates to exactly the text (core/quote.h): single-
-- quoted runs, in which gnuplot expands nothing (no `command`, no @macro,
-- no escape), and control characters and quotes as "\ooo" escapes,
-- joined with '.' on one line. The rest of the script is numbers (num),
-- colours (color_of), a checked key position and the caller's own code
-- (extra=, a string xtics=), each a single line.
local function q(s)
  return core.quote_gnuplot(tostring(s))
end
plot._quote = q  -- for the tests

-- Colours are spliced into the script: "#rrggbb", "#aarrggbb" or a name.
local function color_of(c, what)
  if type(c) ~= "string" or not (c:match("^#%x%x%x%x%x%x$") or c:match("^#%x%x%x%x%x%x%x%x$")
      or c:match("^%a[%w_]*$")) then
    error(string.format("%s must be \"#rrggbb\" or a colour name, got %s", what,
      type(c) == "string" and q(c) or type(c)), 0)
  end
  return c
end

-- The caller's own gnuplot code (extra=, a string xtics=): one line each,
-- so it cannot smuggle further commands in with a newline.
local function code_line(s, what)
  if type(s) ~= "string" or s:find("%c") then
    error(string.format("%s must be one line of gnuplot code (no control characters), got %s",
      what, type(s) == "string" and q(s) or type(s)), 0)
  end
  return s
end

local function num(x)
  if x ~= x then return "NaN" end
  if x == math.huge then return "Inf" end
  if x == -math.huge then return "-Inf" end
  if math.type(x) == "integer" then return string.format("%d", x) end
  return util.float_string(x)
end

local function check_numbers(arr, what, n)
  if type(arr) ~= "table" then error(string.format("%s must be an array of numbers", what), 0) end
  if n and #arr ~= n then
    error(string.format("%s has %d values, expected %d", what, #arr, n), 0)
  end
  for i = 1, #arr do
    if type(arr[i]) ~= "number" then
      error(string.format("%s[%d] is a %s, expected a number", what, i, type(arr[i])), 0)
    end
  end
end

local function range(r, what)
  if r == nil then return nil end
  if type(r) ~= "table" then error(what .. " must be {lo, hi}", 0) end
  local lo = r[1] ~= nil and num(r[1]) or "*"
  local hi = r[2] ~= nil and num(r[2]) or "*"
  return "[" .. lo .. ":" .. hi .. "]"
end

local function tics(t, axis)
  if t == nil then return nil end
  if type(t) == "string" then return "set " .. axis .. " " .. code_line(t, axis) end
  local parts = {}
  for i, v in ipairs(t) do
    if type(v) == "table" then parts[i] = q(v[2]) .. " " .. num(v[1]) else parts[i] = num(v) end
  end
  return "set " .. axis .. " (" .. table.concat(parts, ", ") .. ")"
end

local gnuplot_ok
function plot.available()
  if gnuplot_ok == nil then gnuplot_ok = util.run("command -v gnuplot >/dev/null") end
  return gnuplot_ok
end

-- Settings shared by every kind of plot.
local function common(o)
  local L = {
    "set border 3 lc rgb '#444444'",
    "set tics nomirror out scale 0.6",
    "set grid lt 1 lc rgb '#e4e4e4' lw 1",
    "set grid back",
  }
  if o.title then L[#L + 1] = "set title " .. q(o.title) .. " font ',13'" end
  if o.xlabel then L[#L + 1] = "set xlabel " .. q(o.xlabel) end
  if o.ylabel then L[#L + 1] = "set ylabel " .. q(o.ylabel) end
  if o.key == false then
    L[#L + 1] = "unset key"
  else
    local pos = o.key or "outside right top"
    -- Spliced into the script: words, numbers and "at x,y" on one line.
    if type(pos) ~= "string" or pos:find("[^%w %.,:+-]") then
      error("key must be false or a gnuplot key position (letters, digits, spaces, '.,:+-'; " ..
        "one line), got " .. (type(pos) == "string" and q(pos) or type(pos)), 0)
    end
    L[#L + 1] = "set key " .. pos .. " reverse Left samplen 2.5 spacing 1.2 noautotitle"
  end
  for _, axis in ipairs { "x", "y" } do
    local log = o["log" .. axis]
    if log then
      local base = log == true and 10 or log
      if type(base) ~= "number" or base <= 1 then error("log" .. axis .. " must be true or a base > 1", 0) end
      L[#L + 1] = string.format("set logscale %s %s", axis, num(base))
    end
    local r = range(o[axis .. "range"], axis .. "range")
    if r then L[#L + 1] = "set " .. axis .. "range " .. r end
    local t = tics(o[axis .. "tics"], axis .. "tics")
    if t then L[#L + 1] = t end
  end
  for i, v in ipairs(o.vlines or {}) do
    if type(v.x) ~= "number" then error(string.format("vlines[%d].x must be a number", i), 0) end
    local x = num(v.x)
    L[#L + 1] = string.format("set arrow from first %s, graph 0 to first %s, graph 1 nohead lc rgb '%s' dt 2 lw 1.5 back",
      x, x, v.color and color_of(v.color, string.format("vlines[%d].color", i)) or "#666666")
    if v.label then
      L[#L + 1] = string.format("set label %s at first %s, graph 0.97 offset character 0.5,0 left tc rgb '#444444' font ',9' front",
        q(v.label), x)
    end
  end
  for i, h in ipairs(o.hlines or {}) do
    if type(h.y) ~= "number" then error(string.format("hlines[%d].y must be a number", i), 0) end
    local y = num(h.y)
    L[#L + 1] = string.format("set arrow from graph 0, first %s to graph 1, first %s nohead lc rgb '%s' dt 2 lw 1.5 back",
      y, y, h.color and color_of(h.color, string.format("hlines[%d].color", i)) or "#666666")
    if h.label then
      L[#L + 1] = string.format("set label %s at graph 0.01, first %s offset 0,character 0.6 left tc rgb '#444444' font ',9' front",
        q(h.label), y)
    end
  end
  for i, e in ipairs(o.extra or {}) do L[#L + 1] = code_line(e, string.format("extra[%d]", i)) end
  return L
end

local terminals = {
  png = function(w, h) return string.format("set terminal pngcairo noenhanced size %d,%d font '%s' background rgb 'white'", w, h, FONT) end,
  svg = function(w, h) return string.format("set terminal svg noenhanced size %d,%d dynamic font '%s' background rgb 'white'", w, h, FONT) end,
  pdf = function(w, h) return string.format("set terminal pdfcairo noenhanced size %.2fin,%.2fin font '%s'", w / 100, h / 100, FONT) end,
}

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n or 0
end

-- Writes data and script, runs gnuplot, checks the images.
local function render(o, who, data, body)
  local path = o.path
  if type(path) ~= "string" or path == "" then error("path (output path without extension) is required", 0) end
  util.check_command_text(path, "path")  -- gnuplot runs through the shell, in its directory
  if path:match("%.png$") or path:match("%.svg$") then
    error(string.format("path '%s' must not have an extension: the formats option chooses them", path), 0)
  end
  local size = o.size or { 900, 540 }
  local formats = o.formats or { "png", "svg" }
  if #formats == 0 then error("formats is empty", 0) end
  local dir, name = util.dirname(path), util.basename(path)
  util.ensure_parent(path)
  local script = path .. ".gp"
  local datafile = path .. ".dat"

  local L = {
    "# posbench " .. who .. ": rerun with gnuplot and this file in its directory",
    "set encoding utf8",
    "datafile = " .. q(name .. ".dat"),
  }
  for _, line in ipairs(common(o)) do L[#L + 1] = line end
  for _, line in ipairs(body) do L[#L + 1] = line end
  local plot_cmd = table.remove(L)  -- the body ends with its plot command
  local outputs = {}
  for i, fmt in ipairs(formats) do
    local term = terminals[fmt]
    if not term then error(string.format("formats[%d] '%s' is not one of png, svg, pdf", i, tostring(fmt)), 0) end
    outputs[fmt] = path .. "." .. fmt
    L[#L + 1] = term(size[1], size[2])
    L[#L + 1] = "set output " .. q(name .. "." .. fmt)
    L[#L + 1] = i == 1 and plot_cmd or "replot"
    L[#L + 1] = "set output"
  end
  core.write_atomic(datafile, data)
  core.write_atomic(script, table.concat(L, "\n") .. "\n")

  if not plot.available() then
    error(string.format("gnuplot is not installed (Debian package gnuplot-nox); the script is '%s'", script), 0)
  end
  for _, out in pairs(outputs) do os.remove(out) end
  local ok, msg = util.run("cd " .. util.shell_quote(dir) .. " && gnuplot " .. util.shell_quote(name .. ".gp"))
  msg = msg:gsub("%s+$", "")
  if not ok then
    error(string.format("gnuplot failed on '%s':\n%s", script, msg), 0)
  end
  for fmt, out in pairs(outputs) do
    if file_size(out) == 0 then
      error(string.format("gnuplot ran '%s' but wrote no %s output '%s'%s", script, fmt, out,
        msg ~= "" and (":\n" .. msg) or ""), 0)
    end
  end
  outputs.script, outputs.data = script, datafile
  outputs.warnings = msg ~= "" and msg or nil
  return outputs
end

-- Runs f(o), turning its errors into errors at the caller's line.
local function api(who, f)
  return function(o)
    if type(o) ~= "table" then error(who .. ": expected a table of options", 2) end
    local ok, res = pcall(f, o)
    if not ok then error(who .. ": " .. tostring(res), 2) end
    return res
  end
end

local function style_of(i)
  local nc = #plot.colors
  return plot.colors[(i - 1) % nc + 1], point_types[(i - 1) % #point_types + 1], (i - 1) // nc + 1
end

local function lines(o)
  local series = o.series
  if type(series) ~= "table" or #series == 0 then error("series must be a non-empty array", 0) end
  local data, bands, curves = {}, {}, {}
  for i, s in ipairs(series) do
    local what = string.format("series[%d]%s", i, s.name and (" '" .. tostring(s.name) .. "'") or "")
    check_numbers(s.x, what .. ".x")
    local n = #s.x
    check_numbers(s.y, what .. ".y", n)
    local has_band = s.lo ~= nil or s.hi ~= nil
    if has_band then
      check_numbers(s.lo, what .. ".lo", n)
      check_numbers(s.hi, what .. ".hi", n)
    end
    local block = { "# " .. (s.name and tostring(s.name):gsub("%c", " ") or ("series " .. i)) }
    for j = 1, n do
      block[#block + 1] = has_band and (num(s.x[j]) .. " " .. num(s.y[j]) .. " " .. num(s.lo[j]) .. " " .. num(s.hi[j]))
        or (num(s.x[j]) .. " " .. num(s.y[j]))
    end
    data[#data + 1] = table.concat(block, "\n")

    local color, pt, dash = style_of(i)
    color = s.color and color_of(s.color, what .. ".color") or color
    dash = s.dash or dash
    dash = math.tointeger(dash)
    if not dash then error(what .. ".dash must be an integer", 0) end
    if s.width ~= nil and type(s.width) ~= "number" then error(what .. ".width must be a number", 0) end
    local idx = string.format("datafile index %d", i - 1)
    local title = s.name and ("title " .. q(s.name)) or "notitle"
    local style = s.style or "linespoints"
    if style ~= "linespoints" and style ~= "lines" and style ~= "points" then
      error(string.format("%s.style '%s' is not one of linespoints, lines, points", what, tostring(style)), 0)
    end
    if has_band and not s.errorbars then
      bands[#bands + 1] = string.format("%s using 1:3:4 with filledcurves fc rgb '%s' fs transparent solid 0.18 noborder notitle",
        idx, color)
    end
    local ps = n > 60 and 0.45 or 0.8
    local spec = string.format("%s using 1:2 with %s lc rgb '%s' lw %s dt %d", idx, style, color, num(s.width or 2), dash)
    if style ~= "lines" then spec = spec .. string.format(" pt %d ps %s", pt, num(ps)) end
    curves[#curves + 1] = spec .. " " .. title
    if has_band and s.errorbars then
      curves[#curves + 1] = string.format("%s using 1:2:3:4 with yerrorbars lc rgb '%s' pt %d ps %s notitle",
        idx, color, pt, num(ps))
    end
  end
  for _, c in ipairs(curves) do bands[#bands + 1] = c end
  local body = { "plot " .. table.concat(bands, ", \\\n     ") }
  return render(o, "plot", table.concat(data, "\n\n\n") .. "\n", body)
end

local palettes = {
  viridis = "set palette defined (0 '#440154', 1 '#46327e', 2 '#365c8d', 3 '#277f8e', 4 '#1fa187', 5 '#4ac16d', 6 '#a0da39', 7 '#fde725')",
  gray = "set palette defined (0 '#ffffff', 1 '#000000')",
  diverging = "set palette defined (0 '#2166ac', 1 '#67a9cf', 2 '#f7f7f7', 3 '#ef8a62', 4 '#b2182b')",
}

local function label_tics(labels, axis, n)
  if labels == nil then return nil end
  if #labels ~= n then error(string.format("%slabels has %d entries, the matrix has %d", axis, #labels, n), 0) end
  local parts = {}
  for i, l in ipairs(labels) do parts[i] = q(l) .. " " .. (i - 1) end
  local rot = (axis == "x" and n > 8) and " rotate by 90 right" or ""
  return "set " .. axis .. "tics (" .. table.concat(parts, ", ") .. ")" .. rot .. " font ',9'"
end

local function heatmap(o)
  local m = o.matrix
  if type(m) ~= "table" or #m == 0 then error("matrix must be a non-empty array of rows", 0) end
  local rows, cols = #m, nil
  local lines_, zmin, zmax = {}, math.huge, -math.huge
  for i, row in ipairs(m) do
    cols = cols or #row
    check_numbers(row, string.format("matrix[%d]", i), cols)
    local parts = {}
    for j, v in ipairs(row) do
      parts[j] = num(v)
      if v == v then zmin, zmax = math.min(zmin, v), math.max(zmax, v) end
    end
    lines_[i] = table.concat(parts, " ")
  end
  if cols == 0 then error("matrix rows are empty", 0) end
  local palette = o.palette or "viridis"
  if not palettes[palette] then
    error(string.format("palette '%s' is not one of viridis, gray, diverging", tostring(palette)), 0)
  end
  local origin = o.origin or "upper"
  if origin ~= "upper" and origin ~= "lower" then
    error(string.format("origin '%s' is not one of upper, lower", tostring(origin)), 0)
  end
  local body = {
    palettes[palette],
    "set grid noxtics noytics",
    "set border 15 lc rgb '#444444'",
    "set tics out scale 0.5",
    string.format("set xrange [-0.5:%s]", num(cols - 0.5)),
    origin == "upper" and string.format("set yrange [%s:-0.5]", num(rows - 0.5))
      or string.format("set yrange [-0.5:%s]", num(rows - 0.5)),
    "set size ratio " .. (o.square == false and "0" or num(rows / cols)),
  }
  if o.cblabel then body[#body + 1] = "set cblabel " .. q(o.cblabel) end
  local zr = o.zrange
  if zr then
    body[#body + 1] = "set cbrange " .. range(zr, "zrange")
  elseif palette == "diverging" and zmax >= zmin then
    local a = math.max(math.abs(zmin), math.abs(zmax))
    if a > 0 then body[#body + 1] = string.format("set cbrange [%s:%s]", num(-a), num(a)) end
  end
  local xt = label_tics(o.xlabels, "x", cols)
  local yt = label_tics(o.ylabels, "y", rows)
  if xt then body[#body + 1] = xt end
  if yt then body[#body + 1] = yt end
  local cmd = "plot datafile matrix with image notitle"
  if o.values then
    body[#body + 1] = "set style textbox opaque noborder"
    cmd = cmd .. ", datafile matrix using 1:2:(sprintf('%.2g', $3)) with labels font ',8' tc rgb '#222222' notitle"
  end
  body[#body + 1] = cmd
  o.key = false
  return render(o, "heatmap", table.concat(lines_, "\n") .. "\n", body)
end

local function bars(o)
  local cats, series = o.categories, o.series
  if type(cats) ~= "table" or #cats == 0 then error("categories must be a non-empty array of labels", 0) end
  if type(series) ~= "table" or #series == 0 then error("series must be a non-empty array", 0) end
  local n, any_err = #cats, false
  for i, s in ipairs(series) do
    local what = string.format("series[%d]%s", i, s.name and (" '" .. tostring(s.name) .. "'") or "")
    check_numbers(s.values, what .. ".values", n)
    if s.lo ~= nil or s.hi ~= nil then
      check_numbers(s.lo, what .. ".lo", n)
      check_numbers(s.hi, what .. ".hi", n)
      any_err = true
    end
  end
  -- Category labels go in the script (q), not the data file, whose
  -- quoted strings have no escape for '"'.
  local rows, longest, negative, labels = {}, 0, false, {}
  for c = 1, n do
    local label = tostring(cats[c])
    longest = math.max(longest, #label)
    labels[c] = q(label) .. " " .. (c - 1)
    local parts = { tostring(c - 1) }
    for _, s in ipairs(series) do
      parts[#parts + 1] = num(s.values[c])
      if s.values[c] < 0 then negative = true end
      if any_err then
        parts[#parts + 1] = num(s.lo and s.lo[c] or s.values[c])
        parts[#parts + 1] = num(s.hi and s.hi[c] or s.values[c])
      end
    end
    rows[c] = table.concat(parts, " ")
  end
  local body = {
    "set style data histograms",
    any_err and "set style histogram errorbars gap 1.5 lw 1.2" or "set style histogram clustered gap 1.5",
    "set style fill solid 0.9 border lc rgb '#333333'",
    "set boxwidth 0.9 relative",
    "set grid noxtics",
    "set xtics scale 0" .. (longest > 8 and " rotate by -30 left" or "") .. " (" .. table.concat(labels, ", ") .. ")",
  }
  if not o.yrange and not o.logy and not negative then body[#body + 1] = "set yrange [0:*]" end
  local parts, width = {}, any_err and 3 or 1
  for i, s in ipairs(series) do
    local col = 2 + (i - 1) * width
    local using = any_err and string.format("%d:%d:%d", col, col + 1, col + 2) or tostring(col)
    local color = s.color and color_of(s.color, string.format("series[%d].color", i)) or style_of(i)
    parts[i] = string.format("datafile using %s lc rgb '%s' %s", using, color,
      s.name and ("title " .. q(s.name)) or "notitle")
  end
  body[#body + 1] = "plot " .. table.concat(parts, ", \\\n     ")
  return render(o, "bars", table.concat(rows, "\n") .. "\n", body)
end

plot.lines = api("plot", lines)
plot.heatmap = api("plot.heatmap", heatmap)
plot.bars = api("plot.bars", bars)

return setmetatable(plot, { __call = function(_, o) return plot.lines(o) end })
