#!/usr/bin/env bash
# Prints the path of axe-core's axe.min.js for the accessibility checks of the browser tests,
# fetching the pinned version from the npm registry into the cache once. AXE_CORE overrides.
set -euo pipefail
VERSION=4.10.3
if [ -n "${AXE_CORE:-}" ]; then echo "$AXE_CORE"; exit 0; fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/voisinage/axe-core-$VERSION"
if [ ! -f "$cache/axe.min.js" ]; then
  if ! command -v npm >/dev/null; then
    echo "npm is missing: install Node.js (Debian: apt-get install npm) or set AXE_CORE to an axe.min.js." >&2
    exit 1
  fi
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "axe-core@$VERSION" >/dev/null && tar -xzf "axe-core-$VERSION.tgz")
  mkdir -p "$cache"
  cp "$work/package/axe.min.js" "$work/package/LICENSE" "$cache/"
  rm -rf "$work"
fi
echo "$cache/axe.min.js"
