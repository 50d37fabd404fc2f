"""Which category of the contract a concern falls in.

A small multinomial naive Bayes over accent-folded words and word prefixes,
trained at start-up on the labelled `report_concern` examples of the NLU data
(each group follows a `# category: <name>` line), with a hand-written list of
strong cue words in both languages. It needs no network and no model file, and a
promoter improves it by adding examples under the right category.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.common.text import fold, words

CATEGORIES = (
    "noise",
    "environment",
    "water",
    "landscape",
    "traffic",
    "property_value",
    "property_damage",
    "health_safety",
    "economy",
    "process",
    "other",
)
DEFAULT_CATEGORY = "other"
CUE_WEIGHT = 3.0

# Strong, unambiguous cues (accent-folded prefixes). A cue adds CUE_WEIGHT to its category's score.
CUES: dict[str, tuple[str, ...]] = {
    "noise": (
        "bruit",
        "noise",
        "noisy",
        "loud",
        "bruyant",
        "dynamit",
        "blast",
        "vibra",
        "hum ",
        "humming",
        "son ",
        "decibel",
        "sommeil",
        "sleep",
        "dormir",
        "tapage",
        "vacarme",
    ),
    "environment": (
        "oiseau",
        "bird",
        "chauve",
        "bat ",
        "bats",
        "faune",
        "wildlife",
        "foret",
        "forest",
        "arbre",
        "tree",
        "milieu humide",
        "wetland",
        "marais",
        "orignal",
        "moose",
        "chevreuil",
        "deer",
        "habitat",
        "coupe",
        "ecosyst",
        "animal",
        "animaux",
    ),
    "water": (
        "puits",
        "my well",
        "our well",
        "the well",
        "wells",
        "eau",
        "water",
        "source",
        "spring",
        "ruisseau",
        "stream",
        "creek",
        "nappe",
        "aquifer",
        "riviere",
        "river",
        "lac ",
        "lake",
        "potable",
        "drinking",
    ),
    "landscape": (
        "paysage",
        "landscape",
        "vue",
        "view",
        "horizon",
        "lumiere",
        "light",
        "clignot",
        "blink",
        "visuel",
        "visual",
        "laid",
        "ugly",
        "eyesore",
        "panorama",
        "scenery",
    ),
    "traffic": (
        "camion",
        "truck",
        "trafic",
        "traffic",
        "route",
        "road",
        "chemin",
        "detour",
        "poussiere",
        "dust",
        "circulation",
        "vitesse",
        "speed",
        "nid",
        "pothole",
        "fermeture",
        "closure",
    ),
    "property_value": (
        "valeur",
        "value",
        "vendre",
        "sell",
        "maison va",
        "property",
        "propriete",
        "immobili",
        "real estate",
        "evaluation",
        "hypothe",
        "mortgage",
        "acheteur",
        "buyer",
    ),
    "property_damage": (
        "fissur",
        "lezard",
        "crack",
        "solage",
        "fondation",
        "foundation",
        "endommag",
        "damag",
        "brise",
        "broken",
        "cloture",
        "fence",
        "recolte",
        "crop",
        "betail",
        "livestock",
        "vache",
        "cattle",
        "ponceau",
        "culvert",
        "entree de cour",
        "driveway",
        "dedommag",
        "who pays",
        "qui va payer",
        "qui paie",
    ),
    "health_safety": (
        "sante",
        "health",
        "ombre",
        "shadow",
        "flicker",
        "mal de tete",
        "headache",
        "glace",
        "ice ",
        "securite",
        "safety",
        "danger",
        "incendie",
        "fire",
        "electromagn",
        "emf",
        "accident",
        "bless",
        "injur",
        "enfant",
        "kids",
        "stroboscop",
        "migraine",
    ),
    "economy": (
        "emploi",
        "job",
        "contrat",
        "contract",
        "entreprise",
        "business",
        "economi",
        "touris",
        "embauche",
        "hiring",
        "hire",
        "local",
        "retombee",
        "chomage",
        "commerce",
    ),
    "process": (
        "consult",
        "transparen",
        "confiance",
        "trust",
        "decision",
        "decid",
        "reunion",
        "meeting",
        "ecoute",
        "listen",
        "mensonge",
        "lie ",
        "lies",
        "liar",
        "lying",
        "cache",
        "hiding",
        "promoteur",
        "promoter",
        "democra",
        "referendum",
        "bape",
        "scandale",
        "mepris",
        "information",
    ),
}
_LABEL = re.compile(r"^#\s*category:\s*([a-z_]+)\s*$")
_EXAMPLE = re.compile(r"^\s+-\s+(.+?)\s*$")


@dataclass(frozen=True)
class CategoryGuess:
    """The category of a concern and how sure the classifier is (0-1)."""

    category: str
    confidence: float


def _features(text: str) -> list[str]:
    tokens = [fold(token) for token in words(text)]
    features = [f"w:{token}" for token in tokens]
    features += [f"p:{token[:5]}" for token in tokens if len(token) > 5]
    return features


def read_labelled_examples(path: Path) -> list[tuple[str, str]]:
    """(text, category) pairs from an NLU file whose groups follow `# category: X` lines."""
    examples: list[tuple[str, str]] = []
    category: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        label = _LABEL.match(line)
        if label:
            category = label.group(1)
            if category not in CATEGORIES:
                raise ValueError(f"{path}: unknown concern category {category!r}")
            continue
        example = _EXAMPLE.match(line)
        if example and category is not None and not line.lstrip().startswith("- intent"):
            examples.append((example.group(1), category))
    return examples


class ConcernCategorizer:
    """Classifies a concern's text into one of the contract's categories."""

    def __init__(self, examples: Iterable[tuple[str, str]]) -> None:
        self._counts: dict[str, Counter[str]] = {c: Counter() for c in CATEGORIES}
        documents: Counter[str] = Counter()
        for text, category in examples:
            self._counts[category].update(_features(text))
            documents[category] += 1
        total = sum(documents.values()) or 1
        self._priors = {
            c: math.log((documents[c] + 1) / (total + len(CATEGORIES))) for c in CATEGORIES
        }
        self._vocabulary = len(set().union(*self._counts.values())) or 1
        self._totals = {c: sum(counts.values()) for c, counts in self._counts.items()}

    @classmethod
    def from_nlu_file(cls, path: Path) -> ConcernCategorizer:
        """A categorizer trained on the labelled `report_concern` examples in `path`."""
        return cls(read_labelled_examples(path))

    def categorize(self, text: str) -> CategoryGuess:
        """The most likely category; `other` when nothing in the text points anywhere."""
        features = _features(text)
        folded = " " + " ".join(fold(token) for token in words(text)) + " "
        scores: dict[str, float] = {}
        any_evidence = False
        for category in CATEGORIES:
            counts, total = self._counts[category], self._totals[category]
            score = self._priors[category]
            for feature in features:
                if feature in counts:
                    any_evidence = True
                score += math.log((counts[feature] + 1) / (total + self._vocabulary))
            cues = CUES.get(category, ())
            hits = sum(1 for cue in cues if (" " + cue) in folded)
            if hits:
                any_evidence = True
            scores[category] = score + CUE_WEIGHT * hits
        if not any_evidence:
            return CategoryGuess(DEFAULT_CATEGORY, 0.0)
        best = max(scores, key=lambda c: scores[c])
        peak = scores[best]
        norm = sum(math.exp(s - peak) for s in scores.values())
        return CategoryGuess(best, 1.0 / norm)
