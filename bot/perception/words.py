"""The names perception pages and reports give to topics, channels, sentiments and dates, in
French and in English."""

from __future__ import annotations

from datetime import date
from typing import Final

from bot.common.phrases import CATEGORY_NAMES

LANGUAGES: Final = ("fr", "en")

# The FAQ topics of the knowledge base; the concern categories are named by the register.
_FAQ_TOPIC_NAMES: Final[dict[str, dict[str, str]]] = {
    "overview": {"fr": "présentation du projet", "en": "project overview"},
    "schedule": {"fr": "calendrier", "en": "schedule"},
    "location": {"fr": "emplacement", "en": "location"},
    "consultation": {"fr": "consultation", "en": "consultation"},
    "environment": {"fr": "environnement", "en": "environment"},
    "noise": {"fr": "bruit", "en": "noise"},
    "jobs": {"fr": "emplois", "en": "jobs"},
    "benefits": {"fr": "retombées pour la communauté", "en": "community benefits"},
    "traffic": {"fr": "circulation", "en": "traffic"},
    "health_safety": {"fr": "santé et sécurité", "en": "health and safety"},
    "documents": {"fr": "documents du projet", "en": "project documents"},
    "contact": {"fr": "joindre l'équipe", "en": "contacting the team"},
}
TOPIC_NAMES: Final[dict[str, dict[str, str]]] = {**CATEGORY_NAMES, **_FAQ_TOPIC_NAMES}
"""Every topic of `bot.listening.reading.TOPICS` (and "other"), in both languages."""

CHANNEL_NAMES: Final[dict[str, dict[str, str]]] = {
    "web": {"fr": "site web", "en": "web chat"},
    "telegram": {"fr": "Telegram", "en": "Telegram"},
    "discord": {"fr": "Discord", "en": "Discord"},
    "terminal": {"fr": "terminal", "en": "terminal"},
}
SENTIMENT_NAMES: Final[dict[str, dict[str, str]]] = {
    "negative": {"fr": "négatif", "en": "negative"},
    "neutral": {"fr": "neutre", "en": "neutral"},
    "positive": {"fr": "positif", "en": "positive"},
    "unread": {"fr": "non évalué", "en": "not assessed"},
}
LANGUAGE_NAMES: Final[dict[str, dict[str, str]]] = {
    "fr": {"fr": "français", "en": "French"},
    "en": {"fr": "anglais", "en": "English"},
    "unknown": {"fr": "indéterminée", "en": "undetermined"},
}
SOURCE_NAMES: Final[dict[str, dict[str, str]]] = {
    "chats": {"fr": "conversations avec l'assistant", "en": "chats with the assistant"},
    "groups": {"fr": "groupes de la communauté", "en": "community groups"},
}

_SHORT_MONTHS: Final = {
    "fr": (
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def name_of(names: dict[str, dict[str, str]], key: str, language: str) -> str:
    """`key`'s name in `language`, or `key` itself when it has none (a name no longer in the
    contract still shows as what it is)."""
    found = names.get(key)
    return found[language] if found else key.replace("_", " ")


def topic_name(topic: str, language: str) -> str:
    """A topic's name in `language`."""
    return name_of(TOPIC_NAMES, topic, language)


def short_date(day: date, language: str) -> str:
    """16 Nov, 16 nov. (for chart axes)."""
    month = _SHORT_MONTHS[language][day.month - 1]
    return f"{day.day} {month}" if language == "fr" else f"{month} {day.day}"


def month_name(day: date, language: str) -> str:
    """Nov 2026, nov. 2026 (for chart axes)."""
    return f"{_SHORT_MONTHS[language][day.month - 1]} {day.year}"
