#!/usr/bin/env bash
# The sweep's Slurm path on a real single-node cluster that this test
# brings up (scripts/slurm-local.sh, a private directory and ports) and
# takes down: job arrays split at MaxArraySize, chunks, the %P throttle,
# stage dependencies, the collect job, byte-identical outputs, a
# `scontrol requeue` of a running array task, resubmission; and the local
# cluster itself: a planted state directory is refused, the daemons listen
# on 127.0.0.1 only, `down` ends running jobs and signals no process that a
# stale pid file names.
source "$(dirname "$0")/common.sh"

for cmd in slurmctld slurmd sbatch munged; do
    if ! command -v $cmd >/dev/null; then
        echo "FAIL  $cmd is not installed: Debian's slurmctld, slurmd, slurm-client and munge" \
             "are needed (scripts/install-deps.sh installs them; make test runs it)"
        exit 1
    fi
done
export POSBENCH_SLURM_DIR=$TMP/slurm POSBENCH_SLURM_PORT=${POSBENCH_TEST_SLURM_PORT:-$((20000 + RANDOM % 20000 * 2))}
export POSBENCH_SLURM_MAX_ARRAY=3   # small, so that an array is split
export SLURM_CONF=$POSBENCH_SLURM_DIR/slurm.conf
trap 'scripts/slurm-local.sh down >/dev/null 2>&1' EXIT

# State directories another local user could have planted (/var/tmp is
# world-writable): refused before anything is written or started.
echo keep > "$TMP/victim"
plant() {  # dir mode owner: a state directory with a link and a key planted
    mkdir -p "$1/munge" && chmod "$2" "$1" && chown "$3" "$1"
    ln -s "$TMP/victim" "$1/slurm.conf.tmp"
    echo planted > "$1/munge/munge.key"
}
try_up() {  # dir: slurm-local.sh up on it; prints its output, true when refused
    local out rc
    out=$(POSBENCH_SLURM_DIR=$1 scripts/slurm-local.sh up 2>&1); rc=$?
    POSBENCH_SLURM_DIR=$1 scripts/slurm-local.sh down >/dev/null 2>&1
    echo "$out" | tail -1
    [ $rc -ne 0 ] && ! pgrep -f -- "$1/" >/dev/null
}
plant "$TMP/open" 0755 root
check "up refuses a state directory others may write (mode 755)" bash -c "$(declare -f try_up); try_up '$TMP/open' | grep -q 'not 700'"
plant "$TMP/theirs" 0700 nobody
check "up refuses a state directory owned by another user" bash -c "$(declare -f try_up); try_up '$TMP/theirs' | grep -q 'not owned by'"
mkdir -m 0700 "$TMP/real" && ln -s "$TMP/real" "$TMP/linked"
check "up refuses a state directory that is a symbolic link" bash -c "$(declare -f try_up); try_up '$TMP/linked' | grep -q 'symbolic link'"
check "  and wrote nothing through a planted link" grep -qx keep "$TMP/victim"
if ! scripts/slurm-local.sh up > "$TMP/up.log" 2>&1; then
    cat "$TMP/up.log"
    check "the local Slurm cluster starts (scripts/slurm-local.sh up)" false
    finish; exit 1
fi
check "the local Slurm cluster starts" true
check "slurm-local.sh up is idempotent" scripts/slurm-local.sh up
check "  the state directory is private (mode 700) with a key made by up" \
    bash -c "[ \$(stat -c %a '$POSBENCH_SLURM_DIR') = 700 ] && [ \$(stat -c %a:%s '$POSBENCH_SLURM_DIR/munge/munge.key') = 400:1024 ]"
listening=$(ss -ltnH | awk '{print $4}' | grep -E ":($POSBENCH_SLURM_PORT|$((POSBENCH_SLURM_PORT + 1)))\$")
check "slurmctld and slurmd listen on 127.0.0.1 only: $(echo $listening)" \
    bash -c "[ \$(echo '$listening' | grep -c .) -eq 2 ] && ! echo '$listening' | grep -qv '^127\.0\.0\.1:'"

# wait_jobs ID...: until none of them (job or array job ids) is in the
# queue, at most 5 minutes. An squeue that fails (slurmctld busy on a
# loaded machine) proves nothing: it is asked again.
wait_jobs() {
    local ids=" $* " out busy f a
    for _ in $(seq 600); do
        if out=$(squeue -h -o '%F %A' 2>/dev/null); then
            busy=0
            while read -r f a; do
                [ -n "$f" ] && { [[ "$ids" == *" $f "* ]] || [[ "$ids" == *" $a "* ]]; } && busy=1
            done <<< "$out"
            [ "$busy" = 0 ] && return 0
        fi
        sleep 0.5
    done
    squeue; return 1
}
job_ids() { grep -Eo '(job|jobs) [0-9][0-9, ]*' "$1" | grep -Eo '[0-9]+' | sort -u; }

"$PB" run "$STUDY" "${ARGS[@]}" root="$TMP/seq" > "$TMP/seq.log" 2>&1 &
seqpid=$!

"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/sl" --slurm --chunk 2 --max-parallel 2 --dry-run > "$TMP/dry.log" 2>&1
check "--dry-run prints sbatch commands and submits nothing" \
    bash -c "grep -q 'sbatch --parsable' '$TMP/dry.log' && [ -z \"\$(squeue -h)\" ]"
check "  with afterany dependencies, --requeue, --open-mode=append and the %2 throttle" \
    bash -c "grep -q 'afterany:' '$TMP/dry.log' && ! grep -q afterok '$TMP/dry.log' && grep -q -- '--requeue' '$TMP/dry.log' && grep -q -- '--open-mode=append' '$TMP/dry.log' && grep -q '%2' '$TMP/dry.log'"

"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/sl" --slurm --chunk 2 --max-parallel 2 > "$TMP/submit.log" 2>&1
check "--slurm submits (exit 0)" test $? -eq 0
check "  stage 1: 10 runs in 5 tasks, split at MaxArraySize=3 into 2 arrays" \
    bash -c "[ \$(grep -c '^stage 1: job' '$TMP/submit.log') -eq 2 ]"
check "  stage 2 and a collect job" bash -c "grep -q '^stage 2: job' '$TMP/submit.log' && grep -q 'collect job' '$TMP/submit.log'"
check "  task files map array indices to runs (10 runs, 2 per line)" \
    bash -c "[ \$(grep '^stage 1' '$TMP/submit.log' | grep -o 'task file [^)]*' | cut -c11- | xargs cat | wc -w) -eq 10 ]"
wait_jobs $(job_ids "$TMP/submit.log")
check "every job ended" test $? -eq 0
check "the collect job wrote the report" bash -c "grep -q 'from 12 of 12 runs' '$TMP'/sl/extrapolation/logs/collect-*.out"
wait "$seqpid"
check "--slurm == sequential (byte-identical CSVs and report)" same_outputs "$TMP/seq" "$TMP/sl"
check "  no torn or temporary files" no_torn "$TMP/sl"
check "summary.json records the Slurm job and array task" grep -q '"array_task_id"' "$TMP/sl/extrapolation/copy-rope-s1/summary.json"
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/sl" --slurm > "$TMP/again.log" 2>&1
check "the same command again submits nothing" grep -q '^nothing to submit' "$TMP/again.log"

# A lost run, redone by resubmitting.
rm -rf "$TMP/sl/extrapolation/lm-rope-s2"
"$PB" sweep "$STUDY" "${ARGS[@]}" root="$TMP/sl" --slurm > "$TMP/fail.log" 2>&1
check "resubmission submits only the one missing run" grep -q '^stage 1: job [0-9]*, array 0-0, 1 runs' "$TMP/fail.log"
wait_jobs $(job_ids "$TMP/fail.log")
"$PB" collect "$STUDY" "${ARGS[@]}" root="$TMP/sl" > /dev/null 2>&1
check "collect is complete again" test $? -eq 0

# scontrol requeue of a running array task.
LONG=("${ARGS[@]}" steps=1200 lm_steps=400)
"$PB" run "$STUDY" "${LONG[@]}" root="$TMP/rseq" > "$TMP/rseq.log" 2>&1 &
seqpid=$!
"$PB" sweep "$STUDY" "${LONG[@]}" root="$TMP/rq" --slurm > "$TMP/rq.log" 2>&1
task=""
for _ in $(seq 300); do
    task=$(squeue -h -t R -o '%i' | grep '_' | head -1)
    [ -n "$task" ] && break; sleep 0.1
done
sleep 1
scontrol requeue "$task"
check "scontrol requeue of running array task $task" test $? -eq 0
# Slurm holds a requeued job back for a while: let it start now.
for _ in $(seq 20); do scontrol update JobId="$task" StartTime=now >/dev/null 2>&1 && break; sleep 0.2; done
wait_jobs $(job_ids "$TMP/rq.log")
check "the requeued sweep's jobs all ended" test $? -eq 0
"$PB" collect "$STUDY" "${LONG[@]}" root="$TMP/rq" > "$TMP/rq-collect.log" 2>&1
rc=$?
check "  and the sweep is complete" test $rc -eq 0
[ $rc -eq 0 ] || { tail -5 "$TMP/rq-collect.log"; squeue; sacct 2>/dev/null | tail -5; } | sed 's/^/      /'
check "  with a restart count of 1 recorded" grep -rq '"restart_count": 1' "$TMP"/rq/extrapolation/*/summary.json
wait "$seqpid"
check "  outputs == an uninterrupted sequential run" same_outputs "$TMP/rseq" "$TMP/rq"
check "  no torn or temporary files" no_torn "$TMP/rq"

# down with a job still running: the job and its step end too.
(cd "$TMP" && sbatch --parsable --wrap 'sleep 613' > "$TMP/sleep.job")
for _ in $(seq 100); do pgrep -fx 'sleep 613' >/dev/null && break; sleep 0.2; done
check "a job is running before down" bash -c "pgrep -fx 'sleep 613' >/dev/null"
scripts/slurm-local.sh down > /dev/null
check "slurm-local.sh down stops the daemons" bash -c "! scripts/slurm-local.sh status >/dev/null 2>&1"
our_steps() {
    local p
    for p in $(pgrep -x slurmstepd); do
        tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF" && echo "$p"
    done
}
check "  and ends the running job and its slurmstepd" bash -c "$(declare -f our_steps); SLURM_CONF='$SLURM_CONF'; ! pgrep -fx 'sleep 613' && [ -z \"\$(our_steps)\" ]"
sleep 1000 & unrelated=$!
echo "$unrelated" > "$POSBENCH_SLURM_DIR/slurmd.pid"
scripts/slurm-local.sh down > /dev/null 2>&1
check "  a stale pid file does not make down kill an unrelated process" kill -0 "$unrelated"
kill "$unrelated"
finish
