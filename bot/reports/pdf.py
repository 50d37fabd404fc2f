"""Both reports as PDF files: A4 pages in DejaVu Sans (matplotlib ships it, so every French
character is there and nothing is downloaded), a `Document` laid out section by section
(the weekly perception report), or a page of HTML written by fpdf2 (a published public report
of the register, edited as Markdown).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final, Protocol, TypeVar

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from matplotlib import get_data_path
from matplotlib.figure import Figure

from bot.reports.document import Document, Table

FONTS: Final = Path(get_data_path()) / "fonts" / "ttf"
_INK: Final = (34, 34, 34)
_MUTED: Final = (90, 90, 90)
_RULE: Final = (200, 205, 210)
_HEAD_FILL: Final = (236, 241, 239)
_FACES: Final = {
    "": "DejaVuSans.ttf",
    "B": "DejaVuSans-Bold.ttf",
    "I": "DejaVuSans-Oblique.ttf",
    "BI": "DejaVuSans-BoldOblique.ttf",
}


class PrintedChart(Protocol):
    """What a chart needs to be printed: its figure, as PNG, with its data in words."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def figure(self) -> Figure: ...

    def png(self, dpi: int = ...) -> bytes: ...


Printed = TypeVar("Printed", bound=PrintedChart)


class ReportPdf(FPDF):
    """A4 pages in DejaVu Sans (its four faces), with the page number in the footer when a
    footer text is given (``"Page {n} of {total}"``)."""

    def __init__(self, language: str, footer_text: str | None = None) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer_text
        for style, file in _FACES.items():
            self.add_font("DejaVu", style, str(FONTS / file))
        self.set_lang(language)
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=18)
        if footer_text:
            self.alias_nb_pages("{total}")
        self.set_creator("Voisinage")

    def footer(self) -> None:
        if not self._footer_text:
            return
        self.set_y(-12)
        self.set_font("DejaVu", "", 8)
        self.set_text_color(*_MUTED)
        # "{total}" stays as it is: fpdf2 writes the number of pages there at the end.
        self.cell(0, 6, self._footer_text.format(n=self.page_no(), total="{total}"), align="C")

    def finished(self) -> bytes:
        buffer = io.BytesIO()
        self.output(buffer)
        return buffer.getvalue()


def html_pdf(html: str, *, language: str, title: str) -> bytes:
    """A page of simple HTML (headings, paragraphs, lists, tables) as a PDF."""
    pdf = ReportPdf(language)
    pdf.set_title(title)
    pdf.set_font("DejaVu", size=10)
    pdf.add_page()
    pdf.write_html(html, font_family="DejaVu")
    return pdf.finished()


def document_pdf(document: Document[Printed], *, title: str, footer_text: str) -> bytes:
    """A report's document as a PDF: the same sections, tables and charts as its HTML page
    (the charts as PNG images of the same figures, each with its data in words as
    alternative text)."""
    pdf = ReportPdf(document.language, footer_text)
    pdf.set_title(title)
    pdf.add_page()
    width = pdf.epw
    pdf.set_text_color(*_INK)
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(width, 8, document.title, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", 10)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(width, 5.5, document.subtitle, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)
    for section in document.sections:
        pdf.ln(4)
        if pdf.will_page_break(40):
            pdf.add_page()
        pdf.set_font("DejaVu", "B", 12.5)
        pdf.multi_cell(width, 7, section.heading, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_draw_color(*_RULE)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
        pdf.ln(2)
        pdf.set_font("DejaVu", "", 9.5)
        for paragraph in section.paragraphs:
            pdf.multi_cell(width, 5, paragraph, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1.5)
        for chart in section.charts:
            _chart(pdf, chart, width)
        for table in section.tables:
            _table(pdf, table, width)
        for note in section.notes:
            pdf.multi_cell(width, 5, note, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if section.empty:
            pdf.multi_cell(width, 5, section.empty, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return pdf.finished()


def _chart(pdf: FPDF, chart: PrintedChart, width: float) -> None:
    figure_width, figure_height = chart.figure.get_size_inches()
    height = width * figure_height / figure_width
    if pdf.will_page_break(height + 8):
        pdf.add_page()
    pdf.set_font("DejaVu", "B", 9.5)
    pdf.multi_cell(width, 5, chart.title, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.image(io.BytesIO(chart.png()), w=width, h=height, alt_text=chart.description)
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 9.5)


def _table(pdf: FPDF, table: Table, width: float) -> None:
    pdf.set_font("DejaVu", "B", 9.5)
    if pdf.will_page_break(14 + 6 * min(len(table.rows), 4)):
        pdf.add_page()
    pdf.multi_cell(width, 5.5, table.caption, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    first = 0.38 if len(table.columns) > 2 else 0.6
    rest = (1 - first) / (len(table.columns) - 1)
    widths = (first, *([rest] * (len(table.columns) - 1)))
    pdf.set_font("DejaVu", "", 8.5)
    pdf.set_draw_color(*_RULE)
    with pdf.table(
        col_widths=widths,
        width=width,
        text_align=("LEFT", *(["RIGHT"] * (len(table.columns) - 1))),
        headings_style=FontFace(emphasis="BOLD", fill_color=_HEAD_FILL),
        line_height=5,
        first_row_as_headings=True,
    ) as grid:
        for cells in (table.columns, *table.rows):
            row = grid.row()
            for cell in cells:
                row.cell(cell)
    pdf.ln(3)
