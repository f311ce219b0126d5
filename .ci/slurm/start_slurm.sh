#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, for tests/test_slurm.py and for trying the
# cluster profile without a cluster. Needs root (it installs packages and runs the daemons as root).
#
#   .ci/slurm/start_slurm.sh            # prints the line to export: SLURM_CONF=<dir>/slurm.conf
#   .ci/slurm/stop_slurm.sh             # stops only what this script started
#
# Everything it writes lives in one folder, $ICL_SLURM_DIR (default /tmp/icl-slurm): slurm.conf, the
# daemons' state, pid and log files, and jobcomp.txt, a record of every finished job (there is no
# accounting database, so `sacct` does not work; jobcomp.txt and `scontrol show job` are the history).
# /etc/slurm is not touched. The cluster runs "configless": slurmd fetches the configuration from
# the controller and caches it in /run/slurm/conf, where client commands on this machine find it
# without SLURM_CONF. That matters: the snakemake executor plugin runs each job's work through an
# inner `srun` with every SLURM_* variable (SLURM_CONF too) removed from its environment.
#
# All SLURM traffic stays on loopback: the controller and the node are pinned to 127.0.0.1 instead of
# whatever the host name resolves to.
set -euo pipefail

DIR=${ICL_SLURM_DIR:-/tmp/icl-slurm}
# Fake GPUs on the node (GRES entries backed by dummy device files), so that jobs asking for --gpus=1
# are scheduled here and the GPU profile's requests can be checked on a machine without a GPU.
# Training jobs with `device: auto` then find no CUDA and run on the CPU.
FAKE_GPUS=${ICL_SLURM_FAKE_GPUS:-1}

if [[ $(id -u) -ne 0 ]]; then
    echo "start_slurm.sh: must run as root (installs slurm-wlm and munge, runs slurmctld/slurmd)" >&2
    exit 1
fi
if [[ -e /etc/slurm/slurm.conf ]]; then
    # Client commands would read that file before the configless cache, i.e. talk to another cluster.
    echo "start_slurm.sh: /etc/slurm/slurm.conf exists: this machine already has a SLURM configuration; use it" >&2
    exit 2
fi

# Debian's packages (SLURM 22.05 on bookworm). Installed only when missing.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q slurm-wlm munge
fi

mkdir -p "$DIR/ctld" "$DIR/d"

# munge authenticates SLURM's messages. It runs as the munge user and needs its runtime folder (the
# socket) and log folder owned by that user. A munged that is already running is reused, not restarted.
if ! pgrep -x munged >/dev/null; then
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        # The package normally creates the key; make one if it did not.
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    runuser -u munge -- /usr/sbin/munged
    # munged writes its own pid file; remember that we started it, so stop_slurm.sh stops it.
    for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$DIR/munged.pid"
fi
munge -n | unmunge >/dev/null  # fails here, clearly, if munge does not work

HOST=$(hostname -s)
CPUS=$(nproc)
# Offer the jobs most of the memory, leaving 1 GiB to the system and the daemons.
MEM_MB=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))

GRES_NODE=""
GRES_TYPES=""
: > "$DIR/gres.conf"
if [[ $FAKE_GPUS -gt 0 ]]; then
    GRES_TYPES="GresTypes=gpu"
    GRES_NODE="Gres=gpu:$FAKE_GPUS"
    # SLURM drops a GPU without a device file, and wants a character device: each fake GPU is a
    # node with /dev/null's numbers (1, 3), which nothing opens (there are no cgroups to restrict).
    for ((i = 0; i < FAKE_GPUS; i++)); do
        [[ -c $DIR/fakegpu$i ]] || mknod "$DIR/fakegpu$i" c 1 3
        echo "NodeName=$HOST Name=gpu File=$DIR/fakegpu$i" >> "$DIR/gres.conf"
    done
fi

cat > "$DIR/slurm.conf" <<EOF
# Written by .ci/slurm/start_slurm.sh: one node, no accounting database, loopback only.
ClusterName=icltest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in a container: track processes through /proc and bind no tasks to cores.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# A job that names no memory gets 1 GB per CPU, not the whole node (which would run jobs one by one).
DefMemPerCPU=1000
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# No slurmdbd: no sacct. Finished jobs are written to a text file instead, and stay visible to
# squeue/scontrol for MinJobAge seconds (the executor plugin polls squeue).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
MinJobAge=900
# A cancelled job gets SIGTERM, then SIGKILL after KillWait seconds (the trainer saves state on SIGTERM).
KillWait=30
# slurmd on this node fetches slurm.conf and gres.conf from the controller (see the top of this script).
SlurmctldParameters=enable_configless
$GRES_TYPES
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB $GRES_NODE State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

export SLURM_CONF="$DIR/slurm.conf"

# A controller of an earlier start that was never stopped is stopped first (only if we started it).
"$(dirname "$0")/stop_slurm.sh" --daemons-only

# -c: start clean, so jobs of an earlier cluster in $DIR do not come back; the job history starts anew.
: > "$DIR/jobcomp.txt"
slurmctld -c -f "$SLURM_CONF"
# slurmd fetches its configuration from the controller once, at start: wait until it answers.
for _ in $(seq 30); do scontrol ping >/dev/null 2>&1 && break; sleep 0.5; done
slurmd --conf-server 127.0.0.1:6817

# Wait until the node is idle, i.e. the controller has heard from slurmd.
for _ in $(seq 60); do
    state=$(sinfo -h -N -o "%t" 2>/dev/null | head -n1 || true)
    if [[ $state == idle* ]]; then
        echo "SLURM is up: node $HOST ($CPUS CPUs, $MEM_MB MB${GRES_NODE:+, $GRES_NODE}); export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 1
done
echo "start_slurm.sh: the node did not become idle within 60 s; see $DIR/slurmctld.log and $DIR/slurmd.log" >&2
sinfo -N -l >&2 || true
exit 1
