#!/usr/bin/env bash
# Installs the Debian packages posbench needs when they are missing.
# As root it runs apt-get; otherwise it prints the command to run and fails.
set -eu
packages="build-essential pkg-config liblua5.4-dev libgsl-dev libopenblas-dev gnuplot-nox python3-torch clang libclang-rt-dev"
# Sweeps: a local Slurm cluster for the tests (scripts/slurm-local.sh), GNU parallel.
packages="$packages slurmctld slurmd slurm-client munge parallel"
missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "posbench: missing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "posbench: run as root:  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends$missing
