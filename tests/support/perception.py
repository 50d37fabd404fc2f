"""A community's messages for the perception dashboard's tests and benchmark: chats with the
assistant (the citizens' messages, read as listening reads them, and the assistant's replies),
messages heard in community groups, concerns and unanswered questions, spread over months in
French and English on the web chat, Telegram and Discord.

The last 7 days carry one clear weak signal: trucks on the road to the site (topic
"traffic"), many and angry. Everything is random but seeded: the same call gives the same
rows."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, insert
from sqlmodel import Session

from bot.perception.web import perception_section
from bot.storage.models import (
    Concern,
    Conversation,
    HeardMessage,
    ListeningGroup,
    Message,
    UnansweredQuestion,
)
from tests.support.desk import (
    Stage,
    desk_app,
)
from tests.support.dialogue import FakeDialogue

CHANNELS = (("web", 5), ("telegram", 3), ("discord", 2))
LANGUAGES = (("fr", 7), ("en", 3))
RISING_TOPIC = "traffic"

# (topic, weight, mean score, faq?) — how often a topic comes up and how it usually reads.
TOPIC_HABITS: tuple[tuple[str, int, float, bool], ...] = (
    ("noise", 12, -0.35, True),
    ("schedule", 10, 0.05, True),
    ("jobs", 8, 0.30, True),
    ("environment", 8, -0.15, True),
    ("traffic", 6, -0.20, True),
    ("benefits", 6, 0.25, True),
    ("landscape", 5, -0.30, False),
    ("water", 4, -0.40, False),
    ("location", 4, 0.0, True),
    ("health_safety", 3, -0.30, True),
    ("property_value", 3, -0.45, False),
    ("consultation", 3, 0.0, True),
    ("documents", 2, 0.05, True),
    ("contact", 2, 0.10, True),
    ("overview", 3, 0.10, True),
    ("economy", 2, 0.20, False),
    ("process", 2, -0.10, False),
)
WORDS = {
    "fr": {
        "noise": "Le bruit des éoliennes la nuit m'empêche de dormir, est-ce normal ?",
        "schedule": "Quand commencent les travaux sur le rang des Érables ?",
        "jobs": "Est-ce que vous embauchez des gens de la région pour le chantier ?",
        "environment": "Qu'est-ce que vous faites pour les oiseaux et les chauves-souris ?",
        "traffic": "Les camions de gravier passent à 6 h devant l'école, c'est dangereux.",
        "benefits": "Combien la municipalité va-t-elle recevoir chaque année ?",
        "landscape": "On va voir les éoliennes depuis le lac, ça gâche la vue.",
        "water": "Mon puits est trouble depuis le dynamitage, qui vérifie l'eau ?",
        "location": "Où exactement seront installées les éoliennes ?",
        "health_safety": "Y a-t-il un risque de projection de glace l'hiver ?",
        "property_value": "Ma maison va perdre de la valeur à cause du parc.",
        "consultation": "Quand aura lieu la prochaine séance d'information ?",
        "documents": "Où trouver l'étude d'impact complète ?",
        "contact": "Comment joindre l'équipe du projet par téléphone ?",
        "overview": "C'est quoi exactement le projet des Trois-Collines ?",
        "economy": "Les commerces du village vont-ils profiter du chantier ?",
        "process": "Personne ne nous a consultés avant de décider, c'est injuste.",
    },
    "en": {
        "noise": "The turbines hum all night and I cannot sleep, is that normal?",
        "schedule": "When does the work start on Maple Road?",
        "jobs": "Are you hiring local people for the construction?",
        "environment": "What are you doing to protect birds and bats?",
        "traffic": "Gravel trucks speed past the school at 6 am, it is dangerous.",
        "benefits": "How much will the municipality receive every year?",
        "landscape": "We will see the turbines from the lake, it ruins the view.",
        "water": "My well has been cloudy since the blasting, who tests the water?",
        "location": "Where exactly will the turbines stand?",
        "health_safety": "Is there a risk of ice throw in winter?",
        "property_value": "My house will lose value because of the wind farm.",
        "consultation": "When is the next information session?",
        "documents": "Where can I read the full impact study?",
        "contact": "How can I call the project team?",
        "overview": "What exactly is the Trois-Collines project?",
        "economy": "Will the village shops benefit from the construction?",
        "process": "Nobody consulted us before deciding, it is unfair.",
    },
}
CATEGORIES = (
    ("noise", 8),
    ("traffic", 5),
    ("landscape", 4),
    ("water", 3),
    ("environment", 3),
    ("property_value", 2),
    ("health_safety", 2),
    ("economy", 1),
    ("process", 1),
    ("other", 1),
)


@dataclass(frozen=True)
class Generated:
    """How many rows of each kind were written."""

    incoming: int
    outgoing: int
    heard: int
    concerns: int
    unanswered: int
    rising: int  # incoming and heard messages of the weak signal in the last 7 days


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in weighted], [weight for _, weight in weighted])[0]


def _sentiment(rng: random.Random, mean: float) -> tuple[str, float]:
    score = max(-1.0, min(1.0, rng.gauss(mean, 0.35)))
    if score <= -0.25:
        return "negative", round(score, 3)
    return ("positive" if score >= 0.25 else "neutral"), round(score, 3)


def _moment(rng: random.Random, day: date, zone: tzinfo) -> datetime:
    local = datetime.combine(day, time(7), tzinfo=zone) + timedelta(
        seconds=rng.randrange(16 * 3600)  # 7 a.m. to 11 p.m.
    )
    return local.astimezone(UTC)


def generate(
    engine: Engine,
    *,
    today: date,
    zone: tzinfo,
    messages: int,
    heard: int = 0,
    concerns: int = 0,
    unanswered: int = 0,
    days: int = 120,
    rising: int = 40,
    seed: int = 47,
) -> Generated:
    """Writes a community's messages ending `today` (see the module).

    Args:
        engine: a migrated database.
        today: the last day with messages (the project's calendar).
        zone: the project's time zone.
        messages: citizens' messages to the assistant (each gets a reply from it).
        heard: messages heard in community groups.
        concerns: concerns in the register.
        unanswered: questions the assistant could not answer.
        days: how far back messages go.
        rising: extra messages of the weak signal in the last 7 days (split between chats and
            groups when there are groups).
        seed: the random seed.
    """
    rng = random.Random(seed)
    habits = {topic: (weight, mean, faq) for topic, weight, mean, faq in TOPIC_HABITS}
    weighted_topics = tuple((topic, weight) for topic, weight, _, _ in TOPIC_HABITS)
    first_day = today - timedelta(days=days - 1)
    with Session(engine) as session:
        made: list[Conversation] = []
        for number in range(max(1, messages // 6)):
            conversation = Conversation(
                public_id=f"perception-{seed}-{number:06d}",
                channel=_pick(rng, CHANNELS),
                external_id=f"chat-{seed}-{number}",
                citizen_id=f"citizen-{seed}-{number}",
                language=_pick(rng, LANGUAGES),
            )
            session.add(conversation)
            made.append(conversation)
        session.flush()
        conversations = [(c.id, c.channel, c.language) for c in made]
        groups = []
        for channel in ("telegram", "discord"):
            group = ListeningGroup(
                channel=channel, group_key=f"group-{seed}-{channel}", title="Voisins"
            )
            session.add(group)
            groups.append(group)
        session.flush()
        group_ids = {group.channel: group.id for group in groups}
        session.commit()

    def message_row(
        conversation_id: int, language: str, topic: str, at: datetime, negative: bool = False
    ) -> dict[str, Any]:
        _, mean, faq = habits[topic]
        sentiment, score = _sentiment(rng, -0.7 if negative else mean)
        extra = [] if rng.random() < 0.8 else [_pick(rng, weighted_topics)]
        return {
            "conversation_id": conversation_id,
            "direction": "in",
            "text": WORDS[language][topic],
            "language": language,
            "language_trusted": True,
            "intent": f"faq/{topic}" if faq and not negative and rng.random() < 0.6 else None,
            "confidence": 0.9,
            "status": "answered",
            "sentiment": sentiment,
            "sentiment_score": score,
            "topics": list(dict.fromkeys([topic, *extra])),
            "created_at": at,
        }

    incoming: list[dict[str, Any]] = []
    for _ in range(messages):
        conversation_id, _, language = rng.choice(conversations)
        day = first_day + timedelta(days=rng.randrange(days))
        incoming.append(
            message_row(
                conversation_id, language, _pick(rng, weighted_topics), _moment(rng, day, zone)
            )
        )
    heard_rows: list[dict[str, Any]] = []
    for number in range(heard):
        channel = rng.choice(("telegram", "discord"))
        language = _pick(rng, LANGUAGES)
        topic = _pick(rng, weighted_topics)
        sentiment, score = _sentiment(rng, habits[topic][1])
        day = first_day + timedelta(days=rng.randrange(days))
        heard_rows.append(
            {
                "group_id": group_ids[channel],
                "channel": channel,
                "external_id": f"heard-{seed}-{number}",
                "member": f"member-{seed}-{rng.randrange(max(1, heard // 5))}",
                "text": WORDS[language][topic],
                "language": language,
                "keywords": ["éolienne"],
                "sentiment": sentiment,
                "sentiment_score": score,
                "topics": [topic],
                "created_at": _moment(rng, day, zone),
            }
        )
    # The weak signal: angry messages about trucks in the last 7 days.
    for number in range(rising):
        day = today - timedelta(days=rng.randrange(7))
        at = _moment(rng, day, zone)
        if heard and number % 3 == 2:
            channel = rng.choice(("telegram", "discord"))
            heard_rows.append(
                {
                    "group_id": group_ids[channel],
                    "channel": channel,
                    "external_id": f"rising-{seed}-{number}",
                    "member": f"member-{seed}-rising-{number}",
                    "text": WORDS["fr"][RISING_TOPIC],
                    "language": "fr",
                    "keywords": ["camions"],
                    "sentiment": "negative",
                    "sentiment_score": -0.8,
                    "topics": [RISING_TOPIC],
                    "created_at": at,
                }
            )
        else:
            conversation_id, _, language = rng.choice(conversations)
            incoming.append(message_row(conversation_id, language, RISING_TOPIC, at, negative=True))
    outgoing = [
        {
            "conversation_id": row["conversation_id"],
            "direction": "out",
            "text": "Merci pour votre question : voici ce que dit la documentation du projet.",
            "language": row["language"],
            "language_trusted": True,
            "created_at": row["created_at"] + timedelta(seconds=2),
        }
        for row in incoming
    ]
    concern_rows: list[dict[str, Any]] = []
    for number in range(concerns):
        conversation_id, channel, language = rng.choice(conversations)
        category = _pick(rng, CATEGORIES)
        day = first_day + timedelta(days=rng.randrange(days))
        concern_rows.append(
            {
                "reference": f"C-{day.year}-{seed:02d}{number:05d}",
                "conversation_id": conversation_id,
                "citizen_id": f"citizen-{conversation_id}",
                "channel": channel,
                "language": language,
                "category": category,
                "text": WORDS[language].get(category, WORDS[language]["process"]),
                "status": "received",
                "severity": "medium",
                "confidential": False,
                "received_at": _moment(rng, day, zone),
                "updated_at": _moment(rng, day, zone),
            }
        )
    question_rows: list[dict[str, Any]] = []
    for _ in range(unanswered):
        conversation_id, _, language = rng.choice(conversations)
        day = first_day + timedelta(days=rng.randrange(days))
        question_rows.append(
            {
                "conversation_id": conversation_id,
                "text": "Est-ce que le chemin sera asphalté après les travaux ?"
                if language == "fr"
                else "Will the road be paved after the work?",
                "language": language,
                "reason": "low_confidence",
                "created_at": _moment(rng, day, zone),
            }
        )
    with engine.begin() as connection:
        for table, rows in (
            (Message.__table__, incoming),
            (Message.__table__, outgoing),
            (HeardMessage.__table__, heard_rows),
            (Concern.__table__, concern_rows),
            (UnansweredQuestion.__table__, question_rows),
        ):
            for start in range(0, len(rows), 5_000):
                connection.execute(insert(table), rows[start : start + 5_000])
    return Generated(
        incoming=len(incoming),
        outgoing=len(outgoing),
        heard=len(heard_rows),
        concerns=len(concern_rows),
        unanswered=len(question_rows),
        rising=rising,
    )


@dataclass
class Community:
    """Writes messages as citizens would have sent them, one conversation per channel and
    language (or a new one when asked)."""

    session: Session
    conversations: dict[tuple[str, str, bool], int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)

    def conversation(self, channel: str, language: str, *, erased: bool = False) -> int:
        key = (channel, language, erased)
        if key not in self.conversations:
            number = next(_numbers)
            row = Conversation(
                public_id=f"perception-test-{number}",
                channel=channel,
                external_id=f"chat-{number}",
                citizen_id=f"citizen-{number}",
                language=language,
                erased_at=datetime(2026, 11, 1, tzinfo=UTC) if erased else None,
            )
            self.session.add(row)
            self.session.flush()
            assert row.id is not None
            self.conversations[key] = row.id
        return self.conversations[key]

    def says(
        self,
        at: datetime,
        *,
        text: str = "Quand commencent les travaux ?",
        sentiment: str | None = "neutral",
        score: float | None = 0.0,
        topics: list[str] | None = None,
        channel: str = "web",
        language: str | None = "fr",
        intent: str | None = None,
        erased: bool = False,
    ) -> Message:
        message = Message(
            conversation_id=self.conversation(channel, language or "fr", erased=erased),
            direction="in",
            text=text,
            language=language,
            intent=intent,
            sentiment=sentiment,
            sentiment_score=score,
            topics=topics,
            created_at=at,
        )
        self.session.add(message)
        self.session.flush()
        return message

    def answers(self, at: datetime, channel: str = "web") -> None:
        self.session.add(
            Message(
                conversation_id=self.conversation(channel, "fr"),
                direction="out",
                text="Voici la réponse de l'équipe.",
                created_at=at,
            )
        )

    def edits(self, original: Message, at: datetime) -> None:
        self.session.add(
            Message(
                conversation_id=original.conversation_id,
                direction="in",
                text=original.text + " (corrigé)",
                language=original.language,
                sentiment="negative",
                sentiment_score=-0.9,
                topics=original.topics,
                edit_of=original.id,
                created_at=at,
            )
        )

    def heard(
        self,
        at: datetime,
        *,
        text: str = "Les camions passent trop vite sur le rang.",
        sentiment: str | None = "negative",
        score: float | None = -0.6,
        topics: list[str] | None = None,
        channel: str = "telegram",
        language: str = "fr",
    ) -> None:
        if channel not in self.groups:
            group = ListeningGroup(channel=channel, group_key=f"group-{channel}", title="Voisins")
            self.session.add(group)
            self.session.flush()
            assert group.id is not None
            self.groups[channel] = group.id
        self.session.add(
            HeardMessage(
                group_id=self.groups[channel],
                channel=channel,
                external_id=f"heard-{next(_numbers)}",
                member=f"member-{next(_numbers)}",
                text=text,
                language=language,
                sentiment=sentiment,
                sentiment_score=score,
                topics=topics,
                created_at=at,
            )
        )

    def concern(
        self,
        at: datetime,
        category: str,
        *,
        channel: str = "web",
        language: str = "fr",
        kind: str = "grievance",
    ) -> None:
        number = next(_numbers)
        self.session.add(
            Concern(
                reference=f"C-2026-{number:04d}",
                conversation_id=self.conversation(channel, language),
                channel=channel,
                language=language,
                category=category,
                kind=kind,
                text="Le bruit la nuit.",
                received_at=at,
            )
        )

    def unanswered(self, at: datetime, *, channel: str = "web", language: str = "fr") -> None:
        self.session.add(
            UnansweredQuestion(
                conversation_id=self.conversation(channel, language),
                text="Le chemin sera-t-il asphalté ?",
                language=language,
                reason="low_confidence",
                created_at=at,
            )
        )


def perception_app(stage: Stage, dialogue: FakeDialogue) -> FastAPI:
    """The web application with the perception section of the desk."""
    section = perception_section(engine=stage.database, project_name=stage.knowledge.name)
    return desk_app(stage, dialogue, sections=[section])


_numbers = itertools.count(1)
