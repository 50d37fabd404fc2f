"""Ids of stored rows."""

from __future__ import annotations


class NotStored(RuntimeError):
    """A row was used as stored before it was (its id is still None): a bug, not bad input."""


def stored_id(value: int | None, what: str = "row") -> int:
    """The id of a stored row; raises `NotStored` (naming `what`) if it has none yet."""
    if value is None:
        raise NotStored(f"the {what} has not been stored yet")
    return value
