#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ and runs each one.
#   tests/fuzz/fuzz.sh [SECONDS] [TARGET...]   (targets: tensorfile json args sweep_state
#                                               quote_shell quote_gnuplot quote_slurm)
#   tests/fuzz/fuzz.sh --check   exit 0 when clang can build them
# SECONDS (default 60) is per target. Each target's seed corpus is
# tests/fuzz/corpus/TARGET (real files, read only); inputs it finds go to
# $FUZZ_BUILD/corpus/TARGET (default build-fuzz), kept between runs, and
# crashes to $FUZZ_BUILD/crash-TARGET-*. Prints each run's execution count.
# Exit status 77 when clang cannot build libFuzzer targets.
set -u
cd "$(dirname "$0")/../.."
check=0
[ "${1:-}" = --check ] && { check=1; shift; }
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tensorfile json args sweep_state quote_shell quote_gnuplot quote_slurm)
out=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$out"

cc=${FUZZ_CC:-clang}
flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -Wall -Wextra
       "-DPB_SOURCE_ROOT=\"$PWD\"" $(pkg-config --cflags lua5.4))
lua_libs=$(pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)

probe="$out/probe.c"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; return (int)n * 0; }' >"$probe"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe" -o "$out/probe" 2>/dev/null; then
    echo "fuzz: $cc cannot build libFuzzer targets (install clang with libFuzzer); skipped"
    exit 77
fi
[ $check = 1 ] && exit 0

build() {  # target -> $out/fuzz_target
    local t=$1 src
    case $t in
        tensorfile) src=(harness/io/*.c harness/core/pb_error.c) ;;
        json) src=() ;;
        args) src=(harness/bind/lua_args.c) ;;
        sweep_state) src=(harness/bind/lua_results_fs.c harness/io/results_fs.c harness/io/atomic_file.c
                          harness/io/dirs.c harness/core/pb_error.c) ;;
        quote_shell|quote_gnuplot|quote_slurm) src=(harness/core/quote.c harness/core/pb_error.c) ;;
        *) echo "fuzz: unknown target '$t' (valid: tensorfile json args sweep_state quote_shell" \
                "quote_gnuplot quote_slurm)"; return 1 ;;
    esac
    local bin="$out/fuzz_$t"
    local newer=0
    for f in "tests/fuzz/fuzz_$t.c" "${src[@]}" harness/*/*.h harness/lua/posbench/*.lua; do
        [ "$f" -nt "$bin" ] && newer=1
    done
    [ -x "$bin" ] && [ $newer = 0 ] && return 0
    "$cc" "${flags[@]}" "tests/fuzz/fuzz_$t.c" "${src[@]}" $lua_libs -lm -o "$bin"
}

status=0
for t in "${targets[@]}"; do
    build "$t" || { status=1; continue; }
    mkdir -p "$out/corpus/$t"
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
    log="$out/fuzz_$t.log"
    "$out/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$out/crash-$t-" "${dict[@]}" \
        "$out/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        echo "fuzz_$t: ${runs:-?} executions in ${seconds}s, no failure"
    else
        echo "fuzz_$t: FAILED after ${runs:-?} executions (exit $rc); log $log:"
        grep -v '^#' "$log" | tail -n 30
        status=1
    fi
done
exit $status
