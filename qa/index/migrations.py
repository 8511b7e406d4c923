"""The SQLite schema of a store and the steps that bring an older store up to it.

``PRAGMA user_version`` records the version.  Each step is self-contained and
idempotent (it checks what is already there), and :func:`upgrade` runs the steps
a store lacks inside one immediate transaction, reading the version again inside
it, so two processes opening an old store at once upgrade it once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from qa.index.identity import source_key

log = logging.getLogger("qa")

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

# Version 4 (document identity, qa.index.identity): each document records its text
# version, and a sources table maps every normalised source to the document holding its
# text, so an id stays with its source and one text from two sources is one document.
# Documents of older stores keep their ids (their text hash, which is their version).
SOURCES = """
ALTER TABLE documents ADD COLUMN version TEXT;
CREATE TABLE IF NOT EXISTS sources (
    collection TEXT NOT NULL, source TEXT NOT NULL, doc_id TEXT NOT NULL,
    PRIMARY KEY (collection, source)
);
CREATE INDEX IF NOT EXISTS sources_by_doc ON sources (collection, doc_id);
CREATE INDEX IF NOT EXISTS documents_by_version ON documents (collection, version);
"""

# Version 5 (team mode): what a local cache of a Chroma server has applied.  server_state
# holds the id of the server's change log it follows (a new id means the collection was
# dropped and made again: rebuild); server_log the log entries already applied, with the
# document each names and when it was written (see qa.index.team: an entry's document is
# checked again until the entry has settled); server_revisions the revision of each document's
# record the cache holds.  An embedded store leaves these tables empty.
TEAM_TABLES = """
CREATE TABLE IF NOT EXISTS server_state (
    collection TEXT PRIMARY KEY, log_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS server_log (
    collection TEXT NOT NULL, entry TEXT NOT NULL, doc_id TEXT NOT NULL, seen REAL NOT NULL,
    PRIMARY KEY (collection, entry)
);
CREATE TABLE IF NOT EXISTS server_revisions (
    collection TEXT NOT NULL, doc_id TEXT NOT NULL, rev TEXT NOT NULL,
    PRIMARY KEY (collection, doc_id)
);
"""

# Version 6 keeps what a page, feed entry or PDF says about an article (outlet, author,
# publication date, canonical URL, language) beside it; NULL where it said nothing, and
# in documents stored before version 6.
DOCUMENT_META_COLUMNS = ("site", "author", "published", "url", "language")

SCHEMA_VERSION = 6


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Run ``script`` statement by statement: executescript() would commit the open
    transaction first."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _base(db: sqlite3.Connection) -> None:
    run_script(db, SCHEMA)


def _link_fts(db: sqlite3.Connection) -> None:
    """Version 3: fill chunks.fts_rowid in a store written before it, in one pass over the
    full-text rows, then one indexed update per chunk."""
    if "fts_rowid" in _columns(db, "chunks"):
        return
    run_script(db, FTS_LINK)
    links = db.execute("SELECT rowid, collection, chunk_id FROM chunk_text").fetchall()
    if links:
        log.info("linking %d chunks to their full-text rows (once, for schema 3)", len(links))
    db.executemany("UPDATE chunks SET fts_rowid = ? WHERE collection = ? AND id = ?", links)


def _add_sources(db: sqlite3.Connection) -> None:
    """Version 4: the version column (an old id is its text's hash) and the sources table,
    filled from each document's source, normalised."""
    if "version" in _columns(db, "documents"):
        return
    run_script(db, SOURCES)
    db.execute("UPDATE documents SET version = id WHERE version IS NULL")
    rows = db.execute("SELECT collection, id, source FROM documents").fetchall()
    db.executemany(
        "INSERT OR IGNORE INTO sources VALUES (?, ?, ?)",
        [
            (collection, key, doc_id)
            for collection, doc_id, source in rows
            if (key := source_key(source)) is not None
        ],
    )


def _team_tables(db: sqlite3.Connection) -> None:
    run_script(db, TEAM_TABLES)


def _add_document_meta(db: sqlite3.Connection) -> None:
    """Version 6: the metadata columns of documents (adds only the missing ones)."""
    present = _columns(db, "documents")
    for column in DOCUMENT_META_COLUMNS:
        if column not in present:
            db.execute(f"ALTER TABLE documents ADD COLUMN {column} TEXT")


# (version reached, step); every step runs on a store older than its version.
STEPS: tuple[tuple[int, Callable[[sqlite3.Connection], None]], ...] = (
    (3, _link_fts),
    (4, _add_sources),
    (5, _team_tables),
    (6, _add_document_meta),
)


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def upgrade(db: sqlite3.Connection) -> None:
    """Create the tables, or bring an older store up to ``SCHEMA_VERSION``, in one
    immediate transaction.  A store newer than this qa is left alone (the caller says so)."""
    previous = db.isolation_level
    db.isolation_level = None
    try:
        db.execute("BEGIN IMMEDIATE")
        found = version(db)
        if found < SCHEMA_VERSION:
            # The base schema is "IF NOT EXISTS" throughout: a store of any version gets
            # the tables it lacks, then the steps newer than its version.
            _base(db)
            for reached, step in STEPS:
                if found < reached:
                    step(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.isolation_level = previous
