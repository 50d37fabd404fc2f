"""The conversation core: every channel hands its messages here.

For each message it detects the language (with the conversation as context),
stores the message before anything else can fail, asks the dialogue engine,
stores the replies and hands them back. When the engine is down or slow the
citizen still gets an honest answer within seconds and the message is marked
for a person. Nothing here knows about Telegram, Discord, HTTP or Rasa.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.answering.relevance import AnswerChoice, GuardedAnswerer
from bot.common.commands import COMMAND_NAMES, command_list
from bot.common.ids import stored_id
from bot.common.language import LanguageDetector, LanguageGuess
from bot.common.phrases import ATTACHMENT_NAMES, STATUS_NAMES, say
from bot.common.text import ERASED, clean_text, for_engine, valid_text
from bot.common.types import (
    Attachment,
    Choice,
    IncomingMessage,
    Interpretation,
    Reply,
    TranscriptLine,
    TurnResult,
)
from bot.core import erasure
from bot.core.erasure import Erasure
from bot.core.person import PersonCalls
from bot.desk.service import Desk
from bot.dialogue.engine import DialogueEngine, DialogueUnavailable
from bot.listening.concerns import Heard
from bot.listening.intents import HeardIntent, acted_intent, yields
from bot.listening.reading import Reader
from bot.metrics import DIALOGUE_FAILURES, TURN_SECONDS, TURNS
from bot.participation.service import AfterTurn, Participation
from bot.register.hearing import ConcernHearing
from bot.register.service import Register
from bot.storage import repository
from bot.storage.database import database_threads as thread_count
from bot.storage.models import (
    Concern,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    utc_now,
)
from bot.storage.turns import TurnLocks
from bot.updates.subscriptions import Subscriptions

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What is said about these stays out of a group: the group sees a short acknowledgement and an
# invitation to continue in private (the action itself still happens and is stored).
PRIVATE_INTENTS = frozenset(
    {
        "report_concern",
        "ask_concern_status",
        "ask_human",
        "forget_me",
        "volunteer",
    }
)
# Intents whose own answer is replaced by the concern's when a concern is heard: the concern's
# acknowledgement and the reviewed answer on its subject say more than "I am not sure I
# understood" or "that is outside the project".
ANSWERED_BY_THE_CONCERN = frozenset({"report_concern", "nlu_fallback", "out_of_scope"})
# Subscribing is not personal: news asked for in a group is posted in that group, and the
# answer says so (bot.updates.subscriptions), so it is given there in full.

# Attachments that say nothing a person needs to see (a sticker is a reaction, not a message).
DECORATIVE_ATTACHMENTS = frozenset({"sticker"})

# The web chat shows its introduction (with the notice) before the first message; commands such
# as /start say it themselves.
FIRST_CONTACT_NOTICE_SHOWN_ELSEWHERE = frozenset({"web", "terminal"})
# Channels whose messages nobody sends again after a stop (Telegram and Discord updates are
# stored by an intake that handles them again), and how old a turn still "received" must be
# to have been cut short rather than under way.
RESENT_BY_NOBODY = ("web", "terminal")
INTERRUPTED_AFTER = timedelta(minutes=2)
LANGUAGE_CHOICES = (
    Choice(label="Français", value="language:fr"),
    Choice(label="English", value="language:en"),
)


@dataclasses.dataclass(frozen=True)
class _Opened:
    """A turn's message, stored, and what was known of it before the dialogue."""

    conversation: Conversation
    stored: Message
    language: str
    first_contact: bool
    edited: Message | None  # the message this one edits, on platforms that edit
    concern: Concern | None  # the concern recorded from the edited message, if any


@dataclasses.dataclass(frozen=True)
class _Before:
    """A message answered before the dialogue, and whether it is heard for a concern too."""

    texts: list[str]
    hear: bool = False


@dataclasses.dataclass(frozen=True)
class _Turn:
    """What a turn decided, to be stored."""

    conversation: Conversation
    message: IncomingMessage
    message_id: int
    text: str
    language: str
    texts: list[str]
    handled: bool  # answered before the dialogue (a confirmation, a rating...)
    answered: bool
    interpretation: Interpretation | None
    choice: AnswerChoice | None
    kept: bool  # attachments kept for a person
    asked_dialogue: bool
    told: str | None  # the language the dialogue engine now holds (None: unknown)


class ConversationCore:
    """Turns incoming messages into stored, answered turns."""

    def __init__(
        self,
        *,
        engine: Engine,
        dialogue: DialogueEngine,
        detector: LanguageDetector,
        turn_timeout: float = 4.0,
        project_name: dict[str, str] | None = None,
        project_notice: dict[str, str] | None = None,
        register: Register | None = None,
        retention_days: int = 730,
        first_contact_notice: bool = True,
        desk: Desk | None = None,
        subscriptions: Subscriptions | None = None,
        reader: Reader | None = None,
        hearing: ConcernHearing | None = None,
        answers: GuardedAnswerer | None = None,
        turn_locks: TurnLocks | None = None,
        database_threads: int | None = None,
        participation: Participation | None = None,
    ) -> None:
        self._db = engine
        # A turn's database work runs in threads of its own, off the event loop (which keeps
        # serving the other citizens meanwhile): by default one on SQLite (its writes take
        # turns anyway: more would only wait on its lock), as many as the connection pool on
        # PostgreSQL; 0 keeps it on the event loop.
        threads = thread_count(engine) if database_threads is None else database_threads
        self._db_threads = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="turn-db")
            if threads
            else None
        )
        self._dialogue = dialogue
        self._detector = detector
        self._turn_timeout = turn_timeout
        self._project_name = project_name or {}
        self._project_notice = project_notice or {}
        self._register = register
        self._retention_days = retention_days
        self._first_contact_notice = first_contact_notice
        self._desk = desk
        self._turn_locks = turn_locks
        # Every decision of the turn to bring a person in, and the request to be forgotten.
        self._person = PersonCalls(desk=desk)
        self._erasure = Erasure(self._forget_in_dialogue)
        self._subscriptions = subscriptions or Subscriptions()
        # Consultations, the idea box's neighbours and the engaged members (the common project).
        self._participation = participation or Participation()
        # Every message is heard for a concern (grievance or objection), apart from its intent.
        self._hearing = hearing
        # A reviewed answer goes out only when it contains what was asked (else a passage of the
        # project's documents, or an honest "no reviewed answer").
        self._answers = answers
        # Every citizen's message is read (sentiment, topics) after its turn, off the event loop;
        # the tasks are kept here so that none is lost before it ends (see `settle_readings`).
        self._reader = reader
        self._readings: set[asyncio.Task[None]] = set()
        self._swept_to = 0  # the last message the sweep of missed readings looked at
        # Turns of one conversation run one at a time, so replies keep their order. A lock
        # lives only while some turn holds or awaits it (weak values), so idle ones go away.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the assistant serves."""
        return self._detector.languages

    async def handle(self, message: IncomingMessage) -> TurnResult:
        """Stores `message`, asks the dialogue engine and returns the stored replies.

        A message whose `external_id` was handled before gets its stored replies back
        (`replayed`), so a platform's redelivery is never answered twice.
        """
        message = _valid(message)
        started = time.perf_counter()
        async with self._turn(message):
            result = await self._handle(message)
        if not result.replayed:
            TURNS.labels(message.channel, "true" if result.answered else "false").inc()
            TURN_SECONDS.labels(message.channel).observe(time.perf_counter() - started)
        return result

    async def command(
        self, message: IncomingMessage, name: str, argument: str | None = None
    ) -> TurnResult:
        """Answers a command typed on a chat platform (see `bot.common.commands`).

        The command and its answer are stored like any exchange; no dialogue engine is needed.
        """
        message = _valid(message)
        async with self._turn(message):
            return self._command(message, name.lower(), (argument or "").strip().lower())

    async def keep_for_person(self, message: IncomingMessage, reason: str) -> TurnResult:
        """For a message the assistant could not handle: stores it (if it was not), marks it
        unanswered, opens a request for a person and says so honestly."""
        async with self._turn(message):
            with self.session() as session:
                conversation = self._conversation(session, message)
                stored = None
                if message.external_id is not None:
                    stored = repository.incoming_by_external_id(
                        session=session, conversation=conversation, external_id=message.external_id
                    )
                language = self._known_language(conversation, message)
                if stored is None:
                    stored = repository.add_message(
                        session=session,
                        conversation=conversation,
                        direction=Direction.INCOMING,
                        text=message.text,
                        language=None,
                        status=MessageStatus.RECEIVED,
                        external_id=message.external_id,
                    )
                message_id = stored_id(stored.id)
                self._person.keep(session, conversation, message_id, message.text, language, reason)
                text = say("engine_unavailable", language)
                # Unanswered and told so in one transaction (see `repository.answer_incoming`).
                repository.answer_incoming(
                    session=session,
                    conversation=conversation,
                    message_id=message_id,
                    status=MessageStatus.UNANSWERED,
                    intent=None,
                    confidence=None,
                    texts=[text],
                    language=language,
                )
        self._read_later(message_id, stored.text, language)
        return TurnResult(
            conversation_id=conversation.public_id,
            stored_conversation_id=conversation.id,
            message_id=message_id,
            language=language,
            replies=(Reply(text=text, language=language),),
            answered=False,
        )

    def introduction(self, language: str) -> str:
        """The assistant's presentation: it is a bot, what it does, what happens to messages."""
        return say(
            "intro",
            language,
            name=self._project_name.get(language, self._project_name.get("fr", "")),
            notice=self._project_notice.get(language, self._project_notice.get("fr", "")),
            days=self._retention_days,
        ).strip()

    @contextlib.asynccontextmanager
    async def _turn(self, message: IncomingMessage) -> AsyncIterator[None]:
        """One turn at a time per conversation: in this process (an asyncio lock), and across
        processes sharing PostgreSQL (the conversation's turn lock)."""
        async with self._lock(message):
            if self._turn_locks is None:
                yield
                return
            async with self._turn_locks.held(f"{message.channel}:{message.conversation_key}"):
                yield

    def _lock(self, message: IncomingMessage) -> asyncio.Lock:
        key = (message.channel, message.conversation_key)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def history(
        self, *, channel: str, conversation_key: str, limit: int = 50
    ) -> list[TranscriptLine]:
        """The last messages of a conversation, both ways, oldest first."""
        with self.session() as session:
            rows = repository.recent_messages(
                session=session, channel=channel, external_id=conversation_key, limit=limit
            )
        return [
            TranscriptLine(from_citizen=m.direction == Direction.INCOMING, text=m.text)
            for m in rows
        ]

    def notices(
        self, *, channel: str, conversation_key: str, after: int = 0
    ) -> list[tuple[int, str]]:
        """(id, text) of what the project sent on its own initiative after message `after`
        (a team's answer to a concern): for channels that fetch rather than receive."""
        with self.session() as session:
            rows = repository.notices_since(
                session=session, channel=channel, external_id=conversation_key, after=after
            )
        return [(stored_id(m.id), m.text) for m in rows]

    def session(self) -> Session:
        """A database session (for channels that need to read what the core stored)."""
        return Session(self._db, expire_on_commit=False)

    async def _in_db(self, work: Callable[..., T], /, *args: Any) -> T:
        """Runs `work(*args)` (database work of a turn) in the turn's database threads."""
        if self._db_threads is None:
            return work(*args)
        return await asyncio.get_running_loop().run_in_executor(self._db_threads, work, *args)

    def _open_turn(self, message: IncomingMessage, text: str) -> _Opened | TurnResult:
        """Finds the conversation and stores the message (in a database thread); a message
        handled before gets its stored outcome back instead."""
        with self.session() as session:
            conversation = self._conversation(session, message)
            stored: Message | None = None
            if message.external_id is not None:
                stored = repository.incoming_by_external_id(
                    session=session, conversation=conversation, external_id=message.external_id
                )
                if stored is not None and stored.status != MessageStatus.RECEIVED:
                    return self._replay(session, conversation, stored)
            first_contact = stored is None and not repository.recent_messages(
                session=session,
                channel=conversation.channel,
                external_id=conversation.external_id,
                limit=1,
            )
            if message.language_choice in self.languages:
                repository.set_conversation_language(
                    session=session,
                    conversation=conversation,
                    language=str(message.language_choice),
                    pinned=True,
                )
            context = conversation.language or _served(message.language_hint, self.languages)
            guess = self._detector.detect(text, context=context)
            language = self._choose_language(session, conversation, guess)
            edited = self._edited_message(session, conversation, message)
            if stored is None:
                stored = repository.add_message(
                    session=session,
                    conversation=conversation,
                    direction=Direction.INCOMING,
                    text=message.text,
                    language=guess.language,
                    language_trusted=guess.trusted,
                    status=MessageStatus.RECEIVED,
                    external_id=message.external_id,
                    edit_of=edited.id if edited else None,
                    attachments=[{"kind": a.kind, **dict(a.details)} for a in message.attachments],
                )
            # else: stored before a crash and never answered: this is the retry.
            edited_concern = (
                repository.concern_of_message(session=session, message_id=edited.id)
                if edited is not None and edited.id is not None
                else None
            )
        return _Opened(conversation, stored, language, first_contact, edited, edited_concern)

    async def _handle(self, message: IncomingMessage) -> TurnResult:
        text = clean_text(message.text)
        opened = await self._in_db(self._open_turn, message, text)
        if isinstance(opened, TurnResult):
            return opened
        conversation, stored, language = opened.conversation, opened.stored, opened.language
        first_contact, edited, edited_concern = opened.first_contact, opened.edited, opened.concern
        message_id = stored_id(stored.id)

        if conversation.erase_requested_at is None:
            at_desk = await self._in_db(self._to_desk, conversation, message, message_id, language)
            if at_desk is not None:
                self._read_later(message_id, stored.text, language)
                return at_desk

        answered = True
        interpretation: Interpretation | None = None
        choice: AnswerChoice | None = None
        texts: list[str] = []
        asked_dialogue, told = False, conversation.dialogue_language
        kept = [a for a in message.attachments if a.kind not in DECORATIVE_ATTACHMENTS]
        before = self._before_dialogue(conversation, text, language)
        if before is not None:
            texts = before.texts
            if before.hear and text and self._hearing is not None:
                # A vote, an open answer or a membership answer may carry a concern too: it is
                # recorded as always (its acknowledgement first), never taken for an answer only.
                heard = await self._hearing.hear(text)
                texts = await self._in_db(
                    self._concern_step,
                    conversation,
                    message,
                    message_id,
                    text,
                    language,
                    heard,
                    None,
                    texts,
                )
        elif edited is not None and clean_text(edited.text) == text and not message.attachments:
            pass  # an edit that changed nothing the assistant reads (e.g. a link preview)
        elif edited_concern is not None:
            # The concern keeps its reference: the edit is stored beside it, never a second one.
            texts = [say("edit_of_concern", language, reference=edited_concern.reference)]
        elif text:
            hearing = self._start_hearing(text)
            proposal = asyncio.create_task(self._participation.hear(text), name="hear-idea")
            texts, interpretation, answered, told = await self._ask_dialogue(
                conversation, text, message_id, language, message.channel
            )
            asked_dialogue = True
            choice = await self._check_answer(text, language, interpretation, answered)
            if choice is not None and self._answers is not None:
                texts = [self._answers.reply(choice, language)]
            dialogue_intent = interpretation.intent if interpretation else None
            heard_intent = await proposal
            if interpretation is not None and answered:
                acted = acted_intent(interpretation.intent, heard_intent)
                if heard_intent is not None and acted != interpretation.intent:
                    # An idea or an offer to help the dialogue took for something else (taken
                    # already by the action of a request that `yields` to it).
                    if not yields(interpretation.intent, heard_intent):
                        texts = await self._in_db(
                            self._heard_intent_step,
                            conversation,
                            message_id,
                            text,
                            language,
                            heard_intent,
                            interpretation.intent,
                            texts,
                        )
                    interpretation = dataclasses.replace(
                        interpretation, intent=acted, confidence=heard_intent.probability
                    )
            if hearing is not None:
                heard = await hearing
                texts = await self._in_db(
                    self._concern_step,
                    conversation,
                    message,
                    message_id,
                    text,
                    language,
                    heard,
                    interpretation,
                    texts,
                    choice,
                    dialogue_intent,
                )
            if kept:
                texts.append(
                    say("attachment_kept", language, kind=_attachment_name(kept, language))
                )
        elif kept:
            texts = [say("attachment_only", language, kind=_attachment_name(kept, language))]
        elif message.attachments:
            texts = [say("sticker", language)]
        else:
            texts = [say("empty_message", language)]

        if (
            self._first_contact_notice
            and first_contact
            and message.channel not in FIRST_CONTACT_NOTICE_SHOWN_ELSEWHERE
        ):
            # What is kept, for how long, who reads it: said once, before anything else.
            texts.insert(0, say("privacy_notice", language, days=self._retention_days))

        result = await self._in_db(
            self._close_turn,
            _Turn(
                conversation=conversation,
                message=message,
                message_id=message_id,
                text=text,
                language=language,
                texts=texts,
                handled=before is not None,
                answered=answered,
                interpretation=interpretation,
                choice=choice,
                kept=bool(kept),
                asked_dialogue=asked_dialogue,
                told=told,
            ),
        )
        self._read_later(message_id, stored.text, result.language, result.intent)
        return result

    def _close_turn(self, turn: _Turn) -> TurnResult:
        """Stores the outcome of a turn: the replies, the message's status, a request for a
        person or a knowledge gap when there is one (in a database thread)."""
        conversation, message, message_id, text = (
            turn.conversation,
            turn.message,
            turn.message_id,
            turn.text,
        )
        language, texts, answered = turn.language, list(turn.texts), turn.answered
        interpretation, choice = turn.interpretation, turn.choice
        with self.session() as session:
            # The language may have been switched by the dialogue (action_change_language).
            conversation = session.get(Conversation, conversation.id) or conversation
            if turn.asked_dialogue and conversation.dialogue_language != turn.told:
                # What the dialogue engine holds, kept where every replica reads it.
                conversation.dialogue_language = turn.told
                session.add(conversation)
            if conversation.language_pinned and conversation.language:
                language = conversation.language
            intent = interpretation.intent if interpretation else None
            if not turn.handled and text and answered:
                texts += self._person.after_turn(
                    session,
                    conversation,
                    place=message.place,
                    message_id=message_id,
                    text=text,
                    language=language,
                    intent=intent,
                )
            after = AfterTurn()
            if not turn.handled and text and answered and message.place != "group":
                after = self._participation.after_turn(session, conversation, intent, language)
                texts += after.texts
            if message.place == "group" and intent is not None:
                texts = self._group_safe(session, texts, intent, message, message_id, language)
            if not answered:
                self._person.keep(
                    session, conversation, message_id, text, language, "engine_unavailable"
                )
            if choice is not None and choice.kind != "reviewed":
                # No reviewed answer contains what was asked: the team sees the question among
                # the knowledge gaps (with the passage quoted instead, if any).
                repository.record_unanswered_question(
                    session=session,
                    conversation=conversation,
                    message_id=message_id,
                    text=text,
                    language=language,
                    reason="passage" if choice.kind == "passage" else "no_reviewed_answer",
                    intent=intent,
                    confidence=interpretation.confidence if interpretation else None,
                    answered_with=choice.answered_with,
                )
            if turn.kept:
                self._person.for_attachment(session, conversation, message_id)
            # Last, and in one transaction: the message handled and its replies stored (a
            # process dying before this commit leaves the turn to be done again on redelivery).
            stored = repository.answer_incoming(
                session=session,
                conversation=conversation,
                message_id=message_id,
                status=MessageStatus.ANSWERED if answered else MessageStatus.UNANSWERED,
                intent=intent,
                confidence=interpretation.confidence if interpretation else None,
                texts=texts,
                language=language,
            )
            if after.invite_id is not None and stored:
                self._participation.linked(session, after, stored[-1].id)
            with_person = self._person.with_person(session, conversation)
        replies = [Reply(text=t, language=language) for t in texts]
        if after.choices and replies:
            replies[-1] = Reply(text=texts[-1], language=language, choices=after.choices)
        return TurnResult(
            conversation_id=conversation.public_id,
            stored_conversation_id=conversation.id,
            message_id=message_id,
            language=language,
            replies=tuple(replies),
            answered=answered,
            intent=intent,
            with_person=with_person,
        )

    def recover_interrupted(self, *, older_than: timedelta = INTERRUPTED_AFTER) -> int:
        """Messages whose turn was cut short (the process stopped between storing and
        answering them) on channels that do not send them again (the web chat, the terminal):
        marked unanswered and kept for a person, so none is silently left behind. Telegram and
        Discord updates are handled again by their intake instead. Returns how many."""
        cutoff = utc_now() - older_than
        with self.session() as session:
            rows = session.exec(
                select(Message, Conversation)
                .join(Conversation, col(Message.conversation_id) == col(Conversation.id))
                .where(
                    Message.direction == Direction.INCOMING,
                    Message.status == MessageStatus.RECEIVED,
                    col(Message.created_at) < cutoff,
                    col(Conversation.channel).in_(RESENT_BY_NOBODY),
                )
            ).all()
            for message, conversation in rows:
                self._person.give_up(
                    session,
                    conversation,
                    stored_id(message.id),
                    clean_text(message.text),
                    message.language or "fr",
                    "interrupted",
                )
        if rows:
            logger.warning("%d messages cut short by a stop were kept for a person", len(rows))
        return len(rows)

    def read_missed(self, *, older_than: timedelta = INTERRUPTED_AFTER, limit: int = 500) -> int:
        """Reads, in the background, citizens' messages whose reading (sentiment, topics) never
        happened: the process stopped between a turn and its reading, or the reader failed.
        Each call goes on from where the last one stopped (at most `limit` messages), so a
        message with nothing to read (a photo) is passed over, not read again and again.
        Returns how many readings were started."""
        if self._reader is None:
            return 0
        cutoff = utc_now() - older_than
        with self.session() as session:
            rows = session.exec(
                select(Message.id, Message.text, Message.language, Message.intent)
                .where(
                    col(Message.id) > self._swept_to,
                    Message.direction == Direction.INCOMING,
                    col(Message.sentiment).is_(None),
                    col(Message.status).is_not(None),
                    Message.status != MessageStatus.RECEIVED,
                    col(Message.created_at) < cutoff,
                )
                .order_by(col(Message.id))
                .limit(limit)
            ).all()
        started = 0
        for message_id, text, language, intent in rows:
            assert message_id is not None
            self._swept_to = message_id
            if text and text != ERASED and clean_text(text):
                self._read_later(message_id, text, language, intent)
                started += 1
        if started:
            logger.info("%d messages never read (sentiment, topics) are read now", started)
        return started

    async def settle_readings(self) -> None:
        """Waits for the readings of messages still under way: at shutdown, before the database
        closes (under `asyncio.timeout`), and in tests."""
        if self._readings:
            await asyncio.wait(set(self._readings))

    def _read_later(
        self, message_id: int, text: str, language: str | None, intent: str | None = None
    ) -> None:
        """Reads a citizen's message after its turn, in a worker thread: the reply does not wait
        for it, and a reader that fails or is slow never holds up or loses the message."""
        if self._reader is None or not clean_text(text):
            return  # nothing to read (a photo, a sticker): the fields stay empty
        task = asyncio.create_task(
            asyncio.to_thread(
                self._read_and_store, self._reader, message_id, text, language, intent
            ),
            name=f"read-message-{message_id}",
        )
        self._readings.add(task)
        task.add_done_callback(self._reading_done)

    def _forget_in_dialogue(self, sender_id: str) -> None:
        """Has the dialogue engine erase its copy of the conversation, in the background (the
        receipt is not held up); a failure is logged for the team to repeat it."""

        async def forget() -> None:
            try:
                await self._dialogue.forget(sender_id)
            except DialogueUnavailable as exc:
                logger.error(
                    "the dialogue engine could not forget an erased conversation (%s): its "
                    "in-memory copy goes when Rasa restarts",
                    exc,
                )

        task = asyncio.create_task(forget(), name="forget-in-dialogue")
        self._readings.add(task)
        task.add_done_callback(self._readings.discard)

    def _reading_done(self, task: asyncio.Task[None]) -> None:
        self._readings.discard(task)
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None:
            # Broad on purpose: whatever the reader or the database raised, the message is stored
            # and answered already; only its reading is missing. Never the words (personal data).
            logger.warning(
                "%s: its sentiment and topics stay empty (%s)",
                task.get_name(),
                type(failure).__name__,
            )
            logger.debug("reading failed", exc_info=failure)

    def _read_and_store(
        self, reader: Reader, message_id: int, text: str, language: str | None, intent: str | None
    ) -> None:
        """Reads the message (with the intent and the category of a concern recorded from it)
        and stores the reading on it and on its concerns. Runs in a worker thread."""
        concerns_of_message = select(Concern).where(Concern.message_id == message_id)
        with self.session() as session:
            categories = [c.category for c in session.exec(concerns_of_message)]
        category = next((c for c in categories if c != "other"), None)
        # No database connection is held while the model reads.
        reading = reader.read(clean_text(text), language, intent=intent, category=category)
        with self.session() as session:
            stored = session.get(Message, message_id)
            if stored is None or stored.text != text:
                return  # erased meanwhile (the citizen asked to be forgotten): nothing to keep
            stored.sentiment = reading.sentiment
            stored.sentiment_score = reading.score
            stored.topics = list(reading.topics)
            session.add(stored)
            for concern in session.exec(concerns_of_message):
                concern.sentiment = reading.score
                session.add(concern)
            session.commit()

    def _start_hearing(self, text: str) -> asyncio.Task[Heard | None] | None:
        """Starts hearing the message for a concern, in a worker thread, while the dialogue
        engine decides its answer (the turn waits for the slower of the two, not their sum)."""
        if self._hearing is None:
            return None
        return asyncio.create_task(self._hearing.hear(text), name="hear-concern")

    async def _check_answer(
        self,
        text: str,
        language: str,
        interpretation: Interpretation | None,
        answered: bool,
    ) -> AnswerChoice | None:
        """For a question the dialogue answered with a reviewed answer, what actually answers it
        (None: the dialogue's answer stands, as when the decision is off or cannot be made)."""
        if (
            self._answers is None
            or not answered
            or interpretation is None
            or not interpretation.intent.startswith("faq/")
        ):
            return None
        return await self._answers.choose(text, language)

    def _concern_step(
        self,
        conversation: Conversation,
        message: IncomingMessage,
        message_id: int,
        text: str,
        language: str,
        heard: Heard | None,
        interpretation: Interpretation | None,
        texts: list[str],
        choice: AnswerChoice | None = None,
        dialogue_intent: str | None = None,
    ) -> list[str]:
        """Records the concern the message carries, if any, and puts its acknowledgement before
        the turn's answer; returns what the citizen is told. The concern is judged with the
        dialogue's own intent (`dialogue_intent`, when the turn acts on another one)."""
        assert self._hearing is not None
        # Without an interpretation the dialogue engine failed: the message is kept for a person
        # all the same (see `_handle`), and a concern heard in it is recorded now, not lost.
        intent = interpretation.intent if interpretation else None
        judgement = self._hearing.judge(heard, intent=dialogue_intent or intent, text=text)
        if not judgement.concern:
            if intent == "report_concern":
                # The dialogue took it for a concern, the judgement not: nothing is recorded,
                # and the citizen is told how to report one (the message itself is stored).
                return [say("concern_not_heard", language)]
            return texts
        with self.session() as session:
            current = session.get(Conversation, conversation.id) or conversation
            recorded, acknowledgement = self._hearing.record(
                session=session,
                conversation=current,
                message_id=message_id,
                text=text,
                language=language,
                judgement=judgement,
            )
            told = [
                acknowledgement,
                *self._person.for_concern(
                    session, current, message_id, recorded.concern.category, language
                ),
            ]
        if intent is None:
            return [*told, *texts]
        if intent.startswith("faq/"):
            answer = [*told, say("as_for_your_question", language), *texts]
            if choice is not None and choice.kind != "reviewed" and not recorded.attached:
                # No reviewed answer contains what was asked; the one on the concern's subject
                # still says what the project has committed to, introduced as such.
                answer += self._hearing.related_answer(recorded.concern.category, language)
            return answer
        if intent in ANSWERED_BY_THE_CONCERN or not texts:
            if recorded.attached:
                return told
            return [*told, *self._hearing.related_answer(recorded.concern.category, language)]
        return [*told, *texts]

    def _heard_intent_step(
        self,
        conversation: Conversation,
        message_id: int,
        text: str,
        language: str,
        heard: HeardIntent,
        dialogue_intent: str,
        texts: list[str],
    ) -> list[str]:
        """Records the idea, or offers to join, that the intent reader heard (see
        `Participation.take_heard`); returns what the citizen is told."""
        with self.session() as session:
            current = session.get(Conversation, conversation.id) or conversation
            return self._participation.take_heard(
                session,
                current,
                message_id=message_id,
                text=text,
                language=language,
                heard=heard,
                dialogue_intent=dialogue_intent,
                texts=texts,
            )

    async def _ask_dialogue(
        self, conversation: Conversation, text: str, message_id: int, language: str, channel: str
    ) -> tuple[list[str], Interpretation | None, bool, str | None]:
        """The dialogue engine's replies, whether it answered, and the language it now holds
        for the conversation (None: unknown); an honest apology when it is down or too slow."""
        try:
            reply = await asyncio.wait_for(
                self._dialogue.respond(
                    sender_id=conversation.public_id,
                    text=for_engine(text),
                    metadata={"language": language, "message_id": message_id, "channel": channel},
                    told_language=conversation.dialogue_language,
                ),
                timeout=self._turn_timeout,
            )
        except (DialogueUnavailable, TimeoutError) as exc:
            logger.warning("dialogue engine unavailable for message %s: %r", message_id, exc)
            DIALOGUE_FAILURES.labels(
                "timeout" if isinstance(exc, TimeoutError) else "unavailable"
            ).inc()
            # It may have lost the conversation (an engine keeping it in memory, restarted):
            # the next turn tells it the language again.
            return [say("engine_unavailable", language)], None, False, None
        if not reply.texts and (
            reply.interpretation is None or reply.interpretation.intent != "report_concern"
        ):
            # An action failed and nothing was said: be honest, and keep it for a person. (For a
            # concern the dialogue says nothing on purpose: the concern step speaks.)
            return [say("engine_unavailable", language)], reply.interpretation, False, language
        return list(reply.texts), reply.interpretation, True, language

    def _to_desk(
        self, conversation: Conversation, message: IncomingMessage, message_id: int, language: str
    ) -> TurnResult | None:
        """During a handoff the message goes to the team and the assistant stays silent (but
        for a reminder, while nobody has joined yet, that the message reached the team)."""
        if self._desk is None:
            return None
        with self.session() as session:
            handoff = self._desk.open_handoff(session, stored_id(conversation.id))
            if handoff is None:
                return None
            texts = self._desk.citizen_wrote(session, conversation, handoff, message_id, language)
        return TurnResult(
            conversation_id=conversation.public_id,
            stored_conversation_id=conversation.id,
            message_id=message_id,
            language=language,
            replies=tuple(Reply(text=t, language=language) for t in texts),
            answered=True,
            with_person=True,
        )

    def _before_dialogue(
        self, conversation: Conversation, text: str, language: str
    ) -> _Before | None:
        """What is answered without the dialogue engine: the confirmation of an erasure the
        citizen asked for, a rating of the help of a person, and withdrawing, accepting or
        appealing one of their concerns."""
        if conversation.erase_requested_at is not None:
            with self.session() as session:
                current = session.get(Conversation, conversation.id)
                if current is not None and current.erase_requested_at is not None:
                    answered = self._erasure.answer(session, current, text, language)
                    return _Before(answered) if answered is not None else None
        if self._desk is not None and text:
            with self.session() as session:
                score = self._desk.take_rating(session, stored_id(conversation.id), text)
            if score is not None:
                return _Before([say("handoff_rated", language, score=score)])
        if not text:
            return None
        with self.session() as session:
            if self._register is not None:
                done = self._register.citizen_follow_up(
                    session=session, conversation=conversation, text=text
                )
                if done is not None:
                    return _Before(
                        [
                            self._follow_up_reply(reference, outcome, language)
                            for reference, outcome in done
                        ]
                    )
            # A vote in a consultation, or an answer about joining the engaged members.
            taken = self._participation.before_dialogue(session, conversation, text, language)
            return _Before(taken, hear=True) if taken is not None else None

    def _follow_up_reply(self, reference: str, outcome: str, language: str) -> str:
        if outcome == "not_yours":
            return say("concern_status_not_yours", language, reference=reference)
        if outcome.endswith("_refused"):
            status = "?"
            if self._register is not None:
                found = self._register.get(reference)
                status = STATUS_NAMES.get(found.status, {}).get(language, found.status)
            return say("concern_follow_up_refused", language, reference=reference, status=status)
        key = {
            "withdraw": "concern_withdrawn",
            "appeal": "concern_appealed",
            "accept": "concern_accepted",
        }[outcome]
        return say(key, language, reference=reference)

    def _group_safe(
        self,
        session: Session,
        texts: list[str],
        intent: str,
        message: IncomingMessage,
        message_id: int,
        language: str,
    ) -> list[str]:
        """Replies fit for a group: personal matters get a short note and an invitation to
        continue in private instead of details (the concern itself is recorded all the same, and
        a reviewed answer to a question asked with it is public information, given there)."""
        concern = repository.concern_of_message(session=session, message_id=message_id)
        if intent not in PRIVATE_INTENTS and concern is None:
            return texts
        link = (
            say("private_link", language, url=message.private_link) if message.private_link else ""
        )
        if concern is not None:
            public = [
                say("concern_recorded_public", language, reference=concern.reference, link=link)
            ]
            if intent.startswith("faq/"):
                public += [t for t in texts if t.strip() and concern.reference not in t]
            return public
        return [say("continue_in_private", language, link=link)]

    def _command(self, message: IncomingMessage, name: str, argument: str) -> TurnResult:
        with self.session() as session:
            conversation = self._conversation(session, message)
            if message.external_id is not None:
                stored = repository.incoming_by_external_id(
                    session=session, conversation=conversation, external_id=message.external_id
                )
                if stored is not None:
                    return self._replay(session, conversation, stored)
            language = self._known_language(conversation, message)
            choices: tuple[Choice, ...] = ()
            if name == "language" and argument in self.languages:
                language = argument
                repository.set_conversation_language(
                    session=session, conversation=conversation, language=language, pinned=True
                )
                texts = [say("language_switched", language)]
            elif name == "language":
                texts, choices = [say("choose_language", language)], self._language_choices()
            elif name == "start":
                texts = [self.introduction(language)]
                if len(self.languages) > 1:
                    texts.append(say("choose_language", language))
                    choices = self._language_choices()
            elif name == "forget" and argument in ("yes", "oui"):
                texts = self._erasure.now(session, conversation, language)
            elif name == "forget" and argument in ("no", "non"):
                texts = [erasure.cancel(session, conversation, language)]
            elif name == "forget":
                texts = [erasure.ask(session, conversation, language)]
                choices = erasure.choices(language)
            elif name in ("subscribe", "unsubscribe"):
                texts = self._subscriptions.command(
                    session=session,
                    conversation=conversation,
                    name=name,
                    argument=argument,
                    language=language,
                )
            elif name in ("vote", "volunteer"):
                texts, choices = self._participation.command(
                    session, conversation, name, argument, language
                )
            elif name == "help":
                texts = [say("help", language, commands=command_list(language))]
            else:
                texts = [
                    say("unknown_command", language),
                    say("help", language, commands=command_list(language)),
                ]
            # The command and its answer in one transaction, as a turn's are: a try cut short
            # leaves nothing stored and the command is done again on redelivery.
            incoming, _ = repository.record_exchange(
                session=session,
                conversation=conversation,
                text=message.text or f"/{name} {argument}".strip(),
                language=language,
                external_id=message.external_id,
                intent=f"/{name}" if name in COMMAND_NAMES else None,
                texts=texts,
            )
        replies = [Reply(text=t, language=language) for t in texts]
        if choices:
            replies[-1] = Reply(text=texts[-1], language=language, choices=choices)
        return TurnResult(
            conversation_id=conversation.public_id,
            stored_conversation_id=conversation.id,
            message_id=stored_id(incoming.id),
            language=language,
            replies=tuple(replies),
            answered=True,
            intent=f"/{name}",
        )

    def _known_language(self, conversation: Conversation, message: IncomingMessage) -> str:
        """The language to use when the message's text says nothing about it."""
        return (
            conversation.language
            or _served(message.language_hint, self.languages)
            or self._detector.default
        )

    def _language_choices(self) -> tuple[Choice, ...]:
        return tuple(c for c in LANGUAGE_CHOICES if c.value.split(":", 1)[1] in self.languages)

    def _conversation(self, session: Session, message: IncomingMessage) -> Conversation:
        return repository.get_or_create_conversation(
            session=session,
            channel=message.channel,
            external_id=message.conversation_key,
            citizen_id=message.sender_key,
            place=message.place if message.channel not in {"web", "terminal"} else None,
        )

    def _edited_message(
        self, session: Session, conversation: Conversation, message: IncomingMessage
    ) -> Message | None:
        if message.edit_of is None:
            return None
        return repository.incoming_by_external_id(
            session=session, conversation=conversation, external_id=message.edit_of
        )

    def _replay(self, session: Session, conversation: Conversation, stored: Message) -> TurnResult:
        """The stored outcome of a message handled before (a platform redelivered it)."""
        message_id = stored_id(stored.id)
        replies = repository.replies_to(session=session, message_id=message_id)
        language = replies[0].language if replies and replies[0].language else stored.language
        return TurnResult(
            conversation_id=conversation.public_id,
            stored_conversation_id=conversation.id,
            message_id=message_id,
            language=language or self._detector.default,
            replies=tuple(Reply(text=r.text, language=r.language or "") for r in replies),
            answered=stored.status == MessageStatus.ANSWERED,
            intent=stored.intent,
            replayed=True,
        )

    def _choose_language(
        self, session: Session, conversation: Conversation, guess: LanguageGuess
    ) -> str:
        """The language to answer in, remembering it in the conversation when it is certain."""
        current = conversation.language
        if conversation.language_pinned and current:
            # An explicit choice holds; only a long message clearly in the other language moves it.
            if guess.method == "langdetect" and guess.language != current:
                repository.set_conversation_language(
                    session=session,
                    conversation=conversation,
                    language=guess.language,
                    pinned=False,
                )
                return guess.language
            return current
        if guess.trusted and guess.language != current:
            repository.set_conversation_language(
                session=session, conversation=conversation, language=guess.language, pinned=False
            )
        return guess.language


def _served(language: str | None, languages: tuple[str, ...]) -> str | None:
    """`language` (e.g. "fr-CA", "en_US") reduced to a served language, or None."""
    if not language:
        return None
    base = language.replace("_", "-").split("-", 1)[0].lower()
    return base if base in languages else None


def _attachment_name(attachments: list[Attachment], language: str) -> str:
    kind = attachments[0].kind
    return ATTACHMENT_NAMES.get(kind, ATTACHMENT_NAMES["file"])[
        language if language in ("fr", "en") else "fr"
    ]


def _valid(message: IncomingMessage) -> IncomingMessage:
    """The message with text every storage can hold (a lone surrogate would fail to store and
    lose it)."""
    text = valid_text(message.text)
    conversation_key = valid_text(message.conversation_key)
    sender_key = valid_text(message.sender_key)
    if (text, conversation_key, sender_key) == (
        message.text,
        message.conversation_key,
        message.sender_key,
    ):
        return message
    return dataclasses.replace(
        message, text=text, conversation_key=conversation_key, sender_key=sender_key
    )
