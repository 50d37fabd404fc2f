"""Scripted dialogue for tests that talk to the conversation core: a stand-in for Rasa that
understands a few lines and runs their actions through the real action server, and the core
wired to it (`scripted_core`).

Usage::

    dialogue = ScriptedDialogue()
    core = scripted_core(database, dialogue, detector, knowledge, desk=desk)
    await core.handle(IncomingMessage(..., text="je veux parler à quelqu'un"))  # a handoff
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine

from bot.common.calendar import BusinessCalendar
from bot.common.categories import ConcernCategorizer
from bot.common.language import LanguageDetector
from bot.common.types import Interpretation
from bot.core.actions import ActionServer
from bot.core.conversation import ConversationCore
from bot.desk.service import Desk
from bot.dialogue.engine import DialogueEngine, DialogueReply, DialogueUnavailable
from bot.knowledge import KnowledgeBase
from bot.listening.concerns import ConcernJudge, Heard, Judgement, decide
from bot.listening.reading import Reader
from bot.participation.service import Participation
from bot.register.hearing import ConcernHearing
from bot.register.service import Register
from bot.settings import PROJECT_ROOT
from bot.updates.subscriptions import Subscriptions

CATEGORIZER = ConcernCategorizer.from_nlu_file(
    PROJECT_ROOT / "nlu" / "conversation" / "report_concern.yml"
)

# What the scripted dialogue understands: text -> intent (and the action Rasa would run).
SCRIPT = {
    "je veux parler à quelqu'un": ("ask_human", "action_request_human"),
    "i want to talk to a person": ("ask_human", "action_request_human"),
    "blorp zzz": ("nlu_fallback", "action_unknown_question"),
    "qwerty uiop": ("nlu_fallback", "action_unknown_question"),
    "la poussière rend mes enfants malades": ("report_concern", "action_record_concern"),
    "j'ai une idée : une patinoire avec le fonds communautaire": (
        "share_idea",
        "action_record_idea",
    ),
    "idea: a skating rink paid by the community fund": ("share_idea", "action_record_idea"),
    "suggestion : une piste cyclable sous la ligne": ("share_idea", "action_record_idea"),
    "je veux m'impliquer": ("volunteer", "action_offer_volunteer"),
    "how can i help?": ("volunteer", "action_offer_volunteer"),
    "je peux interpréter en anglais aux séances": ("change_language", "action_change_language"),
    "parle-moi en anglais": ("change_language", "action_change_language"),
    "je peux distribuer l'infolettre aux aînés du rang 4": (
        "subscribe_updates",
        "action_subscribe",
    ),
    "avez-vous pensé à un babillard des nouvelles au dépanneur?": (
        "subscribe_updates",
        "action_subscribe",
    ),
    "abonnez-moi aux nouvelles": ("subscribe_updates", "action_subscribe"),
    "bravo pour le projet": ("express_support", None),
    "great project, well done": ("express_support", None),
}


class ActingDialogue(DialogueEngine):
    """A dialogue stand-in that runs actions on `actions`, the real action server, once
    `scripted_core` has given it one."""

    def __init__(self) -> None:
        self.actions: ActionServer | None = None


class ScriptedDialogue(ActingDialogue):
    """Understands the lines of `SCRIPT` and runs their action through the real action server,
    as Rasa would; answers anything else with an FAQ reply."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def respond(
        self,
        *,
        sender_id: str,
        text: str,
        metadata: Mapping[str, Any],
        told_language: str | None = None,
    ) -> DialogueReply:
        self.calls.append(text)
        intent, action = SCRIPT.get(text.lower(), ("faq/schedule", None))
        if intent == "express_support":
            return DialogueReply(["Merci de votre message."], _read(intent))
        if action is None or self.actions is None:
            return DialogueReply(["Les travaux commencent au printemps."], _read(intent))
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "intent_ranking": [],
            "entities": [],
            "metadata": dict(metadata),
        }
        answer = await self.actions.run(
            {
                "next_action": action,
                "sender_id": sender_id,
                "tracker": {"sender_id": sender_id, "slots": {}, "latest_message": latest},
            }
        )
        return DialogueReply([r["text"] for r in answer["responses"] if "text" in r], _read(intent))

    async def parse(self, text: str) -> Interpretation:
        return _read(SCRIPT.get(text.lower(), ("faq/schedule", None))[0])

    async def is_ready(self) -> bool:
        return True


def _read(intent: str) -> Interpretation:
    return Interpretation(intent=intent, confidence=0.9)


def scripted_core(
    database: Engine,
    dialogue: ActingDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
    *,
    desk: Desk | None = None,
    reader: Reader | None = None,
    subscriptions: Subscriptions | None = None,
    judge: ConcernJudge | None = None,
    participation: Participation | None = None,
) -> ConversationCore:
    """The conversation core answering through `dialogue`, whose actions run on the real
    action server (French and English, sharing the core's register and its `desk`); turns
    time out after 5 s and there is no first-contact notice. Concerns are heard by `judge`
    (without one, the dialogue's `report_concern` intent alone decides); the actions hear
    ideas and offers to help through `participation`, as the core does."""
    register = Register(engine=database, calendar=BusinessCalendar())
    dialogue.actions = ActionServer(
        engine=database,
        knowledge=knowledge,
        register=register,
        languages=("fr", "en"),
        default_language="fr",
        desk=desk,
        participation=participation,
    )
    return ConversationCore(
        engine=database,
        dialogue=dialogue,
        detector=detector,
        turn_timeout=5.0,
        register=register,
        first_contact_notice=False,
        desk=desk,
        subscriptions=subscriptions,
        reader=reader,
        hearing=ConcernHearing(
            register=register, judge=judge, categorizer=CATEGORIZER, knowledge=knowledge
        ),
        participation=participation,
    )


class FakeDialogue(DialogueEngine):
    """A dialogue engine that answers from a function, or fails on demand."""

    def __init__(self, answer: Callable[[str, Mapping[str, Any]], list[str]] | None = None) -> None:
        self.answer = answer or (lambda text, metadata: [f"echo[{metadata['language']}]: {text}"])
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.told: list[str | None] = []  # the language each turn said the engine was told
        self.failing = False
        self.intent = "faq/noise"
        self.actions: list[Callable[[str, Mapping[str, Any]], None]] = []

    async def respond(
        self,
        *,
        sender_id: str,
        text: str,
        metadata: Mapping[str, Any],
        told_language: str | None = None,
    ) -> DialogueReply:
        self.calls.append((sender_id, text, dict(metadata)))
        self.told.append(told_language)
        if self.failing:
            raise DialogueUnavailable("the fake engine is down")
        for action in self.actions:
            action(sender_id, metadata)
        return DialogueReply(
            self.answer(text, metadata), Interpretation(intent=self.intent, confidence=0.8)
        )

    async def parse(self, text: str) -> Interpretation:
        if self.failing:
            raise DialogueUnavailable("the fake engine is down")
        return Interpretation(intent="greet", confidence=1.0)

    async def is_ready(self) -> bool:
        return not self.failing


class ScriptedJudge:
    """Hears what its script says (by the start of the text); counts the texts it heard."""

    def __init__(self, script: dict[str, tuple[float, float, str]] | None = None) -> None:
        self.script = script or {}
        self.heard: list[str] = []
        self.failing: Exception | None = None

    def hear(self, text: str) -> Heard:
        self.heard.append(text)
        if self.failing is not None:
            raise self.failing
        for start, (grievance, objection, category) in self.script.items():
            if text.startswith(start):
                return Heard(grievance, objection, category)
        return Heard(0.02, 0.01, "other")

    def judge(self, heard: Heard | None, *, intent: str | None, text: str) -> Judgement:
        return decide(
            heard,
            intent=intent,
            threshold=0.5,
            intent_threshold=0.25,
            fallback_category=CATEGORIZER.categorize(text).category,
        )
