"""Team mode against embedded, measured in the same run on the same corpus and questions.

For each store size (``--chunks``, 1k and 10k by default): the collection is built once
with the embedded Chroma and once on a local ``chroma run`` (``QA_CHROMA_URL``), then
asked the same gold questions.

- **Ingest throughput**: ``qa.ingestion.pipeline.ingest`` itself on a corpus of about as
  many articles as make that many chunks, timed from the first file read to the last write;
  the store's writes (``add_vectors``, ``add_words``, ``add_document``: Chroma, SQLite and in
  team mode the records and log on the server) are timed apart.  Quick mode ingests for
  real only at the smallest size and fills larger stores through the store layer
  (``bench/stores.py``), as the ask section does; the full run ingests every size.
- **Ask p50/p95**: library ``ask`` over the gold questions, warm, one process per pass
  (``bench.pipeline.ask_warm``).
- **Team mode only**: a teammate's first command with an empty QA_HOME (the cache built
  from the server), and every later command's open with nothing changed (the sync check).

The server runs on loopback, so the figures show qa's own cost of team mode (HTTP calls,
records, the sync) without a network's latency.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.corpus import WARMUP_QUESTION, build_corpus, gold_questions, source_articles
from bench.measure import log, median, percentile, run_child
from bench.pipeline import COLLECTION, StageClock, default_embedder, preload_chroma, warm

# Chunks per eval article at the default budget (47 chunks for the 11 articles).
CHUNKS_PER_ARTICLE = 47 / 11
MODES = ("embedded", "server")


class LocalChroma:
    """``chroma run`` on a free loopback port, data in ``path``."""

    def __init__(self, path: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        self.process = subprocess.Popen(
            [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError as error:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("chroma run did not start") from error
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


# -- child tasks ------------------------------------------------------------------------------


def ingest_mode(corpus: str, home: str, chroma_url: str) -> dict[str, Any]:
    """``ingest`` of the corpus into an empty store (team mode when ``chroma_url``)."""
    from bench.pipeline import settings_for
    from qa.index.store import Store
    from qa.ingestion.pipeline import ingest

    embedder = default_embedder()
    warm(embedder)
    preload_chroma()
    store = Store(settings_for(home, COLLECTION, chroma_url), embedder)
    clock = StageClock()
    for attribute in ("add_vectors", "add_words", "add_document"):
        clock.wrap(store, attribute, attribute)
    started = time.perf_counter()
    report = ingest([corpus], store=store)
    wall = time.perf_counter() - started
    result = {
        "wall_s": wall,
        "documents": sum(1 for outcome in report.outcomes if outcome.status == "added"),
        "chunks": store.count_chunks(),
        "store_s": dict(clock.seconds),
    }
    store.close()
    return result


def open_mode(home: str, chroma_url: str, opens: int) -> dict[str, Any]:
    """Open a team store from an empty home (the cache built from the server), then open it
    ``opens`` more times with nothing changed: right after the writes, and settled."""
    from bench.pipeline import settings_for
    from qa.index.store import Store

    preload_chroma()
    settings = settings_for(home, COLLECTION, chroma_url)
    started = time.perf_counter()
    store = Store(settings)
    first = time.perf_counter() - started
    chunks = store.count_chunks()
    store.close()
    again = _opens(settings, opens)
    # Right after the writes, every open checks the documents of recent log entries again
    # (until they are SETTLE_S old); the steady state is measured with them settled.
    from qa.index import team

    team.SETTLE_S = 0.0
    settled = _opens(settings, opens)
    return {"first_open_s": first, "chunks": chunks, "open_s": again, "settled_open_s": settled}


def _opens(settings: Any, opens: int) -> list[float]:
    from qa.index.store import Store

    times = []
    for _ in range(opens):
        started = time.perf_counter()
        Store(settings).close()
        times.append(time.perf_counter() - started)
    return times


# -- the section ------------------------------------------------------------------------------


def run_server(chunk_sizes: tuple[int, ...], real_ingest_all: bool, passes: int,
               questions: int | None, work: Path) -> dict[str, Any]:  # fmt: skip
    """Both modes at every size; see the module's docstring."""
    results: dict[str, Any] = {}
    smallest = min(chunk_sizes)
    asked = gold_questions(questions)
    for size in chunk_sizes:
        articles = math.ceil(size / CHUNKS_PER_ARTICLE)
        real = real_ingest_all or size == smallest
        corpus = build_corpus(articles, work / "server-corpora" / str(articles)) if real else None
        entry: dict[str, Any] = {"articles": articles, "real_ingest": real}
        for mode in MODES:
            folder = work / "server" / str(size) / mode
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            server = LocalChroma(folder / "server-data") if mode == "server" else None
            url = server.url if server else ""
            try:
                entry[mode] = _measure_mode(mode, folder, url, corpus, size, asked, passes)
            finally:
                if server:
                    server.stop()
        results[str(size)] = entry
    return results


def _measure_mode(mode: str, folder: Path, url: str, corpus: Any, size: int,
                  asked: list[Any], passes: int) -> dict[str, Any]:  # fmt: skip
    home = folder / "home"
    measured: dict[str, Any] = {}
    if corpus is not None:
        log(f"server bench, {size:,} chunks, {mode}: ingest {corpus.articles} articles")
        built = run_child(
            "server-ingest", {"corpus": str(corpus.path), "home": str(home), "chroma_url": url}
        )
        measured["ingest"] = {**built.payload, "peak_rss_mb": built.peak_rss_mb}
    else:
        log(f"server bench, {size:,} chunks, {mode}: fill through the store layer")
        built = run_child(
            "fill",
            {
                "home": str(home),
                "collection": COLLECTION,
                "target_chunks": size,
                "articles": [str(path) for path in source_articles()],
                "chroma_url": url,
            },
        )
        measured["fill"] = built.payload
    latencies: list[float] = []
    chunks = 0
    for number in range(passes):
        log(f"server bench, {size:,} chunks, {mode}: ask pass {number + 1}/{passes}")
        result = run_child(
            "ask-warm",
            {
                "home": str(home),
                "collection": COLLECTION,
                "questions": [{"text": question.text, "doc": ""} for question in asked],
                "mode": "all",
                "warmup": WARMUP_QUESTION,
                "k": 8,
                "chroma_url": url,
            },
        )
        latencies += result.payload["latencies_s"]
        chunks = result.payload["chunks"]
    measured["chunks"] = chunks
    measured["ask"] = {
        "p50_s": median(latencies),
        "p95_s": percentile(latencies, 0.95),
        "n": len(latencies),
    }
    if url:
        log(f"server bench, {size:,} chunks: a teammate's first command, then warm opens")
        opened = run_child(
            "server-open", {"home": str(folder / "teammate"), "chroma_url": url, "opens": 5}
        )
        measured["teammate"] = opened.payload
    return measured


def markdown(results: dict[str, Any]) -> str:
    """The section's tables."""
    lines = [
        "",
        "## Team mode (QA_CHROMA_URL) against embedded, same run",
        "",
        "A local `chroma run` on loopback; the same corpus and gold questions in both modes.",
        "",
        "| store | mode | built by | ingest articles/s | store writes s | ask p50 ms | ask p95 ms "
        "| teammate's first open s | open, nothing changed, ms (just written / settled) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, entry in results.items():
        for mode in MODES:
            measured = entry.get(mode, {})
            ingest = measured.get("ingest")
            built = f"ingest of {entry['articles']} articles" if ingest else "store-layer fill"
            rate = f"{ingest['documents'] / ingest['wall_s']:.2f}" if ingest else "-"
            writes = f"{sum(ingest['store_s'].values()):.1f}" if ingest else "-"
            ask = measured.get("ask", {})
            teammate = measured.get("teammate")
            first = f"{teammate['first_open_s']:.2f}" if teammate else "-"
            warm_open = (
                f"{median(teammate['open_s']) * 1000:.0f} / "
                f"{median(teammate.get('settled_open_s', [])) * 1000:.0f}"
                if teammate
                else "-"
            )
            lines.append(
                f"| {int(size):,} chunks ({measured.get('chunks', 0):,}) | {mode} | {built} | "
                f"{rate} | {writes} | {ask.get('p50_s', float('nan')) * 1000:.0f} | "
                f"{ask.get('p95_s', float('nan')) * 1000:.0f} | {first} | {warm_open} |"
            )
    ratios = []
    for size, entry in results.items():
        server, embedded = entry.get("server", {}), entry.get("embedded", {})
        if server.get("ask") and embedded.get("ask"):
            ratio = server["ask"]["p50_s"] / embedded["ask"]["p50_s"]
            ratios.append(f"ask p50 server/embedded at {int(size):,} chunks: {ratio:.2f}")
        if server.get("ingest") and embedded.get("ingest"):
            ratio = embedded["ingest"]["wall_s"] / server["ingest"]["wall_s"]
            ratios.append(f"ingest throughput server/embedded at {int(size):,} chunks: {ratio:.2f}")
    if ratios:
        lines += ["", *[f"- {ratio}" for ratio in ratios]]
    return "\n".join(lines) + "\n"
