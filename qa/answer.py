"""ask(): retrieve evidence, let the backend answer, number and resolve its citations."""

from __future__ import annotations

import re
import time

from qa.backend import Backend, TextSink, load_backend
from qa.cite import number_citations, render
from qa.config import Settings
from qa.errors import ConfigError, InputError
from qa.retrieve import retrieve
from qa.store import Store
from qa.types import NOT_IN_ARTICLES, Answer, Document

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
            timings={
                "retrieve_s": retrieved - started,
                "answer_s": finished - retrieved,
                "total_s": finished - started,
            },
        )
