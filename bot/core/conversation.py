"""The conversation core: every channel hands its messages here.

For each message it detects the language (with the conversation as context),
stores the message before anything else can fail, asks the dialogue engine,
stores the replies and hands them back. When the engine is down or slow the
citizen still gets an honest answer within seconds and the message is marked
for a person. Nothing here knows about Telegram, Discord, HTTP or Rasa.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from sqlalchemy import Engine
from sqlmodel import Session

from bot.core.language import LanguageDetector, LanguageGuess
from bot.core.phrases import say
from bot.core.text import clean_text, for_engine
from bot.core.types import IncomingMessage, Interpretation, Reply, TranscriptLine, TurnResult
from bot.dialogue.engine import DialogueEngine, DialogueUnavailable
from bot.storage import repository
from bot.storage.models import Conversation, Direction, MessageStatus

logger = logging.getLogger(__name__)


class ConversationCore:
    """Turns incoming messages into stored, answered turns."""

    def __init__(
        self,
        *,
        engine: Engine,
        dialogue: DialogueEngine,
        detector: LanguageDetector,
        turn_timeout: float = 4.0,
    ) -> None:
        self._db = engine
        self._dialogue = dialogue
        self._detector = detector
        self._turn_timeout = turn_timeout
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
        """Stores `message`, asks the dialogue engine and returns the stored replies."""
        key = (message.channel, message.conversation_key)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            return await self._handle(message)

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

    def session(self) -> Session:
        """A database session (for channels that need to read what the core stored)."""
        return Session(self._db, expire_on_commit=False)

    async def _handle(self, message: IncomingMessage) -> TurnResult:
        text = clean_text(message.text)
        with self.session() as session:
            conversation = repository.get_or_create_conversation(
                session=session,
                channel=message.channel,
                external_id=message.conversation_key,
                citizen_id=message.sender_key,
            )
            if message.language_choice in self.languages:
                repository.set_conversation_language(
                    session=session,
                    conversation=conversation,
                    language=str(message.language_choice),
                    pinned=True,
                )
            guess = self._detector.detect(text, context=conversation.language)
            language = self._choose_language(session, conversation, guess)
            incoming = repository.add_message(
                session=session,
                conversation=conversation,
                direction=Direction.INCOMING,
                text=message.text,
                language=guess.language,
                language_trusted=guess.trusted,
                status=MessageStatus.RECEIVED,
            )
        message_id = _required_id(incoming.id)

        answered = True
        interpretation: Interpretation | None = None
        if not text:
            texts = [say("empty_message", language)]
        else:
            try:
                reply = await asyncio.wait_for(
                    self._dialogue.respond(
                        sender_id=conversation.public_id,
                        text=for_engine(text),
                        metadata={
                            "language": language,
                            "message_id": message_id,
                            "channel": message.channel,
                        },
                    ),
                    timeout=self._turn_timeout,
                )
                texts, interpretation = reply.texts, reply.interpretation
            except (DialogueUnavailable, TimeoutError) as exc:
                logger.warning("dialogue engine unavailable for message %s: %r", message_id, exc)
                texts = []
            if not texts:
                # Down, too slow, or an action failed and nothing was said: be honest, keep it.
                texts = [say("engine_unavailable", language)]
                answered = False

        with self.session() as session:
            # The language may have been switched by the dialogue (action_change_language).
            conversation = session.get(Conversation, conversation.id) or conversation
            if conversation.language_pinned and conversation.language:
                language = conversation.language
            repository.finish_incoming(
                session=session,
                message_id=message_id,
                status=MessageStatus.ANSWERED if answered else MessageStatus.UNANSWERED,
                intent=interpretation.intent if interpretation else None,
                confidence=interpretation.confidence if interpretation else None,
            )
            if not answered:
                repository.record_unanswered_question(
                    session=session,
                    conversation=conversation,
                    message_id=message_id,
                    text=text,
                    language=language,
                    reason="engine_unavailable",
                )
                repository.open_human_request(
                    session=session,
                    conversation=conversation,
                    message_id=message_id,
                    reason="engine_unavailable",
                )
            repository.add_outgoing_messages(
                session=session, conversation=conversation, texts=texts, language=language
            )
        return TurnResult(
            conversation_id=conversation.public_id,
            message_id=message_id,
            language=language,
            replies=tuple(Reply(text=t, language=language) for t in texts),
            answered=answered,
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


def _required_id(value: int | None) -> int:
    if value is None:
        raise RuntimeError("a stored row has no id")
    return value
