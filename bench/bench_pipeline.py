"""Benchmark ingest throughput and question latency on the eval articles.

Usage: python bench/bench_pipeline.py [--copies N]

Ingests N variants of each eval article (each variant gets a distinct
paragraph, so ids differ and nothing is deduplicated) into a temporary
QA_HOME, then asks every gold question once.  Prints a Markdown table;
latencies are reported as p50/p95 and as a ratio to the smallest run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from qa.answer import ask
from qa.config import Settings
from qa.ingest import ingest
from qa.store import Store

EVAL = Path(__file__).parents[1] / "eval"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(copies: int) -> dict[str, float]:
    articles = sorted((EVAL / "articles").glob("*.txt"))
    questions = [json.loads(line) for line in (EVAL / "gold.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.from_env(home=home, collection="bench")
        sources = []
        for copy in range(copies):
            for article in articles:
                variant = Path(home) / f"{copy:03d}_{article.name}"
                variant.write_text(article.read_text() + f"\n\nBenchmark variant {copy}.\n")
                sources.append(variant)
        store = Store.open(settings)
        started = time.perf_counter()
        ingest(sources, store=store)
        ingest_s = time.perf_counter() - started
        sentences = sum(info.sentences for info in store.list_documents())
        latencies = []
        for row in questions:
            begin = time.perf_counter()
            ask(row["question"], store=store)
            latencies.append(time.perf_counter() - begin)
        store.close()
    return {
        "documents": len(sources),
        "sentences": sentences,
        "ingest_s": ingest_s,
        "sentences_per_s": sentences / ingest_s,
        "ask_p50_ms": 1000 * statistics.median(latencies),
        "ask_p95_ms": 1000 * percentile(latencies, 0.95),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    results = [run(copies) for copies in args.copies]
    base = results[0]
    print("| documents | sentences | ingest s | sentences/s | ask p50 ms | ask p95 ms | p50 ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for result in results:
        print(
            f"| {result['documents']:.0f} | {result['sentences']:.0f} | {result['ingest_s']:.1f} "
            f"| {result['sentences_per_s']:.0f} | {result['ask_p50_ms']:.0f} "
            f"| {result['ask_p95_ms']:.0f} | {result['ask_p50_ms'] / base['ask_p50_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
