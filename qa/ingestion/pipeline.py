"""Ingest: read a file, folder, URL, feed or stdin, clean it, split it, chunk it, embed it,
store it.

Identity (:mod:`qa.index.identity`): a document's id is stable for its source
(the normalised path or URL) and its chunks are ``VERSION:N``, VERSION being the
hash of its title and text (not of its metadata: the text is what citations quote).
Ingesting the same text again changes nothing; a changed source is ``updated``
under the same id (its old chunks and vectors replaced in one commit); text
already stored from another source is ``linked``: one document that lists both
sources.

A feed is expanded into its entries (``limit`` of them at most); an entry whose
URL is stored already, and which the feed does not say was updated since, is
reported unchanged without being fetched again.  Every URL, a feed's and its
entries', is fetched by :func:`qa.ingestion.fetch.fetch`.  Inputs are read a
batch at a time, several at once (``Settings.fetch_concurrency``, with
``HostGate`` spacing the requests to each host), and embedded in slices of
``EMBED_SLICE`` texts, so memory stays bounded whatever the input within the
size limit, and a long document reports its progress.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
from qa.ingestion.clean import (
    CleanArticle,
    clean_lines,
    clean_text,
    extract_html,
    normalise_line,
)
from qa.ingestion.feeds import FeedEntry, HostGate, parse_feed
from qa.ingestion.sources import RawArticle, expand_folders, is_url, read_source
from qa.text.split import split_sentences
from qa.text.words import vocabulary
from qa.types import (
    Chunk,
    Document,
    DocumentMeta,
    Dropped,
    IngestOutcome,
    IngestReport,
    IngestStatus,
)

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


def build_document(raw: RawArticle, *, trim_tail: bool = False) -> Document:
    """The cleaned document; its id is provisional (the text's version) until planned."""
    return _built(raw, trim_tail=trim_tail)[0]


def _built(raw: RawArticle, *, trim_tail: bool = False) -> tuple[Document, CleanArticle]:
    """The document and the cleaned article it came from (what cleaning cut)."""
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
    # The metadata is not part of the version: a page whose outlet or date reads
    # differently but whose text is the same is the same text (see _plan for how
    # metadata of an unchanged text is brought up to date).
    version = content_hash(article.title, article.text)
    document = Document(
        id=version,
        title=article.title or Path(raw.source).stem,
        source=raw.source,
        text=article.text,
        sentences=sentences,
        ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        version=version,
        meta=article.meta,
    )
    return document, article


@dataclass(frozen=True)
class _Prepared:
    """A document to store (new, or a new version), cleaned and chunked, waiting for vectors."""

    position: tuple[int, int]
    source: str
    document: Document
    chunks: list[Chunk]
    status: IngestStatus
    note: str
    sources: list[str]
    # What cleaning cut and reading repaired (reported with the outcome).
    dropped: tuple[Dropped, ...] = ()
    warnings: tuple[str, ...] = ()

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


def _newer_meta(store: Store, doc_id: str, meta: DocumentMeta) -> bool:
    """Whether the source now says more, or otherwise, about its unchanged text than the
    store holds (e.g. a document stored before qa kept metadata)."""
    return meta != DocumentMeta() and store.get_document(doc_id).meta != meta


def _plan(
    store: Store, raw: RawArticle, document: Document, position: tuple[int, int]
) -> _Prepared | IngestOutcome:
    """What ingesting ``document`` from ``raw.source`` does: nothing (unchanged), a link
    to the document already holding its text, or a document to store.  Links and the
    rename of a shared document's old text are written here; new text is stored by
    ``_store_batch``."""
    key = source_key(raw.source)
    owner = store.source_owner(key) if key else None
    if owner is not None and owner[1] == document.version:
        note = ""
        if _newer_meta(store, owner[0], document.meta):
            store.set_meta(owner[0], document.meta)
            note = "metadata updated"
        return IngestOutcome(raw.source, "unchanged", owner[0], document.title, note=note)
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


def _store_batch(
    store: Store, batch: list[_Prepared], on_work: WorkSink | None = None
) -> list[IngestOutcome]:
    """Embed a batch of documents in one call and write their vectors in one, then store
    each document in its own commit (``Store.add_documents``)."""
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
                dropped=prepared.dropped,
                warnings=prepared.warnings,
                meta=document.meta,
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
        batch.append(_Prepared((position, 0), document.source, document, chunks, "added", "", []))
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
    ], unit_vectors(means[rest])


def _sliced(
    embed: Callable[[Sequence[str]], tuple[Vectors, Counts]],
    texts: Sequence[str],
    on_work: WorkSink | None,
) -> tuple[Vectors, Counts]:
    """``embed(texts)``, called on ``EMBED_SLICE`` texts at a time, each slice's results
    written into one array made after the first (stacking a list of slices would hold every
    vector twice at the end: 150 MB more for 100,000 sentences)."""
    if len(texts) <= EMBED_SLICE:
        return embed(texts)
    vectors: Vectors | None = None
    counts: Counts | None = None
    for begin in range(0, len(texts), EMBED_SLICE):
        part_vectors, part_counts = embed(texts[begin : begin + EMBED_SLICE])
        if vectors is None or counts is None:
            vectors = np.empty((len(texts), *part_vectors.shape[1:]), dtype=part_vectors.dtype)
            # An embedder without token counts gives none (an empty array) for every slice.
            counted = len(part_counts) == len(part_vectors)
            counts = np.empty(len(texts) if counted else 0, dtype=part_counts.dtype)
        end = begin + len(part_vectors)
        vectors[begin:end] = part_vectors
        if len(counts):
            counts[begin:end] = part_counts
        if on_work:
            on_work("embedding", min(begin + EMBED_SLICE, len(texts)), len(texts))
    assert vectors is not None and counts is not None
    return vectors, counts


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
    return unit_vectors(chunk_sums + title_sum), sentence_vectors


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
    # A link found in a feed fetched from a public address: it may not lead into
    # loopback or private networks (see qa.ingestion.fetch).
    from_public: bool = False


def _entry_source(feed: str, entry: FeedEntry, n: int) -> str:
    """What an entry is known by: its link; without one, its id (an Atom id or RSS guid
    names it whatever the feed's order), else its place in the feed.  A URL's fragment
    is not part of its identity (``source_key``), so a place is never written as one."""
    if entry.link:
        return entry.link
    if entry.guid and not is_url(entry.guid):
        return entry.guid
    return f"{feed} (entry {n})"


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
        from_public=item.from_public,
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
    key = source_key(entry.link)
    owner = store.source_owner(key) if key else None
    if owner is None or owner[1] is None:
        return None
    document = store.get_document(owner[0])
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

    Folders are read recursively; files in them that qa does not read are listed in
    ``IngestReport.skipped``.  Sources are read a batch at a time (``EMBED_BATCH``
    documents), so memory does not grow with their number; each document is stored in
    its own commit.  A feed stands for its entries, ``limit`` of them at most.
    ``trim_tail`` cuts comment sections however much of the text they are.
    ``on_progress(outcome, done, total)`` is called after each input (``total`` grows
    as feeds are read); ``on_work(what, done, total)`` during long work on one batch.
    """
    if limit is not None and limit < 1:
        raise InputError(f"--limit {limit} is too small", fix="use 1 or more")
    with Store.using(store, settings) as store, store.writing():
        store.sweep_orphans()
        settings = store.settings
        # Vectors lost since (a removed or replaced Chroma folder): the documents this run
        # finds unchanged get theirs back.
        restoring = store.missing_vector_count() > 0
        expanded, skipped = expand_folders(sources)
        queue = deque(_Item((n, 0), source) for n, source in enumerate(expanded))
        outcomes: dict[tuple[int, int], IngestOutcome] = {}
        total = len(queue)
        gate = HostGate(settings.host_delay)

        def finish(key: tuple[int, int], outcome: IngestOutcome) -> None:
            outcomes[key] = outcome
            if on_progress:
                on_progress(outcome, len(outcomes), total)

        batch: list[_Prepared] = []
        unchanged: list[tuple[tuple[int, int], IngestOutcome]] = []

        def flush() -> None:
            if batch:
                for waiting, outcome in zip(
                    batch, _store_batch(store, batch, on_work), strict=True
                ):
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

        def settle(key: tuple[int, int], outcome: IngestOutcome) -> None:
            """An outcome that stores no text: unchanged ones wait to have lost vectors
            restored."""
            if outcome.status == "unchanged" and restoring:
                unchanged.append((key, outcome))
            else:
                finish(key, outcome)

        with ThreadPoolExecutor(max_workers=settings.fetch_concurrency) as pool:
            while queue:
                items = [queue.popleft() for _ in range(min(EMBED_BATCH, len(queue)))]
                reading = []
                for item in items:
                    known = _known_entry(store, item.entry) if item.entry else None
                    if known is not None:
                        settle(item.key, known)
                    else:
                        reading.append((item, pool.submit(_read, item, settings, stdin_text, gate)))
                for item, future in reading:
                    try:
                        raw = future.result()
                        if raw.format == "feed":
                            entries = parse_feed(raw.data, raw.source)[:limit]
                            queue.extendleft(
                                _Item(
                                    (item.key[0], n),
                                    _entry_source(raw.source, entry, n),
                                    entry,
                                    from_public=raw.public,
                                )
                                for n, entry in reversed(list(enumerate(entries, 1)))
                            )
                            total += len(entries) - 1
                            continue
                        document, article = _built(raw, trim_tail=trim_tail)
                        key = source_key(raw.source)
                        # The same text or source again before the batch is stored: store
                        # the batch first, so this one is planned against what is there.
                        if any(
                            waiting.document.version == document.version
                            or (key is not None and key in waiting.sources)
                            for waiting in batch
                        ):
                            flush()
                        planned = _plan(store, raw, document, item.key)
                    except InputError as error:
                        finish(item.key, IngestOutcome(item.source, "failed", error=str(error)))
                        continue
                    if isinstance(planned, IngestOutcome):
                        settle(
                            item.key,
                            replace(
                                planned,
                                dropped=article.dropped,
                                warnings=raw.warnings,
                                meta=document.meta,
                            ),
                        )
                    else:
                        batch.append(
                            replace(planned, dropped=article.dropped, warnings=raw.warnings)
                        )
                if len(batch) + len(unchanged) >= EMBED_BATCH:
                    flush()
            flush()
    return IngestReport([outcomes[key] for key in sorted(outcomes)], skipped)
