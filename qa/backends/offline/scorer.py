"""The learned answer scorer: a probability per candidate sentence and per question.

Two small models, read from ``scorer.json`` beside this module (written by
``python -m train.scorer``; numpy is all they need at answer time):

* the candidate model gives each candidate the probability that it holds a
  gold fact of the question (features: :data:`~qa.backends.offline.features.CANDIDATE_FEATURES`);
* the abstention model gives the question the probability that the evidence
  answers it at all (:data:`~qa.backends.offline.features.QUESTION_FEATURES`,
  whose first two are the candidate model's two best probabilities).  It is
  calibrated on held-out folds, and it is what ``Answer.confidence`` reports.

The file also records the selection knobs chosen on held-out folds, the
training data's and code's hashes, and the scores measured when it was made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa.backends.offline.features import (
    CANDIDATE_FEATURES,
    QUESTION_FEATURES,
    Evidence,
    Matrix,
)
from qa.errors import ConfigError

WEIGHTS_FILE = Path(__file__).with_name("scorer.json")


@dataclass(frozen=True)
class Linear:
    """Logistic regression on standardised features: ``sigmoid((x - mean) / scale @ coef + b)``."""

    features: tuple[str, ...]
    mean: Matrix
    scale: Matrix
    coef: Matrix
    intercept: float

    @classmethod
    def from_dict(cls, data: dict[str, Any], expected: tuple[str, ...]) -> Linear:
        features = tuple(data["features"])
        if features != expected:
            raise ValueError(f"features {features} are not the engine's {expected}")
        mean, scale, coef = (
            np.asarray(data[key], dtype=np.float64) for key in ("mean", "scale", "coef")
        )
        if any(array.shape != (len(features),) for array in (mean, scale, coef)):
            raise ValueError("mean, scale and coef must have one value per feature")
        return cls(features, mean, scale, coef, float(data["intercept"]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": [round(float(v), 8) for v in self.mean],
            "scale": [round(float(v), 8) for v in self.scale],
            "coef": [round(float(v), 8) for v in self.coef],
            "intercept": round(self.intercept, 8),
        }

    def logit(self, x: Matrix) -> Matrix:
        result: Matrix = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return result

    def probability(self, x: Matrix) -> Matrix:
        return sigmoid(self.logit(x))


def sigmoid(x: Matrix) -> Matrix:
    result: Matrix = 0.5 * (1.0 + np.tanh(0.5 * x))
    return result


@dataclass(frozen=True)
class Selection:
    """How many candidates an answer takes, as chosen on held-out folds."""

    # Most words an answer may have (its best sentence is always taken, however long).
    answer_words: int
    # A further sentence needs at least this probability of holding a gold fact ...
    min_probability: float
    # ... and at least this share of the best sentence's probability.
    relative_probability: float
    # Abstain when the question's probability of being answered is below this.
    min_confidence: float


@dataclass(frozen=True)
class Scored:
    """A question's scores: per candidate, and that the evidence answers it (the confidence)."""

    probabilities: Matrix
    confidence: float


@dataclass(frozen=True)
class Scorer:
    candidate: Linear
    abstain: Linear
    selection: Selection
    meta: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorer:
        return cls(
            candidate=Linear.from_dict(data["candidate"], CANDIDATE_FEATURES),
            abstain=Linear.from_dict(data["abstain"], QUESTION_FEATURES),
            selection=Selection(**data["selection"]),
            meta=dict(data.get("meta", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.to_dict(),
            "abstain": self.abstain.to_dict(),
            "selection": {
                "answer_words": self.selection.answer_words,
                "min_probability": round(self.selection.min_probability, 6),
                "relative_probability": round(self.selection.relative_probability, 6),
                "min_confidence": round(self.selection.min_confidence, 6),
            },
            "meta": self.meta,
        }

    def score(self, evidence: Evidence) -> Scored:
        if not evidence.candidates:
            return Scored(np.zeros(0), 0.0)
        probabilities = self.candidate.probability(evidence.features)
        question = question_vector(evidence, probabilities)
        return Scored(probabilities, float(self.abstain.probability(question[None, :])[0]))


def question_vector(evidence: Evidence, probabilities: Matrix) -> Matrix:
    """QUESTION_FEATURES: the two best candidate probabilities, then the evidence's own."""
    ordered = np.sort(probabilities)[::-1]
    top = ordered[0] if len(ordered) else 0.0
    second = ordered[1] if len(ordered) > 1 else 0.0
    return np.concatenate([[top, second], evidence.question_features])


def select(probabilities: Matrix, words: list[int], selection: Selection) -> list[int]:
    """Indices of the candidates an answer takes: the best, then others while they fit."""
    order = [int(i) for i in np.argsort(-probabilities, kind="stable")]
    if not order:
        return []
    best = order[0]
    chosen = [best]
    total = words[best]
    floor = max(selection.min_probability, selection.relative_probability * probabilities[best])
    for i in order[1:]:
        if probabilities[i] < floor:
            break
        if total + words[i] <= selection.answer_words:
            chosen.append(i)
            total += words[i]
    return chosen


@lru_cache(maxsize=4)
def load(path: Path = WEIGHTS_FILE) -> Scorer:
    """The shipped scorer (or the one at ``path``), read once per process."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Scorer.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"the answer scorer's weights ({path}) cannot be read: {error}",
            fix="reinstall qa, or rebuild the weights with: python -m train.scorer",
        ) from None
