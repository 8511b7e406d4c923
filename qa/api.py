"""The library API: ``ask``, ``summarize``, and ``list_documents`` / ``show`` / ``forget``.

Each call opens the store (or uses the one given), reads one snapshot, lets a
backend draft claims that point at stored sentences, and numbers and resolves
those citations through :mod:`qa.citations`, the same way for every backend.
"""

from __future__ import annotations

import re
import time

from qa.backends.base import Backend
from qa.backends.registry import load_backend
from qa.citations import number_citations, render
from qa.config import Settings
from qa.errors import ConfigError, InputError
from qa.index.retrieve import retrieve
from qa.index.store import Store
from qa.types import NOT_IN_ARTICLES, Answer, Document, DocumentInfo, Summary, TextSink

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
    with Store.using(store, settings) as store, store.snapshot():
        started = time.perf_counter()
        doc_id = store.resolve_doc_id(doc) if doc else None
        hits = retrieve(store, question, k=k, doc_id=doc_id)
        retrieved = time.perf_counter()
        documents: dict[str, Document] = {
            hit.chunk.doc_id: store.get_document(hit.chunk.doc_id) for hit in hits
        }
        engine = backend or load_backend(store.settings, store)
        draft = engine.answer(question, hits, documents, on_text=on_text)
        claims, citations, dropped = number_citations(draft, documents)
        abstained = draft.abstained or not claims
        text = NOT_IN_ARTICLES if abstained else render(claims)
        finished = time.perf_counter()
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
                "retrieve_s": retrieved - started,
                "answer_s": finished - retrieved,
                "total_s": finished - started,
            },
        )


def summarize(
    doc: str | None = None,
    *,
    sentences: int = 5,
    settings: Settings | None = None,
    backend: Backend | None = None,
    store: Store | None = None,
) -> Summary:
    """A neutral, fully cited summary of one document, or of the whole collection."""
    if sentences < 1:
        raise ConfigError(f"--sentences {sentences} is too small", fix="use 1 or more")
    with Store.using(store, settings) as store, store.snapshot():
        started = time.perf_counter()
        store.require_documents()
        doc_ids = [store.resolve_doc_id(doc)] if doc else store.doc_ids()
        documents = [store.get_document(doc_id) for doc_id in doc_ids]
        engine = backend or load_backend(store.settings, store)
        draft = engine.summarize(documents, sentences)
        claims, citations, dropped = number_citations(
            draft, {document.id: document for document in documents}
        )
        return Summary(
            doc_ids=doc_ids,
            text=render(claims),
            claims=claims,
            citations=citations,
            backend=engine.name,
            usage=draft.usage,
            dropped_citations=[*draft.dropped_citations, *dropped],
            run=draft.run,
            timings={"total_s": time.perf_counter() - started},
        )


def list_documents(*, settings: Settings | None = None) -> list[DocumentInfo]:
    """The collection's documents, with their titles, sources and sizes."""
    with Store.using(None, settings) as store:
        return store.list_documents()


def show(doc: str, *, settings: Settings | None = None) -> Document:
    """One document (by id or unique prefix): its cleaned text and sentence spans."""
    with Store.using(None, settings) as store, store.snapshot():
        return store.get_document(store.resolve_doc_id(doc))


def forget(doc: str | None = None, *, settings: Settings | None = None) -> list[str]:
    """Remove one document (by id or prefix), or the whole collection when ``doc`` is None."""
    with Store.using(None, settings) as store, store.writing():
        if doc is None:
            removed = store.doc_ids()
            store.drop_collection()
            return removed
        doc_id = store.resolve_doc_id(doc)
        store.remove_document(doc_id)
        return [doc_id]
