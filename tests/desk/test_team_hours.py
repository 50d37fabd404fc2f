"""The team's hours have one source (issue 16, item 6): the knowledge base's
project.contact.hours, which the desk keeps and citizens are told in words; DESK_HOURS may
only repeat them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.app import desk_for, team_hours
from bot.common.hours import DeskHours
from bot.knowledge import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from bot.settings import PROJECT_ROOT, load_settings
from bot.storage.database import open_database


def knowledge_with_hours(tmp_path: Path, hours: object) -> Path:
    data = yaml.safe_load((PROJECT_ROOT / "knowledge" / "project.yml").read_text())
    data["project"]["contact"]["hours"] = hours
    path = tmp_path / "project.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    # The documents are found beside the knowledge base.
    (tmp_path / "documents").symlink_to(PROJECT_ROOT / "knowledge" / "documents")
    return path


def test_the_hours_are_written_once_and_said_in_each_language(knowledge: KnowledgeBase) -> None:
    assert knowledge.contact.opening_hours == "mon-thu 09:00-16:30; fri 09:00-12:00"
    assert knowledge.contact.hours == {
        "fr": "du lundi au jeudi de 9 h à 16 h 30, le vendredi de 9 h à 12 h",
        "en": "Monday to Thursday 9 a.m. to 4:30 p.m., Friday 9 a.m. to noon",
    }


def test_the_desk_keeps_the_hours_citizens_are_told(
    knowledge: KnowledgeBase, tmp_path: Path
) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'v.db'}")
    desk = desk_for(settings, open_database(settings.database_url), knowledge)
    # Friday 13:00 in Montréal: the office closed at noon; Monday 9:00 it opens.
    friday = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert not desk.schedule.is_open(friday)
    assert desk.schedule.next_opening(friday).strftime("%a %H:%M") == "Mon 09:00"
    assert desk.schedule.is_open(datetime(2026, 12, 3, 21, 0, tzinfo=UTC))  # Thursday 16:00
    assert not desk.schedule.is_open(datetime(2026, 12, 3, 22, 0, tzinfo=UTC))  # 17:00


def test_desk_hours_may_repeat_the_knowledge_base_but_not_contradict_it(
    knowledge: KnowledgeBase,
) -> None:
    same = load_settings(desk_hours="mon-thu 09:00-16:30, fri 09:00-12:00")
    assert team_hours(same, knowledge) == DeskHours.parse(knowledge.contact.opening_hours)
    other = load_settings(desk_hours="mon-fri 08:30-17:00")
    with pytest.raises(KnowledgeBaseError) as refused:
        team_hours(other, knowledge)
    sentence = str(refused.value)
    assert sentence.startswith("DESK_HOURS 'mon-fri 08:30-17:00' disagrees with the knowledge")
    assert "\n" not in sentence


@pytest.mark.parametrize(
    ("hours", "said"),
    [
        (
            {"fr": "Du lundi au jeudi", "en": "Monday to Thursday"},
            "must be the team's opening hours",
        ),
        ("mon-thu 9h-16h", "project.contact.hours: cannot read"),
        ("", "must be the team's opening hours"),
    ],
)
def test_hours_in_words_only_are_refused_with_the_way_to_write_them(
    tmp_path: Path, hours: object, said: str
) -> None:
    with pytest.raises(KnowledgeBaseError, match=said):
        load_knowledge_base(knowledge_with_hours(tmp_path, hours))
