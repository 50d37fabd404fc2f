"""Publishing project updates to subscribers, and following their delivery.

A community manager writes an update in French and in English, optionally on one topic
(`update_topics` of the knowledge base). Publishing stores it under a reference
(`U-2026-0001`), then fans it out: every active subscription whose topics are empty (all news)
or include the update's topic gets the update in its conversation's language, on its own
channel. The fan-out runs in batches; each batch stores the messages, queues them in the
platforms' outbox and records one `UpdateDelivery` per conversation in one transaction, so a
crash never leaves a message queued without its delivery row, and running the fan-out again
(the unique (update, conversation) pair) only reaches who was not reached yet.

Several citizens who subscribed in the same group share one destination: the group receives
the update once, recorded on the earliest subscription's conversation, in its language.

Delivery follows the outbox, which the running assistant sends within Telegram's and
Discord's limits: `refresh` reads it back (sent, failed with the platform's reason, still
queued). The web chat has no outbox: its citizens see the update when they come back
(`stored`). A destination the platform refuses for good (the citizen blocked the bot, the
bot left the group) has its subscriptions paused, so the next update does not try again;
subscribing again in chat resumes them.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.common.ids import stored_id
from bot.common.phrases import say
from bot.knowledge import KnowledgeBase
from bot.outbox.outbound import destination_for, destination_of
from bot.outbox.text import PLATFORM_LIMITS, split_for
from bot.settings import Settings
from bot.storage.models import (
    AuditEntry,
    Conversation,
    Direction,
    Message,
    OutboxMessage,
    OutboxStatus,
    ProjectUpdate,
    Subscription,
    UpdateDelivery,
    utc_now,
)
from bot.storage.repository import next_reference
from bot.updates.subscriptions import COMMAND_CHANNELS
from bot.updates.topics import TopicCatalog

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 3_000  # a Telegram message holds 4,096; room is left for the heading
BATCH_SIZE = 500
# The same texts on the same topic published again within this window are the same update
# (a form sent twice, a command run again): nothing is sent twice.
SAME_UPDATE_WINDOW = timedelta(minutes=10)
REFERENCE_PATTERN = r"^[Uu]-\d{4}-\d{4,6}$"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e]")


class UpdateError(Exception):
    """An update cannot be published, found or sent; the message is one sentence saying why."""


class UpdateNotFound(UpdateError):
    """No update has this reference."""


class DeliveryStatus(StrEnum):
    """Where one update stands for one conversation."""

    QUEUED = "queued"  # in the platform's outbox, not sent yet
    SENT = "sent"  # the platform took every part of it
    FAILED = "failed"  # the platform refused it for good (see `UpdateDelivery.error`)
    STORED = "stored"  # web chat: shown when the citizen comes back


@dataclass(frozen=True)
class Counts:
    """How far an update got, one conversation (or group) each."""

    total: int = 0
    sent: int = 0
    stored: int = 0
    queued: int = 0
    failed: int = 0

    @property
    def reached(self) -> int:
        """Sent on a platform or stored for the web chat."""
        return self.sent + self.stored


@dataclass(frozen=True)
class Audience:
    """Who an update would reach: destinations (a group counts once) by channel and language."""

    total: int
    by_channel: dict[str, int] = field(default_factory=dict)
    by_language: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """An update a platform refused for one conversation: no personal data, only where and why.

    Attributes:
        channel: telegram or discord.
        language: the language it was sent in.
        place: private or group.
        error: the platform's reason ("Forbidden: bot was blocked by the user").
        paused: whether the conversation's subscription is paused now (the next updates skip
            it); False once the citizen subscribed again.
    """

    channel: str
    language: str
    place: str
    error: str
    paused: bool


@dataclass(frozen=True)
class UpdateSummary:
    """An update and how far it got."""

    reference: str
    topic: str | None
    text_fr: str
    text_en: str
    author: str
    created_at: datetime
    published_at: datetime | None  # None: the fan-out was interrupted (see `send`)
    counts: Counts


@dataclass(frozen=True)
class UpdateReport:
    """An update, its counts and its failures."""

    summary: UpdateSummary
    failures: list[Failure]


@dataclass(frozen=True)
class Published:
    """The outcome of `publish`.

    Attributes:
        summary: the update and its counts right after the fan-out.
        new: False when the same update had just been published: it was not sent again.
    """

    summary: UpdateSummary
    new: bool


@dataclass(frozen=True)
class SubscriberCounts:
    """Active subscriptions by channel, language and topic (all news is "all")."""

    total: int
    destinations: int
    paused: int
    by_channel: dict[str, int]
    by_language: dict[str, int]
    by_topic: dict[str, int]


@dataclass(frozen=True)
class Recipient:
    """Who receives what is sent to subscribers: one conversation (a group counts once)."""

    conversation_id: int
    channel: str
    destination: str | None  # None: the web chat (or a channel without an outbox)
    language: str


class UpdateService:
    """Publishes updates, follows their delivery and counts subscribers."""

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: Engine, knowledge: KnowledgeBase
    ) -> UpdateService:
        """The service as the settings configure it (languages, the project's hashtag)."""
        return cls(
            engine=engine,
            knowledge=knowledge,
            languages=settings.languages,
            default_language=settings.default_language,
            hashtag=settings.project_hashtag,
        )

    def __init__(
        self,
        *,
        engine: Engine,
        knowledge: KnowledgeBase,
        languages: Sequence[str],
        default_language: str,
        batch_size: int = BATCH_SIZE,
        hashtag: str | None = None,
    ) -> None:
        self.engine = engine
        self.hashtag = hashtag
        self.catalog = TopicCatalog(knowledge.update_topics)
        self._project = dict(knowledge.name)
        self._languages = tuple(languages)
        self._default = default_language
        self._batch = batch_size

    def session(self) -> Session:
        """A database session."""
        return Session(self.engine, expire_on_commit=False)

    # --- writing an update ------------------------------------------------------------------

    def check(
        self, *, text_fr: str, text_en: str, topic: str | None
    ) -> tuple[str, str, str | None]:
        """The texts and topic as they will be stored, or the reason they cannot be.

        Raises:
            UpdateError: a text is missing or too long, or the topic does not exist.
        """
        texts = []
        for name, text in (("French", text_fr), ("English", text_en)):
            cleaned = _clean(text)
            if not cleaned:
                raise UpdateError(
                    f"The {name} text is empty: an update goes out in both languages."
                )
            if len(cleaned) > MAX_TEXT_CHARS:
                raise UpdateError(
                    f"The {name} text is {len(cleaned)} characters long; shorten it to "
                    f"{MAX_TEXT_CHARS} (link to a document for more)."
                )
            texts.append(cleaned)
        chosen = (topic or "").strip().lower() or None
        if chosen is not None and self.catalog.get(chosen) is None:
            known = ", ".join(self.catalog.ids) or "none (knowledge base: update_topics)"
            raise UpdateError(f"There is no update topic {chosen!r}; the topics are: {known}.")
        return texts[0], texts[1], chosen

    def render(
        self, *, text: str, language: str, channel: str, topic: str | None, reference: str
    ) -> str:
        """The message a citizen receives: the project's name, the topic, the reference, the
        text, the project's hashtag to follow it elsewhere, and how to stop."""
        command = say("updates_or_command", language, name="unsubscribe")
        return say(
            "update_news",
            language,
            project=self._project.get(language, self._project.get("fr", "")),
            topic=say("update_news_topic", language, name=self.catalog.name(topic, language))
            if topic
            else "",
            reference=reference,
            text=text,
            hashtag=say("update_news_hashtag", language, hashtag=self.hashtag)
            if self.hashtag and self.hashtag.lower() not in text.lower()
            else "",
            stop=say(
                "update_news_stop",
                language,
                command=command if channel in COMMAND_CHANNELS else "",
            ),
        )

    def publish(self, *, text_fr: str, text_en: str, topic: str | None, author: str) -> Published:
        """Stores an update and sends it to its subscribers (see the module's docstring).

        Args:
            text_fr: the French text.
            text_en: the English text.
            topic: an update topic id, or None for every subscriber.
            author: who publishes: ``staff:web:<username>`` or ``cli:<login>``.

        Raises:
            UpdateError: the texts or the topic are refused (nothing is stored).
        """
        fr, en, chosen = self.check(text_fr=text_fr, text_en=text_en, topic=topic)
        with self.session() as session:
            same = self._same_update(session, fr, en, chosen)
            if same is not None:
                logger.info("update %s was published again: not sent twice", same.reference)
                self._fan_out(stored_id(same.id))
                return Published(summary=self._summary(session, same), new=False)
            now = utc_now()
            reference = next_reference(session=session, prefix="U", year=now.year)
            update = ProjectUpdate(
                reference=reference,
                topic=chosen,
                text_fr=fr,
                text_en=en,
                author=author[:120],
                created_at=now,
            )
            session.add(update)
            session.add(
                AuditEntry(
                    actor=author[:120],
                    action="updates.publish",
                    detail={"update": reference, "topic": chosen},
                )
            )
            session.commit()
            session.refresh(update)
        self._fan_out(stored_id(update.id))
        logger.info("update %s published", reference)
        with self.session() as session:
            stored = self._get(session, reference)
            return Published(summary=self._summary(session, stored), new=True)

    def send(self, reference: str, *, actor: str) -> UpdateSummary:
        """Sends an update to the subscribers it has not reached yet (after an interrupted
        fan-out, or to who subscribed since); harmless to run again.

        Raises:
            UpdateNotFound: no update has this reference.
        """
        with self.session() as session:
            update = self._get(session, reference)
            before = self._counts(session, stored_id(update.id)).total
        self._fan_out(stored_id(update.id))
        with self.session() as session:
            summary = self._summary(session, self._get(session, reference))
            session.add(
                AuditEntry(
                    actor=actor[:120],
                    action="updates.send",
                    detail={"update": summary.reference, "more": summary.counts.total - before},
                )
            )
            session.commit()
        return summary

    # --- who receives it ---------------------------------------------------------------------

    def audience(self, topic: str | None) -> Audience:
        """Who an update on `topic` would reach now (paused subscriptions excluded)."""
        self.refresh()
        channels: Counter[str] = Counter()
        languages: Counter[str] = Counter()
        with self.session() as session:
            for batch in self._recipients(session, topic, skip=set(), seen=set()):
                for recipient in batch:
                    channels[recipient.channel] += 1
                    languages[recipient.language] += 1
        return Audience(
            total=sum(channels.values()), by_channel=dict(channels), by_language=dict(languages)
        )

    def subscribers(self) -> SubscriberCounts:
        """Active subscriptions by channel, language and topic; paused ones apart."""
        self.refresh()
        channels: Counter[str] = Counter()
        languages: Counter[str] = Counter()
        topics: Counter[str] = Counter()
        total = 0
        with self.session() as session:
            for _, subscribed, _, channel, _, language in self._active_rows(session):
                total += 1
                channels[channel] += 1
                languages[self._language(language)] += 1
                for topic in subscribed or ["all"]:
                    topics[topic] += 1
            destinations = sum(
                len(batch) for batch in self._recipients(session, None, skip=set(), seen=set())
            )
            paused = self._paused_count(session)
        return SubscriberCounts(
            total=total,
            destinations=destinations,
            paused=paused,
            by_channel=dict(channels),
            by_language=dict(languages),
            by_topic=dict(topics),
        )

    def recipients(self, topic: str | None) -> Iterator[list[Recipient]]:
        """Batches of who news on `topic` reaches now (None: every subscriber), a group once
        (for what else the project sends its subscribers, such as consultations)."""
        with self.session() as session:
            yield from self._recipients(session, topic, skip=set(), seen=set())

    # --- following delivery ------------------------------------------------------------------

    def refresh(self) -> int:
        """Reads the outbox back into the deliveries still queued, and pauses the subscriptions
        of destinations a platform refused for good. Returns how many deliveries changed."""
        changed = 0
        last = 0
        with self.session() as session:
            while True:
                queued = session.exec(
                    select(UpdateDelivery.id, UpdateDelivery.message_id)
                    .where(
                        UpdateDelivery.status == DeliveryStatus.QUEUED,
                        col(UpdateDelivery.message_id).is_not(None),
                        col(UpdateDelivery.id) > last,
                    )
                    .order_by(col(UpdateDelivery.id))
                    .limit(self._batch)
                ).all()
                if not queued:
                    return changed
                last = stored_id(queued[-1][0])
                parts: defaultdict[int, list[tuple[str, str | None, datetime | None]]]
                parts = defaultdict(list)
                for message_id, status, error, sent_at in session.exec(
                    select(
                        OutboxMessage.message_id,
                        OutboxMessage.status,
                        OutboxMessage.last_error,
                        OutboxMessage.sent_at,
                    ).where(col(OutboxMessage.message_id).in_([m for _, m in queued]))
                ):
                    if message_id is not None:
                        parts[message_id].append((status, error, sent_at))
                changes: list[dict[str, Any]] = []
                failed: list[int] = []
                for delivery_id, message_id in queued:
                    found = parts.get(message_id or 0, [])
                    refused = [error for status, error, _ in found if status == OutboxStatus.FAILED]
                    if refused:
                        reason = (refused[0] or "refused by the platform")[:500]
                        changes.append(
                            {"id": delivery_id, "status": DeliveryStatus.FAILED, "error": reason}
                        )
                        failed.append(stored_id(delivery_id))
                    elif found and all(status == OutboxStatus.SENT for status, _, _ in found):
                        sent = [at for _, _, at in found if at is not None]
                        changes.append(
                            {
                                "id": delivery_id,
                                "status": DeliveryStatus.SENT,
                                "delivered_at": max(sent, default=utc_now()),
                            }
                        )
                if changes:
                    # Rows of the same shape go together (a bulk UPDATE by primary key).
                    for shape in ({"error"}, {"delivered_at"}):
                        same = [c for c in changes if shape <= c.keys()]
                        if same:
                            session.execute(update(UpdateDelivery), same)
                    session.commit()
                    changed += len(changes)
                for delivery_id in failed:
                    self._pause(session, delivery_id)

    def updates(self, *, limit: int = 50) -> list[UpdateSummary]:
        """The latest updates, newest first, with their counts."""
        self.refresh()
        with self.session() as session:
            rows = session.exec(
                select(ProjectUpdate).order_by(col(ProjectUpdate.id).desc()).limit(limit)
            )
            return [self._summary(session, update) for update in rows]

    def report(self, reference: str) -> UpdateReport:
        """One update, its counts and its failures.

        Raises:
            UpdateNotFound: no update has this reference.
        """
        self.refresh()
        with self.session() as session:
            update = self._get(session, reference)
            rows = session.exec(
                select(UpdateDelivery, Conversation)
                .join(Conversation, col(UpdateDelivery.conversation_id) == col(Conversation.id))
                .where(
                    UpdateDelivery.update_id == update.id,
                    UpdateDelivery.status == DeliveryStatus.FAILED,
                )
                .order_by(col(UpdateDelivery.id))
            )
            failures = [
                Failure(
                    channel=conversation.channel,
                    language=delivery.language,
                    place=conversation.place or "private",
                    error=delivery.error or "refused by the platform",
                    paused=not self._active(session, stored_id(conversation.id)),
                )
                for delivery, conversation in rows
            ]
            return UpdateReport(summary=self._summary(session, update), failures=failures)

    # --- inside ------------------------------------------------------------------------------

    def _fan_out(self, update_id: int) -> None:
        """Delivers an update to every subscriber it has not reached, batch by batch."""
        self.refresh()  # destinations that refused an earlier update are paused first
        with self.session() as session:
            update = session.get(ProjectUpdate, update_id)
            if update is None:
                raise UpdateNotFound(f"There is no update with id {update_id}.")
            skip, seen = self._already_reached(session, update_id)
            for batch in self._recipients(session, update.topic, skip=skip, seen=seen):
                self._deliver(session, update, batch, skip, seen)
            if update.published_at is None:
                update.published_at = utc_now()
                session.add(update)
                session.commit()

    def _active_rows(
        self, session: Session, *, after: int = 0, limit: int | None = None
    ) -> list[tuple[int, list[str], int, str, str, str | None]]:
        """(subscription id, topics, conversation id, channel, conversation key, language) of
        active subscriptions of conversations not erased, in subscription order."""
        query = (
            sa_select(
                col(Subscription.id),
                col(Subscription.topics),
                col(Conversation.id),
                col(Conversation.channel),
                col(Conversation.external_id),
                col(Conversation.language),
            )
            .join(Conversation, col(Subscription.conversation_id) == col(Conversation.id))
            .where(
                col(Subscription.active).is_(True),
                col(Conversation.erased_at).is_(None),
                col(Subscription.id) > after,
            )
            .order_by(col(Subscription.id))
        )
        if limit is not None:
            query = query.limit(limit)
        return [
            (stored_id(sub), list(topics or []), stored_id(conv), channel, key, language)
            for sub, topics, conv, channel, key, language in session.execute(query)
        ]

    def _recipients(
        self,
        session: Session,
        topic: str | None,
        *,
        skip: set[int],
        seen: set[tuple[str, str]],
    ) -> Iterator[list[Recipient]]:
        """Batches of who should receive an update on `topic`, in subscription order: active
        subscriptions to all news or to the topic, conversations not erased, not in `skip`,
        and one conversation per platform destination (`seen` holds the destinations taken)."""
        last = 0
        while True:
            rows = self._active_rows(session, after=last, limit=self._batch)
            if not rows:
                return
            last = rows[-1][0]
            batch: list[Recipient] = []
            for _, topics, conversation_id, channel, key, language in rows:
                if topic is not None and topics and topic not in topics:
                    continue
                if conversation_id in skip:
                    continue
                destination = _platform_destination(channel, key)
                if destination is not None:
                    if (channel, destination) in seen:
                        continue  # a group already receives it through another member
                    seen.add((channel, destination))
                batch.append(
                    Recipient(conversation_id, channel, destination, self._language(language))
                )
            if batch:
                yield batch

    def _deliver(
        self,
        session: Session,
        update: ProjectUpdate,
        batch: list[Recipient],
        skip: set[int],
        seen: set[tuple[str, str]],
    ) -> None:
        """Stores, queues and records one batch in one transaction (bulk inserts: a batch is
        three statements, whatever its size)."""
        taken: set[tuple[str, str]] = set()  # destinations another process reached meanwhile
        for attempt in (1, 2):
            now = utc_now()
            todo = [
                r
                for r in batch
                if r.conversation_id not in skip
                and (r.destination is None or (r.channel, r.destination) not in taken)
            ]
            if not todo:
                return
            texts = [
                self.render(
                    text=update.text_fr if r.language == "fr" else update.text_en,
                    language=r.language,
                    channel=r.channel,
                    topic=update.topic,
                    reference=update.reference,
                )
                for r in todo
            ]
            try:
                message_ids = session.scalars(
                    insert(Message).returning(col(Message.id), sort_by_parameter_order=True),
                    [
                        {
                            "conversation_id": r.conversation_id,
                            "direction": Direction.OUTGOING,
                            "text": text,
                            "language": r.language,
                            "language_trusted": False,
                            "created_at": now,
                        }
                        for r, text in zip(todo, texts, strict=True)
                    ],
                ).all()
                # The rows `outbox_row` would make, written in bulk: each part with its own nonce.
                outbox: list[dict[str, Any]] = [
                    {
                        "channel": r.channel,
                        "destination": r.destination,
                        "conversation_id": r.conversation_id,
                        "message_id": message_id,
                        "text": part,
                        "options": {"bulk": True},  # behind answers to citizens (Outbox)
                        "nonce": secrets.token_hex(12),
                        "status": OutboxStatus.PENDING,
                        "attempts": 0,
                        "created_at": now,
                    }
                    for r, text, message_id in zip(todo, texts, message_ids, strict=True)
                    if r.destination is not None
                    for part in split_for(r.channel, text)
                ]
                if outbox:
                    session.execute(insert(OutboxMessage), outbox)
                session.execute(
                    insert(UpdateDelivery),
                    [
                        {
                            "update_id": stored_id(update.id),
                            "conversation_id": r.conversation_id,
                            "message_id": message_id,
                            "language": r.language,
                            "status": (
                                DeliveryStatus.QUEUED if r.destination else DeliveryStatus.STORED
                            ),
                            "delivered_at": None if r.destination else now,
                            "created_at": now,
                        }
                        for r, message_id in zip(todo, message_ids, strict=True)
                    ],
                )
                session.commit()
            except IntegrityError:
                # Another process is sending the same update: keep what it recorded, and
                # send this batch only to who it has not reached.
                session.rollback()
                if attempt == 2:
                    raise
                reached, taken = self._already_reached(session, stored_id(update.id))
                skip |= reached
                seen |= taken
                continue
            skip.update(r.conversation_id for r in todo)
            return

    def _already_reached(
        self, session: Session, update_id: int
    ) -> tuple[set[int], set[tuple[str, str]]]:
        """The conversations an update has a delivery for, and their platform destinations."""
        conversations: set[int] = set()
        destinations: set[tuple[str, str]] = set()
        rows = session.exec(
            select(Conversation.id, Conversation.channel, Conversation.external_id)
            .join(UpdateDelivery, col(UpdateDelivery.conversation_id) == col(Conversation.id))
            .where(UpdateDelivery.update_id == update_id)
        )
        for conversation_id, channel, key in rows:
            conversations.add(stored_id(conversation_id))
            destination = _platform_destination(channel, key)
            if destination is not None:
                destinations.add((channel, destination))
        return conversations, destinations

    def _pause(self, session: Session, delivery_id: int) -> None:
        """Pauses every active subscription that delivers where the platform refused."""
        delivery = session.get(UpdateDelivery, delivery_id)
        if delivery is None:
            return
        conversation = session.get(Conversation, delivery.conversation_id)
        update = session.get(ProjectUpdate, delivery.update_id)
        if conversation is None or update is None:
            return
        destination = destination_of(conversation)
        candidates = [conversation]
        if destination is not None:
            candidates = [
                other
                for other in session.exec(
                    select(Conversation).where(
                        Conversation.channel == conversation.channel,
                        col(Conversation.external_id).in_([destination, f"dm:{destination}"])
                        | col(Conversation.external_id).startswith(
                            f"{destination}:", autoescape=True
                        ),
                    )
                )
                if destination_of(other) == destination
            ]
        ids = [stored_id(c.id) for c in candidates]
        paused = list(
            session.exec(
                select(Subscription).where(
                    col(Subscription.conversation_id).in_(ids), col(Subscription.active).is_(True)
                )
            )
        )
        now = utc_now()
        for subscription in paused:
            subscription.active = False
            subscription.updated_at = now
            session.add(subscription)
        session.add(
            AuditEntry(
                actor="system",
                action="updates.pause",
                detail={
                    "update": update.reference,
                    "channel": conversation.channel,
                    "conversations": ids,
                    "subscriptions": len(paused),
                    "reason": (delivery.error or "")[:200],
                },
            )
        )
        session.commit()
        logger.warning(
            "update %s refused by %s for good (%s): %s subscription(s) paused",
            update.reference,
            conversation.channel,
            (delivery.error or "")[:200],
            len(paused),
        )

    def _same_update(
        self, session: Session, text_fr: str, text_en: str, topic: str | None
    ) -> ProjectUpdate | None:
        query = select(ProjectUpdate).where(
            ProjectUpdate.text_fr == text_fr,
            ProjectUpdate.text_en == text_en,
            col(ProjectUpdate.created_at) >= utc_now() - SAME_UPDATE_WINDOW,
        )
        query = query.where(
            col(ProjectUpdate.topic).is_(None) if topic is None else ProjectUpdate.topic == topic
        )
        return session.exec(query.order_by(col(ProjectUpdate.id).desc())).first()

    def _get(self, session: Session, reference: str) -> ProjectUpdate:
        wanted = reference.strip().upper()
        found = session.exec(select(ProjectUpdate).where(ProjectUpdate.reference == wanted)).first()
        if found is None:
            raise UpdateNotFound(f"There is no update {reference.strip()!r}.")
        return found

    def _summary(self, session: Session, update: ProjectUpdate) -> UpdateSummary:
        return UpdateSummary(
            reference=update.reference,
            topic=update.topic,
            text_fr=update.text_fr,
            text_en=update.text_en,
            author=update.author,
            created_at=update.created_at,
            published_at=update.published_at,
            counts=self._counts(session, stored_id(update.id)),
        )

    @staticmethod
    def _counts(session: Session, update_id: int) -> Counts:
        by_status = dict(
            session.exec(
                select(UpdateDelivery.status, func.count())
                .where(UpdateDelivery.update_id == update_id)
                .group_by(UpdateDelivery.status)
            ).all()
        )
        return Counts(
            total=sum(by_status.values()),
            sent=by_status.get(DeliveryStatus.SENT, 0),
            stored=by_status.get(DeliveryStatus.STORED, 0),
            queued=by_status.get(DeliveryStatus.QUEUED, 0),
            failed=by_status.get(DeliveryStatus.FAILED, 0),
        )

    @staticmethod
    def _active(session: Session, conversation_id: int) -> bool:
        row = session.exec(
            select(Subscription).where(Subscription.conversation_id == conversation_id)
        ).first()
        return row is not None and row.active

    @staticmethod
    def _paused_count(session: Session) -> int:
        """Inactive subscriptions whose latest update delivery failed: paused, not stopped by
        the citizen."""
        latest = (
            select(
                UpdateDelivery.conversation_id,
                func.max(UpdateDelivery.id).label("last_id"),
            )
            .group_by(col(UpdateDelivery.conversation_id))
            .subquery()
        )
        count = session.exec(
            select(func.count())
            .select_from(Subscription)
            .join(latest, latest.c.conversation_id == col(Subscription.conversation_id))
            .join(UpdateDelivery, col(UpdateDelivery.id) == latest.c.last_id)
            .where(
                col(Subscription.active).is_(False),
                UpdateDelivery.status == DeliveryStatus.FAILED,
            )
        ).one()
        return int(count)

    def _language(self, language: str | None) -> str:
        if language in self._languages:
            return str(language)
        return self._default


def _platform_destination(channel: str, key: str) -> str | None:
    """Where the outbox sends to a conversation; None when nothing is sent (web chat)."""
    if channel not in PLATFORM_LIMITS:
        return None
    return destination_for(channel, key)


def _clean(text: str) -> str:
    """An update's text as stored: NFC, line breaks kept (at most one blank line in a row),
    control characters and trailing spaces removed."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text.replace("\t", " "))
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
