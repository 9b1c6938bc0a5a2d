#!/usr/bin/env bash
# Training throughput of posbench against a PyTorch peer (`make bench`).
#
# For each config, runs `posbench bench ...` and scripts/bench_torch.py (the
# same model in PyTorch) with the same thread count (BENCH_THREADS, default
# 1), interleaved and repeated BENCH_REPEAT times (default 3): each repeat's
# ratio compares two runs made one after the other, so a machine shared with
# other work moves both. Prints the median tokens/s of each program and the
# median ratio with its range over the repeats, and appends the rows to
# results/bench/bench.csv (rewritten atomically: temp file + mv) with the
# date and the machine. Exits 0 whatever the numbers; non-zero only when
# posbench itself fails to run. Without PyTorch, posbench's numbers are
# still printed.
#
#   BUILD=build scripts/bench.sh            configs A, B and C
#   BENCH_CONFIGS="C" scripts/bench.sh      some of them
#   BENCH_STEPS=5 scripts/bench.sh          fewer timed steps (quick look)
#   BENCH_SWEEP=1 scripts/bench.sh          also the sweep speed-up (--local 2)
#   BENCH_TARGETS=0 scripts/bench.sh        the ratio table only
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
POSBENCH=$BUILD/posbench
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=results/bench/bench.csv

#        name d   layers heads T   batch vocab encoding steps
ALL_CONFIGS=("A  128 4      4     128 32    64    rope     10"
             "B  64  2      4     64  64    32    rope     20"
             "C  32  2      4     32  32    16    rope     100")
THREADS=${BENCH_THREADS:-1}
REPEAT=${BENCH_REPEAT:-3}
CONFIGS=()
for cfg in "${ALL_CONFIGS[@]}"; do
    case " ${BENCH_CONFIGS:-A B C} " in *" ${cfg%% *} "*) CONFIGS+=("$cfg") ;; esac
done

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


header="date,machine,config,d,layers,heads,T,batch,vocab,encoding,steps,posbench_tokens_per_s,posbench_threads,torch_tokens_per_s,torch_threads,ratio,mfu,sgemm_gflops,peak_rss_mb,torch_peak_rss_mb,torch_version,blas_kernel,peak_kernel,peak_gflops,ratio_min,ratio_max,repeats,kernels"
rows=()
table=()
status=0
# median of the arguments (numbers)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for cfg in "${CONFIGS[@]}"; do
    read -r name d layers heads T batch vocab enc steps <<<"$cfg"
    steps=${BENCH_STEPS:-$steps}
    echo "config $name: d=$d layers=$layers heads=$heads T=$T batch=$batch vocab=$vocab encoding=$enc steps=$steps threads=$THREADS"
    pb_all=() torch_all=() ratios=()
    mfu="" gflops="" rss="" peak_kernel="" peak="" kernels="" torch_version="" torch_rss=""
    for rep in $(seq 1 "$REPEAT"); do
        pb_out=$("$POSBENCH" bench d="$d" layers="$layers" heads="$heads" T="$T" batch="$batch" \
                 vocab="$vocab" encoding="$enc" steps="$steps" threads="$THREADS" 2>&1)
        rc=$?
        tps=$(value tokens_per_s <<<"$pb_out")
        if [ $rc -ne 0 ] || [ -z "$tps" ]; then
            echo "  posbench bench failed (exit $rc):"
            sed 's/^/    | /' <<<"$pb_out" | tail -n 20
            status=1
            break
        fi
        pb_all+=("$tps")
        mfu=$(value mfu <<<"$pb_out") gflops=$(value sgemm_gflops <<<"$pb_out")
        rss=$(value peak_rss_mb <<<"$pb_out") kernels=$(value kernels <<<"$pb_out")
        peak_kernel=$(value peak_kernel <<<"$pb_out") peak=$(value peak_gflops <<<"$pb_out")
        line="  [$rep] posbench tokens_per_s=$tps (kernels ${kernels:-?}, sgemm_gflops=$gflops, mfu=$mfu)"
        if [ $have_torch -eq 1 ]; then
            t_out=$($PYTHON scripts/bench_torch.py --d "$d" --layers "$layers" --heads "$heads" \
                    --T "$T" --batch "$batch" --vocab "$vocab" --encoding "$enc" \
                    --steps "$steps" --threads "$THREADS" 2>&1)
            t_tps=$(value tokens_per_s <<<"$t_out")
            if [ -z "$t_tps" ]; then
                echo "  PyTorch failed:"
                sed 's/^/    | /' <<<"$t_out" | tail -n 10
            else
                torch_all+=("$t_tps")
                torch_version=$(value torch <<<"$t_out") torch_rss=$(value peak_rss_mb <<<"$t_out")
                r=$(awk -v a="$tps" -v b="$t_tps" 'BEGIN{ if (b > 0) printf "%.2f", a / b }')
                ratios+=("$r")
                line="$line  PyTorch $torch_version tokens_per_s=$t_tps  ratio=$r"
            fi
        fi
        echo "$line"
    done
    pb_tps=$(median "${pb_all[@]}") torch_tps=$(median "${torch_all[@]}")
    ratio="" rmin="" rmax=""
    if [ ${#ratios[@]} -gt 0 ]; then
        ratio=$(median "${ratios[@]}")
        rmin=$(printf '%s\n' "${ratios[@]}" | sort -g | head -n1)
        rmax=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -n1)
    fi
    rows+=("$date,\"$machine\",$name,$d,$layers,$heads,$T,$batch,$vocab,$enc,$steps,$pb_tps,$THREADS,$torch_tps,$THREADS,$ratio,$mfu,$gflops,$rss,$torch_rss,$torch_version,$blas_kernel,$peak_kernel,$peak,$rmin,$rmax,${#ratios[@]},$kernels")
    table+=("$name (d=$d L=$layers T=$T B=$batch)|${pb_tps:--}|${torch_tps:--}|${ratio:--}|${rmin:+$rmin..$rmax}|${mfu:--}${peak_kernel:+ (vs $peak_kernel $peak)}|${rss:+$rss MB}")
done

echo
{
    echo "config|posbench tok/s|PyTorch tok/s|ratio|ratio range|MFU|peak RSS"
    printf '%s\n' "${table[@]}"
} | awk -F'|' '{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; nf = NF }
      END { for (r = 1; r <= n; r++) { line = ""
                for (i = 1; i <= nf; i++) line = line sprintf(i == 1 ? "%-*s" : "  %*s", w[i], cell[r, i])
                print line } }'
echo "(tok/s: medians of $REPEAT interleaved runs at $THREADS thread(s) each; ratio = posbench / PyTorch"
echo " per repeat, median and range; MFU and RSS are posbench's; MFU = model FLOP rate /"
echo " sgemm peak of the best kernel the CPU supports, measured now)"
echo "targets (threads=1): ratio A >= 1.6, B >= 2.5, C >= 4.0 (BLAS kernel in use: ${blas_kernel:-?})"

# Append to the history: keep earlier rows when the header matches.
mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp "$OUT.tmp.XXXXXX") || exit 1
{
    echo "$header"
    if [ -f "$OUT" ] && [ "$(head -n1 "$OUT")" = "$header" ]; then tail -n +2 "$OUT"; fi
    printf '%s\n' "${rows[@]}"
} >"$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$OUT" || { rm -f "$tmp"; echo "bench: cannot write $OUT" >&2; exit 1; }
echo "wrote $OUT"

[ "${BENCH_TARGETS:-1}" = 0 ] && exit $status

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
