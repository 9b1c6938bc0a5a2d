#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for trying and testing
# the sweep's Slurm path: munged on a private socket, slurmctld and slurmd
# (NodeName=localhost, proctrack/linuxproc, no accounting database), all
# state under one directory. No systemd; idempotent.
#
#   scripts/slurm-local.sh up       start (or check) the daemons
#   scripts/slurm-local.sh down     stop them
#   scripts/slurm-local.sh status   say whether the cluster answers
#   scripts/slurm-local.sh env      print the export line clients need
#
# Clients find the cluster through SLURM_CONF:
#   export SLURM_CONF=$POSBENCH_SLURM_DIR/slurm.conf   (printed by `up`)
# Settings (environment): POSBENCH_SLURM_DIR (default /var/tmp/posbench-slurm),
# POSBENCH_SLURM_MAX_ARRAY (MaxArraySize, default 1001),
# POSBENCH_SLURM_PORT (slurmctld port, default 16817; slurmd uses +1).
# Needs root (the daemons run as root) and Debian's slurmctld, slurmd,
# slurm-client and munge (scripts/install-deps.sh).
set -eu
DIR=${POSBENCH_SLURM_DIR:-/var/tmp/posbench-slurm}
MAX_ARRAY=${POSBENCH_SLURM_MAX_ARRAY:-1001}
PORT=${POSBENCH_SLURM_PORT:-16817}
CONF=$DIR/slurm.conf
SOCKET=$DIR/munge/munge.socket
export SLURM_CONF=$CONF

die() { echo "slurm-local: $*" >&2; exit 1; }

# pid in a pid file whose process is alive.
live_pid() {
    local f=$1 pid
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() { timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }

node_idle() { timeout 5 sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

write_conf() {
    local cpus mem
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
    cat > "$CONF.tmp" <<CONF
# Written by scripts/slurm-local.sh: a single-node test cluster.
ClusterName=posbench
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0,sched_interval=2,sched_min_interval=100000
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MaxArraySize=$MAX_ARRAY
ReturnToService=2
KillWait=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    mv "$CONF.tmp" "$CONF"
}

start_munge() {
    mkdir -p "$DIR/munge"
    chmod 0700 "$DIR/munge"
    [ -s "$DIR/munge/munge.key" ] || {
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
        chmod 0400 "$DIR/munge/munge.key"
    }
    live_pid "$DIR/munge/munged.pid" >/dev/null && return 0
    rm -f "$SOCKET" "$SOCKET.lock"
    munged --force --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
        --seed-file="$DIR/munge/munged.seed"
    # munged forks before writing its pid file: wait for the socket.
    for _ in $(seq 50); do [ -S "$SOCKET" ] && return 0; sleep 0.1; done
    die "munged did not start (log: $DIR/munge/munged.log)"
}

up() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null \
        || die "slurmctld, slurmd, slurm-client and munge are not installed (scripts/install-deps.sh)"
    [ "$(id -u)" -eq 0 ] || die "the daemons run as root: run as root"
    mkdir -p "$DIR/state" "$DIR/spool"
    write_conf
    start_munge
    if ! live_pid "$DIR/slurmctld.pid" >/dev/null; then
        slurmctld -f "$CONF" || die "slurmctld did not start (log: $DIR/slurmctld.log)"
    fi
    if ! live_pid "$DIR/slurmd.pid" >/dev/null; then
        slurmd -f "$CONF" -N localhost || die "slurmd did not start (log: $DIR/slurmd.log)"
    fi
    # Daemons fork before writing their pid files: wait until the
    # controller answers and the node is usable.
    for _ in $(seq 150); do
        if answers && node_idle; then
            echo "slurm-local: up (export SLURM_CONF=$CONF)"
            return 0
        fi
        if answers; then scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true; fi
        sleep 0.2
    done
    tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 2>/dev/null || true
    die "the cluster did not come up (logs in $DIR)"
}

stop_pidfile() {
    local f=$1 pid
    pid=$(live_pid "$f") || { rm -f "$f"; return 0; }
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
}

down() {
    stop_pidfile "$DIR/slurmd.pid"
    stop_pidfile "$DIR/slurmctld.pid"
    stop_pidfile "$DIR/munge/munged.pid"
    echo "slurm-local: down"
}

status() {
    if [ -f "$CONF" ] && answers; then
        echo "slurm-local: up (export SLURM_CONF=$CONF)"
        sinfo
    else
        echo "slurm-local: down"
        return 1
    fi
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
