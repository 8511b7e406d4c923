"""Stores of a given size in chunks, for ask latency, filled through qa's store layer.

Filling 100,000 chunks by real ingest would take hours of embedding on two cores, so a store
is filled this way instead (and the report says so): the eval articles are ingested once by
``qa.ingest.ingest`` itself, the arguments its ``Store.add_document`` received are captured,
and copies are written through the same ``Store.add_document`` with new document ids and the
captured vectors perturbed slightly and renormalised. The stored text, sentence spans, chunk
rows and FTS5 rows are exactly what ingest writes; only the embedding step is skipped.

Built stores are cached (keyed by the qa and bench sources that shape them), so reruns skip
the fill.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import REPO

# A perturbation of this size moves a unit vector by about 0.1 (cosine ~0.995): copies stay
# near their original, as near-duplicate news copies would, without being identical.
NOISE = 0.1


# Modules that only read a store: editing them cannot make a cached store stale. Any other
# module of qa (a new one included) is part of the cache key.
READ_ONLY_MODULES = {
    "answer.py",
    "backend.py",
    "check.py",
    "cite.py",
    "cli.py",
    "discourse.py",
    "eval_data.py",
    "eval_match.py",
    "evaluate.py",
    "extractive.py",
    "extractive_summary.py",
    "library.py",
    "openai_backend.py",
    "prompts.py",
    "question.py",
    "retrieve.py",
    "summarize.py",
}


def cache_key() -> str:
    """Changes whenever code that shapes a stored store changes."""
    import chromadb

    digest = hashlib.sha256(chromadb.__version__.encode())
    shaping = [path for path in (REPO / "qa").rglob("*.py") if path.name not in READ_ONLY_MODULES]
    for path in sorted([*shaping, Path(__file__), *(REPO / "eval" / "articles").glob("*")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def fill(
    home: str, collection: str, target_chunks: int, articles: list[str], chroma_url: str = ""
) -> dict[str, Any]:
    """Ingest ``articles`` for real, then add perturbed copies until ``target_chunks``
    (``chroma_url``: in team mode, on that server)."""
    ingest_module = importlib.import_module("qa.ingestion.pipeline")
    from bench.pipeline import preload_chroma, settings_for
    from qa.index.store import Store

    preload_chroma()
    store = Store.open(settings_for(home, collection, chroma_url))
    # Setup, not measurement: skip the fsync per document a store normally does.
    store.db.execute("PRAGMA synchronous = OFF")
    captured: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    add_document = store.add_document

    def capture(*args: Any, **kwargs: Any) -> Any:
        captured.append((args, kwargs))
        return add_document(*args, **kwargs)

    store.add_document = capture  # type: ignore[method-assign]
    started = time.perf_counter()
    report = ingest_module.ingest(articles, store=store)
    store.add_document = add_document  # type: ignore[method-assign]
    doc_ids = {
        Path(outcome.source).name: outcome.doc_id for outcome in report.outcomes if outcome.doc_id
    }
    rng = np.random.default_rng(20251125)
    chunks = store.count_chunks()
    batched = _batch_vector_writes(store)
    copy = 0
    while chunks < target_chunks:
        copy += 1
        for args, captured_kwargs in captured:
            kwargs = _without_new_vocabulary(captured_kwargs)
            # Ingest wrote the originals' vectors beforehand (add_vectors); a copy's
            # vectors go through add_document itself, gathered by _BatchedUpserts.
            kwargs.pop("vectors_added", None)
            # One transform over positional and keyword values, so the new document id
            # reaches the chunks wherever each was passed.
            values, added = _copy_of((*args, *kwargs.values()), copy, rng)
            keywords = dict(zip(kwargs, values[len(args) :], strict=True))
            store.add_document(*values[: len(args)], **keywords)
            chunks += added
            if chunks >= target_chunks:
                break
        if copy % 20 == 0:
            print(f"[fill] {chunks:,}/{target_chunks:,} chunks", file=sys.stderr, flush=True)
    if batched is not None:
        batched.flush()
    result = {
        "chunks": store.count_chunks(),
        "documents": len(store.doc_ids()),
        "doc_ids": doc_ids,
        "fill_s": time.perf_counter() - started,
    }
    store.close()
    return result


class _BatchedUpserts:
    """Stands in for the store's Chroma collection during a fill: Chroma spends about 50 ms
    per call however few records it gets, so upserts are gathered into calls of 5,000."""

    def __init__(self, collection: Any, size: int = 5000) -> None:
        self.collection = collection
        self.size = size
        self.pending: dict[str, list[Any]] = {}

    def upsert(self, **records: Any) -> None:
        for field, values in records.items():
            self.pending.setdefault(field, []).extend(list(values))
        if len(self.pending.get("ids", [])) >= self.size:
            self.flush()

    def flush(self) -> None:
        total = len(self.pending.get("ids", []))
        for begin in range(0, total, self.size):  # never more than Chroma's cap per call
            records: dict[str, Any] = {
                field: values[begin : begin + self.size] for field, values in self.pending.items()
            }
            records["embeddings"] = np.asarray(records["embeddings"], dtype=np.float32)
            self.collection.upsert(**records)
        self.pending = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)


def _batch_vector_writes(store: Any) -> _BatchedUpserts | None:
    # Relies on Store caching its collection in ``_collection``; without it the fill still
    # works, one Chroma call per document, only slower.
    collection = getattr(store, "_collection", None)
    if collection is None:
        return None
    batched = _BatchedUpserts(collection)
    store._collection = batched
    return batched


def _without_new_vocabulary(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A keyword list of strings with as many vectors beside it (the words a document added
    to the collection's vocabulary) is emptied: a copy's words are known by then, so ingest
    would pass none, and rewriting them for every copy would only slow the fill."""
    result = dict(kwargs)
    for name, value in kwargs.items():
        if not (isinstance(value, list | tuple) and value and isinstance(value[0], str)):
            continue
        for other, vectors in kwargs.items():
            if isinstance(vectors, np.ndarray) and vectors.ndim == 2 and len(vectors) == len(value):
                result[name] = type(value)()
                result[other] = vectors[:0]
    return result


def _copy_of(values: tuple[Any, ...], copy: int, rng: np.random.Generator) -> tuple[list[Any], int]:
    """The same arguments for a copy: new document id, perturbed vectors. Values are found
    by shape rather than position, so a reordered ``add_document`` signature still works."""
    new_id = ""
    for value in values:
        if _is_document(value):
            new_id = hashlib.sha256(f"{value.id}:{copy}".encode()).hexdigest()[:16]
    result: list[Any] = []
    chunks = 0
    for value in values:
        if _is_document(value):
            source = f"{value.source}#bench-copy-{copy}"
            # A copy is a text of its own: its own version (chunk ids are VERSION:N).
            versioned = {"version": new_id} if hasattr(value, "version") else {}
            result.append(dataclasses.replace(value, id=new_id, source=source, **versioned))
        elif isinstance(value, list | tuple) and value and hasattr(value[0], "doc_id"):
            versioned = {"version": new_id} if hasattr(value[0], "version") else {}
            result.append(
                [dataclasses.replace(chunk, doc_id=new_id, **versioned) for chunk in value]
            )
            chunks = len(value)
        elif isinstance(value, list | tuple) and value and isinstance(value[0], str):
            # The sources naming the original name the copy as a source of its own.
            result.append([f"{source}#bench-copy-{copy}" for source in value])
        elif isinstance(value, np.ndarray) and value.ndim == 2:
            result.append(_perturb(value, rng))
        else:
            result.append(value)
    return result, chunks


def _is_document(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and hasattr(value, "sentences")


def _perturb(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, NOISE / np.sqrt(vectors.shape[1]), vectors.shape)
    moved = vectors + noise.astype(vectors.dtype)
    norms = np.linalg.norm(moved, axis=1, keepdims=True)
    return np.asarray(moved / np.maximum(norms, 1e-12), dtype=np.float32)


def cached_store(cache: Path, target_chunks: int, fresh: bool) -> tuple[Path, dict[str, Any]]:
    """A filled store's home folder and its fill report, built in a child process if needed."""
    from bench.measure import log, run_child
    from bench.pipeline import COLLECTION

    home = cache / "stores" / cache_key() / f"{target_chunks}"
    marker = home / "bench-store.json"
    if marker.is_file() and not fresh:
        return home, json.loads(marker.read_text())
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log(f"filling a {target_chunks:,}-chunk store in {home}")
    from bench.corpus import source_articles

    result = run_child(
        "fill",
        {
            "home": str(home),
            "collection": COLLECTION,
            "target_chunks": target_chunks,
            "articles": [str(path) for path in source_articles()],
        },
    )
    info = {**result.payload, "peak_rss_mb": result.peak_rss_mb}
    marker.write_text(json.dumps(info))
    return home, info
