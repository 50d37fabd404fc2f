"""Recognising update topics in what a citizen writes ("abonnez-moi aux avis de dynamitage",
"/subscribe road closures").

Topics and their keywords come from the knowledge base (`update_topics`). Matching ignores
case and accents, accepts a plural ending on every word (s, x, es) and any spacing between
the words of a phrase, and only matches whole words ("route" is not found in "routine").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.common.text import fold
from bot.knowledge import UpdateTopic


class TopicCatalog:
    """The project's update topics, and finding them in a text."""

    def __init__(self, topics: Sequence[UpdateTopic] = ()) -> None:
        self._topics = {topic.id: topic for topic in topics}
        self._patterns = {topic.id: _pattern(topic) for topic in topics}

    def __bool__(self) -> bool:
        return bool(self._topics)

    @property
    def ids(self) -> tuple[str, ...]:
        """The topic ids, in the knowledge base's order."""
        return tuple(self._topics)

    def get(self, topic_id: str) -> UpdateTopic | None:
        """The topic with this id, if the project has it."""
        return self._topics.get(topic_id)

    def name(self, topic_id: str, language: str) -> str:
        """What citizens read for a topic (its id when the project no longer has it)."""
        topic = self._topics.get(topic_id)
        if topic is None:
            return topic_id.replace("_", " ")
        return topic.name.get(language, topic.name["fr"])

    def names(self, topic_ids: Sequence[str], language: str) -> str:
        """Topic names as one list for a sentence: "dynamitage, fermetures de routes"."""
        return ", ".join(self.name(topic_id, language) for topic_id in topic_ids)

    def find(self, text: str) -> tuple[str, ...]:
        """The ids of the topics `text` names, in the knowledge base's order."""
        folded = fold(text.replace("’", "'").replace("_", " "))
        return tuple(
            topic_id for topic_id, pattern in self._patterns.items() if pattern.search(folded)
        )


def _pattern(topic: UpdateTopic) -> re.Pattern[str]:
    phrases = {topic.id.replace("_", " "), *topic.name.values()}
    phrases.update(k for listed in topic.keywords.values() for k in listed)
    alternatives = sorted((_phrase(p) for p in phrases if p.strip()), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def _phrase(phrase: str) -> str:
    """A regular expression for a keyword: its folded words, each with an optional plural."""
    return r"[\s'-]+".join(re.escape(word) + "(?:s|x|es)?" for word in fold(phrase).split())
