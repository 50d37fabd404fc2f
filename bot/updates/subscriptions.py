"""Subscribing to project news in chat, to everything or to topics.

The same rules answer "keep me posted", "abonnez-moi aux avis de dynamitage" (the dialogue's
`subscribe_updates` / `unsubscribe_updates` intents, whose whole message is searched for
topics) and the commands `/subscribe [topic]` and `/unsubscribe [topic]`:

* no topic: all news (an empty topic list); a topic: it is added to the ones followed;
* unsubscribing with no topic stops everything; from a topic, removes it (from "all news",
  it leaves every other topic); removing the last topic stops everything, since an empty
  list would mean all news;
* every answer says what the conversation now receives and how to stop.

A subscription belongs to a conversation, so one made in a group is delivered in that group
(the answer says so). General announcements (an update without a topic) reach every
subscriber.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.common.phrases import say
from bot.common.text import fold
from bot.knowledge import UpdateTopic
from bot.outbox.outbound import destination_of
from bot.storage.models import Conversation, Subscription, utc_now
from bot.updates.topics import TopicCatalog

# Channels where the citizen can type commands (the web chat has none).
COMMAND_CHANNELS = frozenset({"telegram", "discord"})
# "/subscribe all" is "/subscribe": every piece of news.
EVERYTHING = frozenset({"all", "everything", "all news", "tout", "tous", "toutes", "tout le reste"})


class Subscriptions:
    """Carries out subscription requests and says the result in the citizen's language."""

    def __init__(self, topics: Sequence[UpdateTopic] = ()) -> None:
        self.catalog = TopicCatalog(topics)

    def command(
        self,
        *,
        session: Session,
        conversation: Conversation,
        name: str,
        argument: str,
        language: str,
    ) -> list[str]:
        """Answers `/subscribe [topic]` or `/unsubscribe [topic]`. A topic the project does not
        have is not guessed: the answer lists the topics and nothing changes."""
        subscribing = name == "subscribe"
        if fold(" ".join(argument.split())) in EVERYTHING:
            argument = ""
        found = self.catalog.find(argument) if argument else ()
        if argument and not found:
            if not self.catalog:
                if subscribing:
                    return [
                        say("updates_no_topics", language),
                        *self.subscribe(
                            session=session, conversation=conversation, text="", language=language
                        ),
                    ]
                return [say("updates_no_topics_unsubscribe", language)]
            return [self._unknown_topic(name, language)]
        if subscribing:
            return self.subscribe(
                session=session, conversation=conversation, text=argument, language=language
            )
        return self.unsubscribe(
            session=session, conversation=conversation, text=argument, language=language
        )

    def subscribe(
        self, *, session: Session, conversation: Conversation, text: str, language: str
    ) -> list[str]:
        """Subscribes the conversation to the topics `text` names, or to all news when it
        names none; returns the answer."""
        asked = self.catalog.find(text)
        row = _row(session, conversation)
        active = row is not None and row.active
        followed = tuple(row.topics) if row is not None and row.active else ()
        stop = self._stop(conversation, language)
        if not asked:
            if active and not followed:
                return [say("already_subscribed", language, stop=stop)]
            self._save(session, conversation, row, active=True, topics=())
            return self._in_group(conversation, language, say("subscribed", language, stop=stop))
        if active and not followed:
            names = self.catalog.names(asked, language)
            return [say("already_subscribed_all_topics", language, topics=names, stop=stop)]
        if active and set(asked) <= set(followed):
            names = self.catalog.names(followed, language)
            return [say("already_subscribed_topics", language, topics=names, stop=stop)]
        topics = self._ordered({*followed, *asked})
        self._save(session, conversation, row, active=True, topics=topics)
        names = self.catalog.names(topics, language)
        answer = say("subscribed_topics", language, topics=names, stop=stop)
        return self._in_group(conversation, language, answer)

    def unsubscribe(
        self, *, session: Session, conversation: Conversation, text: str, language: str
    ) -> list[str]:
        """Stops the topics `text` names, or all news when it names none; returns the answer."""
        asked = self.catalog.find(text)
        row = _row(session, conversation)
        stop = self._stop(conversation, language)
        if row is None or not row.active:
            answer = say(
                "not_subscribed",
                language,
                command=self._command(conversation, "subscribe", language),
            )
            if conversation.place == "group" and self._group_receives(session, conversation):
                return [answer, say("updates_group_subscribed_by_other", language)]
            return [answer]
        if not asked:
            self._save(session, conversation, row, active=False, topics=())
            return [say("unsubscribed", language)]
        current = tuple(row.topics) or self.catalog.ids  # all news: every topic
        kept = tuple(t for t in current if t not in asked)
        removed = self.catalog.names(asked, language)
        if kept == current:
            names = self.catalog.names(current, language)
            return [
                say("not_subscribed_to_topics", language, removed=removed, topics=names, stop=stop)
            ]
        if not kept:
            self._save(session, conversation, row, active=False, topics=())
            return [say("unsubscribed_last_topic", language, removed=removed)]
        self._save(session, conversation, row, active=True, topics=kept)
        names = self.catalog.names(kept, language)
        return [say("unsubscribed_topics", language, removed=removed, topics=names, stop=stop)]

    # --- helpers ------------------------------------------------------------------------------

    def _ordered(self, topics: set[str]) -> tuple[str, ...]:
        return tuple(t for t in self.catalog.ids if t in topics)

    def _unknown_topic(self, name: str, language: str) -> str:
        first = self.catalog.ids[0]
        return say(
            "updates_unknown_topic",
            language,
            topics=self.catalog.names(self.catalog.ids, language),
            command=name,
            example=self.catalog.name(first, language),
            everything=say(f"updates_everything_{name}", language),
        )

    def _stop(self, conversation: Conversation, language: str) -> str:
        return say(
            "updates_how_to_stop",
            language,
            command=self._command(conversation, "unsubscribe", language),
        )

    @staticmethod
    def _command(conversation: Conversation, name: str, language: str) -> str:
        if conversation.channel not in COMMAND_CHANNELS:
            return ""
        return say("updates_or_command", language, name=name)

    @staticmethod
    def _in_group(conversation: Conversation, language: str, answer: str) -> list[str]:
        if conversation.place == "group":
            return [answer, say("updates_in_group", language)]
        return [answer]

    @staticmethod
    def _group_receives(session: Session, conversation: Conversation) -> bool:
        """Whether another member's subscription delivers news where this conversation is."""
        destination = destination_of(conversation)
        if destination is None:
            return False
        others = session.exec(
            select(Conversation)
            .join(Subscription, col(Subscription.conversation_id) == col(Conversation.id))
            .where(
                Conversation.channel == conversation.channel,
                col(Conversation.external_id).startswith(f"{destination}:", autoescape=True),
                col(Conversation.id) != conversation.id,
                col(Subscription.active).is_(True),
            )
        )
        return any(destination_of(other) == destination for other in others)

    @staticmethod
    def _save(
        session: Session,
        conversation: Conversation,
        row: Subscription | None,
        *,
        active: bool,
        topics: Sequence[str],
    ) -> None:
        if row is None:
            if conversation.id is None:
                raise ValueError("the conversation has not been stored yet")
            row = Subscription(conversation_id=conversation.id)
        row.active = active
        row.topics = list(topics)
        row.updated_at = utc_now()
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            # The same citizen's other message created it a moment ago: change that one.
            session.rollback()
            existing = _row(session, conversation)
            if existing is None:
                raise
            existing.active = active
            existing.topics = list(topics)
            existing.updated_at = utc_now()
            session.add(existing)
            session.commit()


def _row(session: Session, conversation: Conversation) -> Subscription | None:
    return session.exec(
        select(Subscription).where(Subscription.conversation_id == conversation.id)
    ).first()
