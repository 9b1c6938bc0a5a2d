-- JSON for results files: canonical encoding (sorted keys, exact numbers)
-- so json.encode(config) can be hashed, and a decoder for reading metrics
-- and summaries back.
--
--   json.encode(value, {indent = false}) -> string
--   json.decode(string, {null = nil}) -> value
--   json.array(t), json.object(t)  mark a table's kind (matters when empty)
--   json.null                      sentinel that encodes as null
--
-- Choices:
-- * A table whose keys are exactly 1..n is an array; any other table is an
--   object. An empty table is {} unless marked with json.array. Decoded
--   arrays and objects carry the marks, so they re-encode the same way.
-- * Object keys are sorted (as strings); number keys are written as
--   strings. Keys of other types, cycles, functions and invalid UTF-8 are
--   errors that name the path of the offending value (e.g. config.model.dim).
-- * Integers are written as integers; floats in the shortest form that
--   reads back to the same double, with ".0" added when the form has no
--   '.' or exponent, so a float stays a float after a round trip.
-- * NaN and +-inf have no JSON form: they are written as null (strict
--   readers such as Python's json, jq and browsers accept the file). Pass
--   {nan = "error"} to raise an error instead.
-- * decode turns null into nil in object fields (a field that was NaN
--   reads as missing) and into json.null inside arrays (so positions and
--   the length survive). {null = v} uses v for both, e.g. {null = 0/0}
--   to read numeric data with NaN where the writer had NaN.
local util = require "posbench.util"

local json = {}

local ARRAY = { __jsontype = "array" }
local OBJECT = { __jsontype = "object" }
json.null = setmetatable({}, { __tostring = function() return "null" end, __jsontype = "null" })

function json.array(t) return setmetatable(t or {}, ARRAY) end
function json.object(t) return setmetatable(t or {}, OBJECT) end

local function kind(t)
  local mt = getmetatable(t)
  local k = type(mt) == "table" and rawget(mt, "__jsontype")
  if k then return k end
  return util.is_array(t) and "array" or "object"
end
json.kind = kind

local escapes = {
  ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function number_string(x, opts, where)
  if math.type(x) == "integer" then return string.format("%d", x) end
  if not util.is_finite(x) then
    if opts.nan == "error" then
      error(string.format("json.encode: %s is %s, which JSON cannot represent", where, tostring(x)), 0)
    end
    return "null"
  end
  local s = util.float_string(x)
  if not s:find("[.eE]") then s = s .. ".0" end
  return s
end

local function encode_value(v, opts, out, where, depth, seen)
  local t = type(v)
  if v == nil or v == json.null then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif t == "number" then
    out[#out + 1] = number_string(v, opts, where)
  elseif t == "string" then
    if not utf8.len(v) then
      error(string.format("json.encode: %s is not valid UTF-8", where), 0)
    end
    out[#out + 1] = quote(v)
  elseif t == "table" then
    if seen[v] then error(string.format("json.encode: %s is a cycle", where), 0) end
    seen[v] = true
    local nl, ind, ind_in, colon = "", "", "", ":"
    if opts.indent then
      nl, ind, ind_in, colon = "\n", opts.indent:rep(depth), opts.indent:rep(depth + 1), ": "
    end
    if kind(v) == "array" then
      local n = #v
      if n == 0 then
        out[#out + 1] = "[]"
      else
        out[#out + 1] = "[" .. nl
        for i = 1, n do
          out[#out + 1] = ind_in
          encode_value(v[i], opts, out, where .. "[" .. i .. "]", depth + 1, seen)
          out[#out + 1] = (i < n and "," or "") .. nl
        end
        out[#out + 1] = ind .. "]"
      end
    else
      local keys, names = {}, {}
      for k in pairs(v) do
        local kt = type(k)
        if kt == "string" then
          names[k] = k
        elseif kt == "number" then
          names[k] = math.type(k) == "integer" and string.format("%d", k) or util.float_string(k)
        else
          error(string.format("json.encode: %s has a key of type %s (keys must be strings or numbers)",
            where, kt), 0)
        end
        keys[#keys + 1] = k
      end
      table.sort(keys, function(a, b) return names[a] < names[b] end)
      for i = 2, #keys do
        if names[keys[i]] == names[keys[i - 1]] then
          error(string.format("json.encode: %s has two keys that both read '%s'", where, names[keys[i]]), 0)
        end
      end
      if #keys == 0 then
        out[#out + 1] = "{}"
      else
        out[#out + 1] = "{" .. nl
        for i, k in ipairs(keys) do
          out[#out + 1] = ind_in .. quote(names[k]) .. colon
          local sub = type(k) == "string" and k:match("^[%a_][%w_]*$") and (where .. "." .. k)
            or (where .. "[" .. quote(names[k]) .. "]")
          encode_value(v[k], opts, out, sub, depth + 1, seen)
          out[#out + 1] = (i < #keys and "," or "") .. nl
        end
        out[#out + 1] = ind .. "}"
      end
    end
    seen[v] = nil
  else
    error(string.format("json.encode: %s is a %s, which JSON cannot represent", where, t), 0)
  end
end

function json.encode(value, opts)
  opts = opts or {}
  local o = { nan = opts.nan }
  if opts.indent == true then o.indent = "  "
  elseif type(opts.indent) == "number" then o.indent = (" "):rep(opts.indent)
  elseif type(opts.indent) == "string" then o.indent = opts.indent end
  local out = {}
  encode_value(value, o, out, opts.name or "value", 0, {})
  return table.concat(out)
end

-- Decoder: a recursive-descent parser over byte positions.

local function decode_error(s, pos, msg)
  local line, col = 1, 1
  for i = 1, math.min(pos, #s + 1) - 1 do
    if s:byte(i) == 10 then line, col = line + 1, 1 else col = col + 1 end
  end
  local near = pos <= #s and (" near '" .. s:sub(pos, pos + 15):gsub("%c", " ") .. "'") or " at end of input"
  error(string.format("json.decode: %s at line %d column %d (byte %d)%s", msg, line, col, pos, near), 0)
end

local function skip(s, pos)
  return s:find("[^ \t\r\n]", pos) or #s + 1
end

local unescape = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }

local function parse_string(s, pos)
  -- pos is at the opening quote
  local parts, i = {}, pos + 1
  while true do
    local j = s:find('["\\\0-\31]', i)
    if not j then decode_error(s, pos, "unterminated string") end
    -- The same UTF-8 rule as encode: what decodes can be written back.
    local valid, bad = utf8.len(s, i, j - 1)
    if not valid then decode_error(s, bad, "invalid UTF-8 in string") end
    parts[#parts + 1] = s:sub(i, j - 1)
    local c = s:sub(j, j)
    if c == '"' then return table.concat(parts), j + 1 end
    if c ~= "\\" then decode_error(s, j, "control character in string") end
    local e = s:sub(j + 1, j + 1)
    if unescape[e] then
      parts[#parts + 1] = unescape[e]
      i = j + 2
    elseif e == "u" then
      local hex = s:match("^%x%x%x%x", j + 2)
      if not hex then decode_error(s, j, "bad \\u escape") end
      local cp = tonumber(hex, 16)
      i = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = s:match("^\\u(%x%x%x%x)", i)
        lo = lo and tonumber(lo, 16)
        if not lo or lo < 0xDC00 or lo > 0xDFFF then decode_error(s, j, "unpaired surrogate in \\u escape") end
        cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
        i = i + 6
      elseif cp >= 0xDC00 and cp <= 0xDFFF then
        decode_error(s, j, "unpaired surrogate in \\u escape")
      end
      parts[#parts + 1] = utf8.char(cp)
    else
      decode_error(s, j, "bad escape '\\" .. e .. "'")
    end
  end
end

local parse_value

-- number = -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)?
local function parse_number(s, pos)
  local int = s:match("^-?%d+", pos)
  if not int then decode_error(s, pos, "bad number") end
  if int:match("^-?0%d") then decode_error(s, pos, "bad number (leading zero)") end
  local i = pos + #int
  local frac = s:match("^%.%d+", i)
  if not frac and s:sub(i, i) == "." then decode_error(s, i, "bad number (no digit after '.')") end
  i = i + (frac and #frac or 0)
  local exp = s:match("^[eE][-+]?%d+", i)
  if not exp and s:sub(i, i):match("[eE]") then decode_error(s, i, "bad number (bad exponent)") end
  i = i + (exp and #exp or 0)
  local num = s:sub(pos, i - 1)
  local v
  if frac or exp then
    v = tonumber(num)
  else
    v = math.tointeger(tonumber(num)) or tonumber(num .. ".0")  -- beyond 64 bits: float
  end
  return v, i
end

local function parse_array(s, pos, opts, depth)
  local arr, n = setmetatable({}, ARRAY), 0
  pos = skip(s, pos + 1)
  if s:sub(pos, pos) == "]" then return arr, pos + 1 end
  while true do
    local v
    v, pos = parse_value(s, pos, opts, depth + 1, true)
    n = n + 1
    arr[n] = v
    pos = skip(s, pos)
    local c = s:sub(pos, pos)
    if c == "]" then return arr, pos + 1 end
    if c ~= "," then decode_error(s, pos, "expected ',' or ']' in array") end
    pos = skip(s, pos + 1)
  end
end

local function parse_object(s, pos, opts, depth)
  local obj = setmetatable({}, OBJECT)
  pos = skip(s, pos + 1)
  if s:sub(pos, pos) == "}" then return obj, pos + 1 end
  while true do
    if s:sub(pos, pos) ~= '"' then decode_error(s, pos, "expected a string key in object") end
    local k
    k, pos = parse_string(s, pos)
    pos = skip(s, pos)
    if s:sub(pos, pos) ~= ":" then decode_error(s, pos, "expected ':' after object key") end
    local v
    v, pos = parse_value(s, skip(s, pos + 1), opts, depth + 1)
    obj[k] = v
    pos = skip(s, pos)
    local c = s:sub(pos, pos)
    if c == "}" then return obj, pos + 1 end
    if c ~= "," then decode_error(s, pos, "expected ',' or '}' in object") end
    pos = skip(s, pos + 1)
  end
end

function parse_value(s, pos, opts, depth, in_array)
  if depth > 500 then decode_error(s, pos, "nesting deeper than 500") end
  local c = s:sub(pos, pos)
  if c == "{" then return parse_object(s, pos, opts, depth)
  elseif c == "[" then return parse_array(s, pos, opts, depth)
  elseif c == '"' then return parse_string(s, pos)
  elseif c == "-" or c:match("%d") then return parse_number(s, pos)
  elseif s:sub(pos, pos + 3) == "true" then return true, pos + 4
  elseif s:sub(pos, pos + 4) == "false" then return false, pos + 5
  elseif s:sub(pos, pos + 3) == "null" then
    if in_array and not opts.has_null then return json.null, pos + 4 end
    return opts.null, pos + 4
  end
  decode_error(s, pos, pos > #s and "unexpected end of input" or "unexpected character")
end

function json.decode(s, opts)
  if type(s) ~= "string" then
    error("json.decode: expected a string, got " .. type(s), 2)
  end
  local o = { null = opts and opts.null, has_null = opts ~= nil and opts.null ~= nil }
  local v, pos = parse_value(s, skip(s, 1), o, 0)
  pos = skip(s, pos)
  if pos <= #s then decode_error(s, pos, "trailing characters after the value") end
  return v
end

-- Reads and decodes a whole file; errors name the file.
function json.read(path, opts)
  local text = util.read_file(path, "json.read")
  local ok, v = pcall(json.decode, text, opts)
  if not ok then error(path .. ": " .. v, 2) end
  return v
end

return json
