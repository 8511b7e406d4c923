"""Ingest: read a file, folder, URL or stdin, clean it, split it, chunk it, embed it, store it.

Ids are stable: a document's id is a hash of its normalised cleaned content,
and its chunks are ``DOC:N``.  Ingesting the same text again changes nothing;
ingesting a changed version of a source already stored (same path or URL)
replaces the old document and all its chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from qa.chunk import chunk_sentences
from qa.clean import CleanArticle, clean_text, extract_html
from qa.config import Settings
from qa.discourse import vocabulary
from qa.errors import InputError
from qa.sources import RawArticle, expand_sources, read_source
from qa.split import split_sentences
from qa.store import Store
from qa.types import Document, IngestOutcome, IngestReport, IngestStatus


def clean_article(raw: RawArticle) -> CleanArticle:
    if raw.format == "html":
        return extract_html(raw.content)
    return clean_text(raw.content, markdown=raw.format == "markdown")


def document_id(title: str, text: str) -> str:
    normalised = " ".join(f"{title}\n{text}".casefold().split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def build_document(raw: RawArticle) -> Document:
    article = clean_article(raw)
    sentences = split_sentences(article.text)
    if not sentences:
        raise InputError(
            f"{raw.source} has no article text after cleaning "
            "(only scripts, markup, credits or page furniture)",
            fix="save the article's own text, or its printable page, and ingest that",
        )
    return Document(
        id=document_id(article.title, article.text),
        title=article.title or Path(raw.source).stem,
        source=raw.source,
        text=article.text,
        sentences=sentences,
        ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def ingest_one(store: Store, raw: RawArticle) -> IngestOutcome:
    document = build_document(raw)
    if store.has_document(document.id):
        return IngestOutcome(raw.source, "unchanged", document.id, document.title)
    previous = [] if raw.source == "stdin" else store.find_by_source(raw.source)
    chunks = chunk_sentences(
        document.id, document.text, document.sentences, store.settings.chunk_tokens
    )
    embedder = store.embedder
    chunk_vectors = embedder.embed([_dense_text(document, chunk.text) for chunk in chunks])
    sentence_vectors = embedder.embed([sentence.text for sentence in document.sentences])
    words = {word.lower() for word in vocabulary(f"{document.title} {document.text}")}
    new_words = store.missing_words(sorted(words))
    store.add_document(
        document,
        chunks,
        chunk_vectors,
        sentence_vectors,
        replaces=previous,
        new_words=new_words,
        word_vectors=embedder.embed(new_words),
    )
    status: IngestStatus = "replaced" if previous else "added"
    return IngestOutcome(raw.source, status, document.id, document.title, len(chunks))


def _dense_text(document: Document, chunk_text: str) -> str:
    # The headline gives each chunk the story's context in embedding space.
    return f"{document.title}. {chunk_text}" if document.title else chunk_text


def ingest(
    sources: Sequence[str | Path],
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    on_progress: Callable[[IngestOutcome, int, int], None] | None = None,
    stdin_text: str | None = None,
) -> IngestReport:
    """Ingest each source; a source that fails is reported, not raised, so the rest still go in.

    Sources are read one at a time, so memory does not grow with their number.
    ``on_progress(outcome, done, total)`` is called after each source.
    """
    outcomes: list[IngestOutcome] = []
    with Store.using(store, settings) as store, store.writing():
        store.sweep_orphans()
        limits = store.settings
        expanded = expand_sources(sources)
        for done, source in enumerate(expanded, 1):
            try:
                raw = read_source(
                    source,
                    max_bytes=limits.max_input_bytes,
                    url_timeout=limits.url_timeout,
                    stdin_text=stdin_text,
                )
                outcome = ingest_one(store, raw)
            except InputError as error:
                outcome = IngestOutcome(source, "failed", error=str(error))
            outcomes.append(outcome)
            if on_progress:
                on_progress(outcome, done, len(expanded))
    return IngestReport(outcomes)
