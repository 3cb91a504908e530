#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (Docker engine,
# nats-server, Node deps), builds, lints, then runs every test against the real things.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh --test
echo "==> building the agent image" >&2
bash scripts/build-image.sh
echo "==> lint" >&2
npm run --silent lint
echo "==> typecheck of tests, testkit and benchmarks" >&2
npx tsc -p tsconfig.tests.json
echo "==> tests" >&2
# bootstrap --test installed pgvector: its native tests must run, not skip.
export AIFLOCK_TEST_PGVECTOR=required
npx vitest run "$@"
