"""The key of the pseudonyms is not in the database they protect (finding 11 of the hardening
issue): with it, a copy of the database could link every pseudonym to a platform account by
hashing candidate ids. Without PSEUDONYM_SECRET the key is generated into an owner-only file;
an older installation's key moves there out of the database, and its pseudonyms stay the same."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.channels.identity import Pseudonyms
from bot.settings import SettingsError, load_settings
from bot.storage.database import open_database
from bot.storage.models import InstanceSecret


def database_bytes(path: Path) -> bytes:
    return b"".join(
        file.read_bytes() for file in (path, path.with_name(path.name + "-wal")) if file.exists()
    )


def test_a_new_installation_keeps_its_key_in_an_owner_only_file(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'v.db'}")
    key_file = tmp_path / "secrets" / "pseudonym.key"

    pseudonyms = Pseudonyms.for_installation(database, key_file=key_file)

    key = key_file.read_text().strip()
    assert len(key) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert pseudonyms.of("tg", 42) == Pseudonyms(bytes.fromhex(key)).of("tg", 42)
    with Session(database) as session:
        assert session.exec(select(InstanceSecret)).all() == []
    database.dispose()
    assert key.encode() not in database_bytes(tmp_path / "v.db")
    # The next start reads the same key: pseudonyms are stable.
    again = Pseudonyms.for_installation(open_database(f"sqlite:///{tmp_path / 'v.db'}"),
                                        key_file=key_file)  # fmt: skip
    assert again.of("tg", 42) == pseudonyms.of("tg", 42)


def test_an_older_installations_key_moves_out_of_the_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    database = open_database(f"sqlite:///{path}")
    old_key = "5e" * 32
    with Session(database) as session:
        session.add(InstanceSecret(name="pseudonym_key", value=old_key))
        session.commit()
    assert old_key.encode() in database_bytes(path)
    key_file = tmp_path / "pseudonym.key"

    pseudonyms = Pseudonyms.for_installation(database, key_file=key_file)

    # The same pseudonyms as before (the register's citizens keep theirs)...
    assert pseudonyms.of("discord", 7) == Pseudonyms(bytes.fromhex(old_key)).of("discord", 7)
    assert key_file.read_text().strip() == old_key
    # ...and no copy of the key left in the database file or its write-ahead log.
    with Session(database) as session:
        assert session.exec(select(InstanceSecret)).all() == []
    database.dispose()
    assert old_key.encode() not in database_bytes(path)


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'v.db'}")
    key_file = tmp_path / "pseudonym.key"
    with ThreadPoolExecutor(8) as pool:
        found = list(
            pool.map(
                lambda _: Pseudonyms.for_installation(database, key_file=key_file).of("tg", 1),
                range(16),
            )
        )
    assert len(set(found)) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pseudonym")] == []


def test_a_damaged_key_file_stops_the_program_with_one_sentence(tmp_path: Path) -> None:
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text("not a key\n")
    with pytest.raises(SettingsError, match="PSEUDONYM_KEY_FILE") as caught:
        load_settings(pseudonym_key_file=key_file)
    assert "\n" not in str(caught.value).strip()
    # With PSEUDONYM_SECRET set, the file is not used.
    assert load_settings(pseudonym_key_file=key_file, pseudonym_secret="s" * 32)
