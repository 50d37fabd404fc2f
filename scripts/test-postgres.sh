#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the tests and prints its URL (nothing when none
# can be had: the PostgreSQL cases are then skipped, saying so).
#   scripts/test-postgres.sh start   -> prints postgresql://postgres@127.0.0.1:PORT/postgres
#                                       (the server already running for this checkout, if any)
#   scripts/test-postgres.sh stop
#   scripts/test-postgres.sh running  -> exit status 0 when this checkout's server is up
# It uses Debian's PostgreSQL (installed with apt-get when running as root and missing).
set -uo pipefail
cd "$(dirname "$0")/.."
data="$PWD/var/test-postgres"
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-start}" in
running)
  bin="$(find_bin)"
  [ -n "$bin" ] && [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
  exit $?
  ;;
stop)
  bin="$(find_bin)"
  [ -n "$bin" ] && [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1
  exit 0
  ;;
start)
  bin="$(find_bin)"
  if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing PostgreSQL for the tests (Debian's package)..." >&2
    (apt-get install -y -qq postgresql >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1; }) || true
    bin="$(find_bin)"
  fi
  if [ -z "$bin" ]; then
    echo "PostgreSQL is not installed: its test cases will be skipped (install postgresql to run them)." >&2
    exit 0
  fi
  # A server already running for this checkout is reused (another test run may be using it).
  if [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    port=$(sed -n 4p "$data/postmaster.pid")
    if [ -n "$port" ] && as_owner "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
      echo "postgresql://postgres@127.0.0.1:$port/postgres"
      exit 0
    fi
  fi
  as_owner "$bin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1
  rm -rf "$data" && mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown postgres "$data"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if ! as_owner "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null 2>&1 ||
     ! as_owner "$bin/pg_ctl" -D "$data" -w -l "$data/server.log" -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null 2>&1; then
    echo "Could not start a PostgreSQL server for the tests (see $data/server.log): its test cases will be skipped." >&2
    exit 0
  fi
  echo "postgresql://postgres@127.0.0.1:$port/postgres"
  ;;
esac
