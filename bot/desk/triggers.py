"""When a message needs a person at once, whatever the assistant answered: words of danger or
urgency, and strongly negative messages, in French and English.

These are word lists, deliberately: a handoff for danger must never depend on a model's mood,
and every match is explainable to the community manager (the words are shown). The strong
negativity list is a first screen until a measured sentiment model is in place; it looks for
anger, insults and accusations rather than mild disagreement, which the assistant answers.
"""

from __future__ import annotations

import re

from bot.common.text import fold

# Folded (lower case, no accents). Each entry is a word or an expression matched on word
# boundaries; a trailing "*" allows any ending ("bless*" = blessé, blessée, blessure...).
_DANGER = (
    "bless*",
    "injur*",
    "hurt",
    "feu",
    "feux",
    "fire",
    "fires",
    "incendie*",
    "flamme*",
    "flames",
    "fumee*",
    "smoke",
    "accident*",
    "explosion*",
    "explose*",
    "exploded",
    "menace*",
    "threat*",
    "danger*",
    "urgen*",
    "emergenc*",
    "effondr*",
    "collapse*",
    "fuite de gaz",
    "gas leak",
    "noyade",
    "drown*",
    "evanoui*",
    "unconscious",
    "ambulance",
    "911",
    "au secours",
    "a l'aide",
    "help me",
    "empoisonn*",
    "poisoned",
    "intoxiqu*",
)
# "feu" is also a traffic light ("feu rouge", "feux de circulation"): not a danger.
_NOT_DANGER = re.compile(
    r"\bfeux? (rouges?|verts?|jaunes?|de circulation|de signalisation|d'artifice)\b"
)
# Indignation alone ("c'est inacceptable", "it's unacceptable") is the ordinary vocabulary of a
# complaint, which the concern register answers with a reference and a reply-by date: it is
# not on this list. Anger at people, insults and accusations are.
_NEGATIVE = (
    "scandal*",
    "honte*",
    "honteu*",
    "revoltant*",
    "degueulasse*",
    "ecoeur*",
    "degoute*",
    "furieu*",
    "enrage*",
    "j'en ai marre",
    "ras le bol",
    "ras-le-bol",
    "menteur*",
    "vous mentez",
    "voleur*",
    "escroc*",
    "pourri*",
    "criminel*",
    "je vous deteste",
    "je deteste",
    "outrage*",
    "disgust*",
    "disgrace*",
    "furious",
    "fed up",
    "sick of",
    "liar*",
    "you lie",
    "lying",
    "crook*",
    "thieves",
    "shame on",
    "i hate",
    "hate you",
    "betray*",
    "trahi*",
)


def _pattern(entries: tuple[str, ...]) -> re.Pattern[str]:
    parts = []
    for entry in entries:
        stem = re.escape(entry.rstrip("*")).replace(r"\ ", r"\s+")
        parts.append(stem + (r"[\w'-]*" if entry.endswith("*") else "") + r"(?![\w'-])")
    return re.compile(r"(?<![\w'-])(" + "|".join(parts) + ")")


_DANGER_WORDS = _pattern(_DANGER)
_NEGATIVE_WORDS = _pattern(_NEGATIVE)


# Words that also appear in questions about risks ("is blasting dangerous?", "what happens in
# an emergency?"): they bring a person in only when the message is not such a question.
_RISK_WORDS = _pattern(("danger*", "urgen*", "emergenc*", "menace*", "threat*", "accident*"))


def danger_words(text: str, *, informational: bool = False) -> list[str]:
    """The words of danger or urgency in `text` (empty when there are none).

    With `informational` (a question the knowledge base answered), words that name a risk in
    general are left out; words of something happening (injured, fire, gas leak...) still count.
    """
    folded = _NOT_DANGER.sub(" ", fold(text).replace("’", "'"))
    found = [match.group(1) for match in _DANGER_WORDS.finditer(folded)]
    if informational:
        found = [word for word in found if not _RISK_WORDS.fullmatch(word)]
    return list(dict.fromkeys(found))


def strongly_negative(text: str) -> list[str]:
    """The expressions of anger, insult or accusation in `text` (empty when there are none)."""
    folded = fold(text).replace("’", "'")
    return list(dict.fromkeys(match.group(1) for match in _NEGATIVE_WORDS.finditer(folded)))
