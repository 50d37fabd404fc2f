#!/usr/bin/env bash
# Runs pytest with its arguments ("$@") beside a throw-away PostgreSQL server
# (scripts/test-postgres.sh), unless TEST_POSTGRES_URL points to one of yours; a server already
# running for this checkout is reused and left running. Finds (or installs) Chromium for the
# browser tests, and axe-core for their accessibility checks.
set -uo pipefail
cd "$(dirname "$0")/.."
ours=
if [ -z "${TEST_POSTGRES_URL:-}" ] && ! bash scripts/test-postgres.sh running; then ours=1; fi
url="${TEST_POSTGRES_URL:-$(bash scripts/test-postgres.sh start)}"
chromium="$(bash scripts/browser.sh)" || exit 1
axe="$(bash scripts/axe-core.sh)" || exit 1
AXE_CORE="$axe" CHROMIUM="$chromium" TEST_POSTGRES_URL="$url" .venv/bin/pytest "$@"
status=$?
[ -z "$ours" ] || bash scripts/test-postgres.sh stop
exit $status
