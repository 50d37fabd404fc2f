"""The turn's concern step: every citizen message is heard for a concern, and a concern heard is
recorded before the question, if any, is answered.

The core starts `ConcernHearing.hear` as the message arrives, in a worker thread, so that the
model reads while the dialogue engine decides its answer; `judge` then combines what was heard
with the intent the dialogue understood, and `record` files the concern in the register and says
so (reference, reply-by date), in the citizen's language. This is the one place where a chat
message becomes a concern (the dialogue's `action_record_concern` only marks the turn).
"""

from __future__ import annotations

from sqlmodel import Session

from bot.common.categories import ConcernCategorizer
from bot.common.phrases import CATEGORY_NAMES, say
from bot.knowledge import KnowledgeBase, cite
from bot.listening.concerns import ConcernJudge, GuardedJudge, Heard, Judgement
from bot.register.service import Recorded, Register
from bot.storage.models import Conversation

# The reviewed answer that speaks to a concern of each category, quoted after recording it when
# the citizen asked nothing else.
CATEGORY_TOPIC = {
    "noise": "noise",
    "environment": "environment",
    "water": "environment",
    "traffic": "traffic",
    "property_value": "benefits",
    "property_damage": "noise",
    "health_safety": "health_safety",
    "economy": "jobs",
    "process": "consultation",
}


class ConcernHearing:
    """Hears, judges and records the concerns of citizens' messages.

    Args:
        register: where concerns are recorded.
        judge: the model that hears them (None: the dialogue's `report_concern` intent alone
            decides, as before the model existed).
        categorizer: files a concern under a category when there is no model.
        knowledge: the reviewed answers quoted after a concern.
    """

    def __init__(
        self,
        *,
        register: Register,
        judge: ConcernJudge | None,
        categorizer: ConcernCategorizer,
        knowledge: KnowledgeBase | None = None,
    ) -> None:
        self._register = register
        self._judge = GuardedJudge(judge, categorizer)
        self._kb = knowledge

    async def hear(self, text: str) -> Heard | None:
        """What the model hears in `text` (in a worker thread); None when it cannot be used, in
        which case the intent alone decides."""
        return await self._judge.hear(text)

    def judge(self, heard: Heard | None, *, intent: str | None, text: str) -> Judgement:
        """Whether the message is recorded, as what (see `ConcernJudge.judge`)."""
        return self._judge.judge(heard, intent=intent, text=text)

    def record(
        self,
        *,
        session: Session,
        conversation: Conversation,
        message_id: int,
        text: str,
        language: str,
        judgement: Judgement,
    ) -> tuple[Recorded, str]:
        """Records the concern (or adds the message to the citizen's open one on the same
        subject) and returns it with what the citizen is told."""
        kind = judgement.kind or "grievance"
        recorded = self._register.record(
            session=session,
            conversation=conversation,
            message_id=message_id,
            text=text,
            language=language,
            category=judgement.category or "other",
            kind=kind,
        )
        concern = recorded.concern
        respond_by = concern.respond_by.isoformat() if concern.respond_by else "—"
        if recorded.attached:
            return recorded, say(
                "concern_detail_added",
                language,
                reference=concern.reference,
                respond_by=respond_by,
            )
        key = "objection_recorded" if concern.kind == "objection" else "concern_recorded"
        return recorded, say(
            key,
            language,
            reference=concern.reference,
            category=CATEGORY_NAMES.get(concern.category, CATEGORY_NAMES["other"])[language],
            respond_by=respond_by,
        )

    def related_answer(self, category: str, language: str) -> list[str]:
        """The reviewed answer on a concern's subject, introduced as such (none for a category
        no reviewed answer speaks to)."""
        topic = CATEGORY_TOPIC.get(category)
        if self._kb is None or topic is None or topic not in self._kb.answers:
            return []
        return [say("related_answer", language), cite(self._kb.answers[topic], language)]
