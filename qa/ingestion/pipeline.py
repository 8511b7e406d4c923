"""Ingest: read a file, folder, URL or stdin, clean it, split it, chunk it, embed it, store it.

Identity (:mod:`qa.index.identity`): a document's id is stable for its source
(the normalised path or URL) and its chunks are ``VERSION:N``, VERSION being the
hash of its text.  Ingesting the same text again changes nothing; a changed
source is ``updated`` under the same id (its old chunks and vectors replaced in
one commit); text already stored from another source is ``linked``: one
document that lists both sources.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.errors import InputError
from qa.index.embed import Counts, Embedder, PooledEmbedder, Vectors, unit_vectors
from qa.index.identity import content_hash, id_for_source, source_key
from qa.index.store import Store
from qa.ingestion.chunk import chunk_sentences
from qa.ingestion.clean import CleanArticle, clean_text, extract_html
from qa.ingestion.sources import RawArticle, expand_folders, read_source
from qa.text.split import split_sentences
from qa.text.words import vocabulary
from qa.types import Chunk, Document, IngestOutcome, IngestReport, IngestStatus

# Documents embedded together: one length-sorted call wastes less on padding than one per
# document (about 2x faster on 2 cores), and a batch this size bounds the memory it takes.
EMBED_BATCH = 16


def clean_article(raw: RawArticle) -> CleanArticle:
    if raw.format == "html":
        return extract_html(raw.content)
    return clean_text(raw.content, markdown=raw.format == "markdown")


def build_document(raw: RawArticle) -> Document:
    """The cleaned document; its id is provisional (the text's version) until planned."""
    article = clean_article(raw)
    sentences = split_sentences(article.text)
    if not sentences:
        raise InputError(
            f"{raw.source} has no article text after cleaning "
            "(only scripts, markup, credits or page furniture)",
            fix="save the article's own text, or its printable page, and ingest that",
        )
    version = content_hash(article.title, article.text)
    return Document(
        id=version,
        title=article.title or Path(raw.source).stem,
        source=raw.source,
        text=article.text,
        sentences=sentences,
        ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        version=version,
    )


@dataclass(frozen=True)
class _Prepared:
    """A document to store (new, or a new version), cleaned and chunked, waiting for vectors."""

    position: int
    source: str
    document: Document
    chunks: list[Chunk]
    status: IngestStatus
    note: str
    sources: list[str]

    def texts(self) -> list[str]:
        """What an embedder without token counts embeds for it: each chunk (with its
        headline), then each sentence (see ``_embed_batch``)."""
        dense = [_dense_text(self.document, chunk.text) for chunk in self.chunks]
        return dense + [sentence.text for sentence in self.document.sentences]


def _free_id(store: Store, key: str, version: str) -> str:
    """The id a source's new document gets: from the source, unless a document that
    another source keeps already has it (then from the source and its text)."""
    doc_id = id_for_source(key)
    return id_for_source(key, salt=version) if store.has_document(doc_id) else doc_id


def _first_source(store: Store, doc_id: str) -> str:
    sources = store.sources_of(doc_id)
    return sources[0] if sources else "standard input"


def _plan(
    store: Store, raw: RawArticle, document: Document, position: int
) -> _Prepared | IngestOutcome:
    """What ingesting ``document`` from ``raw.source`` does: nothing (unchanged), a link
    to the document already holding its text, or a document to store.  Links and the
    rename of a shared document's old text are written here; new text is stored by
    ``_store_batch``."""
    key = source_key(raw.source)
    owner = store.source_owner(key) if key else None
    if owner is not None and owner[1] == document.version:
        return IngestOutcome(raw.source, "unchanged", owner[0], document.title)
    twin = store.document_with_version(document.version)
    if twin is not None:
        if key is None:
            return IngestOutcome(raw.source, "unchanged", twin, document.title)
        note = f"same text as {_first_source(store, twin)}"
        removed = store.link_source(key, twin)
        if removed:
            note += f"; its old text (document {', '.join(removed)}) removed"
        return IngestOutcome(raw.source, "linked", twin, document.title, note=note)
    status: IngestStatus = "added"
    note = ""
    if key is None:
        doc_id = document.version
    elif owner is None:
        doc_id = _free_id(store, key, document.version)
    else:
        owner_id, owner_version = owner
        sources = store.sources_of(owner_id)
        others = [other for other in sources if other != key]
        status = "updated" if owner_version is not None else "added"
        if owner_version is None or not others:
            doc_id = owner_id
        elif sources[0] == key:
            # The source that gave the id changed: it keeps the id for its new text, and
            # the sources that still hold the old text keep it under an id of their own.
            moved = _free_id(store, others[0], owner_version)
            store.rename_document(owner_id, moved, others)
            doc_id = owner_id
            note = f"its old text stays as document {moved} for {others[0]}"
        else:
            doc_id = _free_id(store, key, document.version)
            note = f"was document {owner_id}, which keeps the old text for {others[0]}"
    document = replace(document, id=doc_id)
    chunks = chunk_sentences(
        doc_id, document.text, document.sentences, store.settings.chunk_tokens, document.version
    )
    return _Prepared(position, raw.source, document, chunks, status, note, [key] if key else [])


def _store_batch(store: Store, batch: list[_Prepared]) -> list[IngestOutcome]:
    """Embed a batch of documents in one call and write their vectors in one, then store
    each document in its own commit (``Store.add_documents``)."""
    words = {
        word.lower()
        for prepared in batch
        for word in vocabulary(f"{prepared.document.title} {prepared.document.text}")
    }
    new_words = store.missing_words(sorted(words))
    vectors, word_vectors = _embed_batch(store.embedder, batch, new_words)
    if new_words:
        store.add_words(new_words, word_vectors)
    store.add_vectors(
        [
            (prepared.document, prepared.chunks, chunk_vectors)
            for prepared, (chunk_vectors, _) in zip(batch, vectors, strict=True)
        ]
    )
    store.add_documents(
        [
            (prepared.document, prepared.chunks, chunk_vectors, sentence_vectors, (),
             prepared.sources)
            for prepared, (chunk_vectors, sentence_vectors) in zip(batch, vectors, strict=True)
        ]
    )  # fmt: skip
    outcomes = []
    for prepared in batch:
        document = prepared.document
        outcomes.append(
            IngestOutcome(
                prepared.source,
                prepared.status,
                document.id,
                document.title,
                len(prepared.chunks),
                note=prepared.note,
            )
        )
    return outcomes


def embed_stored(
    store: Store, doc_ids: Sequence[str]
) -> list[tuple[Document, list[Chunk], Vectors, Vectors]]:
    """Stored documents' chunk and sentence vectors, computed again from their stored text
    exactly as ingest computes them (``qa repair``, and ingest restoring lost vectors)."""
    batch = []
    for position, doc_id in enumerate(doc_ids):
        document = store.get_document(doc_id)
        chunks = store.document_chunks(doc_id)
        batch.append(_Prepared(position, document.source, document, chunks, "added", "", []))
    vectors, _ = _embed_batch(store.embedder, batch, [])
    return [
        (prepared.document, prepared.chunks, chunk_vectors, sentence_vectors)
        for prepared, (chunk_vectors, sentence_vectors) in zip(batch, vectors, strict=True)
    ]


def restore_vectors(
    store: Store,
    doc_ids: Sequence[str],
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the chunk vectors of stored documents again, ``EMBED_BATCH`` documents per
    embedding call; returns how many vectors were written.  ``on_progress(done, total)``."""
    written = 0
    for begin in range(0, len(doc_ids), EMBED_BATCH):
        part = doc_ids[begin : begin + EMBED_BATCH]
        embedded = embed_stored(store, part)
        store.add_vectors(
            [(document, chunks, vectors) for document, chunks, vectors, _ in embedded]
        )
        written += sum(len(chunks) for _, chunks, _, _ in embedded)
        if on_progress:
            on_progress(begin + len(part), len(doc_ids))
    return written


def _lacking_vectors(store: Store, doc_ids: Sequence[str]) -> list[str]:
    """Those of ``doc_ids`` with a chunk that has no vector (one Chroma call each)."""
    return [
        doc_id
        for doc_id in doc_ids
        if {chunk.id for chunk in store.document_chunks(doc_id)} - store.vector_ids(doc_id)
    ]


def _embed_batch(
    embedder: Embedder, batch: Sequence[_Prepared], words: Sequence[str]
) -> tuple[list[tuple[Vectors, Vectors]], Vectors]:
    """Each document's chunk and sentence vectors, and the words' vectors, from one call.

    One call: the embedder sorts all texts by length, so little is spent on padding.

    Why the chunks are not embedded as text: embedding ``title. chunk`` as well as every
    sentence made the model read each sentence twice (the overlap sentence three times)
    and the headline once per chunk, 2.1x the tokens of the sentences and headline
    alone, and embedding is most of ingest.  So each sentence and the headline are
    encoded once, on their own, and a chunk's vector is the mean pooling of all their
    tokens (``embed_weighted``).  It is close to the whole-chunk vector (cosine 0.90 on
    average over the eval articles) and ranks the right chunk for the eval questions
    as well or slightly better (dense MRR 0.81 against 0.79): MiniLM was trained on
    inputs of at most 128 tokens, and a chunk with its headline runs to 250 or, cut at
    256, loses its tail.  Sentence vectors, which the answer engine ranks sentences
    by, stay the standalone ones; pooling them out of a pass over the chunk instead
    ("late chunking") lost answer recall.  An embedder that cannot report token counts
    gets the chunks as text.
    """
    if not isinstance(embedder, PooledEmbedder):
        groups = [prepared.texts() for prepared in batch]
        vectors = embedder.embed([text for group in groups for text in group] + list(words))
        rows, rest = _rows_of(groups)
        return [
            (vectors[own][: len(prepared.chunks)], vectors[own][len(prepared.chunks) :])
            for prepared, own in zip(batch, rows, strict=True)
        ], vectors[rest]
    groups = [_pooling_texts(prepared.document, prepared.chunks) for prepared in batch]
    means, counts = embedder.embed_weighted(
        [text for group in groups for text in group] + list(words)
    )
    rows, rest = _rows_of(groups)
    return [
        _pool(prepared.document, prepared.chunks, means[own], counts[own])
        for prepared, own in zip(batch, rows, strict=True)
    ], unit_vectors(means[rest])


def _rows_of(groups: Sequence[Sequence[str]]) -> tuple[list[slice], slice]:
    """Each group's rows in the flat list of their texts, and the rows after them all."""
    rows = []
    offset = 0
    for group in groups:
        rows.append(slice(offset, offset + len(group)))
        offset += len(group)
    return rows, slice(offset, None)


def _pieces(document: Document, chunks: Sequence[Chunk]) -> list[Chunk]:
    """Chunks cut from inside an over-long sentence: each covers only part of it."""
    sentences = document.sentences
    return [
        chunk
        for chunk in chunks
        if (chunk.start, chunk.end)
        != (sentences[chunk.first_sentence].start, sentences[chunk.last_sentence].end)
    ]


def _pooling_texts(document: Document, chunks: Sequence[Chunk]) -> list[str]:
    """Each sentence, the headline, then each piece of an over-long sentence (encoded whole)."""
    titles = [document.title] if document.title else []
    pieces = [piece.text for piece in _pieces(document, chunks)]
    return [sentence.text for sentence in document.sentences] + titles + pieces


def _pool(
    document: Document, chunks: Sequence[Chunk], means: Vectors, counts: Counts
) -> tuple[Vectors, Vectors]:
    """Chunk and sentence vectors from the mean token vectors of ``_pooling_texts``."""
    n = len(document.sentences)
    token_sums = means * counts[:, None].astype(np.float32)
    # The headline gives each chunk the story's context in embedding space.
    title_sum = token_sums[n] if document.title else np.zeros(means.shape[1], np.float32)
    first_piece = n + (1 if document.title else 0)
    piece_rows = {piece.index: first_piece + k for k, piece in enumerate(_pieces(document, chunks))}
    chunk_sums = np.zeros((len(chunks), means.shape[1]), dtype=np.float32)
    for row, chunk in enumerate(chunks):
        if chunk.index in piece_rows:
            chunk_sums[row] = token_sums[piece_rows[chunk.index]]
        else:
            chunk_sums[row] = token_sums[chunk.first_sentence : chunk.last_sentence + 1].sum(axis=0)
    return unit_vectors(chunk_sums + title_sum), unit_vectors(means[:n])


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

    Folders are read recursively; files in them that qa does not read are listed in
    ``IngestReport.skipped``.  Sources are read a batch at a time (``EMBED_BATCH``
    documents), so memory does not grow with their number; each document is stored in
    its own commit.  ``on_progress(outcome, done, total)`` is called after each source.
    """
    with Store.using(store, settings) as store, store.writing():
        store.sweep_orphans()
        # Vectors lost since (a removed or replaced Chroma folder): the documents this run
        # finds unchanged get theirs back.
        restoring = store.missing_vector_count() > 0
        expanded, skipped = expand_folders(sources)
        outcomes: list[IngestOutcome | None] = [None] * len(expanded)
        done = 0

        def finish(position: int, outcome: IngestOutcome) -> None:
            nonlocal done
            outcomes[position] = outcome
            done += 1
            if on_progress:
                on_progress(outcome, done, len(expanded))

        batch: list[_Prepared] = []
        unchanged: list[tuple[int, IngestOutcome]] = []

        def flush() -> None:
            if batch:
                for waiting, outcome in zip(batch, _store_batch(store, batch), strict=True):
                    finish(waiting.position, outcome)
                batch.clear()
            if not unchanged:
                return
            known = sorted({outcome.doc_id for _, outcome in unchanged if outcome.doc_id})
            lacking = set(_lacking_vectors(store, known) if restoring else [])
            restore_vectors(store, sorted(lacking))
            for position, outcome in unchanged:
                if outcome.doc_id in lacking:
                    chunks = len(store.document_chunks(outcome.doc_id))
                    outcome = replace(outcome, status="restored", chunks=chunks)
                finish(position, outcome)
            unchanged.clear()

        for position, source in enumerate(expanded):
            try:
                raw = read_source(
                    source,
                    max_bytes=store.settings.max_input_bytes,
                    url_timeout=store.settings.url_timeout,
                    stdin_text=stdin_text,
                )
                document = build_document(raw)
                key = source_key(raw.source)
                # The same text or source again before the batch is stored: store the
                # batch first, so this one is planned against what is really there.
                if any(
                    waiting.document.version == document.version
                    or (key is not None and key in waiting.sources)
                    for waiting in batch
                ):
                    flush()
                planned = _plan(store, raw, document, position)
            except InputError as error:
                finish(position, IngestOutcome(source, "failed", error=str(error)))
                continue
            if isinstance(planned, IngestOutcome):
                if planned.status == "unchanged" and restoring:
                    unchanged.append((position, planned))
                else:
                    finish(position, planned)
            else:
                batch.append(planned)
            if len(batch) + len(unchanged) >= EMBED_BATCH:
                flush()
        flush()
    return IngestReport([outcome for outcome in outcomes if outcome is not None], skipped)
