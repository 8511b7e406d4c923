"""Measure qa.index.stories' "same story" rule on Wikinews articles.

    python bench/stories.py data/wikinews_2019.csv data/wikinews_2020.csv

The CSV files are those of the public scrape github:vanatteveldt/wikinews (CC BY 2.5;
columns url, date, title, text); they are read, never copied into the repository.
The two halves of one article (articles of 12 sentences or more) stand in for two
reports of one story; pairs of different articles for different stories (a few are
the same running story, e.g. two primaries or two rulings on one prorogation, which
the printed top pairs show). For each candidate rule it prints the share of halves
joined and the number of different-article pairs joined. Measured on the 295
articles (2026-11-26): the shipped rule (cosine >= 0.8, or >= 0.6 with 3 shared
names) joins 13% of halves and 173 of 42,778 different-article pairs (0.40%), the
closest of them running stories (two primaries, two rulings on one prorogation);
halves' cosine median 0.70, different articles' 0.18 (99th percentile 0.61). Looser
rules join more halves and many more different articles (cosine >= 0.7 or >= 0.5 with
3 names: 50% and 317).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.index.embed import MiniLMEmbedder  # noqa: E402
from qa.index.stories import STORY_KNOBS, document_vector, names  # noqa: E402
from qa.text.split import split_sentences  # noqa: E402
from qa.types import Document  # noqa: E402

RULES = ((0.8, 0.6, 3), (0.75, 0.55, 3), (0.7, 0.5, 3), (0.65, 0.5, 3), (0.6, 0.45, 3))


def as_document(title: str, text: str) -> Document:
    text = re.sub(r"\n\s*\n", "\n\n", text.replace("\r", ""))
    return Document("x", title, "", text, split_sentences(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="+", type=Path)
    args = parser.parse_args()
    embedder = MiniLMEmbedder()
    articles = []
    halves = []
    for path in args.csv:
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                document = as_document(row["title"], row["text"])
                texts = [s.text for s in document.sentences][:40]
                if len(texts) < 6:
                    continue
                vectors = embedder.embed(texts)
                articles.append((row["title"], document_vector(vectors), names(document)))
                if len(texts) >= 12:
                    half = len(texts) // 2
                    first = as_document("", " ".join(texts[:half]))
                    second = as_document("", " ".join(texts[half:]))
                    cosine = document_vector(vectors[:half]) @ document_vector(vectors[half:])
                    halves.append((float(cosine), len(names(first) & names(second))))
    pairs = [
        (float(a @ b), len(x & y), s, t)
        for (s, a, x), (t, b, y) in itertools.combinations(articles, 2)
    ]
    print(f"{len(articles)} articles, {len(halves)} halved, {len(pairs)} different-article pairs")
    print(f"halves cosine median {np.median([c for c, _ in halves]):.2f}")
    cosines = [c for c, *_ in pairs]
    print(
        f"different articles cosine median {np.median(cosines):.2f},"
        f" 99th percentile {np.percentile(cosines, 99):.2f}"
    )
    shipped = (STORY_KNOBS.same_story, STORY_KNOBS.related, STORY_KNOBS.shared_names)
    for same, related, shared in RULES:
        joined = sum(1 for c, n in halves if c >= same or (c >= related and n >= shared))
        false = sum(1 for c, n, *_ in pairs if c >= same or (c >= related and n >= shared))
        mark = "  (shipped)" if (same, related, shared) == shipped else ""
        print(
            f"cosine >= {same} or >= {related} with {shared} names: halves joined"
            f" {joined / len(halves):.2f}, different-article pairs joined {false}{mark}"
        )
    print("closest different-article pairs:")
    for cosine, shared, s, t in sorted(pairs, reverse=True)[:10]:
        print(f"  {cosine:.3f} {shared:>2}  {s[:50]} | {t[:50]}")


if __name__ == "__main__":
    main()
