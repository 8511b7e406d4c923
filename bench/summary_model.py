"""Fit the offline summariser's prior: the chance a sentence carries a key fact.

    python bench/summary_model.py                    # fit on eval/, write the model
    python bench/summary_model.py --check-only       # print the scores, write nothing

The model is a logistic regression over the summariser's ``FEATURES`` (its own
feature code, so training and use cannot drift apart), with an L2 penalty,
fitted by Newton's method on every sentence of the training set's articles;
a sentence is positive when it contains one of its article's summary key facts
(the eval's own fact matcher). It prints the ranking quality (ROC AUC) three
ways: leave-one-article-out on the training set, on the training set itself,
and on the held-out set (``eval/summaries-untuned``, never used for fitting),
each beside the AUC of position alone (earlier sentences first), the naive
anchor. Writes ``qa/backends/offline/summary_model.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.backends.offline.summariser import FEATURES, sentence_features  # noqa: E402
from qa.eval.dataset import load_dataset  # noqa: E402
from qa.eval.match import fact_found, normalise  # noqa: E402
from qa.index.embed import MiniLMEmbedder  # noqa: E402
from qa.ingestion.pipeline import build_document  # noqa: E402
from qa.ingestion.sources import read_file  # noqa: E402

MODEL = ROOT / "qa" / "backends" / "offline" / "summary_model.json"
# The L2 penalty on standardised weights: chosen as the best leave-one-article-out AUC
# among 0.1, 1, 3, 10, 30, 100, 300 on the training set (printed by --check-only).
PENALTIES = (0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


def article_rows(folder: Path, embedder: MiniLMEmbedder) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, labels) per article of a dataset with summary gold."""
    dataset = load_dataset(folder)
    rows = []
    for gold in dataset.summaries:
        document = build_document(read_file(str(dataset.articles[gold.article]), 10**7))
        texts = [sentence.text for sentence in document.sentences]
        vectors = embedder.embed(texts)
        title = embedder.embed([document.title])[0]
        features = sentence_features(document, vectors, title)
        labels = np.array(
            [any(fact_found(fact, normalise(text)) for fact in gold.key_facts) for text in texts],
            dtype=np.float64,
        )
        rows.append((features, labels))
    return rows


def fit(features: np.ndarray, labels: np.ndarray, penalty: float) -> dict[str, object]:
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
    w = np.zeros(x.shape[1])
    ridge = np.eye(x.shape[1]) * penalty
    ridge[-1, -1] = 0.0  # the bias is not penalised
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - labels) + ridge @ w
        hessian = (x.T * (p * (1 - p))) @ x + ridge
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {
        "features": list(FEATURES),
        "weights": [round(float(v), 6) for v in w[:-1]],
        "bias": round(float(w[-1]), 6),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
    }


def predict(model: dict[str, object], features: np.ndarray) -> np.ndarray:
    z = (features - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return z @ np.asarray(model["weights"]) + float(model["bias"])  # type: ignore[arg-type]


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by ranks (ties share their mean rank)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = labels.sum()
    negatives = len(labels) - positives
    return float(
        (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=ROOT / "eval")
    parser.add_argument("--held-out", type=Path, default=ROOT / "eval" / "summaries-untuned")
    parser.add_argument("--check-only", action="store_true")
    args = parser.parse_args()
    embedder = MiniLMEmbedder()
    train = article_rows(args.train, embedder)
    held = article_rows(args.held_out, embedder)
    position = FEATURES.index("position")

    def stacked(rows: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        return np.vstack([f for f, _ in rows]), np.concatenate([y for _, y in rows])

    best_penalty, best_auc = PENALTIES[0], -1.0
    for penalty in PENALTIES:
        scores, labels = [], []
        for k in range(len(train)):
            rest = stacked(train[:k] + train[k + 1 :])
            model = fit(*rest, penalty)
            scores.append(predict(model, train[k][0]))
            labels.append(train[k][1])
        value = auc(np.concatenate(scores), np.concatenate(labels))
        print(f"penalty {penalty:>5}: leave-one-article-out AUC {value:.3f}")
        if value > best_auc:
            best_penalty, best_auc = penalty, value
    features, labels = stacked(train)
    model = fit(features, labels, best_penalty)
    model["penalty"] = best_penalty
    model["trained_on"] = (
        f"{args.train.relative_to(ROOT)} summary_gold.jsonl ({len(train)} articles)"
    )
    held_features, held_labels = stacked(held)
    print(
        f"penalty {best_penalty}: {int(labels.sum())} of {len(labels)} training sentences positive"
    )
    print(
        f"AUC  leave-one-article-out {best_auc:.3f} (position alone"
        f" {auc(-features[:, position], labels):.3f})"
    )
    print(f"AUC  training set         {auc(predict(model, features), labels):.3f}")
    print(
        f"AUC  held-out {args.held_out.name} {auc(predict(model, held_features), held_labels):.3f}"
        f" (position alone {auc(-held_features[:, position], held_labels):.3f})"
    )
    for name, weight in zip(FEATURES, model["weights"], strict=True):  # type: ignore[arg-type]
        print(f"  {name:<18} {weight:+.3f}")
    if not args.check_only:
        MODEL.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
