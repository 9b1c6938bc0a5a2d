-- Bad input found by fuzzing and by hand (shell commands in plot labels,
-- callbacks closing a model in use, thread counts, checkpoint metadata,
-- seeds, NaN options, tensor shapes, ...): each case must be refused with a
-- message naming the problem, never crash, run a command or change
-- meaning silently. Cases that used to crash run in a child process, so a
-- crash fails one check instead of the whole test; under `make sanitize`
-- undefined behaviour in any case aborts the run.
local checks = dofile("tests/lua/checks.lua")
local check, errors_with = checks.check, checks.errors_with

local build = os.getenv("BUILD") or "build"
local bin = os.getenv("PWD") .. "/" .. build .. "/posbench"
local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))

local read = checks.read

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- Runs a shell command line in tmp; returns how ("exit"/"signal"), the
-- code and stderr.
local n = 0
local function spawn(cmdline)
  n = n + 1
  local errfile = string.format("%s/spawn%d.err", tmp, n)
  local _, how, code = os.execute(string.format("cd %s && (%s) >/dev/null 2>%s", tmp, cmdline,
    errfile))
  return how, code, read(errfile) or ""
end

-- A script in a child posbench: it must exit with status 1 (an error, not a
-- signal) and print the message.
local function child_error(name, source, message, env)
  n = n + 1
  local script = string.format("%s/case%d.lua", tmp, n)
  write(script, source)
  local how, code, err = spawn((env or "") .. " " .. bin .. " run " .. script)
  check(how == "exit" and code == 1, string.format("%s: should exit with status 1, got %s %s: %s",
    name, how, tostring(code), err:sub(1, 300)), 3)
  check(err:find(message, 1, true) ~= nil,
    name .. ": message should contain '" .. message .. "', got: " .. err:sub(1, 400), 3)
end

-- ---------------------------------------------------------------------------
-- 1. Plot labels reach gnuplot as inert text.
do
  local q = pb.plot._quote
  check(q("it's") == "'it'.\"\\047\".'s'", "a single quote as \\047: " .. q("it's"))
  check(q("a\nb") == "'a'.\"\\012\".'b'", "a newline joins two strings: " .. q("a\nb"))
  check(q("") == "''" and q("\27[31m") == "\"\\033\".'[31m'", "empty text; an escape as \\033")
  errors_with("gnuplot quote: text contains a NUL byte at offset 1", q, "a\0b")
  check(q("`x` $(y) @z \\") == "'`x` $(y) @z \\'", "backquote, $( ), @ and \\ pass as text")
  if not pb.plot.available() then
    print("test_hardening: gnuplot is not installed; plot label cases skipped")
  else
    local evil = {}
    for i = 1, 24 do
      evil[i] = string.format("L%d `touch pwned_bq%d` $(touch pwned_dl%d) @datafile 'sq' \"dq\" \\\n2nd", i, i, i)
    end
    local d = tmp .. "/plots"
    os.execute("mkdir -p " .. d)
    local ok, err = pcall(pb.plot, { path = d .. "/lines `touch pwned_path`$(touch pwned_path2)",
      title = evil[1], xlabel = evil[2], ylabel = evil[3],
      series = { { name = evil[4], x = { 1, 2 }, y = { 1, 2 } },
                 { name = evil[5], x = { 1, 2 }, y = { 2, 1 }, lo = { 1, 0 }, hi = { 3, 2 } } },
      vlines = { { x = 1.5, label = evil[6] } }, hlines = { { y = 1.5, label = evil[7] } },
      xtics = { { 1, evil[8] }, { 2, evil[9] } } })
    check(ok, "plot with hostile labels draws: " .. tostring(err))
    ok, err = pcall(pb.plot.heatmap, { path = d .. "/heat", title = evil[10], xlabel = evil[11],
      ylabel = evil[12], cblabel = evil[13], matrix = { { 1, 2 }, { 3, 4 } },
      xlabels = { evil[14], evil[15] }, ylabels = { evil[16], evil[17] } })
    check(ok, "heatmap with hostile labels draws: " .. tostring(err))
    ok, err = pcall(pb.plot.bars, { path = d .. "/bars", title = evil[18], ylabel = evil[19],
      categories = { evil[20], evil[21] }, series = { { name = evil[22], values = { 1, 2 } },
        { name = evil[23], values = { 2, 3 }, lo = { 1, 2 }, hi = { 3, 4 } } } })
    check(ok, "bars with hostile labels draw: " .. tostring(err))
    local found = io.popen("find " .. tmp .. " -name 'pwned*' | wc -l"):read("l")
    check(tonumber(found) == 0, "no label ran a command: " .. tostring(found) .. " files made")
    local svg = read(d .. "/lines `touch pwned_path`$(touch pwned_path2).svg") or ""
    check(svg:find("L1 `touch pwned_bq1` $(touch pwned_dl1) @datafile 'sq' \"dq\" \\", 1, true),
      "the title is drawn as written")
    svg = read(d .. "/bars.svg") or ""
    check(svg:find("L20 `touch pwned_bq20`", 1, true), "bar categories are drawn as written")
    -- Nasty texts through a real gnuplot: each prints back exactly.
    local nasty = { "it's", "''", "a\nb", "`touch pwned_g1`", "$(touch pwned_g2)", "@datafile",
      "back\\", "\\n", "tab\there", "\27]0;title\7\27[31m", "\r\n", "\127", "caf\195\169 \255",
      "\"dq\" '; system('touch pwned_g3'); '", "", "#comment", "x'.'y", "\1\2\31" }
    local gp = { "set print " .. q(d .. "/printed.txt") }
    for _, s in ipairs(nasty) do gp[#gp + 1] = "print " .. q(s) end
    write(d .. "/print.gp", table.concat(gp, "\n") .. "\n")
    os.remove(d .. "/printed.txt")
    local how, code, gerr = spawn("gnuplot " .. d .. "/print.gp")
    check(how == "exit" and code == 0, "gnuplot reads every quoted text: " .. gerr)
    check(read(d .. "/printed.txt") == table.concat(nasty, "\n") .. "\n",
      "gnuplot prints every quoted text back exactly: " .. tostring(read(d .. "/printed.txt")))
    -- Strings spliced into the script unquoted are checked instead.
    errors_with("key must be false or a gnuplot key position", pb.plot,
      { path = d .. "/k", key = "top`touch pwned_key`", series = { { x = { 1 }, y = { 1 } } } })
    errors_with("key must be false or a gnuplot key position (letters, digits, spaces, '.,:+-'; one line)",
      pb.plot, { path = d .. "/k", key = "top\nshell", series = { { x = { 1 }, y = { 1 } } } })
    errors_with("key must be false or a gnuplot key position", pb.plot,
      { path = d .. "/k", key = "top\rsystem", series = { { x = { 1 }, y = { 1 } } } })
    errors_with("extra[1] must be one line of gnuplot code", pb.plot,
      { path = d .. "/k", extra = { "set grid\nshell" }, series = { { x = { 1 }, y = { 1 } } } })
    errors_with("xtics must be one line of gnuplot code", pb.plot,
      { path = d .. "/k", xtics = "1\nshell", series = { { x = { 1 }, y = { 1 } } } })
    errors_with("plot: path '" .. d .. "/a\\x0ab' contains a control character", pb.plot,
      { path = d .. "/a\nb", series = { { x = { 1 }, y = { 1 } } } })
    errors_with("series[1].color must be \"#rrggbb\" or a colour name", pb.plot,
      { path = d .. "/c", series = { { x = { 1 }, y = { 1 }, color = "#fff' ; system('touch pwned_c') ; '" } } })
    errors_with("vlines[1].color must be", pb.plot, { path = d .. "/c",
      series = { { x = { 1 }, y = { 1 } } }, vlines = { { x = 1, color = "red'`x`'" } } })
    errors_with("series[1].dash must be an integer", pb.plot,
      { path = d .. "/c", series = { { x = { 1 }, y = { 1 }, dash = "1 `x`" } } })
  end
end

-- ---------------------------------------------------------------------------
-- 1b. Shell words: nasty texts through a real sh come back exactly; text
-- with a control character is refused (GNU parallel reads one command per
-- line). tests/fuzz/fuzz_quote_shell.c checks the same quoting on
-- arbitrary texts against a POSIX single-quote reader.
do
  local core = require "posbench.core"
  local util = require "posbench.util"
  local nasty = { "it's", "'", "''", "$(touch pwned_s1)", "`touch pwned_s2`", "a b  c", "*", "~",
    "-n", "--", "", "\\", "\"", "!!", "$HOME", "a'\\''b", "caf\195\169 \255", "%s %b", ";|&<>()" }
  for _, s in ipairs(nasty) do
    local p = io.popen("cd " .. tmp .. " && sh -c 'printf %s \"$1\"' sh " .. core.quote_shell(s))
    local back = p:read("a")
    p:close()
    check(back == s, string.format("sh reads %q back from %s, got %q", s, core.quote_shell(s), back))
  end
  local found = io.popen("find " .. tmp .. " -name 'pwned_s*' | wc -l"):read("l")
  check(tonumber(found) == 0, "no quoted text ran a command")
  for _, s in ipairs { "a\nb", "a\rb", "\27[31m", "tab\t", "\127", "nul\0" } do
    errors_with("shell quote: text contains a control character", core.quote_shell, s)
  end
  errors_with("contains a control character (byte 0x0a at offset 1)", util.shell_quote, "a\nb")
  -- Slurm filename patterns: '%' doubled; '\' and control characters refused.
  check(core.quote_slurm_pattern("/r/100%j/%%") == "/r/100%%j/%%%%", "Slurm: % doubled")
  errors_with("text contains '\\' (at offset 2), which turns off Slurm's", core.quote_slurm_pattern, "/a\\b")
  errors_with("Slurm filename pattern: text contains a control character", core.quote_slurm_pattern, "a\nb")
  -- What reaches the terminal from results files.
  check(util.printable("a\27[31mb\255\194\155c \195\169") == "a\\x1b[31mb\\xff\\u{9b}c \195\169",
    "printable: " .. util.printable("a\27[31mb\255\194\155c \195\169"))
end

-- ---------------------------------------------------------------------------
-- 2. A Lua encoding callback cannot close the model (or encoder) in use.
child_error("callback closes the model in use", [[
local m
pb.register_encoding("evil", {bias = function(h, i, j)
  if m and i > 60 then m:close(); collectgarbage() end
  return 0
end})
m = pb.model{encoding = "evil", d = 16, heads = 2, vocab = 12, max_len = 8}
local t = pb.task("copy", {vocab = 4, min_len = 2, max_len = 40})
local ok, err = pcall(pb.eval, m, t, {lengths = {40}, samples = 2})
assert(not ok)
-- the model is whole and still usable after the refusal
assert(pb.eval(m, t, {lengths = {4}, samples = 2})[4].accuracy)
error(err)]], "model:close: cannot close a model inside an encoding callback (it may be in use)")
child_error("callback closes the model during training", [[
local m
pb.register_encoding("evil", {bias = function(h, i, j)
  if m then getmetatable(m).__close(m) end
  return 0
end})
m = pb.model{encoding = "evil", d = 16, heads = 2, vocab = 12, max_len = 8}
pb.train(m, pb.task("copy", {vocab = 4, min_len = 2, max_len = 8}), {steps = 1, progress = false})]],
  "cannot close a model inside an encoding callback")
child_error("callback closes the encoder in use", [[
local E
pb.register_encoding("evil", {bias = function(h, i, j)
  if E and i > 20 then E:close(); collectgarbage() end
  return 0
end})
E = pb.encoding("evil", {d = 8, heads = 2, max_len = 8})
E:bias(30, 2)]], "encoding:close: cannot close an encoding inside an encoding callback")
do  -- outside a callback, closing works as before
  local m = pb.model{ d = 8, heads = 2, vocab = 8 }
  m:close()
  check(tostring(m) == "posbench model (closed)", "close outside a callback: " .. tostring(m))
end

-- ---------------------------------------------------------------------------
-- 3. One thread limit, checked by pb.threads and `posbench bench`.
do
  -- The address-space limit that made thread creation fail; a sanitized
  -- binary cannot start under it (its shadow memory), so it runs without.
  local limit = "ulimit -v 6000000; "
  local how0, code0 = spawn("ldd " .. bin .. " | grep -q libasan")
  if how0 == "exit" and code0 == 0 then limit = "" end
  local how, code, err = spawn(limit .. bin .. " bench threads=100000")
  check(how == "exit" and code == 2, "bench threads=100000 exits 2, got " .. how .. " " .. tostring(code))
  check(err:find("threads=100000 is out of range (threads must be in 1..256", 1, true),
    "bench threads message: " .. err)
  how, code, err = spawn(bin .. " bench threads=257")
  check(how == "exit" and code == 2 and err:find("threads=257 is out of range", 1, true),
    "bench threads=257: " .. err)
  -- OMP_NUM_THREADS sizes libgomp's first team before any pb.threads call:
  -- checked at start-up, for bench and for a script that never sets threads.
  write(tmp .. "/omp.lua", "local m = pb.model{d = 64, heads = 2, layers = 1, vocab = 8}\n" ..
    "pb.train(m, pb.task('copy', {vocab = 4, min_len = 2, max_len = 4}), {steps = 1, progress = false})\n")
  for _, cmd in ipairs { "bench steps=1 warmup=0", "run omp.lua" } do
    how, code, err = spawn(limit .. "OMP_NUM_THREADS=100000 " .. bin .. " " .. cmd)
    check(how == "exit" and code == 2 and
      err:find("OMP_NUM_THREADS=100000: thread counts must be integers in 1..256", 1, true),
      "OMP_NUM_THREADS=100000 " .. cmd .. ": exit 2 with a message, got " .. how .. " " ..
      tostring(code) .. ": " .. err:sub(1, 300))
  end
  how, code, err = spawn("OMP_NUM_THREADS=2,1 " .. bin .. " run omp.lua")
  check(how == "exit" and code == 0, "OMP_NUM_THREADS=2,1 (a nesting list) is accepted: " .. err)
  errors_with("threads must be in 1..256", pb.threads, 100000)
  errors_with("threads must be in 1..256", pb.threads, 257)
  errors_with("threads must be in 1..256", pb.threads, 0)
end

-- ---------------------------------------------------------------------------
-- Checkpoints rewritten on purpose: header JSON and data edited, the
-- preamble's length recomputed.
local function read_pbt(path)
  local s = assert(read(path))
  local J = string.unpack("<I8", s, 9)
  return pb.json.decode(s:sub(17, 16 + J)), s:sub(17 + J)
end
local function write_pbt(path, header, data)
  local h = pb.json.encode(header)
  write(path, "PBTENS01" .. string.pack("<I8", #h) .. h .. data)
end
local function tensor(header, name)
  for _, t in ipairs(header.tensors) do if t.name == name then return t end end
end

local config = { vocab = 12, d = 8, heads = 2, layers = 1, max_len = 16, seed = 3 }
local good = tmp .. "/good.pbt"
local model = pb.model(config)
model:save(good)
local wte = model:param("wte")

local function bad_checkpoint(name, edit)
  local header, data = read_pbt(good)
  data = edit(header, data) or data
  local path = tmp .. "/" .. name .. ".pbt"
  write_pbt(path, header, data)
  return path
end

do  -- the rewriting itself keeps a checkpoint loadable
  local same = bad_checkpoint("same", function() end)
  local m = pb.load(same)
  check(m:param("wte")[5] == wte[5], "a rewritten but unchanged checkpoint loads")
end

-- 5. Metadata is validated before anything is computed from it.
do
  local p = bad_checkpoint("huge_d", function(h) h.meta.config.d = 1000000000 end)
  errors_with({ p .. ": ", "d=1000000000 is too large for the default ff = 4*d; give ff" }, pb.load, p)
  p = bad_checkpoint("negative_seed", function(h) h.meta.config.seed = -1 end)
  errors_with({ p .. ": ", "'seed' must be an integer in [0, 4294967295], got -1" }, pb.load, p)
  p = bad_checkpoint("huge_layers", function(h) h.meta.config.layers = 1e10 end)
  errors_with({ p .. ": ", "'layers' = 10000000000.0 is out of range" }, pb.load, p)
  p = bad_checkpoint("no_config", function(h) h.meta.config = nil end)
  errors_with(p .. ": checkpoint has no config object", pb.load, p)
  p = bad_checkpoint("zero_ff", function(h) h.meta.config.ff = 0 end)
  errors_with({ p .. ": ", "'ff' must be positive (leave it out for 4*d)" }, pb.load, p)
  p = bad_checkpoint("zero_d", function(h) h.meta.config.d = 0 end)
  errors_with({ p .. ": ", "'d' must be positive, got 0" }, pb.load, p)
  -- invalid UTF-8 in the metadata: the header is written by hand, since
  -- json.encode refuses it
  local header, data = read_pbt(good)
  header.meta.note = "BAD_UTF8_HERE"
  local text = pb.json.encode(header):gsub("BAD_UTF8_HERE", "caf\233")
  p = tmp .. "/bad_utf8.pbt"
  write(p, "PBTENS01" .. string.pack("<I8", #text) .. text .. data)
  errors_with({ p .. ": the checkpoint's metadata is not valid JSON (", "invalid UTF-8" }, pb.load, p)
  errors_with("pb.load(path, opts): opts must be a table such as {enc = {...}, allow_nonfinite = true}, " ..
    "got the number 5", pb.load, good, 5)
end

-- 8. Every tensor's shape is checked, and values must be finite.
do
  local p = bad_checkpoint("transposed", function(h)
    tensor(h, "wte").shape = { 8, 12 }
  end)
  errors_with(p .. ": parameter 'wte' has shape [8,12], but the model's config gives [12,8]",
    pb.load, p)
  p = bad_checkpoint("flat", function(h) tensor(h, "wte").shape = { 96 } end)
  errors_with("parameter 'wte' has shape [96], but the model's config gives [12,8]", pb.load, p)
  p = bad_checkpoint("missing", function(h)
    for i, t in ipairs(h.tensors) do if t.name == "lnf_w" then table.remove(h.tensors, i) break end end
  end)
  errors_with(p .. ": parameter 'lnf_w' is missing", pb.load, p)
  p = bad_checkpoint("extra", function(h, data)
    h.tensors[#h.tensors + 1] = { name = "stray", dtype = "f32", shape = { 1 }, offset = #data }
    return data .. string.pack("<f", 1)
  end)
  errors_with(p .. ": tensor 'stray' is not a parameter of the model its config builds", pb.load, p)
  local nan = bad_checkpoint("nan", function(h, data)
    local off = tensor(h, "wte").offset
    return data:sub(1, off + 8) .. string.pack("<f", 0 / 0) .. data:sub(off + 13)
  end)
  errors_with(nan .. ": parameter 'wte' holds nan at element 2; pass {allow_nonfinite = true}",
    pb.load, nan)
  local inf = bad_checkpoint("inf", function(h, data)
    local off = tensor(h, "qkv_w").offset
    return data:sub(1, off) .. string.pack("<f", -1 / 0) .. data:sub(off + 5)
  end)
  errors_with("parameter 'qkv_w' holds -inf at element 0", pb.load, inf)
  local m = pb.load(nan, { allow_nonfinite = true })
  local w = m:param("wte")
  check(w[3] ~= w[3] and w[2] == wte[2], "allow_nonfinite loads the NaN as it is")
  errors_with("pb.load: unknown option 'allow_nan' (valid: enc, allow_nonfinite)", pb.load, good,
    { allow_nan = true })
end

-- ---------------------------------------------------------------------------
-- 6. Seeds: integers in [0, 2^32 - 1], one check everywhere.
do
  local bad = { { -1, "-1" }, { -2, "-2" }, { 0 / 0, "nan" }, { 1 / 0, "inf" }, { 1.5, "1.5" },
                { 2 ^ 32, "4294967296" }, { "7", "7" } }
  local function each_bad(what, f)
    for _, b in ipairs(bad) do
      local ok, err = pcall(f, b[1])
      err = tostring(err)
      check(not ok and err:find(what .. ": 'seed' must be an integer in [0, 4294967295], got", 1, true)
        and err:find(b[2], 1, true), string.format("%s seed=%s: %s", what, tostring(b[1]), err), 3)
    end
  end
  local t = pb.task("copy", { vocab = 4, min_len = 2, max_len = 4 })
  local m = pb.model { vocab = 8, d = 8, heads = 2, layers = 1 }
  each_bad("pb.model", function(s) return pb.model { seed = s } end)
  each_bad("task:sample", function(s) return t:sample(3, { seed = s }) end)
  each_bad("pb.train", function(s) return pb.train(m, t, { steps = 1, seed = s, progress = false }) end)
  each_bad("pb.eval", function(s) return pb.eval(m, t, { lengths = { 3 }, seed = s }) end)
  each_bad("pb.encoding", function(s) return pb.encoding("rope", { d = 8, heads = 2, seed = s }) end)
  each_bad("pb.diagnose", function(s) return pb.diagnose(m, t, { lengths = { 3 }, seed = s }) end)
  each_bad("pb.check_step", function(s)
    return pb.check_step(m, t, { seed = s, path = tmp .. "/step.pbt" })
  end)
  each_bad("shift_invariance", function(s)
    return pb.metrics.shift_invariance(m, { length = 8, seed = s })
  end)
  each_bad("noise_probe", function(s) return pb.metrics.noise_probe(m, { seed = s }) end)
  each_bad("separability", function(s) return pb.metrics.separability(m, { seed = s }) end)
  each_bad("relative_deviation", function(s)
    return pb.metrics.relative_deviation(m, t, { length = 3, d2 = 1, seed = s })
  end)
  each_bad("rope_drift", function(s)
    return pb.metrics.rope_drift { format = "bf16", length = 8, d_head = 8, seed = s }
  end)
  -- Distinct seeds give distinct models, equal seeds equal ones; the
  -- largest seed is accepted.
  local function first(seed) return pb.model { vocab = 8, d = 8, heads = 2, seed = seed }:param("wte")[1] end
  check(first(1) == first(1) and first(1) ~= first(2), "seed 1 repeats, seed 2 differs")
  check(first(4294967295) ~= first(4294967294), "the largest seeds differ")
  check(first(3.0) == first(3), "an integral float is the same seed")
end

-- ---------------------------------------------------------------------------
-- 7. Optimiser options: non-finite values refused by name.
do
  local t = pb.task("copy", { vocab = 4, min_len = 2, max_len = 4 })
  local m = pb.model { vocab = 8, d = 8, heads = 2, layers = 1 }
  local function train(o)
    o.steps, o.progress = 1, false
    return pb.train(m, t, o)
  end
  errors_with("pb.train: optimiser: clip must be a finite number, got nan", train, { clip = 0 / 0 })
  errors_with("pb.train: optimiser: eps must be a finite number, got inf", train, { eps = 1 / 0 })
  errors_with("pb.train: optimiser: wd must be a finite number, got nan", train, { wd = 0 / 0 })
  errors_with("pb.train: optimiser: min_lr_ratio must be a finite number, got nan", train,
    { min_lr_ratio = 0 / 0 })
  errors_with("pb.train: optimiser: lr must be a finite number, got -inf", train, { lr = -1 / 0 })
  errors_with("pb.train: optimiser: b2 must be a finite number, got nan", train, { b2 = 0 / 0 })
  errors_with("pb.train: optimiser: eps=1e-50 rounds to 0 in float32", train, { eps = 1e-50 })
  errors_with("pb.train: optimiser: lr=1e+300 is beyond float32 range", train, { lr = 1e300 })
  errors_with("optimiser: clip must be a finite number, got nan", pb.check_step, m, t,
    { clip = 0 / 0, path = tmp .. "/step.pbt" })
  errors_with("optimiser: eps must be positive, got 0", train, { eps = 0 })
  errors_with("optimiser: clip must be >= 0 (0: no clipping), got -1", train, { clip = -1 })
end

-- ---------------------------------------------------------------------------
-- 9. Smaller cases that were silent or misleading.
do
  -- encoding options: finite and in range, one check (core/opts.c) for all
  errors_with("encoding 'rope': option 'base' must be a finite number, got inf", pb.model,
    { encoding = "rope", enc = { base = 1 / 0 } })
  errors_with("encoding 'rope': option 'base' must be > 0, got -1", pb.model,
    { encoding = "rope", enc = { base = -1 } })
  for _, k in ipairs { "factor", "attn_factor", "beta_fast", "beta_slow" } do
    errors_with("encoding 'rope': option 'scaling." .. k .. "' must be a finite number, got inf", pb.model,
      { encoding = "rope", enc = { scaling = { type = "yarn", [k] = 1 / 0 } } })
  end
  errors_with("option 'scaling.factor' must be a finite number, got nan", pb.model,
    { encoding = "rope", enc = { scaling = { type = "pi", factor = 0 / 0 } } })
  errors_with("encoding 'xpos': option 'scale_base' must be a finite number", pb.model,
    { encoding = "xpos", enc = { scale_base = 1 / 0 } })
  errors_with("encoding 'sinusoidal': option 'base' must be a finite number", pb.model,
    { encoding = "sinusoidal", enc = { base = 1 / 0 } })
  errors_with("must be a finite number, got inf", pb.encoding, "rope",
    { d = 8, heads = 1, scaling = { type = "yarn", factor = 1 / 0 } })
  -- a learning rate no training survives; pb_expf itself is checked in test_core.c
  local tt = pb.task("copy", { vocab = 4, min_len = 2, max_len = 4 })
  local mm = pb.model { vocab = 8, d = 8, heads = 2, layers = 1 }
  errors_with("optimiser: lr must be at most 10 (Adam moves each parameter by about lr per step), got 1e+30",
    pb.train, mm, tt, { steps = 1, lr = 1e30, progress = false })
  errors_with("task:sample(n): n (the problem size) must be a positive integer, got", tt.sample, tt, 0 / 0)
  errors_with("task:sample(n): n (the problem size) must be a positive integer, got 2.5", tt.sample, tt, 2.5)
  errors_with("task:sample(n): n (the problem size) must be a positive integer, got 1e+20", tt.sample, tt, 1e20)
  errors_with("pb.model: 'd' must be positive, got 0", pb.model, { d = 0 })
  errors_with("pb.model: 'ff' must be positive (leave it out for 4*d)", pb.model, { ff = 0 })
  errors_with("pb.model: 'layers' = 10000000000.0 is out of range", pb.model, { layers = 1e10 })
  errors_with("write_atomic: path contains a NUL byte", pb.write_atomic, tmp .. "/a\0b.txt", "x")
  check(read(tmp .. "/a") == nil, "nothing written to the truncated name")
  errors_with("mkdir_p: path contains a NUL byte", pb.mkdir_p, tmp .. "/d\0e")
  errors_with("pb.load: path contains a NUL byte", pb.load, good .. "\0.bak")
  errors_with("model:save: path contains a NUL byte", model.save, model, tmp .. "/s\0.pbt")
  errors_with("t5: heads*buckets = 1048576*4096 parameters is too many", pb.model,
    { encoding = "t5", d = 1048576, heads = 1048576, ff = 1, vocab = 2, layers = 1,
      enc = { buckets = 4096, max_distance = 100000 } })
  local t = pb.task("copy", { vocab = 4, min_len = 2, max_len = 4 })
  local m = pb.model { vocab = 8, d = 8, heads = 2, layers = 1 }
  errors_with("pb.eval: lengths must be a table such as {8, 16}, not the string '8'", pb.eval, m, t,
    { lengths = "8" })
  errors_with("pb.eval: lengths={...} is required", pb.eval, m, t, {})
  errors_with("pb.eval: max_tokens must be a finite number >= 0", pb.eval, m, t,
    { lengths = { 4 }, window = "nonoverlap", max_tokens = 0 / 0 })
  errors_with("pb.diagnose: lengths must be a table such as {8, 16}, not the number '8'",
    pb.diagnose, m, t, { lengths = 8 })
  -- json.decode takes only what json.encode writes
  errors_with("json.decode: invalid UTF-8 in string", pb.json.decode, '"a\255b"')
  errors_with("json.decode: invalid UTF-8 in string", pb.json.decode, '{"k\192": 1}')
  errors_with("json.decode: invalid UTF-8 in string", pb.json.decode, '"\237\160\128"')  -- a surrogate
  errors_with("json.encode: value is not valid UTF-8", pb.json.encode, "a\255b")
  check(pb.json.decode('"caf\195\169"') == "caf\195\169", "valid UTF-8 decodes")
  check(pb.json.decode('"a\127b"') == "a\127b", "DEL is not a control character in JSON")
  errors_with("control character in string", pb.json.decode, '"a\31b"')
end
-- Out of memory reports the count it failed on (a child: under
-- AddressSanitizer the huge allocation must return NULL, not abort).
child_error("out of memory names the size", [[
pb.model{encoding = "t5", d = 1048576, heads = 1048576, ff = 1, vocab = 2, layers = 1,
         enc = {buckets = 4}}]], "model: out of memory for 4398066434049 parameters",
  "ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0")
-- key=value arguments
do
  local how, code, err = spawn(bin .. " run /dev/null =5")
  check(how == "exit" and code == 1 and err:find("argument '=5' is not of the form key=value", 1, true),
    "empty key: " .. err)
  write(tmp .. "/args.lua", "assert(pb.args.a == 'x=y' and pb.args.n == 16 and pb.args.b == false " ..
    "and pb.args.e == '')")
  how, code, err = spawn(bin .. " run args.lua a=x=y n=0x10 b=false e=")
  check(how == "exit" and code == 0, "key=value values: " .. err)
end

-- The dirty check never takes git's index lock, which a killed run would
-- leave in the user's repository (a git on PATH records how it is called).
do
  os.execute("mkdir -p " .. tmp .. "/fakegit")
  write(tmp .. "/fakegit/git", "#!/bin/sh\necho \"$*\" >> " .. tmp .. "/git.log\n" ..
    "case \"$*\" in *rev-parse*) echo 0123456789abcdef0123456789abcdef01234567;; esac\n")
  os.execute("chmod +x " .. tmp .. "/fakegit/git")
  write(tmp .. "/onerun.lua", "pb.results('x', {root = '" .. tmp .. "/res'}):run('r', {a = 1})")
  local how, code, err = spawn("PATH=" .. tmp .. "/fakegit:$PATH " .. bin .. " run onerun.lua")
  local log = read(tmp .. "/git.log") or ""
  check(how == "exit" and code == 0 and log:find("status", 1, true), "a run asks git for its state: " .. err)
  check(not log:find("status", 1, true) or log:find("--no-optional-locks", 1, true),
    "git status runs without optional locks: " .. log)
end

os.execute("rm -rf " .. tmp)
checks.close("test_hardening")
