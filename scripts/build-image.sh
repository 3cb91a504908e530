#!/usr/bin/env bash
# Builds the Flock images locally, with no container registry:
#   aiflock/base:<hash12>   a minimal rootfs made from this host's own node, sh, utilities
#                           and their shared libraries (skipped with --base-image)
#   aiflock/agent:<sha12>   the agent runtime bundle on top of that base
# Both are also tagged :latest. Re-running with nothing changed is a fast no-op.
set -euo pipefail

readonly SCRIPT_NAME=build-image
# shellcheck source=scripts/image-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/image-common.sh"
readonly RECIPE_VERSION=1
readonly IMAGE_PATH='/usr/local/bin:/usr/bin:/bin'
readonly UTILITIES=(id ls cat echo sleep mkdir rm cp mv touch env head tail wc date uname grep sed sort
  tr printf true false test ps kill find xargs tee cut basename dirname stat chmod readlink ln pwd
  uniq md5sum sha256sum base64 timeout nproc df du seq expr gzip tar hostname whoami)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE_DIR="$ROOT/packages/agent/dist/bundle"
DOCKERFILE="$ROOT/images/agent/Dockerfile"

usage() {
  cat <<USAGE
usage: scripts/build-image.sh [--base-image REF] [--force] [--json] [--help]

Builds aiflock/base (from this host's files) and aiflock/agent locally. No registry.

  --base-image REF  build the agent image on REF (e.g. node:20-bookworm-slim) instead of
                    the host-made base. REF must already be present locally (pull it
                    yourself); it must provide node >= 20 on PATH. Also AIFLOCK_BASE_IMAGE.
  --force           rebuild the agent image even if its tag already exists
  --json            print {"base": "...", "agent": "..."} as the last line of stdout
  -h, --help        this help

Progress goes to stderr; the resulting image refs go to stdout.
Exit codes: 0 ok, 1 build failed, 2 usage, 3 docker unavailable, 4 missing prerequisite.
USAGE
}

base_image="${AIFLOCK_BASE_IMAGE:-}"
force=0
json=0
parse_image_args --base-image base_image "$@"

require_docker
trap remove_tmp_dirs EXIT

# ---------------------------------------------------------------- host-made base image

# Prints the absolute paths of the shared libraries (and the dynamic loader) $1 needs.
libraries_of() {
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' || true
}

# Lines "DEST<TAB>SRC": every host file the base image contains, sorted, deduplicated.
host_files() {
  local node sh u path lib libc_dir
  node="$(command -v node || true)"
  [[ -n "$node" ]] || die "$EXIT_PREREQ" "node is not on PATH; it is what the base image runs"
  node="$(readlink -f "$node")"
  "$node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    die "$EXIT_PREREQ" "$node is $("$node" --version); the agent runtime needs node >= 20"
  sh="$(readlink -f /bin/sh)"
  {
    printf '/usr/bin/node\t%s\n' "$node"
    printf '/bin/sh\t%s\n' "$sh"
    local bins=("$node" "$sh")
    for u in "${UTILITIES[@]}"; do
      path="$(type -P "$u" || true)"
      [[ -n "$path" ]] || continue
      printf '%s\t%s\n' "$path" "$path"
      bins+=("$path")
    done
    for path in "${bins[@]}"; do
      for lib in $(libraries_of "$path"); do
        printf '%s\t%s\n' "$lib" "$lib"
        if [[ "$lib" == */libc.so.* ]]; then libc_dir="$(dirname "$lib")"; fi
      done
    done
    # glibc before 2.34 loads passwd/group/hosts lookups from these at run time.
    for lib in "${libc_dir:-/nonexistent}"/libnss_files.so.2 "${libc_dir:-/nonexistent}"/libnss_dns.so.2; do
      if [[ -e "$lib" ]]; then printf '%s\t%s\n' "$lib" "$lib"; fi
    done
  } | sort -u -t $'\t' -k1,1
}

ca_bundle() {
  local f
  for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    if [[ -r "$f" ]]; then
      printf '%s\n' "$f"
      return 0
    fi
  done
}

# Writes the generated /etc files into $1.
write_etc() {
  local etc="$1/etc"
  mkdir -p "$etc"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'agent:x:1001:1001:aiflock agent:/tmp:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$etc/passwd"
  printf '%s\n' 'root:x:0:' 'agent:x:1001:' 'nogroup:x:65534:' >"$etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'shadow: files' 'hosts: files dns' 'networks: files' \
    'protocols: files' 'services: files' >"$etc/nsswitch.conf"
  # Docker bind-mounts these; existing files keep that working with a read-only root.
  : >"$etc/hosts"
  : >"$etc/resolv.conf"
  : >"$etc/hostname"
}

# Hash of everything that goes into the rootfs, computed from the host files without
# copying them, so an unchanged base is recognised in well under a second.
base_hash() {
  local files="$1" dest src ca etc_dir hash
  # Callers run this in a command substitution (a subshell), whose additions to tmp_dirs
  # the EXIT trap never sees: it removes its own directory.
  etc_dir="$(mktemp -d)"
  write_etc "$etc_dir"
  ca="$(ca_bundle)"
  hash="$({
    printf 'recipe %s\nenv PATH=%s\n' "$RECIPE_VERSION" "$IMAGE_PATH"
    while IFS=$'\t' read -r dest src; do
      printf '%s %s %s\n' "$dest" "$([[ -x "$src" ]] && echo x || echo r)" "$(sha256sum <"$src" | cut -d' ' -f1)"
    done <<<"$files"
    if [[ -n "$ca" ]]; then printf 'ca %s\n' "$(sha256sum <"$ca" | cut -d' ' -f1)"; fi
    (cd "$etc_dir" && find etc -type f | sort | xargs sha256sum)
    for dest in bin sbin lib lib32 lib64 libx32; do
      if [[ -L "/$dest" ]]; then printf 'link %s %s\n' "$dest" "$(readlink "/$dest")"; fi
    done
  } | sha256sum | cut -c1-12)"
  rm -rf "$etc_dir"
  echo "$hash"
}

build_host_base() {
  local files hash tag rootfs dest src d ca
  files="$(host_files)"
  hash="$(base_hash "$files")"
  tag="aiflock/base:$hash"
  if image_exists "$tag"; then
    log "$tag is up to date (skipped)"
  else
    log "assembling the base rootfs from this host ($(wc -l <<<"$files") files)"
    rootfs="$(mktemp -d)"
    tmp_dirs+=("$rootfs")
    # Mirror a merged-/usr host, so library paths that ldd reports via /lib resolve.
    for d in bin sbin lib lib32 lib64 libx32; do
      if [[ -L "/$d" ]]; then
        mkdir -p "$rootfs/$(readlink "/$d")"
        ln -s "$(readlink "/$d")" "$rootfs/$d"
      fi
    done
    while IFS=$'\t' read -r dest src; do
      # Dereferenced copies; no setuid bits survive (mode is 0755 or 0644).
      if [[ -x "$src" ]]; then install -D -m 0755 "$src" "$rootfs$dest"; else install -D -m 0644 "$src" "$rootfs$dest"; fi
    done <<<"$files"
    write_etc "$rootfs"
    ca="$(ca_bundle)"
    if [[ -n "$ca" ]]; then install -D -m 0644 "$ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"; fi
    mkdir -p "$rootfs"/{shared,run,opt/aiflock,proc,sys,dev,var/tmp}
    install -d -m 0700 "$rootfs/root"
    install -d -m 1777 "$rootfs/tmp"
    log "importing $tag"
    tar -C "$rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . |
      docker import --change "ENV PATH=$IMAGE_PATH" --message "aiflock base from host $(uname -n) node $(node --version)" - "$tag" >/dev/null ||
      die "$EXIT_BUILD" "docker import of $tag failed"
  fi
  docker tag "$tag" aiflock/base:latest
  BASE_REF="$tag"
}

# ---------------------------------------------------------------- agent image

build_agent() {
  local base="$1" sha tag ctx current_base previous_id=""
  if [[ ! -f "$BUNDLE_DIR/agent.mjs" ]]; then
    log "no agent bundle yet; running npm run build"
    (cd "$ROOT" && npm run build >&2) || die "$EXIT_BUILD" "npm run build failed"
    [[ -f "$BUNDLE_DIR/agent.mjs" ]] || die "$EXIT_PREREQ" "npm run build did not produce $BUNDLE_DIR/agent.mjs"
  fi
  # Hash the bundle itself: agent.sha256 could be stale if the bundle was replaced.
  sha="$(sha256sum <"$BUNDLE_DIR/agent.mjs" | cut -d' ' -f1)"
  tag="aiflock/agent:${sha:0:12}"
  current_base="$(docker image inspect --format '{{ index .Config.Labels "aiflock.base-image" }}' "$tag" 2>/dev/null || true)"
  if ((force == 0)) && [[ "$current_base" == "$base" ]]; then
    log "$tag is up to date (skipped)"
  else
    if [[ -n "$current_base" && "$current_base" != "$base" ]]; then log "$tag was built on $current_base; rebuilding on $base"; fi
    log "building $tag on $base"
    ctx="$(mktemp -d)"
    tmp_dirs+=("$ctx")
    cp "$DOCKERFILE" "$ctx/Dockerfile"
    cp "$BUNDLE_DIR/agent.mjs" "$ctx/agent.mjs"
    chmod 0644 "$ctx/agent.mjs"
    previous_id="$(docker image inspect --format '{{ .Id }}' "$tag" 2>/dev/null || true)"
    docker build --quiet --build-arg "BASE_IMAGE=$base" --build-arg "BUNDLE_SHA256=$sha" -t "$tag" "$ctx" >/dev/null ||
      die "$EXIT_BUILD" "docker build of $tag failed"
  fi
  tag_and_prune "$tag" aiflock/agent:latest "${previous_id:-}"
  AGENT_REF="$tag"
}

# ---------------------------------------------------------------- main

BASE_REF=""
AGENT_REF=""
if [[ -n "$base_image" ]]; then
  image_exists "$base_image" ||
    die "$EXIT_PREREQ" "base image $base_image is not present locally; pull it yourself first (docker pull $base_image)"
  log "using base image $base_image"
  BASE_REF="$base_image"
else
  build_host_base
fi
build_agent "$BASE_REF"

printf 'base:  %s\nagent: %s (also aiflock/agent:latest)\n' "$BASE_REF" "$AGENT_REF"
if ((json == 1)); then printf '{"base":"%s","agent":"%s"}\n' "$BASE_REF" "$AGENT_REF"; fi
