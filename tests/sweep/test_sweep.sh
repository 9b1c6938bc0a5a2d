#!/usr/bin/env bash
# Sweeps on one machine: --plan, sequential vs --local 2 vs --commands |
# GNU parallel (byte-identical outputs), kill -9 of a worker and of the
# whole sweep, an injected failure, stale runs, two sweeps on one
# directory, one writer per run directory, temporary-file cleanup.
source "$(dirname "$0")/common.sh"

# Reference: the study run in one process, as `posbench run` always did.
"$PB" run "$STUDY" "${ARGS[@]}" root="$TMP/seq" > "$TMP/seq.log" 2>&1
check "posbench run (sequential) completes" test -f "$TMP/seq/extrapolation/report.md"

# --plan: deterministic, and sees the sequential run's results as done.
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/seq" --plan > "$TMP/plan1.txt"
cp "$TMP/seq/extrapolation/plan.json" "$TMP/plan1.json"
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/seq" --plan > "$TMP/plan2.txt"
check "--plan prints the same plan twice" cmp -s <(grep -v '^CPU time' "$TMP/plan1.txt") <(grep -v '^CPU time' "$TMP/plan2.txt")
check "--plan writes the same plan.json twice" cmp -s "$TMP/plan1.json" "$TMP/seq/extrapolation/plan.json"
check "--plan: 12 runs, all done after posbench run" grep -q '^12 runs: 12 done, 0 todo' "$TMP/plan1.txt"
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/fresh" --plan > "$TMP/plan3.txt"
check "--plan of a fresh directory: 12 todo, stage 2 for scaling" \
    bash -c "grep -q '^12 runs: 0 done, 12 todo' '$TMP/plan3.txt' && grep -q 'stage 2  scaling-copy-s1' '$TMP/plan3.txt'"
check "--plan gives a CPU-time estimate" grep -q '^CPU time: ' "$TMP/plan3.txt"

# The article composes the studies' plans, each run in its study's directory.
"$PB" sweep article scale=tiny results="$TMP/art" --plan > "$TMP/art-plan.txt"
check "article --plan: 15 runs of four studies, scaling in stage 2" \
    bash -c "grep -q '^15 runs: 0 done, 15 todo' '$TMP/art-plan.txt' && grep -q 'stage 2  extrapolation/scaling-copy-s1' '$TMP/art-plan.txt' && grep -q 'stage 1  precision/study' '$TMP/art-plan.txt'"

# --local 2: same outputs.
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/local" --local 2 > "$TMP/local.log" 2>&1
check "--local 2 exits 0" test $? -eq 0
check "--local 2 prints a progress line" grep -q '12/12 done, 0 failed' "$TMP/local.log"
check "--local 2 == sequential (byte-identical CSVs and report)" same_outputs "$TMP/seq" "$TMP/local"
check "--local 2 leaves no torn or temporary files" no_torn "$TMP/local"
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/local" --local 2 > "$TMP/local2.log" 2>&1
check "a second --local runs nothing" grep -q '12 done, 0 to run' "$TMP/local2.log"

# --commands | parallel: same outputs.
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/par" --commands > "$TMP/cmds.txt" 2>/dev/null
check "--commands prints one line per run" test "$(wc -l < "$TMP/cmds.txt")" -eq 12
if command -v parallel >/dev/null; then
    parallel -j 2 < "$TMP/cmds.txt" > "$TMP/par.log" 2>&1
    check "--commands | parallel -j 2 runs every command" test $? -eq 0
    "$PB" collect "$STUDY" "${ARGS[@]}" root="$TMP/par" > "$TMP/par-collect.log" 2>&1
    check "collect after parallel exits 0" test $? -eq 0
    check "--commands | parallel == sequential" same_outputs "$TMP/seq" "$TMP/par"
else
    check "GNU parallel is installed (scripts/install-deps.sh)" false
fi

# An injected failure: the sweep and collect exit 3 naming the run; a
# second sweep reruns only that run and completes.
POSBENCH_SWEEP_FAIL=copy-alibi-s1 "$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/fail" --local 2 > "$TMP/fail.log" 2>&1
check "a failing run: the sweep exits 3" test $? -eq 3
"$PB" collect "$STUDY" "${ARGS[@]}" root="$TMP/fail" > "$TMP/fail-collect.log" 2>&1
check "collect exits 3" test $? -eq 3
check "collect names the failed run and its error" grep -q 'copy-alibi-s1 failed: injected failure' "$TMP/fail-collect.log"
check "missing.txt names it" grep -q '^copy-alibi-s1 failed' "$TMP/fail/extrapolation/missing.txt"
check "failed.json keeps the error" grep -q 'injected failure' "$TMP/fail/extrapolation/copy-alibi-s1/failed.json"
"$PB" collect "$STUDY" "${ARGS[@]}" root="$TMP/fail" --allow-partial > /dev/null 2>&1
check "collect --allow-partial still exits 3 but writes the report" test -f "$TMP/fail/extrapolation/report.md"
done_sums "$TMP/fail" > "$TMP/fail-before.sums"
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/fail" --local 2 > "$TMP/fail2.log" 2>&1
check "rerunning fixes it (exit 0)" test $? -eq 0
check "  and reruns only the failed run" grep -q '11 done, 1 to run' "$TMP/fail2.log"
check "  and leaves the finished runs' bytes alone" \
    bash -c "done_sums() { $(declare -f done_sums | tail -n +2); }; cmp -s <(grep -v copy-alibi-s1/ '$TMP/fail-before.sums') <(done_sums '$TMP/fail' | grep -v copy-alibi-s1/)"
check "  with the same outputs as sequential" same_outputs "$TMP/seq" "$TMP/fail"
check "  and no missing.txt" test ! -e "$TMP/fail/extrapolation/missing.txt"

# kill -9 of one worker, then of the whole sweep (its process group).
LONG=("${ARGS[@]}" steps=800 lm_steps=300)
"$PB" run "$STUDY" "${LONG[@]}" root="$TMP/kseq" > "$TMP/kseq.log" 2>&1 &
seqpid=$!
setsid "$PB" sweep "$STUDY" "${LONG[@]}" root="$TMP/kill" --local 2 > "$TMP/kill1.log" 2>&1 &
sweeppid=$!
for _ in $(seq 600); do [ "$(count_done "$TMP/kill")" -ge 2 ] && break; sleep 0.1; done
victim=""
for _ in $(seq 200); do
    for l in "$TMP"/kill/extrapolation/*/lock; do
        [ -s "$l" ] && victim=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$l" 2>/dev/null) && break
    done
    [ -n "$victim" ] && break; sleep 0.05
done
[ -n "$victim" ] && kill -9 "$victim"
check "a worker was killed with -9" test -n "$victim"
for _ in $(seq 600); do [ "$(count_done "$TMP/kill")" -ge 5 ] && break; sleep 0.1; done
kill -9 -- -"$sweeppid" 2>/dev/null
{ wait "$sweeppid"; } 2>/dev/null
ndone=$(count_done "$TMP/kill")
check "the whole sweep was killed part way ($ndone of 12 done)" test "$ndone" -lt 12
done_sums "$TMP/kill" > "$TMP/kill-before.sums"
"$PB" sweep "$STUDY" "${LONG[@]}" root="$TMP/kill" --local 2 > "$TMP/kill2.log" 2>&1
check "rerun after kill -9 completes (exit 0)" test $? -eq 0
check "  redoing only the unfinished runs" grep -q "$ndone done, $((12 - ndone)) to run" "$TMP/kill2.log"
check "  finished runs untouched (same bytes)" bash -c "done_sums() { $(declare -f done_sums | tail -n +2); }; done_sums '$TMP/kill' | grep -F -f <(awk '{print \$2}' '$TMP/kill-before.sums') | cmp -s - '$TMP/kill-before.sums'"
check "  no torn or temporary files" no_torn "$TMP/kill"
wait "$seqpid"
check "  outputs == an uninterrupted sequential run" same_outputs "$TMP/kseq" "$TMP/kill"

# Changing one setting marks exactly the affected runs stale.
"$PB" sweep "$STUDY" "${ARGS[@]}" lm_steps=61 root="$TMP/local" --plan > "$TMP/stale.txt"
check "lm_steps changed: the 4 lm runs stale, the rest done" \
    bash -c "grep -q '^12 runs: 8 done, 0 todo, 4 stale' '$TMP/stale.txt' && [ \$(grep -c ' lm-.*stale' '$TMP/stale.txt') -eq 4 ]"
"$PB" sweep "$STUDY" "${ARGS[@]}" lm_steps=61 root="$TMP/local" --local 2 > "$TMP/stale-run.log" 2>&1
check "stale runs are not rerun unless asked (collect exits 3)" test $? -eq 3
"$PB" sweep "$STUDY" "${ARGS[@]}" lm_steps=61 root="$TMP/local" --local 2 --rerun-stale > "$TMP/stale-run2.log" 2>&1
check "--rerun-stale reruns exactly those 4" bash -c "test $? -eq 0 && grep -q '8 done, 4 to run' '$TMP/stale-run2.log'"

# Two sweeps started on the same directory.
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/two" --local 1 > "$TMP/two-a.log" 2>&1 &
a=$!
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/two" --local 1 > "$TMP/two-b.log" 2>&1
rb=$?
wait $a; ra=$?
check "two sweeps on one directory both exit 0" test "$ra" -eq 0 -a "$rb" -eq 0
check "  and their outputs equal the sequential ones" same_outputs "$TMP/seq" "$TMP/two"
check "  with no torn or temporary files" no_torn "$TMP/two"

# One writer per run directory (two processes writing the same run).
cat > "$TMP/conc.lua" <<LUA
local R = pb.results("conc", { root = "$TMP/conc" })
local run = R:run("r", { x = 1 })
for i = 1, 150 do run:log { i = i, who = pb.args.who } end
run:summary { n = 150 }
LUA
"$PB" run "$TMP/conc.lua" who=a > "$TMP/conc-a.log" 2>&1 &
a=$!
"$PB" run "$TMP/conc.lua" who=b > "$TMP/conc-b.log" 2>&1
rb=$?
wait $a; ra=$?
check "two writers of one run: exactly one fails" test $((ra == 0 ? 1 : 0)) -ne $((rb == 0 ? 1 : 0))
check "  with an error naming the holder" grep -qh 'is being written by another process (host' "$TMP/conc-a.log" "$TMP/conc-b.log"
check "  and the winner's 150 lines are all there, from one writer" \
    bash -c "[ \$(wc -l < '$TMP/conc/conc/r/metrics.jsonl') -eq 150 ] && [ \$(grep -o '\"who\":\"[ab]\"' '$TMP/conc/conc/r/metrics.jsonl' | sort -u | wc -l) -eq 1 ]"

# Temporary files of dead writers are cleaned; a live writer's is not.
sleep 300 & live=$!
dead=$(bash -c 'echo $$')
d=$TMP/local/extrapolation
touch "$d/copy-rope-s1/summary.json.tmp.$dead.0" "$d/summary.csv.tmp.$dead.3" "$d/summary.csv.tmp.$live.1"
touch -d '10 minutes ago' "$d/summary.csv.tmp.$dead.3"
touch -d '10 minutes ago' "$d/summary.csv.tmp.$live.1"
"$PB" collect "$STUDY" "${ARGS[@]}" lm_steps=61 root="$TMP/local" > /dev/null 2>&1
check "collect removes a dead writer's temporary files" \
    test ! -e "$d/copy-rope-s1/summary.json.tmp.$dead.0" -a ! -e "$d/summary.csv.tmp.$dead.3"
check "  and keeps a live writer's" test -e "$d/summary.csv.tmp.$live.1"
kill $live

# A results directory can be moved: run configs name nothing outside it
# (the literature study's corpus is named relative to its directory).
mv "$TMP/local" "$TMP/moved"
"$PB" sweep "$STUDY" "${ARGS[@]}" lm_steps=61 root="$TMP/moved" --plan > "$TMP/moved-plan.txt" 2>&1
check "a moved results directory: its runs stay done" grep -q '^12 runs: 12 done, 0 todo' "$TMP/moved-plan.txt"
# Runs made from another source state are reused, and collect says so.
"$PB" collect "$STUDY" "${ARGS[@]}" lm_steps=61 root="$TMP/moved" > "$TMP/moved-collect.log" 2>&1
check "collect of runs from one source state gives no warning" bash -c "! grep -q 'source states' '$TMP/moved-collect.log'"
sed -i 's/"git_commit": "[^"]*"/"git_commit": "0123456789abcdef"/' "$TMP/moved/extrapolation/copy-rope-s1/config.json"
"$PB" collect "$STUDY" "${ARGS[@]}" lm_steps=61 root="$TMP/moved" > "$TMP/moved-collect2.log" 2>&1
check "  one run from another commit: collect warns, naming both states" \
    bash -c "grep -Eq 'the runs come from 2 source states: .*0123456789ab(\\+changes)? \\(1 run\\)' '$TMP/moved-collect2.log'"
LIT=$PWD/experiments/literature.lua
"$PB" sweep "$LIT" scale=tiny sections=press root="$TMP/lit" --local 2 > "$TMP/lit.log" 2>&1
mv "$TMP/lit" "$TMP/lit-moved"
"$PB" sweep "$LIT" scale=tiny sections=press root="$TMP/lit-moved" --plan > "$TMP/lit-plan.txt" 2>&1
check "  the literature study's too (16 runs, 8 of them lr pilots, done after the move)" grep -q '^16 runs: 16 done, 0 todo' "$TMP/lit-plan.txt"
"$PB" sweep "$LIT" scale=tiny sections=press root="$TMP/lit-moved" texts=/usr/share/common-licenses/BSD --plan > "$TMP/lit-plan2.txt" 2>&1
check "  and another corpus makes its language-model runs stale" grep -q "^16 runs: 0 done, 0 todo, 16 stale" "$TMP/lit-plan2.txt"
finish
