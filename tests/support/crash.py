"""A process dying at a chosen instant, as the database sees it: the transaction under way never
commits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from bot.storage.models import Message


@contextlib.contextmanager
def dies_once_while_writing(what: str, rows: Callable[[Any], bool]) -> Iterator[None]:
    """The first time a transaction writes a new row that `rows` picks, the database fails (as a
    process dying at that instant would leave it: that transaction never commits); `what` names
    those rows in the error."""
    failed = []

    def fail(session: Session, *_: Any) -> None:
        if not failed and any(rows(row) for row in session.new):
            failed.append(True)
            raise RuntimeError(f"the process died while writing {what}")

    event.listen(Session, "before_flush", fail)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", fail)
    assert failed, f"{what} were never written"


def replies_fail_to_store_once() -> contextlib.AbstractContextManager[None]:
    """The first time a turn's replies are written, the process dies."""
    return dies_once_while_writing(
        "the replies", lambda row: isinstance(row, Message) and row.reply_to is not None
    )
