#!/usr/bin/env bash
# Prints the path of a Chromium for the browser tests of the desk (Playwright drives it),
# installing Debian's package when running as root and it is missing. CHROMIUM overrides.
set -euo pipefail
if [ -n "${CHROMIUM:-}" ]; then echo "$CHROMIUM"; exit 0; fi
find_it() { command -v chromium || command -v chromium-browser || true; }
bin="$(find_it)"
if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the browser tests..." >&2
  (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }) || true
  bin="$(find_it)"
fi
if [ -z "$bin" ]; then
  echo "Chromium is missing: install it (Debian: apt-get install chromium) or set CHROMIUM to its path." >&2
  exit 1
fi
echo "$bin"
