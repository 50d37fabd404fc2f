"""Writes the demo project's documents as PDF files from their text sources.

The fictional Trois-Collines project's documents (knowledge/documents/source/<id>.<lang>.md) are
written in a small Markdown subset: `# title`, `## section`, `### subsection`, paragraphs, `- `
bullets, one italic line (`*...*`) under the title, and `<!-- page -->` to start a new page.
Each becomes knowledge/documents/<id>.<lang>.pdf, A4, DejaVu Sans, with the title and the page
number in the footer. A real promoter puts its own PDF files there instead.

Run: .venv/bin/python scripts/make_documents.py   (or `make documents`)
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from matplotlib import get_data_path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "knowledge" / "documents" / "source"
OUT = ROOT / "knowledge" / "documents"
FONTS = Path(get_data_path()) / "fonts" / "ttf"
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)
PAGE = {"fr": "page {n} de {total}", "en": "page {n} of {total}"}


class _Pdf(FPDF):
    def __init__(self, title: str, language: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._title = title
        self._language = language
        self.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.add_font("DejaVu", "I", str(FONTS / "DejaVuSans-Oblique.ttf"))
        self.set_lang(language)
        self.set_margins(22, 20, 22)
        self.set_auto_page_break(auto=True, margin=20)
        self.alias_nb_pages("{total}")
        # Fixed dates: the same source always gives the same bytes (the index is keyed on them).
        self.set_creation_date(FIXED_DATE)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("DejaVu", "", 8)
        self.set_text_color(90, 90, 90)
        page = PAGE[self._language].format(n=self.page_no(), total="{total}")
        self.cell(0, 6, f"{self._title} — {page}", align="C")


def render(source: Path, target: Path) -> None:
    language = source.stem.rsplit(".", 1)[-1]
    lines = source.read_text(encoding="utf-8").splitlines()
    title = lines[0].removeprefix("# ").strip()
    pdf = _Pdf(title, language)
    pdf.set_title(title)
    pdf.set_creator("Voisinage demo documents")
    pdf.add_page()
    pdf.set_text_color(34, 34, 34)
    pdf.set_font("DejaVu", "B", 17)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            pdf.set_font("DejaVu", "", 10)
            pdf.multi_cell(0, 5.2, " ".join(paragraph), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2.2)
            paragraph.clear()

    for raw in lines[1:]:
        line = raw.strip()
        if not line:
            flush()
        elif line == "<!-- page -->":
            flush()
            pdf.add_page()
        elif line.startswith("### "):
            flush()
            pdf.set_font("DejaVu", "B", 10.5)
            pdf.multi_cell(0, 6, line[4:], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.8)
        elif line.startswith("## "):
            flush()
            pdf.ln(1.5)
            pdf.set_font("DejaVu", "B", 12.5)
            pdf.multi_cell(0, 7, line[3:], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif line.startswith("- "):
            flush()
            pdf.set_font("DejaVu", "", 10)
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(0, 5.2, f"• {line[2:]}", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.8)
        elif line.startswith("*") and line.endswith("*") and not paragraph:
            pdf.set_font("DejaVu", "I", 9)
            pdf.set_text_color(90, 90, 90)
            pdf.multi_cell(0, 5, line.strip("*"), new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(34, 34, 34)
            pdf.ln(1)
        else:
            paragraph.append(line)
    flush()
    target.write_bytes(bytes(pdf.output()))


def main() -> int:
    sources = sorted(SOURCES.glob("*.md"))
    if not sources:
        print(f"No document sources in {SOURCES}.", file=sys.stderr)
        return 1
    for source in sources:
        target = OUT / f"{source.stem}.pdf"
        render(source, target)
        print(f"{target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
