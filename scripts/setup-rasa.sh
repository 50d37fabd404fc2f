#!/usr/bin/env bash
# Creates (or reuses) the Rasa 3.6.21 runtime: a Python 3.10 virtual environment installed
# from runtime/rasa/requirements.lock. It lives in a cache folder keyed by the lock's hash,
# so fresh clones on the same machine reuse it; `.venv-rasa` in the project links to it.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-uv}"
lock=runtime/rasa/requirements.lock
hash=$(sha256sum "$lock" | cut -c1-12)
cache="${VOISINAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voisinage}"
venv="${RASA_VENV:-$cache/rasa-3.6.21-$hash}"
if [ -x "$venv/bin/rasa" ] && [ -f "$venv/.complete" ]; then
  ln -sfn "$venv" .venv-rasa
  exit 0
fi
python310="$(UV="$UV" bash scripts/find-python310.sh)"
echo "Creating the Rasa runtime in $venv (about 2.7 GB, a few minutes the first time)..." >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$UV" venv --quiet --python "$python310" "$venv"
"$UV" pip install --quiet --python "$venv/bin/python" -r "$lock"
touch "$venv/.complete"
ln -sfn "$venv" .venv-rasa
echo "Rasa runtime ready: $("$venv/bin/python" -c 'import rasa; print("rasa", rasa.__version__)')" >&2
