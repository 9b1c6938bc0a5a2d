-- `posbench info`, bench's BLAS lines and the machine block of config.json
-- say which BLAS kernel ran and how it was chosen; a user's
-- OPENBLAS_CORETYPE (set by the environment on some machines) is respected;
-- the kernel set (POSBENCH_KERNELS) likewise.
local build = os.getenv("BUILD") or "build"
local bin = build .. "/posbench"
local checks = dofile("tests/lua/checks.lua")
local check = checks.check

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local function value(out, key)
  return out:match("\n" .. key .. "=([^\n]*)") or out:match("^" .. key .. "=([^\n]*)")
end

local out, ok = run(bin .. " info")
check(ok, "posbench info exits 0: " .. out)
for _, key in ipairs { "posbench", "cores", "blas", "blas_kernel", "blas_selection",
                       "cpu", "cpu_best_kernel", "cpu_features" } do
  check(value(out, key) and value(out, key) ~= "", "info prints " .. key .. ": " .. out)
end
local kernel, selection = value(out, "blas_kernel") or "", value(out, "blas_selection") or ""
check((value(out, "blas") or ""):find(kernel, 1, true) ~= nil,
      "the library's own configuration names the kernel in use: " .. out)

local user = os.getenv("OPENBLAS_CORETYPE")
if user then
  check(selection:find("OPENBLAS_CORETYPE=" .. user, 1, true) and
        selection:find("never overridden", 1, true),
        "an OPENBLAS_CORETYPE from the environment is respected and said: " .. selection)
else
  -- Nothing set: either the library's kernel suits the CPU or posbench chose one.
  check(selection:find("library's choice", 1, true) or selection:find("selected by posbench", 1, true),
        "the selection says how the kernel was chosen: " .. selection)
end

-- Selection off: the library's own kernel, said so.
out = run("POSBENCH_BLAS_AUTO=0 " .. bin .. " info")
if not user then
  check((value(out, "blas_selection") or ""):find("POSBENCH_BLAS_AUTO=0", 1, true),
        "POSBENCH_BLAS_AUTO=0 is reported: " .. out)
end

-- bench reports the kernels and an MFU against the best kernel's peak.
out, ok = run(bin .. " bench d=32 layers=1 heads=2 T=16 batch=4 vocab=16 steps=2 warmup=1 threads=1")
check(ok, "bench runs: " .. out)
for _, key in ipairs { "blas_kernel", "peak_kernel", "peak_gflops", "sgemm_gflops", "mfu" } do
  check(value(out, key), "bench prints " .. key .. ": " .. out)
end
local peak, in_use = tonumber(value(out, "peak_gflops")), tonumber(value(out, "sgemm_gflops"))
check(peak and in_use and peak >= in_use,
      "the MFU denominator is at least the peak of the kernel in use")

-- Every run records the machine's BLAS.
local json = require "posbench.json"
local tmp = os.tmpname()
os.remove(tmp)
local R = pb.results("info_test", { root = tmp })
local r = R:run("r", { a = 1 })
r:summary { done = true }
local f = io.open(tmp .. "/info_test/r/config.json")
local cfg = f and json.decode(f:read("a"))
if f then f:close() end
check(cfg and cfg.machine and cfg.machine.blas_kernel == kernel,
      "config.json's machine block names the kernel in use")
check(cfg and cfg.machine and cfg.machine.blas_selection == selection,
      "config.json's machine block says how it was chosen")
check(cfg and cfg.machine and cfg.machine.kernels == value(out, "kernels"),
      "config.json's machine block names the kernel set in use")

-- The kernel set: printed, chosen by POSBENCH_KERNELS, a bad name refused.
local info = run(bin .. " info")
local set = value(info, "kernels") or ""
check(set == "avx512" or set == "avx2" or set == "scalar", "info prints the kernel set: " .. set)
local forced = run("POSBENCH_KERNELS=scalar " .. bin .. " info")
check(value(forced, "kernels") == "scalar", "POSBENCH_KERNELS=scalar is obeyed: " .. forced)
local bad, bad_ok = run("POSBENCH_KERNELS=avx3 " .. bin .. " info")
check(not bad_ok and bad:find("POSBENCH_KERNELS=avx3", 1, true) and bad:find("valid:", 1, true),
      "an unknown kernel set is refused with a message naming the variable: " .. bad)
os.execute("rm -rf " .. tmp)

checks.close("test_info")
