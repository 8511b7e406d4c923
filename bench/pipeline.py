"""qa's side of the benchmark, run inside child processes: ingest, the raw embedder, retrieval
and ask, each instrumented from the outside.

Nothing here re-implements qa. The ingest is ``qa.ingest.ingest`` itself; the texts it embeds
are recorded by wrapping the store's own embedder, so the raw-embedder baseline replays
exactly what the pipeline embedded (whatever ``qa/`` chooses to embed at run time), in the
same calls. Stage times come from wrapping the functions and methods qa calls, when they
exist, so a renamed helper only drops its row from the breakdown.
"""

from __future__ import annotations

import importlib
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import IO, Any

import numpy as np

COLLECTION = "bench"


class StageClock:
    """Seconds spent in wrapped callables, by stage name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: Any, attribute: str, stage: str) -> bool:
        original = getattr(owner, attribute, None)
        if not callable(original):
            return False

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started
                self.calls[stage] += 1

        setattr(owner, attribute, timed)
        return True

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


class RecordingEmbedder:
    """qa's embedder with each call timed and its texts written to a JSON-lines file."""

    def __init__(self, inner: Any, record: IO[str]) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.record = record
        self.seconds = 0.0
        self.calls = 0
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> Any:
        return self._timed(self.inner.embed, texts)

    def embed_weighted(self, texts: Sequence[str]) -> Any:
        # Recorded as a plain "embed": the raw replay runs the same texts through the same
        # model pass; only the pooling arithmetic afterwards differs.
        return self._timed(self.inner.embed_weighted, texts)

    def _timed(self, call: Callable[[Sequence[str]], Any], texts: Sequence[str]) -> Any:
        started = time.perf_counter()
        result = call(texts)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        self.texts += len(texts)
        self.record.write(json.dumps({"embed": list(texts)}) + "\n")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def settings_for(home: str, collection: str = COLLECTION, chroma_url: str = "") -> Any:
    """Settings for a bench store; ``chroma_url``: team mode, against that server."""
    from qa.config import Settings

    return Settings.from_env(home=home, collection=collection, chroma_url=chroma_url or None)


def default_embedder() -> Any:
    """The embedder a plain Store uses, so the bench follows whatever qa picks."""
    from qa.index.store import Store

    with tempfile.TemporaryDirectory() as home:
        probe = Store.open(settings_for(home))
        embedder = probe.embedder
        probe.close()
    return embedder


def warm(embedder: Any) -> float:
    """Load the model before timing: load and import costs are measured as startup instead."""
    started = time.perf_counter()
    embedder.embed(["warm up"])
    return time.perf_counter() - started


def preload_chroma() -> None:
    # qa imports chromadb on first use; the peer imports it up front. Import it before
    # timing on both sides so ingest throughput compares pipelines, not import order.
    import chromadb  # noqa: F401


def ingest_qa(corpus: str, home: str, record: str) -> dict[str, Any]:
    ingest_module = importlib.import_module("qa.ingestion.pipeline")
    from qa.index.store import Store

    embedder = default_embedder()
    load_s = warm(embedder)
    preload_chroma()
    clock = StageClock()
    for attribute, stage in (
        ("read_source", "read"),
        ("clean_article", "clean"),
        ("split_sentences", "split"),
        ("chunk_sentences", "chunk"),
    ):
        clock.wrap(ingest_module, attribute, stage)
    with open(record, "w", encoding="utf-8") as sink:
        recorder = RecordingEmbedder(embedder, sink)
        store = Store.open(settings_for(home), recorder)
        _record_stored_documents(store, clock, sink)
        started = time.perf_counter()
        report = ingest_module.ingest([corpus], store=store)
        wall = time.perf_counter() - started
        chunks = store.count_chunks()
        store.close()
    statuses: dict[str, int] = defaultdict(int)
    for outcome in report.outcomes:
        statuses[outcome.status] += 1
    stages = dict(clock.seconds)
    stages["embed"] = recorder.seconds
    return {
        "wall_s": wall,
        "model_load_s": load_s,
        "statuses": dict(statuses),
        "chunks": chunks,
        "embed_calls": recorder.calls,
        "embedded_texts": recorder.texts,
        "stages_s": stages,
    }


def _record_stored_documents(store: Any, clock: StageClock, sink: IO[str]) -> None:
    """Time ``add_document`` and note what each stored document held, to classify the texts
    embedded for it later (outside the timed run)."""
    original = store.add_document

    def add_document(*args: Any, **kwargs: Any) -> Any:
        sink.write(json.dumps({"stored": _describe(args, kwargs)}) + "\n")
        return original(*args, **kwargs)

    store.add_document = add_document
    clock.wrap(store, "add_document", "store")
    clock.wrap(store, "add_vectors", "store")
    if hasattr(store, "add_words"):
        original_words = store.add_words

        def add_words(words: Any, *args: Any, **kwargs: Any) -> Any:
            sink.write(json.dumps({"stored": {"lists": {"new_words": list(words)}}}) + "\n")
            return original_words(words, *args, **kwargs)

        store.add_words = add_words
        clock.wrap(store, "add_words", "store")


def _describe(args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    # Found by shape, not position, so a reordered signature still works. Any other list of
    # strings passed by keyword (such as new vocabulary words) is kept under its own name.
    described: dict[str, Any] = {"lists": {}}
    for value in args:
        _describe_value(value, described)
    for name, value in kwargs.items():
        if _describe_value(value, described):
            continue
        if isinstance(value, list | tuple) and value and isinstance(value[0], str):
            described["lists"][name] = list(value)
    return described


def _describe_value(value: Any, described: dict[str, Any]) -> bool:
    if hasattr(value, "sentences") and hasattr(value, "title"):
        described["title"] = value.title
        described["lists"]["title"] = [value.title]
        described["lists"]["sentence"] = [sentence.text for sentence in value.sentences]
        return True
    if isinstance(value, list | tuple) and value and hasattr(value[0], "doc_id"):
        described["chunks"] = [chunk.text for chunk in value]
        return True
    return False


def embed_raw(record: str, batched: bool) -> dict[str, Any]:
    """Replay the recorded texts through the embedder alone, call by call as the pipeline made
    them; with ``batched``, also all at once, which shows what batching across documents
    would buy."""
    embedder = default_embedder()
    load_s = warm(embedder)
    seconds = 0.0
    calls = texts = 0
    for kind, value in read_record(record):
        if kind != "embed":
            continue
        started = time.perf_counter()
        embedder.embed(value)
        seconds += time.perf_counter() - started
        calls += 1
        texts += len(value)
    result: dict[str, Any] = {
        "embed_s": seconds,
        "model_load_s": load_s,
        "calls": calls,
        "texts": texts,
    }
    if batched:
        everything = [
            text for kind, value in read_record(record) if kind == "embed" for text in value
        ]
        started = time.perf_counter()
        embedder.embed(everything)
        result["batched_embed_s"] = time.perf_counter() - started
        del everything
    result.update(_classify(record))
    return result


def read_record(record: str) -> Any:
    with open(record, encoding="utf-8") as lines:
        for line in lines:
            entry = json.loads(line)
            kind = next(iter(entry))
            yield kind, entry[kind]


def _classify(record: str) -> dict[str, Any]:
    """What the pipeline embedded: per kind of text, how many and how many model tokens.

    Texts are matched against everything stored in the run, not only the next store call,
    because qa may embed a batch of documents in one call before storing each of them."""
    count_tokens = model_token_counter()
    chunks: set[str] = set()
    titles: dict[str, set[str]] = defaultdict(set)  # by their first 12 characters
    lists: dict[str, set[str]] = defaultdict(set)
    for kind, value in read_record(record):
        if kind == "stored":
            chunks.update(value.get("chunks", []))
            if value.get("title"):
                titles[value["title"][:12]].add(value["title"])
            for name, texts in value.get("lists", {}).items():
                lists[name].update(texts)
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: {"texts": 0, "model_tokens": 0})
    for kind, value in read_record(record):
        if kind != "embed":
            continue
        for text in value:
            label = _label(text, chunks, titles.get(text[:12], set()), lists)
            kinds[label]["texts"] += 1
            kinds[label]["model_tokens"] += count_tokens(text)
    return {"embedded_kinds": {label: dict(counts) for label, counts in kinds.items()}}


def _label(text: str, chunks: set[str], titles: set[str], lists: dict[str, set[str]]) -> str:
    if text in chunks:
        return "chunk"
    for title in titles:
        if text.startswith(title) and text[len(title) :].lstrip(".:-| \n") in chunks:
            return "chunk with title prefix"
    return next((name for name, texts in lists.items() if text in texts), "other")


def model_token_counter() -> Callable[[str], int]:
    """Word pieces the model sees (after its truncation), or characters/4 if qa's tokenizer
    file has moved."""
    try:
        from tokenizers import Tokenizer

        from qa.index.embed import TOKENIZER_FILE, MiniLMEmbedder

        tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
        tokenizer.enable_truncation(max_length=MiniLMEmbedder.max_tokens)
        tokenizer.no_padding()  # the file pads to 128, which qa's embedder turns off too
        return lambda text: len(tokenizer.encode(text).ids)
    except (ImportError, AttributeError, OSError):
        return lambda text: max(1, len(text) // 4)


def retrieve_qa(home: str, questions: list[str], warmup: str, k: int) -> dict[str, Any]:
    """One timed pass of ``qa.index.retrieve`` over the questions, after one untimed question."""
    from qa.index.retrieve import retrieve
    from qa.index.store import Store

    store = Store.open(settings_for(home))
    retrieve(store, warmup, k=k)  # open Chroma, load the model and the index pages
    latencies = time_pass(lambda question: retrieve(store, question, k=k), questions)
    store.close()
    return {"latencies_s": latencies}


def time_pass(call: Callable[[str], Any], questions: list[str]) -> list[float]:
    """One latency per question. One pass per process: qa caches the embedding of a repeated
    question, so a second pass in the same process would time cache hits, not questions."""
    latencies = []
    for question in questions:
        started = time.perf_counter()
        call(question)
        latencies.append(time.perf_counter() - started)
    return latencies


# Stages inside ``retrieve`` (the rest of ``ask`` is answering), to split the remainder of
# each phase into "other" work that no wrapped call accounts for.
RETRIEVE_STAGES = {
    "resolve --doc",
    "dense search (Chroma)",
    "lexical search (FTS5)",
    "fetch chunks",
    "embed in retrieve",
}


def ask_warm(
    home: str,
    collection: str,
    questions: list[dict[str, str]],
    mode: str,
    warmup: str,
    k: int,
    chroma_url: str = "",
) -> dict[str, Any]:
    """One timed pass of library ``ask`` on an open store (``mode`` "doc": restricted to each
    question's article), after one untimed question, with a breakdown by stage.
    ``chroma_url``: the store is in team mode, on that server."""
    from qa.api import ask
    from qa.index.store import Store

    store = Store.open(settings_for(home, collection, chroma_url))
    clock = StageClock()
    for attribute, stage in (
        ("resolve_doc_id", "resolve --doc"),
        ("dense_search", "dense search (Chroma)"),
        ("lexical_search", "lexical search (FTS5)"),
        ("get_chunks", "fetch chunks"),
        ("get_document", "fetch documents"),
        ("sentence_vectors", "sentence vectors"),
    ):
        clock.wrap(store, attribute, stage)
    embedded = _time_embedding_by_phase(store.embedder, clock)
    ask(warmup, store=store, k=k)  # model, Chroma index, SQLite pages, backend caches
    clock.reset()
    embedded.clear()
    phases: dict[str, list[float]] = defaultdict(list)
    latencies: list[float] = []
    for row in questions:
        doc = row["doc"] if mode == "doc" else None
        started = time.perf_counter()
        answer = ask(row["text"], doc=doc, store=store, k=k)
        latencies.append(time.perf_counter() - started)
        for phase, seconds in (answer.timings or {}).items():
            phases[phase].append(seconds)
    asks = len(questions)
    stages = {stage: seconds / asks for stage, seconds in clock.seconds.items()}
    phase_means = {phase: float(np.mean(values)) for phase, values in phases.items()}
    stages.update(_unaccounted(stages, phase_means))
    result = {
        "chunks": store.count_chunks(),
        "latencies_s": latencies,
        "phases_mean_s": phase_means,
        "stages_mean_s": stages,
        "embedded_texts_per_ask": {stage: n / asks for stage, n in embedded.items()},
    }
    store.close()
    return result


def _unaccounted(stages: dict[str, float], phases: dict[str, float]) -> dict[str, float]:
    """Time in each phase of ``ask`` that no wrapped call covers: Python work in qa itself."""
    inside = sum(seconds for stage, seconds in stages.items() if stage in RETRIEVE_STAGES)
    answering = sum(seconds for stage, seconds in stages.items() if stage not in RETRIEVE_STAGES)
    extra = {}
    if "retrieve_s" in phases:
        extra["other retrieve work (fusion, Python)"] = max(0.0, phases["retrieve_s"] - inside)
    if "answer_s" in phases:
        extra["other answer work (backend Python)"] = max(0.0, phases["answer_s"] - answering)
    return extra


def _time_embedding_by_phase(embedder: Any, clock: StageClock) -> dict[str, int]:
    """Time the embedder, split by whether ``retrieve`` (the question) or the backend
    (answering) called it; returns texts embedded per stage."""
    answer_module = importlib.import_module("qa.api")
    inside = {"retrieve": False}
    texts: dict[str, int] = defaultdict(int)
    original_retrieve = getattr(answer_module, "retrieve", None)
    if callable(original_retrieve):

        def retrieve(*args: Any, **kwargs: Any) -> Any:
            inside["retrieve"] = True
            try:
                return original_retrieve(*args, **kwargs)
            finally:
                inside["retrieve"] = False

        setattr(answer_module, "retrieve", retrieve)  # noqa: B010 (mypy rejects assigning to a module attribute)
    original_embed = embedder.embed

    def embed(batch: Sequence[str]) -> Any:
        stage = "embed in retrieve" if inside["retrieve"] else "embed in answer (backend)"
        started = time.perf_counter()
        try:
            return original_embed(batch)
        finally:
            clock.seconds[stage] += time.perf_counter() - started
            clock.calls[stage] += 1
            texts[stage] += len(batch)

    embedder.embed = embed
    return texts
