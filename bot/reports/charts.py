"""Charts as the application draws them: matplotlib figures written as accessible SVG for web
pages and as PNG for PDF documents, from the same `Figure`.

The SVG is made to sit inside an HTML page among other charts, including the desk's pages,
whose Content-Security-Policy forbids inline styles (``default-src 'self'``):

* no XML prologue, metadata or ``<style>`` element;
* every ``style="..."`` attribute matplotlib writes becomes SVG presentation attributes
  (``fill="#1f77b4"``), which are markup, not CSS, and pass the policy; the rule of
  matplotlib's own stylesheet (round joins, butt caps) moves to the root element, whence it
  is inherited;
* ids are prefixed with the chart's id (matplotlib reuses the same ids in every figure);
* a role, a title and a description (the chart's data in words) for assistive technologies.

Text stays text (``svg.fonttype: none``): smaller, selectable, read by screen readers.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final
from xml.sax.saxutils import escape as xml_escape

import matplotlib
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

CHART_STYLE: Final[dict[RcKeyType, Any]] = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, read by screen readers
    "svg.hashsalt": "voisinage-report",  # the same figures give the same file
    "text.parse_math": False,  # a "$" in a label is a dollar sign
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.edgecolor": "#555555",
    "axes.labelcolor": "#222222",
    "xtick.color": "#222222",
    "ytick.color": "#222222",
}
"""The settings every chart is drawn and saved with."""

# CSS properties matplotlib writes in style attributes that are also SVG presentation
# attributes of the same name and meaning.
_PRESENTATION = frozenset(
    {
        "alignment-baseline",
        "clip-path",
        "clip-rule",
        "color",
        "display",
        "dominant-baseline",
        "fill",
        "fill-opacity",
        "fill-rule",
        "font-family",
        "font-size",
        "font-stretch",
        "font-style",
        "font-variant",
        "font-weight",
        "letter-spacing",
        "mask",
        "opacity",
        "stroke",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "stroke-opacity",
        "stroke-width",
        "text-anchor",
        "text-decoration",
        "visibility",
        "word-spacing",
    }
)
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')
_FONT_SIZE = re.compile(r"^\d+(?:\.\d+)?(?:px|pt|em|%)$")
_ROOT_STROKES = ' stroke-linejoin="round" stroke-linecap="butt"'


# Matplotlib's settings are global: two threads drawing at once (the web pages draw in
# worker threads) would restore each other's settings midway. One draws at a time.
_DRAWING = threading.RLock()


@contextmanager
def chart_style() -> Iterator[None]:
    """Draws (and saves) the figures made inside it with `CHART_STYLE`, one thread at a
    time."""
    with _DRAWING, matplotlib.rc_context(CHART_STYLE):
        yield


def svg_markup(figure: Figure, *, chart_id: str, title: str, description: str) -> Markup:
    """The figure as inline SVG for an HTML page (see the module for what is changed).

    Args:
        figure: the drawn figure.
        chart_id: an id unique in the page; every id of the SVG is prefixed with it.
        title: what the chart shows, in a few words.
        description: its data in words, for those who cannot see it.

    Returns:
        The ``<svg>`` element, safe to insert as is.
    """
    buffer = io.StringIO()
    with chart_style():
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    # Trusted markup: matplotlib writes it and escapes every text it draws.
    return Markup(  # noqa: S704
        accessible_svg(buffer.getvalue(), chart_id=chart_id, title=title, description=description)
    )


def png_bytes(figure: Figure, *, dpi: int = 200) -> bytes:
    """The figure as a PNG image (for a PDF), drawn with the same settings as the SVG."""
    buffer = io.BytesIO()
    with chart_style():
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def accessible_svg(svg: str, *, chart_id: str, title: str, description: str) -> str:
    """Matplotlib's SVG ready to sit inside an HTML page among others, under a policy that
    forbids inline styles (see the module).

    Args:
        svg: the document matplotlib wrote.
        chart_id: the prefix of its ids, unique in the page.
        title: the chart's title (`<title>`).
        description: its data in words (`<desc>`).

    Returns:
        The ``<svg>`` element alone.
    """
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r'<style type="text/css">.*?</style>\s*', "", svg, flags=re.DOTALL)
    svg = _STYLE_ATTRIBUTE.sub(lambda found: _attributes(found.group(1)), svg)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{chart_id}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{chart_id}-\1)", svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{chart_id}-\1"', svg)
    opening_end = svg.index(">") + 1
    head = svg[: opening_end - 1] + (
        f'{_ROOT_STROKES} role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{xml_escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{xml_escape(description)}</desc>'
    )
    return head + svg[opening_end:]


def _attributes(style: str) -> str:
    """A style attribute's declarations as presentation attributes (values stay as
    matplotlib escaped them for an attribute)."""
    attributes: list[str] = []
    for declaration in style.split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not name or not value:
            continue
        if name == "font":
            attributes += _font_shorthand(value)
        elif name in _PRESENTATION:
            attributes.append(f'{name}="{value}"')
        # Anything else has no presentation attribute; matplotlib writes nothing else.
    return "".join(f" {attribute}" for attribute in attributes)


def _font_shorthand(value: str) -> list[str]:
    """``font: [style] [weight] size family`` (older matplotlib) as separate attributes."""
    words = value.split(" ")
    for index, word in enumerate(words):
        if _FONT_SIZE.match(word):
            found = [f'font-size="{word}"']
            family = " ".join(words[index + 1 :]).strip()
            if family:
                found.append(f'font-family="{family}"')
            for extra in words[:index]:
                if extra in ("italic", "oblique"):
                    found.append(f'font-style="{extra}"')
                elif extra in ("bold", "bolder", "lighter") or extra.isdigit():
                    found.append(f'font-weight="{extra}"')
            return found
    return []
