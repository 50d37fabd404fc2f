#!/usr/bin/env bash
# Starts a throw-away Redis server for the tests and prints its URL (nothing when none can be
# had: the Redis cases are then skipped, saying so).
#   scripts/test-redis.sh start    -> prints redis://127.0.0.1:PORT/0
#                                     (the server already running for this checkout, if any)
#   scripts/test-redis.sh stop
#   scripts/test-redis.sh running  -> exit status 0 when this checkout's server is up
# It uses Debian's redis-server (installed with apt-get when running as root and missing).
set -uo pipefail
cd "$(dirname "$0")/.."
data="$PWD/var/test-redis"
pidfile="$data/redis.pid"
alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-start}" in
running)
  alive
  exit $?
  ;;
stop)
  if alive; then
    kill "$(cat "$pidfile")" 2>/dev/null
    for _ in $(seq 50); do alive || break; sleep 0.1; done
  fi
  exit 0
  ;;
start)
  if alive && [ -f "$data/port" ]; then
    echo "redis://127.0.0.1:$(cat "$data/port")/0"
    exit 0
  fi
  if ! command -v redis-server >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Redis for the tests (Debian's package)..." >&2
    (apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq redis-server >/dev/null 2>&1; }) || true
  fi
  if ! command -v redis-server >/dev/null; then
    echo "Redis is not installed: its test cases will be skipped (install redis-server to run them)." >&2
    exit 0
  fi
  rm -rf "$data" && mkdir -p "$data"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # No persistence: a throw-away server; protected mode off is safe on loopback only.
  if ! redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$pidfile" \
      --dir "$data" --logfile "$data/server.log" --save "" --appendonly no >/dev/null 2>&1; then
    echo "Could not start a Redis server for the tests (see $data/server.log): its test cases will be skipped." >&2
    exit 0
  fi
  for _ in $(seq 50); do
    if python3 - "$port" <<'PY' 2>/dev/null; then break; fi
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.sendall(b"PING\r\n")
    assert s.recv(16).startswith(b"+PONG")
PY
    sleep 0.1
  done
  echo "$port" > "$data/port"
  echo "redis://127.0.0.1:$port/0"
  ;;
esac
