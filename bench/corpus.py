"""Benchmark corpora made from the real eval articles, and the questions asked of them.

A corpus of N articles cycles through ``eval/articles/*.txt``; every copy gets one extra
sentence naming its copy number, so its cleaned text, and therefore its document id,
differs and qa's deduplication cannot skip it. Files are written one at a time: neither
building nor ingesting a corpus holds it all in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.measure import REPO

EVAL = REPO / "eval"
ARTICLES = EVAL / "articles"
GOLD = EVAL / "gold.jsonl"
SEED_ARTICLE = ARTICLES / "00_ceasefire_caveats.txt"
SEED_QUESTION = "What caveats did Russia raise?"
# Asked untimed before a timed pass (to load the model and index): not a gold question, so no
# timed question is a repeat that qa's query-embedding cache would answer.
WARMUP_QUESTION = "Which officials commented on the events described in the report?"


@dataclass(frozen=True)
class Corpus:
    path: Path
    articles: int
    bytes: int
    tokens: int  # cl100k_base tokens of the files as written: the input, same for every pipeline


@dataclass(frozen=True)
class Question:
    text: str
    article: str  # file name in eval/articles, so a store can map it to a document id


def source_articles() -> list[Path]:
    return sorted(ARTICLES.glob("*.txt"))


def variant(text: str, copy: int) -> str:
    """The article with one distinct sentence added as a paragraph halfway through.

    Halfway, not at the end: a page's tail may be a comment section, which the cleaner drops
    with everything after it. A plain sentence survives cleaning (unlike "This story was
    updated", an editorial note), so every copy hashes to its own document id.
    """
    paragraphs = text.split("\n\n")
    middle = len(paragraphs) // 2
    line = f"The regional desk filed copy number {copy + 1} of this report."
    return "\n\n".join([*paragraphs[:middle], line, *paragraphs[middle:]])


def build_corpus(articles: int, folder: Path) -> Corpus:
    """Write ``articles`` variant files to ``folder`` (reused when already complete)."""
    from qa.text.tokens import encoding

    marker = folder / ".corpus.json"
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("articles") == articles:
            return Corpus(folder, articles, info["bytes"], info["tokens"])
    folder.mkdir(parents=True, exist_ok=True)
    sources = source_articles()
    originals = [path.read_text(encoding="utf-8") for path in sources]  # 11 files, ~35 kB
    enc = encoding()
    total_bytes = total_tokens = 0
    for number in range(articles):
        copy, which = divmod(number, len(sources))
        text = variant(originals[which], copy)
        data = text.encode("utf-8")
        (folder / f"{number:05d}_{sources[which].name}").write_bytes(data)
        total_bytes += len(data)
        total_tokens += len(enc.encode(text, disallowed_special=()))
    marker.write_text(
        json.dumps({"articles": articles, "bytes": total_bytes, "tokens": total_tokens})
    )
    return Corpus(folder, articles, total_bytes, total_tokens)


def gold_questions(limit: int | None = None) -> list[Question]:
    """The eval questions, answerable and not, spread over all articles when limited."""
    rows = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line]
    questions = [Question(row["question"], row["article"]) for row in rows]
    if limit is None or limit >= len(questions):
        return questions
    step = len(questions) / limit
    return [questions[int(i * step)] for i in range(limit)]
