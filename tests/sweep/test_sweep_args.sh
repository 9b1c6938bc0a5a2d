#!/usr/bin/env bash
# Sweep command lines without training (a toy study whose runs write a
# summary at once, and the extrapolation study's --plan): conflicting or
# meaningless flags, settings of the wrong kind, control characters in
# paths and arguments, shell-quoted hints, '%' in Slurm filename patterns,
# run names with spaces, and text from results files printed escaped.
source "$(dirname "$0")/common.sh"

TOY=$TMP/toy.lua
cat > "$TOY" <<'LUA'
local experiment = require "posbench.experiment"
local M = { name = "toy", config = { root = "results", runs = 2, prefix = "r", seeds = 1 },
            scales = { default = {} } }
M.config.scale = "default"
function M.configure(o) return experiment.configure("toy", M.config, M.scales, o) end
function M.plan(cfg)
  local p = {}
  for i = 1, cfg.runs do p[i] = { name = cfg.prefix .. i, config = { i = i } } end
  return p
end
function M.run_one(cfg, e, R) R:run(e.name, e.config):summary { i = e.config.i } end
function M.collect(cfg, R, plan) return { dir = R.dir } end
return M
LUA

# expect_usage_error DESCRIPTION PATTERN ARGS...: exit 2, PATTERN on stderr,
# nothing on stdout, no run directory written.
expect_usage_error() {
    local what=$1 pattern=$2; shift 2
    "$PB" "$@" > "$TMP/out.txt" 2> "$TMP/err.txt"
    local rc=$?
    check "$what: exit 2 (got $rc)" test "$rc" -eq 2
    check "  message names it, without a traceback" \
        bash -c "grep -q -- \"\$1\" '$TMP/err.txt' && ! grep -q 'stack traceback' '$TMP/err.txt'" _ "$pattern"
    check "  nothing run, nothing printed" bash -c "[ ! -s '$TMP/out.txt' ] && [ -z \"\$(ls '$TMP'/u/toy/r1 2>/dev/null)\" ]"
}

# Flags.
expect_usage_error "--dry-run without --slurm" "--dry-run means nothing with --local" sweep "$TOY" root="$TMP/u" --dry-run
expect_usage_error "--plan --local 1" "--plan and --local are two actions" sweep "$TOY" root="$TMP/u" --plan --local 1
expect_usage_error "--chunk with --commands" "--chunk means nothing with --commands" sweep "$TOY" root="$TMP/u" --commands --chunk 2
expect_usage_error "--stage with --plan" "--stage means nothing with --plan" sweep "$TOY" root="$TMP/u" --plan --stage 1
expect_usage_error "sbatch arguments without --slurm" "-- means nothing with --plan" sweep "$TOY" root="$TMP/u" --plan -- --time=1
expect_usage_error "collect --plan" "--plan is not an option of collect" collect "$TOY" root="$TMP/u" --plan
expect_usage_error "--allow-partial with sweep" "--allow-partial means nothing" sweep "$TOY" root="$TMP/u" --allow-partial
expect_usage_error "--plan given twice" "--plan is given twice" sweep "$TOY" root="$TMP/u" --plan --plan

# Settings of the wrong kind: one clear line each, no traceback.
expect_usage_error "root=2024" "root=2024 must be text (a directory named like a number: write root=./2024)" \
    sweep "$TOY" root=2024 --plan
expect_usage_error "root=true" "root=true must be text" sweep "$TOY" root=true --plan
expect_usage_error "seeds=1.5" "seeds=1.5 must be an integer" sweep "$TOY" root="$TMP/u" seeds=1.5 --plan
expect_usage_error "seeds=1e300" "seeds=1e+300 must be an integer" sweep "$TOY" root="$TMP/u" seeds=1e300 --plan
expect_usage_error "runs=1e999 (inf)" "runs=inf must be a finite number" sweep "$TOY" root="$TMP/u" runs=1e999 --plan
expect_usage_error "extrapolation seeds=1e300" "seeds=1e+300 must be an integer" sweep "$STUDY" root="$TMP/u" seeds=1e300 --plan
expect_usage_error "extrapolation seeds=100000" "seeds must be in 1..1000" sweep "$STUDY" root="$TMP/u" seeds=100000 --plan
# Decision settings are checked when the study is configured, not at its
# collect after every run.
expect_usage_error "literature spending=foo" "literature: spending=foo must be obf or pocock" \
    sweep literature root="$TMP/u" spending=foo --plan
expect_usage_error "literature level=2" "literature: level=2 must be in (0, 1)" sweep literature root="$TMP/u" level=2 --plan
expect_usage_error "literature seed_cap.hoe=20" "literature: seed_cap.hoe: no such section" \
    sweep literature root="$TMP/u" seed_cap.hoe=20 --plan
expect_usage_error "literature seed_cap.heo=3" "literature: seed_cap.heo=3 must be a whole number >= seeds=5" \
    sweep literature root="$TMP/u" seed_cap.heo=3 --plan
expect_usage_error "literature lr_grid=0,1e-3" "lr_grid must list learning rates > 0, got 0" \
    sweep literature root="$TMP/u" lr_grid=0,1e-3 --plan
# A dotted key reaches one field of a table setting, checked like the rest.
expect_usage_error "literature recipes.kaz.layers=1.5" "literature: recipes.kaz.layers=1.5 must be an integer" \
    sweep literature root="$TMP/u" recipes.kaz.layers=1.5 --plan
expect_usage_error "literature d.x=1" "literature: d is not a table setting" sweep literature root="$TMP/u" d.x=1 --plan
expect_usage_error "scorecard alpha=0" "scorecard: alpha=0 must be in (0, 0.5)" sweep scorecard root="$TMP/u" alpha=0 --plan
expect_usage_error "scorecard lr_grid=0,1e-3" "scorecard: lr_grid must list learning rates > 0, got 0" \
    sweep scorecard root="$TMP/u" encoding=kerple_log lr_grid=0,1e-3 --plan

# Control characters in what reaches a command line.
nl=$'\n'
expect_usage_error "a newline in root=" "argument 'root=.*contains a control character (byte 0x0a" \
    sweep "$TOY" "root=$TMP/u${nl}touch $TMP/pwned" --commands
expect_usage_error "an escape in an argument" "argument .*contains a control character (byte 0x1b" \
    sweep "$TOY" "root=$TMP/u" "prefix=r"$'\e' --commands
mkdir -p "$TMP/odd${nl}dir"
cp "$TOY" "$TMP/odd${nl}dir/toy.lua"
expect_usage_error "a newline in the study path" "study path .*contains a control character" \
    sweep "$TMP/odd${nl}dir/toy.lua" root="$TMP/u" --commands
check "  no command ran" test ! -e "$TMP/pwned"

# Run names with spaces would be split in Slurm task files.
expect_usage_error "a run name with a space" "run name 'a 1' contains a space" sweep "$TOY" root="$TMP/u" "prefix=a " --plan

# --commands: one line per run; the follow-up hint is shell-quoted, so
# pasting it runs no $(...).
evil="$TMP/h \$(touch $TMP/pwned2) 'q' \`touch $TMP/pwned3\`"
"$PB" sweep "$TOY" root="$evil" --commands > "$TMP/cmds.txt" 2> "$TMP/cmds.err"
check "--commands with quotes and \$(...) in root= exits 0" test $? -eq 0
check "  one line per run" test "$(wc -l < "$TMP/cmds.txt")" -eq 2
hint=$(sed -n 's/.*then: //p' "$TMP/cmds.err")
sh -c "posbench() { printf '%s\n' \"\$@\"; }; $hint" > "$TMP/hint.txt"
printf '%s\n' collect "$TOY" "root=$evil" > "$TMP/hint-want.txt"
check "  the 'then: posbench collect' hint, pasted, gives the same arguments" cmp -s "$TMP/hint.txt" "$TMP/hint-want.txt"
bash "$TMP/cmds.txt" > /dev/null 2>&1
check "  the commands run the sweep's runs" test -f "$evil/toy/r2/summary.json"
check "  and nothing in the quotes ran" bash -c "[ ! -e '$TMP/pwned2' ] && [ ! -e '$TMP/pwned3' ]"

# Slurm: '%' in the results path is doubled in --output; the hints are
# quoted. (--dry-run prints the sbatch commands without a cluster.)
pct="$TMP/100%j \$(touch $TMP/pwned4)"
"$PB" sweep "$TOY" root="$pct" --slurm --dry-run > "$TMP/slurm.txt" 2>&1
check "--slurm --dry-run with '%' in root= exits 0" test $? -eq 0
check "  --output has the path's % doubled, Slurm's own %A_%a kept" \
    grep -qF -- "--output=$(realpath "$TMP")/100%%j \$(touch $TMP/pwned4)/toy/logs/slurm-%A_%a.out" "$TMP/slurm.txt"
check "  the collect job's too" grep -qF -- "100%%j \$(touch $TMP/pwned4)/toy/logs/collect-%j.out" "$TMP/slurm.txt"
progress=$(sed -n 's/^progress: //p' "$TMP/slurm.txt")
sh -c "posbench() { printf '%s\n' \"\$@\"; }; $progress" > "$TMP/progress.txt"
printf '%s\n' sweep "$TOY" "root=$pct" --plan > "$TMP/progress-want.txt"
check "  the 'progress:' hint, pasted, gives the same arguments" cmp -s "$TMP/progress.txt" "$TMP/progress-want.txt"
check "  and ran nothing" test ! -e "$TMP/pwned4"
expect_usage_error "a '\\' in the results path, for Slurm (it turns off %A_%a)" "turns off Slurm's" \
    sweep "$TOY" root="$TMP/back\\slash" --slurm --dry-run

# Text from results files reaches the terminal escaped.
"$PB" sweep "$TOY" root="$TMP/f" --plan > /dev/null
mkdir -p "$TMP/f/toy/r1"
printf '{"error": "boom \\u001b]0;title\\u0007\\u001b[31mred \\u009b1m"}\n' > "$TMP/f/toy/r1/failed.json"
"$PB" sweep "$TOY" root="$TMP/f" --plan > "$TMP/fplan.txt" 2>&1
check "--plan shows a failed run's error" grep -qF 'failed (boom \x1b]0;title\x07\x1b[31mred \u{9b}1m)' "$TMP/fplan.txt"
check "  without a raw control character" bash -c "! LC_ALL=C grep -q \$'[\\x01-\\x08\\x0b-\\x1f\\x7f]\\|\\xc2[\\x80-\\x9f]' '$TMP/fplan.txt'"
"$PB" collect "$TOY" root="$TMP/f" > "$TMP/fcollect.txt" 2>&1
check "collect lists it escaped too" bash -c "grep -qF 'r1 failed: boom \\x1b' '$TMP/fcollect.txt' && ! LC_ALL=C grep -q \$'\\x1b' '$TMP/fcollect.txt'"

# A damaged wall_seconds in one summary leaves --plan working.
"$PB" sweep "$TOY" root="$TMP/w" --local 1 > /dev/null 2>&1
sed -i 's/"wall_seconds": [^,}]*/"wall_seconds": "soon"/' "$TMP/w/toy/r1/summary.json"
check "  (the summary now has a text wall_seconds)" grep -q '"wall_seconds": "soon"' "$TMP/w/toy/r1/summary.json"
"$PB" sweep "$TOY" root="$TMP/w" --plan > "$TMP/wplan.txt" 2>&1
check "--plan with a text wall_seconds in one summary exits 0" test $? -eq 0
check "  and counts both runs done" grep -q '^2 runs: 2 done' "$TMP/wplan.txt"
finish
