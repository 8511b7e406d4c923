"""``qa check``: what is wrong with a store, one problem per line, each with its fix.

Checked, for the collection in use: SQLite's integrity and the schema version;
that Chroma opens and answers a search; every chunk has its vector and every
vector its chunk (ids, not only counts); the full-text rows match the chunks and
FTS5's own integrity check passes; every document has its chunks and its
sentence vectors, and every chunk its document.  Nothing is changed here; the
fixes are ``qa repair``'s (:mod:`qa.ingestion.repair`), and the store-level ones
that need no embedding model are the functions at the end of this module.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.errors import QAError, StoreError
from qa.index import migrations
from qa.index.chroma import StoreFault, fault_kind
from qa.index.store import Store, database_path, sqlite_error
from qa.types import CheckReport, StoreProblem

log = logging.getLogger("qa")

REPAIR = "run qa repair"
# How many ids a problem line shows as examples.
EXAMPLES = 3


def _examples(ids: list[str]) -> str:
    shown = ", ".join(ids[:EXAMPLES])
    return f" (e.g. {shown}{', ...' if len(ids) > EXAMPLES else ''})" if ids else ""


def sqlite_problems(path: Path) -> list[StoreProblem]:
    """SQLite's own checks of the file at ``path``, without opening it as a store."""
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as error:
        return [_sqlite_problem(path, error)]
    try:
        found = migrations.version(db)
        rows = [row[0] for row in db.execute("PRAGMA integrity_check(20)")]
    except sqlite3.Error as error:
        return [_sqlite_problem(path, error)]
    finally:
        db.close()
    problems = []
    if rows != ["ok"]:
        problems.append(
            StoreProblem(
                "damaged-database",
                f"{path} fails SQLite's integrity check: "
                + " ".join("; ".join(rows[:3]).split())[:300],
                f"{REPAIR}: it copies every readable row into a new file, rebuilds what "
                "derives from them, and keeps the damaged file beside it",
            )
        )
    if found > migrations.SCHEMA_VERSION:
        problems.append(
            StoreProblem(
                "newer-schema",
                f"{path} has schema {found}, newer than this qa's {migrations.SCHEMA_VERSION}",
                "upgrade qa (pip install -U qa); the store is left as it is",
            )
        )
    return problems


def _sqlite_problem(path: Path, error: BaseException) -> StoreProblem:
    if fault_kind(error) == "damaged":
        return StoreProblem(
            "damaged-database",
            f"{path} cannot be read as a database ({error})",
            f"{REPAIR}: it keeps the damaged file beside a new one and recovers every "
            "document it can read",
        )
    fault = sqlite_error(path, "read", error)
    return StoreProblem("unreadable-database", fault.what, fault.fix)


def check(settings: Settings, store: Store | None = None) -> CheckReport:
    """Check the store of ``settings`` (or the open ``store``); changes nothing."""
    path = database_path(settings)
    chroma_where = settings.chroma_url or str(settings.home / "chroma")
    report = CheckReport(settings.collection, str(path), chroma_where)
    if store is None:
        if not path.exists() and not settings.chroma_url:
            return report  # no store yet: nothing to check, and nothing is created
        report.problems += sqlite_problems(path)
        if any(p.kind in ("damaged-database", "newer-schema") for p in report.problems):
            return report
        try:
            # Synced in team mode; no warning of missing vectors: the report says it.
            opened = Store(settings, sync=bool(settings.chroma_url))
            opened._vectors_checked = True
            with Store.using(opened, settings):
                try:
                    _check_store(opened, report)
                finally:
                    opened.close()
        except QAError as error:
            report.problems.append(StoreProblem("cannot-open", error.what, error.fix))
        return report
    _check_store(store, report)
    return report


def _check_store(store: Store, report: CheckReport) -> None:
    db, name = store.db, store.collection_name
    report.vectors_at = store.chroma.where
    report.documents = len(store.doc_ids())
    report.chunks = store.count_chunks()
    report.problems += _row_problems(store)
    report.fts_rows, fts = _fts_problems(store)
    report.problems += fts
    chunk_ids = {
        row[0] for row in db.execute("SELECT id FROM chunks WHERE collection = ?", (name,))
    }
    try:
        vector_ids = _readable_vector_ids(store)
    except StoreError as error:
        # A full disk or a lock is not damage: repair must not move the folder for it.
        transient = isinstance(error, StoreFault) and error.kind != "damaged"
        kind = "vectors-unavailable" if transient else "vectors-unreadable"
        report.problems.append(StoreProblem(kind, error.what, error.fix))
        return
    report.vectors = len(vector_ids)
    missing = sorted(chunk_ids - vector_ids)
    orphans = sorted(vector_ids - chunk_ids)
    if missing:
        report.problems.append(
            StoreProblem(
                "missing-vectors",
                f"{len(missing)} of {len(chunk_ids)} chunks have no vector in "
                f"{store.chroma.where}{_examples(missing)}",
                f"{REPAIR} (it embeds them again from the stored text), or ingest the same "
                "files again",
            )
        )
    if orphans:
        report.problems.append(
            StoreProblem(
                "orphan-vectors",
                f"{len(orphans)} vectors in {store.chroma.where} belong to no stored "
                f"chunk{_examples(orphans)}",
                f"{REPAIR} (it removes them; no document uses them)",
            )
        )


def _readable_vector_ids(store: Store) -> set[str]:
    """The collection's vector ids, after a real search: a damaged index may open and
    count, and fail only when searched."""
    collection = store._vectors(create=False)
    if collection is None:
        return set()
    ids = store.vector_ids()
    if ids:
        probe = np.full(store.embedder.dimension, 1.0, dtype=np.float32)
        store.dense_search(probe / np.linalg.norm(probe), 1)
    return ids


def _row_problems(store: Store) -> list[StoreProblem]:
    db, name = store.db, store.collection_name
    problems = []
    childless = [
        row[0]
        for row in db.execute(
            "SELECT d.id FROM documents d WHERE d.collection = ? AND NOT EXISTS "
            "(SELECT 1 FROM chunks c WHERE c.collection = d.collection AND c.doc_id = d.id)",
            (name,),
        )
    ]
    if childless:
        problems.append(
            StoreProblem(
                "documents-without-chunks",
                f"{len(childless)} documents have no chunks{_examples(childless)}",
                f"{REPAIR} (it chunks them again from the stored text)",
            )
        )
    stray = [
        row[0]
        for row in db.execute(
            "SELECT c.id FROM chunks c WHERE c.collection = ? AND NOT EXISTS "
            "(SELECT 1 FROM documents d WHERE d.collection = c.collection AND d.id = c.doc_id)",
            (name,),
        )
    ]
    if stray:
        problems.append(
            StoreProblem(
                "chunks-without-document",
                f"{len(stray)} chunks belong to no stored document{_examples(stray)}",
                f"{REPAIR} (it removes them)",
            )
        )
    bad = bad_sentence_vectors(store)
    if bad:
        problems.append(
            StoreProblem(
                "sentence-vectors",
                f"{len(bad)} documents lack their sentence vectors{_examples(bad)}",
                f"{REPAIR} (it embeds their sentences again)",
            )
        )
    return problems


def bad_sentence_vectors(store: Store) -> list[str]:
    """Documents whose sentence vectors are missing or not one per sentence."""
    width = store.embedder.dimension * 4
    return [
        doc_id
        for doc_id, spans, size in store.db.execute(
            "SELECT d.id, d.sentences, length(s.vectors) FROM documents d "
            "LEFT JOIN sentence_vectors s ON s.collection = d.collection AND s.doc_id = d.id "
            "WHERE d.collection = ?",
            (store.collection_name,),
        )
        if size != len(json.loads(spans)) * width
    ]


def _fts_problems(store: Store) -> tuple[int, list[StoreProblem]]:
    db, name = store.db, store.collection_name
    rows = db.execute("SELECT COUNT(*) FROM chunk_text WHERE collection = ?", (name,)).fetchone()[0]
    unlinked = [
        row[0]
        for row in db.execute(
            "SELECT c.id FROM chunks c LEFT JOIN chunk_text t ON t.rowid = c.fts_rowid "
            "WHERE c.collection = ? AND (t.rowid IS NULL OR t.chunk_id IS NOT c.id)",
            (name,),
        )
    ]
    problems = []
    chunks = store.count_chunks()
    if unlinked or rows != chunks:
        problems.append(
            StoreProblem(
                "full-text",
                f"the full-text index has {rows} rows for {chunks} chunks, "
                f"{len(unlinked)} chunks without their row{_examples(unlinked)}",
                f"{REPAIR} (it rebuilds the full-text rows from the stored chunks)",
            )
        )
    if not fts_intact(db):
        problems.append(
            StoreProblem(
                "full-text",
                "the full-text index fails FTS5's integrity check",
                f"{REPAIR} (it rebuilds the full-text rows from the stored chunks)",
            )
        )
    return int(rows), problems


def fts_intact(db: sqlite3.Connection) -> bool:
    """FTS5's own integrity check (it reads, and changes nothing)."""
    try:
        db.execute("INSERT INTO chunk_text(chunk_text) VALUES ('integrity-check')")
    except sqlite3.Error:
        return False
    finally:
        if db.in_transaction:
            db.rollback()
    return True


# -- repairs that need no embedding model --------------------------------------------


def move_aside(path: Path, stamp: str) -> Path:
    """Rename ``path`` to ``PATH.damaged-STAMP`` (never deleted); returns the new path."""
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    path.rename(target)
    return target


def drop_stray_chunks(store: Store) -> int:
    """Remove chunk rows (and their full-text rows) whose document is gone."""
    name = store.collection_name
    with store.transaction("remove stray chunks from"):
        stray = [
            row[0]
            for row in store.db.execute(
                "SELECT DISTINCT c.doc_id FROM chunks c WHERE c.collection = ? AND NOT EXISTS "
                "(SELECT 1 FROM documents d WHERE d.collection = c.collection "
                "AND d.id = c.doc_id)",
                (name,),
            )
        ]
        count = 0
        for doc_id in stray:
            count += store.db.execute(
                "SELECT COUNT(*) FROM chunks WHERE collection = ? AND doc_id = ?", (name, doc_id)
            ).fetchone()[0]
            store.rows.delete_document(doc_id)
    return int(count)


def rebuild_full_text(store: Store) -> int:
    """Write every full-text row of the collection again from the stored chunks, in one
    transaction; returns how many."""
    name = store.collection_name
    written = 0
    with store.transaction("rebuild the full-text index of"):
        store.db.execute("DELETE FROM chunk_text WHERE collection = ?", (name,))
        for doc_id in store.doc_ids():
            written += store.rebuild_fts_rows(doc_id, clean=False)
    if not fts_intact(store.db):
        # FTS5's shadow tables themselves are broken: rebuild the whole table from its content.
        with store.transaction("rebuild the full-text index of"):
            store.db.execute("INSERT INTO chunk_text(chunk_text) VALUES ('rebuild')")
    return written


# Tables copied row by row out of a damaged file, in this order; the full-text index is not
# among them: it is rebuilt from the documents and chunks.
SALVAGED = (
    "collections",
    "documents",
    "chunks",
    "sentence_vectors",
    "word_vectors",
    "sources",
)
# Rows read per step when a table cannot be read in one pass.
SALVAGE_STEP = 256


def salvage_database(path: Path, stamp: str) -> tuple[Path, dict[str, int], dict[str, int]]:
    """Move a damaged SQLite file aside (with its WAL) and copy every row that can still be
    read into a new one at ``path``; returns where the old one went, the rows copied and the
    rows lost per table.  The caller rebuilds the full-text index and the vectors."""
    moved = move_aside(path, stamp)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(moved.with_name(moved.name + suffix))
    copied: dict[str, int] = {}
    lost: dict[str, int] = {}
    from qa.index.store import open_database

    new = open_database(path)
    try:
        old = sqlite3.connect(f"file:{moved}?mode=ro", uri=True)
    except sqlite3.Error:
        new.close()
        return moved, copied, lost
    try:
        for table in SALVAGED:
            copied[table], lost[table] = _copy_table(old, new, table)
        new.execute("UPDATE chunks SET fts_rowid = NULL")
        new.commit()
    finally:
        old.close()
        new.close()
    return moved, copied, lost


def _copy_table(old: sqlite3.Connection, new: sqlite3.Connection, table: str) -> tuple[int, int]:
    """Copy the readable rows of ``table``: in one pass if it can be read, otherwise by rowid
    ranges, then row by row inside a range that fails."""
    try:
        theirs = [row[1] for row in old.execute(f"PRAGMA table_info({table})")]
    except sqlite3.Error:
        return 0, 0
    ours = [row[1] for row in new.execute(f"PRAGMA table_info({table})")]
    columns = [column for column in ours if column in theirs]
    if not columns:
        return 0, 0
    names = ", ".join(columns)
    insert = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    try:
        rows = old.execute(f"SELECT {names} FROM {table}").fetchall()
        new.executemany(insert, rows)
        return len(rows), 0
    except sqlite3.Error:
        pass
    try:
        top = old.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.Error:
        top = 1_000_000
    copied = 0
    for begin in range(0, int(top) + 1, SALVAGE_STEP):
        query = f"SELECT {names} FROM {table} WHERE rowid >= ? AND rowid < ?"
        try:
            rows = old.execute(query, (begin, begin + SALVAGE_STEP)).fetchall()
        except sqlite3.Error:
            rows = []
            for rowid in range(begin, begin + SALVAGE_STEP):
                try:
                    rows += old.execute(f"SELECT {names} FROM {table} WHERE rowid = ?", (rowid,))
                except sqlite3.Error:
                    continue
        new.executemany(insert, rows)
        copied += len(rows)
    try:
        # An index may still count what the table's own pages no longer give.
        total = int(old.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.Error:
        total = copied
    return copied, max(0, total - copied)
