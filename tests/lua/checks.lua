-- Pass/fail bookkeeping shared by the Lua tests. Each test loads its own
-- counters (tests run from the repository root):
--   local checks = dofile("tests/lua/checks.lua")
--   local check = checks.check
--   check(x == 1, "x is one")
--   checks.close("test_name")   -- prints the summary; raises if any check failed
local checks = { passed = 0, failed = 0 }

-- Counts one check; a failure is reported with the line of the caller.
-- level is the debug.getinfo level of the line to report: 2 (the default)
-- is the caller of check, 3 the caller of a helper that calls check.
function checks.check(cond, msg, level)
  if cond then
    checks.passed = checks.passed + 1
  else
    checks.failed = checks.failed + 1
    io.stderr:write("FAIL line ", debug.getinfo(level or 2, "l").currentline, ": ", msg, "\n")
  end
end

-- f(...) must raise an error whose message contains the pattern (plain text),
-- or every pattern of a list.
function checks.errors_with(patterns, f, ...)
  if type(patterns) == "string" then patterns = { patterns } end
  local ok, err = pcall(f, ...)
  err = tostring(err)
  local all = not ok
  for _, p in ipairs(patterns) do all = all and err:find(p, 1, true) ~= nil end
  checks.check(all, string.format("expected an error containing '%s', got %s",
    table.concat(patterns, "', '"), ok and "no error" or err), 3)
end

-- Prints "name: N passed, N failed" and raises an error (without a position,
-- so the run exits non-zero with a plain message) when any check failed;
-- note, if given, is added to that message.
function checks.close(name, note)
  print(string.format("%s: %d passed, %d failed", name, checks.passed, checks.failed))
  if checks.failed > 0 then
    error(string.format("%s: %d check(s) failed%s", name, checks.failed,
      note and "; " .. note or ""), 0)
  end
end

-- The whole file, or nil when it cannot be read.
function checks.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Writes text to path (raising on failure); returns path.
function checks.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

-- The posbench binary running this test (the shell's parent is this
-- process), else $BUILD/posbench.
function checks.posbench_binary()
  local p = io.popen("readlink /proc/$PPID/exe 2>/dev/null")
  local exe = p and p:read("l")
  if p then p:close() end
  if exe and exe:match("posbench$") then return exe end
  return (os.getenv("BUILD") or "build") .. "/posbench"
end

return checks
