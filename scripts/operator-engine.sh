#!/usr/bin/env bash
# The flock's second Docker engine, for `profile: operator` sandboxes (root inside the
# container, never root on the host). Idempotent: `start` does nothing when it already answers.
#
#   scripts/operator-engine.sh start|stop|status [--json]
#
# Why a second engine: user-namespace remapping is daemon-wide in Docker, and the main engine
# (which runs the restricted sandboxes and may be shared with other work) is left as it is.
# This one runs with:
#   --userns-remap=default   container uid 0 is the first uid of the `dockremap` range in
#                            /etc/subuid (created by dockerd on first start), not host root
#   unshare --net            the engine itself runs in an empty network namespace of its
#                            own, so it can never touch the host's interfaces or firewall.
#                            (This matters: a dockerd with --bridge=none deletes any
#                            interface named docker0 it can see, which would be the main
#                            engine's default bridge.)
#   --bridge=none --iptables=false --ip-forward=false --ip-masq=false
#                            no network and no firewall rules of its own, even in there:
#                            operator sandboxes get NetworkMode none; the bus and the egress
#                            proxy reach them as Unix sockets
#   --no-new-privileges      default for every container it runs
#   --group root             the socket is root's alone (not the `docker` group's)
# Its state is separate from the main engine's (data root, exec root, pid file, socket).
#
# Environment (defaults in brackets):
#   AIFLOCK_OPERATOR_ENGINE       socket path [/run/aiflock/operator-docker.sock]
#   AIFLOCK_OPERATOR_ENGINE_DIR   data root [/var/lib/aiflock/operator-engine]
# Exit codes: 0 ok (status: running), 1 failed to start, 2 usage, 3 not running (status).
set -euo pipefail
SOCK="${AIFLOCK_OPERATOR_ENGINE:-/run/aiflock/operator-docker.sock}"
DATA="${AIFLOCK_OPERATOR_ENGINE_DIR:-/var/lib/aiflock/operator-engine}"
RUN="$(dirname "$SOCK")"
# Kept short: containerd's own sockets live under it and Unix socket paths are limited to 107 bytes.
EXEC="$RUN/opd"
PIDFILE="$RUN/operator-dockerd.pid"
LOG="$DATA/dockerd.log"
CMD="${1:-}"; JSON=0
[ "${2:-}" = "--json" ] && JSON=1

answers() { DOCKER_HOST="unix://$SOCK" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
report() {
  local state="$1"
  if [ "$JSON" = 1 ]; then printf '{"state":"%s","socket":"%s","dataRoot":"%s"}\n' "$state" "$SOCK" "$DATA"
  else echo "operator engine: $state ($SOCK)" >&2; fi
}

case "$CMD" in
  start)
    if answers; then report running; exit 0; fi
    [ "$(id -u)" = 0 ] || { echo "operator-engine: must run as root (it starts dockerd)" >&2; exit 1; }
    command -v dockerd >/dev/null || { echo "operator-engine: dockerd is not installed (scripts/bootstrap.sh --system)" >&2; exit 1; }
    mkdir -p "$DATA" "$RUN" "$EXEC"
    chmod 0700 "$DATA"
    chmod 0711 "$RUN"
    command -v unshare >/dev/null || { echo "operator-engine: unshare (util-linux) is missing" >&2; exit 1; }
    # A stale pid file from a crashed engine would make dockerd refuse to start.
    if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then rm -f "$PIDFILE"; fi
    had_docker0=0; ip link show docker0 >/dev/null 2>&1 && had_docker0=1
    nohup unshare --net -- dockerd \
      --userns-remap=default \
      --data-root "$DATA" --exec-root "$EXEC" --pidfile "$PIDFILE" \
      -H "unix://$SOCK" --group root \
      --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
      --no-new-privileges \
      --cgroup-parent=/aiflock-operator \
      --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 \
      >>"$LOG" 2>&1 </dev/null &
    for _ in $(seq 1 120); do answers && break; sleep 0.5; done
    if ! answers; then echo "operator-engine: dockerd did not answer on $SOCK; see $LOG" >&2; tail -5 "$LOG" >&2 || true; exit 1; fi
    # The host's network must be exactly as it was (see unshare above).
    if [ "$had_docker0" = 1 ] && ! ip link show docker0 >/dev/null 2>&1; then
      echo "operator-engine: the host's docker0 disappeared while the operator engine started; stop it and report this" >&2
      exit 1
    fi
    echo "==> started the operator engine (userns-remap) on $SOCK" >&2
    report running
    ;;
  stop)
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      pid="$(cat "$PIDFILE")"
      kill "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    report stopped
    ;;
  status)
    if answers; then report running; else report stopped; exit 3; fi
    ;;
  -h|--help) sed -n '2,24p' "$0" ;;
  *) echo "usage: scripts/operator-engine.sh start|stop|status [--json]" >&2; exit 2 ;;
esac
