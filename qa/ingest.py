"""Ingest: read a file, folder, URL or stdin, clean it, split it, chunk it, embed it, store it.

Ids are stable: a document's id is a hash of its normalised cleaned content,
and its chunks are ``DOC:N``.  Ingesting the same text again changes nothing;
ingesting a changed version of a source already stored (same path or URL)
replaces the old document and all its chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from qa.types import Chunk, Document, IngestOutcome, IngestReport, IngestStatus

# Documents embedded together: one length-sorted call wastes less on padding than one per
# document (about 2x faster on 2 cores), and a batch this size bounds the memory it takes.
EMBED_BATCH = 16


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


@dataclass(frozen=True)
class _Prepared:
    """A new document, cleaned and chunked, waiting for its vectors."""

    position: int
    source: str
    document: Document
    chunks: list[Chunk]
    replaces: list[str]

    def texts(self) -> list[str]:
        """What is embedded for it: each chunk (with its headline), then each sentence."""
        dense = [_dense_text(self.document, chunk.text) for chunk in self.chunks]
        return dense + [sentence.text for sentence in self.document.sentences]


def _prepare(
    store: Store, raw: RawArticle, position: int, pending: set[str]
) -> _Prepared | Document:
    """What to store, or just the document when it is stored already (or earlier in the batch)."""
    document = build_document(raw)
    if document.id in pending or store.has_document(document.id):
        return document
    previous = [] if raw.source == "stdin" else store.find_by_source(raw.source)
    chunks = chunk_sentences(
        document.id, document.text, document.sentences, store.settings.chunk_tokens
    )
    return _Prepared(position, raw.source, document, chunks, previous)


def _store_batch(store: Store, batch: list[_Prepared]) -> list[IngestOutcome]:
    """Embed a batch of documents in one call, then store each in its own commit."""
    texts = [prepared.texts() for prepared in batch]
    words = {
        word.lower()
        for prepared in batch
        for word in vocabulary(f"{prepared.document.title} {prepared.document.text}")
    }
    new_words = store.missing_words(sorted(words))
    # One call: the embedder sorts all texts by length, so little is spent on padding.
    vectors = store.embedder.embed([text for group in texts for text in group] + new_words)
    if new_words:
        store.add_words(new_words, vectors[len(vectors) - len(new_words) :])
    outcomes = []
    offset = 0
    for prepared, group in zip(batch, texts, strict=True):
        n_chunks = len(prepared.chunks)
        own = vectors[offset : offset + len(group)]
        offset += len(group)
        store.add_document(
            prepared.document,
            prepared.chunks,
            own[:n_chunks],
            own[n_chunks:],
            replaces=prepared.replaces,
        )
        status: IngestStatus = "replaced" if prepared.replaces else "added"
        document = prepared.document
        outcomes.append(
            IngestOutcome(prepared.source, status, document.id, document.title, n_chunks)
        )
    return outcomes


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

    Sources are read a batch at a time (``EMBED_BATCH`` documents), so memory does
    not grow with their number; each document is stored in its own commit.
    ``on_progress(outcome, done, total)`` is called after each source.
    """
    with Store.using(store, settings) as store, store.writing():
        store.sweep_orphans()
        expanded = expand_sources(sources)
        outcomes: list[IngestOutcome | None] = [None] * len(expanded)
        done = 0

        def finish(position: int, outcome: IngestOutcome) -> None:
            nonlocal done
            outcomes[position] = outcome
            done += 1
            if on_progress:
                on_progress(outcome, done, len(expanded))

        for begin in range(0, len(expanded), EMBED_BATCH):
            batch: list[_Prepared] = []
            for position in range(begin, min(begin + EMBED_BATCH, len(expanded))):
                source = expanded[position]
                try:
                    raw = read_source(
                        source,
                        max_bytes=store.settings.max_input_bytes,
                        url_timeout=store.settings.url_timeout,
                        stdin_text=stdin_text,
                    )
                    prepared = _prepare(store, raw, position, {p.document.id for p in batch})
                except InputError as error:
                    finish(position, IngestOutcome(source, "failed", error=str(error)))
                    continue
                if isinstance(prepared, Document):
                    unchanged = IngestOutcome(raw.source, "unchanged", prepared.id, prepared.title)
                    finish(position, unchanged)
                else:
                    batch.append(prepared)
            for waiting, outcome in zip(batch, _store_batch(store, batch), strict=True):
                finish(waiting.position, outcome)
    return IngestReport([outcome for outcome in outcomes if outcome is not None])
