#!/usr/bin/env bash
# Stop what .ci/slurm/start_slurm.sh started: slurmd, slurmctld and, if that script started it, munged.
# It goes by the pid files in $ICL_SLURM_DIR, so daemons it did not start are left alone.
#
#   .ci/slurm/stop_slurm.sh                  # stop everything start_slurm.sh started
#   .ci/slurm/stop_slurm.sh --daemons-only   # stop slurmd and slurmctld, keep munged
set -euo pipefail

DIR=${ICL_SLURM_DIR:-/tmp/icl-slurm}

# stop NAME PIDFILE: SIGTERM the pid if it still is NAME, wait up to 10 s, then SIGKILL; remove the file.
stop() {
    local name=$1 pidfile=$2 pid
    [[ -s $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    # The pid file may be stale and its pid reused: only signal a process of the expected name.
    if [[ $(ps -o comm= -p "$pid" 2>/dev/null || true) == "$name" ]]; then
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    fi
    rm -f "$pidfile"
}

# Jobs still queued or running on this cluster (a test that failed midway) are cancelled first, so
# that no job step outlives the daemons. Only this cluster's controller is asked (its slurm.conf).
if [[ -s $DIR/slurmctld.pid && -f $DIR/slurm.conf ]]; then
    export SLURM_CONF=$DIR/slurm.conf
    jobs=$(squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        # shellcheck disable=SC2086  # one argument per job id
        scancel $jobs || true
        for _ in $(seq 40); do
            [[ -z $(squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null || true) ]] && break
            sleep 0.5
        done
    fi
fi
if [[ -s $DIR/slurmd.pid ]]; then
    stop slurmd "$DIR/slurmd.pid"
    # slurmd's configless cache: client commands would keep reading it after the cluster is gone.
    rm -rf /run/slurm/conf
fi
stop slurmctld "$DIR/slurmctld.pid"
if [[ ${1:-} != --daemons-only ]]; then
    stop munged "$DIR/munged.pid"
fi
