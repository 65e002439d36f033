#!/usr/bin/env bash
# A single-node Slurm on this machine, for the tests of the cluster path (tests/test_slurm.py).
#
#   scripts/slurm-local.sh install     install Debian's slurmd, slurmctld, slurm-client and munge when
#                                      missing (apt-get, as root); exit 3 with the reason where it cannot
#   scripts/slurm-local.sh start DIR   write DIR/slurm.conf (free ports, this host as the only node,
#                                      partition "debug"), start munged, slurmctld and slurmd with their
#                                      sockets, state, logs and pid files in DIR; wait until the node is idle
#   scripts/slurm-local.sh stop DIR    stop the daemons by the PIDs in DIR's pid files
#
# Clients then need SLURM_CONF=DIR/slurm.conf (sbatch, squeue, sinfo; submitit calls them). Nothing
# outside DIR is touched apart from the package installation: the munge socket and key are DIR's own,
# so this runs beside another Slurm or munge on the machine.
set -euo pipefail

PACKAGES=(slurmd slurmctld slurm-client munge)

have_slurm() {
  for b in /usr/sbin/slurmd /usr/sbin/slurmctld /usr/sbin/munged; do [[ -x $b ]] || return 1; done
  command -v sbatch >/dev/null && command -v sinfo >/dev/null
}

install() {
  have_slurm && return 0
  if [[ $(id -u) -ne 0 ]]; then echo "slurm-local: Slurm is not installed and this is not root (apt-get needs root)" >&2; exit 3; fi
  if ! command -v apt-get >/dev/null; then echo "slurm-local: Slurm is not installed and there is no apt-get here" >&2; exit 3; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } >&2; then
    echo "slurm-local: apt-get could not install ${PACKAGES[*]}" >&2; exit 3
  fi
  have_slurm || { echo "slurm-local: ${PACKAGES[*]} installed but slurmd, slurmctld or munged is missing" >&2; exit 3; }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local dir=$1
  [[ -n $dir ]] || { echo "usage: $0 start DIR" >&2; exit 2; }
  install
  mkdir -p "$dir"/{state,spool,log,munge,munge-run}
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir"
  local host mem cpus ctld_port slurmd_port
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  while [[ $slurmd_port == "$ctld_port" ]]; do slurmd_port=$(free_port); done

  # munge: its own key and socket in DIR, run as the munge user (munged refuses root)
  chown munge: "$dir/munge" "$dir/munge-run"
  chmod 700 "$dir/munge"
  chmod 755 "$dir/munge-run"  # munged wants its socket's folder open to all
  head -c 1024 /dev/urandom > "$dir/munge/munge.key"
  chown munge: "$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  runuser -u munge -- /usr/sbin/munged --socket="$dir/munge-run/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"

  cat > "$dir/slurm.conf" <<CONF
# written by scripts/slurm-local.sh: a single-node Slurm for tests
ClusterName=aisimtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge-run/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$dir/slurm.conf
  /usr/sbin/slurmctld
  /usr/sbin/slurmd
  local state=""
  for _ in $(seq 1 60); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [[ $state == idle* ]] && break
    sleep 0.5
  done
  if [[ $state != idle* ]]; then
    echo "slurm-local: the node did not become idle (sinfo: '${state}'); logs in $dir/log" >&2
    tail -n 20 "$dir"/log/*.log >&2 || true
    exit 1
  fi
  echo "SLURM_CONF=$dir/slurm.conf"
}

stop() {
  local dir=$1 pid f
  [[ -n $dir ]] || { echo "usage: $0 stop DIR" >&2; exit 2; }
  for f in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [[ -s $f ]] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
