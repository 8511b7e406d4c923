"""summarize(): a neutral, fully cited summary of one document or a whole collection."""

from __future__ import annotations

import time

from qa.backend import Backend, load_backend
from qa.cite import number_citations, render
from qa.config import Settings
from qa.errors import ConfigError
from qa.store import Store
from qa.types import Summary


def summarize(
    doc: str | None = None,
    *,
    sentences: int = 5,
    settings: Settings | None = None,
    backend: Backend | None = None,
    store: Store | None = None,
) -> Summary:
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
