#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, to try profiles/slurm without a cluster.
#
#   scripts/slurm-local.sh up       install slurm-wlm + munge if missing (apt-get), write the config,
#                                   start munged, slurmctld and slurmd, wait until the node is idle
#   scripts/slurm-local.sh down     stop the daemons this script started (by PID), remove its config
#   scripts/slurm-local.sh status   print what is running and `sinfo`
#
# Needs root or passwordless sudo (the daemons run as root, as on a real cluster's compute nodes) and a
# Debian/Ubuntu machine for the automatic install. Tested with SLURM 22.05 (Debian bookworm).
#
# Why the details are as they are:
# - The config must live at /etc/slurm/slurm.conf: jobs run `srun` inside their allocation with the
#   SLURM_* variables stripped, so SLURM_CONF alone is not seen there. The script writes that file only
#   when it is absent or carries the marker below, so it never touches a real cluster's configuration.
# - No accounting database: the executor must use `squeue` for job states (profiles/slurm does), and
#   MinJobAge=600 keeps finished jobs visible to `squeue --states=all` for ten minutes.
# - The node declares no GPU (GresTypes=gpu, but no Gres on the node), so a job asking for `--gpus` is
#   refused at submission instead of silently running on the CPU.
# - State, spool and logs live in $SNNTOPO_SLURM_DIR (default /tmp/snntopo-slurm); PIDs of the daemons
#   started here are kept there, and `down` stops exactly those.
#
# Environment: SNNTOPO_SLURM_DIR (state dir), SNNTOPO_SLURM_CPUS (default: nproc),
#              SNNTOPO_SLURM_MEM_MB (default: available memory − 1 GB), SNNTOPO_SLURM_TIMEOUT (s, 60).
set -euo pipefail

MARKER="# managed-by: snntopo scripts/slurm-local.sh"
CONF=${SNNTOPO_SLURM_CONF:-/etc/slurm/slurm.conf}  # override only to test this script: SLURM reads /etc
DIR=${SNNTOPO_SLURM_DIR:-/tmp/snntopo-slurm}
TIMEOUT=${SNNTOPO_SLURM_TIMEOUT:-60}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"

log() { echo "[slurm-local] $*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() {
  if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
    die "needs root or passwordless sudo (the SLURM daemons run as root)"
  fi
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
    && command -v sbatch >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || die "slurmctld/slurmd/munged missing and no apt-get: install SLURM and MUNGE"
  log "installing slurm-wlm and munge (apt-get) ..."
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurm-wlm munge >/dev/null
}

# PID recorded in $DIR/<name>.pid, if that process is still alive.
alive_pid() {
  local f="$DIR/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && $SUDO kill -0 "$pid" 2>/dev/null && echo "$pid"
}

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_works; then
    log "munged already running (not started here, will not be stopped here)"
    return
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    $SUDO mkdir -p /etc/munge
    $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    $SUDO chown munge:munge /etc/munge/munge.key
    $SUDO chmod 400 /etc/munge/munge.key
  fi
  # /run/munge is normally created by systemd-tmpfiles; containers have no systemd.
  $SUDO install -d -o munge -g munge -m 0755 /run/munge
  $SUDO install -d -o munge -g munge -m 0700 /var/log/munge
  $SUDO install -d -o munge -g munge -m 0711 /var/lib/munge
  # Foreground (-F) under setpriv (which execs), so $! is munged itself and no orphan is left.
  $SUDO setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
    >>"$DIR/log/munged.out" 2>&1 </dev/null 9>&- &
  echo $! >"$DIR/munged.pid"
  for _ in $(seq 1 50); do munge_works && return; sleep 0.1; done
  die "munged started but munge/unmunge fails (see /var/log/munge/munged.log)"
}

write_conf() {
  if [ -f "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to replace a real cluster's config"
  fi
  local cpus mem
  cpus=${SNNTOPO_SLURM_CPUS:-$(nproc)}
  mem=${SNNTOPO_SLURM_MEM_MB:-$(($(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo) - 1024))}
  [ "$mem" -ge 1024 ] || mem=1024
  $SUDO mkdir -p /etc/slurm
  $SUDO tee "$CONF.tmp" >/dev/null <<EOF
$MARKER
# Single-node test cluster; remove with: scripts/slurm-local.sh down
ClusterName=snntopo
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
MinJobAge=600
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
GresTypes=gpu
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.daemon.pid
SlurmdPidFile=$DIR/slurmd.daemon.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  $SUDO mv "$CONF.tmp" "$CONF"
  log "wrote $CONF (CPUs=$cpus RealMemory=${mem}MB, no GPU)"
}

# Start a SLURM daemon in the foreground (-D) in its own session, so that $! is the daemon itself.
start_daemon() {
  local name=$1
  shift
  if alive_pid "$name" >/dev/null; then
    log "$name already running (pid $(cat "$DIR/$name.pid"))"
    return
  fi
  $SUDO setsid "$@" -D >>"$DIR/log/$name.out" 2>&1 </dev/null 9>&- &
  echo $! >"$DIR/$name.pid"
}

node_state() { sinfo -h -N -n localhost -o %T 2>/dev/null | head -1; }

up() {
  need_root
  install_packages
  exec 9>/tmp/snntopo-slurm.lock
  flock 9
  mkdir -p "$DIR"
  $SUDO mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  if alive_pid slurmctld >/dev/null && alive_pid slurmd >/dev/null && [ "$(node_state)" = idle ]; then
    log "already up (state in $DIR)"
    return
  fi
  write_conf
  start_munge
  # -i: ignore state files of an earlier run in $DIR (jobs/nodes from a cluster that was torn down)
  start_daemon slurmctld /usr/sbin/slurmctld -i
  start_daemon slurmd /usr/sbin/slurmd -N localhost
  local waited=0 state
  while :; do
    state=$(node_state || true)
    case "$state" in
      idle) break ;;
      down* | drain* | fail*)
        # A node that was down in a previous run stays down; ReturnToService=2 only covers fresh
        # registrations, so resume it explicitly.
        $SUDO scontrol update NodeName=localhost State=RESUME 2>/dev/null || true ;;
    esac
    if [ "$waited" -ge "$TIMEOUT" ]; then
      tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
      die "node not idle after ${TIMEOUT}s (state: ${state:-no answer}); logs in $DIR/log"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "up: node localhost idle after ${waited}s (state, logs and PIDs in $DIR)"
}

stop_pid() {
  local name=$1 pid _
  pid=$(alive_pid "$name") || { rm -f "$DIR/$name.pid"; return 0; }
  $SUDO kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    $SUDO kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if $SUDO kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
    $SUDO kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/$name.pid"
  log "stopped $name (pid $pid)"
}

down() {
  need_root
  [ -d "$DIR" ] || { log "nothing to stop ($DIR absent)"; return 0; }
  exec 9>/tmp/snntopo-slurm.lock
  flock 9
  # Cancel leftover jobs first so that slurmd does not leave job processes behind (only on our own
  # cluster: never cancel jobs of a real one).
  if alive_pid slurmctld >/dev/null && grep -qsF "$MARKER" "$CONF"; then
    $SUDO scancel --full --quiet --state=PENDING 2>/dev/null || true
    $SUDO scancel --full --quiet --state=RUNNING 2>/dev/null || true
  fi
  stop_pid slurmd
  stop_pid slurmctld
  stop_pid munged
  if [ -f "$CONF" ] && grep -qF "$MARKER" "$CONF"; then
    $SUDO rm -f "$CONF"
  fi
  $SUDO rm -rf "$DIR/state" "$DIR/spool" "$DIR/log"
  rmdir "$DIR" 2>/dev/null || true
  log "down"
}

status() {
  local name pid
  for name in munged slurmctld slurmd; do
    if pid=$(alive_pid "$name"); then echo "$name: running (pid $pid)"; else echo "$name: not started here"; fi
  done
  if [ -f "$CONF" ]; then sinfo -N -l 2>&1 || true; else echo "no $CONF"; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
