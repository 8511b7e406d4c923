"""The benchmark run: what to measure in quick and full mode, in which order, and where the
results go. ``bench/run.py`` is the command; this module is its body."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import report, server
from bench.corpus import SEED_QUESTION, WARMUP_QUESTION, build_corpus, gold_questions
from bench.measure import REPO, ChildResult, log, run_child
from bench.pipeline import COLLECTION
from bench.startup import cold_asks, measure_startup
from bench.stores import cached_store

RESULTS = REPO / "bench" / "results"
TOP_K = 8
MODES = ("all", "doc")  # ask the whole collection, or with --doc the question's own article


@dataclass(frozen=True)
class Plan:
    mode: str
    articles: tuple[int, ...]  # ingest corpus sizes
    chunks: tuple[int, ...]  # ask-latency store sizes
    runs: int  # repetitions of every ingest measurement
    latency_runs: int  # passes over the questions for warm latency
    questions: int | None  # questions per warm pass (None: all 90)
    cold_questions: int  # distinct questions for cold CLI asks, per store and mode
    cold_runs: int
    startup_runs: int
    batched_raw: bool  # also time the embedder on all texts in one call
    peer: bool


QUICK = Plan("quick", (100,), (1_000, 10_000), 1, 2, 20, 3, 1, 3, False, True)
FULL = Plan("full", (100, 1_000), (1_000, 10_000, 100_000), 3, 3, None, 3, 3, 7, True, True)


def parse(argv: list[str] | None) -> tuple[Plan, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Benchmark qa: ingest vs raw embedder and a LlamaIndex peer, ask latency, "
        "cold start, imports, peak RSS. Tables to stdout, JSON and plot to bench/results/.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="100 articles, 1k/10k chunks, fewer runs"
    )
    parser.add_argument("--articles", type=int, nargs="+", help="ingest corpus sizes")
    parser.add_argument("--chunks", type=int, nargs="+", help="ask-latency store sizes")
    parser.add_argument("--runs", type=int, help="repetitions per ingest figure")
    parser.add_argument("--latency-runs", type=int, help="passes over the questions (warm ask)")
    parser.add_argument("--questions", type=int, help="questions per warm pass (default all)")
    parser.add_argument("--no-peer", action="store_true", help="skip the LlamaIndex peer")
    parser.add_argument(
        "--skip",
        nargs="+",
        default=[],
        choices=["startup", "ingest", "retrieval", "ask", "server"],
        help="sections to leave out",
    )
    parser.add_argument("--name", help="results file name (default: the mode)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qa-bench",
        help="where filled stores are kept between runs",
    )
    parser.add_argument("--fresh", action="store_true", help="rebuild cached stores")
    parser.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="re-render the tables and plot of a saved run; measure nothing",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    overrides: dict[str, Any] = {
        "articles": tuple(args.articles) if args.articles else None,
        "chunks": tuple(args.chunks) if args.chunks else None,
        "runs": args.runs,
        "latency_runs": args.latency_runs,
        "questions": args.questions,
        "peer": False if args.no_peer else None,
    }
    plan = dataclasses.replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    if args.articles or args.chunks or args.runs:
        plan = dataclasses.replace(plan, mode=f"{plan.mode} (custom sizes)")
    return plan, args


def peer_available() -> bool:
    try:
        import llama_index.core
        import llama_index.vector_stores.chroma  # noqa: F401
    except ImportError:
        return False
    return True


def meta(plan: Plan) -> dict[str, Any]:
    versions = {}
    for package in ("qa", "chromadb", "onnxruntime", "numpy", "tokenizers", "llama-index-core"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return {
        "mode": plan.mode,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {memory_gib:.0f} GiB, "
        f"Python {platform.python_version()}, load average {load:.1f} at start",
        "versions": versions,
        "plan": dataclasses.asdict(plan),
        "runs": plan.runs,
    }


# -- sections ---------------------------------------------------------------------------------


def run_ingest(plan: Plan, work: Path) -> tuple[dict[str, Any], dict[int, dict[str, Path]]]:
    """Every size, ``runs`` times, qa then the raw embedder then the peer, interleaved so that
    a machine getting busier mid-run shifts all three alike. The last run's stores are kept
    for the retrieval comparison."""
    results: dict[str, Any] = {}
    kept: dict[int, dict[str, Path]] = {}
    corpora = {size: build_corpus(size, work / "corpora" / str(size)) for size in plan.articles}
    for run in range(plan.runs):
        for size, corpus in corpora.items():
            entry = results.setdefault(
                str(size), {"corpus": dataclasses.asdict(corpus), "qa": [], "raw": [], "peer": []}
            )
            entry["corpus"]["path"] = str(corpus.path)
            folder = work / "ingest" / str(size)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            record = folder / "qa-embedded.jsonl"
            log(f"ingest {size} articles, run {run + 1}/{plan.runs}: qa")
            qa = run_child(
                "ingest-qa",
                {"corpus": str(corpus.path), "home": str(folder / "qa"), "record": str(record)},
            )
            entry["qa"].append(_with_process(qa))
            added = qa.payload["statuses"].get("added", 0)
            if added != size:
                log(f"warning: qa added {added} of {size} articles: {qa.payload['statuses']}")
            log(
                f"ingest {size} articles, run {run + 1}/{plan.runs}: MiniLM alone on the same texts"
            )
            raw = run_child(
                "embed-raw", {"record": str(record), "batched": plan.batched_raw and run == 0}
            )
            entry["raw"].append(_with_process(raw))
            if plan.peer:
                log(f"ingest {size} articles, run {run + 1}/{plan.runs}: LlamaIndex peer")
                peer = run_child(
                    "ingest-peer",
                    {
                        "corpus": str(corpus.path),
                        "folder": str(folder / "peer"),
                        "record": str(folder / "peer-embedded.jsonl"),
                    },
                )
                entry["peer"].append(_with_process(peer))
            kept[size] = {"qa": folder / "qa", "peer": folder / "peer"}
    return results, kept


def _with_process(result: ChildResult) -> dict[str, Any]:
    return {**result.payload, "peak_rss_mb": result.peak_rss_mb, "process_wall_s": result.wall_s}


def run_retrieval(plan: Plan, kept: dict[int, dict[str, Path]]) -> dict[str, Any]:
    """qa's retrieval against the peer's on the last ingest's stores, one pass per process,
    alternating sides."""
    questions = [question.text for question in gold_questions(plan.questions)]
    arguments = {"questions": questions, "warmup": WARMUP_QUESTION, "k": TOP_K}
    results: dict[str, Any] = {}
    for size, folders in kept.items():
        entry: dict[str, Any] = {"qa": [], "peer": [] if plan.peer else None}
        for run in range(plan.latency_runs):
            log(f"retrieval on the {size}-article stores, pass {run + 1}/{plan.latency_runs}")
            qa = run_child("retrieve-qa", {"home": str(folders["qa"]), **arguments})
            entry["qa"].append(qa.payload["latencies_s"])
            if plan.peer:
                peer = run_child("retrieve-peer", {"folder": str(folders["peer"]), **arguments})
                entry["peer"].append(peer.payload["latencies_s"])
        results[str(size)] = entry
    return results


def run_ask(plan: Plan, cache: Path, fresh: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for chunks in plan.chunks:
        home, fill = cached_store(cache, chunks, fresh)
        doc_ids: dict[str, str] = fill["doc_ids"]
        questions = [
            {"text": question.text, "doc": doc_ids[question.article]}
            for question in gold_questions(plan.questions)
        ]
        size = f"{fill['chunks']:,} chunks"
        log(f"ask on {size}: warm, {len(questions)} questions x {plan.latency_runs} passes")
        warm, warm_rss = warm_asks(plan, home, questions)
        cold_set = gold_questions(plan.cold_questions)
        cold: dict[str, Any] = {}
        for mode in MODES:
            log(f"ask on {size}: cold CLI, {'with' if mode == 'doc' else 'no'} --doc")
            asked = [
                (question.text, doc_ids[question.article] if mode == "doc" else None)
                for question in cold_set
            ]
            processes = cold_asks(home, COLLECTION, asked, plan.cold_runs)
            cold[mode] = {
                "wall_s": [process.wall_s for process in processes],
                "peak_rss_mb": [process.peak_rss_mb for process in processes],
            }
        results[str(chunks)] = {
            "fill": fill,
            "built_by": f"store-layer fill: {len(doc_ids)} real ingests + perturbed copies",
            "warm": warm,
            "warm_peak_rss_mb": warm_rss,
            "cold": cold,
        }
    return results


def warm_asks(
    plan: Plan, home: Path, questions: list[dict[str, str]]
) -> tuple[dict[str, Any], float]:
    """Each pass and mode in its own process (see ``time_pass``); stage means averaged over
    passes; peak RSS is the largest of them."""
    modes: dict[str, Any] = {}
    peak = 0.0
    chunks = 0
    for mode in MODES:
        passes = []
        for _ in range(plan.latency_runs):
            result = run_child(
                "ask-warm",
                {
                    "home": str(home),
                    "collection": COLLECTION,
                    "questions": questions,
                    "mode": mode,
                    "warmup": WARMUP_QUESTION,
                    "k": TOP_K,
                },
            )
            passes.append(result.payload)
            peak = max(peak, result.peak_rss_mb)
            chunks = result.payload["chunks"]
        modes[mode] = {
            "latencies_s": [p["latencies_s"] for p in passes],
            **{
                key: _mean_of_dicts([p[key] for p in passes])
                for key in ("phases_mean_s", "stages_mean_s", "embedded_texts_per_ask")
            },
        }
    return {"chunks": chunks, "modes": modes}, peak


def _mean_of_dicts(dicts: list[dict[str, float]]) -> dict[str, float]:
    keys = {key for d in dicts for key in d}
    return {key: sum(d.get(key, 0.0) for d in dicts) / len(dicts) for key in keys}


def skipped_items(plan: Plan, args: argparse.Namespace) -> list[str]:
    skipped = [f"{section} (--skip)" for section in args.skip]
    if 1_000 not in plan.articles:
        skipped.append("ingest of 1,000 articles and its peak RSS (full run only)")
    if 100_000 not in plan.chunks:
        skipped.append("ask latency and ask RSS at 100k chunks (full run only)")
    if not plan.batched_raw:
        skipped.append("embedder on all texts in one call (full run only)")
    if not plan.peer:
        skipped.append("LlamaIndex peer (not installed: pip install -e '.[bench]', or --no-peer)")
    return skipped


def main(argv: list[str] | None = None) -> int:
    plan, args = parse(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        return write(saved, args.results, args.name or args.from_json.stem)
    if plan.peer and not peer_available():
        log("llama-index is not installed (pip install -e '.[bench]'): the peer rows are skipped")
        plan = dataclasses.replace(plan, peer=False)
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": meta(plan), "ingest": {}, "retrieval": {}, "ask": {}}
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        if "startup" not in args.skip:
            log("cold starts and import times")
            results["startup"] = measure_startup(work, plan.startup_runs, SEED_QUESTION)
        kept: dict[int, dict[str, Path]] = {}
        if "ingest" not in args.skip:
            results["ingest"], kept = run_ingest(plan, work)
        if "retrieval" not in args.skip and kept:
            results["retrieval"] = run_retrieval(plan, kept)
        if "ask" not in args.skip:
            results["ask"] = run_ask(plan, args.cache_dir, args.fresh)
        if "server" not in args.skip:
            sizes = tuple(size for size in plan.chunks if size <= 10_000)
            results["server"] = server.run_server(
                sizes, plan.mode.startswith("full"), plan.latency_runs, plan.questions, work
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["meta"]["wall_s"] = time.perf_counter() - started
    results["meta"]["skipped"] = skipped_items(plan, args)
    return write(results, args.results, args.name or plan.mode.split()[0])


def write(results: dict[str, Any], folder: Path, name: str) -> int:
    summary = report.summarise(results)
    found = report.targets(summary)
    text = report.markdown(results, summary, found)
    if results.get("server"):
        text += server.markdown(results["server"])
    folder.mkdir(parents=True, exist_ok=True)
    results["summary"] = summary
    results["targets"] = found
    (folder / f"{name}.json").write_text(json.dumps(_no_nan(results), indent=1) + "\n")
    (folder / f"{name}.md").write_text(text)
    plotted = report.plot(summary, folder / f"{name}.png")
    print(text)
    log(f"wrote {folder / name}.json, .md" + (", .png" if plotted else " (no matplotlib: no plot)"))
    log(f"total {results['meta']['wall_s'] / 60:.1f} min")
    return 0


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: a figure that was not measured is written as null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {key: _no_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
