"""Ingest into a real Chroma on disk: stable ids, no duplicates, replacement, forget."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.api import forget
from qa.config import Settings
from qa.errors import EmbedderMismatchError, NotIngestedError, UnknownDocumentError
from qa.index.embed import Vectors
from qa.index.migrations import DOCUMENT_META_COLUMNS, SCHEMA_VERSION
from qa.index.retrieve import retrieve
from qa.index.store import Store
from qa.ingestion.pipeline import ingest
from qa.types import DocumentMeta
from tests.helpers import HTML_PAGE, ROOT, SEED

EVAL_ARTICLES = ROOT / "eval" / "articles"


def chunk_ids_in_chroma(store: Store) -> set[str]:
    collection = store._vectors(create=False)
    return set(collection.get()["ids"]) if collection is not None else set()


def test_ingesting_twice_adds_nothing(settings: Settings) -> None:
    first = ingest([SEED], settings=settings)
    assert first.count("added") == 1
    store = Store.open(settings)
    chunks, vectors = store.count_chunks(), store.count_vectors()
    assert chunks > 1 and vectors == chunks
    store.close()

    second = ingest([SEED], settings=settings)
    assert second.count("unchanged") == 1 and second.count("added") == 0
    store = Store.open(settings)
    assert (store.count_chunks(), store.count_vectors()) == (chunks, vectors)
    version = store.get_document(first.outcomes[0].doc_id).version
    assert chunk_ids_in_chroma(store) == {f"{version}:{n}" for n in range(chunks)}
    store.close()


def test_identical_text_from_two_sources_is_one_document(
    settings: Settings, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.txt"
    shutil.copy(SEED, copy)
    original = ingest([SEED], settings=settings).outcomes[0]
    duplicate = ingest([copy], settings=settings).outcomes[0]
    assert duplicate.doc_id == original.doc_id
    assert duplicate.status == "linked" and str(SEED) in duplicate.note
    store = Store.open(settings)
    (info,) = store.list_documents()
    assert info.sources == (str(SEED), str(copy.resolve()))
    assert store.get_document(original.doc_id).sources == info.sources
    store.close()
    # Both sources are known now: nothing changes on either.
    again = ingest([copy, SEED], settings=settings)
    assert [outcome.status for outcome in again.outcomes] == ["unchanged", "unchanged"]


def test_changed_source_keeps_its_id_with_the_new_text(settings: Settings, tmp_path: Path) -> None:
    article = tmp_path / "story.txt"
    article.write_text("Bridge closes\n\nThe bridge closed on Monday. Traffic was diverted.\n")
    old = ingest([article], settings=settings).outcomes[0]
    store = Store.open(settings)
    old_chunks = chunk_ids_in_chroma(store)
    store.close()
    article.write_text(
        "Bridge closes\n\nThe bridge closed on Monday for repairs. Traffic was diverted north.\n"
    )
    new = ingest([article], settings=settings).outcomes[0]
    assert new.status == "updated" and new.doc_id == old.doc_id
    store = Store.open(settings)
    assert store.doc_ids() == [old.doc_id]
    document = store.get_document(old.doc_id)
    assert "for repairs" in document.text
    # The new text has new chunk ids (its version), and the old vectors are gone.
    chunks = chunk_ids_in_chroma(store)
    assert chunks and not chunks & old_chunks
    assert all(chunk_id.startswith(f"{document.version}:") for chunk_id in chunks)
    assert store.count_chunks() == store.count_vectors() == len(chunks)
    hits = store.lexical_search("repairs", 10)
    assert hits and {chunk_id for chunk_id, _ in hits} <= chunks
    assert not store.lexical_search("diverted north", 10) or all(
        chunk_id in chunks for chunk_id, _ in store.lexical_search("traffic", 10)
    )
    store.close()


def test_stored_text_and_spans_resolve_exactly(settings: Settings) -> None:
    doc_id = ingest([SEED], settings=settings).outcomes[0].doc_id
    store = Store.open(settings)
    document = store.get_document(doc_id)
    assert document.title.startswith("Russia talks of cautious optimism")
    for sentence in document.sentences:
        assert document.text[sentence.start : sentence.end] == sentence.text
    assert store.sentence_vectors(doc_id).shape == (len(document.sentences), 384)
    assert store.resolve_doc_id(doc_id[:6]) == doc_id
    with pytest.raises(UnknownDocumentError):
        store.resolve_doc_id("zzzz")
    store.close()


def test_forget_removes_chunks_from_both_indexes(settings: Settings) -> None:
    report = ingest([SEED, EVAL_ARTICLES / "04_california_boat_fire.txt"], settings=settings)
    seed_id, boat_id = (outcome.doc_id for outcome in report.outcomes)
    assert forget(seed_id[:8], settings=settings) == [seed_id]
    store = Store.open(settings)
    assert store.doc_ids() == [boat_id]
    boat_version = store.get_document(boat_id).version
    assert all(chunk_id.startswith(boat_version) for chunk_id in chunk_ids_in_chroma(store))
    assert store.lexical_search("Putin Kremlin ceasefire", 20) == []
    assert all(hit.chunk.doc_id == boat_id for hit in retrieve(store, "What did Putin say?"))
    store.close()
    forget(None, settings=settings)
    store = Store.open(settings)
    with pytest.raises(NotIngestedError):
        store.require_documents()
    store.close()


class OtherEmbedder:
    name = "some-other-model"
    dimension = 8

    def embed(self, texts: list[str]) -> Vectors:
        return np.ones((len(texts), self.dimension), dtype=np.float32)


def test_sentence_vectors_are_stored_exactly_in_pieces(settings: Settings) -> None:
    # Written through incremental blob I/O in pieces of BLOB_PIECE bytes: vectors larger
    # than one piece (and not a multiple of it) come back bit for bit, on insert and on
    # replace.
    from qa.index import rows

    doc_id = ingest([SEED], settings=settings).outcomes[0].doc_id
    store = Store.open(settings)
    try:
        stored = store.sentence_vectors(doc_id)
        assert stored.shape[0] == len(store.get_document(doc_id).sentences)
        assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-4)
        rng = np.random.default_rng(7)
        rows_needed = rows.BLOB_PIECE // (384 * 4) * 2 + 3
        large = rng.standard_normal((rows_needed, 384)).astype(np.float32)
        with store.transaction("test"):
            store.rows.set_sentence_vectors(doc_id, large)
        assert np.array_equal(store.sentence_vectors(doc_id), large)
        with store.transaction("test"):
            store.rows.set_sentence_vectors(doc_id, stored)
        assert np.array_equal(store.sentence_vectors(doc_id), stored)
    finally:
        store.close()


def test_a_different_embedder_is_refused(settings: Settings) -> None:
    ingest([SEED], settings=settings)
    store = Store(settings, embedder=OtherEmbedder())
    with pytest.raises(EmbedderMismatchError, match="all-MiniLM-L6-v2-int8"):
        retrieve(store, "Who met Putin?")
    with pytest.raises(EmbedderMismatchError):
        ingest([EVAL_ARTICLES / "06_wrestler_hana_kimura_dies.txt"], store=store)
    store.close()


def test_chroma_default_embedding_function_never_runs(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.utils import embedding_functions

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Chroma's default embedding function ran")

    monkeypatch.setattr(embedding_functions.DefaultEmbeddingFunction, "__call__", refuse)
    monkeypatch.setattr(embedding_functions.ONNXMiniLM_L6_V2, "__call__", refuse)
    ingest([SEED], settings=settings)
    store = Store.open(settings)
    assert retrieve(store, "Who met Putin in Moscow?")
    store.close()


def test_collections_are_separate(settings: Settings) -> None:
    other = settings.with_options(collection="sport")
    ingest([SEED], settings=settings)
    ingest([EVAL_ARTICLES / "06_wrestler_hana_kimura_dies.txt"], settings=other)
    first, second = Store.open(settings), Store.open(other)
    assert len(first.doc_ids()) == len(second.doc_ids()) == 1
    assert first.doc_ids() != second.doc_ids()
    first.close()
    second.close()


def test_the_vocabulary_is_embedded_at_ingest_so_questions_need_not(settings: Settings) -> None:
    ingest([SEED], settings=settings)
    store = Store.open(settings)
    try:
        stored = store.word_vectors(["kremlin", "witkoff", "the", "not-a-word-here"])
        # Content words are stored once per collection; stopwords and unknown words are not.
        assert set(stored) == {"kremlin", "witkoff"}
        fresh = store.embedder.embed(["kremlin", "witkoff"])
        assert np.allclose(stored["kremlin"], fresh[0], atol=1e-5)
        assert store.missing_words(["kremlin", "moscow", "zanzibar"]) == ["zanzibar"]
    finally:
        store.close()
    forget(None, settings=settings)
    store = Store.open(settings)
    try:
        assert store.word_vectors(["kremlin"]) == {}
    finally:
        store.close()


def _fts_rows(store: Store) -> list[tuple[str, str]]:
    return sorted(store.db.execute("SELECT collection, chunk_id FROM chunk_text").fetchall())


def _chunk_rows(store: Store) -> list[tuple[str, str]]:
    return sorted(store.db.execute("SELECT collection, id FROM chunks").fetchall())


def _documents_of(store: Store, chunk_ids: list[str]) -> set[str]:
    return {chunk.doc_id for chunk in store.get_chunks(chunk_ids).values()}


def test_lexical_search_keeps_to_its_collection_and_document(settings: Settings) -> None:
    boat = EVAL_ARTICLES / "04_california_boat_fire.txt"
    seed_id, boat_id = (o.doc_id for o in ingest([SEED, boat], settings=settings).outcomes)
    alone = Store.open(settings)
    # One collection: the search needs no collection filter, and finds both articles.
    found = _documents_of(alone, [c for c, _ in alone.lexical_search("fire Putin", 50)])
    assert found == {seed_id, boat_id}
    before = {c for c, _ in alone.lexical_search("Putin ceasefire Kremlin", 30)}
    alone.close()
    other = replace(settings, collection="other-desk")
    ingest([boat], settings=other)
    shared, second = Store.open(settings), Store.open(other)
    # Another collection in the same database adds nothing to this one's results (BM25's
    # word statistics are shared, so scores may move)...
    assert {c for c, _ in shared.lexical_search("Putin ceasefire Kremlin", 30)} == before
    assert _documents_of(shared, [c for c, _ in shared.lexical_search("boat fire", 50)]) == {
        boat_id
    }
    # ...and the other one sees only its own article.
    assert second.lexical_search("Putin ceasefire Kremlin", 30) == []
    assert second.lexical_search("boat fire", 50)
    for store, doc_id in ((shared, seed_id), (shared, boat_id), (second, boat_id)):
        hits = store.lexical_search("fire Putin boat Kremlin", 50, doc_id)
        assert hits and _documents_of(store, [chunk_id for chunk_id, _ in hits]) == {doc_id}
    # Forgetting one collection's copy leaves the other's full-text rows in place.
    assert forget(boat_id, settings=settings) == [boat_id]
    assert second.lexical_search("boat fire", 50, boat_id)
    assert _fts_rows(shared) == _chunk_rows(shared)
    second.drop_collection()
    assert shared.lexical_search("boat fire", 50) == []
    assert _fts_rows(shared) == _chunk_rows(shared) != []
    shared.close()
    second.close()


def test_full_text_rows_follow_replacements_and_vacuum(settings: Settings, tmp_path: Path) -> None:
    article = tmp_path / "story.txt"
    for version in range(3):
        article.write_text(f"Bridge closes\n\nThe bridge closed on day {version}. Traffic moved.\n")
        ingest([article, EVAL_ARTICLES / "04_california_boat_fire.txt"], settings=settings)
    store = Store.open(settings)
    assert _fts_rows(store) == _chunk_rows(store)
    # VACUUM may renumber the chunks table's own rowids; the explicit link survives it.
    store.db.execute("VACUUM")
    (hit, _), *_ = store.lexical_search("bridge closed", 5)
    doc_id = store.get_chunks([hit])[hit].doc_id
    assert "day 2" in store.get_document(doc_id).text
    assert store.lexical_search("bridge", 5, doc_id)[0][0] == hit
    store.close()


def test_a_schema_2_store_is_upgraded_in_place(settings: Settings) -> None:
    doc_id = ingest([SEED], settings=settings).outcomes[0].doc_id
    store = Store.open(settings)
    expected = store.lexical_search("Witkoff Putin Moscow", 10)
    # Turn it back into what version 2 wrote: no link column, FTS rowids of its own.
    store.db.executescript(
        """
        DROP INDEX chunks_by_fts_rowid;
        ALTER TABLE chunks DROP COLUMN fts_rowid;
        CREATE TEMP TABLE saved AS SELECT text, chunk_id, collection, doc_id FROM chunk_text;
        DELETE FROM chunk_text;
        INSERT INTO chunk_text (rowid, text, chunk_id, collection, doc_id)
            SELECT rowid + 1000, text, chunk_id, collection, doc_id FROM saved;
        PRAGMA user_version = 2;
        """
    )
    store.close()
    upgraded = Store.open(settings)
    assert upgraded.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    unlinked = upgraded.db.execute("SELECT COUNT(*) FROM chunks WHERE fts_rowid IS NULL")
    assert unlinked.fetchone()[0] == 0
    assert upgraded.lexical_search("Witkoff Putin Moscow", 10) == expected
    assert upgraded.lexical_search("Witkoff Putin Moscow", 10, doc_id) == expected
    upgraded.close()
    # The next writer numbers its rows after the old ones, and forget still finds them.
    ingest([EVAL_ARTICLES / "04_california_boat_fire.txt"], settings=settings)
    assert forget(doc_id, settings=settings) == [doc_id]
    store = Store.open(settings)
    assert _fts_rows(store) == _chunk_rows(store) != []
    store.close()


def test_a_schema_5_store_gains_document_metadata_in_place(
    settings: Settings, tmp_path: Path
) -> None:
    page = tmp_path / "dam.html"
    page.write_text(HTML_PAGE, encoding="utf-8")
    report = ingest([SEED, page], settings=settings)
    doc_id, page_id = (outcome.doc_id for outcome in report.outcomes)
    store = Store.open(settings)
    before = store.get_document(doc_id)
    # What version 5 wrote: documents without the metadata columns.
    for column in DOCUMENT_META_COLUMNS:
        store.db.execute(f"ALTER TABLE documents DROP COLUMN {column}")
    store.db.execute("PRAGMA user_version = 5")
    store.db.commit()
    store.close()

    upgraded = Store.open(settings)
    assert upgraded.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    after = upgraded.get_document(doc_id)
    assert (after.text, after.sentences, after.title, after.version) == (
        before.text,
        before.sentences,
        before.title,
        before.version,
    )
    assert after.meta == DocumentMeta()
    assert upgraded.get_document(page_id).meta == DocumentMeta()
    infos = upgraded.list_documents()
    assert all(info.to_dict()["site"] is None for info in infos)
    upgraded.close()
    # The page ingested again: its text is unchanged (same id, same version, no new
    # vectors), and what it says about itself is stored now.
    [outcome] = ingest([page], settings=settings).outcomes
    assert (outcome.status, outcome.doc_id, outcome.note) == (
        "unchanged",
        page_id,
        "metadata updated",
    )
    store = Store.open(settings)
    assert store.get_document(page_id).meta.site == "Example News"
    assert store.get_document(doc_id).meta == DocumentMeta()
    store.close()
    # Again: nothing to do.
    [outcome] = ingest([page], settings=settings).outcomes
    assert (outcome.status, outcome.note) == ("unchanged", "")


def test_a_batch_of_documents_writes_its_vectors_in_one_chroma_call(settings: Settings) -> None:
    store = Store.open(settings)
    collection = store._vectors(create=True)
    assert collection is not None
    calls: list[int] = []
    upsert = collection.upsert

    def counted(**records: object) -> None:
        calls.append(len(records["ids"]))  # type: ignore[arg-type]
        upsert(**records)  # type: ignore[arg-type]

    collection.upsert = counted  # type: ignore[method-assign]
    report = ingest([EVAL_ARTICLES], store=store)
    assert report.count("added") == len(list(EVAL_ARTICLES.glob("*.txt"))) > 1
    # Chroma costs tens of milliseconds per call: one call for the whole batch.
    assert calls == [store.count_chunks()]
    assert chunk_ids_in_chroma(store) == {
        row[0] for row in store.db.execute("SELECT id FROM chunks")
    }
    store.close()
