"""Listening in community groups: what is heard, what is kept, who opted out.

Where the promoter adds the assistant to a community group (a Telegram group or supergroup, a
Discord channel) and lists it for listening, the assistant records, without replying, the
messages that mention the project's keywords or hashtags (`bot.common.matching`), with their
language, a pseudonym of their author, and how they read (sentiment, topics). Messages that do
not mention the project are not stored at all: the channels keep only their update's id in the
intake, never their text. A member who sends /optout has their heard messages deleted, on that
platform, and is not recorded any more; /optin undoes it. Each listened group is told by a
pinned, bilingual notice (`bot.channels.telegram.listening`, `bot.channels.discord.listening`).

This module is platform-free: the channels turn platform messages into `GroupMessage`s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.common.language import LanguageDetector
from bot.common.matching import Matcher
from bot.knowledge import KnowledgeBase
from bot.listening import store
from bot.listening.phrases import NoticeFacts, notice_text, opt_answer
from bot.listening.reading import Reader, Reading
from bot.settings import Settings
from bot.storage.models import HeardMessage

logger = logging.getLogger(__name__)

HEAR = "hear"
FORGET = "forget"


@dataclass(frozen=True)
class GroupMessage:
    """A message written in a listened group, not addressed to the assistant.

    Attributes:
        channel: the platform ("telegram", "discord").
        group_key: the platform's id of the group (Telegram chat, Discord channel), as text.
        external_id: the platform's id of the message in that group.
        member: the pseudonym of its author.
        text: what they wrote (a caption for a photo).
        language_hint: the language their app is set to, if the platform says.
        sent_at: when it was first written (an edit keeps that time).
        title: the group's name, if known.
    """

    channel: str
    group_key: str
    external_id: str
    member: str
    text: str
    language_hint: str | None = None
    sent_at: datetime | None = None
    title: str | None = None

    def payload(self) -> dict[str, Any]:
        """What the durable intake keeps of it until it is heard (no names, no platform ids of
        people)."""
        fields = asdict(self)
        fields["sent_at"] = self.sent_at.isoformat() if self.sent_at else None
        return {HEAR: fields}

    @classmethod
    def from_payload(cls, fields: Mapping[str, Any]) -> GroupMessage:
        """The message the intake kept with `payload`."""
        values = dict(fields)
        sent_at = values.get("sent_at")
        values["sent_at"] = datetime.fromisoformat(sent_at) if sent_at else None
        return cls(**values)


def forget_payload(*, channel: str, group_key: str, external_id: str) -> dict[str, Any]:
    """What the intake keeps of an edit that no longer mentions the project (no text)."""
    return {FORGET: {"channel": channel, "group_key": group_key, "external_id": external_id}}


class Listener:
    """Hears group messages that mention the project and keeps them with their reading."""

    def __init__(
        self,
        *,
        engine: Engine,
        matcher: Matcher,
        reader: Reader,
        detector: LanguageDetector,
        notice: NoticeFacts,
    ) -> None:
        """Args:
        engine: the database.
        matcher: the project's keywords and hashtags.
        reader: how messages read (sentiment, topics); called in a worker thread.
        detector: the language detection the conversations use.
        notice: what the pinned notice says of the project.
        """
        self._db = engine
        self.matcher = matcher
        self._reader = reader
        self._detector = detector
        self._notice = notice
        # One reading at a time, beside the event loop: listening must never slow the
        # conversations down, and a model need not be safe to call from several threads.
        self._reading = ThreadPoolExecutor(max_workers=1, thread_name_prefix="listening-reader")

    @property
    def database(self) -> Engine:
        """The database heard messages are kept in."""
        return self._db

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages served, the default one first."""
        default = self._detector.default
        return (default, *(lang for lang in self._detector.languages if lang != default))

    def served(self, language: str | None) -> str | None:
        """`language` (e.g. "fr-CA") when it is served, else None."""
        short = (language or "").split("-")[0].lower()
        return short if short in self._detector.languages else None

    def close(self) -> None:
        """Lets the reading thread go once what it holds is read."""
        self._reading.shutdown(wait=False, cancel_futures=False)

    # --- hearing ---------------------------------------------------------------------------

    def opted_out(self, *, channel: str, member: str) -> bool:
        """Whether `member` asked not to be listened to on `channel`."""
        with Session(self._db) as session:
            return store.has_opted_out(session=session, channel=channel, member=member)

    def keeps(self, message: GroupMessage) -> bool:
        """Whether `message` is to be heard: it mentions the project and its author did not opt
        out. Decided when the update is stored, so that nothing else leaves text behind."""
        if not self.matcher.find(message.text):
            return False
        return not self.opted_out(channel=message.channel, member=message.member)

    async def handle(self, item: Mapping[str, Any]) -> None:
        """Carries out what the intake kept: a message to hear, or an edit to forget."""
        if HEAR in item:
            await self.hear(GroupMessage.from_payload(item[HEAR]))
        elif FORGET in item:
            self.forget(**item[FORGET])
        else:
            raise ValueError(f"not a listening payload: {sorted(item)}")

    async def hear(self, message: GroupMessage) -> HeardMessage | None:
        """Stores `message` with its keywords, language and reading, or updates it if it was
        stored before (an edit). An edit that no longer mentions the project deletes it.
        Returns what is stored, None when nothing is."""
        keywords = self.matcher.find(message.text)
        if not keywords:
            self.forget(
                channel=message.channel,
                group_key=message.group_key,
                external_id=message.external_id,
            )
            return None
        if self.opted_out(channel=message.channel, member=message.member):
            return None
        guess = self._detector.detect(message.text, context=self.served(message.language_hint))
        reading = await self._read(message, guess.language)
        with Session(self._db) as session:
            group = store.ensure_group(
                session=session,
                channel=message.channel,
                group_key=message.group_key,
                title=message.title,
            )
            heard = store.keep_heard(
                session=session,
                group=group,
                external_id=message.external_id,
                member=message.member,
                text=message.text,
                language=guess.language,
                keywords=keywords,
                reading=reading,
                created_at=message.sent_at,
            )
        logger.debug(
            "heard message %s in %s group %s (%s)",
            message.external_id,
            message.channel,
            message.group_key,
            ", ".join(keywords),
        )
        return heard

    async def _read(self, message: GroupMessage, language: str) -> Reading | None:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._reading, partial(self._reader.read, message.text, language)
            )
        except Exception as exc:
            # Broad on purpose: whatever the model does wrong, the message is kept unread rather
            # than lost (its reading can be done again later). Only the error's type is logged:
            # its text might quote the citizen.
            logger.warning(
                "could not read message %s of %s group %s (%s); kept unread",
                message.external_id,
                message.channel,
                message.group_key,
                type(exc).__name__,
            )
            logger.debug("reader failure", exc_info=True)
            return None

    def forget(self, *, channel: str, group_key: str, external_id: str) -> bool:
        """Deletes a heard message (its edit no longer mentions the project); False if none."""
        with Session(self._db) as session:
            return store.drop_heard(
                session=session, channel=channel, group_key=group_key, external_id=external_id
            )

    # --- opting out ------------------------------------------------------------------------

    def opt_out(self, *, channel: str, member: str) -> int:
        """`member` is not listened to any more on `channel`; their heard messages there are
        deleted. Returns how many were."""
        with Session(self._db) as session:
            deleted = store.opt_out(session=session, channel=channel, member=member)
        logger.info("a %s member opted out of listening (%s messages deleted)", channel, deleted)
        return deleted

    def opt_in(self, *, channel: str, member: str) -> bool:
        """`member` is listened to again on `channel`; False if they had not opted out."""
        with Session(self._db) as session:
            withdrawn = store.opt_in(session=session, channel=channel, member=member)
        if withdrawn:
            logger.info("a %s member opted in to listening again", channel)
        return withdrawn

    def opt_answer(self, command: str, language: str | None) -> str:
        """The confirmation of /optout or /optin: in `language` when served, else in every
        served language."""
        served = self.served(language)
        return opt_answer(command == "optout", (served,) if served else self.languages)

    # --- notices ---------------------------------------------------------------------------

    def notice(self, *, platform: str, handle: str = "") -> str:
        """The bilingual notice for a group of `platform` (`handle`: the bot's @username)."""
        facts = self._notice
        if not facts.examples:
            facts = NoticeFacts(
                project=facts.project,
                contact=facts.contact,
                examples=(*self.matcher.keywords, *self.matcher.hashtags),
            )
        return notice_text(facts, platform=platform, languages=self.languages, handle=handle)


def listener_for(
    settings: Settings,
    *,
    database: Engine,
    knowledge: KnowledgeBase,
    detector: LanguageDetector,
    reader: Reader,
) -> Listener | None:
    """The listener the settings ask for; None when no group is listed for listening.

    Without LISTEN_KEYWORDS and LISTEN_HASHTAGS, it listens for the project's names in the
    knowledge base and the proper name they share (`project_terms`); for PROJECT_HASHTAG always.
    """
    if not (settings.listen_telegram_chats or settings.listen_discord_channels):
        return None
    keywords, hashtags, _ = settings.listened_terms(knowledge.name)
    matcher = Matcher(keywords, hashtags)
    logger.info(
        "listening in %s group(s) for: %s",
        len(settings.listen_telegram_chats) + len(settings.listen_discord_channels),
        ", ".join((*matcher.keywords, *matcher.hashtags)),
    )
    return Listener(
        engine=database,
        matcher=matcher,
        reader=reader,
        detector=detector,
        notice=NoticeFacts(
            project=dict(knowledge.name),
            contact=(knowledge.contact.email, knowledge.contact.phone),
        ),
    )
