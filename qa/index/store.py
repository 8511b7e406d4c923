"""The store: SQLite for everything a citation needs, Chroma for chunk vectors.

Layout under ``$QA_HOME``::

    qa.sqlite3     documents (cleaned text, sentence spans), chunks, sentence
                   vectors, word vectors, and an FTS5 table that is the BM25 index
    chroma/        Chroma PersistentClient (one collection per qa collection)

SQLite owns the documents, so every citation is resolved against the exact
stored text; the FTS5 index is updated in the same transaction as the document
rows, so the lexical index cannot drift from them.  The schema and its upgrades
live in :mod:`qa.index.migrations`, the Chroma client in :mod:`qa.index.chroma`.

Crashes and concurrency:

* A document is visible only once its SQLite transaction commits, and SQLite
  decides what exists: vectors Chroma returns for chunks SQLite does not know
  are ignored, and removed (:meth:`Store.sweep_orphans`) at the next write.
  A writer killed at any point therefore leaves the old state, and re-running
  the same ingest completes it without duplicates (ids are content hashes).
* Writers take ``QA_HOME/write.lock`` for the whole run, because Chroma's
  embedded client is not safe with two writing processes; a second writer
  waits (saying so) up to ``QA_LOCK_TIMEOUT`` seconds.  Readers take no lock:
  SQLite runs in WAL mode and each question reads one snapshot, so a reader
  sees the state before or after a document, never half of one.
* Forgetting a document removes its rows and its vectors together or not at
  all: the SQLite deletion commits only after Chroma's, and Chroma's is undone
  if the commit fails.

Team mode (``QA_CHROMA_URL``): the Chroma server holds everything, and the
SQLite file is a cache of it under ``QA_HOME/team/`` that every command brings
up to date when it opens the store (:mod:`qa.index.team`).

Every open runs a cheap check (row counts): when chunk vectors are missing it
warns, and ``qa repair`` or ingesting the same files again rebuilds them.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence, Set
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout

from qa.config import Settings
from qa.errors import EmbedderMismatchError, StoreError
from qa.index.chroma import BATCH, ChromaIndex
from qa.index.chroma_reader import LocalReader, open_reader
from qa.index.embed import Embedder, MiniLMEmbedder, Vectors
from qa.index.identity import source_key
from qa.index.migrations import SCHEMA_VERSION
from qa.index.rows import (
    DATABASE,
    Rows,
    database_path,
    open_database,
    sqlite_error,
    sqlite_errors,
)
from qa.index.team import Outgoing, Team
from qa.types import Chunk, Document, DocumentInfo, DocumentMeta

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

# Kept for callers that batch their own Chroma calls.
CHROMA_BATCH = BATCH

__all__ = [
    "CHROMA_BATCH",
    "DATABASE",
    "SCHEMA_VERSION",
    "Store",
    "database_path",
    "open_database",
    "sqlite_error",
]

log = logging.getLogger("qa")


class Store:
    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, *, sync: bool = True
    ) -> None:
        """Open the store; ``sync`` (the default) syncs a team cache with its server, or
        checks that an embedded store's Chroma folder is there."""
        opening = time.perf_counter()
        self.settings = settings
        self.collection_name = settings.collection
        self._embedder = embedder
        self.chroma = ChromaIndex(settings)
        self._collection: Collection | None = None
        self._vectors_checked = False
        # A question's nearest-neighbour query on an embedded store goes through Chroma's
        # Rust core directly (qa.index.chroma_reader), sparing a cold process the client.
        self._reader: LocalReader | None = None
        self._reader_tried = False
        # Team mode: records published by add_documents, waiting for add_document to commit
        # them to the cache (log entries, revision) by document id.
        self._published: dict[str, tuple[dict[str, str], str]] = {}
        self.path = database_path(settings)
        self._lock = FileLock(settings.home / "write.lock")
        self.rows = Rows.open(self.path, self.collection_name)
        self.db = self.rows.db
        self.team: Team | None = None
        if settings.chroma_url:
            self.team = Team(
                self.rows,
                self.chroma,
                settings,
                embedder=lambda: self.embedder,
                vectors=self._vectors,
            )
            if sync:
                try:
                    self.team.sync()
                except BaseException:
                    self.close()
                    raise
        elif sync and not self.chroma.exists() and self.rows.has_chunks():
            # The folder is gone (the cheap check of commands that never open Chroma).
            self._vectors_checked = True
            self._warn_missing(self.count_chunks(), self.count_chunks())
        # Seconds spent opening: SQLite (and a team sync) here, then Chroma (its client or
        # the reader) when first used; ``qa ask`` reports it as a phase of its own.
        self.open_s = time.perf_counter() - opening

    @classmethod
    def open(cls, settings: Settings | None = None, embedder: Embedder | None = None) -> Store:
        return cls(settings or Settings.from_env(), embedder)

    @classmethod
    @contextmanager
    def using(cls, store: Store | None, settings: Settings | None) -> Iterator[Store]:
        """The caller's store as it is, or one opened from settings and closed after.

        A SQLite error inside (a damaged page met while reading) becomes one StoreError."""
        if store is not None:
            with sqlite_errors(store.path):
                yield store
            return
        opened = cls.open(settings)
        try:
            with sqlite_errors(opened.path):
                yield opened
        finally:
            opened.close()

    def close(self) -> None:
        self.db.close()
        self.chroma.close()
        self._collection = None
        if self._lock.is_locked:
            self._lock.release(force=True)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer lock of ``QA_HOME``: one qa process writes a store at a time."""
        if self._lock.is_locked:
            # Already held by this Store (ingest inside a caller's writing block).
            yield
            return
        timeout = self.settings.lock_timeout
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            home = self.settings.home
            log.warning("another qa process is writing to %s; waiting up to %g s", home, timeout)
            try:
                self._lock.acquire(timeout=timeout)
            except Timeout:
                raise StoreError(
                    f"another qa process is still writing to {self.settings.home} "
                    f"after {timeout:g} s",
                    fix="wait for it to finish, or raise QA_LOCK_TIMEOUT",
                ) from None
        try:
            yield
        finally:
            self._lock.release()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read one consistent state of the documents, whatever a writer commits meanwhile."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.rollback()

    def transaction(self, action: str, *, immediate: bool = False) -> AbstractContextManager[None]:
        """One SQLite transaction (see :meth:`Rows.transaction`)."""
        return self.rows.transaction(action, immediate=immediate)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = MiniLMEmbedder()
        return self._embedder

    # -- the vectors (Chroma) -------------------------------------------------

    def _vectors(self, create: bool) -> Collection | None:
        """The Chroma collection of chunk vectors, checked to be built with our embedder.

        The first time, the number of vectors is compared with the number of chunks,
        and missing vectors are reported (the cheap check every command runs)."""
        if self._collection is not None:
            return self._collection
        opening = time.perf_counter()
        try:
            return self._open_vectors(create)
        finally:
            self.open_s += time.perf_counter() - opening

    def _open_vectors(self, create: bool) -> Collection | None:
        self._check_embedder(create)
        if not create and not self.chroma.exists():
            # Reading opens no client: that would make an empty folder where a removed one
            # was, and hide from the next command that the vectors are gone.
            if not self._vectors_checked:
                self._check_vector_count(None)
            return None
        if not self._vectors_checked:
            # Before a missing collection is created empty: "none" must still warn.
            existing = self.chroma.collection(self.collection_name, create=False)
            self._check_vector_count(existing)
        if create and self.team is not None:
            # The collection's change log exists before any of its vectors.
            self.team.ensure()
        metadata: dict[str, str | int] = {
            "embedder": self.embedder.name,
            "dimension": self.embedder.dimension,
            "hnsw:space": "cosine",
        }
        collection = self.chroma.collection(self.collection_name, create=create, metadata=metadata)
        if collection is None:
            return None
        self._check_metadata(collection.metadata or {})
        self._collection = collection
        self._reader = None
        return collection

    def _check_metadata(self, stored: dict[str, Any]) -> None:
        """Refuse a Chroma collection built with another embedder (client or reader)."""
        if stored.get("embedder") != self.embedder.name:
            raise EmbedderMismatchError(
                f"collection {self.collection_name!r} was built with embedder "
                f"{stored.get('embedder')!r}, not {self.embedder.name!r}",
                fix="use a new --collection for this embedder (the old one keeps its documents)",
            )

    def _local_reader(self) -> LocalReader | None:
        """The read-only fast path to an embedded collection, once per store, when the
        full client is not open already and the reader can open it (else None)."""
        if self._reader_tried or self._collection is not None or self.team is not None:
            return self._reader if self._collection is None else None
        self._reader_tried = True
        if not self.chroma.exists():
            return None
        self._check_embedder(create=False)
        opening = time.perf_counter()
        reader = open_reader(self.settings.home / "chroma", self.collection_name)
        self.open_s += time.perf_counter() - opening
        if reader is not None:
            self._check_metadata(reader.metadata)
            if not self._vectors_checked:
                self._vectors_checked = True
                chunks = self.count_chunks()
                try:
                    vectors = reader.count() if chunks else 0
                except Exception:  # The full client below counts, and says what is wrong.
                    self._vectors_checked = False
                    self._reader = None
                    return None
                if vectors < chunks:
                    self._warn_missing(chunks - vectors, chunks)
        self._reader = reader
        return reader

    def _check_vector_count(self, collection: Collection | None) -> None:
        self._vectors_checked = True
        chunks = self.count_chunks()
        if not chunks:
            return
        if collection is None:
            vectors = 0
        else:
            with self.chroma.errors("count"):
                vectors = collection.count()
        if vectors < chunks:
            self._warn_missing(chunks - vectors, chunks)

    def _warn_missing(self, missing: int, chunks: int) -> None:
        log.warning(
            "warning: %d of %d chunk vectors of collection %r are missing from %s; answers "
            "rank those chunks by keywords alone. Run qa repair (or ingest the same files "
            "again) to rebuild them from the stored text; no document is lost",
            missing,
            chunks,
            self.collection_name,
            self.chroma.where,
        )

    def missing_vector_count(self) -> int:
        """How many chunks lack a vector, by counts (0 when there are as many vectors)."""
        collection = self._vectors(create=False)
        chunks = self.count_chunks()
        if collection is None:
            return chunks
        with self.chroma.errors("count"):
            return max(0, chunks - collection.count())

    def vector_ids(self, doc_id: str | None = None) -> set[str]:
        """The ids of the chunk vectors Chroma holds (of one document, or all)."""
        collection = self._vectors(create=False)
        if collection is None:
            return set()
        found: set[str] = set()
        where: Any = {"doc_id": doc_id} if doc_id else None
        offset = 0
        while True:
            with self.chroma.errors("list vectors"):
                page = collection.get(where=where, include=[], limit=BATCH, offset=offset)
            found.update(page["ids"])
            if len(page["ids"]) < BATCH:
                return found
            offset += BATCH

    def _check_embedder(self, create: bool) -> None:
        self.rows.check_embedder(self.embedder, create=create)

    # -- writing --------------------------------------------------------------

    def add_document(
        self,
        document: Document,
        chunks: Sequence[Chunk],
        chunk_vectors: Vectors,
        sentence_vectors: Vectors,
        *,
        replaces: Sequence[str] = (),
        vectors_added: bool = False,
        sources: Sequence[str] = (),
    ) -> None:
        """Store a document; it becomes visible, and ``replaces`` vanish, in one commit.

        A document already stored under ``document.id`` is replaced (a new version of
        its text: new chunk ids, so the old vectors serve until the commit, then go).
        ``sources``: normalised sources (``source_key``) that now name this document.
        ``vectors_added``: its chunk vectors are already in Chroma (``add_vectors``).
        In team mode the document's record is published to the server first (the
        server is the truth), then written to the local cache."""
        collection = self._vectors(create=True)
        assert collection is not None
        if not vectors_added:
            self.add_vectors([(document, chunks, chunk_vectors)])
        if self.team is not None and document.id not in self._published:
            self._publish(
                [Outgoing(self._with_sources(document, sources), chunks, sentence_vectors,
                          replaces)]
            )  # fmt: skip
        entries: dict[str, str]
        entries, rev = self._published.pop(document.id, ({}, ""))
        ids = {chunk.id for chunk in chunks}
        try:
            with self.db:
                # Only ids that are really there: deleting nothing still costs queries.
                stale = {*replaces, *([document.id] if self.has_document(document.id) else [])}
                old_chunks = self.rows.chunk_ids_of(stale)
                for old_id in stale:
                    self.rows.delete_document(old_id, keep_sources=old_id == document.id)
                self.rows.insert_document(document, chunks, sentence_vectors, sources)
                if self.team is not None:
                    self.team.note_published(document.id, rev, replaces)
                    self.team.note_entries(entries)
        except sqlite3.Error as error:
            if self.team is None:
                with self.chroma.errors("clean up vectors"):
                    collection.delete(ids=sorted(ids))
            raise sqlite_error(self.path, f"write document {document.id} to", error) from None
        self.delete_vectors(sorted(set(old_chunks) - ids))

    def _with_sources(self, document: Document, sources: Sequence[str]) -> Document:
        """The document as its record carries it: with every source that will name it (those
        naming it already, then ``sources``), so a teammate's cache knows them too."""
        known = self.rows.sources_of(document.id) if self.has_document(document.id) else []
        keys = list(dict.fromkeys([*known, *sources]))
        first = source_key(document.source)
        return replace(document, sources=(document.source, *[k for k in keys if k != first]))

    def add_documents(
        self,
        documents: Sequence[
            tuple[Document, Sequence[Chunk], Vectors, Vectors, Sequence[str], Sequence[str]]
        ],
    ) -> None:
        """Store several documents whose chunk vectors are in Chroma already (``add_vectors``):
        (document, chunks, chunk vectors, sentence vectors, ids it replaces, sources naming
        it).  Each is
        committed on its own (``add_document``); in team mode all their records are
        published first, in a few requests for the batch instead of a few per document."""
        if not documents:
            return
        if self.team is not None:
            self._vectors(create=True)
            self._publish(
                [Outgoing(self._with_sources(document, keys), chunks, sentences, replaces)
                 for document, chunks, _, sentences, replaces, keys in documents]
            )  # fmt: skip
        for document, chunks, chunk_vectors, sentence_vectors, replaces, keys in documents:
            self.add_document(
                document,
                chunks,
                chunk_vectors,
                sentence_vectors,
                replaces=replaces,
                vectors_added=True,
                sources=keys,
            )

    def _publish(self, outgoing: Sequence[Outgoing]) -> None:
        """Publish records (team mode) and keep what ``add_document`` records of each."""
        assert self.team is not None
        entries, revs = self.team.publish(outgoing)
        for doc_id, rev in revs.items():
            mine = {entry: owner for entry, owner in entries.items() if owner == doc_id}
            self._published[doc_id] = (mine, rev)
        # Entries of the replaced documents go with the first document of the batch.
        rest = {entry: owner for entry, owner in entries.items() if owner not in revs}
        if rest and revs:
            first = next(iter(revs))
            self._published[first][0].update(rest)

    def add_vectors(self, documents: Sequence[tuple[Document, Sequence[Chunk], Vectors]]) -> None:
        """Write the chunk vectors of several documents in as few Chroma calls as it allows.

        Chroma spends tens of milliseconds per call however few records it gets, so
        ingest writes a batch of documents' vectors at once, then commits each document
        with ``add_document(..., vectors_added=True)``.  Vectors are invisible until
        SQLite knows their chunk; a writer killed in between leaves orphans that the
        next writer sweeps.  ``at`` (seconds) tells a sweep in team mode how old they are."""
        collection = self._vectors(create=True)
        assert collection is not None
        records = [
            (chunk, document.title, vector)
            for document, chunks, vectors in documents
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        written_at = int(datetime.now(UTC).timestamp())
        for begin in range(0, len(records), BATCH):
            part = records[begin : begin + BATCH]
            with self.chroma.errors("add vectors"):
                collection.upsert(
                    ids=[chunk.id for chunk, _, _ in part],
                    embeddings=np.stack([vector for _, _, vector in part]),
                    documents=[chunk.text for chunk, _, _ in part],
                    metadatas=[
                        {
                            "doc_id": chunk.doc_id,
                            "index": chunk.index,
                            "title": title,
                            "at": written_at,
                        }
                        for chunk, title, _ in part
                    ],
                )

    def add_words(self, words: Sequence[str], vectors: Vectors) -> None:
        """Add lower-case words and their vectors to the collection's vocabulary."""
        if self.team is not None:
            self.team.add_words(words, vectors)
        with self.transaction("write the vocabulary to"):
            self.rows.add_words(words, vectors)

    def rebuild_fts_rows(self, doc_id: str, *, clean: bool = True) -> int:
        """See :meth:`Rows.rebuild_fts_rows`."""
        return self.rows.rebuild_fts_rows(doc_id, clean=clean)

    def set_sentence_vectors(self, doc_id: str, vectors: Vectors) -> None:
        """Replace a document's sentence vectors (``qa repair``)."""
        with self.transaction("write sentence vectors to"):
            self.rows.set_sentence_vectors(doc_id, vectors)

    def remove_document(self, doc_id: str) -> int:
        """Delete a document from both indexes, together or not at all; returns the number
        of chunks removed."""
        removed = len(self.rows.document_chunks(doc_id)) if self.has_document(doc_id) else 0
        if self.team is not None:
            # The server first: it is the truth, and once its record is gone the document
            # is gone for every teammate; the cache follows.
            entry = self.team.unpublish(doc_id)
            with self.transaction(f"forget document {doc_id} in"):
                self.rows.delete_document(doc_id)
                self.team.note_removed(doc_id, entry)
            return removed
        collection = self._vectors(create=False)
        saved = self._saved_vectors(collection, doc_id)
        try:
            with self.db:
                self.rows.delete_document(doc_id)
                # Inside the open transaction: if Chroma fails, the rows come back.
                if collection is not None:
                    with self.chroma.errors("delete vectors"):
                        collection.delete(where={"doc_id": doc_id})
        except sqlite3.Error as error:
            # The commit failed after Chroma's delete: put the vectors back.
            if collection is not None and saved is not None and saved["ids"]:
                with self.chroma.errors("restore vectors"):
                    collection.upsert(
                        ids=saved["ids"],
                        embeddings=saved["embeddings"],
                        documents=saved["documents"],
                        metadatas=saved["metadatas"],
                    )
            raise sqlite_error(self.path, f"forget document {doc_id} in", error) from None
        return removed

    def _saved_vectors(self, collection: Collection | None, doc_id: str) -> Any:
        if collection is None:
            return None
        with self.chroma.errors("read vectors"):
            return collection.get(
                where={"doc_id": doc_id}, include=["embeddings", "documents", "metadatas"]
            )

    def _delete_vectors(self, doc_id: str) -> None:
        collection = self._vectors(create=False)
        if collection is not None:
            # By metadata, so chunks from an interrupted write go as well.
            with self.chroma.errors("delete vectors"):
                collection.delete(where={"doc_id": doc_id})

    def orphan_vector_ids(self) -> list[str]:
        """Vectors whose chunk SQLite does not know."""
        return sorted(self.vector_ids() - self.rows.chunk_ids())

    def delete_vectors(self, ids: Sequence[str]) -> None:
        collection = self._vectors(create=False)
        if collection is None:
            return
        for begin in range(0, len(ids), BATCH):
            with self.chroma.errors("delete vectors"):
                collection.delete(ids=list(ids[begin : begin + BATCH]))

    def damaged_copies(self) -> list[Path]:
        """Damaged databases ``qa repair`` moved aside and kept (newest last)."""
        return sorted(self.path.parent.glob(f"{self.path.name}.damaged-*"))

    def sweep_orphans(self) -> int:
        """Delete vectors whose chunk SQLite does not know (left by a killed writer).

        Not while a damaged database ``qa repair`` moved aside is kept, nor when SQLite has
        no chunk of the collection at all: Chroma holds each chunk's text beside its
        vector, and those may be all that is left of documents that were lost."""
        if self.team is not None:
            return self.team.sweep_orphans()
        collection = self._vectors(create=False)
        # With no chunk at all the database was more likely lost than the vectors orphaned.
        if collection is None or self.damaged_copies() or not self.rows.has_chunks():
            return 0
        with self.chroma.errors("count"):
            if collection.count() == self.count_chunks():
                return 0
        orphans = self.orphan_vector_ids()
        self.delete_vectors(orphans)
        if orphans:
            log.warning("removed %d vectors left by an interrupted write", len(orphans))
        return len(orphans)

    def drop_collection(self) -> None:
        """Remove the whole collection: Chroma's collection is deleted inside the open SQLite
        transaction, so a failure of either leaves the documents in place."""
        self._collection = None
        if self.team is not None:
            self.team.drop()
            with self.transaction("forget the collection in"):
                self.rows.delete_collection()
                self.team.forget_state()
            return
        with self.transaction("forget the collection in"):
            self.rows.delete_collection()
            if self.chroma.exists():
                self.chroma.delete_collection(self.collection_name)

    # -- reading (the SQLite side: :class:`~qa.index.rows.Rows`) ----------------

    def has_document(self, doc_id: str) -> bool:
        return self.rows.has_document(doc_id)

    # -- identity (qa.index.identity) ------------------------------------------

    def source_owner(self, key: str) -> tuple[str, str | None] | None:
        """See :meth:`Rows.source_owner`."""
        return self.rows.source_owner(key)

    def document_with_version(self, version: str) -> str | None:
        return self.rows.document_with_version(version)

    def sources_of(self, doc_id: str) -> list[str]:
        """The normalised sources naming a document, its primary source first."""
        return self.rows.sources_of(doc_id)

    def link_source(self, key: str, doc_id: str) -> list[str]:
        """Point a normalised source at a stored document (same text, another source).

        The document the source named before loses it, and is removed when no source
        names it any more; its primary source moves to the next one.  One commit (in team
        mode the changed records are published first).  Returns the ids removed."""
        with self.transaction("link a source in"):
            removed, old_chunks, changed = self.rows.link_source(key, doc_id)
            if self.team is not None:
                # Inside the open transaction: the records go out as the cache will be,
                # and a failure to publish leaves the cache as it was.
                self._republish(changed, removed)
        self.delete_vectors(old_chunks)
        return removed

    def set_meta(self, doc_id: str, meta: DocumentMeta) -> None:
        """Replace what a stored document's source says about it (outlet, author, date...):
        its text, chunks and vectors stay.  In team mode its record is published again."""
        with self.transaction(f"update the metadata of document {doc_id} in"):
            self.rows.set_meta(doc_id, meta)
            if self.team is not None:
                self._republish([doc_id], [])

    def rename_document(self, doc_id: str, new_id: str, sources: Sequence[str]) -> None:
        """Give a stored document (text, chunks, vectors) a new id and these sources.

        For a document shared by several sources whose first source changed: that
        source keeps the id for its new text, the others keep the old text under
        ``new_id``.  Chroma's doc_id metadata is changed first, then SQLite in one
        commit, so a writer killed in between redoes the same steps next time."""
        chunk_ids = self.rows.chunk_ids_of([doc_id])
        collection = self._vectors(create=False)
        if collection is not None:
            for begin in range(0, len(chunk_ids), BATCH):
                part = chunk_ids[begin : begin + BATCH]
                with self.chroma.errors("rename vectors"):
                    found = collection.get(ids=part, include=["metadatas"])
                    if found["ids"]:
                        collection.update(
                            ids=found["ids"],
                            metadatas=[
                                {**(metadata or {}), "doc_id": new_id}
                                for metadata in found["metadatas"] or []
                            ],
                        )
        if self.team is not None:
            document = replace(self.get_document(doc_id), id=new_id)
            chunks = [replace(chunk, doc_id=new_id) for chunk in self.document_chunks(doc_id)]
            vectors = self.sentence_vectors(doc_id)
            first = source_key(sources[0]) if sources else None
            moved = replace(
                document,
                source=sources[0] if sources else document.source,
                sources=(*sources[:1], *[key for key in sources[1:] if key != first]),
            )
            self._publish([Outgoing(moved, chunks, vectors, (doc_id,))])
            entries, rev = self._published.pop(new_id, ({}, ""))
        with self.transaction(f"rename document {doc_id} in"):
            self.rows.rename_document(doc_id, new_id, sources)
            if self.team is not None:
                self.team.note_published(new_id, rev, (doc_id,))
                self.team.note_entries(entries)

    def _republish(self, doc_ids: Sequence[str], removed: Sequence[str]) -> None:
        """Team mode, inside the cache's open transaction: publish the records of documents
        whose sources changed, and remove those of documents that lost their last source."""
        assert self.team is not None
        for doc_id in removed:
            self.team.note_removed(doc_id, self.team.unpublish(doc_id))
        outgoing = [
            Outgoing(self.get_document(doc_id), self.document_chunks(doc_id),
                     self.sentence_vectors(doc_id))
            for doc_id in doc_ids
            if doc_id not in removed and self.has_document(doc_id)
        ]  # fmt: skip
        if not outgoing:
            return
        self._publish(outgoing)
        for item in outgoing:
            entries, rev = self._published.pop(item.document.id, ({}, ""))
            self.team.note_published(item.document.id, rev, ())
            self.team.note_entries(entries)

    def resolve_doc_id(self, prefix: str) -> str:
        """A full document id from an id or a unique prefix of one."""
        return self.rows.resolve_doc_id(prefix)

    def get_document(self, doc_id: str) -> Document:
        return self.rows.get_document(doc_id)

    def get_chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        return self.rows.get_chunks(chunk_ids)

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks in order, with their text."""
        return self.rows.document_chunks(doc_id)

    def sentence_vectors(self, doc_id: str) -> Vectors:
        return self.rows.sentence_vectors(doc_id, self.embedder.dimension)

    def word_vectors(self, words: Sequence[str]) -> dict[str, Vectors]:
        """The stored vectors of those lower-case words the collection's vocabulary has."""
        return self.rows.word_vectors(words)

    def missing_words(self, words: Sequence[str]) -> list[str]:
        """Those lower-case words the collection's vocabulary lacks, sorted."""
        return self.rows.missing_words(words)

    def list_documents(self) -> list[DocumentInfo]:
        return self.rows.list_documents()

    def doc_ids(self) -> list[str]:
        return self.rows.doc_ids()

    def count_chunks(self) -> int:
        return self.rows.count_chunks()

    def count_vectors(self) -> int:
        collection = self._vectors(create=False)
        if collection is None:
            return 0
        with self.chroma.errors("count"):
            return collection.count()

    def require_documents(self) -> None:
        self.rows.require_documents()

    # -- search ---------------------------------------------------------------

    def dense_search(
        self, vector: Vectors, k: int, doc_id: str | None = None
    ) -> list[tuple[str, float]]:
        where: Any = {"doc_id": doc_id} if doc_id else None
        reader = self._local_reader()
        if reader is not None:
            try:
                ids, distances = reader.query(vector.tolist(), k, where)
                return [
                    (chunk_id, 1.0 - distance)
                    for chunk_id, distance in zip(ids, distances, strict=True)
                ]
            except Exception as error:  # The client below says what is wrong, if anything.
                log.debug("fast Chroma query failed, using the client: %s", error)
                self._reader = None
        collection = self._vectors(create=False)
        if collection is None:
            return []
        with self.chroma.errors("search"):
            result = collection.query(
                query_embeddings=[vector.tolist()],
                n_results=k,
                where=where,
                include=["distances"],
            )
        ids = result["ids"][0] if result["ids"] else []
        distances = (result.get("distances") or [[]])[0]
        # Cosine distance back to similarity.
        pairs = zip(ids, distances, strict=False)
        return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in pairs]

    def lexical_search(
        self,
        query: str,
        k: int,
        doc_id: str | None = None,
        stopwords: Set[str] = frozenset(),
    ) -> list[tuple[str, float]]:
        """BM25 over the chunks (see :meth:`Rows.lexical_search`)."""
        return self.rows.lexical_search(query, k, doc_id, stopwords)
