"""Ingest into a real Chroma on disk: stable ids, no duplicates, replacement, forget."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.embed import Vectors
from qa.errors import EmbedderMismatchError, NotIngestedError, UnknownDocumentError
from qa.ingest import ingest
from qa.library import forget
from qa.retrieve import retrieve
from qa.store import Store
from tests.conftest import SEED

EVAL_ARTICLES = Path(__file__).parents[1] / "eval" / "articles"


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
    doc_id = first.outcomes[0].doc_id
    assert chunk_ids_in_chroma(store) == {f"{doc_id}:{n}" for n in range(chunks)}
    store.close()


def test_document_id_is_derived_from_content(settings: Settings, tmp_path: Path) -> None:
    copy = tmp_path / "copy.txt"
    shutil.copy(SEED, copy)
    original = ingest([SEED], settings=settings).outcomes[0]
    duplicate = ingest([copy], settings=settings).outcomes[0]
    assert duplicate.doc_id == original.doc_id
    assert duplicate.status == "unchanged"


def test_changed_source_replaces_old_chunks(settings: Settings, tmp_path: Path) -> None:
    article = tmp_path / "story.txt"
    article.write_text("Bridge closes\n\nThe bridge closed on Monday. Traffic was diverted.\n")
    old = ingest([article], settings=settings).outcomes[0]
    article.write_text(
        "Bridge closes\n\nThe bridge closed on Monday for repairs. Traffic was diverted north.\n"
    )
    new = ingest([article], settings=settings).outcomes[0]
    assert new.status == "replaced" and new.doc_id != old.doc_id
    store = Store.open(settings)
    assert store.doc_ids() == [new.doc_id]
    assert all(chunk_id.startswith(new.doc_id) for chunk_id in chunk_ids_in_chroma(store))
    assert store.lexical_search("bridge", 10) and all(
        chunk_id.startswith(new.doc_id) for chunk_id, _ in store.lexical_search("bridge", 10)
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
    assert all(chunk_id.startswith(boat_id) for chunk_id in chunk_ids_in_chroma(store))
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
