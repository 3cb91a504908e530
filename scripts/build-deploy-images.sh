#!/usr/bin/env bash
# Builds the deployment images from images/deploy/Dockerfile (targets daemon and web)
# without a registry: the workspace is built on this host (npm run build), and each image's
# build context is streamed to `docker build` as a tar holding the built files and only the
# production dependencies, with PREBUILT=1 and the host-made aiflock/base
# (scripts/build-image.sh) as both build and run image. Where a registry is reachable,
# `docker-compose -f deploy/docker-compose.yml build` builds the same targets from source.
#   aiflock/daemon:<tag>  aiflock/web:<tag>   (<tag>: --tag, default "local")
set -euo pipefail

readonly EXIT_BUILD=1 EXIT_USAGE=2 EXIT_DOCKER=3
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<USAGE
usage: scripts/build-deploy-images.sh [--base-image REF] [--tag TAG] [--only daemon|web] [--no-workspace-build] [--json] [--help]

Builds aiflock/daemon:TAG and aiflock/web:TAG from this repository's Dockerfile, with no
registry: the workspace is built here and sent prebuilt (production dependencies only).

  --base-image REF  build on REF instead of the host-made aiflock/base (which this script
                    makes with scripts/build-image.sh when missing). REF needs node >= 20.
  --tag TAG         image tag (default: local)
  --only NAME       build only the daemon or only the web image
  --no-workspace-build  use the workspace as built (npm run build already ran)
  --json            print {"daemon": "...", "web": "..."} as the last line of stdout
  -h, --help        this help

Progress goes to stderr. Exit codes: 0 ok, 1 build failed, 2 usage, 3 docker unavailable.
USAGE
}
log() { printf 'build-deploy-images: %s\n' "$*" >&2; }
die() {
  local code="$1"
  shift
  printf 'build-deploy-images: error: %s\n' "$*" >&2
  exit "$code"
}

base_image=""
tag="local"
only=""
json=0
workspace_build=1
while (($# > 0)); do
  case "$1" in
    --base-image) (($# >= 2)) || die "$EXIT_USAGE" "--base-image needs a value"; base_image="$2"; shift 2 ;;
    --tag) (($# >= 2)) || die "$EXIT_USAGE" "--tag needs a value"; tag="$2"; shift 2 ;;
    --only) (($# >= 2)) || die "$EXIT_USAGE" "--only needs daemon or web"; only="$2"; shift 2 ;;
    --no-workspace-build) workspace_build=0 && shift ;;
    --json) json=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage >&2 && die "$EXIT_USAGE" "unknown argument: $1" ;;
  esac
done
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "$EXIT_USAGE" "--tag \"$tag\" is not a valid image tag"
[[ -z "$only" || "$only" == daemon || "$only" == web ]] || die "$EXIT_USAGE" "--only takes daemon or web, not \"$only\""

command -v docker >/dev/null || die "$EXIT_DOCKER" "docker is not installed"
docker info >/dev/null 2>&1 || die "$EXIT_DOCKER" "cannot talk to the Docker daemon"
if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi

if [[ -z "$base_image" ]]; then
  base_image="$(bash "$ROOT/scripts/build-image.sh" --json | tail -1 | sed -E 's/.*"base":"([^"]+)".*/\1/')"
  [[ -n "$base_image" ]] || die "$EXIT_BUILD" "scripts/build-image.sh did not name a base image"
fi
docker image inspect "$base_image" >/dev/null 2>&1 || die "$EXIT_BUILD" "base image $base_image is not present locally"

if ((workspace_build == 1)); then
  log "building the workspace (npm run build)"
  (cd "$ROOT" && npm run --silent build >&2) || die "$EXIT_BUILD" "npm run build failed"
fi
[[ -f "$ROOT/packages/daemon/dist/main.js" ]] || die "$EXIT_BUILD" "packages/daemon/dist/main.js is missing: run npm run build"
[[ -f "$ROOT/packages/web/dist/index.html" ]] || die "$EXIT_BUILD" "packages/web/dist/index.html is missing: run npm run build"

# Files every context needs: the manifests the Dockerfiles copy first.
manifests() {
  printf '%s\n' package.json package-lock.json scripts/no-gpu-binary
  local p
  for p in protocol core agent daemon cli web; do printf 'packages/%s/package.json\n' "$p"; done
}

# The production dependency closure of the daemon and the CLI, as paths relative to the
# root, without entries already inside another listed directory.
production_modules() {
  (cd "$ROOT" && npm ls --omit=dev --all --parseable -w packages/daemon -w packages/cli 2>/dev/null) |
    sed -n "s|^$ROOT/||p" | grep '^node_modules/' | sort -u |
    awk '{
      # Skip a package nested in one already listed: tar would add its files twice.
      n = split($0, part, "/node_modules/"); prefix = part[1]
      for (j = 2; j <= n; j++) { if (prefix in kept) next; prefix = prefix "/node_modules/" part[j] }
      kept[$0] = 1; print
    }'
}

readonly DOCKERFILE=images/deploy/Dockerfile

build_one() {
  local name="$1" ref="aiflock/$1:$tag"
  local list
  list="$(mktemp)"
  {
    manifests
    # The web's files are in both contexts: the classic builder builds the web stages on
    # the way to the daemon's (see the Dockerfile).
    printf '%s\n' "$DOCKERFILE" packages/web/dist images/web/server.mjs
    if [[ "$name" == daemon ]]; then
      # assets/: the default village map the world engine loads.
      printf '%s\n' packages/{protocol,core,daemon,cli}/dist assets
      production_modules
    fi
  } >"$list"
  log "building $ref on $base_image ($(wc -l <"$list") context entries)"
  # --network none: a prebuilt context needs no network, and the engine may have no default
  # bridge. node_modules/@aiflock/* are symlinks into packages/ and stay links: what they point to is
  # in the context too.
  if ! tar -C "$ROOT" --exclude='*.tsbuildinfo' -cf - -T "$list" |
    docker build --quiet --network none -f "$DOCKERFILE" --target "$name" --build-arg PREBUILT=1 --build-arg "BUILD_IMAGE=$base_image" --build-arg "BASE_IMAGE=$base_image" -t "$ref" - >/dev/null; then
    rm -f "$list"
    die "$EXIT_BUILD" "docker build of $ref failed"
  fi
  rm -f "$list"
  printf '%s' "$ref"
}

daemon_ref=""
web_ref=""
if [[ -z "$only" || "$only" == daemon ]]; then daemon_ref="$(build_one daemon)"; fi
if [[ -z "$only" || "$only" == web ]]; then web_ref="$(build_one web)"; fi
printf 'daemon: %s\nweb:    %s\n' "${daemon_ref:-(skipped)}" "${web_ref:-(skipped)}"
if ((json == 1)); then printf '{"daemon":"%s","web":"%s","base":"%s"}\n' "$daemon_ref" "$web_ref" "$base_image"; fi
