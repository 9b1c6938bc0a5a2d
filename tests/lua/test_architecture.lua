-- The layer rule of docs/architecture.md, checked on the sources:
--   1. every C file of harness/ and encodings/ belongs to a layer;
--   2. an #include points to the same layer or one below it, never up;
--   3. only the binding and the command line include Lua's headers;
--   4. no file outside encodings/ names a specific encoding (a string
--      literal equal to a registered encoding's name), so whatever the host
--      needs to know about an encoding comes from its type's fields/hooks.
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

-- The checks can fail: a made-up upward include and a made-up name are caught.
check(RANK[layer_of("harness/model/model.c")] < RANK[layer_of("harness/bind/lua_model.c")],
      "model sits below the binding")
check(layer_of("harness/core/new_thing.c") == "core" and layer_of("harness/nowhere/x.c") == nil,
      "after the move a file's folder is its layer")
check(names.t5 and not ALLOWED_NAMES["model.c"], "a literal \"t5\" in model.c would be reported")

checks.close("test_architecture")
