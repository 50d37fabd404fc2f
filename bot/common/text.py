"""Small text helpers shared by the core: cleaning, folding, tokenising."""

from __future__ import annotations

import re
import unicodedata

MAX_ENGINE_CHARS = 2000
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f]"
)
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)
# An email address in a citizen's words. It starts only where a word starts and every part is
# bounded (RFC 5321's lengths), so a long run of letters without "@" costs one try, not one per
# letter (unbounded, 20,000 digits took two seconds).
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
# A phone number: nine digits or more, with spaces, dots, dashes or brackets between them
# (North American "(514) 555-0199", French "06 12 34 56 78", "+33 6 12 34 56 78").
PHONE = re.compile(r"(?<![\w+(])[+(]?\d(?:[\s().-]{0,3}\d){8,}(?!\w)")


def redact_personal_data(text: str, mark: str = "…") -> str:
    """`text` with e-mail addresses and phone numbers replaced by `mark` (the one redaction
    every published text goes through: the public report, FAQ drafts)."""
    return PHONE.sub(mark, EMAIL.sub(mark, text))


def has_personal_data(text: str) -> bool:
    """Whether `text` holds an e-mail address or a phone number."""
    return bool(EMAIL.search(text) or PHONE.search(text))


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """The text with any lone surrogate (which JSON can carry but UTF-8 cannot store) replaced by
    U+FFFD, so that a malformed message is stored and answered like any other."""
    return _SURROGATE.sub("\ufffd", text)


# What a terminal would obey rather than show: escape sequences (ESC), carriage returns that
# overwrite a line, other C0/C1 controls, and bidirectional overrides that reorder it.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str) -> str:
    """`text` safe to print on a staff member's terminal: control characters are shown as
    U+FFFD instead of being obeyed (line breaks and tabs are kept)."""
    return _TERMINAL_CONTROL.sub("\ufffd", text)


def clean_text(text: str) -> str:
    """Normalises a citizen's message: NFC, control characters removed, spaces folded."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join(line for line in lines if line).strip()


ERASED = "[effacé / erased]"
"""What stands where a citizen's words were, once they asked to be forgotten."""


def fold(text: str) -> str:
    """Lower-cases and strips accents: "Été" -> "ete"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words(text: str) -> list[str]:
    """The words of a text, lower-cased, apostrophes split ("l'eau" -> "l", "eau")."""
    return [match.group(0) for match in _WORD.finditer(text.casefold().replace("’", "'"))]


def for_engine(text: str) -> str:
    """The part of a message the NLU sees: very long messages are cut (the whole is stored)."""
    if len(text) <= MAX_ENGINE_CHARS:
        return text
    return text[:MAX_ENGINE_CHARS].rsplit(" ", 1)[0]


def capitalised(text: str) -> str:
    """`text` with its first letter in capitals (the rest as it is: "km", "CO2" stay so)."""
    return text[:1].upper() + text[1:]


_URL_PASSWORD = re.compile(r"(?<=://)([^/@:\s]{0,256}):[^/@\s]{0,256}@")
_QUERY_SECRET = re.compile(r"(?i)\b(token|secret|password|api_key|key)=[^&\s'\"]{1,512}")


def without_secrets(text: str) -> str:
    """`text` with the password of any URL (`postgresql://user:***@host`) and the values of
    `token=`, `secret=`, `password=` and `key=` query parameters masked."""
    return _QUERY_SECRET.sub(r"\1=***", _URL_PASSWORD.sub(r"\1:***@", text))
