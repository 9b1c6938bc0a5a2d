#!/usr/bin/env bash
# Sequential sweeps (--until-decided) on a synthetic study whose runs take no
# time (tests/sweep/seq_study.lua: planted effects 3, 0.6 and 0): seeds are
# added only to the series whose claims are undecided, the state resumes,
# --commands goes look by look and ends with the same claims as --local,
# and changing the looks between calls is refused.
source "$(dirname "$0")/common.sh"
SEQ=$PWD/tests/sweep/seq_study.lua
A=(--until-decided --max-seeds 16)

"$PB" sweep "$SEQ" root="$TMP/local" "${A[@]}" --local 2 >"$TMP/local.log" 2>&1
check "--until-decided --local finishes" test $? -eq 0
check "looks 4, 8, 16 taken up to look 2" grep -q '"look":2,"looks":\[4,8,16\]' "$TMP/local/seq_study/sequential.json"
check "the undecided series got 8 seeds" test -d "$TMP/local/seq_study/small-s8" -a -d "$TMP/local/seq_study/big-s8"
check "the futile null series kept 4" test ! -e "$TMP/local/seq_study/null-s5"
check "the big effect is reproduced at look 2" grep -qx 'big,reproduced,2' "$TMP/local/seq_study/claims.csv"
check "no claim about the null series is decided" grep -qx 'null,inconclusive,1' "$TMP/local/seq_study/claims.csv"

cp "$TMP/local/seq_study/claims.csv" "$TMP/claims-first.csv"
"$PB" sweep "$SEQ" root="$TMP/local" "${A[@]}" --local 2 >"$TMP/again.log" 2>&1
check "a second call resumes at look 2 and runs nothing" \
    bash -c "grep -q 'look 2 of 3' '$TMP/again.log' && ! grep -q 'to run with' '$TMP/again.log'"
check "... and the same claims" cmp -s "$TMP/claims-first.csv" "$TMP/local/seq_study/claims.csv"

# A saved state that lacks seeds the claims want (as when the claims changed
# since it was written): the looks are walked again from the runs, so the
# missing seeds are run and the claims are the first call's.
echo '{"look":2,"looks":[4,8,16],"seeds":{"big":8}}' >"$TMP/local/seq_study/sequential.json"
rm -rf "$TMP/local/seq_study"/small-s[5-8]
"$PB" sweep "$SEQ" root="$TMP/local" "${A[@]}" --local 2 >"$TMP/stale.log" 2>&1
check "a stale state is walked again: small's seeds 5..8 run again" \
    bash -c "grep -q '4 to run with' '$TMP/stale.log' && test -d '$TMP/local/seq_study/small-s8'"
check "... and the claims are the first call's" cmp -s "$TMP/claims-first.csv" "$TMP/local/seq_study/claims.csv"

# A run finished with other settings (stale) stops the look before it runs
# anything, naming the run and the way out; --rerun-stale takes it.
cp -r "$TMP/local" "$TMP/stalerun"
sed -i 's/"config_hash": *"[0-9a-f]*"/"config_hash": "0000000000000000"/' "$TMP/stalerun/seq_study/big-s1/summary.json"
"$PB" sweep "$SEQ" root="$TMP/stalerun" "${A[@]}" --local 2 >"$TMP/staleruns.log" 2>&1
status=$?
check "a stale run stops the look, naming it and --rerun-stale" \
    bash -c "test $status -ne 0 && grep -q '1 runs of this look finished with other settings (stale; first big-s1)' '$TMP/staleruns.log' && grep -q -- '--rerun-stale reruns them' '$TMP/staleruns.log'"
"$PB" sweep "$SEQ" root="$TMP/stalerun" "${A[@]}" --rerun-stale --local 2 >"$TMP/staleruns2.log" 2>&1
check "... --rerun-stale reruns it and ends with the first call's claims" \
    bash -c "grep -q '1 to run with' '$TMP/staleruns2.log' && cmp -s '$TMP/claims-first.csv' '$TMP/stalerun/seq_study/claims.csv'"

# --commands: each call prints the current look's commands; running them
# and calling again takes the look.
for step in 1 2 3; do
    "$PB" sweep "$SEQ" root="$TMP/cmd" "${A[@]}" --commands >"$TMP/cmds-$step.sh" 2>"$TMP/cmds-$step.log"
    bash "$TMP/cmds-$step.sh" >/dev/null 2>&1
done
check "--commands carries --until-decided to the workers" grep -q -- "--until-decided" "$TMP/cmds-2.sh"
check "look 2's commands add seeds 5..8 only" \
    bash -c "grep -c -- '--run' '$TMP/cmds-2.sh' | grep -qx 8 && ! grep -q null '$TMP/cmds-2.sh'"
check "--commands ends with the claims of --local" \
    cmp -s "$TMP/cmd/seq_study/claims.csv" "$TMP/local/seq_study/claims.csv"

# --slurm: the collect job is the same sequential sweep, so each look submits the next.
"$PB" sweep "$SEQ" root="$TMP/slurm" "${A[@]}" --slurm --chunk 3 --dry-run -- --time=5 >"$TMP/slurm.log" 2>&1
check "--slurm --dry-run submits look 1" grep -q "12 runs" "$TMP/slurm.log"
check "... with a collect job that takes the look and submits the next" \
    bash -c "grep -q -- \"'--until-decided' '--max-seeds' '16' '--slurm' '--chunk' '3' '--' '--time=5'\" $TMP/slurm/seq_study/slurm/*-collect.sh"

"$PB" sweep "$SEQ" root="$TMP/local" --until-decided --max-seeds 32 --local 1 >"$TMP/bad.log" 2>&1
status=$?
check "other looks on the same state are refused" test $status -eq 2
check "... naming the state file" grep -q "sequential.json" "$TMP/bad.log"
"$PB" sweep "$SEQ" root="$TMP/local" --max-seeds 8 --local 1 >"$TMP/bad2.log" 2>&1
check "--max-seeds without --until-decided is refused" grep -q "goes with --until-decided" "$TMP/bad2.log"

# A study may add seeds by default (its config's until_decided, with its
# max_seeds): the same looks as the flags; until_decided=false is the fixed
# design.
"$PB" sweep "$SEQ" root="$TMP/default" until_decided=true --local 2 >"$TMP/default.log" 2>&1
check "a study's until_decided=true runs the looks without the flag" \
    bash -c "grep -q 'by default' '$TMP/default.log' && grep -q '\"looks\":\[4,8,16\]' '$TMP/default/seq_study/sequential.json'"
check "... and ends with the claims of --until-decided" \
    cmp -s "$TMP/default/seq_study/claims.csv" "$TMP/local/seq_study/claims.csv"
"$PB" sweep "$SEQ" root="$TMP/fixed" --local 2 >"$TMP/fixed.log" 2>&1
check "until_decided=false is the fixed design: no looks, 4 seeds" \
    bash -c "test ! -e '$TMP/fixed/seq_study/sequential.json' -a ! -e '$TMP/fixed/seq_study/big-s5' -a -d '$TMP/fixed/seq_study/big-s4'"
"$PB" sweep "$SEQ" root="$TMP/fixed" until_decided=true max_seeds=2.5 --plan >"$TMP/bad3.log" 2>&1
status=$?
check "a max_seeds that is not a positive integer is refused" \
    bash -c "test $status -eq 2 && grep -q 'max_seeds=2.5 must be an integer' '$TMP/bad3.log'"
finish
