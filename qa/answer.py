"""ask(): retrieve evidence, let the backend answer, number and resolve its citations."""

from __future__ import annotations

import time

from qa.backend import Backend, TextSink, load_backend
from qa.cite import number_citations, render
from qa.config import Settings
from qa.errors import ConfigError
from qa.retrieve import retrieve
from qa.store import Store
from qa.types import NOT_IN_ARTICLES, Answer, Document


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
    if not question.strip():
        raise ConfigError("the question is empty", fix='ask a question, e.g. qa ask "Who won?"')
    if k < 1:
        raise ConfigError(f"-k {k} is too small", fix="use -k 1 or more")
    with Store.using(store, settings) as store:
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
