"""Reads back what a PDF written by fpdf2 says, so that tests can assert what a reader sees:
the text of its pages (through each font's ToUnicode map: fpdf2 writes glyph ids), its
images, and its Unicode strings (title, images' alternative texts).

It understands what fpdf2 writes (Flate content streams, `Tf`, `Tj`/`TJ`, literal strings,
bfchar/bfrange maps), not every PDF."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)\s*endobj", re.DOTALL)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.DOTALL)
_HEX_UNICODE = re.compile(rb"<(feff[0-9a-fA-F]*)>")
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


@dataclass(frozen=True)
class PdfContent:
    """What a PDF says."""

    pages: int
    text: str
    images: int
    strings: tuple[str, ...]  # Unicode strings of its dictionaries: title, alt texts...


def read_pdf(data: bytes) -> PdfContent:
    objects = {int(number): body for number, body in _OBJECT.findall(data)}
    maps = _font_maps(objects)
    lines: list[str] = []
    images = 0
    for body in objects.values():
        head = body.split(b"stream", 1)[0]
        if b"/Subtype /Image" in head:
            images += 1
            continue
        found = _STREAM.search(body)
        if found is None or b"/Length1" in head or b"/Subtype /Type1C" in head:
            continue
        content = found.group(1)
        if b"/FlateDecode" in head:
            try:
                content = zlib.decompress(content)
            except zlib.error:
                continue
        if b"Tj" in content or b"TJ" in content:
            lines += _page_text(content, maps)
    strings = tuple(
        bytes.fromhex(value.decode()[4:]).decode("utf-16-be")
        for value in _HEX_UNICODE.findall(data)
    )
    return PdfContent(
        pages=len(re.findall(rb"/Type /Page\b", data)),
        text="\n".join(lines),
        images=images,
        strings=strings,
    )


def _font_maps(objects: dict[int, bytes]) -> dict[bytes, dict[int, str]]:
    maps: dict[bytes, dict[int, str]] = {}
    for body in objects.values():
        for name, number in re.findall(rb"/(F\d+) (\d+) 0 R", body):
            font = objects.get(int(number), b"")
            unicode_ref = re.search(rb"/ToUnicode (\d+) 0 R", font)
            if unicode_ref is None:
                continue
            cmap = objects[int(unicode_ref.group(1))]
            stream = _STREAM.search(cmap)
            assert stream is not None
            content = stream.group(1)
            if b"/FlateDecode" in cmap.split(b"stream", 1)[0]:
                content = zlib.decompress(content)
            maps[name] = _cmap(content)
    return maps


def _cmap(content: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", content, re.DOTALL):
        for code, target in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(code, 16)] = bytes.fromhex(target.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", content, re.DOTALL):
        for low, high, target in re.findall(
            rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            first = int(target, 16)
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[code] = chr(first + offset)
    return mapping


def _page_text(content: bytes, maps: dict[bytes, dict[int, str]]) -> list[str]:
    lines: list[str] = []
    font: dict[int, str] = {}
    position = 0
    current: list[str] = []
    while position < len(content):
        byte = content[position : position + 1]
        if byte == b"/":
            found = re.match(rb"/(F\d+)\s+[\d.]+\s+Tf", content[position:])
            if found:
                font = maps.get(found.group(1), {})
                position += found.end()
                continue
        if byte == b"(":
            raw, position = _literal(content, position)
            glyphs = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw) - 1, 2)]
            current.append("".join(font.get(glyph, "") for glyph in glyphs))
            continue
        if content.startswith(b"ET", position) and current:
            lines.append("".join(current))
            current = []
        position += 1
    if current:
        lines.append("".join(current))
    return lines


def _literal(content: bytes, start: int) -> tuple[bytes, int]:
    """A literal string starting at `start` (its "("), and the position after it."""
    depth, position, out = 1, start + 1, bytearray()
    while depth:
        byte = content[position : position + 1]
        if byte == b"\\":
            following = content[position + 1 : position + 2]
            octal = re.match(rb"[0-7]{1,3}", content[position + 1 : position + 4])
            if octal:
                out.append(int(octal.group(), 8))
                position += 1 + len(octal.group())
                continue
            out += _ESCAPES.get(following, following)
            position += 2
            continue
        if byte == b"(":
            depth += 1
        elif byte == b")":
            depth -= 1
            if not depth:
                break
        out += byte
        position += 1
    return bytes(out), position + 1
