"""``qa repair``: fix what ``qa check`` finds, without losing text.

In order, each step only when needed:

1. ``qa.sqlite3`` damaged: it is moved aside (``qa.sqlite3.damaged-STAMP``, never
   deleted) and every row that can still be read is copied into a new file.
2. The Chroma folder unreadable: it is moved aside (``chroma.damaged-STAMP``) and a
   new one is made.
3. Chunks whose document is gone are removed; documents without chunks are chunked
   again from their text.
4. The full-text index is rebuilt from the stored chunks.
5. Vectors that belong to no chunk are removed; chunks without a vector, and
   documents without sentence vectors, are embedded again from the stored text,
   exactly as ingest embeds them.

Then the store is checked again.  In team mode the server is the truth: the local
cache is emptied and synced again, missing vectors on the server are embedded
from the records, and vectors of no record are removed once ``ORPHAN_GRACE_S``
old; a server that cannot be reached is not something repair can fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from filelock import FileLock

from qa.config import Settings
from qa.index import health
from qa.index.store import Store, database_path
from qa.ingestion.chunk import chunk_sentences
from qa.ingestion.pipeline import EMBED_BATCH, embed_stored, restore_vectors
from qa.types import RepairReport

log = logging.getLogger("qa")

# on_progress(step, done, total): what repair is doing, for a progress bar.
Progress = Callable[[str, int, int], None]


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def repair(settings: Settings, on_progress: Progress | None = None) -> RepairReport:
    """Repair the store of ``settings``; returns what was done and the check after it."""
    actions: list[str] = []
    path = database_path(settings)
    damaged = [p for p in health.sqlite_problems(path) if p.kind == "damaged-database"]
    if damaged:
        # The writer lock, so no other qa process writes the file while it is moved.
        with FileLock(settings.home / "write.lock", timeout=settings.lock_timeout):
            actions += _salvage(settings)
    with Store.using(None, settings) as store, store.writing():
        if store.team is not None:
            actions += _repair_team(store, on_progress)
        else:
            actions += _repair_local(store, on_progress)
        report = health.check(settings, store)
    return RepairReport(actions, report)


def _salvage(settings: Settings) -> list[str]:
    path = database_path(settings)
    moved, copied, lost = health.salvage_database(path, _stamp())
    actions = [f"moved the damaged {path.name} to {moved} (nothing deleted)"]
    if not copied.get("documents"):
        actions.append(
            f"no row of {moved.name} could be read: restore it from a backup if you have one, "
            "or ingest the articles again (the damaged file stays where it is)"
        )
        return actions
    actions.append(
        f"copied {copied.get('documents', 0)} documents and {copied.get('chunks', 0)} chunks "
        "into a new qa.sqlite3"
    )
    if any(lost.values()):
        detail = ", ".join(f"{count} {table}" for table, count in lost.items() if count)
        actions.append(
            f"could not read {detail} of the damaged file; they stay in {moved.name} "
            "(ingest those articles again to get them back)"
        )
    return actions


def _repair_local(store: Store, on_progress: Progress | None) -> list[str]:
    actions: list[str] = []
    # Opening Chroma and searching it: damage shows here.
    report = health.check(store.settings, store)
    unreadable = any(problem.kind == "vectors-unreadable" for problem in report.problems)
    if unreadable and store.chroma.folder.exists():
        store.chroma.close(release=True)
        store._collection = None
        store._vectors_checked = True
        moved = health.move_aside(store.chroma.folder, _stamp())
        actions.append(
            f"moved the unreadable Chroma folder to {moved} (nothing deleted); its vectors are "
            "rebuilt from the stored text"
        )
    actions += _repair_rows(store)
    stale = store.orphan_vector_ids()
    kept = store.damaged_copies()
    if stale and not store.count_chunks():
        actions.append(
            f"kept {len(stale)} vectors although {store.path.name} has no chunk of collection "
            f"{store.collection_name!r}: if the database was lost, these (with each chunk's "
            "text) may be all that is left; restore it from a backup, or ingest the articles "
            "again and run qa repair"
        )
    elif stale and kept:
        # Chroma keeps each chunk's text with its vector: while a damaged database is
        # around, these may be all that is left of documents it lost.
        actions.append(
            f"kept {len(stale)} vectors that belong to no stored chunk, because {kept[-1].name} "
            "is here: they may belong to documents it lost. Once you have ingested those "
            "again (or deleted that file), qa repair removes them"
        )
    elif stale:
        store.delete_vectors(stale)
        actions.append(f"removed {len(stale)} vectors that belonged to no chunk")
    actions += _reembed(store, on_progress)
    return actions


def _repair_rows(store: Store) -> list[str]:
    actions: list[str] = []
    stray = health.drop_stray_chunks(store)
    if stray:
        actions.append(f"removed {stray} chunks whose document was gone")
    rechunked = _rechunk(store)
    if rechunked:
        actions.append(f"chunked {rechunked} documents again from their text")
    report = health.check(store.settings, store)
    if any(problem.kind == "full-text" for problem in report.problems) or rechunked:
        rows = health.rebuild_full_text(store)
        actions.append(f"rebuilt the full-text index ({rows} rows)")
    return actions


def _rechunk(store: Store) -> int:
    """Chunk again the documents that have no chunks (rows lost to damage)."""
    name = store.collection_name
    childless = [
        row[0]
        for row in store.db.execute(
            "SELECT d.id FROM documents d WHERE d.collection = ? AND NOT EXISTS "
            "(SELECT 1 FROM chunks c WHERE c.collection = d.collection AND c.doc_id = d.id)",
            (name,),
        )
    ]
    with store.transaction("chunk documents again in"):
        for doc_id in childless:
            document = store.get_document(doc_id)
            chunks = chunk_sentences(
                doc_id,
                document.text,
                document.sentences,
                store.settings.chunk_tokens,
                document.version,
            )
            store.db.executemany(
                "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [
                    (name, c.id, doc_id, c.index, c.first_sentence, c.last_sentence, c.start,
                     c.end, c.token_count)
                    for c in chunks
                ],
            )  # fmt: skip
    return len(childless)


def _reembed(store: Store, on_progress: Progress | None) -> list[str]:
    """Embed again the chunks without a vector and the sentences without theirs."""
    chunk_ids = {
        row[0]: row[1]
        for row in store.db.execute(
            "SELECT id, doc_id FROM chunks WHERE collection = ?", (store.collection_name,)
        )
    }
    missing = set(chunk_ids) - store.vector_ids()
    lacking = sorted({chunk_ids[chunk_id] for chunk_id in missing})
    sentences = health.bad_sentence_vectors(store)
    actions: list[str] = []
    if lacking:

        def progress(done: int, total: int) -> None:
            if on_progress:
                on_progress("re-embedding", done, total)

        written = restore_vectors(store, lacking, progress)
        actions.append(
            f"embedded {len(missing)} missing vectors again ({written} written for "
            f"{len(lacking)} documents)"
        )
    if sentences:
        for begin in range(0, len(sentences), EMBED_BATCH):
            for document, _, _, vectors in embed_stored(
                store, sentences[begin : begin + EMBED_BATCH]
            ):
                store.set_sentence_vectors(document.id, vectors)
        actions.append(f"embedded the sentences of {len(sentences)} documents again")
    return actions


def _repair_team(store: Store, on_progress: Progress | None) -> list[str]:
    team = store.team
    assert team is not None
    actions: list[str] = []
    published = team.publish_legacy()
    if published:
        actions.append(
            f"published {published} documents an older qa had kept only in "
            f"{store.settings.home / 'qa.sqlite3'} to {store.chroma.where}"
        )
    report = health.check(store.settings, store)
    kinds = {problem.kind for problem in report.problems}
    cache_kinds = {"full-text", "documents-without-chunks", "chunks-without-document",
                   "sentence-vectors"}  # fmt: skip
    if kinds & cache_kinds:
        team.rebuild_cache()
        actions.append(f"rebuilt the local cache {store.path} from {store.chroma.where}")
    swept = team.sweep_orphans()
    if swept:
        actions.append(f"removed {swept} vectors of no document from the server")
    actions += _reembed(store, on_progress)
    return actions
