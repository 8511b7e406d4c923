"""Team mode: a whole collection lives on one Chroma server; each ``QA_HOME`` keeps a cache.

With ``QA_CHROMA_URL`` the server is the source of truth.  For a qa collection
``NAME`` it holds four Chroma collections::

    NAME            chunk vectors (ids DOC:N; metadata doc_id, index, title, at)
    NAME--qa-docs   each document's record: its cleaned text, metadata, sentence and
                    chunk spans and sentence vectors, as JSON cut into pieces of at most
                    RECORD_PIECE characters (ids DOC/REV/PART)
    NAME--qa-words  the vocabulary's word vectors (id: the word)
    NAME--qa-log    the change log: one entry (TIME-RANDOM, metadata doc_id) per change

The local SQLite file (``QA_HOME/team/HOST-PORT.sqlite3``) is a cache rebuilt from
these: documents, chunks, FTS5 rows, sentence and word vectors.  Every command
that opens the store syncs it first (:meth:`Team.sync`): when the log has as many
entries as the cache has applied, two requests (the log, its count) are all it
costs; otherwise only the documents the new entries name are fetched again.

Writers, on any machine:

* A document is published by writing its chunk vectors, its vocabulary, a log
  entry naming it, then its record in one request.  The record is the commit
  point: a reader shows a document only when every piece of one revision of its
  record is there, and ignores vectors of documents without one.
* Two writers ingesting the same source write the same ids (the id follows the
  source, chunk ids the text: :mod:`qa.index.identity`), so nothing is
  duplicated.  Each record is a separate revision (its hash is in the ids, so
  pieces never mix), every reader picks the newest complete one by the time it
  was written, and each writer, after its upsert, deletes every revision older
  than the newest: the later of the two sees both and leaves one.  Records carry
  their document's sources, so links and new versions reach every cache.
* ``forget`` logs the change, deletes the record (the document is gone for
  everyone from then on), then its vectors.  Vectors left by a writer that died
  before its record are swept once older than ``ORPHAN_GRACE_S``.
* A writer logs a change just before making it, so a reader could read the entry
  a moment before the change lands: a document is checked again at every sync
  until its entry is ``SETTLE_S`` old by its writer's clock (the entry's id starts
  with it; clocks may differ by less than that).  The check reads metadata only;
  a record is fetched only when its revision differs from the cache's.
* ``forget --all`` deletes the log first: a collection without a log does not
  exist, and readers empty their cache.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.config import Settings
from qa.errors import EmbedderMismatchError, StoreError
from qa.index.chroma import BATCH, ChromaIndex
from qa.index.embed import Embedder, Vectors
from qa.index.identity import source_key
from qa.index.rows import DATABASE, Rows
from qa.text.words import vocabulary
from qa.types import Chunk, Document, DocumentMeta, Sentence

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

log = logging.getLogger("qa")

# Chroma Cloud refuses documents over 16 KiB; a local server takes far more, but a record cut
# to this size fits both.  Records are ASCII JSON, so characters are bytes.
RECORD_PIECE = 16_000
# A reader checks a log entry's document again at every sync until the entry is this old by
# its writer's clock: a writer logs a change and makes it within one request of each other.
SETTLE_S = 120.0
# Vectors whose document has no record are removed only when older than this: a writer
# writes vectors first and the record a few seconds later.
ORPHAN_GRACE_S = 900.0
# Documents fetched per request while syncing.
SYNC_BATCH = 64
RECORD_VERSION = 1


@dataclass(frozen=True)
class Revision:
    """One complete revision of a document's record on the server, known from metadata."""

    doc_id: str
    rev: str
    written: str
    ids: list[str]  # its pieces' ids, in order

    @property
    def order(self) -> tuple[str, str]:
        return (self.written, self.rev)


@dataclass(frozen=True)
class Outgoing:
    """A document to publish: its record, and the documents it replaces."""

    document: Document
    chunks: Sequence[Chunk]
    sentence_vectors: Vectors
    replaces: Sequence[str] = ()


@dataclass(frozen=True)
class Record:
    """A document as the server holds it."""

    document: Document
    chunks: list[Chunk]
    sentence_vectors: Vectors


def encode(
    document: Document, chunks: Sequence[Chunk], sentence_vectors: Vectors, embedder: str
) -> str:
    """The record as ASCII JSON.  Every field of :class:`Document` is kept, so metadata a
    later qa adds to documents travels without a change here."""
    fields = {
        field.name: _plain(getattr(document, field.name))
        for field in dataclasses.fields(Document)
        if field.name != "sentences"
    }
    vectors = np.ascontiguousarray(sentence_vectors, dtype=np.float32)
    return json.dumps(
        {
            "version": RECORD_VERSION,
            "embedder": embedder,
            "document": fields,
            "sentences": [[s.start, s.end] for s in document.sentences],
            "chunks": [
                [c.index, c.first_sentence, c.last_sentence, c.start, c.end, c.token_count]
                for c in chunks
            ],
            "dimension": int(vectors.shape[1]) if vectors.ndim == 2 else 0,
            "sentence_vectors": base64.b64encode(vectors.tobytes()).decode("ascii"),
        },
        sort_keys=True,
    )


def decode(text: str) -> Record:
    payload = json.loads(text)
    fields = {
        name: value
        for name, value in payload["document"].items()
        if name in {field.name for field in dataclasses.fields(Document)}
    }
    body = fields["text"]
    sentences = tuple(
        Sentence(index, start, end, body[start:end])
        for index, (start, end) in enumerate(payload["sentences"])
    )
    fields["sources"] = tuple(fields.get("sources", ()))
    fields["meta"] = _document_meta(fields.get("meta"))
    document = Document(**{**fields, "sentences": sentences})
    chunks = [
        Chunk(
            document.id, index, first, last, start, end, body[start:end], tokens, document.version
        )
        for index, first, last, start, end, tokens in payload["chunks"]
    ]
    raw = base64.b64decode(payload["sentence_vectors"])
    dimension = int(payload["dimension"]) or 1
    vectors = np.frombuffer(raw, dtype=np.float32).reshape(-1, dimension)
    return Record(document, chunks, vectors)


def _plain(value: Any) -> Any:
    """A field's value as JSON holds it: a nested dataclass (``DocumentMeta``) as a dict."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _document_meta(value: Any) -> DocumentMeta:
    """A record's metadata; a record written before documents had any has none, and a
    field a later qa adds is left out."""
    if not isinstance(value, dict):
        return DocumentMeta()
    names = {field.name for field in dataclasses.fields(DocumentMeta)}
    return DocumentMeta(**{name: item for name, item in value.items() if name in names})


def record_sources(document: Document) -> list[str]:
    """The normalised sources a record says name its document (its own source first)."""
    keys = (source_key(source) for source in (document.source, *document.sources))
    return list(dict.fromkeys(key for key in keys if key is not None))


def revision(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def pieces(text: str) -> list[str]:
    return [text[begin : begin + RECORD_PIECE] for begin in range(0, len(text), RECORD_PIECE)] or [
        ""
    ]


def revisions(result: Any) -> dict[str, list[Revision]]:
    """From the metadata a ``get`` returned: each document's complete revisions, newest
    first.  A revision with a piece missing is not a record (its writer is still at it, or
    died)."""
    parts: dict[tuple[str, str], dict[int, str]] = {}
    meta: dict[tuple[str, str], tuple[int, str]] = {}
    for record_id, metadata in zip(result["ids"], result["metadatas"] or [], strict=True):
        key = (str(metadata["doc_id"]), str(metadata["rev"]))
        parts.setdefault(key, {})[int(metadata["part"])] = record_id
        meta[key] = (int(metadata["parts"]), str(metadata.get("at", "")))
    found: dict[str, list[Revision]] = {}
    for (doc_id, rev), ids in parts.items():
        total, written = meta[(doc_id, rev)]
        if set(ids) == set(range(total)):
            revision_ = Revision(doc_id, rev, written, [ids[n] for n in range(total)])
            found.setdefault(doc_id, []).append(revision_)
    for listed in found.values():
        listed.sort(key=lambda revision_: revision_.order, reverse=True)
    return found


def _entry_time(entry: str) -> float:
    """When a log entry was written, by its writer's clock (its id starts with it)."""
    try:
        return int(entry.split("-", 1)[0]) / 1e9
    except ValueError:
        return 0.0


def _where_docs(doc_ids: Sequence[str]) -> dict[str, Any]:
    if len(doc_ids) == 1:
        return {"doc_id": doc_ids[0]}
    return {"doc_id": {"$in": list(doc_ids)}}


def _placeholders(count: int) -> Vectors:
    """Records and log entries need an embedding in Chroma; they are never searched."""
    return np.ones((count, 1), dtype=np.float32)


def _entry_id() -> str:
    # Time first, so entries sort roughly by when they were written; random, so two
    # writers never collide.
    return f"{time.time_ns():020d}-{secrets.token_hex(6)}"


class Team:
    """The server side of one store in team mode, and the sync of its local cache."""

    def __init__(
        self,
        rows: Rows,
        chroma: ChromaIndex,
        settings: Settings,
        *,
        embedder: Callable[[], Embedder],
        vectors: Callable[[bool], Collection | None],
    ) -> None:
        """``rows``: the local cache; ``embedder`` and ``vectors`` give the store's embedder
        and its collection of chunk vectors (``vectors(create)``)."""
        self.rows = rows
        self.name = rows.collection
        self.chroma = chroma
        self.settings = settings
        self.embedder = embedder
        self.vectors = vectors
        self._collections: dict[str, Collection] = {}

    def collection_name(self, kind: str) -> str:
        return f"{self.name}--qa-{kind}"

    def _collection(self, kind: str, *, create: bool) -> Collection | None:
        if kind in self._collections:
            return self._collections[kind]
        if create and kind != "log":
            # The log exists before anything else of the collection is written.
            self._collection("log", create=True)
        if create and kind == "log":
            self._clear_remnants()
        found = self.chroma.collection(self.collection_name(kind), create=create)
        if found is not None:
            self._collections[kind] = found
        return found

    def _clear_remnants(self) -> None:
        """A collection exists when its log does.  Records and words without a log were left
        by a ``forget --all`` that stopped part-way: they go before a new log starts, so
        they cannot come back."""
        if self.chroma.collection(self.collection_name("log"), create=False) is not None:
            return
        for kind in ("docs", "words"):
            self._collections.pop(kind, None)
            if self.chroma.delete_collection(self.collection_name(kind)):
                log.warning("removed %s left by an interrupted forget --all", kind)

    def ensure(self) -> None:
        """Create the collection's log (before any vector of it is written)."""
        self._collection("log", create=True)

    # -- writing --------------------------------------------------------------

    def _log(self, doc_ids: Sequence[str]) -> list[str]:
        if not doc_ids:
            return []
        entries = [_entry_id() for _ in doc_ids]
        log_collection = self._collection("log", create=True)
        assert log_collection is not None
        with self.chroma.errors("write the change log"):
            log_collection.add(
                ids=entries,
                embeddings=_placeholders(len(entries)),
                metadatas=[{"doc_id": doc_id} for doc_id in doc_ids],
            )
        return entries

    def publish(self, outgoing: Sequence[Outgoing]) -> tuple[dict[str, str], dict[str, str]]:
        """Put documents' records on the server (their vectors and words are there already)
        and remove the documents they replace, in a few requests for the whole batch: the
        log entries, the records, the replaced documents, the older revisions.  Returns the
        log entries (entry to document) and each document's revision."""
        if not outgoing:
            return {}, {}
        embedder = self.embedder().name
        texts = {
            item.document.id: encode(item.document, item.chunks, item.sentence_vectors, embedder)
            for item in outgoing
        }
        own = set(texts)
        old = list(
            dict.fromkeys(
                doc_id for item in outgoing for doc_id in item.replaces if doc_id not in own
            )
        )
        owners = [*texts, *old]
        entries = dict(zip(self._log(owners), owners, strict=True))
        ids: list[str] = []
        parts: list[str] = []
        metadatas: list[dict[str, str | int]] = []
        revs: dict[str, str] = {}
        # When this revision was written (not when the text was ingested: a record published
        # again with new sources keeps its ingested_at); microseconds, so a revision written
        # within the same second as the one before it still sorts after it.
        written = datetime.now(UTC).isoformat(timespec="microseconds")
        for item in outgoing:
            document = item.document
            text = texts[document.id]
            rev = revs[document.id] = revision(text)
            cut = pieces(text)
            for n, part in enumerate(cut):
                ids.append(f"{document.id}/{rev}/{n}")
                parts.append(part)
                metadatas.append(
                    {"doc_id": document.id, "rev": rev, "part": n, "parts": len(cut),
                     "at": written}
                )  # fmt: skip
        docs = self._collection("docs", create=True)
        assert docs is not None
        for begin in range(0, len(ids), BATCH):
            end = begin + BATCH
            with self.chroma.errors("publish documents"):
                docs.upsert(
                    ids=ids[begin:end],
                    documents=parts[begin:end],
                    embeddings=_placeholders(len(ids[begin:end])),
                    metadatas=metadatas[begin:end],  # type: ignore[arg-type]
                )
        if old:
            self._delete_records(old)
            self._delete_vectors(old)
        self._drop_older_revisions(list(texts))
        return entries, revs

    def _drop_older_revisions(self, doc_ids: Sequence[str]) -> None:
        """Delete every revision of these documents' records older than the newest complete
        one (this writer's own, if another writer's is newer).  Each writer does this after
        its upsert, so the last of two racing writers sees both and leaves one."""
        docs = self._collection("docs", create=True)
        assert docs is not None
        older: list[str] = []
        for begin in range(0, len(doc_ids), SYNC_BATCH):
            with self.chroma.errors("read records"):
                found = docs.get(
                    where=_where_docs(doc_ids[begin : begin + SYNC_BATCH]), include=["metadatas"]
                )
            complete = revisions(found)
            for record_id, metadata in zip(found["ids"], found["metadatas"] or [], strict=True):
                newest = complete.get(str(metadata["doc_id"]))
                order = (str(metadata.get("at", "")), str(metadata["rev"]))
                if newest and order < newest[0].order:
                    older.append(record_id)
        for begin in range(0, len(older), BATCH):
            with self.chroma.errors("delete old records"):
                docs.delete(ids=older[begin : begin + BATCH])

    def _delete_records(self, doc_ids: Sequence[str]) -> None:
        docs = self._collection("docs", create=False)
        if docs is not None:
            for begin in range(0, len(doc_ids), SYNC_BATCH):
                with self.chroma.errors("delete records"):
                    docs.delete(where=_where_docs(doc_ids[begin : begin + SYNC_BATCH]))

    def _delete_vectors(self, doc_ids: Sequence[str]) -> None:
        vectors = self.vectors(False)
        if vectors is None:
            return
        try:
            for begin in range(0, len(doc_ids), SYNC_BATCH):
                with self.chroma.errors("delete vectors"):
                    vectors.delete(where=_where_docs(doc_ids[begin : begin + SYNC_BATCH]))
        except StoreError as error:
            # The records are gone, so the documents are gone for everyone; the vectors are
            # invisible without them, and the next writer's sweep removes them.
            log.warning("vectors of %d documents stay on the server for now: %s",
                        len(doc_ids), error.what)  # fmt: skip

    def note_published(self, doc_id: str, rev: str, replaces: Sequence[str]) -> None:
        """Record in the cache (inside its open transaction) what this writer published."""
        db, name = self.rows.db, self.name
        db.execute("INSERT OR REPLACE INTO server_revisions VALUES (?, ?, ?)", (name, doc_id, rev))
        for old in replaces:
            if old != doc_id:
                db.execute(
                    "DELETE FROM server_revisions WHERE collection = ? AND doc_id = ?", (name, old)
                )

    def note_entries(self, entries: dict[str, str]) -> None:
        """This writer's own log entries: applied (inside the cache's open transaction)."""
        self._note_entries(entries)

    def unpublish(self, doc_id: str) -> str:
        """Remove a document from the server: log, record (the commit point), vectors."""
        (entry,) = self._log([doc_id])
        self._delete_records([doc_id])
        self._delete_vectors([doc_id])
        return entry

    def note_removed(self, doc_id: str, entry: str) -> None:
        self.rows.db.execute(
            "DELETE FROM server_revisions WHERE collection = ? AND doc_id = ?", (self.name, doc_id)
        )
        self._note_entries({entry: doc_id})

    def _note_entries(self, entries: dict[str, str]) -> None:
        self.rows.db.executemany(
            "INSERT OR IGNORE INTO server_log VALUES (?, ?, ?, ?)",
            [(self.name, entry, doc_id, _entry_time(entry)) for entry, doc_id in entries.items()],
        )

    def add_words(self, words: Sequence[str], vectors: Vectors) -> None:
        """Add words to the server's vocabulary.  Each vector travels as base64 text, not as
        an embedding: readers fetch thousands at once (JSON floats are four times the size
        and slow to parse), and the server builds no index over them."""
        words_collection = self._collection("words", create=True)
        assert words_collection is not None
        for begin in range(0, len(words), BATCH):
            part = list(words[begin : begin + BATCH])
            packed = np.ascontiguousarray(vectors[begin : begin + BATCH], dtype=np.float32)
            with self.chroma.errors("add words"):
                words_collection.upsert(
                    ids=part,
                    documents=[base64.b64encode(row.tobytes()).decode("ascii") for row in packed],
                    embeddings=_placeholders(len(part)),
                )

    def drop(self) -> None:
        """Delete the collection on the server: the log first (then it no longer exists for
        any reader), then records, words and vectors."""
        self._collections.clear()
        self.chroma.delete_collection(self.collection_name("log"))
        for kind in ("docs", "words"):
            self.chroma.delete_collection(self.collection_name(kind))
        self.chroma.delete_collection(self.name)

    def rebuild_cache(self) -> None:
        """Empty the local cache of the collection and sync it again from the server."""
        with self.rows.transaction("empty the cache", immediate=True):
            self.rows.delete_collection()
            self.forget_state()
        self.sync()

    def forget_state(self) -> None:
        for table in ("server_state", "server_log", "server_revisions"):
            self.rows.db.execute(f"DELETE FROM {table} WHERE collection = ?", (self.name,))

    def sweep_orphans(self) -> int:
        """Remove vectors of documents that have no record on the server, once they are older
        than ``ORPHAN_GRACE_S`` (a writer on another machine may be about to publish them).
        Vectors written before team mode (no ``at``) are never swept."""
        vectors = self.vectors(False)
        if vectors is None:
            return 0
        with self.chroma.errors("count"):
            if vectors.count() == self.rows.count_chunks():
                return 0
        cutoff = time.time() - ORPHAN_GRACE_S
        known = self.rows.chunk_ids()
        candidates: dict[str, list[str]] = {}
        offset = 0
        while True:
            with self.chroma.errors("list vectors"):
                page = vectors.get(include=["metadatas"], limit=BATCH, offset=offset)
            for chunk_id, metadata in zip(page["ids"], page["metadatas"] or [], strict=True):
                at = (metadata or {}).get("at")
                if chunk_id not in known and isinstance(at, int | float) and at < cutoff:
                    candidates.setdefault(str(metadata["doc_id"]), []).append(chunk_id)
            if len(page["ids"]) < BATCH:
                break
            offset += BATCH
        # A document the cache does not have yet may still have a record: keep its vectors.
        published = set(self.newest(sorted(candidates)))
        orphans = [
            chunk_id
            for doc_id, ids in candidates.items()
            if doc_id not in published
            for chunk_id in ids
        ]
        for begin in range(0, len(orphans), BATCH):
            with self.chroma.errors("delete vectors"):
                vectors.delete(ids=orphans[begin : begin + BATCH])
        if orphans:
            log.warning("removed %d vectors left by an interrupted write", len(orphans))
        return len(orphans)

    # -- documents ingested before team mode -----------------------------------

    def legacy_documents(self) -> list[Record]:
        """Documents an older qa ingested with ``QA_CHROMA_URL``: their text stayed in
        ``QA_HOME/qa.sqlite3`` and only their vectors went to the server.  Those whose
        vectors are on the server and that have no record there are returned."""
        path = self.settings.home / DATABASE
        if not path.is_file():
            return []
        vectors = self.chroma.collection(self.name, create=False)
        if vectors is None:
            return []
        local = Rows.open(path, self.name)
        dimension = self.embedder().dimension
        try:
            found = []
            published = self.newest(local.doc_ids())
            for doc_id in local.doc_ids():
                if doc_id in published:
                    continue
                chunks = local.document_chunks(doc_id)
                with self.chroma.errors("read vectors"):
                    if not chunks or not vectors.get(ids=[chunks[0].id], include=[])["ids"]:
                        continue
                found.append(
                    Record(
                        local.get_document(doc_id),
                        chunks,
                        local.sentence_vectors(doc_id, dimension),
                    )
                )
            return found
        finally:
            local.close()

    def _warn_legacy(self) -> None:
        """No log on the server: if an older qa put vectors there, say how to publish the
        documents that went with them."""
        if self.chroma.collection(self.name, create=False) is None:
            return
        legacy = self.legacy_documents()
        if legacy:
            log.warning(
                "warning: %d documents of collection %r were ingested by an older qa: their "
                "vectors are on %s but their text is only in %s. Run qa repair (with this "
                "QA_CHROMA_URL) to publish them for the whole team",
                len(legacy),
                self.name,
                self.chroma.where,
                self.settings.home / "qa.sqlite3",
            )

    def publish_legacy(self) -> int:
        """Publish the documents of :meth:`legacy_documents`, with their vocabulary; returns
        how many.  Their vectors are on the server already (repair embeds any missing)."""
        legacy = self.legacy_documents()
        if not legacy:
            return 0
        words = sorted(
            {
                word.lower()
                for record in legacy
                for word in vocabulary(f"{record.document.title} {record.document.text}")
            }
        )
        if words:
            self.add_words(words, self.embedder().embed(words))
        self.publish([Outgoing(r.document, r.chunks, r.sentence_vectors) for r in legacy])
        self.sync()
        return len(legacy)

    # -- reading: the sync ----------------------------------------------------

    def newest(self, doc_ids: Sequence[str]) -> dict[str, Revision]:
        """Each document's newest complete revision on the server, from metadata alone (the
        documents without one are absent)."""
        docs = self._collection("docs", create=False)
        if docs is None or not doc_ids:
            return {}
        found: dict[str, Revision] = {}
        for begin in range(0, len(doc_ids), SYNC_BATCH):
            part = doc_ids[begin : begin + SYNC_BATCH]
            with self.chroma.errors("read records"):
                result = docs.get(where=_where_docs(part), include=["metadatas"])
            found.update(
                {doc_id: listed[0] for doc_id, listed in revisions(result).items() if listed}
            )
        return found

    def fetch(self, wanted: Sequence[Revision]) -> dict[str, Record]:
        """The records of these revisions.  One whose text does not hash to its name is left
        out, with a warning (the reader keeps what it had)."""
        docs = self._collection("docs", create=False)
        if docs is None or not wanted:
            return {}
        ids = [record_id for revision_ in wanted for record_id in revision_.ids]
        texts: dict[str, str] = {}
        for begin in range(0, len(ids), BATCH):
            with self.chroma.errors("read records"):
                result = docs.get(ids=ids[begin : begin + BATCH], include=["documents"])
            texts.update(zip(result["ids"], result["documents"] or [], strict=True))
        found: dict[str, Record] = {}
        for revision_ in wanted:
            if not all(record_id in texts for record_id in revision_.ids):
                continue  # deleted meanwhile: the next sync sees why
            text = "".join(texts[record_id] or "" for record_id in revision_.ids)
            if revision(text) != revision_.rev:
                log.warning(
                    "document %s: record %s does not match its hash; ignored",
                    revision_.doc_id,
                    revision_.rev,
                )
                continue
            found[revision_.doc_id] = decode(text)
        return found

    def sync(self) -> None:
        """Bring the cache up to date with the server (see the module's docstring)."""
        db, name = self.rows.db, self.name
        log_collection = self._collection("log", create=False)
        if log_collection is None:
            self._warn_legacy()
            held = db.execute(
                "SELECT 1 FROM documents WHERE collection = ? UNION ALL "
                "SELECT 1 FROM server_state WHERE collection = ? LIMIT 1",
                (name, name),
            ).fetchone()
            if held:
                log.info("collection %r is gone from the server; emptying the cache", name)
                with self.rows.transaction("update the cache", immediate=True):
                    self.rows.delete_collection()
                    self.forget_state()
            return
        log_id = str(log_collection.id)
        state = db.execute(
            "SELECT log_id FROM server_state WHERE collection = ?", (name,)
        ).fetchone()
        full = state is None or state[0] != log_id
        applied: dict[str, tuple[str, float]] = {}
        if not full:
            applied = {
                entry: (doc_id, seen)
                for entry, doc_id, seen in db.execute(
                    "SELECT entry, doc_id, seen FROM server_log WHERE collection = ?", (name,)
                )
            }
        # An entry is settled once SETTLE_S old by its writer's clock.
        now = time.time()
        unsettled = {doc_id for doc_id, written in applied.values() if written > now - SETTLE_S}
        with self.chroma.errors("count the change log"):
            count = log_collection.count()
        if not full and count == len(applied) and not unsettled:
            return
        new: dict[str, str] = {}
        unknown: list[str] = []
        if full or count != len(applied):
            listed: set[str] = set()
            offset = 0
            while True:
                with self.chroma.errors("read the change log"):
                    page = log_collection.get(include=["metadatas"], limit=BATCH, offset=offset)
                for entry, metadata in zip(page["ids"], page["metadatas"] or [], strict=True):
                    listed.add(entry)
                    if entry not in applied:
                        new[entry] = str(metadata["doc_id"])
                if len(page["ids"]) < BATCH:
                    break
                offset += BATCH
            # Entries the cache noted that the server does not have (none, normally): left
            # in, they would keep the counts apart and every sync reading the whole log.
            unknown = [entry for entry in applied if entry not in listed]
        touched = set(new.values()) | unsettled
        if full:
            touched |= set(self.rows.doc_ids())
        changed = self._reconcile(sorted(touched))
        with self.rows.transaction("update the cache", immediate=True):
            if full:
                db.execute("DELETE FROM server_log WHERE collection = ?", (name,))
                db.execute("INSERT OR REPLACE INTO server_state VALUES (?, ?)", (name, log_id))
            self._note_entries(new)
            db.executemany(
                "DELETE FROM server_log WHERE collection = ? AND entry = ?",
                [(name, entry) for entry in unknown],
            )
        if changed:
            log.info("synced %d document(s) of %r from %s", changed, name, self.chroma.where)

    def _reconcile(self, doc_ids: Sequence[str]) -> int:
        """Make the cache hold each document's newest record, or not hold it: revisions are
        compared from metadata, and only the records the cache lacks are fetched.  Returns
        how many documents changed."""
        db, name = self.rows.db, self.name
        changed = 0
        for begin in range(0, len(doc_ids), SYNC_BATCH):
            part = doc_ids[begin : begin + SYNC_BATCH]
            newest = self.newest(part)
            held = {
                doc_id: rev
                for doc_id, rev in db.execute(
                    "SELECT doc_id, rev FROM server_revisions WHERE collection = ? AND doc_id IN "
                    f"({', '.join('?' * len(part))})",
                    (name, *part),
                )
            }
            stale = [
                revision_
                for doc_id, revision_ in newest.items()
                if held.get(doc_id) != revision_.rev or not self.rows.has_document(doc_id)
            ]
            gone = [
                doc_id
                for doc_id in part
                if doc_id not in newest and (doc_id in held or self.rows.has_document(doc_id))
            ]
            if not stale and not gone:
                continue
            records = self.fetch(stale)
            if records:
                self.rows.check_embedder(self.embedder(), create=True)
                self._check_records(records)
            words = self._words_for(records)
            with self.rows.transaction("update the cache", immediate=True):
                for doc_id in gone:
                    self.rows.delete_document(doc_id)
                    db.execute(
                        "DELETE FROM server_revisions WHERE collection = ? AND doc_id = ?",
                        (name, doc_id),
                    )
                    changed += 1
                # Every replaced document out before any record goes in: a document renamed
                # on the server (qa.index.identity) brings chunk ids the cache still holds
                # under its old id.
                for doc_id in records:
                    if self.rows.has_document(doc_id):
                        self.rows.delete_document(doc_id)
                for holder in self._holders(records):
                    # Its new record comes with its own log entry, later in this sync.
                    self.rows.delete_document(holder)
                for doc_id, record in records.items():
                    self.rows.insert_document(
                        record.document,
                        record.chunks,
                        record.sentence_vectors,
                        record_sources(record.document),
                    )
                    db.execute(
                        "INSERT OR REPLACE INTO server_revisions VALUES (?, ?, ?)",
                        (name, doc_id, newest[doc_id].rev),
                    )
                    changed += 1
                if words:
                    db.executemany(
                        "INSERT OR REPLACE INTO word_vectors VALUES (?, ?, ?)",
                        [
                            (name, word, np.ascontiguousarray(vector, dtype=np.float32).tobytes())
                            for word, vector in words.items()
                        ],
                    )
        return changed

    def _holders(self, records: dict[str, Record]) -> list[str]:
        """Other documents in the cache holding chunk ids of these records (a document
        renamed on the server whose old id this batch does not cover)."""
        ids = [chunk.id for record in records.values() for chunk in record.chunks]
        found: set[str] = set()
        # SQLite caps the number of parameters in one statement.
        for begin in range(0, len(ids), 500):
            part = ids[begin : begin + 500]
            found.update(
                row[0]
                for row in self.rows.db.execute(
                    "SELECT DISTINCT doc_id FROM chunks WHERE collection = ? AND id IN "
                    f"({', '.join('?' * len(part))})",
                    (self.name, *part),
                )
            )
        return sorted(found - set(records))

    def _check_records(self, records: dict[str, Record]) -> None:
        dimension = self.embedder().dimension
        for doc_id, record in records.items():
            shape = record.sentence_vectors.shape
            if shape != (len(record.document.sentences), dimension):
                raise EmbedderMismatchError(
                    f"document {doc_id} on {self.chroma.where} has sentence vectors of shape "
                    f"{shape}, not ({len(record.document.sentences)}, {dimension})",
                    fix="use a new --collection for this embedder",
                )

    def _words_for(self, records: dict[str, Record]) -> dict[str, Vectors]:
        """Vectors of the records' vocabulary words the cache lacks: from the server's word
        collection, and any it lacks embedded here (the same model gives the same vector)."""
        if not records:
            return {}
        wanted = {
            word.lower()
            for record in records.values()
            for word in vocabulary(f"{record.document.title} {record.document.text}")
        }
        missing = self.rows.missing_words(sorted(wanted))
        found: dict[str, Vectors] = {}
        words_collection = self._collection("words", create=False)
        if words_collection is not None and missing:
            for begin in range(0, len(missing), BATCH):
                with self.chroma.errors("read words"):
                    result = words_collection.get(
                        ids=missing[begin : begin + BATCH], include=["documents"]
                    )
                for word, packed in zip(result["ids"], result["documents"] or [], strict=True):
                    vector = np.frombuffer(base64.b64decode(packed or ""), dtype=np.float32)
                    if vector.shape == (self.embedder().dimension,):
                        found[word] = vector
        rest = [word for word in missing if word not in found]
        if rest:
            for word, vector in zip(rest, self.embedder().embed(rest), strict=True):
                found[word] = vector
        return found
