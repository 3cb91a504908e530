#!/usr/bin/env bash
# Installs the pgvector extension into the newest local PostgreSQL, idempotently.
#
# Where apt has a binary package (postgresql-<major>-pgvector: Debian 13, Ubuntu, the PGDG
# repository) it installs that. Debian 12 (bookworm) has none, so it builds Debian's own
# source package of pgvector (the one Debian 13 ships as postgresql-17-pgvector), fetched
# from the Debian archive and checked against the SHA-256 in the archive's Sources index,
# against postgresql-server-dev-<major>. No other network source is used.
#
#   scripts/install-pgvector.sh [--quiet]
set -euo pipefail
QUIET=0
for arg in "$@"; do
  case "$arg" in
    --quiet) QUIET=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install-pgvector: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { [ "$QUIET" = 1 ] || echo "==> $*" >&2; }
change() { echo "==> $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else echo "install-pgvector: need root for: $*" >&2; exit 1; fi; }
apt_install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

# Debian's source package, pinned: pool/main/p/pgvector in trixie's Sources index.
VERSION=0.8.0
SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ORIG="pgvector_${VERSION}.orig.tar.gz"

major="$(ls -d /usr/lib/postgresql/*/ 2>/dev/null | xargs -rn1 basename | sort -n | tail -1)"
[ -n "$major" ] || { echo "install-pgvector: no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }
if [ -f "/usr/share/postgresql/$major/extension/vector.control" ]; then
  say "pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "/usr/share/postgresql/$major/extension/vector.control") is installed for PostgreSQL $major"
  exit 0
fi

if apt-cache policy "postgresql-$major-pgvector" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  change "installing postgresql-$major-pgvector (apt)"
  apt_install "postgresql-$major-pgvector"
  exit 0
fi

change "building pgvector $VERSION for PostgreSQL $major from Debian's source package (apt has no postgresql-$major-pgvector)"
need=()
command -v make >/dev/null || need+=(make)
command -v gcc >/dev/null || need+=(gcc)
command -v curl >/dev/null || need+=(curl ca-certificates)
[ -x "/usr/lib/postgresql/$major/bin/pg_config" ] && [ -d "/usr/include/postgresql/$major/server" ] || need+=("postgresql-server-dev-$major")
if [ ${#need[@]} -gt 0 ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  apt_install "${need[@]}"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsS --retry 3 -o "$work/$ORIG" "$MIRROR/pool/main/p/pgvector/$ORIG" || {
  echo "install-pgvector: could not fetch $MIRROR/pool/main/p/pgvector/$ORIG" >&2
  exit 1
}
echo "$SHA256  $work/$ORIG" | sha256sum -c --quiet - || { echo "install-pgvector: $ORIG does not match Debian's published SHA-256" >&2; exit 1; }
tar -xzf "$work/$ORIG" -C "$work"
# OPTFLAGS="": no -march=native, so the library runs on any x86-64 the cluster moves to.
make -s -C "$work/pgvector-$VERSION" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" OPTFLAGS="" >"$work/build.log" 2>&1 || {
  tail -20 "$work/build.log" >&2
  echo "install-pgvector: the build failed" >&2
  exit 1
}
as_root make -s -C "$work/pgvector-$VERSION" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install >/dev/null
change "pgvector $VERSION installed for PostgreSQL $major"
