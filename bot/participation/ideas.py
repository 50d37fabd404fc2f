"""The idea box: citizens' suggestions, recorded under a reference and grouped by meaning for
the team, who can put a group of them to the whole community as options of a consultation,
crediting that they came from citizens ("suggested by 14 of you")."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.common.ids import stored_id
from bot.common.text import ERASED
from bot.listening.gaps import GapsError, group_texts
from bot.listening.reading import Reader
from bot.participation.phrases import say
from bot.storage import repository
from bot.storage.models import Conversation, Idea, utc_now

logger = logging.getLogger(__name__)

MAX_IDEAS_GROUPED = 2_000  # the most recent: the similarity matrix grows with its square
# Ideas are closer to one another than questions are (all "the project could..."): the gaps'
# threshold (0.125) put a skating rink and a bike path together. 0.35 kept nine written ideas
# in five subjects apart across French and English, and three apart as well as nine (at 0.25,
# three ideas made one group); it is not calibrated on real ideas yet.
IDEA_SIMILARITY = 0.35


class IdeasError(Exception):
    """The ideas cannot be grouped right now; one sentence says why."""


@dataclass(frozen=True)
class IdeaRow:
    """One idea as the team reads it (no identity: only the channel and language)."""

    id: int
    reference: str
    text: str
    language: str
    channel: str
    created_at: datetime
    consultation_id: int | None


@dataclass(frozen=True)
class IdeaGroup:
    """Ideas that say much the same thing."""

    representative: IdeaRow
    ideas: tuple[IdeaRow, ...]
    citizens: int  # distinct citizens (a citizen repeating an idea counts once)

    @property
    def size(self) -> int:
        return len(self.ideas)


def record_idea(
    *,
    session: Session,
    conversation: Conversation,
    message_id: int | None,
    text: str,
    language: str,
) -> str:
    """Records an idea (once per message) and returns the acknowledgement with its reference."""
    if message_id is not None:
        found = session.exec(select(Idea).where(Idea.message_id == message_id)).first()
        if found is not None:
            return say("idea_already", language, reference=found.reference)
    reference = repository.next_reference(session=session, prefix="I", year=utc_now().year)
    session.add(
        Idea(
            reference=reference,
            conversation_id=conversation.id,
            message_id=message_id,
            channel=conversation.channel,
            language=language,
            text=text.strip()[:4_000],
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # the same message handled twice at once: the first one counts
        found = session.exec(select(Idea).where(Idea.message_id == message_id)).first()
        if found is None:
            raise
        return say("idea_already", language, reference=found.reference)
    logger.info("idea %s recorded", reference)
    return say("idea_recorded", language, reference=reference)


class IdeaBox:
    """Reads and groups the ideas for the team."""

    def __init__(self, *, engine: Engine, reader: Reader | None) -> None:
        self.engine = engine
        self._reader = reader

    def ideas(self, *, limit: int = MAX_IDEAS_GROUPED) -> list[tuple[IdeaRow, str]]:
        """(idea, citizen key) of the latest ideas not erased, oldest first."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(Idea, Conversation.citizen_id)
                .join(Conversation, col(Conversation.id) == col(Idea.conversation_id), isouter=True)
                .where(col(Idea.erased_at).is_(None), col(Idea.text) != ERASED)
                .order_by(col(Idea.id).desc())
                .limit(limit)
            ).all()
        found = [
            (
                IdeaRow(
                    id=stored_id(idea.id),
                    reference=idea.reference,
                    text=idea.text,
                    language=idea.language,
                    channel=idea.channel,
                    created_at=idea.created_at,
                    consultation_id=idea.consultation_id,
                ),
                f"{idea.channel}:{citizen or idea.id}",
            )
            for idea, citizen in rows
        ]
        found.reverse()
        return found

    def groups(self) -> list[IdeaGroup]:
        """The ideas grouped by meaning (the knowledge gaps' grouping), the largest first.

        Raises:
            IdeasError: the sentence embeddings cannot be computed (the reader's model missing).
        """
        rows = self.ideas()
        if not rows:
            return []
        if self._reader is None:
            return [IdeaGroup(representative=row, ideas=(row,), citizens=1) for row, _ in rows]
        try:
            grouped = group_texts(
                self._reader,
                [row.text for row, _ in rows],
                [row.language for row, _ in rows],
                threshold=IDEA_SIMILARITY,
            )
        except GapsError as exc:
            raise IdeasError(str(exc)) from exc
        groups = [
            IdeaGroup(
                representative=rows[members.representative][0],
                ideas=tuple(rows[i][0] for i in members.members),
                citizens=len({rows[i][1] for i in members.members}),
            )
            for members in grouped
        ]
        groups.sort(key=lambda g: (-g.citizens, -g.size, g.representative.id))
        return groups

    def mark_used(self, idea_ids: Sequence[int], consultation_id: int) -> None:
        """Notes that these ideas became an option of a consultation."""
        with Session(self.engine) as session:
            for idea in session.exec(select(Idea).where(col(Idea.id).in_(list(idea_ids)))):
                idea.consultation_id = consultation_id
                session.add(idea)
            session.commit()
