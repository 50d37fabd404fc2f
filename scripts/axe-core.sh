#!/usr/bin/env bash
# Prints the path of axe-core's axe.min.js for the accessibility checks of the browser tests,
# fetching the pinned version's tarball from the npm registry into the cache once (no Node.js
# needed: python3 downloads it and checks the registry's sha512). AXE_CORE overrides;
# NPM_CONFIG_REGISTRY points to a mirror.
set -euo pipefail
VERSION=4.10.3
INTEGRITY="sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs/PbZhideTcEg=="
if [ -n "${AXE_CORE:-}" ]; then echo "$AXE_CORE"; exit 0; fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/voisinage/axe-core-$VERSION"
if [ ! -f "$cache/axe.min.js" ]; then
  registry="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}"
  mkdir -p "$cache"
  python3 - "$registry" "$VERSION" "$INTEGRITY" "$cache" <<'PY' || { echo "Could not fetch axe-core $2 from the npm registry (set AXE_CORE to an axe.min.js)." >&2; exit 1; }
import base64, hashlib, io, sys, tarfile, urllib.request
registry, version, integrity, cache = sys.argv[1:5]
url = f"{registry.rstrip('/')}/axe-core/-/axe-core-{version}.tgz"
data = urllib.request.urlopen(url, timeout=120).read()
if "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode() != integrity:
    sys.exit(f"axe-core {version} from {url} does not match its published sha512")
with tarfile.open(fileobj=io.BytesIO(data)) as archive:
    for name in ("axe.min.js", "LICENSE"):
        member = archive.extractfile(f"package/{name}")
        assert member is not None
        with open(f"{cache}/{name}.part", "wb") as out:
            out.write(member.read())
PY
  mv "$cache/LICENSE.part" "$cache/LICENSE"
  mv "$cache/axe.min.js.part" "$cache/axe.min.js"
fi
echo "$cache/axe.min.js"
