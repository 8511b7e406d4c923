"""Ingest: read a file, folder, URL, feed or stdin, clean it, split it, chunk it, embed it,
store it.

Ids are stable: a document's id is a hash of its normalised cleaned content,
and its chunks are ``DOC:N``.  Ingesting the same text again changes nothing;
ingesting a changed version of a source already stored (same path or URL)
replaces the old document and all its chunks.

A feed is expanded into its entries (``limit`` of them at most); an entry whose
URL is stored already, and which the feed does not say was updated since, is
reported unchanged without being fetched again.  Inputs are read a batch at a
time, several at once (``Settings.fetch_concurrency``, with ``HostGate``
spacing the requests to each host), and embedded in slices of
``EMBED_SLICE`` texts, so memory stays bounded whatever the input within the
size limit, and a long document reports its progress.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.errors import InputError
from qa.index.embed import Counts, Embedder, PooledEmbedder, Vectors, normalise
from qa.index.store import Store
from qa.ingestion.chunk import chunk_sentences
from qa.ingestion.clean import (
    CleanArticle,
    clean_lines,
    clean_text,
    extract_html,
    normalise_line,
)
from qa.ingestion.feeds import FeedEntry, HostGate, parse_feed
from qa.ingestion.sources import RawArticle, expand_sources, is_url, read_source
from qa.text.split import split_sentences
from qa.text.words import vocabulary
from qa.types import Chunk, Document, DocumentMeta, IngestOutcome, IngestReport, IngestStatus

# Documents embedded together: one length-sorted call wastes less on padding than one per
# document (about 2x faster on 2 cores), and a batch this size bounds the memory it takes.
EMBED_BATCH = 16
# Texts given to the embedder in one call: a document of 100,000 tiny paragraphs would
# otherwise be tokenised whole at once (hundreds of MB of token objects), and could show
# no progress for minutes.
EMBED_SLICE = 4096

# Sentences one document may hold: its vectors are embedded, pooled and stored together
# (384 floats each), so this bounds ingest's memory (100,000 sentences: about 150 MB of
# vectors, held twice while they are written) whatever the input within the size limit.
MAX_SENTENCES = 100_000

# Reports work inside one batch: (what, done, total), e.g. ("embedding", 4096, 100000).
WorkSink = Callable[[str, int, int], None]


def clean_article(raw: RawArticle, *, trim_tail: bool = False) -> CleanArticle:
    """The cleaned article of an input, with the metadata it carried (see ``RawArticle``)."""
    if raw.format == "html":
        article = extract_html(raw.content, url=raw.source if is_url(raw.source) else None)
    elif raw.format == "pdf":
        from qa.ingestion.pdf import extract_pdf

        pdf = extract_pdf(raw.data, raw.source)
        article = clean_lines(
            pdf.paragraphs, title=pdf.title, meta=pdf.meta, dropped_lines=pdf.running_lines
        )
    else:
        article = clean_text(raw.content, markdown=raw.format == "markdown", trim_tail=trim_tail)
    return replace(article, title=article.title or raw.title, meta=_merged_meta(article.meta, raw))


def _merged_meta(found: DocumentMeta, raw: RawArticle) -> DocumentMeta:
    """The article's own metadata, and what its source told: a feed entry's date, author
    and link are the publisher's own record and win; the page names its outlet best."""
    url = raw.source if is_url(raw.source) else None
    told = raw.meta or DocumentMeta()
    merged = DocumentMeta(
        site=found.site or told.site,
        author=told.author or found.author,
        published=told.published or found.published,
        url=told.url or found.url or url,
        language=found.language or told.language,
    )
    # Stored like the text: no invisible characters (bidi overrides could reorder a line).
    return DocumentMeta(
        **{
            name: normalise_line(value) or None if value else None
            for name, value in merged.to_dict().items()
        }
    )


def document_id(title: str, text: str) -> str:
    normalised = " ".join(f"{title}\n{text}".casefold().split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def build_document(raw: RawArticle, *, trim_tail: bool = False) -> tuple[Document, CleanArticle]:
    article = clean_article(raw, trim_tail=trim_tail)
    sentences = split_sentences(article.text, limit=MAX_SENTENCES + 1)
    if len(sentences) > MAX_SENTENCES:
        raise InputError(
            f"{raw.source} has more than {MAX_SENTENCES:,} sentences, more than one "
            "document may hold",
            fix="split it into articles and ingest those",
        )
    if not sentences:
        raise InputError(
            f"{raw.source} has no article text after cleaning "
            "(only scripts, markup, credits or page furniture)",
            fix="save the article's own text, or its printable page, and ingest that",
        )
    document = Document(
        id=document_id(article.title, article.text),
        title=article.title or Path(raw.source).stem,
        source=raw.source,
        text=article.text,
        sentences=sentences,
        ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        meta=article.meta,
    )
    return document, article


@dataclass(frozen=True)
class _Prepared:
    """A new document, cleaned and chunked, waiting for its vectors."""

    position: tuple[int, int]
    source: str
    document: Document
    chunks: list[Chunk]
    replaces: list[str]
    notes: IngestOutcome

    def texts(self) -> list[str]:
        """What an embedder without token counts embeds for it: each chunk (with its
        headline), then each sentence (see ``_embed_batch``)."""
        dense = [_dense_text(self.document, chunk.text) for chunk in self.chunks]
        return dense + [sentence.text for sentence in self.document.sentences]


def _prepare(
    store: Store, raw: RawArticle, position: tuple[int, int], pending: set[str], *, trim_tail: bool
) -> _Prepared | IngestOutcome:
    """What to store, or the outcome when the document is stored already (or earlier in
    the batch)."""
    document, article = build_document(raw, trim_tail=trim_tail)
    notes = IngestOutcome(
        raw.source,
        "unchanged",
        document.id,
        document.title,
        dropped=article.dropped,
        warnings=raw.warnings,
        meta=document.meta,
    )
    if document.id in pending or store.has_document(document.id):
        return notes
    previous = [] if raw.source == "stdin" else store.find_by_source(raw.source)
    chunks = chunk_sentences(
        document.id, document.text, document.sentences, store.settings.chunk_tokens
    )
    return _Prepared(position, raw.source, document, chunks, previous, notes)


def _store_batch(
    store: Store, batch: list[_Prepared], on_work: WorkSink | None = None
) -> list[IngestOutcome]:
    """Embed a batch of documents in one call and write their vectors in one, then store
    each document in its own commit."""
    words = {
        word.lower()
        for prepared in batch
        for word in vocabulary(f"{prepared.document.title} {prepared.document.text}")
    }
    new_words = store.missing_words(sorted(words))
    vectors, word_vectors = _embed_batch(store.embedder, batch, new_words, on_work)
    if new_words:
        store.add_words(new_words, word_vectors)
    store.add_vectors(
        [
            (prepared.document, prepared.chunks, chunk_vectors)
            for prepared, (chunk_vectors, _) in zip(batch, vectors, strict=True)
        ]
    )
    outcomes = []
    for prepared, (chunk_vectors, sentence_vectors) in zip(batch, vectors, strict=True):
        store.add_document(
            prepared.document,
            prepared.chunks,
            chunk_vectors,
            sentence_vectors,
            replaces=prepared.replaces,
            vectors_added=True,
        )
        status: IngestStatus = "replaced" if prepared.replaces else "added"
        outcomes.append(replace(prepared.notes, status=status, chunks=len(prepared.chunks)))
    return outcomes


def _embed_batch(
    embedder: Embedder,
    batch: Sequence[_Prepared],
    words: Sequence[str],
    on_work: WorkSink | None = None,
) -> tuple[list[tuple[Vectors, Vectors]], Vectors]:
    """Each document's chunk and sentence vectors, and the words' vectors, from one call
    per ``EMBED_SLICE`` texts.

    Few calls: the embedder sorts each call's texts by length, so little is spent on padding.

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
        texts = [text for group in groups for text in group] + list(words)
        vectors, _ = _sliced(
            lambda part: (embedder.embed(part), np.zeros(0, np.int64)), texts, on_work
        )
        rows, rest = _rows_of(groups)
        return [
            (vectors[own][: len(prepared.chunks)], vectors[own][len(prepared.chunks) :])
            for prepared, own in zip(batch, rows, strict=True)
        ], vectors[rest]
    groups = [_pooling_texts(prepared.document, prepared.chunks) for prepared in batch]
    texts = [text for group in groups for text in group] + list(words)
    means, counts = _sliced(embedder.embed_weighted, texts, on_work)
    rows, rest = _rows_of(groups)
    return [
        _pool(prepared.document, prepared.chunks, means[own], counts[own])
        for prepared, own in zip(batch, rows, strict=True)
    ], normalise(means[rest])


def _sliced(
    embed: Callable[[Sequence[str]], tuple[Vectors, Counts]],
    texts: Sequence[str],
    on_work: WorkSink | None,
) -> tuple[Vectors, Counts]:
    """``embed(texts)``, called on ``EMBED_SLICE`` texts at a time, the results stacked."""
    if len(texts) <= EMBED_SLICE:
        return embed(texts)
    vectors: list[Vectors] = []
    counts: list[Counts] = []
    for begin in range(0, len(texts), EMBED_SLICE):
        part_vectors, part_counts = embed(texts[begin : begin + EMBED_SLICE])
        vectors.append(part_vectors)
        counts.append(part_counts)
        if on_work:
            on_work("embedding", min(begin + EMBED_SLICE, len(texts)), len(texts))
    return np.concatenate(vectors), np.concatenate(counts)


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
    """Chunk and sentence vectors from the mean token vectors of ``_pooling_texts``.

    Memory: the sentence vectors are ``means``' own rows, normalised in place, and each
    chunk is summed from its rows alone, so a document of 100,000 sentences needs no
    second and third copy of its vectors."""
    n = len(document.sentences)
    weights = counts.astype(np.float32)
    # The headline gives each chunk the story's context in embedding space.
    title_sum = means[n] * weights[n] if document.title else np.zeros(means.shape[1], np.float32)
    first_piece = n + (1 if document.title else 0)
    piece_rows = {piece.index: first_piece + k for k, piece in enumerate(_pieces(document, chunks))}
    chunk_sums = np.zeros((len(chunks), means.shape[1]), dtype=np.float32)
    for row, chunk in enumerate(chunks):
        if chunk.index in piece_rows:
            rows = slice(piece_rows[chunk.index], piece_rows[chunk.index] + 1)
        else:
            rows = slice(chunk.first_sentence, chunk.last_sentence + 1)
        chunk_sums[row] = (means[rows] * weights[rows, None]).sum(axis=0)
    sentence_vectors = means[:n]
    sentence_vectors /= np.maximum(np.linalg.norm(sentence_vectors, axis=1, keepdims=True), 1e-12)
    return normalise(chunk_sums + title_sum), sentence_vectors


def _dense_text(document: Document, chunk_text: str) -> str:
    # The headline gives each chunk the story's context in embedding space.
    return f"{document.title}. {chunk_text}" if document.title else chunk_text


@dataclass(frozen=True)
class _Item:
    """One input to read: a source as given, or an entry of a feed.  ``key`` orders the
    report: sources as given, each feed's entries in its place."""

    key: tuple[int, int]
    source: str
    entry: FeedEntry | None = None


def _read(item: _Item, settings: Settings, stdin_text: str | None, gate: HostGate) -> RawArticle:
    """Read one input (in a worker thread); a request waits its turn for its host."""
    entry = item.entry
    if entry is not None and entry.link is None:
        # An entry without a link: the article is the content the feed carries.
        content = entry.content
        article_format = "html" if "<" in content else "text"
        return RawArticle(item.source, article_format, content, meta=entry.meta, title=entry.title)
    source = entry.link if entry is not None and entry.link else item.source
    if is_url(source):
        gate.wait(source)
    raw = read_source(
        source,
        max_bytes=settings.max_input_bytes,
        url_timeout=settings.url_timeout,
        stdin_text=stdin_text,
    )
    if entry is None:
        return raw
    if raw.format == "feed":
        raise InputError(f"{source} is a feed, not an article", fix="ingest that feed on its own")
    return replace(raw, meta=entry.meta, title=entry.title)


def _known_entry(store: Store, entry: FeedEntry) -> IngestOutcome | None:
    """The outcome of an entry stored already and not updated since (so not fetched)."""
    if entry.link is None:
        return None
    stored = store.find_by_source(entry.link)
    if not stored:
        return None
    document = store.get_document(stored[0])
    ingested = datetime.fromisoformat(document.ingested_at).timestamp()
    if entry.updated is not None and entry.updated > ingested:
        return None
    return IngestOutcome(entry.link, "unchanged", document.id, document.title, meta=document.meta)


def ingest(
    sources: Sequence[str | Path],
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    on_progress: Callable[[IngestOutcome, int, int], None] | None = None,
    stdin_text: str | None = None,
    trim_tail: bool = False,
    limit: int | None = None,
    on_work: WorkSink | None = None,
) -> IngestReport:
    """Ingest each source; a source that fails is reported, not raised, so the rest still go in.

    Sources are read a batch at a time (``EMBED_BATCH`` documents), so memory does
    not grow with their number; each document is stored in its own commit.  A feed
    stands for its entries, ``limit`` of them at most.  ``trim_tail`` cuts comment
    sections however much of the text they are.  ``on_progress(outcome, done, total)``
    is called after each input (``total`` grows as feeds are read); ``on_work(what,
    done, total)`` during long work on one batch.
    """
    if limit is not None and limit < 1:
        raise InputError(f"--limit {limit} is too small", fix="use 1 or more")
    with Store.using(store, settings) as store, store.writing():
        store.sweep_orphans()
        settings = store.settings
        queue = deque(_Item((n, 0), source) for n, source in enumerate(expand_sources(sources)))
        outcomes: dict[tuple[int, int], IngestOutcome] = {}
        total = len(queue)
        gate = HostGate(settings.host_delay)

        def finish(key: tuple[int, int], outcome: IngestOutcome) -> None:
            outcomes[key] = outcome
            if on_progress:
                on_progress(outcome, len(outcomes), total)

        with ThreadPoolExecutor(max_workers=settings.fetch_concurrency) as pool:
            while queue:
                items = [queue.popleft() for _ in range(min(EMBED_BATCH, len(queue)))]
                reading = []
                for item in items:
                    known = _known_entry(store, item.entry) if item.entry else None
                    if known is not None:
                        finish(item.key, known)
                    else:
                        reading.append((item, pool.submit(_read, item, settings, stdin_text, gate)))
                batch: list[_Prepared] = []
                for item, future in reading:
                    try:
                        raw = future.result()
                        if raw.format == "feed":
                            entries = parse_feed(raw.data, raw.source)[:limit]
                            queue.extendleft(
                                _Item(
                                    (item.key[0], n), entry.link or f"{raw.source}#entry-{n}", entry
                                )
                                for n, entry in reversed(list(enumerate(entries, 1)))
                            )
                            total += len(entries) - 1
                            continue
                        pending = {prepared.document.id for prepared in batch}
                        prepared = _prepare(store, raw, item.key, pending, trim_tail=trim_tail)
                    except InputError as error:
                        finish(item.key, IngestOutcome(item.source, "failed", error=str(error)))
                        continue
                    if isinstance(prepared, IngestOutcome):
                        finish(item.key, prepared)
                    else:
                        batch.append(prepared)
                stored = _store_batch(store, batch, on_work)
                for waiting, outcome in zip(batch, stored, strict=True):
                    finish(waiting.position, outcome)
    return IngestReport([outcomes[key] for key in sorted(outcomes)])
