"""The library API: ``ask``, ``summarize``, and ``list_documents`` / ``show`` / ``forget``.

Each call opens the store (or uses the one given), reads one snapshot, lets a
backend draft claims that point at stored sentences, and numbers and resolves
those citations through :mod:`qa.citations`, the same way for every backend.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from qa.backends.base import Backend
from qa.backends.registry import load_backend
from qa.citations import number_citations, render
from qa.config import Settings, qa_version
from qa.errors import ConfigError, InputError
from qa.index.embed import model_load_seconds
from qa.index.retrieve import retrieve
from qa.index.store import Store
from qa.index.stories import group_stories
from qa.types import (
    NOT_IN_ARTICLES,
    Answer,
    Document,
    DocumentInfo,
    Draft,
    Story,
    Summary,
    TextSink,
)

MAX_QUESTION_CHARS = 2000
# Control characters (C0 and C1, DEL) carry no meaning in a question and break terminals.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_question(question: str) -> str:
    """The question with control characters and runs of whitespace made single spaces."""
    cleaned = " ".join(CONTROL.sub(" ", question).split())
    if not cleaned:
        raise InputError("the question is empty", fix='ask a question, e.g. qa ask "Who won?"')
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise InputError(
            f"the question is {len(cleaned):,} characters long, over the "
            f"{MAX_QUESTION_CHARS:,} limit",
            fix="ask a shorter question; to ask about a long text, ingest it first",
        )
    return cleaned


def ask(
    question: str,
    *,
    doc: str | None = None,
    k: int = 8,
    settings: Settings | None = None,
    backend: Backend | None = None,
    store: Store | None = None,
    on_text: TextSink | None = None,
) -> Answer:
    """Answer ``question`` from the collection (or one document), citing stored sentences."""
    question = clean_question(question)
    if k < 1:
        raise ConfigError(f"-k {k} is too small", fix="use -k 1 or more")
    started = time.perf_counter()
    opened_before = store.open_s if store is not None else 0.0
    with Store.using(store, settings) as store, store.snapshot():
        # Opening the store (SQLite here, Chroma at the first search) and loading the model
        # happen once per process: they are phases of their own, left out of retrieve_s
        # and answer_s.
        begun, open_at_begin, loaded = time.perf_counter(), store.open_s, model_load_seconds()
        doc_id = store.resolve_doc_id(doc) if doc else None
        hits = retrieve(store, question, k=k, doc_id=doc_id)
        retrieved = time.perf_counter()
        opened_in_retrieve = store.open_s - open_at_begin
        loaded_in_retrieve = model_load_seconds() - loaded
        documents: dict[str, Document] = {
            hit.chunk.doc_id: store.get_document(hit.chunk.doc_id) for hit in hits
        }
        engine = backend or load_backend(store.settings, store)
        draft = engine.answer(question, hits, documents, on_text=on_text)
        claims, citations, dropped = number_citations(draft, documents)
        abstained = draft.abstained or not claims
        text = NOT_IN_ARTICLES if abstained else render(claims)
        finished = time.perf_counter()
        model_load = model_load_seconds() - loaded
        return Answer(
            question=question,
            text=text,
            abstained=abstained,
            claims=[] if abstained else claims,
            citations=[] if abstained else citations,
            evidence=hits,
            backend=engine.name,
            usage=draft.usage,
            dropped_citations=[*draft.dropped_citations, *dropped],
            run=draft.run,
            confidence=draft.confidence,
            timings={
                "store_open_s": store.open_s - opened_before,
                "model_load_s": model_load,
                "retrieve_s": retrieved - begun - opened_in_retrieve - loaded_in_retrieve,
                "answer_s": finished - retrieved - (model_load - loaded_in_retrieve),
                "total_s": finished - started,
            },
        )


def summarize(
    doc: str | None = None,
    *,
    sentences: int = 5,
    max_stories: int = 5,
    settings: Settings | None = None,
    backend: Backend | None = None,
    store: Store | None = None,
) -> Summary:
    """A neutral, fully cited summary of one document, or of the whole collection.

    A collection of several articles is grouped by story (:mod:`qa.index.stories`):
    one story gives one synthesis of all its articles; several give one or two
    sentences each under the story's title, for at most ``max_stories`` stories,
    and ``Summary.coverage_line`` counts the articles each story draws on and names
    the stories left out.
    """
    if sentences < 1:
        raise ConfigError(f"--sentences {sentences} is too small", fix="use 1 or more")
    if max_stories < 1:
        raise ConfigError(f"--max-stories {max_stories} is too small", fix="use 1 or more")
    with Store.using(store, settings) as store, store.snapshot():
        started = time.perf_counter()
        store.require_documents()
        doc_ids = [store.resolve_doc_id(doc)] if doc else store.doc_ids()
        documents = [store.get_document(doc_id) for doc_id in doc_ids]
        engine = backend or load_backend(store.settings, store)
        if len(documents) == 1:
            draft = engine.summarize(documents, sentences)
        else:
            vectors = [store.sentence_vectors(document.id) for document in documents]
            groups = group_stories(documents, vectors)
            draft = _collection_draft(engine, documents, groups, sentences, max_stories)
        claims, citations, dropped = number_citations(
            draft, {document.id: document for document in documents}
        )
        summary = Summary(
            doc_ids=doc_ids,
            text=render(claims),
            claims=claims,
            citations=citations,
            backend=engine.name,
            usage=draft.usage,
            dropped_citations=[*draft.dropped_citations, *dropped],
            run=draft.run,
            timings={"total_s": time.perf_counter() - started},
            stories=list(draft.stories),
        )
        if summary.coverage_line:
            summary.text += "\n\n" + summary.coverage_line
        return summary


def _collection_draft(
    engine: Backend,
    documents: list[Document],
    groups: list[list[int]],
    sentences: int,
    max_stories: int,
) -> Draft:
    """One synthesis for one story; otherwise one or two claims under each story's title."""
    stories = [
        Story(
            title=documents[members[0]].title,
            doc_ids=tuple(documents[i].id for i in members),
            shown=rank < max_stories,
        )
        for rank, members in enumerate(groups)
    ]
    shown = groups[:max_stories]
    # One or two sentences a story: two while that keeps within the sentences asked for.
    per_story = sentences if len(shown) == 1 else max(1, min(2, sentences // len(shown)))
    merged = Draft(claims=[], stories=stories)
    for members, story in zip(shown, stories, strict=False):
        draft = engine.summarize([documents[i] for i in members], per_story)
        claims = draft.claims if len(shown) == 1 else draft.claims[:per_story]
        if claims:
            claims[0].heading = story.title
        merged.claims.extend(claims)
        merged.usage.add(draft.usage)
        merged.dropped_citations.extend(draft.dropped_citations)
        # A backend's record of each call (LLM calls, fallbacks) is kept for every story.
        for key, value in draft.run.items():
            if isinstance(value, list):
                merged.run.setdefault(key, []).extend(value)
            else:
                merged.run.setdefault(key, value)
    return merged


def list_documents(*, settings: Settings | None = None) -> list[DocumentInfo]:
    """The collection's documents, with their titles, sources and sizes."""
    with Store.using(None, settings) as store:
        return store.list_documents()


def show(doc: str, *, settings: Settings | None = None) -> Document:
    """One document (by id or unique prefix): its cleaned text and sentence spans."""
    with Store.using(None, settings) as store, store.snapshot():
        return store.get_document(store.resolve_doc_id(doc))


def documents_named(
    docs: Sequence[str] | None = None, *, settings: Settings | None = None
) -> list[DocumentInfo]:
    """The documents that ids or unique prefixes name (each once, in the order given), or
    every document of the collection when ``docs`` is None: what ``forget`` would remove."""
    with Store.using(None, settings) as store, store.snapshot():
        listed = {info.id: info for info in store.list_documents()}
        if docs is None:
            return list(listed.values())
        ids = dict.fromkeys(store.resolve_doc_id(doc) for doc in docs)
        return [listed[doc_id] for doc_id in ids if doc_id in listed]


def forget(
    doc: str | Sequence[str] | None = None, *, settings: Settings | None = None
) -> list[str]:
    """Remove documents (ids or unique prefixes), or the whole collection when ``doc`` is None.

    Every id is resolved before anything is removed, so an unknown one removes nothing."""
    with Store.using(None, settings) as store, store.writing():
        if doc is None:
            removed = store.doc_ids()
            store.drop_collection()
            return removed
        names = [doc] if isinstance(doc, str) else list(doc)
        doc_ids = list(dict.fromkeys(store.resolve_doc_id(name) for name in names))
        for doc_id in doc_ids:
            store.remove_document(doc_id)
        return doc_ids


def versions() -> dict[str, str]:
    """qa's version, the versions of the libraries that shape its results, and the
    embedding model: what ``qa --version --verbose`` prints."""
    import platform
    from importlib import metadata

    from qa.index.embed import MODEL_PACKAGE, MiniLMEmbedder

    found = {"qa": qa_version(), "python": platform.python_version()}
    for package in ("chromadb", "onnxruntime", "openai", "tiktoken"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    found["embedding_model"] = MiniLMEmbedder.name
    try:
        found["embedding_model_package"] = f"{MODEL_PACKAGE} {metadata.version(MODEL_PACKAGE)}"
    except metadata.PackageNotFoundError:
        found["embedding_model_package"] = f"{MODEL_PACKAGE} not installed"
    return found
