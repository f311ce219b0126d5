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

if [[ -s $DIR/slurmd.pid ]]; then
    stop slurmd "$DIR/slurmd.pid"
    # slurmd's configless cache: client commands would keep reading it after the cluster is gone.
    rm -rf /run/slurm/conf
fi
stop slurmctld "$DIR/slurmctld.pid"
if [[ ${1:-} != --daemons-only ]]; then
    stop munged "$DIR/munged.pid"
fi
