"""Numbers in reports, written the French or the English way (one rule for every report:
shares are fractions from 0 to 1, shown in percent)."""

from __future__ import annotations


def number(value: float, language: str, *, decimals: int = 1) -> str:
    """A count (thousands grouped) or a decimal number, written the language's way."""
    if float(value).is_integer():
        text = f"{int(value):,}"
        # French groups thousands with a narrow no-break space.
        return text.replace(",", "\u202f") if language == "fr" else text
    text = f"{value:,.{decimals}f}"
    if language == "fr":
        return text.replace(",", "\u202f").replace(".", ",")
    return text


def signed(value: float, language: str, *, decimals: int = 2) -> str:
    """A score with its sign (+0,12, −0.30), the minus sign being the typographic one."""
    text = f"{value:+.{decimals}f}".replace("-", "\u2212")
    return text.replace(".", ",") if language == "fr" else text


def percent(value: float | None, language: str) -> str:
    """A share in percent (0.255 → 26 %), "—" when there is none."""
    if value is None:
        return "—"
    whole = int(value * 100 + 0.5)  # half up, as people round
    return f"{whole}\u00a0%" if language == "fr" else f"{whole}%"
