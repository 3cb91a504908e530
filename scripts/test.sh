#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (Docker engine,
# nats-server, Node deps), builds, lints, then runs every test against the real things.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh --test
echo "==> building the agent image" >&2
agent="$(bash scripts/build-image.sh --json | tail -n 1 | sed -n 's/.*"agent":"\([^"]*\)".*/\1/p')"
[ -n "$agent" ] || { echo "test: scripts/build-image.sh printed no agent image" >&2; exit 1; }
# Every test's `aiflock up` runs this image as it is (its content tag): checking the default
# one again costs each `up` from seconds to most of a minute on a loaded machine.
export AIFLOCK_IMAGE="$agent"
# Debian by debootstrap: about 8 minutes the first time on a fresh machine, then cached
# (the rootfs tarball under /var/cache/aiflock; a changed agent bundle rebuilds in seconds).
# It runs while lint and the type check do; the tests wait for it.
echo "==> building the workbench image (cached), in the background" >&2
workbench_out="$(mktemp)"
trap 'rm -f "$workbench_out"' EXIT
bash scripts/build-workbench.sh --json >"$workbench_out" &
workbench_pid=$!
echo "==> lint" >&2
npm run --silent lint
echo "==> typecheck of tests, testkit and benchmarks" >&2
npx tsc -p tsconfig.tests.json
wait "$workbench_pid" || { echo "test: scripts/build-workbench.sh failed" >&2; exit 1; }
workbench="$(tail -n 1 "$workbench_out" | sed -n 's/.*"workbench":"\([^"]*\)".*/\1/p')"
[ -n "$workbench" ] || { echo "test: scripts/build-workbench.sh printed no image" >&2; exit 1; }
# The content tag, not :latest, which another build on this machine may move meanwhile.
export AIFLOCK_TEST_WORKBENCH_IMAGE="$workbench"
echo "==> tests" >&2
# bootstrap --test installed pgvector: its native tests must run, not skip.
export AIFLOCK_TEST_PGVECTOR=required
npx vitest run "$@"
