# Sourced by the image scripts (build-image.sh, build-workbench.sh): their exit codes,
# progress and error lines on stderr, the Docker checks and temporary directories removed
# on exit. The sourcing script sets SCRIPT_NAME first.
# shellcheck shell=bash

readonly EXIT_BUILD=1 EXIT_USAGE=2 EXIT_DOCKER=3 EXIT_PREREQ=4

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() {
  local code="$1"
  shift
  printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
  exit "$code"
}

require_docker() {
  command -v docker >/dev/null || die "$EXIT_DOCKER" "docker is not installed"
  docker info >/dev/null 2>&1 || die "$EXIT_DOCKER" "cannot talk to the Docker daemon (is it running, may this user use it?)"
  # Debian's docker.io has no buildx; the classic builder is all we need.
  if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Directories to remove when the script exits (its EXIT trap calls remove_tmp_dirs).
tmp_dirs=()
remove_tmp_dirs() {
  local d
  for d in "${tmp_dirs[@]+"${tmp_dirs[@]}"}"; do rm -rf --one-file-system "$d"; done
}

# The options both image scripts take: --force, --json, --help, and one option with a value
# (its name in $1, e.g. --base-image), stored in the variable named by $2. Sets `force` and
# `json`; calls the script's own `usage`.
parse_image_args() {
  local opt="$1" var="$2"
  shift 2
  while (($# > 0)); do
    case "$1" in
      "$opt")
        (($# >= 2)) || die "$EXIT_USAGE" "$opt needs a value"
        printf -v "$var" '%s' "$2"
        shift 2
        ;;
      "$opt"=*)
        printf -v "$var" '%s' "${1#*=}"
        shift
        ;;
      --force) force=1 && shift ;;
      --json) json=1 && shift ;;
      -h | --help) usage && exit 0 ;;
      *) usage >&2 && die "$EXIT_USAGE" "unknown argument: $1" ;;
    esac
  done
}

# Tags $1 as $2 (the :latest alias) and removes $3, the image a rebuild of $1 replaced, unless
# it is $1 itself or something still uses or tags it (then `rm` refuses, which is fine).
tag_and_prune() {
  local tag="$1" alias="$2" previous="${3:-}"
  docker tag "$tag" "$alias"
  if [[ -n "$previous" && "$previous" != "$(docker image inspect --format '{{ .Id }}' "$tag")" ]]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
}
