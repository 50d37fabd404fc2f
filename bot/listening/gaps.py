"""The knowledge base's gaps: the questions the assistant could not answer, grouped by meaning.

Every question the assistant did not answer from the knowledge base is kept as an
`UnansweredQuestion` (reason ``low_confidence``: the model was not sure; ``out_of_scope``: it
judged the question unrelated to the project). Grouping them shows the team what citizens keep
asking that the knowledge base does not cover, in either language, and a group is where a new
FAQ entry starts (`bot.listening.faq_drafts`).

Questions kept because the dialogue engine was down (``engine_unavailable``) are left out: the
knowledge base may well answer them; they say nothing about its gaps. So are questions whose
words were erased at the citizen's request.

How questions are grouped, and why:

* Each question's sentence embedding (a `Reader`'s, multilingual) is computed once and stored
  in ``UnansweredQuestion.embedding``; rows without one are embedded in batches when needed.
* Raw cosine similarities of these embeddings are all high (0.75 to 0.95) and French and
  English sentences sit apart: an English question is closer to an unrelated English question
  than to its French translation. Subtracting each language's mean embedding removes both
  effects (the language and the "a citizen asks about something" direction). The mean is
  taken over the questions being grouped, each weighted by one over its number of near
  neighbours, so that a question asked a hundred times counts like one distinct question and
  is not centred away, and it is pulled towards the mean of a fixed bilingual reference set
  (`REFERENCE_QUESTIONS`), so that a handful of questions is not centred into noise.
* Groups are formed by agglomerative clustering with average linkage: two groups merge while
  the average similarity of their questions is at least `SIMILARITY_THRESHOLD`.

The three constants were chosen on the calibration half of ``tests/data/gap_paraphrases.yml``
(FR/EN paraphrases of 13 questions, informal Quebec French included) for the best mean of four
measures: the F-measure of purity and inverse purity over the whole set, the same over every
pair of groups, the share of groups kept whole when grouped alone, and the share of a group
kept together when it is asked 30 times more than the others. ``tests/listening/test_gaps.py`` checks
the held-out half.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, bindparam, update
from sqlmodel import Session, SQLModel, col, select

from bot.common.text import ERASED
from bot.listening.reading import Reader
from bot.storage.models import Conversation, FaqDraft, UnansweredQuestion

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

GAP_REASONS: Final = ("low_confidence", "out_of_scope", "no_reviewed_answer", "passage")
"""Reasons of unanswered questions that may show a gap of the knowledge base: the model was not
sure, the question was outside the project, no reviewed answer contained what was asked (the
citizen was told so), or a passage of a document was quoted instead."""

SIMILARITY_THRESHOLD: Final = 0.125
"""Average centred cosine similarity at which two groups of questions are one gap."""

REFERENCE_WEIGHT: Final = 40.0
"""How many distinct questions the reference set's mean counts for in each language's mean."""

NEIGHBOUR_SIMILARITY: Final = 0.6
"""Similarity (centred on the reference) above which two questions count as near neighbours."""

EMBED_BATCH: Final = 64
MAX_QUESTIONS: Final = 3_000
"""Questions grouped at most (the most recent): the similarity matrix grows with its square."""

# Everyday questions citizens ask such an assistant, each in French and in English, about the
# project and beside it. Only their mean matters: it anchors the centring when few questions are
# grouped. None of them is a paraphrase of the labelled set in tests/data/gap_paraphrases.yml.
REFERENCE_QUESTIONS: Final[tuple[tuple[str, str], ...]] = (
    ("Quand les travaux vont-ils commencer?", "When will the work start?"),
    ("Combien d'éoliennes y aura-t-il?", "How many turbines will there be?"),
    ("Est-ce que ça va faire du bruit la nuit?", "Will it be noisy at night?"),
    ("Où seront installées les éoliennes?", "Where will the turbines be built?"),
    ("Qui est le promoteur du projet?", "Who is behind the project?"),
    ("Comment puis-je donner mon avis sur le projet?", "How can I give my opinion on the project?"),
    ("Y aura-t-il des emplois pour les gens de la région?", "Will there be jobs for local people?"),
    ("Combien la municipalité va-t-elle recevoir?", "How much will the municipality receive?"),
    ("Les camions vont-ils passer devant chez moi?", "Will the trucks drive past my house?"),
    ("Est-ce dangereux pour la santé?", "Is it dangerous for our health?"),
    ("Où puis-je lire l'étude d'impact?", "Where can I read the impact assessment?"),
    ("Comment joindre l'équipe du projet?", "How do I reach the project team?"),
    ("Quel est l'effet sur les oiseaux?", "What is the effect on birds?"),
    ("La valeur de ma maison va-t-elle baisser?", "Will my house lose value?"),
    ("Les routes seront-elles fermées?", "Will the roads be closed?"),
    ("Y aura-t-il du dynamitage près de mon puits?", "Will there be blasting near my well?"),
    ("Quand aura lieu la prochaine réunion publique?", "When is the next public meeting?"),
    ("Le projet est-il déjà approuvé?", "Has the project already been approved?"),
    ("Combien de temps vont durer les travaux?", "How long will the construction last?"),
    (
        "Est-ce que je vais voir les éoliennes de ma fenêtre?",
        "Will I see the turbines from my window?",
    ),
    ("Pourquoi ici et pas ailleurs?", "Why here and not somewhere else?"),
    ("Qui va entretenir les chemins?", "Who will maintain the roads?"),
    ("Est-ce que je peux parler à quelqu'un?", "Can I talk to someone?"),
    ("Quelle heure est-il?", "What time is it?"),
    ("Peux-tu me recommander un bon film?", "Can you recommend a good movie?"),
    ("Quelle musique aimes-tu?", "What kind of music do you like?"),
    ("Comment vas-tu aujourd'hui?", "How are you today?"),
    ("Où est le dépanneur le plus proche?", "Where is the nearest convenience store?"),
    ("Aide-moi à faire mes devoirs de mathématiques", "Help me with my math homework"),
    ("Quel est ton nom?", "What is your name?"),
    ("Est-ce que le bureau est ouvert le samedi?", "Is the office open on Saturday?"),
    ("Pourquoi le projet a-t-il pris du retard?", "Why is the project delayed?"),
)
_REFERENCE_LANGUAGES: Final = ("fr", "en")


class GapsError(Exception):
    """The gaps cannot be computed as asked (a period backwards, a reader that misbehaves)."""


@dataclass(frozen=True)
class DraftMark:
    """An FAQ draft some of a gap's questions are linked to."""

    id: int
    topic: str
    status: str  # draft, adopted, dropped


@dataclass(frozen=True)
class GapQuestion:
    """One distinct question of a gap.

    The same words written again in the same conversation are one question asked several
    times (`times`), not several questions.

    Attributes:
        id: the first `UnansweredQuestion` row with these words in this conversation.
        ids: every row folded into this question (all of them are linked to a draft).
        text: the citizen's words.
        language: the language detected for it (None when unknown).
        channel: web, telegram, discord...
        reason: one of `GAP_REASONS`.
        answered_with: the document passage quoted instead of a reviewed answer, if any.
        first_asked: when it was first asked.
        last_asked: when it was last asked.
        times: how many times it was asked in its conversation.
        faq_draft_id: the FAQ draft it is linked to, if any.
    """

    id: int
    ids: tuple[int, ...]
    text: str
    language: str | None
    channel: str
    reason: str
    answered_with: str | None
    first_asked: datetime
    last_asked: datetime
    times: int
    faq_draft_id: int | None


@dataclass(frozen=True)
class Gap:
    """Questions citizens asked that mean the same thing and that the knowledge base missed.

    Attributes:
        representative: the question closest to all the others (the medoid).
        questions: every distinct question of the gap, the earliest first.
        size: the number of distinct questions.
        citizens: the number of distinct citizens who asked them.
        first_asked: when the first was asked.
        last_asked: when the last was asked.
        languages: the languages they were asked in.
        channels: the channels they came from.
        out_of_scope: True when the assistant judged every one of them unrelated to the
            project (a joke, the weather...): rarely a gap, shown apart.
        drafts: the FAQ drafts some of its questions are already linked to.
    """

    representative: GapQuestion
    questions: tuple[GapQuestion, ...]
    size: int
    citizens: int
    first_asked: datetime
    last_asked: datetime
    languages: tuple[str, ...]
    channels: tuple[str, ...]
    out_of_scope: bool
    drafts: tuple[DraftMark, ...]

    @property
    def undrafted(self) -> tuple[GapQuestion, ...]:
        """The questions not yet linked to a draft waiting for review or adopted."""
        linked = {d.id for d in self.drafts if d.status != "dropped"}
        return tuple(q for q in self.questions if q.faq_draft_id not in linked)

    @property
    def topic(self) -> str | None:
        """The topic the team named for it: that of its latest draft not dropped, if any."""
        named = [d for d in self.drafts if d.status != "dropped"]
        return named[-1].topic if named else None

    def contains(self, question_id: int) -> bool:
        """Whether the `UnansweredQuestion` row `question_id` is one of the gap's."""
        return any(question_id in q.ids for q in self.questions)


@dataclass(frozen=True)
class GapReport:
    """The gaps of a period, and how many questions they were grouped from.

    Attributes:
        gaps: the gaps, the largest first, then the most recently asked.
        questions: the number of distinct questions grouped.
        truncated: True when the period held more than `MAX_QUESTIONS` questions and only the
            most recent were grouped.
    """

    gaps: tuple[Gap, ...]
    questions: int
    truncated: bool


def knowledge_gaps(
    engine: Engine,
    reader: Reader,
    *,
    since: datetime,
    until: datetime,
    language: str | None = None,
    channel: str | None = None,
    limit: int | None = 50,
) -> list[Gap]:
    """The knowledge base's gaps in a period, the largest first (then the most recent).

    Questions of the period without an embedding are embedded and their embeddings stored.

    Args:
        engine: the database.
        reader: turns texts into normalised sentence embeddings.
        since: the period's start (aware, included).
        until: the period's end (aware, excluded).
        language: only questions asked in this language ("fr", "en").
        channel: only questions from this channel ("web", "telegram"...).
        limit: the most gaps to return (None: all).

    Raises:
        GapsError: when the period ends before it starts, or the reader cannot embed the
            questions (its model missing, embeddings that are not one row per text).
    """
    report = find_gaps(engine, reader, since=since, until=until, language=language, channel=channel)
    return list(report.gaps if limit is None else report.gaps[:limit])


def find_gaps(
    engine: Engine,
    reader: Reader,
    *,
    since: datetime,
    until: datetime,
    language: str | None = None,
    channel: str | None = None,
    max_questions: int = MAX_QUESTIONS,
    threshold: float = SIMILARITY_THRESHOLD,
) -> GapReport:
    """Like `knowledge_gaps`, with every gap and the number of questions grouped.

    Raises:
        GapsError: as `knowledge_gaps`.
    """
    if until <= since:
        raise GapsError("The period ends before it starts: choose an end after the start.")
    with Session(engine, expire_on_commit=False) as session:
        rows, truncated = _questions(
            session, since=since, until=until, language=language, channel=channel,
            limit=max_questions,
        )  # fmt: skip
        if not rows:
            return GapReport(gaps=(), questions=0, truncated=False)
        vectors = _embeddings(session, reader, [row for row, _ in rows])
        questions, first_rows = _fold(rows)
        drafts = _draft_marks(session, {q.faq_draft_id for q in questions} - {None})
    # Rows folded into one question share its conversation, hence its citizen.
    citizens = [(rows[i][1].channel, rows[i][1].citizen_id) for i in first_rows]
    centred = centre(vectors[first_rows], [q.language for q in questions], _reference_means(reader))
    groups = average_linkage(centred, threshold)
    gaps = [_gap(questions, citizens, centred, members, drafts) for members in groups]
    gaps.sort(key=lambda g: (-g.size, -g.last_asked.timestamp(), g.representative.id))
    return GapReport(gaps=tuple(gaps), questions=len(questions), truncated=truncated)


@dataclass(frozen=True)
class TextGroup:
    """Texts grouped by `group_texts`: their indexes, and the one that best stands for them."""

    members: tuple[int, ...]
    representative: int


def group_texts(
    reader: Reader,
    texts: Sequence[str],
    languages: Sequence[str | None],
    *,
    threshold: float = SIMILARITY_THRESHOLD,
) -> list[TextGroup]:
    """Groups short texts by meaning across languages, as the knowledge gaps are (embedded,
    each language's mean removed, average linkage); for other things citizens write, such as
    the ideas of the idea box.

    Raises:
        GapsError: the reader cannot embed the texts.
    """
    if not texts:
        return []
    vectors = _normalised(_embed_texts(reader, list(texts)))
    centred = centre(vectors, list(languages), _reference_means(reader))
    return [
        TextGroup(members=tuple(members), representative=medoid(centred, members))
        for members in average_linkage(centred, threshold)
    ]


# --- reading the questions --------------------------------------------------------------------


def _questions(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    language: str | None,
    channel: str | None,
    limit: int,
) -> tuple[list[tuple[UnansweredQuestion, Conversation]], bool]:
    query = (
        select(UnansweredQuestion, Conversation)
        .join(Conversation, col(UnansweredQuestion.conversation_id) == col(Conversation.id))
        .where(
            col(UnansweredQuestion.created_at) >= since,
            col(UnansweredQuestion.created_at) < until,
            col(UnansweredQuestion.reason).in_(GAP_REASONS),
            col(UnansweredQuestion.text) != ERASED,
        )
        .order_by(col(UnansweredQuestion.created_at).desc(), col(UnansweredQuestion.id).desc())
        .limit(limit + 1)
    )
    if language:
        query = query.where(UnansweredQuestion.language == language)
    if channel:
        query = query.where(Conversation.channel == channel)
    found = [(q, c) for q, c in session.exec(query) if q.text.strip()]
    truncated = len(found) > limit
    found = found[:limit]
    found.reverse()  # the earliest first: groups and their questions read in time order
    return found, truncated


def _embeddings(session: Session, reader: Reader, rows: Sequence[UnansweredQuestion]) -> Vectors:
    """The rows' embeddings, computing and storing those missing (or of another size)."""
    stored: list[Vectors | None] = [
        np.frombuffer(r.embedding, dtype="<f4") if r.embedding else None for r in rows
    ]
    sizes = Counter(len(v) for v in stored if v is not None)
    missing = [i for i, v in enumerate(stored) if v is None]
    if missing or len(sizes) > 1:
        # Embed what is missing; the new rows tell the reader's size, and stored vectors of
        # another size (an earlier model) are embedded again.
        fresh = _embed_texts(reader, [rows[i].text for i in missing] or [rows[0].text])
        size = fresh.shape[1]
        for i, vector in zip(missing, fresh, strict=False):
            stored[i] = vector
        stale = [i for i, v in enumerate(stored) if v is not None and len(v) != size]
        for i, vector in zip(
            stale, _embed_texts(reader, [rows[i].text for i in stale]), strict=True
        ):
            stored[i] = vector
        _store(session, [(rows[i], stored[i]) for i in sorted({*missing, *stale})])
    matrix = np.vstack([v for v in stored if v is not None]).astype(np.float32)
    return _normalised(matrix)


def _embed_texts(reader: Reader, texts: Sequence[str]) -> Vectors:
    """Embeddings of `texts`, each distinct text once, in batches."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    distinct = list(dict.fromkeys(texts))
    parts = []
    for start in range(0, len(distinct), EMBED_BATCH):
        batch = distinct[start : start + EMBED_BATCH]
        try:
            vectors = np.asarray(reader.embed(batch), dtype=np.float32)
        except Exception as exc:
            # Broad on purpose: the reader is a model behind a protocol (weights missing or
            # corrupt, the engine failing); the desk and the report show one sentence instead.
            raise GapsError(f"The questions cannot be read right now: {exc}") from exc
        if vectors.ndim != 2 or vectors.shape[0] != len(batch) or vectors.shape[1] == 0:
            raise GapsError(
                f"The reader returned embeddings of shape {vectors.shape} for {len(batch)} texts."
            )
        parts.append(vectors)
    by_text = dict(zip(distinct, np.vstack(parts), strict=True))
    return np.vstack([by_text[t] for t in texts])


def _store(session: Session, embedded: Iterable[tuple[UnansweredQuestion, Vectors | None]]) -> None:
    """Stores embeddings, a batch per transaction (what is stored stays if a later batch fails)."""
    values = [
        {"qid": row.id, "blob": np.asarray(vector, dtype="<f4").tobytes()}
        for row, vector in embedded
        if vector is not None
    ]
    table = SQLModel.metadata.tables[UnansweredQuestion.__tablename__]
    statement = (
        update(table).where(table.c.id == bindparam("qid")).values(embedding=bindparam("blob"))
    )
    for start in range(0, len(values), EMBED_BATCH):
        session.connection().execute(statement, values[start : start + EMBED_BATCH])
        session.commit()
    if values:
        logger.info("stored the embeddings of %d unanswered questions", len(values))


def _fold_key(row: UnansweredQuestion) -> tuple[int, str]:
    return row.conversation_id, " ".join(row.text.casefold().split())


def _fold(
    rows: Sequence[tuple[UnansweredQuestion, Conversation]],
) -> tuple[list[GapQuestion], list[int]]:
    """Distinct questions (the same words in the same conversation are one), and the index in
    `rows` of each one's first row."""
    by_key: dict[tuple[int, str], list[int]] = {}
    for index, (row, _) in enumerate(rows):
        by_key.setdefault(_fold_key(row), []).append(index)
    questions: list[GapQuestion] = []
    first_rows: list[int] = []
    for indexes in by_key.values():
        first, conversation = rows[indexes[0]]
        moments = [rows[i][0].created_at for i in indexes]
        questions.append(
            GapQuestion(
                id=_row_id(first),
                ids=tuple(_row_id(rows[i][0]) for i in indexes),
                text=first.text,
                language=first.language,
                channel=conversation.channel,
                reason=first.reason,
                answered_with=first.answered_with,
                first_asked=min(moments),
                last_asked=max(moments),
                times=len(indexes),
                faq_draft_id=next(
                    (rows[i][0].faq_draft_id for i in indexes if rows[i][0].faq_draft_id), None
                ),
            )
        )
        first_rows.append(indexes[0])
    return questions, first_rows


def _row_id(row: UnansweredQuestion) -> int:
    if row.id is None:
        raise GapsError("An unanswered question read from the database has no id.")
    return row.id


def _draft_marks(session: Session, ids: set[int | None]) -> dict[int, DraftMark]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    found = session.exec(select(FaqDraft).where(col(FaqDraft.id).in_(wanted)))
    return {d.id: DraftMark(id=d.id, topic=d.topic, status=d.status) for d in found if d.id}


def _gap(
    questions: Sequence[GapQuestion],
    citizens: Sequence[tuple[str, str]],
    centred: Vectors,
    members: Sequence[int],
    drafts: dict[int, DraftMark],
) -> Gap:
    ordered = sorted(members, key=lambda i: (questions[i].first_asked, questions[i].id))
    chosen = [questions[i] for i in ordered]
    marks = sorted(
        {drafts[q.faq_draft_id] for q in chosen if q.faq_draft_id in drafts}, key=lambda d: d.id
    )
    return Gap(
        representative=questions[medoid(centred, ordered)],
        questions=tuple(chosen),
        size=len(chosen),
        citizens=len({citizens[i] for i in ordered}),
        first_asked=min(q.first_asked for q in chosen),
        last_asked=max(q.last_asked for q in chosen),
        languages=tuple(sorted({q.language for q in chosen if q.language})),
        channels=tuple(sorted({q.channel for q in chosen})),
        out_of_scope=all(q.reason == "out_of_scope" for q in chosen),
        drafts=tuple(marks),
    )


# --- the numbers ------------------------------------------------------------------------------


def _normalised(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


# The reference set's mean embedding per language, per reader (embedding it takes ~0.5 s).
_reference_cache: weakref.WeakKeyDictionary[Reader, dict[str, Vectors]] = (
    weakref.WeakKeyDictionary()
)


def _reference_means(reader: Reader) -> dict[str, Vectors]:
    try:
        return _reference_cache[reader]
    except (KeyError, TypeError):
        pass
    means = {
        language: _normalised(_embed_texts(reader, [pair[i] for pair in REFERENCE_QUESTIONS]))
        .mean(axis=0)
        .astype(np.float32)
        for i, language in enumerate(_REFERENCE_LANGUAGES)
    }
    # A reader that cannot be weakly referenced has its reference embedded again next time.
    with contextlib.suppress(TypeError):
        _reference_cache[reader] = means
    return means


def centre(
    vectors: Vectors,
    languages: Sequence[str | None],
    reference: dict[str, Vectors],
    *,
    reference_weight: float = REFERENCE_WEIGHT,
    neighbour_similarity: float = NEIGHBOUR_SIMILARITY,
) -> Vectors:
    """Normalised embeddings with each language's (robust) mean removed.

    Args:
        vectors: one L2-normalised row per question.
        languages: each row's language; a language without a reference mean (or None) is
            centred on the mean of the reference languages.
        reference: the reference set's mean embedding per language.
        reference_weight: how many distinct questions the reference mean counts for.
        neighbour_similarity: the similarity, centred on the reference, from which two
            questions count as near neighbours (a question's weight in the mean is one over
            its number of near neighbours, itself included).
    """
    if len(vectors) == 0:
        return vectors
    fallback: Vectors = np.vstack(list(reference.values())).mean(axis=0).astype(np.float32)
    keys = [lang if lang in reference else "" for lang in languages]
    anchors = np.vstack([reference.get(k, fallback) for k in keys]).astype(np.float32)
    anchored = _normalised(vectors - anchors)
    weights = 1.0 / _neighbour_counts(anchored, neighbour_similarity)
    centred = vectors.copy()
    key_array = np.array(keys)
    for key in dict.fromkeys(keys):
        rows = key_array == key
        anchor = reference.get(key, fallback)
        mean = ((vectors[rows] * weights[rows, None]).sum(axis=0) + reference_weight * anchor) / (
            weights[rows].sum() + reference_weight
        )
        centred[rows] -= mean.astype(np.float32)
    return _normalised(centred)


def _neighbour_counts(
    vectors: Vectors, similarity: float, chunk: int = 512
) -> npt.NDArray[np.float64]:
    counts = np.zeros(len(vectors), dtype=np.float64)
    for start in range(0, len(vectors), chunk):
        block = vectors[start : start + chunk] @ vectors.T
        counts[start : start + chunk] = (block >= similarity).sum(axis=1)
    return np.maximum(counts, 1.0)


def average_linkage(vectors: Vectors, threshold: float) -> list[list[int]]:
    """Agglomerative clustering of normalised rows with average linkage on cosine similarity.

    Two groups merge, the most similar first, while the average similarity between their
    members is at least `threshold`. Ties go to the lower indexes, so the result depends only
    on the rows and their order.

    Returns:
        The groups, each a sorted list of row indexes, in the order of their first row.
    """
    n = len(vectors)
    if n == 0:
        return []
    similarity = (vectors @ vectors.T).astype(np.float32)
    np.fill_diagonal(similarity, -np.inf)
    sizes = np.ones(n, dtype=np.float32)
    alive = np.ones(n, dtype=bool)
    members: list[list[int]] = [[i] for i in range(n)]
    best = similarity.argmax(axis=1)
    best_similarity = similarity[np.arange(n), best]
    while True:
        candidates = np.where(alive, best_similarity, -np.inf)
        i = int(candidates.argmax())
        if not candidates[i] >= threshold:
            break
        j = int(best[i])
        # Lance-Williams for average linkage: the merged group's average similarity to any
        # other group is the size-weighted mean of its two parts'.
        merged = (sizes[i] * similarity[i] + sizes[j] * similarity[j]) / (sizes[i] + sizes[j])
        merged[~alive] = -np.inf
        merged[[i, j]] = -np.inf
        similarity[i, :] = merged
        similarity[:, i] = merged
        similarity[j, :] = -np.inf
        similarity[:, j] = -np.inf
        sizes[i] += sizes[j]
        alive[j] = False
        members[i].extend(members[j])
        members[j] = []
        best_similarity[j] = -np.inf
        stale = np.flatnonzero(alive & ((best == i) | (best == j)))
        stale = np.union1d(stale, [i])
        best[stale] = similarity[stale].argmax(axis=1)
        best_similarity[stale] = similarity[stale, best[stale]]
        closer = alive & (merged > best_similarity)
        best[closer] = i
        best_similarity[closer] = merged[closer]
    groups = [sorted(m) for m in members if m]
    groups.sort(key=lambda g: g[0])
    return groups


def medoid(vectors: Vectors, members: Sequence[int]) -> int:
    """The member with the highest mean similarity to the others (the earliest on a tie)."""
    if len(members) <= 2:
        return members[0]
    block = vectors[list(members)]
    scores = (block @ block.T).sum(axis=1)
    return members[int(np.argmax(scores))]
