-- Helpers shared by the results library: number formatting, paths, names,
-- file reading, shell quoting and text for the terminal.
local core = require "posbench.core"

local util = {}

-- Shortest decimal form that reads back to exactly the same double
-- (tries 15, 16 then 17 significant digits), so files stay readable and
-- exact. Callers handle NaN and infinities themselves.
function util.float_string(x)
  for digits = 15, 17 do
    local s = string.format("%." .. digits .. "g", x)
    if digits == 17 or tonumber(s) == x then return s end
  end
end

function util.is_nan(x) return x ~= x end
function util.is_finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

-- True when t has exactly the keys 1..n (n >= 1).
function util.is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

-- The text of a regular file (a FIFO, device or directory is refused
-- before it is opened, so nothing blocks). Symbolic links are followed:
-- files below a results root are read with core._rfs.read(root, path).
function util.read_file(path, who)
  local s, err = core._rfs.read(nil, path)
  if not s then error(string.format("%s: cannot read '%s': %s", who or "read", path, err), 3) end
  return s
end

function util.dirname(path)
  local d = path:match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end

function util.basename(path) return path:match("([^/]*)$") end

function util.join(a, b)
  if a == "" or a == "." then return b end
  if a:sub(-1) == "/" then return a .. b end
  return a .. "/" .. b
end

-- Creates the directory that will hold path.
function util.ensure_parent(path)
  local d = util.dirname(path)
  if d ~= "." and d ~= "/" then core.mkdir_p(d) end
end

-- A name used inside a results directory: not empty, not absolute, no '..'
-- or '.' components, no control characters; '/' only when allow_slash.
function util.check_name(name, what, allow_slash)
  if type(name) ~= "string" or name == "" then
    error(string.format("%s must be a non-empty string, got %s", what, tostring(name)), 3)
  end
  local bad
  if name:find("[%c\\]") then bad = "control characters or '\\'"
  elseif not allow_slash and name:find("/", 1, true) then bad = "'/'"
  elseif name:sub(1, 1) == "/" then bad = "a leading '/' (absolute path)"
  else
    for part in (name .. "/"):gmatch("([^/]*)/") do
      if part == ".." or part == "." or part == "" then bad = "an empty, '.' or '..' component" end
    end
  end
  if bad then
    error(string.format("%s '%s' is invalid: it contains %s", what, name, bad), 3)
  end
  return name
end

-- One /bin/sh word ('...', core/quote.h); text with a control character
-- (a newline would split a command line) is an error.
function util.shell_quote(s)
  return core.quote_shell(tostring(s))
end

-- A command line of shell words; the form of every printed hint.
function util.shell_line(words)
  local parts = {}
  for i, w in ipairs(words) do parts[i] = util.shell_quote(w) end
  return table.concat(parts, " ")
end

-- Fails with "what 'text' contains a control character ..." for text that
-- is to reach a command line (a path, a key=value argument).
function util.check_command_text(text, what)
  local t = tostring(text)
  local at = t:find("%c")
  if at then
    error(string.format("%s '%s' contains a control character (byte 0x%02x at offset %d): " ..
      "it cannot be passed on a command line", what, util.printable(t), t:byte(at), at - 1), 0)
  end
  return text
end

-- Text as it may be printed on a terminal: control characters (C0, DEL,
-- C1) and bytes that are not UTF-8 become \xNN or \u{NN}, so text read from
-- results files (failed.json, run names) cannot send escape sequences.
function util.printable(text)
  text = tostring(text)
  local out, i, n = {}, 1, #text
  while i <= n do
    local ok, cp = pcall(utf8.codepoint, text, i)  -- strict: no overlong forms
    if not ok then
      out[#out + 1] = string.format("\\x%02x", text:byte(i))
      i = i + 1
    else
      local len = #utf8.char(cp)
      if cp < 0x20 or cp == 0x7f then out[#out + 1] = string.format("\\x%02x", cp)
      elseif cp >= 0x80 and cp < 0xa0 then out[#out + 1] = string.format("\\u{%x}", cp)
      else out[#out + 1] = text:sub(i, i + len - 1) end
      i = i + len
    end
  end
  return table.concat(out)
end

-- Runs a shell command, returns ok, combined stdout+stderr.
function util.run(cmd)
  local p = io.popen(cmd .. " 2>&1", "r")
  if not p then return false, "cannot start: " .. cmd end
  local out = p:read("a")
  local ok = p:close()
  return ok == true, out
end

-- Path of `target` relative to directory `from_dir` (both must exist or
-- have an existing parent); falls back to the absolute path.
local function absolute(path)
  local r = core.realpath(path)
  if r then return r end
  local parent = core.realpath(util.dirname(path))
  if parent then return util.join(parent, util.basename(path)) end
  return nil
end

function util.relpath(target, from_dir)
  local t, f = absolute(target), absolute(from_dir)
  if not t or not f then return target end
  local tp, fp = {}, {}
  for c in t:gmatch("[^/]+") do tp[#tp + 1] = c end
  for c in f:gmatch("[^/]+") do fp[#fp + 1] = c end
  local i = 1
  while i <= #tp and i <= #fp and tp[i] == fp[i] do i = i + 1 end
  local parts = {}
  for _ = i, #fp do parts[#parts + 1] = ".." end
  for j = i, #tp do parts[#parts + 1] = tp[j] end
  return #parts == 0 and "." or table.concat(parts, "/")
end

return util
