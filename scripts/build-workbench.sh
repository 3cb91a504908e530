#!/usr/bin/env bash
# Builds the workbench image, for agents that build software and browse the web:
#   aiflock/workbench-rootfs:<recipe12>  a Debian bookworm root filesystem made here with
#                                        debootstrap from this machine's own apt mirror
#                                        (git, python3, build-essential, curl, chromium)
#   aiflock/workbench:<hash12>           that rootfs plus this host's node (>= 20; bookworm's
#                                        nodejs is 18), playwright-core and the agent bundle
# The workbench is also tagged :latest. Two cache levels keep re-runs cheap: the rootfs
# tarball is kept under the cache dir keyed by the recipe (script recipe version, suite,
# package list, apt sources), and the final image is keyed by its content, so an unchanged
# re-run is a no-op and a change of only the agent bundle rebuilds in seconds.
set -euo pipefail

readonly SCRIPT_NAME=build-workbench
# shellcheck source=scripts/image-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/image-common.sh"
# Bump when the rootfs recipe changes in a way the package list does not show.
readonly RECIPE_VERSION=1
readonly SUITE=bookworm
readonly PACKAGES=(ca-certificates curl git python3 build-essential chromium fonts-liberation)
readonly IMAGE_PATH='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE_DIR="$ROOT/packages/agent/dist/bundle"
DOCKERFILE="$ROOT/images/workbench/Dockerfile"
PLAYWRIGHT_DIR="$ROOT/node_modules/playwright-core"

usage() {
  cat <<USAGE
usage: scripts/build-workbench.sh [--cache-dir DIR] [--force] [--json] [--help]

Builds aiflock/workbench (Debian bookworm made with debootstrap, plus node, Chromium and the
agent runtime) locally. Needs root (debootstrap), Docker, and the apt mirror this machine uses.

  --cache-dir DIR  where the rootfs tarball is kept (default \$AIFLOCK_CACHE_DIR or
                   /var/cache/aiflock)
  --force          rebuild the final image even if its tag already exists (the cached
                   rootfs is reused; delete it from the cache dir to rebuild that too)
  --json           print {"rootfs": "...", "workbench": "..."} as the last line of stdout
  -h, --help       this help

Progress goes to stderr; the resulting image refs go to stdout.
Exit codes: 0 ok, 1 build failed, 2 usage, 3 docker unavailable, 4 missing prerequisite.
USAGE
}

cache_dir="${AIFLOCK_CACHE_DIR:-/var/cache/aiflock}"
force=0
json=0
parse_image_args --cache-dir cache_dir "$@"

# Seconds since the start on each line: a CI log shows where a cold build spends its time.
step() { log "[${SECONDS}s] $*"; }
sha_of() { sha256sum | cut -d' ' -f1; }

require_docker

mounts=()
cleanup() {
  local m
  for m in "${mounts[@]+"${mounts[@]}"}"; do umount -l "$m" 2>/dev/null || true; done
  remove_tmp_dirs
}
trap cleanup EXIT

# ---------------------------------------------------------------- recipe

# The host's deb822 apt sources (/etc/apt/sources.list.d/*.sources), enabled ones only:
# the rootfs uses exactly the mirror and suites (security included) this machine uses.
apt_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r "$f" ]] && grep -v '^#' "$f" && echo
  done
}

# The first Debian mirror URI in those sources, for debootstrap's first stage.
debian_mirror() {
  apt_sources | awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }'
}

# ---------------------------------------------------------------- rootfs (debootstrap)

# Writes the files the sandbox contract needs into rootfs $1.
write_etc() {
  local etc="$1/etc"
  grep -q '^agent:' "$etc/passwd" || echo 'agent:x:1001:1001:aiflock agent:/tmp:/bin/sh' >>"$etc/passwd"
  grep -q '^agent:' "$etc/group" || echo 'agent:x:1001:' >>"$etc/group"
  # Docker bind-mounts these; existing files keep that working with a read-only root.
  : >"$etc/hosts"
  : >"$etc/resolv.conf"
  : >"$etc/hostname"
}

# Runs debootstrap into a fresh directory and packs it into tarball $1.
make_rootfs_tarball() {
  local out="$1" mirror="$2" rootfs log_file m
  command -v debootstrap >/dev/null ||
    die "$EXIT_PREREQ" "debootstrap is not installed (apt-get install debootstrap, or run scripts/bootstrap.sh)"
  ((EUID == 0)) || die "$EXIT_PREREQ" "debootstrap needs root; run this script as root (the cached result is reused afterwards)"
  rootfs="$(mktemp -d "$cache_dir/rootfs.XXXXXX")"
  tmp_dirs+=("$rootfs")
  log_file="$cache_dir/debootstrap.log"
  step "debootstrap $SUITE from $mirror (minbase; log in $log_file)"
  debootstrap --variant=minbase --components=main "$SUITE" "$rootfs" "$mirror" >"$log_file" 2>&1 || {
    tail -n 20 "$log_file" >&2
    die "$EXIT_BUILD" "debootstrap failed (see $log_file)"
  }
  # Second stage through apt itself, so the host's other suites (updates, security: the
  # browser needs its security fixes) apply and recommends stay out.
  rm -f "$rootfs/etc/apt/sources.list"
  apt_sources >"$rootfs/etc/apt/sources.list.d/debian.sources"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d" && chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  for m in proc sys dev; do
    mount --bind "/$m" "$rootfs/$m"
    mounts=("$rootfs/$m" "${mounts[@]+"${mounts[@]}"}")
  done
  step "installing ${PACKAGES[*]} (apt, no recommends)"
  chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -c \
    "apt-get update -qq && apt-get -y -qq upgrade && apt-get install -y -qq --no-install-recommends ${PACKAGES[*]}" \
    >>"$log_file" 2>&1 || {
    tail -n 20 "$log_file" >&2
    die "$EXIT_BUILD" "installing packages in the rootfs failed (see $log_file)"
  }
  for m in "${mounts[@]}"; do umount "$m"; done
  mounts=()
  rm -f "$rootfs/usr/sbin/policy-rc.d"
  # What a read-only image does not need: package lists and archives (the operator
  # profile, which may install packages, runs apt-get update itself), docs and manuals.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
  write_etc "$rootfs"
  mkdir -p "$rootfs"/{shared,opt/aiflock,workspace}
  step "packing the rootfs ($(du -sh --one-file-system "$rootfs" | cut -f1))"
  tar -C "$rootfs" --one-file-system --numeric-owner -cf "$out.tmp" . || die "$EXIT_BUILD" "packing the rootfs failed"
  mv "$out.tmp" "$out"
}

build_rootfs() {
  local mirror key tag tarball
  mirror="$(debian_mirror)"
  [[ -n "$mirror" ]] || die "$EXIT_PREREQ" "no Debian mirror found in /etc/apt/sources.list.d/*.sources"
  key="$({
    printf 'recipe %s\nsuite %s\npackages %s\n' "$RECIPE_VERSION" "$SUITE" "${PACKAGES[*]}"
    apt_sources
  } | sha_of | cut -c1-12)"
  tag="aiflock/workbench-rootfs:$key"
  if image_exists "$tag"; then
    step "$tag is up to date (skipped)"
  else
    mkdir -p "$cache_dir" || die "$EXIT_PREREQ" "cannot create the cache dir $cache_dir"
    tarball="$cache_dir/workbench-rootfs-$key.tar"
    # One builder at a time per cache dir; a second one waits and then finds the tarball.
    exec 9>"$cache_dir/workbench.lock"
    flock 9
    if [[ -f "$tarball" ]]; then
      step "using the cached rootfs $tarball"
    else
      make_rootfs_tarball "$tarball" "$mirror"
      # Tarballs of older recipes are 1.2 GB each and nothing uses them any more.
      find "$cache_dir" -maxdepth 1 -name 'workbench-rootfs-*.tar' ! -name "${tarball##*/}" -delete
    fi
    step "importing $tag"
    docker import --change "ENV PATH=$IMAGE_PATH" --message "aiflock workbench rootfs ($SUITE, recipe $key)" \
      "$tarball" "$tag" >/dev/null || die "$EXIT_BUILD" "docker import of $tag failed"
    flock -u 9
  fi
  ROOTFS_REF="$tag"
}

# ---------------------------------------------------------------- workbench image

build_workbench() {
  local rootfs="$1" rootfs_id node bundle_sha node_sha pw_sha hash tag ctx previous_id=""
  node="$(readlink -f "$(command -v node || echo /nonexistent)")"
  [[ -x "$node" ]] || die "$EXIT_PREREQ" "node is not on PATH; the workbench carries this host's node"
  "$node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    die "$EXIT_PREREQ" "$node is $("$node" --version); the agent runtime needs node >= 20"
  [[ -f "$PLAYWRIGHT_DIR/package.json" ]] || die "$EXIT_PREREQ" "$PLAYWRIGHT_DIR is missing; run npm ci"
  if [[ ! -f "$BUNDLE_DIR/agent.mjs" ]]; then
    step "no agent bundle yet; running npm run build"
    (cd "$ROOT" && npm run build >&2) || die "$EXIT_BUILD" "npm run build failed"
  fi
  # The rootfs by id, not tag: the same recipe made again later has newer packages.
  rootfs_id="$(docker image inspect --format '{{ .Id }}' "$rootfs")"
  bundle_sha="$(sha_of <"$BUNDLE_DIR/agent.mjs")"
  node_sha="$(sha_of <"$node")"
  pw_sha="$(tar -C "$PLAYWRIGHT_DIR" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | sha_of)"
  hash="$(printf 'rootfs %s\nnode %s\nplaywright %s\nbundle %s\ndockerfile %s\n' "$rootfs_id" "$node_sha" "$pw_sha" \
    "$bundle_sha" "$(sha_of <"$DOCKERFILE")" | sha_of | cut -c1-12)"
  tag="aiflock/workbench:$hash"
  if ((force == 0)) && image_exists "$tag"; then
    step "$tag is up to date (skipped)"
  else
    step "building $tag on $rootfs"
    ctx="$(mktemp -d)"
    tmp_dirs+=("$ctx")
    cp "$DOCKERFILE" "$ctx/Dockerfile"
    install -m 0755 "$node" "$ctx/node"
    install -m 0644 "$BUNDLE_DIR/agent.mjs" "$ctx/agent.mjs"
    cp -r "$PLAYWRIGHT_DIR" "$ctx/playwright-core"
    chmod -R u=rwX,go=rX "$ctx/playwright-core"
    previous_id="$(docker image inspect --format '{{ .Id }}' "$tag" 2>/dev/null || true)"
    docker build --quiet --build-arg "ROOTFS_IMAGE=$rootfs" --build-arg "BUNDLE_SHA256=$bundle_sha" -t "$tag" "$ctx" >/dev/null ||
      die "$EXIT_BUILD" "docker build of $tag failed"
    # The image must start: node runs on the rootfs's libraries, as uid 1001.
    docker run --rm --read-only --cap-drop ALL --network none --entrypoint node "$tag" \
      -e 'if (process.getuid() !== 1001) process.exit(1)' >/dev/null ||
      die "$EXIT_BUILD" "$tag does not run node as uid 1001"
  fi
  tag_and_prune "$tag" aiflock/workbench:latest "${previous_id:-}"
  WORKBENCH_REF="$tag"
}

# ---------------------------------------------------------------- main

ROOTFS_REF=""
WORKBENCH_REF=""
build_rootfs
build_workbench "$ROOTFS_REF"
step "done"

printf 'rootfs:    %s\nworkbench: %s (also aiflock/workbench:latest)\n' "$ROOTFS_REF" "$WORKBENCH_REF"
if ((json == 1)); then printf '{"rootfs":"%s","workbench":"%s"}\n' "$ROOTFS_REF" "$WORKBENCH_REF"; fi
