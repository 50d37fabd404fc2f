"""Which group messages mention the project: keywords and hashtags, folded.

A keyword ("éoliennes", "Trois-Collines", "wind farm") matches whole words, whatever the case
and the accents ("EOLIENNES", "Éoliennes"), in the singular or the plural (a final s, x or es:
"éolienne" and "éoliennes" match each other), and whatever joins its words: a space, a hyphen,
an underscore, an apostrophe or nothing ("Trois-Collines", "trois collines", "TroisCollines").
A hashtag ("#TroisCollines") matches the same hashtag written any way ("#troiscollines",
"#trois_collines", "#TROISCOLLINES"), and only as a hashtag; "#ParcÉolien" and "#parc_eolien"
are one hashtag. Every term found is returned, in the order it appears in the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.common.text import fold

# What may join the words of a keyword: spaces, hyphens of every kind, underscores, apostrophes.
_JOINERS = r"[\s\-\u2010-\u2015_'\u2019]*"
_PARTS = re.compile(r"[^\W_]+")
_HASHTAG_BODY = re.compile(r"\w+")
# A hashtag in a message: '#' not glued to a preceding word, then letters, digits, underscores.
_HASHTAG_IN_TEXT = re.compile(r"(?<![\w#])#(\w+)")
# Generic words of project names that say nothing of this project in particular.
_GENERIC = frozenset(
    fold(word)
    for word in [
        *("parc", "éolien", "éolienne", "centrale", "solaire", "énergie", "projet", "ligne"),
        *("mine", "usine", "des", "de", "du", "la", "le", "les", "d", "l", "et"),
        *("wind", "farm", "solar", "energy", "project", "line", "plant", "station"),
        *("the", "of", "and"),
    ]
)


class TermError(ValueError):
    """A keyword or hashtag cannot be matched reliably; the message says which and why."""


def _plural_free(word: str) -> str:
    """The word without a final s or x (of four letters or more), so that the singular and the
    plural match each other; "es" is allowed after it when matching ("batch", "batches")."""
    if len(word) > 3 and word[-1] in "sx":
        return word[:-1]
    return word


def hashtag_key(body: str) -> str:
    """What identifies a hashtag: folded, without underscores ("Parc_Éolien" -> "parceolien")."""
    return fold(body).replace("_", "")


def parse_keywords(terms: Sequence[str]) -> tuple[str, ...]:
    """The keywords as configured, checked.

    Raises:
        TermError: a keyword is a hashtag, or has fewer than 2 letters or digits.
    """
    checked: list[str] = []
    for raw in terms:
        term = " ".join(raw.split())
        if not term:
            continue
        if term.startswith("#"):
            raise TermError(f"{term!r} is a hashtag: list it in LISTEN_HASHTAGS")
        if len("".join(_PARTS.findall(fold(term)))) < 2:
            raise TermError(f"{term!r} is too short to be matched reliably (2 letters at least)")
        if term not in checked:
            checked.append(term)
    return tuple(checked)


def parse_hashtags(terms: Sequence[str]) -> tuple[str, ...]:
    """The hashtags as configured, each with its '#'.

    Raises:
        TermError: a hashtag holds something else than letters, digits and underscores.
    """
    checked: list[str] = []
    for raw in terms:
        term = raw.strip()
        if not term:
            continue
        body = term[1:] if term.startswith("#") else term
        if not _HASHTAG_BODY.fullmatch(body) or not hashtag_key(body):
            raise TermError(
                f"{term!r} is not a hashtag (letters, digits and _ only, no spaces, e.g. "
                "#TroisCollines)"
            )
        if f"#{body}" not in checked:
            checked.append(f"#{body}")
    return tuple(checked)


def project_terms(names: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Keywords and hashtags for a project known only by its names in each language.

    The keywords are the names themselves and the proper name they share ("Parc éolien des
    Trois-Collines" and "Trois-Collines Wind Farm" share "Trois-Collines"); the hashtag is that
    proper name written as one ("#TroisCollines"). Generic words ("éolien", "wind farm") are
    left out on purpose: they also speak of every other project.
    """
    keywords = list(dict.fromkeys(" ".join(name.split()) for name in names.values() if name))
    shared = _shared_name([name for name in names.values() if name])
    hashtags: list[str] = []
    if shared:
        keywords.append(shared)
        hashtags.append("#" + "".join(part[:1].upper() + part[1:] for part in _words(shared)))
    return parse_keywords(keywords), parse_hashtags(hashtags)


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text)


def _shared_name(names: Sequence[str]) -> str | None:
    """The longest run of non-generic words every name contains, as written in the first."""
    if not names:
        return None
    first = re.findall(r"[^\s]+", names[0])
    best: list[str] = []
    for start in range(len(first)):
        for end in range(len(first), start, -1):
            run = first[start:end]
            folded = [fold(word) for word in run]
            if len(run) <= len(best) or any(w.strip(",.;:") in _GENERIC for w in folded):
                continue
            pattern = re.compile(
                r"(?<![^\W_])" + r"\s+".join(map(re.escape, folded)) + r"(?![^\W_])"
            )
            if all(pattern.search(fold(name)) for name in names[1:]):
                best = run
    return " ".join(best) if best else None


@dataclass(frozen=True)
class _Keyword:
    term: str
    pattern: re.Pattern[str]


class Matcher:
    """Finds the configured keywords and hashtags in a message."""

    def __init__(self, keywords: Sequence[str] = (), hashtags: Sequence[str] = ()) -> None:
        """Args:
            keywords: words or expressions, as configured (checked with `parse_keywords`).
            hashtags: hashtags, with or without their '#' (checked with `parse_hashtags`).

        Raises:
            TermError: a term cannot be matched reliably.
        """
        self.keywords = parse_keywords(keywords)
        self.hashtags = parse_hashtags(hashtags)
        self._keywords = tuple(_Keyword(term, _keyword_pattern(term)) for term in self.keywords)
        self._hashtags = {hashtag_key(tag[1:]): tag for tag in self.hashtags}

    def __bool__(self) -> bool:
        return bool(self._keywords or self._hashtags)

    def find(self, text: str) -> tuple[str, ...]:
        """The configured terms `text` mentions, in the order they first appear (none: empty)."""
        if not text:
            return ()
        folded = fold(text)
        found: dict[str, int] = {}
        for keyword in self._keywords:
            match = keyword.pattern.search(folded)
            if match is not None:
                found[keyword.term] = match.start()
        for match in _HASHTAG_IN_TEXT.finditer(folded):
            tag = self._hashtags.get(hashtag_key(match.group(1)))
            if tag is not None and tag not in found:
                found[tag] = match.start()
        return tuple(sorted(found, key=lambda term: found[term]))


def _keyword_pattern(term: str) -> re.Pattern[str]:
    words = _PARTS.findall(fold(term))
    body = _JOINERS.join(re.escape(_plural_free(word)) + "(?:es|s|x)?" for word in words)
    # Not inside a longer word: no letter or digit right before or after (an underscore or a
    # '#' is a boundary, so "#eoliennes" and "parc_eolien" count).
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])")
