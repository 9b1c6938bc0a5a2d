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
#
# The state directory holds the munge key and the configuration the daemons
# (root) read, and it may sit in a world-writable place (/var/tmp): `up`
# creates it with mode 0700, or reuses it only when it is a real directory
# owned by the caller with mode 0700 (otherwise it refuses, naming it); no
# symbolic link is followed inside it, and the munge key is made here. The
# daemons listen on 127.0.0.1 only. `down` cancels the jobs, stops the
# daemons, then ends any job step left (slurmstepd and its processes); a pid
# file is trusted only when its process is the expected daemon of this
# state directory.
set -eu
DIR=${POSBENCH_SLURM_DIR:-/var/tmp/posbench-slurm}
MAX_ARRAY=${POSBENCH_SLURM_MAX_ARRAY:-1001}
PORT=${POSBENCH_SLURM_PORT:-16817}
CONF=$DIR/slurm.conf
SOCKET=$DIR/munge/munge.socket
export SLURM_CONF=$CONF

die() { echo "slurm-local: $*" >&2; exit 1; }

# pid in a pid file (a regular file) whose process is alive and is program
# $2 started on this state directory (its command line names $DIR).
live_pid() {
    local f=$1 prog=$2 pid
    [ -f "$f" ] && [ ! -L "$f" ] && [ -s "$f" ] || return 1
    pid=$(head -c 32 "$f" | tr -cd '0-9')
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$prog" ] || return 1
    tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/" || return 1
    echo "$pid"
}

# A directory of the state: created with mode 0700, or an existing real
# directory (not a link) owned by the caller with no access for others.
private_dir() {
    local d=$1
    if [ ! -e "$d" ] && [ ! -L "$d" ]; then
        mkdir -m 0700 "$d" || die "cannot create $d"
    fi
    [ -d "$d" ] && [ ! -L "$d" ] || die "$d is not a directory (or is a symbolic link): refused; remove it"
    [ "$(stat -c %u "$d")" = "$(id -u)" ] || die "$d is not owned by $(id -un): refused; remove it"
    [ "$(stat -c %a "$d")" = 700 ] || die "$d has mode $(stat -c %a "$d"), not 700: refused; remove it"
}

# A directory inside the private state directory: not a symbolic link.
inner_dir() {
    [ -e "$1" ] || [ -L "$1" ] || mkdir -m 0700 "$1"
    [ -d "$1" ] && [ ! -L "$1" ] || die "$1 is not a directory (or is a symbolic link): refused; remove it"
}

answers() { timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }

node_idle() { timeout 5 sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

write_conf() {
    local cpus mem
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
    local tmp
    tmp=$(mktemp "$DIR/slurm.conf.XXXXXX")  # a new file: never through a planted link
    cat > "$tmp" <<CONF
# Written by scripts/slurm-local.sh: a single-node test cluster.
ClusterName=posbench
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
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
    chmod 0644 "$tmp"
    mv -f -T "$tmp" "$CONF"  # rename replaces a link, never writes through it
}

# The munge key, made here: an existing one is kept only when it is a
# regular file of 1024 bytes owned by the caller and readable by nobody else.
make_key() {
    local key=$DIR/munge/munge.key tmp
    if [ -f "$key" ] && [ ! -L "$key" ] && [ "$(stat -c %u:%a:%s "$key")" = "$(id -u):400:1024" ]; then
        return 0
    fi
    rm -f "$key"
    tmp=$(mktemp "$DIR/munge/key.XXXXXX")
    dd if=/dev/urandom of="$tmp" bs=1024 count=1 status=none
    chmod 0400 "$tmp"
    mv -f -T "$tmp" "$key"
}

start_munge() {
    private_dir "$DIR/munge"
    make_key
    live_pid "$DIR/munge/munged.pid" munged >/dev/null && return 0
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
    mkdir -p "$(dirname "$DIR")"
    private_dir "$DIR"
    inner_dir "$DIR/state"
    inner_dir "$DIR/spool"  # slurmd makes it 0755: the state directory is what keeps others out
    write_conf
    start_munge
    if ! live_pid "$DIR/slurmctld.pid" slurmctld >/dev/null; then
        slurmctld -f "$CONF" || die "slurmctld did not start (log: $DIR/slurmctld.log)"
    fi
    if ! live_pid "$DIR/slurmd.pid" slurmd >/dev/null; then
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

# Ends pid and then waits for it (TERM, then KILL after 5 s).
stop_pid() {
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

stop_pidfile() {
    local f=$1 prog=$2 pid
    if pid=$(live_pid "$f" "$prog"); then
        stop_pid "$pid"
    elif [ -s "$f" ]; then
        echo "slurm-local: $f does not name a running $prog of $DIR: no process signalled" >&2
    fi
    rm -f "$f"
}

# Job steps of this cluster: slurmstepd processes whose environment names
# this cluster's configuration (they inherit it from our slurmd).
our_stepds() {
    local p
    for p in $(pgrep -x slurmstepd || true); do
        tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF" && echo "$p"
    done
}

# pid and all its descendants, children first.
tree() {
    local c
    for c in $(pgrep -P "$1" || true); do tree "$c"; done
    echo "$1"
}

down() {
    if [ -f "$CONF" ] && answers; then
        # Cancel the jobs while the daemons can still end them cleanly.
        squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
        for _ in $(seq 100); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.1; done
    fi
    stop_pidfile "$DIR/slurmd.pid" slurmd
    stop_pidfile "$DIR/slurmctld.pid" slurmctld
    local p q
    for p in $(our_stepds); do
        for q in $(tree "$p"); do kill -9 "$q" 2>/dev/null || true; done
    done
    stop_pidfile "$DIR/munge/munged.pid" munged
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
