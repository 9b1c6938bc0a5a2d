-- CSV tables (RFC 4180: comma separated, "..." quoting, "" for a quote).
--
--   csv.write(path, rows, columns)   atomic; columns (array of names) sets
--                                    the order; default: sorted union of keys
--   csv.encode(rows, columns) -> string
--   csv.read(path) -> rows, columns
--   csv.decode(text) -> rows, columns
--
-- Values: integers as integers, floats in their shortest exact form
-- (with ".0" when it has no '.' or exponent),
-- NaN as "nan", infinities as "inf"/"-inf" (what gnuplot, pandas and R
-- read), booleans as true/false, nil as an empty field. Strings that would
-- read back as something else (numbers, "nan", "", "true") are quoted, so
-- read(write(rows)) gives back the same values: unquoted fields that look
-- like numbers become numbers, true/false become booleans, empty fields
-- become nil, quoted fields stay strings.
local core = require "posbench.core"
local util = require "posbench.util"

local csv = {}

local function looks_special(s)
  return s == "" or tonumber(s) ~= nil or s == "true" or s == "false"
    or s:lower():match("^[-+]?nan$") or s:lower():match("^[-+]?inf$")
end

local function field(v, col, r)
  local t = type(v)
  if v == nil then return "" end
  if t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    local f = util.float_string(v)
    return f:find("[.eE]") and f or f .. ".0"  -- keeps floats floats on reading
  end
  if t == "boolean" then return tostring(v) end
  if t ~= "string" then
    error(string.format("csv: row %d column '%s' is a %s (expected number, string, boolean or nil)",
      r, col, t), 0)
  end
  if v:find('[,"\r\n]') or v:match("^%s") or v:match("%s$") or looks_special(v) then
    return '"' .. v:gsub('"', '""') .. '"'
  end
  return v
end

local function default_columns(rows)
  local seen, cols = {}, {}
  for _, row in ipairs(rows) do
    for k in pairs(row) do
      if type(k) == "string" and not seen[k] then seen[k] = true; cols[#cols + 1] = k end
    end
  end
  table.sort(cols)
  return cols
end

function csv.encode(rows, columns)
  if type(rows) ~= "table" then error("csv: rows must be an array of tables, got " .. type(rows), 2) end
  columns = columns or default_columns(rows)
  if #columns == 0 then error("csv: no columns (pass a columns array)", 2) end
  local lines, head = {}, {}
  for i, c in ipairs(columns) do
    if type(c) ~= "string" then error(string.format("csv: columns[%d] is not a string", i), 2) end
    head[i] = field(c, c, 0)
  end
  lines[1] = table.concat(head, ",")
  for r, row in ipairs(rows) do
    if type(row) ~= "table" then error(string.format("csv: row %d is a %s, expected a table", r, type(row)), 2) end
    local out = {}
    for i, c in ipairs(columns) do out[i] = field(row[c], c, r) end
    lines[#lines + 1] = table.concat(out, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

function csv.write(path, rows, columns)
  local ok, text = pcall(csv.encode, rows, columns)
  if not ok then error(string.format("csv.write '%s': %s", path, text), 2) end
  util.ensure_parent(path)
  core.write_atomic(path, text)
  return path
end

local function convert(s)
  if s == "" then return nil end
  if s == "true" then return true end
  if s == "false" then return false end
  local l = s:lower()
  if l == "nan" or l == "-nan" or l == "+nan" then return 0 / 0 end
  if l == "inf" or l == "+inf" then return math.huge end
  if l == "-inf" then return -math.huge end
  local n = tonumber(s)
  if n and not s:find("^%s") and not s:find("%s$") and not s:find("^0[xX]") then return n end
  return s
end

-- Splits text into records of (value, quoted) fields.
function csv.decode(text, where)
  where = where or "csv"
  local records, rec, pos, len, line = {}, {}, 1, #text, 1
  if text:sub(1, 3) == "\239\187\191" then pos = 4 end  -- UTF-8 BOM
  while pos <= len do
    local c = text:sub(pos, pos)
    local value
    if c == '"' then
      local parts, i = {}, pos + 1
      while true do
        local j = text:find('"', i, true)
        if not j then error(string.format("%s: line %d: unterminated quoted field", where, line), 0) end
        parts[#parts + 1] = text:sub(i, j - 1)
        if text:sub(j + 1, j + 1) == '"' then
          parts[#parts + 1] = '"'
          i = j + 2
        else
          pos = j + 1
          break
        end
      end
      value = table.concat(parts)
      for _ in value:gmatch("\n") do line = line + 1 end
      local nxt = text:sub(pos, pos)
      if nxt ~= "," and nxt ~= "\n" and nxt ~= "\r" and nxt ~= "" then
        error(string.format("%s: line %d: unexpected '%s' after a quoted field", where, line, nxt), 0)
      end
    else
      local j = text:find("[,\r\n]", pos) or len + 1
      value = convert(text:sub(pos, j - 1))
      pos = j
    end
    rec[#rec + 1] = { value }
    local sep = text:sub(pos, pos)
    if sep == "," then
      pos = pos + 1
      if pos > len then rec[#rec + 1] = { nil } end
    else
      if sep == "\r" then pos = pos + 1 end
      if text:sub(pos, pos) == "\n" then pos = pos + 1 end
      records[#records + 1] = rec
      rec = {}
      line = line + 1
    end
  end
  if #rec > 0 then records[#records + 1] = rec end
  if #records == 0 then error(where .. ": empty file (no header line)", 0) end

  local columns = {}
  for i, f in ipairs(records[1]) do
    local name = f[1]
    if name == nil then error(string.format("%s: header column %d is empty", where, i), 0) end
    columns[i] = tostring(name)
  end
  local rows = {}
  for r = 2, #records do
    local rec_r = records[r]
    local blank = #rec_r == 1 and rec_r[1][1] == nil and #columns > 1
    if not blank and #rec_r ~= #columns then
      error(string.format("%s: record %d has %d fields, the header has %d", where, r, #rec_r, #columns), 0)
    end
    if not blank then
      local row = {}
      for i, f in ipairs(rec_r) do row[columns[i]] = f[1] end
      rows[#rows + 1] = row
    end
  end
  return rows, columns
end

function csv.read(path)
  local text = util.read_file(path, "csv.read")
  local ok, rows, columns = pcall(csv.decode, text, path)
  if not ok then error(rows, 2) end
  return rows, columns
end

return csv
