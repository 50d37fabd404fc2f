"""A process dying at a chosen instant, as the database sees it: the transaction under way never
commits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from bot.storage.models import Message


@contextlib.contextmanager
def replies_fail_to_store_once() -> Iterator[None]:
    """The first time a turn's replies are written, the database fails (as a process dying at
    that instant would leave it: that transaction never committed)."""
    failed = []

    def fail(session: Session, *_: Any) -> None:
        replies = [m for m in session.new if isinstance(m, Message) and m.reply_to is not None]
        if replies and not failed:
            failed.append(True)
            raise RuntimeError("the process died while storing the replies")

    event.listen(Session, "before_flush", fail)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", fail)
    assert failed, "the replies were never stored"
