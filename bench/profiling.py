"""cProfile of where qa spends its time: ingest, cold ``qa --help``, cold ``qa ask`` and a
warm ``ask`` on a filled store. ``python bench/profiling.py`` writes
``bench/results/profile-*.txt`` (top functions by cumulative and by own time)."""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: make ``bench`` importable, as run.py does
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import SEED_QUESTION, WARMUP_QUESTION, build_corpus, gold_questions
from bench.measure import log, run_child
from bench.startup import one_article_store


def report(profile: cProfile.Profile, title: str, top: int = 35) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).strip_dirs()
    out.write(f"# {title}\n\n## by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(top)
    out.write("\n## by own time\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def profile_ingest(corpus: str, home: str, out: str) -> dict[str, Any]:
    """The same call as the timed ingest, with the model loaded first (as there)."""
    import importlib

    from bench.pipeline import default_embedder, preload_chroma, settings_for, warm

    ingest_module = importlib.import_module("qa.ingestion.pipeline")
    from qa.index.store import Store

    embedder = default_embedder()
    warm(embedder)
    preload_chroma()
    store = Store.open(settings_for(home), embedder)
    profile = cProfile.Profile()
    profile.enable()
    ingest_module.ingest([corpus], store=store)
    profile.disable()
    store.close()
    articles = sum(1 for _ in Path(corpus).glob("*.txt"))
    Path(out).write_text(report(profile, f"qa ingest of {articles} articles (model loaded)"))
    return {}


def profile_cli(argv: list[str], home: str, out: str) -> dict[str, Any]:
    """A whole CLI command, imports included, as a new process runs it."""
    import os

    os.environ["QA_HOME"] = home
    profile = cProfile.Profile()
    profile.enable()
    try:
        from qa.cli import main

        sys.argv = ["qa", *argv]
        main()
    except SystemExit:
        pass
    profile.disable()
    Path(out).write_text(report(profile, f"cold qa {' '.join(argv)} (new process)"))
    return {}


def profile_ask(home: str, collection: str, questions: list[str], out: str) -> dict[str, Any]:
    from bench.pipeline import settings_for
    from qa.api import ask
    from qa.index.store import Store

    store = Store.open(settings_for(home, collection))
    ask(WARMUP_QUESTION, store=store)
    profile = cProfile.Profile()
    profile.enable()
    for question in questions:
        ask(question, store=store)
    profile.disable()
    chunks = store.count_chunks()
    store.close()
    title = f"warm ask of {len(questions)} questions, {chunks:,} chunks"
    Path(out).write_text(report(profile, title))
    return {}


def main(argv: list[str] | None = None) -> int:
    from bench.suite import RESULTS

    parser = argparse.ArgumentParser(prog="python bench/profiling.py", description=__doc__)
    parser.add_argument("--articles", type=int, default=100, help="ingest corpus size")
    parser.add_argument("--chunks", type=int, default=10_000, help="store size for warm ask")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "qa-bench")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qa-profile-") as work:
        corpus = build_corpus(args.articles, Path(work) / "corpus")
        log(f"profiling ingest of {args.articles} articles")
        run_child(
            "profile-ingest",
            {
                "corpus": str(corpus.path),
                "home": str(Path(work) / "ingest"),
                "out": str(args.results / "profile-ingest.txt"),
            },
        )
        home = one_article_store(Path(work) / "one")
        for name, command in (("help", ["--help"]), ("ask", ["ask", SEED_QUESTION])):
            log(f"profiling cold qa {command[0]}")
            run_child(
                "profile-cli",
                {
                    "argv": command,
                    "home": str(home),
                    "out": str(args.results / f"profile-{name}.txt"),
                },
            )
    from bench.pipeline import COLLECTION
    from bench.stores import cached_store

    store_home, _ = cached_store(args.cache_dir, args.chunks, fresh=False)
    log(f"profiling warm ask on {args.chunks:,} chunks")
    run_child(
        "profile-ask",
        {
            "home": str(store_home),
            "collection": COLLECTION,
            "questions": [question.text for question in gold_questions(args.questions)],
            "out": str(args.results / "profile-ask-warm.txt"),
        },
    )
    log(f"wrote {args.results}/profile-*.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
