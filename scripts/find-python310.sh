#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter for the Rasa runtime, or stops with one sentence.
# Order: $RASA_PYTHON, python3.10 on PATH, pyenv's versions folder, uv's managed Pythons,
# and last `uv python install 3.10` (needs network; skipped when UV_OFFLINE or offline).
set -euo pipefail
UV="${UV:-uv}"

is_py310() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; }

if [ -n "${RASA_PYTHON:-}" ]; then
  if is_py310 "$RASA_PYTHON"; then echo "$RASA_PYTHON"; exit 0; fi
  echo "RASA_PYTHON=$RASA_PYTHON is not a Python 3.10 interpreter; point it at one or unset it." >&2
  exit 1
fi
if command -v python3.10 >/dev/null 2>&1 && is_py310 "$(command -v python3.10)"; then
  command -v python3.10; exit 0
fi
pyenv_root="${PYENV_ROOT:-}"
if [ -z "$pyenv_root" ] && command -v pyenv >/dev/null 2>&1; then pyenv_root="$(pyenv root)"; fi
[ -n "$pyenv_root" ] || pyenv_root="$HOME/.pyenv"
for candidate in $(ls -d "$pyenv_root"/versions/3.10.* 2>/dev/null | sort -V -r); do
  if is_py310 "$candidate/bin/python3.10"; then echo "$candidate/bin/python3.10"; exit 0; fi
done
if found="$("$UV" python find 3.10 2>/dev/null)" && is_py310 "$found"; then echo "$found"; exit 0; fi
if "$UV" python install 3.10 >&2 2>/dev/null && found="$("$UV" python find 3.10 2>/dev/null)" && is_py310 "$found"; then
  echo "$found"; exit 0
fi
echo "No Python 3.10 found for the Rasa runtime: install Python 3.10 (python3.10 on PATH, pyenv install 3.10, or network access for 'uv python install 3.10'), or set RASA_PYTHON to its path." >&2
exit 1
