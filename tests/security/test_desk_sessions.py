"""Desk sessions end when unused and do not pile up (finding 9 of the hardening issue: sessions
had no idle timeout, and expired ones were never purged)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.staff_web.accounts import create_account, open_session, session_for_token
from bot.storage.models import StaffSession, utc_now


def test_a_session_unused_for_longer_than_the_idle_time_ends(database: Engine) -> None:
    start = utc_now()
    idle = timedelta(minutes=60)
    with Session(database, expire_on_commit=False) as session:
        account = create_account(
            session=session,
            username="marie",
            display_name="Marie",
            password="lac-vert au printemps",
        )
        token, _ = open_session(
            session=session, account=account, lifetime=timedelta(hours=12), now=start
        )
        used = start + timedelta(minutes=50)
        assert session_for_token(session=session, token=token, now=used, idle=idle) is not None
        # Fifty minutes after that use it is still open: each use pushes the idle time back.
        assert session_for_token(
            session=session, token=token, now=used + timedelta(minutes=50), idle=idle
        )
        late = used + timedelta(minutes=50 + 61)
        assert session_for_token(session=session, token=token, now=late, idle=idle) is None
        assert session.exec(select(StaffSession)).all() == []  # and it is gone


def test_ended_sessions_are_purged_when_someone_signs_in(database: Engine) -> None:
    start = utc_now()
    with Session(database, expire_on_commit=False) as session:
        account = create_account(
            session=session,
            username="marie",
            display_name="Marie",
            password="lac-vert au printemps",
        )
        for _ in range(3):
            open_session(session=session, account=account, lifetime=timedelta(hours=1), now=start)
        open_session(
            session=session, account=account, lifetime=timedelta(hours=1),
            now=start + timedelta(hours=2),
        )  # fmt: skip
        assert len(session.exec(select(StaffSession)).all()) == 1
