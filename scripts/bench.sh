#!/usr/bin/env bash
# Training throughput of posbench against a PyTorch peer (`make bench`).
#
# For each config, runs `posbench bench ...` and scripts/bench_torch.py (the
# same model in PyTorch), each with 2 and 1 threads, best kept, prints a
# table and appends the rows to results/bench/bench.csv (rewritten
# atomically: temp file + mv) with the date and the machine. Exits 0
# whatever the numbers; non-zero only when posbench itself fails to run.
# Without PyTorch, posbench's numbers are still printed.
#
#   BUILD=build scripts/bench.sh            both configs
#   BENCH_STEPS=5 scripts/bench.sh          fewer timed steps (quick look)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POSBENCH=$BUILD/posbench
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=results/bench/bench.csv

#        name d   layers heads T   batch vocab encoding steps
CONFIGS=("A  128 4      4     128 32    64    rope     10"
         "B  64  2      4     64  64    32    rope     20")

if [ ! -x "$POSBENCH" ]; then
    echo "bench: $POSBENCH is not built (make BUILD=$BUILD all)" >&2
    exit 1
fi
have_torch=1
if ! $PYTHON -c 'import torch' 2>/dev/null; then
    have_torch=0
    echo "bench: PyTorch is missing (Debian package python3-torch): posbench only"
fi

cpu=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)
[ -n "$cpu" ] || cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
cores=$(nproc)
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
machine="$cpu, $cores cores"
echo "bench: $machine, $date"

# value KEY < output: the last KEY=value line's value.
value() { sed -n "s/^$1=//p" | tail -n1; }

header="date,machine,config,d,layers,heads,T,batch,vocab,encoding,steps,posbench_tokens_per_s,posbench_threads,torch_tokens_per_s,torch_threads,ratio,mfu,sgemm_gflops,peak_rss_mb,torch_peak_rss_mb,torch_version"
rows=()
table=()
status=0
for cfg in "${CONFIGS[@]}"; do
    read -r name d layers heads T batch vocab enc steps <<<"$cfg"
    steps=${BENCH_STEPS:-$steps}
    echo "config $name: d=$d layers=$layers heads=$heads T=$T batch=$batch vocab=$vocab encoding=$enc steps=$steps"

    # posbench with 2 threads and with 1 (on a busy 2-core machine the
    # threaded run can lose badly to thread contention): best kept.
    pb_tps="" pb_threads="" mfu="" gflops="" rss=""
    for th in 2 1; do
        pb_out=$("$POSBENCH" bench d="$d" layers="$layers" heads="$heads" T="$T" batch="$batch" \
                 vocab="$vocab" encoding="$enc" steps="$steps" threads="$th" 2>&1)
        rc=$?
        tps=$(value tokens_per_s <<<"$pb_out")
        if [ $rc -ne 0 ] || [ -z "$tps" ]; then
            echo "  posbench bench threads=$th failed (exit $rc):"
            sed 's/^/    | /' <<<"$pb_out" | tail -n 20
            status=1
            continue
        fi
        echo "  posbench, $th thread(s): tokens_per_s=$tps mfu=$(value mfu <<<"$pb_out")" \
             "sgemm_gflops=$(value sgemm_gflops <<<"$pb_out") peak_rss_mb=$(value peak_rss_mb <<<"$pb_out")"
        if [ -z "$pb_tps" ] || awk -v a="$tps" -v b="$pb_tps" 'BEGIN{exit !(a > b)}'; then
            pb_tps=$tps pb_threads=$th
            mfu=$(value mfu <<<"$pb_out")
            gflops=$(value sgemm_gflops <<<"$pb_out")
            rss=$(value peak_rss_mb <<<"$pb_out")
        fi
    done

    torch_tps="" torch_threads="" torch_version="" torch_rss=""
    if [ $have_torch -eq 1 ]; then
        for th in 1 2; do
            t_out=$($PYTHON scripts/bench_torch.py --d "$d" --layers "$layers" --heads "$heads" \
                    --T "$T" --batch "$batch" --vocab "$vocab" --encoding "$enc" \
                    --steps "$steps" --threads "$th" 2>&1)
            tps=$(value tokens_per_s <<<"$t_out")
            if [ -z "$tps" ]; then
                echo "  PyTorch ($th threads) failed:"
                sed 's/^/    | /' <<<"$t_out" | tail -n 10
                continue
            fi
            torch_version=$(value torch <<<"$t_out")
            t_rss=$(value peak_rss_mb <<<"$t_out")
            echo "  PyTorch $torch_version, $th thread(s): tokens_per_s=$tps peak_rss_mb=$t_rss"
            if [ -z "$torch_tps" ] || awk -v a="$tps" -v b="$torch_tps" 'BEGIN{exit !(a > b)}'; then
                torch_tps=$tps torch_threads=$th torch_rss=$t_rss
            fi
        done
    fi

    ratio=""
    if [ -n "$pb_tps" ] && [ -n "$torch_tps" ]; then
        ratio=$(awk -v a="$pb_tps" -v b="$torch_tps" 'BEGIN{ if (b > 0) printf "%.2f", a / b }')
    fi
    rows+=("$date,\"$machine\",$name,$d,$layers,$heads,$T,$batch,$vocab,$enc,$steps,$pb_tps,$pb_threads,$torch_tps,$torch_threads,$ratio,$mfu,$gflops,$rss,$torch_rss,$torch_version")
    table+=("$name (d=$d L=$layers T=$T B=$batch)|${pb_tps:--}${pb_threads:+ ($pb_threads thr)}|${torch_tps:--}${torch_threads:+ ($torch_threads thr)}|${ratio:--}|${mfu:--}|${rss:+$rss MB}")
done

echo
{
    echo "config|posbench tok/s|PyTorch tok/s|ratio|MFU|peak RSS"
    printf '%s\n' "${table[@]}"
} | awk -F'|' '{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; nf = NF }
      END { for (r = 1; r <= n; r++) { line = ""
                for (i = 1; i <= nf; i++) line = line sprintf(i == 1 ? "%-*s" : "  %*s", w[i], cell[r, i])
                print line } }'
echo "(ratio = posbench / PyTorch, each the best of 1 and 2 threads; MFU and RSS are posbench's)"

# Append to the history: keep earlier rows when the header matches.
mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp "$OUT.tmp.XXXXXX") || exit 1
{
    echo "$header"
    if [ -f "$OUT" ] && [ "$(head -n1 "$OUT")" = "$header" ]; then tail -n +2 "$OUT"; fi
    printf '%s\n' "${rows[@]}"
} >"$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$OUT" || { rm -f "$tmp"; echo "bench: cannot write $OUT" >&2; exit 1; }
echo "wrote $OUT"
exit $status
