"""The SQLite side of a store: documents, chunks, sentence and word vectors, and the FTS5
index that is the BM25 lexical index, for one collection.

SQLite owns the documents, so every citation is resolved against the exact stored
text; the FTS5 rows are written in the same transaction as the document rows, so
the lexical index cannot drift from them.  Each chunk records the rowid of its
FTS5 row (``chunks.fts_rowid``), so a search restricted to one collection or
document, and a delete, go through indexes.  The schema and its upgrades are in
:mod:`qa.index.migrations`.

Every SQLite failure becomes one :class:`~qa.index.chroma.StoreFault`: a transient
fault (a full disk, no permission, a lock) says what to free or change; damage
says ``qa repair``.
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
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from qa.config import Settings
from qa.errors import (
    EmbedderMismatchError,
    NotIngestedError,
    QAError,
    StoreError,
    UnknownDocumentError,
)
from qa.index import migrations
from qa.index.chroma import StoreFault, fault_kind, transient_fix
from qa.index.embed import Embedder, Vectors
from qa.index.identity import content_hash, source_key
from qa.index.migrations import DOCUMENT_META_COLUMNS
from qa.types import Chunk, Document, DocumentInfo, DocumentMeta, Sentence

WORD = re.compile(r"[^\W_]+", re.UNICODE)
# SQLite waits this long for another connection's short write transaction.
BUSY_TIMEOUT_S = 30.0
DATABASE = "qa.sqlite3"
# Bytes written per step of an incremental blob write (sentence vectors).
BLOB_PIECE = 1 << 20

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
def sqlite_errors(path: Path) -> Iterator[None]:
    """A SQLite error inside (a damaged page met while reading) becomes one StoreError."""
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


class Rows:
    """The rows of one collection in one SQLite database."""

    def __init__(self, db: sqlite3.Connection, path: Path, collection: str) -> None:
        self.db = db
        self.path = path
        self.collection = collection

    @classmethod
    def open(cls, path: Path, collection: str) -> Rows:
        return cls(open_database(path), path, collection)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self, action: str, *, immediate: bool = False) -> Iterator[None]:
        """One SQLite transaction; a failure becomes a StoreError that names the fault.
        ``immediate``: take the write lock at the start, so what it reads inside cannot be
        changed by another process before it writes (two commands syncing a team cache)."""
        try:
            with self.db:
                if immediate and not self.db.in_transaction:
                    self.db.execute("BEGIN IMMEDIATE")
                yield
        except sqlite3.Error as error:
            raise sqlite_error(self.path, action, error) from None

    def check_embedder(self, embedder: Embedder, *, create: bool) -> None:
        """Refuse a collection built with another embedder; record ours for a new one."""
        row = self.db.execute(
            "SELECT embedder, dimension FROM collections WHERE name = ?", (self.collection,)
        ).fetchone()
        if row is None:
            if create:
                with self.transaction("write"):
                    self.db.execute(
                        "INSERT OR IGNORE INTO collections VALUES (?, ?, ?)",
                        (self.collection, embedder.name, embedder.dimension),
                    )
            return
        if (row[0], row[1]) != (embedder.name, embedder.dimension):
            raise EmbedderMismatchError(
                f"collection {self.collection!r} was built with embedder {row[0]} "
                f"({row[1]} dimensions), not {embedder.name} "
                f"({embedder.dimension} dimensions)",
                fix="use a new --collection for this embedder",
            )

    # -- writing (inside a transaction) ---------------------------------------

    def insert_document(
        self,
        document: Document,
        chunks: Sequence[Chunk],
        sentence_vectors: Vectors,
        sources: Sequence[str] = (),
    ) -> None:
        """Insert a document's rows; ``sources``: normalised sources (``source_key``) that
        now name it (the sources table; a source naming another document moves here)."""
        self.db.execute(
            "INSERT INTO documents (collection, id, title, source, text, sentences, "
            f"ingested_at, version, {', '.join(DOCUMENT_META_COLUMNS)}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.collection,
                document.id,
                document.title,
                document.source,
                document.text,
                json.dumps([[s.start, s.end] for s in document.sentences]),
                document.ingested_at or datetime.now(UTC).isoformat(timespec="seconds"),
                document.version or content_hash(document.title, document.text),
                *(getattr(document.meta, column) for column in DOCUMENT_META_COLUMNS),
            ),
        )
        self.db.executemany(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?)",
            [(self.collection, key, document.id) for key in sources],
        )
        first = self._next_fts_rowid()
        self.db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    self.collection,
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
        self._write_sentence_vectors("INSERT", document.id, sentence_vectors)

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
                (first + n, lexical_text(document, chunk), chunk.id, self.collection, chunk.doc_id)
                for n, chunk in enumerate(chunks)
            ],
        )

    def rebuild_fts_rows(self, doc_id: str, *, clean: bool = True) -> int:
        """Write a document's full-text rows again from its stored chunks (``qa repair``);
        returns how many.  ``clean``: delete its old rows first (the caller may have
        deleted the whole collection's)."""
        document = self.get_document(doc_id)
        chunks = self.document_chunks(doc_id)
        if clean:
            self.db.execute(
                "DELETE FROM chunk_text WHERE rowid IN "
                "(SELECT fts_rowid FROM chunks WHERE collection = ? AND doc_id = ?)",
                (self.collection, doc_id),
            )
            # Rows of this document a broken link left behind, found by their own columns.
            self.db.execute(
                "DELETE FROM chunk_text WHERE rowid IN (SELECT rowid FROM chunk_text "
                "WHERE collection = ? AND doc_id = ?)",
                (self.collection, doc_id),
            )
        first = self._next_fts_rowid()
        self._insert_fts_rows(document, chunks, first)
        self.db.executemany(
            "UPDATE chunks SET fts_rowid = ? WHERE collection = ? AND id = ?",
            [(first + n, self.collection, chunk.id) for n, chunk in enumerate(chunks)],
        )
        return len(chunks)

    def delete_document(self, doc_id: str, *, keep_sources: bool = False) -> None:
        """Delete a document's rows; ``keep_sources``: its sources keep naming its id (a
        new version of its text is inserted next)."""
        key = (self.collection, doc_id)
        # Full-text rows first, found through the chunks that point at them.
        self.db.execute(
            "DELETE FROM chunk_text WHERE rowid IN "
            "(SELECT fts_rowid FROM chunks WHERE collection = ? AND doc_id = ?)",
            key,
        )
        tables = ["documents", "chunks", "sentence_vectors"]
        if not keep_sources:
            tables.append("sources")
        for table in tables:
            column = "id" if table == "documents" else "doc_id"
            self.db.execute(f"DELETE FROM {table} WHERE collection = ? AND {column} = ?", key)

    def delete_collection(self) -> None:
        self.db.execute(
            "DELETE FROM chunk_text WHERE rowid IN "
            "(SELECT fts_rowid FROM chunks WHERE collection = ?)",
            (self.collection,),
        )
        for table in ("documents", "chunks", "sentence_vectors", "word_vectors", "sources"):
            self.db.execute(f"DELETE FROM {table} WHERE collection = ?", (self.collection,))
        self.db.execute("DELETE FROM collections WHERE name = ?", (self.collection,))

    def add_words(self, words: Sequence[str], vectors: Vectors) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO word_vectors VALUES (?, ?, ?)",
            [
                (self.collection, word, blob(vector))
                for word, vector in zip(words, vectors, strict=True)
            ],
        )

    def set_sentence_vectors(self, doc_id: str, vectors: Vectors) -> None:
        self._write_sentence_vectors("INSERT OR REPLACE", doc_id, vectors)

    def _write_sentence_vectors(self, verb: str, doc_id: str, vectors: Vectors) -> None:
        """A document's sentence vectors as one blob, written in pieces through SQLite's
        incremental blob I/O.  Bound as one value, SQLite copies a blob twice (the bound
        value, then the record it builds): 300 MB more at the peak for 100,000 sentences."""
        data = blob(vectors)
        cursor = self.db.execute(
            f"{verb} INTO sentence_vectors VALUES (?, ?, zeroblob(?))",
            (self.collection, doc_id, len(data)),
        )
        if not len(data) or cursor.lastrowid is None:
            return
        with self.db.blobopen("sentence_vectors", "vectors", cursor.lastrowid) as target:
            for begin in range(0, len(data), BLOB_PIECE):
                target.write(data[begin : begin + BLOB_PIECE])

    # -- reading --------------------------------------------------------------

    def has_document(self, doc_id: str) -> bool:
        return (
            self._one("SELECT 1 FROM documents WHERE collection = ? AND id = ?", doc_id) is not None
        )

    # -- identity (qa.index.identity) ------------------------------------------

    def source_owner(self, key: str) -> tuple[str, str | None] | None:
        """The id of the document holding this normalised source, and its text version
        (None when the sources table names a document that is not stored)."""
        row = self.db.execute(
            "SELECT s.doc_id, d.version FROM sources s LEFT JOIN documents d "
            "ON d.collection = s.collection AND d.id = s.doc_id "
            "WHERE s.collection = ? AND s.source = ?",
            (self.collection, key),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def document_with_version(self, version: str) -> str | None:
        """The id of the document holding this text version, if one does."""
        row = self._one("SELECT id FROM documents WHERE collection = ? AND version = ?", version)
        return None if row is None else str(row[0])

    def sources_of(self, doc_id: str) -> list[str]:
        """The normalised sources naming a document, its primary source first."""
        primary = self._one("SELECT source FROM documents WHERE collection = ? AND id = ?", doc_id)
        keys = [
            row[0]
            for row in self.db.execute(
                "SELECT source FROM sources WHERE collection = ? AND doc_id = ? ORDER BY rowid",
                (self.collection, doc_id),
            )
        ]
        first = source_key(primary[0]) if primary else None
        return sorted(keys, key=lambda key: key != first)

    def link_source(self, key: str, doc_id: str) -> tuple[list[str], list[str], list[str]]:
        """Point a normalised source at a stored document (inside a transaction).

        The document the source named before loses it, and is removed when no source
        names it any more; its primary source moves to the next one.  Returns the ids of
        the documents removed, their chunk ids, and the ids of the documents changed."""
        previous = self.source_owner(key)
        self.db.execute(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?)", (self.collection, key, doc_id)
        )
        changed = [doc_id]
        if previous is None or previous[0] == doc_id:
            return [], [], changed
        old_id = previous[0]
        left = self.sources_of(old_id)
        if not left and self.has_document(old_id):
            old_chunks = self.chunk_ids_of([old_id])
            self.delete_document(old_id)
            return [old_id], old_chunks, changed
        if left:
            primary = self._one(
                "SELECT source FROM documents WHERE collection = ? AND id = ?", old_id
            )
            if primary and source_key(primary[0]) == key:
                self.db.execute(
                    "UPDATE documents SET source = ? WHERE collection = ? AND id = ?",
                    (left[0], self.collection, old_id),
                )
                changed.append(old_id)
        return [], [], changed

    def set_meta(self, doc_id: str, meta: DocumentMeta) -> None:
        """Replace a document's metadata (inside a transaction)."""
        self.db.execute(
            f"UPDATE documents SET {', '.join(f'{c} = ?' for c in DOCUMENT_META_COLUMNS)} "
            "WHERE collection = ? AND id = ?",
            (*(getattr(meta, c) for c in DOCUMENT_META_COLUMNS), self.collection, doc_id),
        )

    def rename_document(self, doc_id: str, new_id: str, sources: Sequence[str]) -> None:
        """Give a document's rows a new id and these sources (inside a transaction)."""
        old = (self.collection, doc_id)
        # Full-text rows through the chunks' links, before the chunks change.
        self.db.execute(
            "UPDATE chunk_text SET doc_id = ? WHERE rowid IN "
            "(SELECT fts_rowid FROM chunks WHERE collection = ? AND doc_id = ?)",
            (new_id, *old),
        )
        for table, column in (
            ("documents", "id"),
            ("chunks", "doc_id"),
            ("sentence_vectors", "doc_id"),
        ):
            self.db.execute(
                f"UPDATE {table} SET {column} = ? WHERE collection = ? AND {column} = ?",
                (new_id, *old),
            )
        if sources:
            self.db.execute(
                "UPDATE documents SET source = ? WHERE collection = ? AND id = ?",
                (sources[0], self.collection, new_id),
            )
        self.db.executemany(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?)",
            [(self.collection, key, new_id) for key in sources],
        )

    def chunk_ids_of(self, doc_ids: Set[str] | Sequence[str]) -> list[str]:
        """The chunk ids of these documents."""
        return [
            row[0]
            for doc_id in doc_ids
            for row in self.db.execute(
                "SELECT id FROM chunks WHERE collection = ? AND doc_id = ?",
                (self.collection, doc_id),
            )
        ]

    def resolve_doc_id(self, prefix: str) -> str:
        """A full document id from an id or a unique prefix of one."""
        matches: list[str] = [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM documents WHERE collection = ? AND id LIKE ? ESCAPE '\\'",
                (self.collection, _like_prefix(prefix)),
            )
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UnknownDocumentError(
                f"no document {prefix!r} in collection {self.collection!r}",
                fix="run qa list to see document ids",
            )
        raise UnknownDocumentError(
            f"document id {prefix!r} is ambiguous ({len(matches)} matches)",
            fix="give more characters of the id",
        )

    def get_document(self, doc_id: str) -> Document:
        row = self._one(
            "SELECT id, title, source, text, sentences, ingested_at, version, "
            f"{', '.join(DOCUMENT_META_COLUMNS)} FROM documents WHERE collection = ? AND id = ?",
            doc_id,
        )
        if row is None:
            raise UnknownDocumentError(
                f"no document {doc_id!r} in collection {self.collection!r}",
                fix="run qa list to see document ids",
            )
        text = row[3]
        sentences = tuple(
            Sentence(index, start, end, text[start:end])
            for index, (start, end) in enumerate(json.loads(row[4]))
        )
        return Document(
            row[0],
            row[1],
            row[2],
            text,
            sentences,
            row[5],
            meta=_meta(row[7:]),
            version=row[6] or "",
            sources=self._sources(row),
        )

    def _sources(self, row: Sequence[Any]) -> tuple[str, ...]:
        """The sources of a documents row ``(id, title, source, ...)``: its own source
        (as ingested) first, then the others naming the same text."""
        first = source_key(row[2])
        others = [key for key in self.sources_of(row[0]) if key != first]
        return (row[2], *others)

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
            # The id is VERSION:N (DOC:N in stores older than schema 4, where DOC = VERSION).
            version = chunk_id.rpartition(":")[0]
            found[chunk_id] = Chunk(
                doc_id, index, first, last, start, end, text[start:end], tokens, version
            )
        return found

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks in order, with their text."""
        text = self.get_document(doc_id).text
        rows = self.db.execute(
            "SELECT idx, first_sentence, last_sentence, start, end, tokens, id FROM chunks "
            "WHERE collection = ? AND doc_id = ? ORDER BY idx",
            (self.collection, doc_id),
        ).fetchall()
        return [
            Chunk(
                doc_id, index, first, last, start, end, text[start:end], tokens,
                chunk_id.rpartition(":")[0],
            )
            for index, first, last, start, end, tokens, chunk_id in rows
        ]  # fmt: skip

    def chunk_ids(self) -> set[str]:
        return {
            row[0]
            for row in self.db.execute(
                "SELECT id FROM chunks WHERE collection = ?", (self.collection,)
            )
        }

    def sentence_vectors(self, doc_id: str, dimension: int) -> Vectors:
        row = self._one(
            "SELECT vectors FROM sentence_vectors WHERE collection = ? AND doc_id = ?", doc_id
        )
        if row is None:
            return np.zeros((0, dimension), dtype=np.float32)
        return np.frombuffer(row[0], dtype=np.float32).reshape(-1, dimension)

    def word_vectors(self, words: Sequence[str]) -> dict[str, Vectors]:
        """The stored vectors of those lower-case words the collection's vocabulary has."""
        return {
            word: np.frombuffer(data, dtype=np.float32)
            for word, data in self._vocabulary("word, vector", words)
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
                (self.collection, *part),
            )

    def list_documents(self) -> list[DocumentInfo]:
        rows = self.db.execute(
            "SELECT d.id, d.title, d.source, d.sentences, d.ingested_at, "
            "(SELECT COUNT(*) FROM chunks c WHERE c.collection = d.collection "
            "AND c.doc_id = d.id), "
            + ", ".join(f"d.{column}" for column in DOCUMENT_META_COLUMNS)
            + " FROM documents d WHERE d.collection = ? ORDER BY d.ingested_at, d.id",
            (self.collection,),
        ).fetchall()
        return [
            DocumentInfo(
                row[0],
                row[1],
                row[2],
                len(json.loads(row[3])),
                row[5],
                row[4],
                self._sources(row),
                _meta(row[6:]),
            )
            for row in rows
        ]

    def doc_ids(self) -> list[str]:
        return [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM documents WHERE collection = ? ORDER BY ingested_at, id",
                (self.collection,),
            )
        ]

    def count_chunks(self) -> int:
        row = self._one("SELECT COUNT(*) FROM chunks WHERE collection = ?")
        return int(row[0]) if row else 0

    def has_chunks(self) -> bool:
        return self._one("SELECT 1 FROM chunks WHERE collection = ? LIMIT 1") is not None

    def require_documents(self) -> None:
        if self._one("SELECT 1 FROM documents WHERE collection = ? LIMIT 1") is None:
            raise NotIngestedError(
                f"collection {self.collection!r} has no documents",
                fix="run qa ingest PATH first",
            )

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
            params += [self.collection, doc_id]
        elif self._other_collections():
            sql = (
                "SELECT c.id, bm25(chunk_text) AS rank FROM chunk_text "
                "JOIN chunks AS c ON c.fts_rowid = chunk_text.rowid "
                "WHERE chunk_text MATCH ? AND c.collection = ?"
            )
            params.append(self.collection)
        sql += " ORDER BY rank LIMIT ?"
        params.append(k)
        # FTS5's bm25() is lower-is-better; flip it so larger is better everywhere.
        return [(row[0], -float(row[1])) for row in self.db.execute(sql, params)]

    def _other_collections(self) -> bool:
        """Whether chunks of another collection share this database (two index seeks)."""
        return any(
            self.db.execute(
                f"SELECT 1 FROM chunks WHERE collection {op} ? LIMIT 1", (self.collection,)
            ).fetchone()
            for op in ("<", ">")
        )

    def _one(self, sql: str, *args: str) -> Any:
        return self.db.execute(sql, (self.collection, *args)).fetchone()


def _meta(values: Sequence[str | None]) -> DocumentMeta:
    return DocumentMeta(**dict(zip(DOCUMENT_META_COLUMNS, values, strict=True)))


def lexical_text(document: Document, chunk: Chunk) -> str:
    # The title is indexed with each chunk, so a question naming the story still finds it.
    return f"{document.title}\n{chunk.text}" if document.title else chunk.text


def blob(vectors: Vectors) -> memoryview:
    """The vectors' bytes as SQLite stores them, without a copy: SQLite copies a bound
    blob once anyway, and ``tobytes()`` would be a second (150 MB for 100,000 sentences)."""
    return np.ascontiguousarray(vectors, dtype=np.float32).data.cast("B")


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
