"""The store: Chroma for chunk vectors, SQLite beside it for everything a citation needs.

Layout under ``$QA_HOME``::

    chroma/        Chroma PersistentClient (one collection per qa collection)
    qa.sqlite3     documents (cleaned text, sentence spans), chunks, sentence
                   vectors, and an FTS5 table that is the BM25 lexical index

SQLite owns the documents, so every citation is resolved against the exact
stored text; the FTS5 index is updated in the same transaction as the
document rows, so the lexical index cannot drift from them.  Chroma is written
first and cleaned up if the SQLite write fails, so no chunk is left orphaned.

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

With ``QA_CHROMA_URL`` the vectors live in a ``chroma run`` server; documents
and the lexical index stay in the local ``QA_HOME``.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator, Sequence, Set
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

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
from qa.index.embed import Embedder, MiniLMEmbedder, Vectors
from qa.types import Chunk, Document, DocumentInfo, DocumentMeta, Sentence

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL, source TEXT NOT NULL,
    text TEXT NOT NULL, sentences TEXT NOT NULL, ingested_at TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE INDEX IF NOT EXISTS documents_by_source ON documents (collection, source);
CREATE TABLE IF NOT EXISTS chunks (
    collection TEXT NOT NULL, id TEXT NOT NULL, doc_id TEXT NOT NULL, idx INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, tokens INTEGER NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (collection, doc_id);
CREATE TABLE IF NOT EXISTS sentence_vectors (
    collection TEXT NOT NULL, doc_id TEXT NOT NULL, vectors BLOB NOT NULL,
    PRIMARY KEY (collection, doc_id)
);
CREATE TABLE IF NOT EXISTS word_vectors (
    collection TEXT NOT NULL, word TEXT NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (collection, word)
);
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY, embedder TEXT NOT NULL, dimension INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5 (
    text, chunk_id UNINDEXED, collection UNINDEXED, doc_id UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

# Version 3 links each chunk to its full-text row (chunks.fts_rowid), so a search restricted
# to one collection or document, and a delete, find their rows through an index instead of
# reading the UNINDEXED columns of every row that matches.  (Not chunks.rowid: VACUUM may
# renumber that; it leaves FTS5's own rowids alone.)
FTS_LINK = """
ALTER TABLE chunks ADD COLUMN fts_rowid INTEGER;
CREATE INDEX IF NOT EXISTS chunks_by_fts_rowid ON chunks (fts_rowid);
"""
# Version 4 keeps what a page, feed entry or PDF says about an article (outlet, author,
# publication date, canonical URL, language) beside it; NULL where it said nothing, and
# in documents stored before version 4.
DOCUMENT_META_COLUMNS = ("site", "author", "published", "url", "language")
SCHEMA_VERSION = 4
WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Chroma caps one add() call at a little over 5,000 records.
CHROMA_BATCH = 5000
# SQLite waits this long for another connection's short write transaction.
BUSY_TIMEOUT_S = 30.0

log = logging.getLogger("qa")


class Store:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.collection_name = settings.collection
        self._embedder = embedder
        self._client: ClientAPI | None = None
        self._collection: Collection | None = None
        self._lock = FileLock(settings.home / "write.lock")
        try:
            settings.home.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(settings.home / "qa.sqlite3", timeout=BUSY_TIMEOUT_S)
            if self.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                self._upgrade()
            # WAL: readers keep reading their snapshot while a writer commits.
            self.db.execute("PRAGMA journal_mode = WAL")
        except (OSError, sqlite3.Error) as error:
            raise StoreError(
                f"cannot open the store in {settings.home}: {error}",
                fix="set QA_HOME to a writable folder",
            ) from None

    def _upgrade(self) -> None:
        """Create the tables, or bring an older store up to ``SCHEMA_VERSION``.

        One immediate transaction, with the version read again inside it, so two
        processes opening an old store at once upgrade it once."""
        previous = self.db.isolation_level
        self.db.isolation_level = None
        try:
            self.db.execute("BEGIN IMMEDIATE")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                self._run_script(SCHEMA)
                columns = {row[1] for row in self.db.execute("PRAGMA table_info(chunks)")}
                if "fts_rowid" not in columns:
                    self._run_script(FTS_LINK)
                    self._link_fts_rows()
                self._add_document_meta()
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        finally:
            self.db.isolation_level = previous

    def _run_script(self, script: str) -> None:
        # Statement by statement: executescript() would commit the open transaction first.
        for statement in script.split(";"):
            if statement.strip():
                self.db.execute(statement)

    def _add_document_meta(self) -> None:
        """Schema 4: the metadata columns of documents (idempotent: adds only missing ones)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(documents)")}
        for column in DOCUMENT_META_COLUMNS:
            if column not in columns:
                self.db.execute(f"ALTER TABLE documents ADD COLUMN {column} TEXT")

    def _link_fts_rows(self) -> None:
        """Fill chunks.fts_rowid in a store written before version 3: one pass over the
        full-text rows, then one indexed update per chunk."""
        links = self.db.execute("SELECT rowid, collection, chunk_id FROM chunk_text").fetchall()
        if links:
            log.info("linking %d chunks to their full-text rows (once, for schema 3)", len(links))
        self.db.executemany(
            "UPDATE chunks SET fts_rowid = ? WHERE collection = ? AND id = ?", links
        )

    @classmethod
    def open(cls, settings: Settings | None = None, embedder: Embedder | None = None) -> Store:
        return cls(settings or Settings.from_env(), embedder)

    @classmethod
    @contextmanager
    def using(cls, store: Store | None, settings: Settings | None) -> Iterator[Store]:
        """The caller's store as it is, or one opened from settings and closed after."""
        if store is not None:
            yield store
            return
        opened = cls.open(settings)
        try:
            yield opened
        finally:
            opened.close()

    def close(self) -> None:
        self.db.close()
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

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = MiniLMEmbedder()
        return self._embedder

    # -- Chroma ---------------------------------------------------------------

    def _chroma(self) -> ClientAPI:
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            if self.settings.chroma_url:
                url = urlparse(self.settings.chroma_url)
                with self._chroma_errors("connect"):
                    self._client = chromadb.HttpClient(
                        host=url.hostname or "127.0.0.1",
                        port=url.port or (443 if url.scheme == "https" else 8000),
                        ssl=url.scheme == "https",
                        settings=chroma_settings,
                    )
            else:
                path = self.settings.home / "chroma"
                with self._chroma_errors("open"):
                    self._client = chromadb.PersistentClient(
                        path=str(path), settings=chroma_settings
                    )
        return self._client

    @contextmanager
    def _chroma_errors(self, action: str) -> Iterator[None]:
        """A failing Chroma operation becomes one StoreError naming the server or folder."""
        try:
            yield
        except QAError:
            raise
        except Exception as error:  # Chroma and httpx raise many types for "down" and "broken".
            raise self._chroma_error(action, error) from None

    def _chroma_error(self, action: str, error: Exception) -> StoreError:
        if self.settings.chroma_url:
            return StoreError(
                f"cannot reach Chroma at {self.settings.chroma_url} "
                f"({action}: {_first_line(error)})",
                fix="start it with: chroma run --path DIR --host 127.0.0.1 --port PORT, "
                "or fix --chroma-url / QA_CHROMA_URL",
            )
        return StoreError(
            f"Chroma failed ({action}) in {self.settings.home / 'chroma'}: {_first_line(error)}",
            fix="check QA_HOME; qa forget --all and ingest again if the folder is damaged",
        )

    def _vectors(self, create: bool) -> Collection | None:
        """The Chroma collection, checked to be built with our embedder."""
        if self._collection is not None:
            return self._collection
        self._check_embedder(create)
        client = self._chroma()
        metadata: dict[str, str | int] = {
            "embedder": self.embedder.name,
            "dimension": self.embedder.dimension,
            "hnsw:space": "cosine",
        }
        if create:
            with self._chroma_errors("open collection"):
                collection = client.get_or_create_collection(
                    self.collection_name, metadata=metadata, embedding_function=None
                )
        else:
            try:
                collection = client.get_collection(self.collection_name, embedding_function=None)
            except Exception as error:  # Chroma raises several types for "missing" and "down".
                if "does not exist" in str(error).lower():
                    return None
                raise self._chroma_error("open collection", error) from None
        stored = collection.metadata or {}
        if stored.get("embedder") != self.embedder.name:
            raise EmbedderMismatchError(
                f"collection {self.collection_name!r} was built with embedder "
                f"{stored.get('embedder')!r}, not {self.embedder.name!r}",
                fix="use a new --collection, or qa forget --all and ingest again",
            )
        self._collection = collection
        return collection

    def _check_embedder(self, create: bool) -> None:
        row = self.db.execute(
            "SELECT embedder, dimension FROM collections WHERE name = ?", (self.collection_name,)
        ).fetchone()
        if row is None:
            if create:
                with self.db:
                    self.db.execute(
                        "INSERT INTO collections VALUES (?, ?, ?)",
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

        ``vectors_added``: its chunk vectors are already in Chroma (``add_vectors``)."""
        collection = self._vectors(create=True)
        assert collection is not None
        ids = [chunk.id for chunk in chunks]
        if not vectors_added:
            self.add_vectors([(document, chunks, chunk_vectors)])
        try:
            with self.db:
                # Only ids that are really there: deleting nothing still costs queries.
                stale = [*replaces, *([document.id] if self.has_document(document.id) else [])]
                for old_id in set(stale):
                    self._delete_rows(old_id)
                self._insert_rows(document, chunks, sentence_vectors)
        except sqlite3.Error as error:
            with self._chroma_errors("clean up vectors"):
                collection.delete(ids=ids)
            raise StoreError(f"cannot write document {document.id}: {error}") from None
        for old_id in replaces:
            if old_id != document.id:
                self._delete_vectors(old_id)

    def add_vectors(self, documents: Sequence[tuple[Document, Sequence[Chunk], Vectors]]) -> None:
        """Write the chunk vectors of several documents in as few Chroma calls as it allows.

        Chroma spends tens of milliseconds per call however few records it gets, so
        ingest writes a batch of documents' vectors at once, then commits each document
        with ``add_document(..., vectors_added=True)``.  Vectors are invisible until
        SQLite knows their chunk; a writer killed in between leaves orphans that the
        next writer sweeps."""
        collection = self._vectors(create=True)
        assert collection is not None
        records = [
            (chunk, document.title, vector)
            for document, chunks, vectors in documents
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        for begin in range(0, len(records), CHROMA_BATCH):
            part = records[begin : begin + CHROMA_BATCH]
            with self._chroma_errors("add vectors"):
                collection.upsert(
                    ids=[chunk.id for chunk, _, _ in part],
                    embeddings=np.stack([vector for _, _, vector in part]),
                    documents=[chunk.text for chunk, _, _ in part],
                    metadatas=[
                        {"doc_id": chunk.doc_id, "index": chunk.index, "title": title}
                        for chunk, title, _ in part
                    ],
                )

    def add_words(self, words: Sequence[str], vectors: Vectors) -> None:
        """Add lower-case words and their vectors to the collection's vocabulary."""
        with self.db:
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
            "INSERT INTO documents (collection, id, title, source, text, sentences, ingested_at, "
            f"{', '.join(DOCUMENT_META_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.collection_name,
                document.id,
                document.title,
                document.source,
                document.text,
                json.dumps([[s.start, s.end] for s in document.sentences]),
                document.ingested_at or datetime.now(UTC).isoformat(timespec="seconds"),
                *(getattr(document.meta, column) for column in DOCUMENT_META_COLUMNS),
            ),
        )
        # Explicit full-text rowids, recorded beside each chunk; the writer lock and this
        # transaction keep another writer from taking the same numbers.
        last = max(
            self.db.execute("SELECT MAX(fts_rowid) FROM chunks").fetchone()[0] or 0,
            self.db.execute("SELECT MAX(rowid) FROM chunk_text").fetchone()[0] or 0,
        )
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
                    last + 1 + n,
                )
                for n, chunk in enumerate(chunks)
            ],
        )
        self.db.executemany(
            "INSERT INTO chunk_text (rowid, text, chunk_id, collection, doc_id) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (
                    last + 1 + n,
                    _lexical_text(document, chunk),
                    chunk.id,
                    self.collection_name,
                    chunk.doc_id,
                )
                for n, chunk in enumerate(chunks)
            ],
        )
        self.db.execute(
            "INSERT INTO sentence_vectors VALUES (?, ?, ?)",
            (
                self.collection_name,
                document.id,
                _blob(sentence_vectors),
            ),
        )

    def remove_document(self, doc_id: str) -> int:
        """Delete a document from both indexes; returns the number of chunks removed."""
        row = self._one("SELECT COUNT(*) FROM chunks WHERE collection = ? AND doc_id = ?", doc_id)
        # SQLite first: once it commits the document is gone, whatever happens to Chroma next.
        with self.db:
            self._delete_rows(doc_id)
        self._delete_vectors(doc_id)
        return int(row[0]) if row else 0

    def _delete_vectors(self, doc_id: str) -> None:
        collection = self._vectors(create=False)
        if collection is not None:
            # By metadata, so chunks from an interrupted write go as well.
            with self._chroma_errors("delete vectors"):
                collection.delete(where={"doc_id": doc_id})

    def sweep_orphans(self) -> int:
        """Delete vectors whose chunk SQLite does not know (left by a killed writer)."""
        collection = self._vectors(create=False)
        if collection is None:
            return 0
        with self._chroma_errors("count"):
            if collection.count() == self.count_chunks():
                return 0
        known = {
            row[0]
            for row in self.db.execute(
                "SELECT id FROM chunks WHERE collection = ?", (self.collection_name,)
            )
        }
        orphans: list[str] = []
        offset = 0
        while True:
            with self._chroma_errors("list vectors"):
                page = collection.get(include=[], limit=CHROMA_BATCH, offset=offset)
            orphans.extend(chunk_id for chunk_id in page["ids"] if chunk_id not in known)
            if len(page["ids"]) < CHROMA_BATCH:
                break
            offset += CHROMA_BATCH
        for begin in range(0, len(orphans), CHROMA_BATCH):
            batch = orphans[begin : begin + CHROMA_BATCH]
            with self._chroma_errors("delete vectors"):
                collection.delete(ids=batch)
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

    def drop_collection(self) -> None:
        """Remove the whole collection from SQLite, then from Chroma."""
        with self.db:
            self.db.execute(
                "DELETE FROM chunk_text WHERE rowid IN "
                "(SELECT fts_rowid FROM chunks WHERE collection = ?)",
                (self.collection_name,),
            )
            for table in ("documents", "chunks", "sentence_vectors"):
                self.db.execute(
                    f"DELETE FROM {table} WHERE collection = ?", (self.collection_name,)
                )
            self.db.execute(
                "DELETE FROM word_vectors WHERE collection = ?", (self.collection_name,)
            )
            self.db.execute("DELETE FROM collections WHERE name = ?", (self.collection_name,))
        client = self._chroma()
        self._collection = None
        try:
            client.delete_collection(self.collection_name)
        except Exception as error:  # Chroma raises different types when it is missing.
            if "does not exist" not in str(error).lower():
                raise self._chroma_error("delete collection", error) from None

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
            "SELECT id, title, source, text, sentences, ingested_at, "
            f"{', '.join(DOCUMENT_META_COLUMNS)} FROM documents WHERE collection = ? AND id = ?",
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
        return Document(row[0], row[1], row[2], text, sentences, row[5], _meta(row[6:]))

    def get_chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        found: dict[str, Chunk] = {}
        texts: dict[str, str] = {}
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
            texts[doc_id] = text
            found[chunk_id] = Chunk(doc_id, index, first, last, start, end, text[start:end], tokens)
        return found

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
            "(SELECT COUNT(*) FROM chunks c WHERE c.collection = d.collection "
            "AND c.doc_id = d.id), "
            + ", ".join(f"d.{column}" for column in DOCUMENT_META_COLUMNS)
            + " FROM documents d WHERE d.collection = ? ORDER BY d.ingested_at, d.id",
            (self.collection_name,),
        ).fetchall()
        return [
            DocumentInfo(
                row[0], row[1], row[2], len(json.loads(row[3])), row[5], row[4], _meta(row[6:])
            )
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

    def count_vectors(self) -> int:
        collection = self._vectors(create=False)
        if collection is None:
            return 0
        with self._chroma_errors("count"):
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
        with self._chroma_errors("search"):
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


def _meta(values: Sequence[str | None]) -> DocumentMeta:
    return DocumentMeta(**dict(zip(DOCUMENT_META_COLUMNS, values, strict=True)))


def _lexical_text(document: Document, chunk: Chunk) -> str:
    # The title is indexed with each chunk, so a question naming the story still finds it.
    return f"{document.title}\n{chunk.text}" if document.title else chunk.text


def _blob(vectors: Vectors) -> bytes:
    return np.ascontiguousarray(vectors, dtype=np.float32).tobytes()


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
