-- Reports built block by block, rendered to Markdown and to one
-- self-contained HTML file (figures embedded as base64 data URIs).
--
--   local rep = report.new(title)
--   rep:section(title [, level = 2])
--   rep:para(text)          inline `code`, **bold**, *italic*, [text](url)
--   rep:list(items)         bullet list of strings
--   rep:code(text)          preformatted block
--   rep:table(rows, columns, {format=, headers=, caption=})
--       format: "%.3f" (for every float), {col = "%.3f" | function(v, row)},
--               or function(v, col, row) -> string; default: integers as
--               integers, floats with 4 significant digits
--       headers: {col = "Shown title"}
--   rep:figure(image_path, caption)   png, svg, jpg or gif
--   rep:claim{text=, verdict="confirmed"|"contradicted"|"inconclusive"|"untestable", evidence=,
--             section=}   (section: optional tag used by assembled reports)
--   rep:figure(path, caption, {section=})
--   rep:adopt(block)        append a copy of another report's block
--   rep:markdown(dir) -> string       links relative to dir
--   rep:html() -> string
--   rep:write(md_path), rep:write_html(html_path)   atomic; parents made
local core = require "posbench.core"
local util = require "posbench.util"

local report = {}

local Report = {}
Report.__index = Report

local VERDICTS = {
  confirmed = "Confirmed", contradicted = "Contradicted", inconclusive = "Inconclusive",
  untestable = "Not testable at this scale",
}

local function need_string(v, what, level)
  if type(v) ~= "string" then
    error(string.format("%s must be a string, got %s", what, type(v)), level + 1)
  end
  return v
end

function report.new(title)
  need_string(title, "report.new: title", 2)
  return setmetatable({ title = title, blocks = {}, nfig = 0, ntab = 0 }, Report)
end

local function add(self, block)
  self.blocks[#self.blocks + 1] = block
  return self
end

function Report:section(title, level)
  need_string(title, "rep:section: title", 2)
  level = level or 2
  if math.type(level) ~= "integer" or level < 2 or level > 6 then
    error("rep:section: level must be an integer 2..6 (1 is the report title)", 2)
  end
  return add(self, { kind = "section", title = title, level = level })
end

function Report:para(text)
  return add(self, { kind = "para", text = need_string(text, "rep:para: text", 2) })
end

function Report:list(items)
  if type(items) ~= "table" then error("rep:list: items must be an array of strings", 2) end
  for i, it in ipairs(items) do need_string(it, string.format("rep:list: items[%d]", i), 2) end
  return add(self, { kind = "list", items = items })
end

function Report:code(text)
  return add(self, { kind = "code", text = need_string(text, "rep:code: text", 2) })
end

-- Cell text for one value.
local function format_cell(v, col, row, fmt)
  local nonfinite = type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge)
  if type(fmt) == "function" then
    local s = fmt(v, col, row)
    if s ~= nil then return tostring(s) end
  elseif type(fmt) == "table" then
    local f = fmt[col]
    if type(f) == "function" then
      local s = f(v, row)
      if s ~= nil then return tostring(s) end
    elseif type(f) == "string" and type(v) == "number" and not nonfinite then
      return string.format(f, v)
    end
  elseif type(fmt) == "string" and math.type(v) == "float" and not nonfinite then
    return string.format(fmt, v)
  end
  if v == nil then return "" end
  if math.type(v) == "integer" then return string.format("%d", v) end
  if type(v) == "number" then
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
    return string.format("%.4g", v)
  end
  return tostring(v)
end

function Report:table(rows, columns, opts)
  if type(rows) ~= "table" then error("rep:table: rows must be an array of tables", 2) end
  if type(columns) ~= "table" or #columns == 0 then
    error("rep:table: columns must be a non-empty array of column names", 2)
  end
  opts = opts or {}
  local headers, cells, numeric = {}, {}, {}
  for j, c in ipairs(columns) do
    headers[j] = tostring(opts.headers and opts.headers[c] or c)
    numeric[j] = true
  end
  for i, row in ipairs(rows) do
    if type(row) ~= "table" then error(string.format("rep:table: row %d is not a table", i), 2) end
    local line = {}
    for j, c in ipairs(columns) do
      local v = row[c]
      if v ~= nil and type(v) ~= "number" then numeric[j] = false end
      local ok, s = pcall(format_cell, v, c, row, opts.format)
      if not ok then error(string.format("rep:table: row %d column '%s': %s", i, c, s), 2) end
      line[j] = s
    end
    cells[i] = line
  end
  self.ntab = self.ntab + 1
  return add(self, { kind = "table", headers = headers, cells = cells, numeric = numeric,
    caption = opts.caption, number = self.ntab })
end

function Report:figure(path, caption, opts)
  need_string(path, "rep:figure: path", 2)
  if caption ~= nil then need_string(caption, "rep:figure: caption", 2) end
  self.nfig = self.nfig + 1
  -- Resolve now: the working directory may change before writing.
  return add(self, { kind = "figure", path = core.realpath(path) or path, given = path,
    caption = caption, number = self.nfig, section = opts and opts.section })
end

--- rep:adopt(block): append a copy of another report's block (a claim, a
--- figure, a table...), renumbering figures and tables for this report.
--- Used to assemble one report from several studies' reports.
function Report:adopt(block)
  local copy = {}
  for k, v in pairs(block) do copy[k] = v end
  if copy.kind == "figure" then
    self.nfig = self.nfig + 1
    copy.number = self.nfig
  elseif copy.kind == "table" then
    self.ntab = self.ntab + 1
    copy.number = self.ntab
  end
  return add(self, copy)
end

function Report:claim(c)
  if type(c) ~= "table" then error("rep:claim: expected {text=, verdict=, evidence=}", 2) end
  need_string(c.text, "rep:claim: text", 2)
  if not VERDICTS[c.verdict] then
    error(string.format("rep:claim: verdict '%s' is not one of confirmed, contradicted, inconclusive, untestable",
      tostring(c.verdict)), 2)
  end
  if c.evidence ~= nil then need_string(c.evidence, "rep:claim: evidence", 2) end
  return add(self, { kind = "claim", text = c.text, verdict = c.verdict, evidence = c.evidence,
    section = c.section })
end

-- Markdown -----------------------------------------------------------------

local function md_cell(s)
  return (s:gsub("|", "\\|"):gsub("\r?\n", "<br>"))
end

local md = {}

function md.section(b) return string.rep("#", b.level) .. " " .. b.title end
function md.para(b) return b.text end
function md.code(b) return "```\n" .. b.text:gsub("\n$", "") .. "\n```" end

function md.list(b)
  local out = {}
  for i, it in ipairs(b.items) do out[i] = "- " .. it:gsub("\n", "\n  ") end
  return table.concat(out, "\n")
end

function md.table(b)
  local out = {}
  local head, rule = {}, {}
  for j, h in ipairs(b.headers) do
    head[j] = md_cell(h)
    rule[j] = b.numeric[j] and "---:" or "---"
  end
  out[1] = "| " .. table.concat(head, " | ") .. " |"
  out[2] = "| " .. table.concat(rule, " | ") .. " |"
  for _, line in ipairs(b.cells) do
    local cells = {}
    for j, s in ipairs(line) do cells[j] = md_cell(s) end
    out[#out + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  if b.caption then out[#out + 1] = "\n*Table " .. b.number .. ": " .. b.caption .. "*" end
  return table.concat(out, "\n")
end

function md.figure(b, dir)
  local link = util.relpath(b.path, dir):gsub(" ", "%%20")
  local cap = b.caption or util.basename(b.path)
  local alt = cap:gsub("[%[%]]", "")
  return string.format("![%s](%s)\n\n*Figure %d: %s*", alt, link, b.number, cap)
end

function md.claim(b)
  local text = b.text:gsub("\n", "\n> ")
  local out = { string.format("> **%s**: %s", VERDICTS[b.verdict], text) }
  if b.evidence then out[2] = ">\n> Evidence: " .. b.evidence:gsub("\n", "\n> ") end
  return table.concat(out, "\n")
end

function Report:markdown(dir)
  local out = { "# " .. self.title }
  for _, b in ipairs(self.blocks) do out[#out + 1] = md[b.kind](b, dir or ".") end
  return table.concat(out, "\n\n") .. "\n"
end

function Report:write(path)
  need_string(path, "rep:write: path", 2)
  util.ensure_parent(path)
  core.write_atomic(path, self:markdown(util.dirname(path)))
  return path
end

-- HTML ---------------------------------------------------------------------

local function esc(s)
  return (s:gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- Inline Markdown subset on already-escaped text outside code spans.
local function inline_rest(s)
  s = s:gsub("%*%*(.-)%*%*", "<strong>%1</strong>")
  s = s:gsub("%*([^%s*][^*]-)%*", "<em>%1</em>")
  s = s:gsub("%[([^%]]+)%]%(([^%)%s]+)%)", function(text, url)
    if url:match("^%a[%w+.-]*:") and not url:match("^https?:") and not url:match("^mailto:") then
      return text  -- no javascript: and similar links
    end
    return '<a href="' .. url .. '">' .. text .. "</a>"
  end)
  return s
end

local function inline(text)
  local out, pos = {}, 1
  while true do
    local a, b = text:find("`[^`]+`", pos)
    if not a then break end
    out[#out + 1] = inline_rest(esc(text:sub(pos, a - 1)))
    out[#out + 1] = "<code>" .. esc(text:sub(a + 1, b - 1)) .. "</code>"
    pos = b + 1
  end
  out[#out + 1] = inline_rest(esc(text:sub(pos)))
  return table.concat(out)
end

local MIME = { png = "image/png", svg = "image/svg+xml", jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif" }

local html = {}

function html.section(b) return string.format("<h%d>%s</h%d>", b.level, inline(b.title), b.level) end

function html.para(b)
  local out = {}
  for p in (b.text .. "\n\n"):gmatch("(.-)\n%s*\n") do
    if p:find("%S") then out[#out + 1] = "<p>" .. inline(p) .. "</p>" end
  end
  return table.concat(out, "\n")
end

function html.code(b) return "<pre><code>" .. esc(b.text) .. "</code></pre>" end

function html.list(b)
  local out = { "<ul>" }
  for _, it in ipairs(b.items) do out[#out + 1] = "<li>" .. inline(it) .. "</li>" end
  out[#out + 1] = "</ul>"
  return table.concat(out, "\n")
end

function html.table(b)
  local out = { "<table>" }
  if b.caption then out[#out + 1] = "<caption>Table " .. b.number .. ": " .. inline(b.caption) .. "</caption>" end
  local head = {}
  for j, h in ipairs(b.headers) do
    head[j] = (b.numeric[j] and '<th class="num">' or "<th>") .. esc(h) .. "</th>"
  end
  out[#out + 1] = "<thead><tr>" .. table.concat(head) .. "</tr></thead><tbody>"
  for _, line in ipairs(b.cells) do
    local cells = {}
    for j, s in ipairs(line) do
      cells[j] = (b.numeric[j] and '<td class="num">' or "<td>") .. esc(s):gsub("\r?\n", "<br>") .. "</td>"
    end
    out[#out + 1] = "<tr>" .. table.concat(cells) .. "</tr>"
  end
  out[#out + 1] = "</tbody></table>"
  return table.concat(out, "\n")
end

function html.figure(b)
  local ext = (b.path:match("%.(%w+)$") or ""):lower()
  local mime = MIME[ext]
  if not mime then
    error(string.format("figure '%s': unknown image type '.%s' (png, svg, jpg, gif)", b.given, ext), 0)
  end
  local f = io.open(b.path, "rb")
  if not f then error(string.format("figure '%s' cannot be read (embedding it in the HTML report)", b.given), 0) end
  local data = f:read("a")
  f:close()
  local cap = b.caption or util.basename(b.path)
  return string.format('<figure><img src="data:%s;base64,%s" alt="%s"><figcaption>Figure %d: %s</figcaption></figure>',
    mime, core.base64(data), esc(cap), b.number, inline(cap))
end

function html.claim(b)
  local out = { string.format('<div class="claim %s"><span class="verdict">%s</span> %s',
    b.verdict, VERDICTS[b.verdict], inline(b.text)) }
  if b.evidence then out[#out + 1] = '<div class="evidence">Evidence: ' .. inline(b.evidence) .. "</div>" end
  out[#out + 1] = "</div>"
  return table.concat(out, "\n")
end

local CSS = [[
body { font: 16px/1.55 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       color: #1d1d1f; background: #fff; margin: 0; }
main { max-width: 60rem; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.9rem; border-bottom: 2px solid #e5e5e5; padding-bottom: .4rem; }
h2 { font-size: 1.4rem; margin-top: 2.2rem; border-bottom: 1px solid #eee; padding-bottom: .2rem; }
h3, h4, h5, h6 { font-size: 1.1rem; margin-top: 1.6rem; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .88em; }
code { background: #f3f3f5; padding: .1em .3em; border-radius: 3px; }
pre { background: #f6f8fa; padding: .8rem 1rem; overflow-x: auto; border-radius: 4px; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .92rem; }
caption { caption-side: bottom; text-align: left; color: #555; font-style: italic; padding-top: .4rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .35rem .75rem; text-align: left; }
th { border-bottom: 2px solid #bbb; background: #fafafa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fbfbfc; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-style: italic; font-size: .92rem; margin-top: .3rem; }
.claim { border-left: 4px solid #999; background: #f7f7f7; padding: .6rem 1rem; margin: 1rem 0; border-radius: 0 4px 4px 0; }
.claim .verdict { font-weight: 600; margin-right: .4rem; }
.claim.confirmed { border-color: #2e8540; background: #eef7f0; }
.claim.confirmed .verdict { color: #2e8540; }
.claim.contradicted { border-color: #c0392b; background: #fcefed; }
.claim.contradicted .verdict { color: #c0392b; }
.claim.inconclusive { border-color: #b7950b; background: #fdf8e6; }
.claim.inconclusive .verdict { color: #8a6d00; }
.claim.untestable { border-color: #7f8c8d; background: #f2f4f4; }
.claim.untestable .verdict { color: #566573; }
.evidence { color: #444; font-size: .94rem; margin-top: .3rem; }
]]

function Report:html()
  local out = {
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>" .. esc(self.title) .. "</title>",
    "<style>\n" .. CSS .. "</style></head>",
    "<body><main>",
    "<h1>" .. inline(self.title) .. "</h1>",
  }
  for _, b in ipairs(self.blocks) do out[#out + 1] = html[b.kind](b) end
  out[#out + 1] = "</main></body></html>"
  return table.concat(out, "\n") .. "\n"
end

function Report:write_html(path)
  need_string(path, "rep:write_html: path", 2)
  local ok, text = pcall(self.html, self)
  if not ok then error("rep:write_html '" .. path .. "': " .. tostring(text), 2) end
  util.ensure_parent(path)
  core.write_atomic(path, text)
  return path
end

return report
