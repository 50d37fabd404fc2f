"""A citizen's request to be forgotten, from the asking to the receipt: one home for it.

The request comes from the dialogue (`action_forget_me`, "effacez mes données") or a command
(`/forget`); it is asked to be confirmed, and the next "yes" within 15 minutes erases
(`bot.register.privacy.erase_citizen`), the dialogue engine's copy of the conversation too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session

from bot.common.phrases import say
from bot.common.types import Choice
from bot.register.privacy import erase_citizen
from bot.storage.models import Conversation, utc_now

logger = logging.getLogger(__name__)

CONFIRMATION_WINDOW = timedelta(minutes=15)
_YES = re.compile(
    r"^\s*(oui|yes|ouais|confirme|je confirme|confirm|ok|d'accord|effacer|erase)\b", re.I
)
_NO = re.compile(r"^\s*(non|no|annule|annuler|cancel|pas maintenant|not now)\b", re.I)

CHOICES = {
    "fr": (
        Choice(label="Oui, effacer", value="forget:yes"),
        Choice(label="Non", value="forget:no"),
    ),
    "en": (Choice(label="Yes, erase", value="forget:yes"), Choice(label="No", value="forget:no")),
}


def ask(session: Session, conversation: Conversation, language: str) -> str:
    """Notes that the citizen asked to be forgotten; returns the question asking them to
    confirm."""
    conversation.erase_requested_at = utc_now()
    session.add(conversation)
    session.commit()
    return say("forget_me_confirm", language)


def cancel(session: Session, conversation: Conversation, language: str) -> str:
    """The citizen said no: nothing is erased."""
    conversation.erase_requested_at = None
    session.add(conversation)
    session.commit()
    return say("forget_me_cancelled", language)


def choices(language: str) -> tuple[Choice, ...]:
    """The buttons that answer the confirmation question."""
    return CHOICES[language if language in CHOICES else "fr"]


class Erasure:
    """Carries out a confirmed request to be forgotten."""

    def __init__(self, forget_in_dialogue: Callable[[str], None]) -> None:
        # Has the dialogue engine drop its copy of the conversation (in the background).
        self._forget_in_dialogue = forget_in_dialogue

    def answer(
        self, session: Session, conversation: Conversation, text: str, language: str
    ) -> list[str] | None:
        """The citizen's message after they were asked to confirm: "yes" erases, "no" cancels,
        anything else lets the request lapse (None: the message is handled as usual)."""
        asked = conversation.erase_requested_at
        conversation.erase_requested_at = None
        session.add(conversation)
        session.commit()
        if asked is None or utc_now() - asked > CONFIRMATION_WINDOW:
            return None  # too late: an old "yes" never erases anything
        if _NO.match(text):
            return [say("forget_me_cancelled", language)]
        if not _YES.match(text):
            return None
        return self.now(session, conversation, language)

    def now(self, session: Session, conversation: Conversation, language: str) -> list[str]:
        """Erases the citizen at once (a confirmed request, or `/forget yes`); returns the
        receipt."""
        conversation.erase_requested_at = None
        receipt = erase_citizen(session=session, conversation=conversation, actor="citizen")
        logger.info("citizen erased on request (receipt %s)", receipt.receipt)
        self._forget_in_dialogue(conversation.public_id)
        return [
            say(
                "forget_me_done",
                language,
                messages=receipt.messages,
                concerns=receipt.concerns,
                receipt=receipt.receipt,
                date=receipt.at.date().isoformat(),
            )
        ]
