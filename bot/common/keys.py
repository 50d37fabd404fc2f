"""Secret keys kept in files (outside the database they protect)."""

from __future__ import annotations

import re
from pathlib import Path

KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
"""A generated key: 32 random bytes in hexadecimal."""


def key_file_is_usable(path: Path) -> bool:
    """Whether a key file holds a key, or is absent (then it is generated on first use)."""
    try:
        return bool(KEY_PATTERN.fullmatch(path.read_text(encoding="ascii").strip()))
    except FileNotFoundError:
        return True
    except (OSError, UnicodeDecodeError):
        return False
