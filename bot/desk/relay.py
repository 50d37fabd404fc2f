"""The chat desks: a conversation handed to a person gets its own thread where the staff work
(a topic of a Telegram forum group, a thread of a Discord staff channel).

The relay copies into each thread, in order, the summary, the transcript and what happens on
other desks (claims, notes, answers, alerts), with a cursor per thread kept in the database:
after a restart it goes on where it stopped. A thread someone deleted is opened again with the
summary and the recent transcript. What staff write in a thread goes through `staff_action`:
an answer to the citizen, or a command (/claim, /release, /close, /note, /summary, /takeover).

When a citizen is erased (at their request or by retention), the thread of each of their
conversations is deleted on the platform with everything copied into it, staff messages
included; a thread the bot may not delete is reported to the staff, who delete it by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from bot.desk.service import Desk, DeskError, TranscriptEntry, parse_outcome
from bot.outbox.delivery import Outgoing, backoff
from bot.outbox.text import split_for
from bot.staff_web.accounts import StaffMember
from bot.storage.models import AuditEntry, Conversation, DeskThread, Handoff, HandoffStatus

logger = logging.getLogger(__name__)

RECENT_IN_NEW_THREAD = 10
HELP = (
    "Write here to answer the citizen (you then own the conversation). Commands: /claim, "
    "/release, /note <text> (the citizen never sees notes), /summary, "
    "/close [resolved|unresolved] [norating], /takeover (after a hand-back). If the citizen "
    "asks to be erased, this thread is deleted: keep no copy of their words elsewhere."
)


class ThreadGone(Exception):
    """The thread was deleted on the platform: it will be opened again."""


class DeskUnavailable(Exception):
    """The platform cannot be reached for now: the relay tries again later."""


class CannotDelete(Exception):
    """The platform refuses to let the bot delete a thread (missing rights)."""


class DeskThreads(ABC):
    """What a chat platform does for the desk."""

    desk: str

    @abstractmethod
    async def open_thread(self, title: str) -> str:
        """Opens a thread named `title`; returns its id."""

    @abstractmethod
    async def post(self, thread_id: str, text: str) -> None:
        """Posts plain text (never markup) in the thread.

        Raises:
            ThreadGone: the thread was deleted.
            DeskUnavailable: the platform cannot be reached for now.
        """

    @abstractmethod
    async def set_closed(self, thread_id: str, closed: bool) -> None:
        """Closes (archives) or reopens the thread."""

    @abstractmethod
    async def delete_thread(self, thread_id: str) -> None:
        """Deletes the thread with all its messages (one already gone is not an error).

        Raises:
            CannotDelete: the bot lacks the right to.
            DeskUnavailable: the platform cannot be reached for now.
        """

    @abstractmethod
    async def alert(self, text: str) -> None:
        """Tells the whole staff (the group's general topic, the channel with a role mention)."""

    @abstractmethod
    async def notice(self, text: str) -> None:
        """Informs the staff where they talk among themselves, without calling anyone."""


class Relay:
    """Keeps one chat desk's threads up to date."""

    def __init__(
        self, *, desk: Desk, engine: Engine, threads: DeskThreads, poll_every: float = 5.0
    ) -> None:
        self._desk = desk
        self._db = engine
        self.threads = threads
        self._poll_every = poll_every
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()

    def wake(self) -> None:
        """Something changed: copy it now."""
        self._wake.set()

    async def run(self) -> None:
        """Copies until cancelled; an unreachable platform is retried with back-off."""
        failures = 0
        while True:
            self._wake.clear()
            self._idle.clear()
            try:
                await self.sync()
                failures = 0
                self._idle.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_every):
                        await self._wake.wait()
            except DeskUnavailable as exc:
                failures += 1
                delay = backoff(failures, base=0.5, cap=60)
                logger.warning(
                    "%s desk unreachable (%s); again in %.1f s", self.threads.desk, exc, delay
                )
                await asyncio.sleep(delay)
            except Exception:
                # Broad on purpose: the staff threads must not stop citizens being served; the
                # error is logged with its traceback and the relay tries again.
                failures += 1
                logger.exception("%s desk relay failed", self.threads.desk)
                await asyncio.sleep(backoff(failures, base=1, cap=60))

    async def idle(self) -> None:
        """Waits until everything known has been copied (wrap in `asyncio.timeout`)."""
        while True:
            await self._idle.wait()
            if not self._wake.is_set():
                return
            await asyncio.sleep(0.01)

    async def sync(self) -> None:
        """Deletes the threads of erased citizens, then copies whatever is new, thread by
        thread, in order."""
        await self._delete_erased()
        with Session(self._db, expire_on_commit=False) as session:
            erased = select(Conversation.id).where(col(Conversation.erased_at).isnot(None))
            open_ones = session.exec(
                select(Handoff)
                .where(
                    Handoff.status != HandoffStatus.CLOSED,
                    col(Handoff.conversation_id).not_in(erased),
                )
                .order_by(col(Handoff.id))
            ).all()
            announced = session.exec(
                select(Handoff)
                .join(DeskThread, col(DeskThread.handoff_id) == col(Handoff.id))
                .where(
                    DeskThread.desk == self.threads.desk,
                    Handoff.status == HandoffStatus.CLOSED,
                    col(Handoff.conversation_id).not_in(erased),
                )
            ).all()
        for handoff in [*open_ones, *announced]:
            try:
                await self._sync_one(handoff)
            except ThreadGone:
                logger.warning(
                    "%s thread of %s was deleted; opening a new one",
                    self.threads.desk,
                    handoff.reference,
                )
                with Session(self._db) as session:
                    thread = self._thread(session, handoff.conversation_id)
                    if thread is not None:
                        session.delete(thread)
                        session.commit()
                if handoff.status != HandoffStatus.CLOSED:
                    await self._sync_one(handoff)

    async def _delete_erased(self) -> None:
        """Deletes on the platform the threads of conversations erased since (their copies of
        the citizen's words, the summary, what staff wrote there), then forgets the thread."""
        with Session(self._db, expire_on_commit=False) as session:
            threads = session.exec(
                select(DeskThread)
                .join(Conversation, col(Conversation.id) == col(DeskThread.conversation_id))
                .where(
                    DeskThread.desk == self.threads.desk,
                    col(Conversation.erased_at).isnot(None),
                )
                .order_by(col(DeskThread.id))
            ).all()
            references = {
                thread.conversation_id: session.exec(
                    select(Handoff.reference)
                    .where(Handoff.conversation_id == thread.conversation_id)
                    .order_by(col(Handoff.id).desc())
                ).first()
                or "?"
                for thread in threads
            }
        for thread in threads:
            reference = references[thread.conversation_id]
            try:
                await self.threads.delete_thread(thread.thread_id)
            except CannotDelete as exc:
                logger.error(
                    "%s thread %s of erased %s not deleted: %s",
                    self.threads.desk, thread.thread_id, reference, exc,
                )  # fmt: skip
                await self.threads.alert(
                    f"⚠️ {reference}: the citizen's data was erased, but I may not delete this "
                    f"conversation's thread ({exc}). Please delete it by hand: it still holds "
                    "copies of their words."
                )
                outcome = "not_deleted"
            else:
                await self.threads.notice(
                    f"🗑️ {reference}: the citizen's data was erased (at their request or after "
                    "the retention period); its thread was deleted."
                )
                outcome = "deleted"
            with Session(self._db) as session:
                session.add(
                    AuditEntry(
                        actor="system",
                        action="desk.thread_erased",
                        detail={"desk": self.threads.desk, "reference": reference,
                                "outcome": outcome},
                    )
                )  # fmt: skip
                session.execute(delete(DeskThread).where(col(DeskThread.id) == thread.id))
                session.commit()

    async def _sync_one(self, handoff: Handoff) -> None:
        desk_name = self.threads.desk
        with Session(self._db, expire_on_commit=False) as session:
            thread = self._thread(session, handoff.conversation_id)
            conversation = session.get(Conversation, handoff.conversation_id)
            assert conversation is not None
            summary = self._desk.summary(session, handoff)
        if thread is None:
            if handoff.status == HandoffStatus.CLOSED:
                return
            title = f"{handoff.reference} · {summary.language.upper()} · {conversation.channel}"
            thread_id = await self.threads.open_thread(title)
            with Session(self._db, expire_on_commit=False) as session:
                messages, events = self._desk.transcript(session, handoff)
                recent = messages[-RECENT_IN_NEW_THREAD:]
                thread = DeskThread(
                    conversation_id=handoff.conversation_id,
                    desk=desk_name,
                    thread_id=thread_id,
                    relayed_upto=recent[0].id - 1 if recent else 0,
                    events_upto=max(
                        (e.id for e in events if e.at < handoff.requested_at), default=0
                    ),
                    handoff_id=handoff.id,
                )
                session.add(thread)
                session.commit()
                session.refresh(thread)
            await self._post(thread, f"🔔 {summary.as_text()}\n\n{HELP}")
        elif thread.handoff_id != handoff.id:
            if handoff.status == HandoffStatus.CLOSED:
                return
            await self.threads.set_closed(thread.thread_id, False)
            await self._post(thread, f"🔔 {summary.as_text()}")
            self._save(thread, handoff_id=handoff.id)
        with Session(self._db, expire_on_commit=False) as session:
            messages, events = self._desk.transcript(
                session,
                handoff,
                after_message=thread.relayed_upto,
                after_event=thread.events_upto,
            )
        for entry in sorted([*messages, *events], key=_order):
            text = self._render(entry)
            if text is not None:
                await self._post(thread, text)
            if entry.kind == "message":
                self._save(thread, relayed_upto=entry.id)
            else:
                self._save(thread, events_upto=entry.id)
            if entry.kind == "alert":
                await self.threads.alert(
                    f"⏰ {handoff.reference} {entry.text}: {summary.as_text().splitlines()[0]}"
                )
        if handoff.status == HandoffStatus.CLOSED:
            await self.threads.set_closed(thread.thread_id, True)
            self._save(thread, handoff_id=None)

    async def _post(self, thread: DeskThread, text: str) -> None:
        await self.threads.post(thread.thread_id, text)

    def _thread(self, session: Session, conversation_id: int) -> DeskThread | None:
        return session.exec(
            select(DeskThread).where(
                DeskThread.conversation_id == conversation_id, DeskThread.desk == self.threads.desk
            )
        ).first()

    def _save(self, thread: DeskThread, **values: int | None) -> None:
        for name, value in values.items():
            setattr(thread, name, value)
        with Session(self._db) as session:
            session.execute(
                update(DeskThread).where(col(DeskThread.id) == thread.id).values(**values)
            )
            session.commit()

    def _render(self, entry: TranscriptEntry) -> str | None:
        """How a line shows in the thread (None: not shown, e.g. what was typed right there)."""
        if entry.kind == "message":
            if entry.who == "citizen":
                return f"👤 {entry.text}"
            if entry.who == "staff":
                if entry.desk == self.threads.desk:
                    return None  # the manager wrote it in this very thread
                return f"💬 ({entry.desk}) {entry.text}"
            return f"🤖 {entry.text}"
        if entry.desk == self.threads.desk and entry.kind == "note":
            return None
        who = entry.name or "system"
        return {
            "requested": None,
            "claimed": f"✋ {who} took the conversation ({entry.desk}).",
            "released": f"↩️ {who} put the conversation back in the queue.",
            "note": f"📝 Note by {who} ({entry.desk}): {entry.text}",
            "closed": f"✅ {who} handed back to the assistant ({entry.text}).",
            "rated": f"⭐ The citizen rated the help {entry.text}/5.",
            "alert": f"⏰ Still waiting for a person: {entry.text}.",
            "undelivered": f"⚠️ Not delivered to the citizen: {entry.text}",
        }.get(entry.kind, f"· {entry.kind}: {entry.text}")


NOT_STAFF = "Sorry, only the project's community managers can act here."
TEXT_ONLY = "Only text reaches the citizen from here for now."


def answer_staff(
    desk: Desk,
    engine: Engine,
    *,
    desk_name: str,
    destination: str,
    thread_id: str,
    staff: StaffMember | None,
    who: str,
    text: str,
    options: dict[str, Any],
) -> list[Outgoing]:
    """What a person wrote in a desk thread, on any chat desk: refused politely (and audited)
    when `staff` is None, else carried out by `staff_action`; returns what to answer them."""
    answer: str | None
    if staff is None:
        desk.refuse(desk=desk_name, who=who, action=text[:60], why="not staff")
        answer = NOT_STAFF
    elif not text.strip():
        answer = TEXT_ONLY
    else:
        answer = staff_action(
            desk, engine, desk_name=desk_name, thread_id=thread_id, staff=staff, text=text
        )
    if answer is None:
        return []
    return [
        Outgoing(destination=destination, text=part, options=options)
        for part in split_for(desk_name, answer)
    ]


def staff_action(
    desk: Desk, engine: Engine, *, desk_name: str, thread_id: str, staff: StaffMember, text: str
) -> str | None:
    """Carries out what a community manager wrote in a desk thread; returns what to answer
    them in the thread (None when the relay will show the result)."""
    with Session(engine, expire_on_commit=False) as session:
        thread = session.exec(
            select(DeskThread).where(
                DeskThread.desk == desk_name, DeskThread.thread_id == thread_id
            )
        ).first()
        if thread is None:
            return None  # not a conversation's thread (e.g. the general topic): nothing to do
        handoff = session.exec(
            select(Handoff)
            .where(Handoff.conversation_id == thread.conversation_id)
            .order_by(col(Handoff.id).desc())
        ).first()
        words = text.strip().split()
        command = words[0].lower().split("@")[0] if words and words[0][:1] in "/!" else None
        argument = text.strip()[len(words[0]) :].strip() if command else text.strip()
        try:
            if command in ("/takeover", "!takeover"):
                desk.take_over(session, thread.conversation_id, staff)
                return None
            if handoff is None or handoff.status == HandoffStatus.CLOSED:
                return "This conversation is back with the assistant; write /takeover to step in again."
            reference = handoff.reference
            if command is None:
                desk.reply(session, reference, staff, argument)
                return None
            name = command[1:]
            if name == "claim":
                desk.claim(session, reference, staff)
                return None
            if name == "release":
                desk.release(session, reference, staff)
                return None
            if name == "note":
                desk.note(session, reference, staff, argument)
                return "📝 Noted (the citizen does not see notes)."
            if name == "close":
                outcome, ask_rating = parse_outcome(argument.split())
                desk.close(session, reference, staff, outcome=outcome, ask_rating=ask_rating)
                return None
            if name == "summary":
                return desk.summary(session, handoff).as_text()
            if name == "help":
                return HELP
            return f"Unknown command {command}. {HELP}"
        except DeskError as exc:
            return f"⚠️ {exc}"


def _order(entry: TranscriptEntry) -> tuple[datetime, int, int]:
    # Messages and events in time order; on a tie, a message before the event it caused.
    return (entry.at, 0 if entry.kind == "message" else 1, entry.id)


async def alert_loop(desk: Desk, *, every: float = 60.0) -> None:
    """Marks waiting conversations that need the staff's attention again (the relays post it)."""
    while True:
        try:
            desk.alerts_due()
        except Exception:
            # Broad on purpose: alerts must keep coming even after one failed round.
            logger.exception("desk alerts failed")
        await asyncio.sleep(every)
