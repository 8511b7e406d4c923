"""Rebuild the offline engine's answer scorer (``qa/backends/offline/scorer.json``) from eval data.

    python -m train.scorer            # retrain, write scorer.json, print the scores
    python -m train.scorer --check    # only check scorer.json's recorded hash (fast; CI)

Steps, all deterministic:

1. Each corpus's articles are ingested into a throwaway store under ``--cache``
   (``news``: ``eval/articles`` for the questions of ``eval/``,
   ``eval/paraphrased/`` and ``eval/news-abstention/`` in both wordings, the
   last two for abstention only; ``squad``: ``eval/squad2/``), and every question is
   retrieved across its whole corpus (collection scope, k=8), as ``qa ask`` does.
2. The engine's own code (:func:`qa.backends.offline.learned.gather`) computes each
   candidate's features; a candidate's label is whether a gold fact of the
   question occurs in it, matched as ``qa eval`` matches facts.
3. Logistic regressions (L2, Newton's method, no randomness) are fitted:
   the candidate model on every candidate, the abstention model on each
   question's vector, with the candidate probabilities in it taken out of fold.
4. Cross-validation is grouped by article: no article's questions (in any
   wording) are in both the training and the validation folds.  The selection
   knobs and the abstention threshold are chosen on the out-of-fold scores; the
   cross-validated scores use, in each fold, a threshold chosen on that fold's
   training part alone (nested).
5. ``scorer.json`` is written with the hash of the data and code it came from,
   and the in-sample and cross-validated scores, next to the naive anchor (the
   sentences nearest the question by MiniLM cosine, the same number of words,
   never abstaining), measured the same way.

Needs only numpy and qa itself.  ``--cache`` keeps the stores and retrieval
results, so a second run computes no embedding.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.backends.offline.features import (  # noqa: E402
    CANDIDATE_FEATURES,
    QUESTION_FEATURES,
    Evidence,
)
from qa.backends.offline.learned import gather  # noqa: E402
from qa.backends.offline.scorer import (  # noqa: E402
    WEIGHTS_FILE,
    Linear,
    Scorer,
    Selection,
    question_vector,
    select,
)
from qa.config import Settings  # noqa: E402
from qa.eval.dataset import load_dataset  # noqa: E402
from qa.eval.match import fact_found, normalise  # noqa: E402
from qa.index.embed import Vectors  # noqa: E402
from qa.index.retrieve import retrieve  # noqa: E402
from qa.index.store import Store  # noqa: E402
from qa.ingestion.pipeline import ingest  # noqa: E402
from qa.types import Chunk, Hit  # noqa: E402

# Corpora: the datasets whose questions are asked across one collection of articles.
CORPORA: dict[str, tuple[str, ...]] = {
    "news": (
        "eval",
        "eval/paraphrased",
        "eval/news-abstention",
        "eval/news-abstention/paraphrased",
    ),
    "squad": ("eval/squad2",),
}
# The files whose content decides the weights: data, and the code that reads it.
CODE_FILES = (
    "qa/backends/offline/features.py",
    "qa/backends/offline/scorer.py",
    "qa/backends/offline/learned.py",
    "qa/backends/offline/question.py",
    "qa/backends/offline/discourse.py",
    "qa/text/words.py",
    "train/scorer.py",
)
# Datasets that only train and calibrate abstention: their answerable questions are controls
# in the same wordings as their unanswerable ones, not answer-selection data (neither the
# candidate model nor the selection knobs see them).
ABSTENTION_ONLY = ("eval/news-abstention", "eval/news-abstention/paraphrased")
K = 8  # chunks retrieved per question, as `qa ask` and `qa eval` use by default
ABSTAINED_WORDS = 5  # "The articles do not say." as `qa eval` counts it
# L2 penalty (on standardised features) of the two models.
CANDIDATE_L2 = 1.0
ABSTAIN_L2 = 1.0
# Cross-validation folds, each of whole articles (dealt round in name order): the scores
# reported as cross-validated, and the candidate probabilities the abstention model learns from.
OUTER_FOLDS = 5
INNER_FOLDS = 3
# Each corpus weighs the same in training, however many questions it has.
BALANCE_CORPORA = True
# ... except in the abstention model, where SQuAD weighs a tenth of the news: its
# unanswerable questions are written to look answerable (the names and words are all in
# the article), so they teach the model to ignore what news questions lack (a person no
# article names, the number asked for).  Grouped CV (docs/answering.md): AUC of the
# confidence on eval/news-abstention 0.60 -> 0.87 with its data at this weight.
ABSTAIN_CORPUS_WEIGHTS = {"news": 1.0, "squad": 0.1}
# Selection knobs and abstention thresholds tried on the out-of-fold scores.
WORD_BUDGETS = (45, 50, 55, 60, 70)
MIN_PROBABILITIES = (0.05, 0.1, 0.2, 0.3)
RELATIVE_PROBABILITIES = (0.0, 0.3, 0.5, 0.7)
THRESHOLDS = tuple(round(t, 3) for t in np.arange(0.01, 0.951, 0.01))
# The threshold abstains as much as it can (mean abstention recall over the datasets) while,
# out of fold, no dataset loses more than this fact recall to abstaining on answerable
# questions, nor abstains on more than MAX_FALSE_ABSTENTION of them: issue 13's news target
# (false abstention <= 0.05) with a margin, as a reworded question meets a weaker confidence.
MAX_RECALL_LOSS = 0.005
MAX_FALSE_ABSTENTION = 0.05
# The mean answer length the selection must keep to, on every corpus (words).
TARGET_WORDS = 44.0


@dataclass
class Question:
    """One question's candidates, features and labels."""

    corpus: str
    dataset: str
    id: str
    article: str
    answerable: bool
    facts: int
    features: np.ndarray  # candidates x CANDIDATE_FEATURES
    question: np.ndarray  # QUESTION_FEATURES without the two scorer outputs
    words: list[int]
    found: list[frozenset[int]]  # per candidate: the gold facts it holds
    cos: np.ndarray  # per candidate: the MiniLM cosine, for the naive anchor
    texts: list[str] = field(default_factory=list)

    @property
    def group(self) -> str:
        return f"{self.corpus}/{self.article}"

    @property
    def labels(self) -> np.ndarray:
        return np.array([bool(f) for f in self.found], dtype=np.float64)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def data_hash(root: Path = ROOT) -> dict[str, str]:
    """sha256 of the training data (articles and gold files) and of the code that reads it."""
    data = hashlib.sha256()
    for corpus in CORPORA.values():
        for name in corpus:
            folder = root / name
            for path in sorted([*folder.glob("articles/*.txt"), folder / "gold.jsonl"]):
                data.update(path.relative_to(root).as_posix().encode())
                data.update(path.read_bytes())
    code = hashlib.sha256()
    for name in CODE_FILES:
        code.update(name.encode())
        code.update((root / name).read_bytes())
    return {"data_sha256": data.hexdigest(), "code_sha256": code.hexdigest()}


class _CachedQuestions:
    """An embedder that answers questions from vectors computed once and kept on disk."""

    def __init__(self, inner: Any, vectors: dict[str, np.ndarray]) -> None:
        self.inner = inner
        self.vectors = vectors
        self.name = inner.name
        self.dimension = inner.dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        if len(texts) == 1 and texts[0] in self.vectors:
            return self.vectors[texts[0]][None, :].astype(np.float32)
        return self.inner.embed(texts)  # type: ignore[no-any-return]


def build(cache: Path, quiet: bool = False) -> list[Question]:
    """Every question of every corpus, with its candidates' features and labels."""
    questions: list[Question] = []
    for corpus, names in CORPORA.items():
        questions += _build_corpus(cache, corpus, names, quiet)
    return questions


def _build_corpus(cache: Path, corpus: str, names: Sequence[str], quiet: bool) -> list[Question]:
    settings = Settings(home=cache / "home", collection=f"train-{corpus}")
    datasets = [load_dataset(ROOT / name) for name in names]
    store = Store.open(settings)
    try:
        paths = sorted({path.resolve() for d in datasets for path in d.articles.values()})
        report = ingest([str(p) for p in paths], settings=settings, store=store)
        doc_of = {Path(o.source).name: o.doc_id for o in report.outcomes}
        retrieved_file = cache / f"retrieved-{corpus}.pkl"
        retrieved: dict[str, Any] = {}
        if retrieved_file.is_file():
            retrieved = pickle.loads(retrieved_file.read_bytes())
        if retrieved.get("_docs") != sorted(doc_of.values()):
            retrieved = {"_docs": sorted(doc_of.values())}
        asked = [q for d in datasets for q in d.questions]
        started = time.perf_counter()
        for n, gold in enumerate(asked):
            if gold.question in retrieved:
                continue
            hits = retrieve(store, gold.question, k=K)
            retrieved[gold.question] = (
                [(h.chunk, h.score, h.dense_rank, h.lexical_rank) for h in hits],
                np.asarray(store.embedder.embed([gold.question])[0]),
            )
            if not quiet and n % 200 == 0:
                print(f"  {corpus}: retrieved {n}/{len(asked)}", file=sys.stderr)
        retrieved_file.write_bytes(pickle.dumps(retrieved))
        embedder = _CachedQuestions(
            store.embedder, {q: v[1] for q, v in retrieved.items() if q != "_docs"}
        )
        documents = {doc_id: store.get_document(doc_id) for doc_id in doc_of.values()}
        result: list[Question] = []
        for dataset, name in zip(datasets, names, strict=True):
            for gold in dataset.questions:
                rows: list[tuple[Chunk, float, int | None, int | None]] = retrieved[gold.question][
                    0
                ]
                hits = [Hit(*row) for row in rows]
                used = {hit.chunk.doc_id: documents[hit.chunk.doc_id] for hit in hits}
                _, evidence = gather(gold.question, hits, used, store, embedder)  # type: ignore[arg-type]
                result.append(_question(corpus, name, gold, evidence))
        if not quiet:
            print(
                f"  {corpus}: {len(result)} questions in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
        return result
    finally:
        store.close()


def _question(corpus: str, dataset: str, gold: Any, evidence: Evidence) -> Question:
    found = []
    for candidate in evidence.candidates:
        tokens = normalise(candidate.text)
        found.append(
            frozenset(i for i, fact in enumerate(gold.gold_facts) if fact_found(fact, tokens))
        )
    cos_column = CANDIDATE_FEATURES.index("cos")
    return Question(
        corpus=corpus,
        dataset=dataset,
        id=gold.id,
        article=gold.article,
        answerable=gold.answerable,
        facts=len(gold.gold_facts),
        features=evidence.features,
        question=evidence.question_features,
        words=[c.words for c in evidence.candidates],
        found=found,
        cos=evidence.features[:, cos_column].copy(),
        texts=[c.text for c in evidence.candidates],
    )


# ---------------------------------------------------------------------------
# Learning
# ---------------------------------------------------------------------------


def fit_logistic(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, l2: float, names: tuple[str, ...]
) -> Linear:
    """L2-penalised logistic regression on standardised features, by Newton's method."""
    mean = np.average(x, axis=0, weights=weights)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weights))
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = weights / weights.sum() * len(x)
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the intercept is not penalised
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -35, 35)))
        gradient = z.T @ (w * (p - y)) + penalty * beta
        hessian = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Linear(names, mean, scale, beta[:-1].copy(), float(beta[-1]))


def _corpus_weights(questions: Sequence[Question]) -> dict[str, float]:
    if not BALANCE_CORPORA:
        return dict.fromkeys({q.corpus for q in questions}, 1.0)
    counts: dict[str, int] = {}
    for q in questions:
        counts[q.corpus] = counts.get(q.corpus, 0) + 1
    return {corpus: len(questions) / (len(counts) * n) for corpus, n in counts.items()}


def fit_candidates(questions: Sequence[Question]) -> Linear:
    questions = [q for q in questions if q.dataset not in ABSTENTION_ONLY]
    corpus_weight = _corpus_weights(questions)
    x = np.vstack([q.features for q in questions if len(q.words)])
    y = np.concatenate([q.labels for q in questions if len(q.words)])
    # Every question weighs the same, however many candidates it has.
    w = np.concatenate(
        [
            np.full(len(q.words), corpus_weight[q.corpus] / len(q.words))
            for q in questions
            if q.words
        ]
    )
    return fit_logistic(x, y, w, CANDIDATE_L2, CANDIDATE_FEATURES)


def fit_abstain(questions: Sequence[Question], probabilities: Sequence[np.ndarray]) -> Linear:
    corpus_weight = _corpus_weights(questions)
    x = np.vstack([_qvec(q, p) for q, p in zip(questions, probabilities, strict=True)])
    y = np.array([float(q.answerable) for q in questions])
    w = np.array([corpus_weight[q.corpus] * ABSTAIN_CORPUS_WEIGHTS[q.corpus] for q in questions])
    return fit_logistic(x, y, w, ABSTAIN_L2, QUESTION_FEATURES)


def _qvec(question: Question, probabilities: np.ndarray) -> np.ndarray:
    evidence = Evidence((), question.features, question.question)
    return question_vector(evidence, probabilities)


def folds(questions: Sequence[Question], count: int = 0) -> list[list[int]]:
    """Question indices per fold, grouped by article: one fold per article (leave one
    article out), or ``count`` folds of whole articles dealt round in name order."""
    groups = sorted({q.group for q in questions})
    if not count:
        return [[i for i, q in enumerate(questions) if q.group == g] for g in groups]
    fold_of = {g: n % count for n, g in enumerate(groups)}
    return [[i for i, q in enumerate(questions) if fold_of[q.group] == k] for k in range(count)]


# Per outer fold: its held-out question indices, the training part, and the training
# part's own out-of-fold candidate probabilities and confidences (for a nested threshold).
Fold = tuple[list[int], list[Question], list[np.ndarray], np.ndarray]


def out_of_fold(
    questions: Sequence[Question],
) -> tuple[list[np.ndarray], np.ndarray, list[Fold]]:
    """Candidate probabilities and confidences, each from models that never saw its article.

    The abstention model of each fold is itself fitted on candidate probabilities
    taken out of fold inside the training part, as it meets them at answer time.
    The folds come back with the training part's own out-of-fold confidences, so
    that :func:`nested_thresholds` chooses each fold's threshold without it.
    """
    probabilities: list[np.ndarray] = [np.zeros(0)] * len(questions)
    confidence = np.zeros(len(questions))
    result: list[Fold] = []
    for number, held in enumerate(folds(questions, OUTER_FOLDS), 1):
        print(f"  fold {number}/{OUTER_FOLDS}", file=sys.stderr)
        held_set = set(held)
        train = [q for i, q in enumerate(questions) if i not in held_set]
        candidate = fit_candidates(train)
        inner = _inner_probabilities(train)
        abstain = fit_abstain(train, inner)
        inner_confidence = np.zeros(len(train))
        for inner_held in folds(train, INNER_FOLDS):
            rest = sorted(set(range(len(train))) - set(inner_held))
            model = fit_abstain([train[j] for j in rest], [inner[j] for j in rest])
            for j in inner_held:
                inner_confidence[j] = _confidence(model, train[j], inner[j])
        result.append((held, train, inner, inner_confidence))
        for i in held:
            q = questions[i]
            p = candidate.probability(q.features) if q.words else np.zeros(0)
            probabilities[i] = p
            confidence[i] = _confidence(abstain, q, p)
    return probabilities, confidence, result


def nested_thresholds(count: int, parts: Sequence[Fold], selection: Selection) -> np.ndarray:
    """Per question, the threshold chosen on its fold's training part alone."""
    thresholds = np.zeros(count)
    for held, train, inner, inner_confidence in parts:
        thresholds[held] = choose_threshold(train, inner, inner_confidence, selection)
    return thresholds


def _confidence(model: Linear, question: Question, probabilities: np.ndarray) -> float:
    if not question.words:
        return 0.0
    return float(model.probability(_qvec(question, probabilities)[None, :])[0])


def _inner_probabilities(questions: Sequence[Question]) -> list[np.ndarray]:
    result: list[np.ndarray] = [np.zeros(0)] * len(questions)
    for held in folds(questions, INNER_FOLDS):
        held_set = set(held)
        model = fit_candidates([q for i, q in enumerate(questions) if i not in held_set])
        for i in held:
            q = questions[i]
            result[i] = model.probability(q.features) if q.words else np.zeros(0)
    return result


# ---------------------------------------------------------------------------
# Scoring, as `qa eval` scores
# ---------------------------------------------------------------------------


def evaluate(
    questions: Sequence[Question],
    probabilities: Sequence[np.ndarray],
    confidence: np.ndarray,
    selection: Selection,
    thresholds: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Per dataset: fact recall, mean words, abstention recall and false abstention
    (abstaining below ``thresholds``, per question, or else the selection's)."""
    if thresholds is None:
        thresholds = np.full(len(questions), selection.min_confidence)
    rows: dict[str, list[tuple[bool, float, float, bool]]] = {}
    for q, p, c, t in zip(questions, probabilities, confidence, thresholds, strict=True):
        abstained = not q.words or c < t
        if abstained:
            recall, words = 0.0, float(ABSTAINED_WORDS)
        else:
            chosen = select(p, q.words, selection)
            found = frozenset().union(*(q.found[i] for i in chosen))
            recall = len(found) / q.facts if q.facts else 0.0
            words = float(sum(q.words[i] for i in chosen))
        rows.setdefault(q.dataset, []).append((q.answerable, recall, words, abstained))
    return {name: _metrics(values) for name, values in sorted(rows.items())}


def _metrics(rows: Sequence[tuple[bool, float, float, bool]]) -> dict[str, float]:
    answerable = [r for r in rows if r[0]]
    unanswerable = [r for r in rows if not r[0]]
    return {
        "fact_recall": float(np.mean([r[1] for r in answerable])),
        "words": float(np.mean([r[2] for r in answerable])),
        "abstention_recall": float(np.mean([r[3] for r in unanswerable])) if unanswerable else 0,
        "false_abstention": float(np.mean([r[3] for r in answerable])),
        "questions": len(rows),
    }


def naive(questions: Sequence[Question], words: dict[str, float]) -> dict[str, dict[str, float]]:
    """The anchor at equal length: per dataset, the naive backend with the word budget whose
    mean answer length comes closest to ``words[dataset]`` (the engine's)."""
    result: dict[str, dict[str, float]] = {}
    for name, target in sorted(words.items()):
        subset = [q for q in questions if q.dataset == name]
        runs = [(budget, naive_at(subset, budget)[name]) for budget in range(10, 121)]
        budget, scores = min(runs, key=lambda run: (abs(run[1]["words"] - target), run[0]))
        result[name] = {**scores, "budget": float(budget)}
    return result


def naive_at(questions: Sequence[Question], budget: int) -> dict[str, dict[str, float]]:
    """The naive backend: nearest sentences by cosine while the next fits in ``budget`` words
    (the first is always taken), never abstaining."""
    rows: dict[str, list[tuple[bool, float, float, bool]]] = {}
    for q in questions:
        order = np.argsort(-q.cos, kind="stable")
        chosen: list[int] = []
        total = 0
        for i in order:
            if chosen and total + q.words[i] > budget:
                break
            chosen.append(int(i))
            total += q.words[i]
        found = frozenset().union(*(q.found[i] for i in chosen)) if chosen else frozenset()
        recall = len(found) / q.facts if q.facts else 0.0
        rows.setdefault(q.dataset, []).append((q.answerable, recall, float(total), False))
    return {name: _metrics(values) for name, values in sorted(rows.items())}


def choose_selection(
    questions: Sequence[Question], probabilities: Sequence[np.ndarray], confidence: np.ndarray
) -> Selection:
    """The knobs with the best worst-dataset fact recall at <= TARGET_WORDS, then the threshold."""
    best: tuple[float, Selection] | None = None
    never = np.ones_like(confidence)
    for budget in WORD_BUDGETS:
        for floor in MIN_PROBABILITIES:
            for relative in RELATIVE_PROBABILITIES:
                selection = Selection(budget, floor, relative, 0.0)
                scores = evaluate(questions, probabilities, never, selection)
                if any(s["words"] > TARGET_WORDS for s in scores.values()):
                    continue
                value = float(
                    np.mean(
                        [s["fact_recall"] for n, s in scores.items() if n not in ABSTENTION_ONLY]
                    )
                )
                if best is None or value > best[0] + 1e-12:
                    best = (value, selection)
    assert best is not None, "no selection keeps to the word target"
    chosen = best[1]
    return Selection(
        chosen.answer_words,
        chosen.min_probability,
        chosen.relative_probability,
        choose_threshold(questions, probabilities, confidence, chosen),
    )


def choose_threshold(
    questions: Sequence[Question],
    probabilities: Sequence[np.ndarray],
    confidence: np.ndarray,
    selection: Selection,
) -> float:
    """The threshold with the most abstention recall (mean over the datasets that have
    unanswerable questions) whose false abstention is at most MAX_FALSE_ABSTENTION and
    whose fact recall lost to abstaining at most MAX_RECALL_LOSS, in every dataset."""
    recall = np.zeros(len(questions))
    for i, (q, p) in enumerate(zip(questions, probabilities, strict=True)):
        if q.words and q.facts:
            found = frozenset().union(*(q.found[j] for j in select(p, q.words, selection)))
            recall[i] = len(found) / q.facts
    datasets = {
        name: [i for i, q in enumerate(questions) if q.dataset == name]
        for name in sorted({q.dataset for q in questions})
    }
    best = (-math.inf, THRESHOLDS[0])
    for threshold in THRESHOLDS:
        recalls = []
        allowed = True
        for idx in datasets.values():
            answerable = [i for i in idx if questions[i].answerable]
            unanswerable = [i for i in idx if not questions[i].answerable]
            if unanswerable:
                recalls.append(float(np.mean([confidence[i] < threshold for i in unanswerable])))
            false = float(np.mean([confidence[i] < threshold for i in answerable]))
            lost = float(np.mean([recall[i] * (confidence[i] < threshold) for i in answerable]))
            allowed &= false <= MAX_FALSE_ABSTENTION and lost <= MAX_RECALL_LOSS
        value = float(np.mean(recalls))
        if allowed and value > best[0] + 1e-12:
            best = (value, threshold)
    return best[1]


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def table(
    title: str, scores: dict[str, dict[str, float]], anchor: dict[str, dict[str, float]]
) -> str:
    lines = [
        title,
        f"  {'dataset':<18} {'fact recall @ words':>20} {'abst. recall/false':>19}"
        f" {'naive @ words (budget)':>24}",
    ]
    for name, s in scores.items():
        a = anchor[name]
        lines.append(
            f"  {name:<18} {s['fact_recall']:>11.3f} @ {s['words']:>5.1f}"
            f" {s['abstention_recall']:>10.2f} / {s['false_abstention']:.2f}"
            f" {a['fact_recall']:>7.3f} @ {a['words']:>4.1f} ({a['budget']:.0f})"
        )
    return "\n".join(lines)


def train(questions: Sequence[Question]) -> tuple[Scorer, dict[str, Any]]:
    probabilities, confidence, parts = out_of_fold(questions)
    selection = choose_selection(questions, probabilities, confidence)
    # Scored with thresholds chosen inside each fold's training part (nested).
    thresholds = nested_thresholds(len(questions), parts, selection)
    cv = evaluate(questions, probabilities, confidence, selection, thresholds)
    candidate = fit_candidates(questions)
    abstain = fit_abstain(questions, _inner_probabilities(questions))
    in_probabilities = [candidate.probability(q.features) for q in questions]
    in_confidence = np.array(
        [
            float(abstain.probability(_qvec(q, p)[None, :])[0]) if q.words else 0.0
            for q, p in zip(questions, in_probabilities, strict=True)
        ]
    )
    in_sample = evaluate(questions, in_probabilities, in_confidence, selection)
    anchor = naive(questions, {name: s["words"] for name, s in cv.items()})
    meta = {
        **data_hash(),
        "learner": "logistic regression (L2, Newton), two models",
        "validation": f"{OUTER_FOLDS} folds of whole articles (all wordings of a question in one)",
        "questions": len(questions),
        "cross_validated": _rounded(cv),
        "in_sample": _rounded(in_sample),
        "naive_anchor": _rounded(anchor),
    }
    scorer = Scorer(candidate, abstain, selection, meta)
    return scorer, {"cv": cv, "in": in_sample, "anchor": anchor}


def _rounded(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {name: {k: round(v, 4) for k, v in s.items()} for name, s in scores.items()}


def check(path: Path = WEIGHTS_FILE) -> list[str]:
    """Problems with the shipped weights: missing, unreadable, or made from other data or code."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))["meta"]
    except (OSError, ValueError, KeyError) as error:
        return [f"{path}: cannot read its metadata ({error})"]
    current = data_hash()
    return [
        f"{path.name}: {key} is {meta.get(key)!r} but the current files hash to {value!r};"
        " rebuild it with: python -m train.scorer"
        for key, value in current.items()
        if meta.get(key) != value
    ]


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m train.scorer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-train-cache"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    parser.add_argument("--check", action="store_true", help="only check the recorded hashes")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.check:
        problems = check(args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{args.out.name}: {'OK' if not problems else 'STALE'}", file=sys.stderr)
        return 1 if problems else 0
    args.cache.mkdir(parents=True, exist_ok=True)
    questions = build(args.cache)
    scorer, scores = train(questions)
    args.out.write_text(json.dumps(scorer.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(
        table(f"cross-validated ({OUTER_FOLDS} folds by article)", scores["cv"], scores["anchor"])
    )
    print(table("in-sample", scores["in"], scores["anchor"]))
    print(f"selection: {scorer.selection}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
