#!/usr/bin/env bash
# Runs pytest with its arguments ("$@") beside a throw-away PostgreSQL server
# (scripts/test-postgres.sh) and Redis server (scripts/test-redis.sh), unless TEST_POSTGRES_URL
# and TEST_REDIS_URL point to yours; a server already running for this checkout is reused and
# left running. Finds (or installs) Chromium for the
# browser tests, and axe-core for their accessibility checks.
set -uo pipefail
cd "$(dirname "$0")/.."
ours=
if [ -z "${TEST_POSTGRES_URL:-}" ] && ! bash scripts/test-postgres.sh running; then ours=1; fi
url="${TEST_POSTGRES_URL:-$(bash scripts/test-postgres.sh start)}"
redis_ours=
if [ -z "${TEST_REDIS_URL:-}" ] && ! bash scripts/test-redis.sh running; then redis_ours=1; fi
redis="${TEST_REDIS_URL:-$(bash scripts/test-redis.sh start)}"
chromium="$(bash scripts/browser.sh)" || exit 1
axe="$(bash scripts/axe-core.sh)" || exit 1
AXE_CORE="$axe" CHROMIUM="$chromium" TEST_POSTGRES_URL="$url" TEST_REDIS_URL="$redis" .venv/bin/pytest "$@"
status=$?
[ -z "$ours" ] || bash scripts/test-postgres.sh stop
[ -z "$redis_ours" ] || bash scripts/test-redis.sh stop
exit $status
