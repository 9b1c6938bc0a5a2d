-- The layer rule of docs/architecture.md, checked on the sources:
--   1. every C file of harness/ and encodings/ belongs to a layer;
--   2. an #include points to the same layer or one below it, never up;
--   3. only the binding and the command line include Lua's headers;
--   4. no file outside encodings/ names a specific encoding (a string
--      literal equal to a registered encoding's name), so whatever the host
--      needs to know about an encoding comes from its type's fields/hooks;
--   5. a C file of harness/ or encodings/ has at most C_MAX_LINES lines,
--      unless its opening comment has a line starting "Long because:" and
--      a reason;
--   6. a Lua function in experiments/ or harness/lua/ (subfolders
--      included) has at most LUA_MAX_LINES lines, from its `function` to
--      its `end`, nested functions included. Lua is measured by a small
--      tokenizer (strings, long brackets and comments skipped) that
--      balances function/if/do/repeat against end/until.
-- A file's layer is its folder (harness/<layer>/file.c) or, while harness/
-- is flat, the first pattern of LAYER_OF_FILE its name matches.
-- Run: build/posbench run tests/lua/test_architecture.lua [root=DIR]
-- (root= checks another tree, e.g. a scratch copy).
local checks = dofile("tests/lua/checks.lua")
local check = checks.check
local root = (pb and pb.args and pb.args.root) or "."

-- Lowest first; a file may include its own layer and the layers before it.
local LAYERS = { "core", "io", "numerics", "encodings", "model", "tasks", "run", "metrics",
                 "bind", "cli" }
local RANK = {}
for i, l in ipairs(LAYERS) do RANK[l] = i end

-- Flat harness/: file name (Lua pattern, whole name) -> layer. First match wins.
local LAYER_OF_FILE = {
  { "main%.c", "cli" }, { "version%.h", "core" },
  { "lua_.*", "bind" },
  { "pb_error%..", "core" }, { "opts%..", "core" }, { "blas.*", "core" },
  { "parallel%.h", "core" }, { "fastmath%.h", "core" }, { "progress%..", "core" },
  { "tensorfile%..", "io" }, { "atomic.*", "io" },
  { "format%..", "numerics" }, { "precision%..", "numerics" },
  { "model.*", "model" }, { "layers%..", "model" }, { "attention%..", "model" },
  { "adamw%..", "model" }, { "batch%..", "model" }, { "positions%..", "model" },
  { "task.*", "tasks" },
  { "train%..", "run" }, { "eval_.*", "run" }, { "diagnostics%..", "run" },
  { "bench%..", "run" },
  { "metrics_.*", "metrics" },
}

-- String literals outside encodings/ that equal an encoding's name but do
-- not name the encoding, or name it for a stated reason: file -> literal -> why.
local ALLOWED_EVERYWHERE = { none = "the word 'none' (no sites, no kernel, an empty list)" }
local ALLOWED_NAMES = {
  ["lua_diag.c"] = { learned = "key of pb.diagnose's table-row results (docs/lua-api.md)",
                     t5 = "key of pb.diagnose's bucket results (docs/lua-api.md)" },
  ["lua_probe.c"] = { integer = "the word 'integer' in a message about 1D positions" },
  ["positions.c"] = { abacus = "the position scheme of that name (digit places)" },
}

local function lines_of(cmd)
  local p = assert(io.popen(cmd))
  local out = {}
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function basename(p) return p:match("([^/]+)$") end

local function layer_of(path)
  if path:match("^encodings/") then return "encodings" end
  local dir = path:match("^harness/([^/]+)/[^/]+$")
  if dir then return RANK[dir] and dir or nil end
  local name = basename(path)
  for _, m in ipairs(LAYER_OF_FILE) do
    if name:match("^" .. m[1] .. "$") then return m[2] end
  end
end

local files = lines_of("cd '" .. root .. "' && find harness encodings -name '*.[ch]' -not -path 'harness/lua/*' | sort")
check(#files > 20, "found the sources (" .. #files .. " files under " .. root .. ")")

-- Every C file has a layer; basenames are unique, so an include resolves by name.
local layer, path_of = {}, {}
for _, f in ipairs(files) do
  local l = layer_of(f)
  check(l ~= nil, f .. " belongs to a layer (add it to LAYER_OF_FILE or move it into harness/<layer>/)")
  layer[f] = l
  local b = basename(f)
  check(path_of[b] == nil, "one file named " .. b .. " (" .. (path_of[b] or "") .. ", " .. f .. ")")
  path_of[b] = f
end

-- Comments and strings out of the way: code only, with literals collected.
local function strip_comments(src)
  src = src:gsub("/%*.-%*/", function(c) return (c:gsub("[^\n]", " ")) end)
  return (src:gsub("//[^\n]*", ""))
end

local up, lua_below, checked = 0, 0, 0
for _, f in ipairs(files) do
  local src = strip_comments(read(root .. "/" .. f))
  local me = layer[f]
  for inc in src:gmatch('#%s*include%s*"([^"]+)"') do
    local target = path_of[basename(inc)]
    check(target ~= nil, f .. ": #include \"" .. inc .. "\" resolves to a project file")
    if target and me and layer[target] then
      checked = checked + 1
      local ok = RANK[layer[target]] <= RANK[me]
      if not ok then up = up + 1 end
      check(ok, string.format("%s (%s) may not include %s (%s): the rule points down only",
                              f, me, target, layer[target]))
    end
  end
  for inc in src:gmatch("#%s*include%s*<([^>]+)>") do
    if inc:match("^lua[%w]*%.h$") or inc:match("^lauxlib%.h$") or inc:match("^lualib%.h$") then
      local ok = me and RANK[me] >= RANK.bind
      if not ok then lua_below = lua_below + 1 end
      check(ok, string.format("%s (%s) includes <%s>: only the binding speaks Lua", f,
                              tostring(me), inc))
    end
  end
end
check(checked > 50, "checked " .. checked .. " project includes")

-- Encoding names: the .name of every type defined in encodings/.
local names = {}
for _, f in ipairs(files) do
  if f:match("^encodings/.*%.c$") then
    for n in read(root .. "/" .. f):gmatch('%.name%s*=%s*"([^"]+)"') do names[n] = true end
  end
end
local count = 0
for _ in pairs(names) do count = count + 1 end
check(count >= 10 and names.rope and names.alibi, "read " .. count .. " encoding names")

local named = 0
for _, f in ipairs(files) do
  if not f:match("^encodings/") then
    local src = strip_comments(read(root .. "/" .. f))
    local allowed = ALLOWED_NAMES[basename(f)] or {}
    for lit in src:gmatch('"([^"\n]*)"') do
      if names[lit] and not allowed[lit] and not ALLOWED_EVERYWHERE[lit] then
        named = named + 1
        check(false, string.format('%s names encoding "%s": ask the encoding type instead '
                                   .. "(a field or hook in encodings/encoding.h)", f, lit))
      end
    end
  end
end
check(up == 0 and lua_below == 0 and named == 0,
      string.format("no upward include (%d), no Lua below the binding (%d), no encoding named "
                    .. "outside encodings/ (%d)", up, lua_below, named))

-- Sizes ----------------------------------------------------------------------
local C_MAX_LINES, LUA_MAX_LINES = 600, 150
local MARKER = "Long because:"

local function count_lines(src)
  local n = select(2, src:gsub("\n", ""))
  if #src > 0 and src:sub(-1) ~= "\n" then n = n + 1 end
  return n
end

-- The file's opening comment: a /* */ block or a run of // lines before
-- any code.
local function opening_comment(src)
  local block = src:match("^%s*/%*(.-)%*/")
  if block then return block end
  local out = {}
  for l in (src .. "\n"):gmatch("([^\n]*)\n") do
    local c = l:match("^%s*//(.*)$")
    if c then out[#out + 1] = c
    elseif l:match("%S") then break end
  end
  return table.concat(out, "\n")
end

-- nil when the C source may be this long, else why not.
local function c_too_long(src)
  local n = count_lines(src)
  if n <= C_MAX_LINES then return nil end
  for l in (opening_comment(src) .. "\n"):gmatch("([^\n]*)\n") do
    local reason = l:match("^[%s%*/]*" .. MARKER .. "%s*(.*)$")
    if reason and reason:match("%S") then return nil end
  end
  return string.format("%d lines (over %d) and no \"%s\" reason in its opening comment",
                       n, C_MAX_LINES, MARKER)
end

-- Lua tokens that matter for block structure: { text, line, name = true
-- for names and keywords }; strings, long brackets, comments and numbers
-- are skipped (strings leave a placeholder). nil, message on a source it
-- cannot read.
local function lua_tokens(src)
  local toks, i, line, n = {}, 1, 1, #src
  if src:sub(1, 1) == "#" then i = src:find("\n", 1, true) or n + 1 end  -- a #! line
  local function skip_long(at)  -- at a "[" opening [==[: position after the close
    local eq = src:match("^%[(=*)%[", at)
    local _, e = src:find("]" .. eq .. "]", at + #eq + 2, true)
    if not e then return nil end
    line = line + select(2, src:sub(at, e):gsub("\n", ""))
    return e + 1
  end
  while i <= n do
    local c = src:sub(i, i)
    if c == "\n" then
      line, i = line + 1, i + 1
    elseif c:match("%s") then
      i = i + 1
    elseif src:sub(i, i + 1) == "--" then
      if src:match("^%[=*%[", i + 2) then
        i = skip_long(i + 2)
        if not i then return nil, "unfinished long comment" end
      else
        i = src:find("\n", i, true) or n + 1
      end
    elseif c == "[" and src:match("^%[=*%[", i) then
      toks[#toks + 1] = { text = "<string>", line = line }
      i = skip_long(i)
      if not i then return nil, "unfinished long string" end
    elseif c == '"' or c == "'" then
      local j, at = i + 1, line
      while src:sub(j, j) ~= c do
        local d = src:sub(j, j)
        if d == "" or d == "\n" then return nil, "unfinished string at line " .. at end
        if d == "\\" then
          local e = src:sub(j + 1, j + 1) == "z" and select(2, src:find("^%s*", j + 2)) + 1 or j + 2
          line = line + select(2, src:sub(j + 1, e - 1):gsub("\n", ""))
          j = e
        else
          j = j + 1
        end
      end
      toks[#toks + 1] = { text = "<string>", line = at }
      i = j + 1
    elseif c:match("[%a_]") then
      local w = src:match("^[%w_]+", i)
      toks[#toks + 1] = { text = w, line = line, name = true }
      i = i + #w
    elseif c:match("%d") or (c == "." and src:sub(i + 1, i + 1):match("%d")) then
      local w = src:match("^%.?%d[%w_%.]*", i)
      while w:match("[eEpP]$") and src:sub(i + #w, i + #w):match("[%+%-]") do  -- 1e-5
        w = w .. src:match("^[%+%-][%w_%.]*", i + #w)
      end
      i = i + #w
    else
      toks[#toks + 1] = { text = c, line = line }
      i = i + 1
    end
  end
  return toks
end

-- Name of the function whose keyword is toks[k]: "function a.b:c",
-- "a.b = function", "local f = function"; else "(anonymous)".
local function function_name(toks, k)
  local parts, j = {}, k + 1
  while toks[j] and (toks[j].name or toks[j].text == "." or toks[j].text == ":") do
    parts[#parts + 1], j = toks[j].text, j + 1
  end
  if #parts == 0 and toks[k - 1] and toks[k - 1].text == "=" then
    j = k - 2
    while toks[j] and (toks[j].name or toks[j].text == ".") and toks[j].text ~= "local" do
      table.insert(parts, 1, toks[j].text)
      j = j - 1
    end
  end
  return #parts > 0 and table.concat(parts) or "(anonymous)"
end

-- Every function of a Lua source: { name, line, length } in order of their
-- end; nil, message when the blocks do not balance.
local OPENS = { ["function"] = true, ["if"] = true, ["do"] = true, ["repeat"] = true }
local function lua_functions(src)
  local toks, err = lua_tokens(src)
  if not toks then return nil, err end
  local open, out = {}, {}
  for k, t in ipairs(toks) do
    if t.name and OPENS[t.text] then
      open[#open + 1] = { kw = t.text, line = t.line,
                          name = t.text == "function" and function_name(toks, k) or nil }
    elseif t.name and (t.text == "end" or t.text == "until") then
      local b = table.remove(open)
      if not b or (t.text == "until") ~= (b.kw == "repeat") then
        return nil, string.format("'%s' at line %d closes no block", t.text, t.line)
      end
      if b.kw == "function" then
        out[#out + 1] = { name = b.name, line = b.line, length = t.line - b.line + 1 }
      end
    end
  end
  if #open > 0 then
    return nil, string.format("'%s' at line %d is never closed", open[#open].kw, open[#open].line)
  end
  return out
end

-- The functions of a list longer than LUA_MAX_LINES: "name at line N: M lines".
local function too_long(fns)
  local out = {}
  for _, f in ipairs(fns) do
    if f.length > LUA_MAX_LINES then
      out[#out + 1] = string.format("%s at line %d: %d lines", f.name, f.line, f.length)
    end
  end
  return out
end

local long_c = 0
for _, f in ipairs(files) do
  local why = c_too_long(read(root .. "/" .. f))
  if why then long_c = long_c + 1 end
  check(why == nil, string.format("%s: %s (split it, or write the reason at its top)", f,
                                  tostring(why)))
end

local lua_files = lines_of("cd '" .. root .. "' && find experiments harness/lua -name '*.lua' | sort")
check(#lua_files > 10, "found the Lua sources (" .. #lua_files .. " files)")
local long_lua, measured = 0, 0
for _, f in ipairs(lua_files) do
  local fns, err = lua_functions(read(root .. "/" .. f))
  check(fns ~= nil, f .. ": cannot measure its functions: " .. tostring(err))
  measured = measured + #(fns or {})
  for _, what in ipairs(fns and too_long(fns) or {}) do
    long_lua = long_lua + 1
    check(false, string.format("%s: function %s (over %d; split it into named parts)", f, what,
                               LUA_MAX_LINES))
  end
end
check(measured > 300, "measured " .. measured .. " Lua functions")
check(long_c == 0 and long_lua == 0,
      string.format("no C file over %d lines without a reason (%d), no Lua function over %d " ..
                    "lines (%d)", C_MAX_LINES, long_c, LUA_MAX_LINES, long_lua))

-- The checks can fail: a made-up upward include and a made-up name are caught.
check(RANK[layer_of("harness/model/model.c")] < RANK[layer_of("harness/bind/lua_model.c")],
      "model sits below the binding")
check(layer_of("harness/core/new_thing.c") == "core" and layer_of("harness/nowhere/x.c") == nil,
      "after the move a file's folder is its layer")
check(names.t5 and not ALLOWED_NAMES["model.c"], "a literal \"t5\" in model.c would be reported")

-- ... and so can the size rules, on made-up sources.
local function body(n, text) return string.rep(text .. "\n", n) end
local c_long = "/* A file.\n */\n" .. body(C_MAX_LINES - 1, "int x;")
check(c_too_long(c_long) ~= nil and c_too_long(body(C_MAX_LINES, "int x;")) == nil,
      "a C file over " .. C_MAX_LINES .. " lines is reported, one of exactly that many is not")
check(c_too_long("/* A file.\n * Long because: one table of constants.\n */\n" .. c_long) == nil
      and c_too_long("// A file.\n// Long because: generated.\n" .. c_long) == nil,
      "a reason in the opening comment allows it")
check(c_too_long("/* A file.\n * Long because:\n */\n" .. c_long) ~= nil
      and c_too_long(c_long .. "/* Long because: below the top. */\n") ~= nil,
      "an empty reason, or one outside the opening comment, does not")
-- f at line 2 spans n lines; its first lines hide keywords in strings,
-- long brackets and comments, and nest blocks and a function g (line 9).
local function lua_src(n)
  local lines = { "local x, y = 1, 2", "local function f()",
    "  local l = [==[ function",
    "  ]] end repeat ]==] --[[ if do",
    "  end ]] local s = 'end' .. \"function\\\"\" -- do if",
    "  repeat local t = { [ [[x]] ] = 1 } until true",
    "  for i = 1, 2 do while false do end end",
    "  if x then elseif y then else end",
    "  local g = function() return 1e-5, 0x1p-4, 3 .. '' end" }
  while #lines < n do lines[#lines + 1] = "  local s = 'end' -- do" end
  lines[#lines + 1] = "end"
  return table.concat(lines, "\n") .. "\nreturn f\n"
end
check(load(lua_src(LUA_MAX_LINES)) ~= nil, "the made-up Lua source compiles")
local fns = lua_functions(lua_src(LUA_MAX_LINES))
local outer = fns and fns[#fns]
check(outer and outer.name == "f" and outer.line == 2 and outer.length == LUA_MAX_LINES,
      "f measured at line 2, " .. LUA_MAX_LINES .. " lines: got " ..
      (outer and string.format("%s at %d, %d", outer.name, outer.line, outer.length) or "nothing"))
check(fns and #fns == 2 and fns[1].name == "g" and fns[1].line == 9 and fns[1].length == 1,
      "the nested g measured on its own")
local long = too_long(lua_functions(lua_src(LUA_MAX_LINES + 1)))
check(fns and #too_long(fns) == 0 and #long == 1
      and long[1] == "f at line 2: " .. (LUA_MAX_LINES + 1) .. " lines",
      "a function over " .. LUA_MAX_LINES .. " lines is named with its line and length")
check(lua_functions("local function f()\n  if x then\nend\n") == nil
      and lua_functions("local s = [[\nend\n") == nil, "unbalanced blocks are reported")
local function name_of(src)
  local toks = lua_tokens(src)
  for k, t in ipairs(toks) do if t.text == "function" then return function_name(toks, k) end end
end
check(name_of("M.a.b = function() end") == "M.a.b" and name_of("function R:csv() end") == "R:csv"
      and name_of("local f = function() end") == "f" and name_of("(function() end)()") == "(anonymous)",
      "functions are named as written")

checks.close("test_architecture")
