#!/usr/bin/env bash
# A one-node Slurm cluster on this machine (controller and compute node), for
# trying multi-process jobs and job arrays as they run on a real cluster.
#
#   sudo apt-get install slurm-wlm munge        # once (Debian/Ubuntu)
#   experiments/slurm/local_cluster.sh start    # prints: export SLURM_CONF=...
#   export SLURM_CONF=/tmp/slurm-local/slurm.conf
#   srun -n 2 .venv/bin/python launch.py ... --jax_distributed
#   experiments/slurm/local_cluster.sh stop
#
# Runs as root (SlurmUser=root); state, spool and logs live in $SLURM_LOCAL
# (default /tmp/slurm-local); /etc/slurm is not touched: clients find the
# cluster through $SLURM_CONF. Expected: `start` takes a few seconds and ends
# with sinfo showing the node idle.
set -euo pipefail
DIR=${SLURM_LOCAL:-/tmp/slurm-local}
CONF=$DIR/slurm.conf
HOST=$(hostname -s)
CPUS=$(nproc)

start() {
  mkdir -p "$DIR"/state "$DIR"/spool "$DIR"/log
  cat > "$CONF" <<CONFEOF
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$HOST CPUs=$CPUS State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONFEOF
  if ! pgrep -x munged > /dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    sudo_munge="runuser -u munge --"
    $sudo_munge /usr/sbin/munged
  fi
  pkill -x slurmctld || true
  pkill -x slurmd || true
  /usr/sbin/slurmctld -f "$CONF"
  /usr/sbin/slurmd -f "$CONF"
  export SLURM_CONF=$CONF
  for _ in $(seq 50); do
    if sinfo -h -o '%t' 2>/dev/null | grep -q idle; then
      sinfo
      echo "export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 0.2
  done
  echo "error: the node did not become idle; see $DIR/log/" >&2
  return 1
}

stop() {
  pkill -x slurmd || true
  pkill -x slurmctld || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
