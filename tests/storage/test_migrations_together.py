"""Replicas that start together on one PostgreSQL database: one applies the migrations, the
others wait for it, then find nothing left to do; all of them start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from bot.storage.database import sqlalchemy_url
from tests.conftest import _empty_postgres

STARTERS = 4
OPEN = (
    "import sys; from bot.storage.database import open_database; "
    "open_database(sys.argv[1]).dispose()"
)


def test_replicas_migrating_one_database_at_once_all_start() -> None:
    server = os.environ.get("TEST_POSTGRES_URL")
    if not server:
        pytest.skip("TEST_POSTGRES_URL is not set")
    url = _empty_postgres(server)
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(STARTERS)
    ]
    outputs = [starter.communicate(timeout=120)[0].decode() for starter in starters]
    failed = [out for starter, out in zip(starters, outputs, strict=True) if starter.returncode]
    assert not failed, failed[0][-2000:]
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert len(versions) == 1
