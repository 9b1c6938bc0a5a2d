# Shared by the sweep tests: a small extrapolation plan, checks, and
# comparisons of collected outputs. Source it; needs $BUILD.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PB=$(realpath "${BUILD:-build}/posbench")
STUDY=$PWD/experiments/extrapolation.lua
# 12 runs (2 tasks x 2 encodings x 2 seeds and 2 p-RoPE models, then 2 RoPE
# scaling runs), a
# few seconds in all.
ARGS=(scale=tiny steps=150 lm_steps=60 samples=16 finetune_steps=10 lm_corpus_len=4000 lm_max_tokens=512)
# What a collect writes that must not depend on how the runs were executed.
OUTPUTS="summary.csv scaling.csv diagnostics.csv diagnostics_heads.csv runs.csv report.md"
TMP=$(mktemp -d /tmp/posbench-sweep-test.XXXXXX)
passed=0 failed=0

check() {  # description, command...
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok    $what"
    else failed=$((failed + 1)); echo "FAIL  $what"; fi
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && rm -rf "$TMP"
    [ "$failed" -eq 0 ]
}

# same_outputs DIR_A DIR_B: every collected output byte-identical.
same_outputs() {
    local f ok=0
    for f in $OUTPUTS; do
        if ! cmp -s "$1/extrapolation/$f" "$2/extrapolation/$f"; then
            echo "      differs: $f ($1 vs $2)"; ok=1
        fi
    done
    return $ok
}

# no_torn DIR: no temporary files left, every JSON file parses.
no_torn() {
    local bad
    bad=$(find "$1" -name '*.tmp.*' | head -5)
    [ -z "$bad" ] || { echo "      temporary files left: $bad"; return 1; }
    find "$1" -name '*.json' -print0 | xargs -0 -r python3 -c '
import json, sys
for p in sys.argv[1:]:
    json.load(open(p))' || { echo "      a JSON file does not parse"; return 1; }
}

# Checksums of every file of the done runs (summary.json present).
done_sums() {
    local d
    for d in "$1"/extrapolation/*/; do
        [ -f "$d/summary.json" ] && find "$d" -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum
    done
}

count_done() { ls "$1"/extrapolation/*/summary.json 2>/dev/null | wc -l; }
