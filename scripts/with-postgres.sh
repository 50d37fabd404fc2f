#!/usr/bin/env bash
# Runs a command with the URL of a throw-away PostgreSQL server (scripts/test-postgres.sh) as its
# last argument, unless TEST_POSTGRES_URL points to one of yours; a server already running for
# this checkout is reused and left running. Used by `make bench-desk`.
set -uo pipefail
cd "$(dirname "$0")/.."
ours=
if [ -z "${TEST_POSTGRES_URL:-}" ] && ! bash scripts/test-postgres.sh running; then ours=1; fi
url="${TEST_POSTGRES_URL:-$(bash scripts/test-postgres.sh start)}" || exit 1
"$@" "$url"
status=$?
[ -z "$ours" ] || bash scripts/test-postgres.sh stop
exit $status
