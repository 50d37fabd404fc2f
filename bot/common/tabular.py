"""Cells and lines for CSV and spreadsheets: what every export shares."""

from __future__ import annotations

# OWASP's advice against CSV injection: a cell starting with one of these may be read as a
# formula by a spreadsheet, so it is prefixed with an apostrophe.
FORMULA_STARTS = frozenset({"=", "+", "-", "@", "\t", "\r"})


def neutralise(text: str) -> str:
    """`text` made safe for a spreadsheet: prefixed with `'` when it could start a formula,
    also after leading spaces or line breaks (spreadsheets skip them: " =cmd", "\n=cmd")."""
    return "'" + text if text.lstrip(" \n\u00a0\u3000")[:1] in FORMULA_STARTS else text


class LineBuffer:
    """What `csv.writer` writes, kept until taken."""

    def __init__(self) -> None:
        self._text = ""

    def write(self, text: str) -> int:
        self._text += text
        return len(text)

    def take(self) -> str:
        text, self._text = self._text, ""
        return text
