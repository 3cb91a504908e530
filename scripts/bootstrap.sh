#!/usr/bin/env bash
# Installs and starts what the flock needs, idempotently: fast when everything is there.
#   --system  also system packages (docker.io, nats-server, iptables, bubblewrap, QEMU and a guest kernel) and a running dockerd
#   --test    also what the test suite needs: PostgreSQL server binaries and pgvector
#             (scripts/install-pgvector.sh), a C compiler for the
#             isolation probe, debootstrap for the workbench image, the operator engine (a second, user-namespace-remapped dockerd
#             for operator-profile sandboxes; scripts/operator-engine.sh) (implies --system)
#   --quiet   print only what it changes
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SYSTEM=0; QUIET=0; TEST=0
for arg in "$@"; do
  case "$arg" in
    --system) SYSTEM=1 ;;
    --test) SYSTEM=1; TEST=1 ;;
    --quiet) QUIET=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "bootstrap: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { [ "$QUIET" = 1 ] || echo "==> $*" >&2; }
change() { echo "==> $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else echo "bootstrap: need root for: $*" >&2; exit 1; fi; }

need_node() {
  if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "bootstrap: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
  fi
}

install_system() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v nats-server >/dev/null || missing+=(nats-server)
  command -v iptables >/dev/null || missing+=(iptables)
  # The isolation suite compiles a static attack probe (raw socket, mount, chown, setuid).
  # The process runtime (and its tests) runs sandboxes with bubblewrap.
  command -v bwrap >/dev/null || missing+=(bubblewrap)
  # The vm runtime: QEMU, and what scripts/build-vm-image.sh makes the guest from (Debian's
  # generic kernel, which has the 9p modules the cloud kernel lacks; a static busybox; cpio;
  # xz to unpack the kernel, lz4 to pack the initramfs).
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v cpio >/dev/null || missing+=(cpio)
  command -v xz >/dev/null || missing+=(xz-utils)
  command -v lz4 >/dev/null || missing+=(lz4)
  compgen -G '/boot/vmlinuz-*-amd64' | grep -qv cloud || missing+=(linux-image-amd64)
  if [ "$TEST" = 1 ]; then
    command -v gcc >/dev/null || missing+=(gcc)
    [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || missing+=(libc6-dev)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    change "installing ${missing[*]} (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    change "starting dockerd"
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
      as_root systemctl start docker
    else
      as_root sh -c 'nohup dockerd >/var/log/aiflock-dockerd.log 2>&1 &'
    fi
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start; see /var/log/aiflock-dockerd.log" >&2; exit 1; }
  fi
  say "docker $(docker version --format '{{.Server.Version}}'), $(nats-server --version)"
}

install_test_deps() {
  # PostgreSQL server binaries: the storage tests start their own throwaway cluster with
  # initdb (testkit/postgres.ts), so the distribution's own cluster is not needed.
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    change "installing postgresql (apt), for the storage tests"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  # pgvector, for the vector-index tests on PostgreSQL: the apt package where there is one,
  # otherwise built from Debian's own source package (Debian 12 has no binary package).
  if [ "$QUIET" = 1 ]; then "$ROOT/scripts/install-pgvector.sh" --quiet; else "$ROOT/scripts/install-pgvector.sh"; fi
  # Chromium, which the web UI's browser tests drive with playwright-core (Debian's build:
  # no browser download from a CDN).
  if ! command -v chromium >/dev/null 2>&1; then
    change "installing chromium (apt), for the web UI's browser tests"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  # docker-compose (Debian's v1), with which the tests validate deploy/docker-compose.yml.
  # No recommends: the engine is already there (docker.io above).
  if ! command -v docker-compose >/dev/null 2>&1; then
    change "installing docker-compose (apt), to validate deploy/docker-compose.yml"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
  fi
  # debootstrap, with which scripts/build-workbench.sh makes the workbench image's Debian
  # root filesystem from this machine's own apt mirror.
  if ! command -v debootstrap >/dev/null 2>&1; then
    change "installing debootstrap (apt), for the workbench image"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  # promtool (Debian's prometheus package), which checks /metrics and tests the alert rules
  # in deploy/prometheus; zsh and fish, whose completion scripts the CLI tests load; tmux,
  # the real terminal in which `aiflock top` is tested; nix-instantiate (nix-bin), with which
  # test/deploy-units.test.ts parses and evaluates deploy/nixos/aiflock.nix.
  local tool pkg wanted=()
  for tool in promtool:prometheus zsh:zsh fish:fish tmux:tmux nix-instantiate:nix-bin; do
    pkg=${tool#*:}
    command -v "${tool%%:*}" >/dev/null 2>&1 || wanted+=("$pkg")
  done
  if [ ${#wanted[@]} -gt 0 ]; then
    change "installing ${wanted[*]} (apt), for the metrics, completion, terminal and deployment-file tests"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
  fi
  # As root the test clusters run as the `postgres` user (PostgreSQL refuses root).
  if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "bootstrap: the postgres user is missing; reinstall postgresql-common" >&2
    exit 1
  fi
  say "postgresql $(ls -d /usr/lib/postgresql/*/ | xargs -n1 basename | sort -n | tail -1) (server binaries)"
}

install_node_deps() {
  local stamp="$ROOT/node_modules/.aiflock-lock"
  if [ ! -f "$stamp" ] || ! cmp -s "$ROOT/package-lock.json" "$stamp"; then
    change "installing Node dependencies"
    # `npm ci`: exactly the lock, which it never rewrites, so a fresh clone stays clean after
    # its first `up`. The lock is complete for every platform (other platforms' optional
    # binaries such as rollup's and unrs's are in it, npm/cli#4828), which `npm ci` requires.
    # node-llama-cpp: only its prebuilt CPU binary (@node-llama-cpp/linux-x64) is locked; the
    # GPU and foreign-CPU variants are overridden away (package.json "overrides"). Its
    # postinstall must never fall back to downloading or compiling llama.cpp.
    (cd "$ROOT" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --loglevel=error)
    cp "$ROOT/package-lock.json" "$stamp"
  fi
}

build() {
  # Rebuild when any source is newer than the last build.
  local stamp="$ROOT/packages/cli/dist/.built"
  if [ ! -f "$stamp" ] || [ -n "$(find "$ROOT/packages" -path '*/node_modules' -prune -o -path '*/src/*' -newer "$stamp" -print -quit)" ]; then
    change "building (tsc + agent bundle)"
    (cd "$ROOT" && npm run --silent build)
    touch "$stamp"
  fi
}

start_operator_engine() {
  # Idempotent: a no-op when it already answers. The main engine is never reconfigured.
  if [ "$(id -u)" = 0 ]; then
    "$ROOT/scripts/operator-engine.sh" start >/dev/null
  else
    as_root "$ROOT/scripts/operator-engine.sh" start >/dev/null
  fi
  say "operator engine (userns-remap) on ${AIFLOCK_OPERATOR_ENGINE:-/run/aiflock/operator-docker.sock}"
}

need_node
[ "$SYSTEM" = 1 ] && install_system
[ "$TEST" = 1 ] && install_test_deps
[ "$TEST" = 1 ] && start_operator_engine
install_node_deps
build
