"""Language detection that holds up on short chat messages.

Plain langdetect is not deterministic without a seed and is often confidently
wrong on one to three words ("merci" comes out Spanish, "ok" Slovak). We combine:

1. langdetect, seeded and limited to the project's languages, trusted on four
   words or more when it is at least 90% sure;
2. word frequencies in each language (wordfreq's lists, shipped in the package,
   plus a few Quebec French forms and unaccented spellings they miss), which
   decide short messages when the evidence is clear;
3. the conversation's last trusted language, then the project's default, when
   the text itself does not decide ("ok", "👍").
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Literal

from langdetect import DetectorFactory, LangDetectException
from langdetect.detector_factory import PROFILES_DIRECTORY
from wordfreq import word_frequency

from bot.common.text import fold, words

Method = Literal["langdetect", "lexicon", "context", "default"]

LONG_MESSAGE_WORDS = 4
LANGDETECT_TRUST = 0.90
LEXICON_MARGIN = 2.0  # natural-log odds a short message needs to decide by itself
LEXICON_LEANING = 1.0  # odds enough to prefer a language over the default, without context
LEXICON_OVERRULES = 6.0  # odds at which the word lists overrule langdetect on a long message
FREQUENCY_FLOOR = 1e-7

# Informal Quebec French and common unaccented spellings that frequency lists under-count.
EXTRA_FRENCH = frozenset(
    [
        "allo",
        "chu",
        "chus",
        "pis",
        "tsé",
        "tse",
        "pantoute",
        "icitte",
        "ben",
        "ouin",
        "ouais",
        "tabarnak",
        "tabarouette",
        "mautadit",
        "c'est-tu",
        "y'a-tu",
        "ça-tu",
        "coudonc",
        "astheure",
        "asteure",
        "char",
        "chum",
        "blonde",
        "dépanneur",
        "depanneur",
        "magasiner",
        "jaser",
        "niaiser",
        "placoter",
        "achaler",
        "écoeurant",
        "ecoeurant",
        "ostie",
        "crisse",
        "fak",
        "faque",
        "ca",
        "deja",
        "etre",
        "tres",
        "meme",
        "apres",
        "bientot",
        "ete",
        "probleme",
        "reponse",
        "francais",
        "aujourdhui",
        "slt",
        "stp",
        "svp",
        "mrc",
        "mrci",
        "bjr",
        "bsr",
        "tk",
        "pcq",
        "pk",
        "jsp",
        "chui",
        "jpeux",
        "jveux",
        "jsuis",
        "jai",
    ]
)
EXTRA_ENGLISH = frozenset(
    [
        "thx",
        "pls",
        "plz",
        "u",
        "ur",
        "ty",
        "tysm",
        "btw",
        "idk",
        "lol",
        "omg",
        "wanna",
        "gonna",
        "gotta",
    ]
)


@dataclass(frozen=True)
class LanguageGuess:
    """The language of one message and how it was decided."""

    language: str
    trusted: bool  # the text itself decided: it may update the conversation's language
    method: Method


class LanguageDetector:
    """Decides between the project's languages, with the conversation as context."""

    def __init__(self, languages: tuple[str, ...] = ("fr", "en"), default: str = "fr") -> None:
        if default not in languages:
            raise ValueError(f"default language {default!r} is not one of {languages}")
        self.languages = languages
        self.default = default
        self._lock = threading.Lock()  # a Detector is not safe to share across threads
        self._factory = DetectorFactory()
        self._factory.load_profile(PROFILES_DIRECTORY)
        self._factory.set_seed(0)

    def warm_up(self) -> None:
        """Loads the profiles and frequency lists now rather than on the first message."""
        self.detect("bonjour tout le monde, comment allez-vous aujourd'hui")
        self.detect("hello everyone, how are you doing today")

    def detect(self, text: str, context: str | None = None) -> LanguageGuess:
        """The language of `text`; `context` is the conversation's last trusted language."""
        fallback: LanguageGuess = (
            LanguageGuess(context, False, "context")
            if context in self.languages
            else LanguageGuess(self.default, False, "default")
        )
        if len(self.languages) == 1:
            return LanguageGuess(self.languages[0], True, "default")
        tokens = words(text)
        if not tokens:
            return fallback
        scores = self._lexicon_scores(tokens)
        leader, runner_up = sorted(scores, key=lambda lang: scores[lang], reverse=True)[:2]
        margin = scores[leader] - scores[runner_up]
        if len(tokens) >= LONG_MESSAGE_WORDS:
            probabilities = self._langdetect(text)
            best = max(probabilities, key=lambda lang: probabilities[lang], default=None)
            lexicon_overrules = best != leader and margin >= LEXICON_OVERRULES
            if (
                best is not None
                and probabilities[best] >= LANGDETECT_TRUST
                and not lexicon_overrules
            ):
                return LanguageGuess(best, True, "langdetect")
        if margin >= LEXICON_MARGIN:
            return LanguageGuess(leader, True, "lexicon")
        if fallback.method == "default" and margin >= LEXICON_LEANING:
            # No conversation to lean on: a weak lead beats a fixed default.
            return LanguageGuess(leader, False, "lexicon")
        return fallback

    def _langdetect(self, text: str) -> dict[str, float]:
        with self._lock:
            try:
                detector = self._factory.create()
                detector.set_prior_map(dict.fromkeys(self.languages, 1.0))
                detector.append(text)
                found = detector.get_probabilities()
            except LangDetectException:
                return {}
        return {item.lang: item.prob for item in found if item.lang in self.languages}

    def _lexicon_scores(self, tokens: list[str]) -> dict[str, float]:
        scores = dict.fromkeys(self.languages, 0.0)
        for token in tokens:
            for language in self.languages:
                scores[language] += math.log(self._frequency(token, language))
        return scores

    @staticmethod
    def _frequency(token: str, language: str) -> float:
        frequency = word_frequency(token, language)
        folded = fold(token)
        if folded != token:
            frequency = max(frequency, word_frequency(folded, language))
        if language == "fr" and (token in EXTRA_FRENCH or folded in EXTRA_FRENCH):
            frequency = max(frequency, 1e-4)
        if language == "en" and token in EXTRA_ENGLISH:
            frequency = max(frequency, 1e-4)
        return max(frequency, FREQUENCY_FLOOR)
