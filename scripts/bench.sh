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
#   BENCH_SWEEP=1 scripts/bench.sh          also the sweep speed-up (--local 2)
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

# value KEY < output: the last KEY=value line's value.
value() { sed -n "s/^$1=//p" | tail -n1; }

cpu=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)
[ -n "$cpu" ] || cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
cores=$(nproc)
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
machine="$cpu, $cores cores"
echo "bench: $machine, $date"
# The BLAS kernel explains most of a speed difference between machines.
info=$("$POSBENCH" info 2>&1)
blas_kernel=$(value blas_kernel <<<"$info" 2>/dev/null)
sed -n 's/^\(blas\|blas_kernel\|blas_selection\|cpu_best_kernel\|cpu_features\)=/  \1: /p' <<<"$info"


header="date,machine,config,d,layers,heads,T,batch,vocab,encoding,steps,posbench_tokens_per_s,posbench_threads,torch_tokens_per_s,torch_threads,ratio,mfu,sgemm_gflops,peak_rss_mb,torch_peak_rss_mb,torch_version,blas_kernel,peak_kernel,peak_gflops"
rows=()
table=()
status=0
for cfg in "${CONFIGS[@]}"; do
    read -r name d layers heads T batch vocab enc steps <<<"$cfg"
    steps=${BENCH_STEPS:-$steps}
    echo "config $name: d=$d layers=$layers heads=$heads T=$T batch=$batch vocab=$vocab encoding=$enc steps=$steps"

    # posbench with 2 threads and with 1 (on a busy 2-core machine the
    # threaded run can lose badly to thread contention): best kept.
    pb_tps="" pb_threads="" mfu="" gflops="" rss="" peak_kernel="" peak=""
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
        echo "  posbench, $th thread(s): tokens_per_s=$tps model_gflops=$(value model_gflops <<<"$pb_out")" \
             "sgemm_gflops=$(value sgemm_gflops <<<"$pb_out") ($(value blas_kernel <<<"$pb_out"))" \
             "peak_gflops=$(value peak_gflops <<<"$pb_out") ($(value peak_kernel <<<"$pb_out"))" \
             "mfu=$(value mfu <<<"$pb_out") mfu_in_use=$(value mfu_in_use <<<"$pb_out") peak_rss_mb=$(value peak_rss_mb <<<"$pb_out")"
        if [ -z "$pb_tps" ] || awk -v a="$tps" -v b="$pb_tps" 'BEGIN{exit !(a > b)}'; then
            pb_tps=$tps pb_threads=$th
            mfu=$(value mfu <<<"$pb_out")
            gflops=$(value sgemm_gflops <<<"$pb_out")
            rss=$(value peak_rss_mb <<<"$pb_out")
            peak_kernel=$(value peak_kernel <<<"$pb_out")
            peak=$(value peak_gflops <<<"$pb_out")
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
    rows+=("$date,\"$machine\",$name,$d,$layers,$heads,$T,$batch,$vocab,$enc,$steps,$pb_tps,$pb_threads,$torch_tps,$torch_threads,$ratio,$mfu,$gflops,$rss,$torch_rss,$torch_version,$blas_kernel,$peak_kernel,$peak")
    table+=("$name (d=$d L=$layers T=$T B=$batch)|${pb_tps:--}${pb_threads:+ ($pb_threads thr)}|${torch_tps:--}${torch_threads:+ ($torch_threads thr)}|${ratio:--}|${mfu:--}${peak_kernel:+ (vs $peak_kernel $peak)}|${rss:+$rss MB}")
done

echo
{
    echo "config|posbench tok/s|PyTorch tok/s|ratio|MFU|peak RSS"
    printf '%s\n' "${table[@]}"
} | awk -F'|' '{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; nf = NF }
      END { for (r = 1; r <= n; r++) { line = ""
                for (i = 1; i <= nf; i++) line = line sprintf(i == 1 ? "%-*s" : "  %*s", w[i], cell[r, i])
                print line } }'
echo "(ratio = posbench / PyTorch, each the best of 1 and 2 threads; MFU and RSS are posbench's;"
echo " MFU = model FLOP rate / sgemm peak of the best kernel the CPU supports, measured now)"
echo "targets: ratio A >= 3.0, B >= 4.0; MFU on A >= 0.5 (BLAS kernel in use: ${blas_kernel:-?})"

# Append to the history: keep earlier rows when the header matches.
mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp "$OUT.tmp.XXXXXX") || exit 1
{
    echo "$header"
    if [ -f "$OUT" ] && [ "$(head -n1 "$OUT")" = "$header" ]; then tail -n +2 "$OUT"; fi
    printf '%s\n' "${rows[@]}"
} >"$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$OUT" || { rm -f "$tmp"; echo "bench: cannot write $OUT" >&2; exit 1; }
echo "wrote $OUT"

# The other targets, each a ratio measured in this run:
#  - emulated bf16 at q/k and logits against fp32 (config A step time);
#  - every encoding's training step against NoPE's (config A);
#  - evaluation at growing T with batch 1 (config A's model): time per
#    doubling of T (quadratic = 4x) and peak resident memory;
#  - learnable Lua encodings (a bias, a table) against their C twins' step.
step_ms() {  # args... -> best step_ms of 2 and 1 threads
    local best="" out v
    for th in 2 1; do
        out=$("$POSBENCH" bench "$@" threads="$th" 2>&1) || { echo "  failed: $* threads=$th" >&2; continue; }
        v=$(value step_ms <<<"$out")
        if [ -z "$best" ] || awk -v a="$v" -v b="$best" 'BEGIN{exit !(a < b)}'; then best=$v; fi
    done
    echo "$best"
}
A="d=128 layers=4 heads=4 T=128 batch=32 vocab=64 steps=${BENCH_STEPS:-6}"
extra=$(dirname "$OUT")/targets.csv
lines=("date,machine,target,subject,value,reference,ratio")

echo
echo "emulated precision (config A, training step):"
fp32=$(step_ms $A encoding=rope)
bf16=$(step_ms $A encoding=rope precision=qk_post:bf16,logits:bf16)
r=$(awk -v a="$bf16" -v b="$fp32" 'BEGIN{printf "%.2f", a / b}')
printf '  fp32 %8.1f ms   bf16 at qk_post+logits %8.1f ms   ratio %s (target <= 1.3)\n' "$fp32" "$bf16" "$r"
lines+=("$date,\"$machine\",bf16_sites,qk_post+logits,$bf16,$fp32,$r")

echo
echo "encodings (config A, training step against none):"
ref=$(step_ms $A encoding=none)
printf '  %-14s %8.1f ms\n' none "$ref"
for enc in $("$POSBENCH" list encodings --names); do
    [ "$enc" = none ] && continue
    ms=$(step_ms $A encoding="$enc")
    [ -n "$ms" ] || continue
    r=$(awk -v a="$ms" -v b="$ref" 'BEGIN{printf "%.2f", a / b}')
    printf '  %-14s %8.1f ms   %sx  (target <= 1.25)\n' "$enc" "$ms" "$r"
    lines+=("$date,\"$machine\",encoding_step,$enc,$ms,$ref,$r")
done

echo
echo "evaluation at long T (config A's model, batch 1, forward only):"
prev=""
for T in 1024 2048 4096 8192; do
    out=$("$POSBENCH" bench d=128 layers=4 heads=4 vocab=64 encoding=rope T=$T batch=1 \
          eval=1 steps=2 warmup=1 2>&1)
    ms=$(value step_ms <<<"$out"); mb=$(value peak_rss_mb <<<"$out")
    growth=""
    [ -n "$prev" ] && growth=$(awk -v a="$ms" -v b="$prev" 'BEGIN{printf "%.2f", a / b}')
    printf '  T=%-5s %9.1f ms  x%-5s (quadratic: x4)  peak RSS %6.1f MB (target < 1024)\n' \
           "$T" "$ms" "${growth:--}" "$mb"
    lines+=("$date,\"$machine\",eval_time_ms,T=$T,$ms,$prev,$growth")
    lines+=("$date,\"$machine\",eval_peak_rss_mb,T=$T,$mb,1024,")
    prev=$ms
done

echo
echo "hybrid attention (scripts/bench_hybrid.lua, one thread; docs/hybrids.md):"
# two processes: peak RSS only grows, so the evaluation's is measured alone
hout=$("$POSBENCH" run scripts/bench_hybrid.lua parts=steps 2>&1 &&
       "$POSBENCH" run scripts/bench_hybrid.lua parts=eval max_T=${BENCH_HYBRID_MAX_T:-65536} 2>&1) \
    || { echo "  failed:"; sed 's/^/    | /' <<<"$hout" | tail -n 10; status=1; }
while read -r line; do
    case "$line" in
    hybrid_step*)
        T=$(sed -n 's/.* T=\([0-9]*\).*/\1/p' <<<"$line")
        r=$(sed -n 's/.* ratio=\([0-9.]*\).*/\1/p' <<<"$line")
        target=$([ "$T" = 128 ] && echo "<= 1.1" || echo "< 1")
        echo "  $line  (3 x RoPE W=64 + 1 x NoPE vs 4 x RoPE; target $target)"
        lines+=("$date,\"$machine\",hybrid_step_ratio,T=$T,$r,1,$r") ;;
    window_eval*)
        echo "  $line  (linear: x2 per doubling)"
        T=$(sed -n 's/.* T=\([0-9]*\).*/\1/p' <<<"$line")
        lines+=("$date,\"$machine\",window_eval_time_ratio,T=$T,$(sed -n 's/.*time_ratio=\([^ ]*\).*/\1/p' <<<"$line"),2,")
        lines+=("$date,\"$machine\",window_eval_rss_ratio,T=$T,$(sed -n 's/.*rss_ratio=\([^ ]*\).*/\1/p' <<<"$line"),2,") ;;
    esac
done <<<"$hout"

echo
echo "learnable Lua encodings against their C twins (scripts/bench_learnable.lua, config A, one thread):"
lout=$("$POSBENCH" run scripts/bench_learnable.lua steps=${BENCH_STEPS:-6} 2>&1) \
    || { echo "  failed:"; sed 's/^/    | /' <<<"$lout" | tail -n 10; status=1; }
while read -r line; do
    case "$line" in
    learnable_step*)
        form=$(sed -n 's/.* form=\([a-z]*\).*/\1/p' <<<"$line")
        r=$(sed -n 's/.* ratio=\([0-9.]*\).*/\1/p' <<<"$line")
        target=$([ "$form" = bias ] && echo "<= 1.3" || echo "<= 1.5")
        echo "  $line  (target $target)"
        lines+=("$date,\"$machine\",learnable_lua_step_ratio,$form,$r,1,$r") ;;
    esac
done <<<"$lout"

# Optional (BENCH_SWEEP=1; about 15 minutes on 2 cores): the default
# extrapolation study in one process and as a sweep with --local 2 (both at
# one thread per run): the ratio of wall times, target <= 0.6 on 2 cores.
if [ "${BENCH_SWEEP:-0}" = 1 ]; then
    echo
    echo "sweep: extrapolation (default scale), one process vs --local 2:"
    sroot=$(mktemp -d /tmp/posbench-bench-sweep.XXXXXX)
    t0=$(date +%s.%N)
    "$POSBENCH" run experiments/extrapolation.lua root="$sroot/seq" >"$sroot/seq.log" 2>&1 || status=1
    t1=$(date +%s.%N)
    "$POSBENCH" sweep experiments/extrapolation.lua root="$sroot/local" --local 2 >"$sroot/local.log" 2>&1 || status=1
    t2=$(date +%s.%N)
    seq_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}')
    loc_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.1f", b - a}')
    r=$(awk -v a="$loc_s" -v b="$seq_s" 'BEGIN{printf "%.2f", a / b}')
    printf '  one process %7.1f s   --local 2 %7.1f s   ratio %s (target <= 0.6)\n' "$seq_s" "$loc_s" "$r"
    lines+=("$date,\"$machine\",sweep_local2_wall_s,extrapolation default,$loc_s,$seq_s,$r")
    rm -rf "$sroot"
fi

tmp=$(mktemp "$extra.tmp.XXXXXX") || exit 1
printf '%s\n' "${lines[@]}" >"$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$extra" || { rm -f "$tmp"; exit 1; }
echo "wrote $extra"
exit $status
