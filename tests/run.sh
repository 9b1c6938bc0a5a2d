#!/usr/bin/env bash
# Runs every test program and prints one closing line "N passed, N failed".
#   tests/run.sh             C tests, Lua tests, PyTorch reference tests
#   tests/run.sh --unit      C tests only
#   tests/run.sh --sanitize  C tests and Lua tests (PyTorch is not sanitized)
# Each test is one program; its own output goes to the log, and a failing
# test's log is shown.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mode=${1:-all}
passed=0 failed=0 failures=()
logdir=$BUILD/test-logs
mkdir -p "$logdir"

run_one() {  # name, command...
    local name=$1; shift
    local log="$logdir/$name.log" start=$SECONDS
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        printf '  ok    %-40s %4ss\n' "$name" $((SECONDS - start))
    else
        failed=$((failed + 1)); failures+=("$name")
        printf '  FAIL  %-40s %4ss\n' "$name" $((SECONDS - start))
        sed 's/^/        | /' "$log" | tail -n 40
    fi
}

echo "C tests ($BUILD/tests)"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done

# Learning-quality tests train for thousands of steps: under the sanitizers
# (10x slower) they would dominate, and every code path they use is covered
# by the other tests.
slow_under_sanitizers="test_learning"
skipped=0

if [ "$mode" != --unit ]; then
    echo "Lua tests (tests/lua)"
    for t in tests/lua/test_*.lua; do
        [ -f "$t" ] || continue
        name=$(basename "$t" .lua)
        if [ "$mode" = --sanitize ] && [[ " $slow_under_sanitizers " == *" $name "* ]]; then
            printf '  skip  %-40s (slow under sanitizers)\n' "$name"
            skipped=$((skipped + 1))
            continue
        fi
        run_one "$name" "$BUILD/posbench" run "$t"
    done
fi

# Fuzzers (tests/fuzz/): a few seconds each on the seed corpus; longer
# campaigns with `make fuzz FUZZ_SECONDS=600`.
if [ "$mode" = all ]; then
    echo "Fuzz targets (tests/fuzz, ${FUZZ_TEST_SECONDS:-5}s each)"
    export FUZZ_BUILD=${FUZZ_BUILD:-$BUILD-fuzz}
    if tests/fuzz/fuzz.sh --check >/dev/null 2>&1; then
        for t in tensorfile json args sweep_state quote_shell quote_gnuplot quote_slurm; do
            run_one "fuzz_$t" tests/fuzz/fuzz.sh "${FUZZ_TEST_SECONDS:-5}" "$t"
        done
    else
        printf '  skip  %-40s (clang with libFuzzer is not available)\n' "fuzz_*"
        skipped=$((skipped + 7))
    fi
fi

# Sweeps: local workers, GNU parallel, and a real local Slurm cluster that
# test_slurm.sh starts and stops itself (scripts/slurm-local.sh).
if [ "$mode" = all ]; then
    echo "Sweep tests (tests/sweep)"
    for t in tests/sweep/test_*.sh; do
        [ -f "$t" ] || continue
        run_one "$(basename "$t" .sh)" env BUILD="$BUILD" bash "$t"
    done
fi

if [ "$mode" = all ]; then
    echo "PyTorch reference tests (tests/torch)"
    if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        for t in tests/torch/test_*.py; do
            [ -f "$t" ] || continue
            run_one "$(basename "$t" .py)" env BUILD="$BUILD" /usr/bin/python3 "$t"
        done
    else
        echo "  python3-torch is missing: run scripts/install-deps.sh as root"
        failed=$((failed + 1)); failures+=("torch-missing")
    fi
fi

[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
