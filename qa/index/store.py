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

import json
import logging
import re
import sqlite3
from collections.abc import Iterator, Sequence, Set
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
from filelock import FileLock, Timeout

from qa.config import Settings
from qa.errors import (
    EmbedderMismatchError,
    NotIngestedError,
    QAError,
    StoreError,
    UnknownDocumentError,
)
from qa.index import migrations
from qa.index.chroma import BATCH, ChromaIndex, StoreFault, fault_kind, transient_fix
from qa.index.embed import Embedder, MiniLMEmbedder, Vectors
from qa.index.team import Outgoing, Team
from qa.types import Chunk, Document, DocumentInfo, Sentence

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Kept for callers that batch their own Chroma calls.
CHROMA_BATCH = BATCH
# SQLite waits this long for another connection's short write transaction.
BUSY_TIMEOUT_S = 30.0
DATABASE = "qa.sqlite3"

log = logging.getLogger("qa")


def database_path(settings: Settings) -> Path:
    """``QA_HOME/qa.sqlite3``, or in team mode the cache of that server's collections."""
    if not settings.chroma_url:
        return settings.home / DATABASE
    url = urlsplit(settings.chroma_url)
    server = f"{url.hostname or 'server'}-{url.port or (443 if url.scheme == 'https' else 8000)}"
    return settings.home / "team" / (re.sub(r"[^A-Za-z0-9.-]", "_", server) + ".sqlite3")


def sqlite_error(path: Path, action: str, error: BaseException) -> StoreError:
    """A failed SQLite operation as one line: a transient fault says what to free or
    change; damage says so, and never suggests starting again."""
    detail = (
        str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    )
    kind = fault_kind(error)
    if kind == "damaged":
        return StoreFault(
            f"{path} is damaged ({action}: {detail})",
            fix="run qa check to see what is wrong, then qa repair: it keeps the damaged "
            "file beside the new one and recovers every document it can read",
            kind=kind,
        )
    return StoreFault(
        f"cannot {action} {path}: {detail}", fix=transient_fix(kind, path.parent), kind=kind
    )


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        raise sqlite_error(path, "use", error) from None


def open_database(path: Path) -> sqlite3.Connection:
    """Open (or create) the SQLite file at ``path`` at the current schema version."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the store folder {path.parent}: {error.strerror or error}",
            fix="set QA_HOME to a folder this user can write",
        ) from None
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        found = migrations.version(db)
        if found > migrations.SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer qa (schema {found}, this qa knows "
                f"{migrations.SCHEMA_VERSION})",
                fix="upgrade qa (pip install -U qa); the store is left as it is",
            )
        if found < migrations.SCHEMA_VERSION:
            migrations.upgrade(db)
        # WAL: readers keep reading their snapshot while a writer commits.
        db.execute("PRAGMA journal_mode = WAL")
    except QAError:
        if db is not None:
            db.close()
        raise
    except (OSError, sqlite3.Error) as error:
        if db is not None:
            db.close()
        raise sqlite_error(path, "open", error) from None
    return db


class Store:
    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, *, sync: bool = True
    ) -> None:
        """Open the store; ``sync`` (the default) syncs a team cache with its server, or
        checks that an embedded store's Chroma folder is there."""
        self.settings = settings
        self.collection_name = settings.collection
        self._embedder = embedder
        self.chroma = ChromaIndex(settings)
        self._collection: Collection | None = None
        self._vectors_checked = False
        # Team mode: records published by add_documents, waiting for add_document to commit
        # them to the cache (log entries, revision) by document id.
        self._published: dict[str, tuple[dict[str, str], str]] = {}
        self.path = database_path(settings)
        self._lock = FileLock(settings.home / "write.lock")
        self.db = open_database(self.path)
        self.team: Team | None = None
        if settings.chroma_url:
            self.team = Team(self)
            if sync:
                try:
                    self.team.sync()
                except BaseException:
                    self.close()
                    raise
        elif sync and not self.chroma.exists() and self._has_chunks():
            # The folder is gone (the cheap check of commands that never open Chroma).
            self._vectors_checked = True
            self._warn_missing(self.count_chunks(), self.count_chunks())

    @classmethod
    def open(cls, settings: Settings | None = None, embedder: Embedder | None = None) -> Store:
        return cls(settings or Settings.from_env(), embedder)

    @classmethod
    @contextmanager
    def using(cls, store: Store | None, settings: Settings | None) -> Iterator[Store]:
        """The caller's store as it is, or one opened from settings and closed after.

        A SQLite error inside (a damaged page met while reading) becomes one StoreError."""
        if store is not None:
            with _sqlite_errors(store.path):
                yield store
            return
        opened = cls.open(settings)
        try:
            with _sqlite_errors(opened.path):
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

    @contextmanager
    def transaction(self, action: str) -> Iterator[None]:
        """One SQLite transaction; a failure becomes a StoreError that names the fault."""
        try:
            with self.db:
                yield
        except sqlite3.Error as error:
            raise sqlite_error(self.path, action, error) from None

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
        stored = collection.metadata or {}
        if stored.get("embedder") != self.embedder.name:
            raise EmbedderMismatchError(
                f"collection {self.collection_name!r} was built with embedder "
                f"{stored.get('embedder')!r}, not {self.embedder.name!r}",
                fix="use a new --collection for this embedder (the old one keeps its documents)",
            )
        self._collection = collection
        return collection

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
        row = self.db.execute(
            "SELECT embedder, dimension FROM collections WHERE name = ?", (self.collection_name,)
        ).fetchone()
        if row is None:
            if create:
                with self.transaction("write"):
                    self.db.execute(
                        "INSERT OR IGNORE INTO collections VALUES (?, ?, ?)",
                        (self.collection_name, self.embedder.name, self.embedder.dimension),
                    )
            return
        if (row[0], row[1]) != (self.embedder.name, self.embedder.dimension):
            raise EmbedderMismatchError(
                f"collection {self.collection_name!r} was built with embedder {row[0]} "
                f"({row[1]} dimensions), not {self.embedder.name} "
                f"({self.embedder.dimension} dimensions)",
                fix="use a new --collection for this embedder",
            )

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
    ) -> None:
        """Store a document; it becomes visible, and ``replaces`` vanish, in one commit.

        ``vectors_added``: its chunk vectors are already in Chroma (``add_vectors``).
        In team mode the document's record is published to the server first (the
        server is the truth), then written to the local cache."""
        collection = self._vectors(create=True)
        assert collection is not None
        if not vectors_added:
            self.add_vectors([(document, chunks, chunk_vectors)])
        if self.team is not None and document.id not in self._published:
            self._publish([Outgoing(document, chunks, sentence_vectors, replaces)])
        entries: dict[str, str]
        entries, rev = self._published.pop(document.id, ({}, ""))
        try:
            with self.db:
                # Only ids that are really there: deleting nothing still costs queries.
                stale = [*replaces, *([document.id] if self.has_document(document.id) else [])]
                for old_id in set(stale):
                    self._delete_rows(old_id)
                self._insert_rows(document, chunks, sentence_vectors)
                if self.team is not None:
                    self.team.note_published(document.id, rev, replaces)
                    self.team.note_entries(entries)
        except sqlite3.Error as error:
            if self.team is None:
                with self.chroma.errors("clean up vectors"):
                    collection.delete(ids=[chunk.id for chunk in chunks])
            raise sqlite_error(self.path, f"write document {document.id} to", error) from None
        if self.team is None:
            for old_id in replaces:
                if old_id != document.id:
                    self._delete_vectors(old_id)

    def add_documents(
        self, documents: Sequence[tuple[Document, Sequence[Chunk], Vectors, Vectors, Sequence[str]]]
    ) -> None:
        """Store several documents whose chunk vectors are in Chroma already (``add_vectors``):
        (document, chunks, chunk vectors, sentence vectors, ids it replaces).  Each is
        committed on its own (``add_document``); in team mode all their records are
        published first, in a few requests for the batch instead of a few per document."""
        if not documents:
            return
        if self.team is not None:
            self._vectors(create=True)
            self._publish(
                [Outgoing(document, chunks, sentences, replaces)
                 for document, chunks, _, sentences, replaces in documents]
            )  # fmt: skip
        for document, chunks, chunk_vectors, sentence_vectors, replaces in documents:
            self.add_document(
                document,
                chunks,
                chunk_vectors,
                sentence_vectors,
                replaces=replaces,
                vectors_added=True,
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
            self.db.executemany(
                "INSERT OR REPLACE INTO word_vectors VALUES (?, ?, ?)",
                [
                    (self.collection_name, word, _blob(vector))
                    for word, vector in zip(words, vectors, strict=True)
                ],
            )

    def _insert_rows(
        self, document: Document, chunks: Sequence[Chunk], sentence_vectors: Vectors
    ) -> None:
        self.db.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self.collection_name,
                document.id,
                document.title,
                document.source,
                document.text,
                json.dumps([[s.start, s.end] for s in document.sentences]),
                document.ingested_at or datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        first = self._next_fts_rowid()
        self.db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    self.collection_name,
                    chunk.id,
                    chunk.doc_id,
                    chunk.index,
                    chunk.first_sentence,
                    chunk.last_sentence,
                    chunk.start,
                    chunk.end,
                    chunk.token_count,
                    first + n,
                )
                for n, chunk in enumerate(chunks)
            ],
        )
        self._insert_fts_rows(document, chunks, first)
        self.db.execute(
            "INSERT INTO sentence_vectors VALUES (?, ?, ?)",
            (
                self.collection_name,
                document.id,
                _blob(sentence_vectors),
            ),
        )

    def _next_fts_rowid(self) -> int:
        """The first free full-text rowid.  Explicit rowids, recorded beside each chunk; the
        writer lock and the open transaction keep another writer from taking the same ones."""
        last = max(
            self.db.execute("SELECT MAX(fts_rowid) FROM chunks").fetchone()[0] or 0,
            self.db.execute("SELECT MAX(rowid) FROM chunk_text").fetchone()[0] or 0,
        )
        return int(last) + 1

    def _insert_fts_rows(self, document: Document, chunks: Sequence[Chunk], first: int) -> None:
        self.db.executemany(
            "INSERT INTO chunk_text (rowid, text, chunk_id, collection, doc_id) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (
                    first + n,
                    _lexical_text(document, chunk),
                    chunk.id,
                    self.collection_name,
                    chunk.doc_id,
                )
                for n, chunk in enumerate(chunks)
            ],
        )

    def rebuild_fts_rows(self, doc_id: str, *, clean: bool = True) -> int:
        """Write a document's full-text rows again from its stored chunks (``qa repair``);
        returns how many.  Call inside a transaction.  ``clean``: delete its old rows first
        (the caller may have deleted the whole collection's)."""
        document = self.get_document(doc_id)
        chunks = self.document_chunks(doc_id)
        if clean:
            self.db.execute(
                "DELETE FROM chunk_text WHERE rowid IN "
                "(SELECT fts_rowid FROM chunks WHERE collection = ? AND doc_id = ?)",
                (self.collection_name, doc_id),
            )
            # Rows of this document a broken link left behind, found by their own columns.
            self.db.execute(
                "DELETE FROM chunk_text WHERE rowid IN (SELECT rowid FROM chunk_text "
                "WHERE collection = ? AND doc_id = ?)",
                (self.collection_name, doc_id),
            )
        first = self._next_fts_rowid()
        self._insert_fts_rows(document, chunks, first)
        self.db.executemany(
            "UPDATE chunks SET fts_rowid = ? WHERE collection = ? AND id = ?",
            [(first + n, self.collection_name, chunk.id) for n, chunk in enumerate(chunks)],
        )
        return len(chunks)

    def set_sentence_vectors(self, doc_id: str, vectors: Vectors) -> None:
        """Replace a document's sentence vectors (``qa repair``)."""
        with self.transaction("write sentence vectors to"):
            self.db.execute(
                "INSERT OR REPLACE INTO sentence_vectors VALUES (?, ?, ?)",
                (self.collection_name, doc_id, _blob(vectors)),
            )

    def remove_document(self, doc_id: str) -> int:
        """Delete a document from both indexes, together or not at all; returns the number
        of chunks removed."""
        row = self._one("SELECT COUNT(*) FROM chunks WHERE collection = ? AND doc_id = ?", doc_id)
        removed = int(row[0]) if row else 0
        if self.team is not None:
            # The server first: it is the truth, and once its record is gone the document
            # is gone for every teammate; the cache follows.
            entry = self.team.unpublish(doc_id)
            with self.transaction(f"forget document {doc_id} in"):
                self._delete_rows(doc_id)
                self.team.note_removed(doc_id, entry)
            return removed
        collection = self._vectors(create=False)
        saved = self._saved_vectors(collection, doc_id)
        try:
            with self.db:
                self._delete_rows(doc_id)
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
        known = {
            row[0]
            for row in self.db.execute(
                "SELECT id FROM chunks WHERE collection = ?", (self.collection_name,)
            )
        }
        return sorted(self.vector_ids() - known)

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
        if collection is None or self.damaged_copies() or not self._has_chunks():
            return 0
        with self.chroma.errors("count"):
            if collection.count() == self.count_chunks():
                return 0
        orphans = self.orphan_vector_ids()
        self.delete_vectors(orphans)
        if orphans:
            log.warning("removed %d vectors left by an interrupted write", len(orphans))
        return len(orphans)

    def _delete_rows(self, doc_id: str) -> None:
        key = (self.collection_name, doc_id)
        # Full-text rows first, found through the chunks that point at them.
        self.db.execute(
            "DELETE FROM chunk_text WHERE rowid IN "
            "(SELECT fts_rowid FROM chunks WHERE collection = ? AND doc_id = ?)",
            key,
        )
        for table in ("documents", "chunks", "sentence_vectors"):
            column = "id" if table == "documents" else "doc_id"
            self.db.execute(f"DELETE FROM {table} WHERE collection = ? AND {column} = ?", key)

    def _delete_collection_rows(self) -> None:
        self.db.execute(
            "DELETE FROM chunk_text WHERE rowid IN "
            "(SELECT fts_rowid FROM chunks WHERE collection = ?)",
            (self.collection_name,),
        )
        for table in ("documents", "chunks", "sentence_vectors", "word_vectors"):
            self.db.execute(f"DELETE FROM {table} WHERE collection = ?", (self.collection_name,))
        self.db.execute("DELETE FROM collections WHERE name = ?", (self.collection_name,))

    def drop_collection(self) -> None:
        """Remove the whole collection: Chroma's collection is deleted inside the open SQLite
        transaction, so a failure of either leaves the documents in place."""
        self._collection = None
        if self.team is not None:
            self.team.drop()
            with self.transaction("forget the collection in"):
                self._delete_collection_rows()
                self.team.forget_state()
            return
        with self.transaction("forget the collection in"):
            self._delete_collection_rows()
            if self.chroma.exists():
                self.chroma.delete_collection(self.collection_name)

    # -- reading --------------------------------------------------------------

    def has_document(self, doc_id: str) -> bool:
        return (
            self._one("SELECT 1 FROM documents WHERE collection = ? AND id = ?", doc_id) is not None
        )

    def find_by_source(self, source: str) -> list[str]:
        return [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM documents WHERE collection = ? AND source = ?",
                (self.collection_name, source),
            )
        ]

    def resolve_doc_id(self, prefix: str) -> str:
        """A full document id from an id or a unique prefix of one."""
        matches: list[str] = [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM documents WHERE collection = ? AND id LIKE ? ESCAPE '\\'",
                (self.collection_name, _like_prefix(prefix)),
            )
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UnknownDocumentError(
                f"no document {prefix!r} in collection {self.collection_name!r}",
                fix="run qa list to see document ids",
            )
        raise UnknownDocumentError(
            f"document id {prefix!r} is ambiguous ({len(matches)} matches)",
            fix="give more characters of the id",
        )

    def get_document(self, doc_id: str) -> Document:
        row = self._one(
            "SELECT id, title, source, text, sentences, ingested_at FROM documents "
            "WHERE collection = ? AND id = ?",
            doc_id,
        )
        if row is None:
            raise UnknownDocumentError(
                f"no document {doc_id!r} in collection {self.collection_name!r}",
                fix="run qa list to see document ids",
            )
        text = row[3]
        sentences = tuple(
            Sentence(index, start, end, text[start:end])
            for index, (start, end) in enumerate(json.loads(row[4]))
        )
        return Document(row[0], row[1], row[2], text, sentences, row[5])

    def get_chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        found: dict[str, Chunk] = {}
        for chunk_id in chunk_ids:
            row = self._one(
                "SELECT c.doc_id, c.idx, c.first_sentence, c.last_sentence, c.start, c.end, "
                "c.tokens, d.text FROM chunks c JOIN documents d "
                "ON d.collection = c.collection AND d.id = c.doc_id "
                "WHERE c.collection = ? AND c.id = ?",
                chunk_id,
            )
            if row is None:
                continue
            doc_id, index, first, last, start, end, tokens, text = row
            found[chunk_id] = Chunk(doc_id, index, first, last, start, end, text[start:end], tokens)
        return found

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks in order, with their text."""
        text = self.get_document(doc_id).text
        rows = self.db.execute(
            "SELECT idx, first_sentence, last_sentence, start, end, tokens FROM chunks "
            "WHERE collection = ? AND doc_id = ? ORDER BY idx",
            (self.collection_name, doc_id),
        ).fetchall()
        return [
            Chunk(doc_id, index, first, last, start, end, text[start:end], tokens)
            for index, first, last, start, end, tokens in rows
        ]

    def sentence_vectors(self, doc_id: str) -> Vectors:
        row = self._one(
            "SELECT vectors FROM sentence_vectors WHERE collection = ? AND doc_id = ?", doc_id
        )
        if row is None:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return np.frombuffer(row[0], dtype=np.float32).reshape(-1, self.embedder.dimension)

    def word_vectors(self, words: Sequence[str]) -> dict[str, Vectors]:
        """The stored vectors of those lower-case words the collection's vocabulary has."""
        return {
            word: np.frombuffer(blob, dtype=np.float32)
            for word, blob in self._vocabulary("word, vector", words)
        }

    def missing_words(self, words: Sequence[str]) -> list[str]:
        """Those lower-case words the collection's vocabulary lacks, sorted."""
        known = {row[0] for row in self._vocabulary("word", words)}
        return sorted(set(words) - known)

    def _vocabulary(self, columns: str, words: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        unique = sorted(set(words))
        # SQLite caps the number of parameters in one statement.
        for begin in range(0, len(unique), 500):
            part = unique[begin : begin + 500]
            yield from self.db.execute(
                f"SELECT {columns} FROM word_vectors WHERE collection = ? AND word IN "
                f"({', '.join('?' * len(part))})",
                (self.collection_name, *part),
            )

    def list_documents(self) -> list[DocumentInfo]:
        rows = self.db.execute(
            "SELECT d.id, d.title, d.source, d.sentences, d.ingested_at, "
            "(SELECT COUNT(*) FROM chunks c WHERE c.collection = d.collection AND c.doc_id = d.id) "
            "FROM documents d WHERE d.collection = ? ORDER BY d.ingested_at, d.id",
            (self.collection_name,),
        ).fetchall()
        return [
            DocumentInfo(row[0], row[1], row[2], len(json.loads(row[3])), row[5], row[4])
            for row in rows
        ]

    def doc_ids(self) -> list[str]:
        return [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM documents WHERE collection = ? ORDER BY ingested_at, id",
                (self.collection_name,),
            )
        ]

    def count_chunks(self) -> int:
        row = self._one("SELECT COUNT(*) FROM chunks WHERE collection = ?")
        return int(row[0]) if row else 0

    def _has_chunks(self) -> bool:
        return self._one("SELECT 1 FROM chunks WHERE collection = ? LIMIT 1") is not None

    def count_vectors(self) -> int:
        collection = self._vectors(create=False)
        if collection is None:
            return 0
        with self.chroma.errors("count"):
            return collection.count()

    def require_documents(self) -> None:
        if self._one("SELECT 1 FROM documents WHERE collection = ? LIMIT 1") is None:
            raise NotIngestedError(
                f"collection {self.collection_name!r} has no documents",
                fix="run qa ingest PATH first",
            )

    # -- search ---------------------------------------------------------------

    def dense_search(
        self, vector: Vectors, k: int, doc_id: str | None = None
    ) -> list[tuple[str, float]]:
        collection = self._vectors(create=False)
        if collection is None:
            return []
        where: Any = {"doc_id": doc_id} if doc_id else None
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
        """BM25 over the chunks; ``stopwords`` are left out of the query.

        Leaving them out barely changes the ranking (BM25 gives a word in every
        chunk almost no weight) but spares scoring every chunk that has one.
        """
        terms = {
            term.lower()
            for term in WORD.findall(query)
            if len(term) > 1 and term.lower() not in stopwords
        }
        if not terms:
            return []
        # Quoting each term keeps FTS5 operators in the question from being parsed.
        match = " OR ".join(f'"{term}"' for term in sorted(terms))
        sql = "SELECT chunk_id, bm25(chunk_text) AS rank FROM chunk_text WHERE chunk_text MATCH ?"
        params: list[str | int] = [match]
        # Filtering on an UNINDEXED column reads it for every row that matches (most of
        # the cost at 100k chunks); rowids from the chunks' indexes restrict the search.
        if doc_id:
            sql += (
                " AND rowid IN (SELECT fts_rowid FROM chunks WHERE collection = ? AND doc_id = ?)"
            )
            params += [self.collection_name, doc_id]
        elif self._other_collections():
            sql = (
                "SELECT c.id, bm25(chunk_text) AS rank FROM chunk_text "
                "JOIN chunks AS c ON c.fts_rowid = chunk_text.rowid "
                "WHERE chunk_text MATCH ? AND c.collection = ?"
            )
            params.append(self.collection_name)
        sql += " ORDER BY rank LIMIT ?"
        params.append(k)
        # FTS5's bm25() is lower-is-better; flip it so larger is better everywhere.
        return [(row[0], -float(row[1])) for row in self.db.execute(sql, params)]

    # -- helpers --------------------------------------------------------------

    def _other_collections(self) -> bool:
        """Whether chunks of another collection share this database (two index seeks)."""
        return any(
            self.db.execute(
                f"SELECT 1 FROM chunks WHERE collection {op} ? LIMIT 1", (self.collection_name,)
            ).fetchone()
            for op in ("<", ">")
        )

    def _one(self, sql: str, *args: str) -> Any:
        return self.db.execute(sql, (self.collection_name, *args)).fetchone()


def _lexical_text(document: Document, chunk: Chunk) -> str:
    # The title is indexed with each chunk, so a question naming the story still finds it.
    return f"{document.title}\n{chunk.text}" if document.title else chunk.text


def _blob(vectors: Vectors) -> bytes:
    return np.ascontiguousarray(vectors, dtype=np.float32).tobytes()


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
