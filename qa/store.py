"""The store: Chroma for chunk vectors, SQLite beside it for everything a citation needs.

Layout under ``$QA_HOME``::

    chroma/        Chroma PersistentClient (one collection per qa collection)
    qa.sqlite3     documents (cleaned text, sentence spans), chunks, sentence
                   vectors, and an FTS5 table that is the BM25 lexical index

SQLite owns the documents, so every citation is resolved against the exact
stored text; the FTS5 index is updated in the same transaction as the
document rows, so the lexical index cannot drift from them.  Chroma is written
first and cleaned up if the SQLite write fails, so no chunk is left orphaned.

Not handled: two processes writing one store at once (Chroma's embedded
client is not process-safe); use ``QA_CHROMA_URL`` with ``chroma run`` for a
shared vector server.  Documents and the lexical index then stay local.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from qa.config import Settings
from qa.embed import Embedder, MiniLMEmbedder, Vectors
from qa.errors import (
    EmbedderMismatchError,
    NotIngestedError,
    StoreError,
    UnknownDocumentError,
)
from qa.types import Chunk, Document, DocumentInfo, Sentence

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
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY, embedder TEXT NOT NULL, dimension INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5 (
    text, chunk_id UNINDEXED, collection UNINDEXED, doc_id UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Chroma caps one add() call at a little over 5,000 records.
CHROMA_BATCH = 5000


class Store:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.collection_name = settings.collection
        self._embedder = embedder
        self._client: ClientAPI | None = None
        self._collection: Collection | None = None
        try:
            settings.home.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(settings.home / "qa.sqlite3")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(
                f"cannot open the store in {settings.home}: {error}",
                fix="set QA_HOME to a writable folder",
            ) from None

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
                self._client = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1",
                    port=url.port or 8000,
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
            else:
                path = self.settings.home / "chroma"
                self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        return self._client

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
        try:
            if create:
                collection = client.get_or_create_collection(
                    self.collection_name, metadata=metadata, embedding_function=None
                )
            else:
                collection = client.get_collection(self.collection_name, embedding_function=None)
        except Exception as error:  # Chroma raises several types for "missing" and "down".
            if not create and "does not exist" in str(error).lower():
                return None
            raise StoreError(
                f"cannot open Chroma collection {self.collection_name!r}: {error}",
                fix="check QA_CHROMA_URL or QA_HOME",
            ) from None
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
    ) -> None:
        collection = self._vectors(create=True)
        assert collection is not None
        ids = [chunk.id for chunk in chunks]
        for begin in range(0, len(chunks), CHROMA_BATCH):
            part = chunks[begin : begin + CHROMA_BATCH]
            collection.upsert(
                ids=ids[begin : begin + CHROMA_BATCH],
                embeddings=chunk_vectors[begin : begin + CHROMA_BATCH],
                documents=[chunk.text for chunk in part],
                metadatas=[
                    {"doc_id": chunk.doc_id, "index": chunk.index, "title": document.title}
                    for chunk in part
                ],
            )
        try:
            with self.db:
                self._delete_rows(document.id)
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
                self.db.executemany(
                    "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        )
                        for chunk in chunks
                    ],
                )
                self.db.executemany(
                    "INSERT INTO chunk_text VALUES (?, ?, ?, ?)",
                    [
                        (
                            _lexical_text(document, chunk),
                            chunk.id,
                            self.collection_name,
                            chunk.doc_id,
                        )
                        for chunk in chunks
                    ],
                )
                self.db.execute(
                    "INSERT INTO sentence_vectors VALUES (?, ?, ?)",
                    (
                        self.collection_name,
                        document.id,
                        np.ascontiguousarray(sentence_vectors, dtype=np.float32).tobytes(),
                    ),
                )
        except sqlite3.Error as error:
            collection.delete(ids=ids)
            raise StoreError(f"cannot write document {document.id}: {error}") from None

    def remove_document(self, doc_id: str) -> int:
        """Delete a document from both indexes; returns the number of chunks removed."""
        ids = [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM chunks WHERE collection = ? AND doc_id = ?",
                (self.collection_name, doc_id),
            )
        ]
        collection = self._vectors(create=False)
        if collection is not None:
            # Delete by metadata too, so chunks from an interrupted write go as well.
            collection.delete(where={"doc_id": doc_id})
        with self.db:
            self._delete_rows(doc_id)
        return len(ids)

    def _delete_rows(self, doc_id: str) -> None:
        key = (self.collection_name, doc_id)
        for table in ("documents", "chunks", "sentence_vectors", "chunk_text"):
            column = "id" if table == "documents" else "doc_id"
            self.db.execute(f"DELETE FROM {table} WHERE collection = ? AND {column} = ?", key)

    def drop_collection(self) -> None:
        """Remove the whole collection from Chroma and SQLite."""
        client = self._chroma()
        try:
            client.delete_collection(self.collection_name)
        except Exception as error:  # Chroma raises different types when it is missing.
            if "does not exist" not in str(error).lower():
                raise StoreError(
                    f"cannot delete collection {self.collection_name!r}: {error}"
                ) from None
        self._collection = None
        with self.db:
            for table in ("documents", "chunks", "sentence_vectors", "chunk_text"):
                self.db.execute(
                    f"DELETE FROM {table} WHERE collection = ?", (self.collection_name,)
                )
            self.db.execute("DELETE FROM collections WHERE name = ?", (self.collection_name,))

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

    def count_vectors(self) -> int:
        collection = self._vectors(create=False)
        return collection.count() if collection is not None else 0

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
        self, query: str, k: int, doc_id: str | None = None
    ) -> list[tuple[str, float]]:
        terms = {term.lower() for term in WORD.findall(query) if len(term) > 1}
        if not terms:
            return []
        # Quoting each term keeps FTS5 operators in the question from being parsed.
        match = " OR ".join(f'"{term}"' for term in sorted(terms))
        sql = (
            "SELECT chunk_id, bm25(chunk_text) AS rank FROM chunk_text "
            "WHERE chunk_text MATCH ? AND collection = ?"
        )
        params: list[str | int] = [match, self.collection_name]
        if doc_id:
            sql += " AND doc_id = ?"
            params.append(doc_id)
        sql += " ORDER BY rank LIMIT ?"
        params.append(k)
        # FTS5's bm25() is lower-is-better; flip it so larger is better everywhere.
        return [(row[0], -float(row[1])) for row in self.db.execute(sql, params)]

    # -- helpers --------------------------------------------------------------

    def _one(self, sql: str, *args: str) -> Any:
        return self.db.execute(sql, (self.collection_name, *args)).fetchone()


def _lexical_text(document: Document, chunk: Chunk) -> str:
    # The title is indexed with each chunk, so a question naming the story still finds it.
    return f"{document.title}\n{chunk.text}" if document.title else chunk.text


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
