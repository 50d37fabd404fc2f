"""The register's public report, read like a community manager and a lender would: the
figures add up, deadlines are judged on the project's calendar, nobody can be recognised,
and the pages are in the reader's language."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.register.report import (
    SMALL_COUNT,
    RegisterReport,
    build_report,
    publishable_response,
    published,
    render_html,
    render_markdown,
)
from bot.storage.models import Concern, ConcernEvent, Conversation

REFERENCE = re.compile(r"C-\d{4}-\d{4}")
TORONTO = ZoneInfo("America/Toronto")
MARCH = {"period_start": date(2026, 3, 1), "period_end": date(2026, 3, 31)}
TODAY = date(2026, 4, 10)
PROJECT = "Parc éolien des Trois-Collines"
_numbers = itertools.count(1)


def noon(month: int, day: int, year: int = 2026) -> datetime:
    """12:00 UTC: the same calendar day in UTC and in Quebec."""
    return datetime(year, month, day, 12, tzinfo=UTC)


@dataclass
class Case:
    """One concern as the team would have handled it."""

    category: str
    received: datetime
    kind: str = "grievance"
    channel: str = "web"
    language: str = "fr"
    status: str = "received"
    outcome: str | None = None
    acknowledge_by: date | None = None
    acknowledged_at: datetime | None = None
    respond_by: date | None = None
    responses: list[tuple[datetime, str]] = field(default_factory=list)
    closed_at: datetime | None = None
    confidential: bool = False
    anonymised: bool = False
    erased: bool = False
    text: str | None = None


def add(session: Session, case: Case) -> Concern:
    number = next(_numbers)
    reference = f"C-{case.received.year}-{number:04d}"
    conversation = Conversation(
        public_id=f"conversation-{number}",
        channel=case.channel,
        external_id=f"chat-{number}",
        citizen_id=f"citizen-{number}",
        erased_at=noon(4, 1) if case.erased else None,
    )
    session.add(conversation)
    session.flush()
    assert conversation.id is not None
    words = case.text or f"Mot du citoyen {number} : les pales font un vacarme insupportable"
    concern = Concern(
        reference=reference,
        conversation_id=conversation.id,
        citizen_id=conversation.citizen_id,
        channel=case.channel,
        language=case.language,
        category=case.category,
        kind=case.kind,
        text=words,
        status=case.status,
        outcome=case.outcome,
        confidential=case.confidential,
        received_at=case.received,
        acknowledge_by=case.acknowledge_by,
        acknowledged_at=case.acknowledged_at,
        respond_by=case.respond_by,
        # The concern row keeps the latest response; the events keep them all.
        responded_at=case.responses[-1][0] if case.responses else None,
        closed_at=case.closed_at,
        anonymised_at=noon(4, 2) if case.anonymised else None,
    )
    session.add(concern)
    session.flush()
    assert concern.id is not None
    session.add(
        ConcernEvent(
            concern_id=concern.id,
            at=case.received,
            actor="citizen",
            kind="received",
            to_status="received",
            text=words,
            visible_to_citizen=True,
        )
    )
    for at, response in case.responses:
        session.add(
            ConcernEvent(
                concern_id=concern.id,
                at=at,
                actor="staff:julie",
                kind="response",
                text=response,
                visible_to_citizen=True,
            )
        )
    session.commit()
    return concern


# Every concern of the demo register, with what a person checking the report by hand expects.
# Received in March: noise 5, water 2, traffic 1, landscape 3 (11); grievances 8, objections 3
# (the landscape ones); channels web 8, telegram 2, discord 1; languages fr 8, en 3.
CASE_B_WORDS = "Les camions passent à 3 h du matin devant chez moi sur le rang 4, ça me réveille."
DEMO = {
    "A": Case(
        "noise",
        noon(3, 2),
        status="closed",
        outcome="resolved",
        acknowledge_by=date(2026, 3, 4),
        acknowledged_at=noon(3, 3),
        respond_by=date(2026, 3, 31),
        responses=[(noon(3, 20), "Nous avons déplacé les livraisons de nuit vers le jour.")],
        closed_at=noon(3, 25),
    ),
    "B": Case(
        "noise",
        noon(3, 3),
        status="closed",
        outcome="resolved",
        acknowledge_by=date(2026, 3, 5),
        acknowledged_at=noon(3, 6),  # a day late
        respond_by=date(2026, 4, 1),
        responses=[
            (
                noon(3, 27),
                "Bonjour Mme Tremblay, au sujet de C-2026-0002 : les camions passent à 3 h du "
                "matin devant chez moi, nous a-t-on écrit. Nous avons interdit les livraisons "
                "avant 7 h et installé un panneau. Appelez-nous au 819 555-0142 ou à "
                "julie.tremblay@example.org. Cordialement, Julie Gagnon",
            )
        ],
        closed_at=noon(3, 30),
        text=CASE_B_WORDS,
    ),
    "C": Case(
        "noise",
        noon(3, 5),
        channel="telegram",
        language="en",
        status="closed",
        outcome="resolved",
        acknowledge_by=date(2026, 3, 9),
        acknowledged_at=noon(3, 6),
        respond_by=date(2026, 4, 3),
        responses=[(noon(3, 12), "CONFIDENTIAL-MARKER we met you at your farm.")],
        closed_at=noon(3, 14),
        confidential=True,
    ),
    "D": Case(
        "noise",
        noon(3, 10),
        status="responded",
        acknowledge_by=date(2026, 3, 12),
        acknowledged_at=noon(3, 11),
        respond_by=date(2026, 4, 8),
        responses=[(noon(4, 2), "A response after the period.")],
    ),
    "E": Case("noise", noon(3, 20), acknowledge_by=date(2026, 3, 24), respond_by=date(2026, 4, 17)),
    "F": Case(
        "water",
        noon(3, 4),
        status="closed",
        outcome="withdrawn",
        acknowledge_by=date(2026, 3, 6),
        respond_by=date(2026, 4, 2),
        closed_at=noon(3, 5),  # withdrawn before anything was due: it owed nothing
    ),
    "G": Case(
        "water",
        noon(3, 12),
        channel="discord",
        language="en",
        status="in_review",
        acknowledge_by=date(2026, 3, 16),
        # 22:30 in Quebec on the due day, already the 17th in UTC: on time.
        acknowledged_at=datetime(2026, 3, 17, 2, 30, tzinfo=UTC),
        respond_by=date(2026, 4, 10),
    ),
    "H": Case(
        "traffic",
        noon(3, 15),
        channel="telegram",
        status="closed",
        outcome="unresolved",
        acknowledge_by=date(2026, 3, 17),
        acknowledged_at=noon(3, 16),
        respond_by=date(2026, 4, 14),
        responses=[(noon(3, 31), "UNRESOLVED-MARKER we could not move the road.")],
        closed_at=noon(4, 5),
    ),
    "I": Case(
        "landscape",
        noon(3, 25),
        kind="objection",
        language="en",
        status="acknowledged",
        acknowledge_by=date(2026, 3, 27),
        acknowledged_at=noon(3, 26),
        respond_by=date(2026, 4, 24),
    ),
    "J": Case(
        "landscape",
        noon(3, 26),
        kind="objection",
        acknowledge_by=date(2026, 3, 30),
        respond_by=date(2026, 4, 27),
    ),
    # 22:00 on March 31 in Quebec, April 1 in UTC: received in March.
    "K": Case(
        "landscape",
        datetime(2026, 4, 1, 2, 0, tzinfo=UTC),
        kind="objection",
        acknowledge_by=date(2026, 4, 2),
        respond_by=date(2026, 4, 30),
    ),
    # Received before or after the period.
    "L": Case(
        "noise",
        noon(12, 1, 2025),
        acknowledge_by=date(2025, 12, 3),
        respond_by=date(2026, 1, 5),
    ),
    "M": Case(
        "environment",
        noon(2, 2),
        status="in_review",
        acknowledge_by=date(2026, 2, 4),
        acknowledged_at=noon(2, 3),
        respond_by=date(2026, 3, 3),  # never answered
    ),
    "N": Case(
        "environment",
        noon(2, 9),
        status="responded",
        acknowledge_by=date(2026, 2, 11),
        acknowledged_at=noon(2, 10),
        respond_by=date(2026, 3, 10),
        # Answered on time, then again after an appeal: the first response is what counts.
        responses=[(noon(3, 9), "Première réponse."), (noon(3, 20), "Seconde réponse.")],
    ),
    "O": Case(
        "economy",
        noon(2, 16),
        status="closed",
        outcome="resolved",
        acknowledge_by=date(2026, 2, 18),
        acknowledged_at=noon(2, 17),
        respond_by=date(2026, 3, 17),
        responses=[
            (noon(3, 18), "Nous avons ouvert une liste des entreprises locales pour les contrats.")
        ],
        closed_at=noon(3, 19),
    ),
    "P": Case(
        "economy",
        noon(2, 20),
        status="closed",
        outcome="resolved",
        acknowledge_by=date(2026, 2, 24),
        acknowledged_at=noon(2, 23),
        respond_by=date(2026, 3, 20),
        responses=[(noon(3, 19), "ANONYMISED-MARKER a response to an anonymised concern.")],
        closed_at=noon(3, 21),
        anonymised=True,
    ),
    "Q": Case("process", noon(4, 6), acknowledge_by=date(2026, 4, 8), respond_by=date(2026, 5, 6)),
}


@pytest.fixture
def demo(database: Engine) -> dict[str, Concern]:
    with Session(database, expire_on_commit=False) as session:
        concerns = {name: add(session, case) for name, case in DEMO.items()}
        # Events that must never reach the report: an internal note and a response the
        # citizen did not see, both later than the response they got.
        for kind, text, visible in (
            ("note", "NOTE-MARKER internal", False),
            ("response", "HIDDEN-MARKER draft", False),
        ):
            session.add(
                ConcernEvent(
                    concern_id=concerns["A"].id,
                    at=noon(3, 24),
                    actor="staff:julie",
                    kind=kind,
                    text=text,
                    visible_to_citizen=visible,
                )
            )
        session.commit()
    return concerns


def march(database: Engine, language: str = "fr", **overrides: object) -> RegisterReport:
    arguments: dict[str, object] = {**MARCH, "today": TODAY, "language": language}
    arguments.update(overrides)
    return build_report(database, **arguments)  # type: ignore[arg-type]


def test_received_concerns_are_counted_by_category_kind_status_channel_and_language(
    database: Engine, demo: dict[str, Concern]
) -> None:
    report = march(database)

    assert report.received_total == 11
    assert report.received_by_category == {
        "noise": 5,
        "environment": 0,
        "water": SMALL_COUNT,
        "landscape": 3,
        "traffic": SMALL_COUNT,
        "property_value": 0,
        "property_damage": 0,
        "health_safety": 0,
        "economy": 0,
        "process": 0,
        "other": 0,
    }
    assert report.received_by_kind == {"grievance": 8, "objection": 3}
    assert report.received_by_status == {
        "received": 3,
        "acknowledged": SMALL_COUNT,
        "in_review": SMALL_COUNT,
        "responded": SMALL_COUNT,
        "closed": 5,
    }
    assert report.received_by_channel == {"discord": SMALL_COUNT, "telegram": SMALL_COUNT, "web": 8}
    assert report.received_by_language == {"en": 3, "fr": 8}


def test_open_concerns_by_age_on_the_reports_day(
    database: Engine, demo: dict[str, Concern]
) -> None:
    report = march(database)

    # Open on April 10: D (31 days), E (21), G (29), I (16), J (15), K (10), L (130), M (67),
    # N (60), Q (4); H was closed on April 5.
    assert report.open_total == 10
    assert report.open_by_age == {"0-7": SMALL_COUNT, "8-30": 5, "31-90": 3, "90+": SMALL_COUNT}


def test_age_bands_have_exact_edges_and_look_at_that_day(database: Engine) -> None:
    today = date(2026, 6, 30)
    ages = {7: "0-7", 8: "8-30", 30: "8-30", 31: "31-90", 90: "31-90", 91: "90+"}
    with Session(database) as session:
        for age in ages:
            for _ in range(3):
                local = datetime.combine(today - timedelta(days=age), datetime.min.time())
                received = local.replace(hour=23, minute=30, tzinfo=TORONTO).astimezone(UTC)
                add(session, Case("noise", received))
        # Closed before the day: not open. Closed after it: open on that day (age 0).
        add(session, Case("noise", noon(6, 29), status="closed", closed_at=noon(6, 30)))
        for _ in range(3):
            add(session, Case("noise", noon(6, 30), status="closed", closed_at=noon(7, 2)))
        add(session, Case("noise", noon(7, 1)))  # received after the day

    report = build_report(
        database,
        period_start=date(2026, 6, 1),
        period_end=today,
        today=today,
        language="en",
    )

    assert report.open_by_age == {"0-7": 6, "8-30": 6, "31-90": 6, "90+": 3}
    assert report.open_total == 21


def test_deadlines_kept_are_judged_on_the_projects_calendar(
    database: Engine, demo: dict[str, Concern]
) -> None:
    report = march(database)

    # Due to be acknowledged in March: A C D G H I on time; B (a day late), E and J (never)
    # late; F was withdrawn before its day and is not counted.
    assert (report.acknowledgement.assessed, report.acknowledgement.on_time) == (9, 6)
    assert report.acknowledgement.percent == pytest.approx(100 * 6 / 9)
    # Due to be answered in March: A, N (first answer on time, again after an appeal) and P
    # on time; O a day late; M never answered.
    assert (report.response.assessed, report.response.on_time) == (5, 3)
    assert report.response.percent == pytest.approx(60.0)
    assert report.overdue_in_period == 1  # M
    assert report.overdue_total == 2  # M, and L from January
    assert report.acknowledgement.pending == report.response.pending == 0

    # In UTC days, G's acknowledgement at 22:30 in Quebec would wrongly be late.
    in_utc = march(database, timezone="UTC")
    assert (in_utc.acknowledgement.assessed, in_utc.acknowledgement.on_time) == (9, 5)


def test_deadlines_not_reached_yet_are_pending_not_late(database: Engine) -> None:
    with Session(database) as session:
        for due in (date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 12)):
            add(session, Case("noise", noon(3, 2), acknowledge_by=due, respond_by=due))
        add(
            session,
            Case("noise", noon(3, 2), acknowledge_by=date(2026, 3, 12), acknowledged_at=noon(3, 3)),
        )

    report = march(database, today=date(2026, 3, 10))

    # Due on the 9th: late; due on the report's day or later: pending; done: on time.
    assert report.acknowledgement.assessed == 2
    assert report.acknowledgement.on_time == 1
    assert report.acknowledgement.pending == 2
    assert report.response.assessed == 1
    assert report.response.percent == 0
    assert report.overdue_in_period == report.overdue_total == 1


def test_outcomes_and_median_times(database: Engine, demo: dict[str, Concern]) -> None:
    report = march(database)

    # Closed in March: A C B O P resolved, F withdrawn (H was closed in April).
    assert report.closed_total == 6
    assert report.closed_by_outcome == {"resolved": 5, "unresolved": 0, "withdrawn": SMALL_COUNT}
    # Days to close: F 1, C 9, A 23, B 27, P 29, O 31.
    assert report.median_days_to_close == 25.0
    # First responses in March: C 7, H 16, A 18, B 24, P 27, N 28, O 30 (D's was in April).
    assert report.first_responses == 7
    assert report.median_days_to_respond == 24.0


def test_small_counts_are_published_as_less_than_three(database: Engine) -> None:
    with Session(database) as session:
        for category, count in (("water", 1), ("traffic", 2), ("landscape", 3)):
            kind = "objection" if category == "water" else "grievance"
            for _ in range(count):
                add(session, Case(category, noon(3, 10), kind=kind, channel="email"))

    report = march(database)

    assert [published(n) for n in (0, 1, 2, 3, 40)] == [0, SMALL_COUNT, SMALL_COUNT, 3, 40]
    assert report.received_by_category["water"] == SMALL_COUNT
    assert report.received_by_category["traffic"] == SMALL_COUNT
    assert report.received_by_category["landscape"] == 3
    assert report.received_by_category["noise"] == 0
    assert report.received_by_kind == {"grievance": 5, "objection": SMALL_COUNT}
    markdown = render_markdown(report, project_name=PROJECT)
    assert "| eau | < 3 |" in markdown
    assert "| plainte | 5 |" in markdown
    assert "| objection | < 3 |" in markdown
    assert "| circulation | < 3 |" in markdown
    assert "| paysage | 3 |" in markdown
    # Neither the table nor the chart gives away which of the two is the 1.
    html = render_html(report, project_name=PROJECT)
    assert "eau: &lt; 3; paysage: 3; circulation: &lt; 3" in html


def test_you_said_we_did_shows_the_teams_responses_to_resolved_public_concerns(
    database: Engine, demo: dict[str, Concern]
) -> None:
    report = march(database)

    assert list(report.you_said_we_did) == ["noise", "economy"]
    noise = [line.text for line in report.you_said_we_did["noise"]]
    assert noise[0] == "Nous avons déplacé les livraisons de nuit vers le jour."
    # B's response loses the greeting, the reference, the citizen's words, the contact
    # details and the signature; the team's own words stay.
    assert "Nous avons interdit les livraisons avant 7 h et installé un panneau." in noise[1]
    for leaked in ("Tremblay", "Julie", "Gagnon", "C-2026", "devant chez moi", "555", "@"):
        assert leaked not in noise[1]
    assert [line.text for line in report.you_said_we_did["economy"]] == [
        "Nous avons ouvert une liste des entreprises locales pour les contrats."
    ]

    everything = render_markdown(report, project_name=PROJECT) + render_html(
        report, project_name=PROJECT
    )
    for marker in ("CONFIDENTIAL", "ANONYMISED", "UNRESOLVED", "NOTE-MARKER", "HIDDEN-MARKER"):
        assert marker not in everything
    assert "Nous avons ouvert une liste des entreprises locales" in everything


def test_no_reference_or_citizens_words_anywhere_in_the_report(
    database: Engine, demo: dict[str, Concern]
) -> None:
    for language in ("fr", "en"):
        report = march(database, language)
        for text in (
            render_markdown(report, project_name=PROJECT),
            render_html(report, project_name=PROJECT),
            repr(report),
        ):
            assert not REFERENCE.search(text)
            assert "citizen-" not in text
            assert "chat-" not in text
            for concern in demo.values():
                assert concern.text not in text
            assert "vacarme insupportable" not in text
            assert "devant chez moi" not in text


def test_a_citizen_who_asked_to_be_forgotten_is_not_quoted(database: Engine) -> None:
    with Session(database) as session:
        for erased in (True, False):
            add(
                session,
                Case(
                    "water",
                    noon(3, 2),
                    status="closed",
                    outcome="resolved",
                    responses=[(noon(3, 5), f"We tested the well (erased={erased}).")],
                    closed_at=noon(3, 6),
                    erased=erased,
                ),
            )

    report = march(database)

    assert [line.text for line in report.you_said_we_did["water"]] == [
        "We tested the well (erased=False)."
    ]
    assert report.you_said_we_did["water"][0].language == "fr"


def test_a_published_response_is_cleaned_and_capped() -> None:
    citizen = "Mon puits est à sec depuis le dynamitage de la semaine dernière."
    response = (
        "Hello Mr. Smith, thank you. Regarding c-2026-0042: mon puits est à sec depuis le "
        "dynamitage, you wrote. We tested the well on 2026-03-04 and will deliver water. "
        "Call (819) 555-0199 or write to j.smith@example.com."
    )
    cleaned = publishable_response(response, citizen_texts=[citizen])
    assert cleaned.startswith("Thank you. Regarding …: …, you wrote.")
    assert "2026-03-04" in cleaned  # a date is not a phone number
    assert "Smith" not in cleaned
    assert "555" not in cleaned
    assert "example" not in cleaned
    assert "puits" not in cleaned

    long = publishable_response("Nous avons fait ceci. " * 60, citizen_texts=[])
    assert len(long) <= 400
    assert long.endswith("…")
    assert "  " not in long
    assert publishable_response("Bonjour, Cordialement, Julie", citizen_texts=[]) == ""


class _Checker(HTMLParser):
    """Fails on what a browser would silently repair: unclosed or crossed tags, duplicate ids."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "col", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.ids: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.ids += [value or "" for name, value in attrs if name == "id"]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.ids += [value or "" for name, value in attrs if name == "id"]

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:]}")
        else:
            self.open.pop()


def checked(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.problems == []
    assert checker.open == []
    assert len(checker.ids) == len(set(checker.ids)), "duplicate ids"
    return checker


def test_the_html_page_is_self_contained_accessible_and_in_french(
    database: Engine, demo: dict[str, Concern]
) -> None:
    report = march(database)

    html = render_html(report, project_name="Trois-Collines <Éole & fils>")

    checker = checked(html)
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="fr">' in html
    assert "Trois-Collines &lt;Éole &amp; fils&gt;" in html
    assert "<Éole" not in html
    assert html.count("<svg") == 3
    assert html.count("<h1>") == 1
    assert html.count("<h2 ") == 7
    assert '<th scope="col">Catégorie</th>' in html
    assert '<th scope="row">bruit</th><td>5</td>' in html
    assert "<caption>Préoccupations reçues par type</caption>" in html
    assert '<th scope="col">Type</th>' in html
    assert '<th scope="row">plainte</th><td>8</td>' in html
    assert '<th scope="row">objection</th><td>3</td>' in html
    # The kinds come right after the categories.
    captions = re.findall(r"<caption>(.*?)</caption>", html)
    assert captions.index("Préoccupations reçues par type") == (
        captions.index("Préoccupations reçues par catégorie") + 1
    )
    svgs = [attrs for tag, attrs in checker.tags if tag == "svg"]
    assert all(attrs.get("role") == "img" and attrs.get("aria-labelledby") for attrs in svgs)
    assert html.count("<title id=") == 3
    assert html.count("<desc id=") == 3
    # Nothing fetched from elsewhere: no script, stylesheet, font or image by address.
    assert "<script" not in html
    assert "<link" not in html
    assert "@import" not in html
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html)
    assert "url(http" not in html
    # In French, with its figures.
    assert "Préoccupations reçues par catégorie" in html
    assert "Vous avez dit, nous avons fait" in html
    assert "dans un délai de 2 jours ouvrables" in html
    assert "répond à une plainte dans un délai de 21 jours ouvrables" in html
    assert "à une objection dans un délai de 30 jours ouvrables" in html
    assert "67\u00a0%" in html
    assert "60\u00a0%" in html
    assert "1er mars 2026" in html
    assert "31 mars 2026" in html
    assert "Délai médian de fermeture : 25 jours" in html
    assert '<li lang="fr">Nous avons déplacé' in html


def test_the_english_page_has_english_labels(database: Engine, demo: dict[str, Concern]) -> None:
    report = march(database, "en", acknowledge_days=1, respond_days=30, objection_respond_days=40)

    html = render_html(report, project_name="Trois-Collines Wind Farm")

    checked(html)
    assert '<html lang="en">' in html
    assert "Trois-Collines Wind Farm: concern register, public report" in html
    assert "Period from 1 March 2026 to 31 March 2026. Figures as of 10 April 2026." in html
    assert (
        "acknowledges it within 1 business day and responds within 30 business days to a "
        "grievance and within 40 business days to an objection" in html
    )
    assert "<caption>Concerns received by kind</caption>" in html
    assert '<th scope="row">grievance</th><td>8</td>' in html
    assert '<th scope="row">objection</th><td>3</td>' in html
    assert "Response within 30 business days (grievance) or 40 business days (objection)" in html
    assert "You said, we did" in html
    assert "Concerns received by category" in html
    assert '<th scope="row">water</th><td>&lt; 3</td>' in html
    assert "67%" in html
    assert "Median time to close: 25 days" in html
    assert "Préoccupations" not in html


def test_the_markdown_report_has_tables_in_the_readers_language(
    database: Engine, demo: dict[str, Concern]
) -> None:
    french = render_markdown(march(database), project_name=PROJECT)
    english = render_markdown(march(database, "en"), project_name="Trois-Collines Wind Farm")

    assert french.startswith(f"# {PROJECT} : registre des préoccupations, rapport public\n")
    assert "| Catégorie | Nombre |\n| --- | ---: |\n| bruit | 5 |" in french
    assert "| État | Nombre |" in french
    assert "| fermée | 5 |" in french
    assert "| Canal | Nombre |" in french
    assert "| site web | 8 |" in french
    assert "| français | 8 |" in french
    assert "| anglais | 3 |" in french
    assert "| 8 à 30 jours | 5 |" in french
    assert "| plus de 90 jours | < 3 |" in french
    assert "| Accusé de réception en 2 jours ouvrables | 9 | 6 | 67\u00a0% |" in french
    assert (
        "| Réponse en 21 jours ouvrables (plainte) ou en 30 jours ouvrables (objection) "
        "| 5 | 3 | 60\u00a0% |" in french
    )
    assert "| Type | Nombre |\n| --- | ---: |\n| plainte | 8 |\n| objection | 3 |" in french
    assert "| résolue | 5 |" in french
    assert "| retirée | < 3 |" in french
    assert "## Vous avez dit, nous avons fait" in french
    assert "### Bruit" in french
    assert "- Nous avons déplacé les livraisons de nuit vers le jour." in french

    assert "| Category | Number |\n| --- | ---: |\n| noise | 5 |" in english
    assert "| Kind | Number |\n| --- | ---: |\n| grievance | 8 |\n| objection | 3 |" in english
    assert "| Acknowledged within 2 business days | 9 | 6 | 67% |" in english
    assert "| withdrawn | < 3 |" in english
    assert "### Economy" in english
    assert "<svg" not in english


def test_markdown_escapes_what_would_break_a_table(database: Engine) -> None:
    with Session(database) as session:
        for _ in range(3):
            add(session, Case("noise", noon(3, 10), channel="sms|relay"))

    markdown = render_markdown(march(database), project_name="Projet *A* | B")

    assert "| sms\\|relay | 3 |" in markdown
    assert markdown.startswith("# Projet \\*A\\* \\| B")
    # Every row of a table has as many cell borders as its header.
    header = 0
    for line in markdown.splitlines():
        borders = len(re.findall(r"(?<!\\)\|", line)) if line.startswith("|") else 0
        header = header or borders
        assert borders in (0, header), line
        header = header if borders else 0


def test_an_empty_period_reads_plainly(database: Engine) -> None:
    report = march(database, "en")

    assert report.received_total == 0
    assert report.acknowledgement.percent is None
    assert report.median_days_to_close is None
    assert report.you_said_we_did == {}
    markdown = render_markdown(report, project_name="P")
    assert "No response to publish for this period." in markdown
    assert "| Acknowledged within 2 business days | 0 | 0 | — |" in markdown
    assert "Median time to close: no data" in markdown
    checked(render_html(report, project_name="P"))
    assert report.received_by_kind == {"grievance": 0, "objection": 0}
    assert "| grievance | 0 |" in markdown
    # One deadline for both kinds: the row says it once.
    same = render_markdown(march(database, "en", objection_respond_days=21), project_name="P")
    assert "| Response within 21 business days | 0 | 0 | — |" in same


def test_a_report_needs_a_period_and_a_served_language(database: Engine) -> None:
    with pytest.raises(ValueError, match="ends before"):
        build_report(
            database,
            period_start=date(2026, 3, 31),
            period_end=date(2026, 3, 1),
            today=TODAY,
            language="fr",
        )
    with pytest.raises(ValueError, match="fr or en"):
        march(database, "de")


def test_one_redaction_serves_the_report_and_the_faq_drafts() -> None:
    """Issue 14: the public report and the FAQ drafts share one redaction, the stricter one
    (any number of nine digits or more, not only North American ones)."""
    from bot.common.text import has_personal_data, redact_personal_data

    for number in ("(514) 555-0199", "06 12 34 56 78", "+33 6 12 34 56 78", "1-555-010-2025"):
        answer = f"Appelez Jean au {number} ou jean@example.org pour la suite."
        assert has_personal_data(answer)
        cleaned = publishable_response(answer, citizen_texts=[])
        assert number not in cleaned
        assert "example.org" not in cleaned
        assert redact_personal_data(answer) == "Appelez Jean au … ou … pour la suite."
    assert not has_personal_data("Les travaux durent 12 semaines, 8 h à 17 h.")
