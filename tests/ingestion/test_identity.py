"""Document identity: ids stay with their source, one text is one document, old stores
migrate, and answers cite the current text (qa.index.identity, qa.ingestion.pipeline)."""

from __future__ import annotations

import json
import sqlite3
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from qa.api import ask, list_documents, show
from qa.config import Settings
from qa.index.identity import content_hash, id_for_source, source_key
from qa.index.retrieve import retrieve
from qa.index.store import SCHEMA_VERSION, Store
from qa.ingestion.pipeline import _embed_batch, _plan, build_document, ingest
from qa.ingestion.sources import read_source
from qa.types import IngestOutcome
from tests.backends.llm.test_backend import claims_json, ok
from tests.helpers import ROOT, Scripted, ScriptedServer, run

FIXTURE = ROOT / "tests" / "data" / "store-v3.tar.gz"
# Where the fixture's articles were when the previous version (schema 3) ingested them.
FIXTURE_FOLDER = "/tmp/qa-v3-articles"
FIXTURE_IDS = {"attack.txt": "a9336114bd911916", "bridge.txt": "548876212492eb03"}
BRIDGE = (
    "Bridge reopens\n\nThe river bridge reopened on Monday after repairs. "
    "Traffic returned to normal by noon.\n"
)


def write(path: Path, title: str, *sentences: str) -> Path:
    path.write_text(f"{title}\n\n{' '.join(sentences)}\n", encoding="utf-8")
    return path


def statuses(settings: Settings, *paths: Path) -> list[tuple[str, str]]:
    report = ingest(list(paths), settings=settings)
    return [(outcome.status, outcome.doc_id) for outcome in report.outcomes]


def test_source_keys_are_normalised() -> None:
    assert source_key("stdin") is None
    assert source_key("/srv/news/a.txt") == "/srv/news/a.txt"
    assert source_key("HTTPS://Example.ORG:443#top") == "https://example.org/"
    assert source_key("http://example.org:8080/a?b=1#c") == "http://example.org:8080/a?b=1"
    assert source_key("http://[::1]:80/x") == "http://[::1]/x"
    assert id_for_source("/a") != id_for_source("/a", salt="x")
    assert content_hash("T", "Some  text") == content_hash("t", "some text")


def test_the_id_stays_with_its_source_through_edits(settings: Settings, tmp_path: Path) -> None:
    story = write(tmp_path / "story.txt", "Bridge", "The bridge closed on Monday.")
    ((status, doc_id),) = statuses(settings, story)
    assert status == "added" and doc_id == id_for_source(str(story.resolve()))
    for day in ("Tuesday", "Wednesday"):
        write(story, "Bridge", f"The bridge closed on {day}.")
        assert statuses(settings, story) == [("updated", doc_id)]
        assert day in show(doc_id, settings=settings).text
    assert statuses(settings, story) == [("unchanged", doc_id)]
    # Back to a text it had before: still an update of the same document.
    write(story, "Bridge", "The bridge closed on Monday.")
    assert statuses(settings, story) == [("updated", doc_id)]
    assert [info.id for info in list_documents(settings=settings)] == [doc_id]


def test_shared_text_splits_when_one_source_changes(settings: Settings, tmp_path: Path) -> None:
    first = write(tmp_path / "a.txt", "Dam", "The dam opened on Tuesday.")
    second = write(tmp_path / "b.txt", "Dam", "The dam opened on Tuesday.")
    third = write(tmp_path / "c.txt", "Dam", "The dam opened on Tuesday.")
    (added, doc_id), (linked, same), (_, also) = statuses(settings, first, second, third)
    assert (added, linked) == ("added", "linked") and doc_id == same == also
    # A source that was linked changes: it gets a document of its own.
    write(third, "Dam", "The dam opened on Friday.")
    ((status, own),) = statuses(settings, third)
    assert status == "updated" and own not in (doc_id,)
    # The source the id came from changes: it keeps the id for its new text; the old
    # text stays, with its vectors, under an id for the source that still holds it.
    write(first, "Dam", "The dam opened on Wednesday after a delay.")
    ((status, kept),) = statuses(settings, first)
    assert (status, kept) == ("updated", doc_id)
    documents = {info.id: info for info in list_documents(settings=settings)}
    assert len(documents) == 3
    assert "Wednesday" in show(doc_id, settings=settings).text
    (moved,) = set(documents) - {doc_id, own}
    assert documents[moved].sources == (str(second.resolve()),)
    assert "Tuesday" in show(moved, settings=settings).text
    answer = ask("When did the dam open on Tuesday?", settings=settings, doc=moved)
    assert answer.citations and answer.citations[0].doc_id == moved
    assert any(hit.dense_rank is not None for hit in answer.evidence)
    assert statuses(settings, first, second, third) == [
        ("unchanged", doc_id),
        ("unchanged", moved),
        ("unchanged", own),
    ]
    assert_store_consistent(settings)


def test_a_source_that_now_matches_another_text_joins_it(
    settings: Settings, tmp_path: Path
) -> None:
    one = write(tmp_path / "one.txt", "Storm", "A storm hit the coast.")
    two = write(tmp_path / "two.txt", "Flood", "The river flooded the town.")
    (_, one_id), (_, two_id) = statuses(settings, one, two)
    write(two, "Storm", "A storm hit the coast.")
    ((status, doc_id),) = statuses(settings, two)
    assert (status, doc_id) == ("linked", one_id) and two_id != one_id
    # Its old document had no other source left: it is gone, vectors and all.
    assert [info.id for info in list_documents(settings=settings)] == [one_id]
    assert_store_consistent(settings)


def test_same_text_twice_in_one_batch_is_one_document(settings: Settings, tmp_path: Path) -> None:
    first = write(tmp_path / "x.txt", "Fire", "A fire broke out at the port.")
    second = write(tmp_path / "y.txt", "Fire", "A fire broke out at the port.")
    result = statuses(settings, first, second, first)
    assert [status for status, _ in result] == ["added", "linked", "unchanged"]
    assert len({doc_id for _, doc_id in result}) == 1
    assert_store_consistent(settings)


def test_an_update_killed_after_its_vectors_leaves_the_old_text(
    settings: Settings, tmp_path: Path
) -> None:
    story = write(tmp_path / "s.txt", "Bridge", "The bridge closed on Monday for repairs.")
    ((_, doc_id),) = statuses(settings, story)
    write(story, "Bridge", "The bridge closed on Friday for painting.")
    # What ingest does up to the SQLite commit: plan, embed, write the vectors; then stop.
    store = Store.open(settings)
    raw = read_source(str(story), max_bytes=1 << 20, url_timeout=5)
    prepared = _plan(store, raw, build_document(raw), 0)
    assert not isinstance(prepared, IngestOutcome) and prepared.status == "updated"
    (chunk_vectors, _), *_ = _embed_batch(store.embedder, [prepared], [])[0]
    store.add_vectors([(prepared.document, prepared.chunks, chunk_vectors)])
    assert store.count_vectors() > store.count_chunks()
    # Readers still get the old text, found by both retrievers.
    hits = retrieve(store, "When did the bridge close?", k=4)
    assert hits and all("Monday" in hit.chunk.text for hit in hits)
    assert hits[0].dense_rank is not None
    store.close()
    # Running the same ingest again finishes the job and sweeps what the killed one left.
    assert statuses(settings, story) == [("updated", doc_id)]
    assert "Friday" in show(doc_id, settings=settings).text
    assert_store_consistent(settings)


def test_answers_cite_the_current_text_and_the_llm_cache_misses_after_an_update(
    settings: Settings, tmp_path: Path, scripted_server: Callable[[list[Scripted]], ScriptedServer]
) -> None:
    story = write(tmp_path / "s.txt", "Bridge", "The bridge reopened on Monday.")
    ((_, doc_id),) = statuses(settings, story)
    server = scripted_server([ok(claims_json(("The bridge reopened. [1]", [1])))])
    llm = Settings.from_env(backend="openai", base_url=server.base_url, model="test-model")
    first = ask("When did the bridge reopen?", settings=llm)
    again = ask("When did the bridge reopen?", settings=llm)
    assert len(server.requests) == 1 and again.usage.cached_calls == 1
    assert first.citations[0].quote == "The bridge reopened on Monday."
    write(story, "Bridge", "The bridge reopened on Thursday.")
    assert statuses(settings, story) == [("updated", doc_id)]
    updated = ask("When did the bridge reopen?", settings=llm)
    # A new text is a new prompt: the cached reply about the old text is not reused, and
    # the citation (same document id) quotes the text as it is now.
    assert len(server.requests) == 2 and updated.usage.cached_calls == 0
    assert updated.citations[0].doc_id == doc_id
    assert updated.citations[0].quote == "The bridge reopened on Thursday."


def assert_store_consistent(settings: Settings) -> None:
    store = Store.open(settings)
    try:
        store.sweep_orphans()
        collection = store._vectors(create=False)
        assert collection is not None
        vectors = collection.get(include=["metadatas"])
        chunks = dict(store.db.execute("SELECT id, doc_id FROM chunks").fetchall())
        assert set(vectors["ids"]) == set(chunks)
        for chunk_id, metadata in zip(vectors["ids"], vectors["metadatas"] or [], strict=True):
            assert metadata["doc_id"] == chunks[chunk_id]
        for info in store.list_documents():
            document = store.get_document(info.id)
            assert document.version == content_hash(document.title, document.text)
            assert all(
                c.startswith(f"{document.version}:") for c, d in chunks.items() if d == info.id
            )
        orphans = store.db.execute(
            "SELECT COUNT(*) FROM sources s LEFT JOIN documents d "
            "ON d.collection = s.collection AND d.id = s.doc_id WHERE d.id IS NULL"
        )
        assert orphans.fetchone()[0] == 0
    finally:
        store.close()


# ---- a store made by the previous version (schema 3) -------------------------------------


@pytest.fixture
def schema_3_store(settings: Settings, tmp_path: Path) -> Path:
    """The fixture store, written by qa at schema 3 from two articles, with its recorded
    sources pointed at copies of those articles in ``tmp_path``."""
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(settings.home, filter="data")
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    attack = ROOT / "eval" / "articles" / "01_afghanistan_base_attack_peace_talks.txt"
    (folder / "attack.txt").write_text(attack.read_text(encoding="utf-8"), encoding="utf-8")
    db = sqlite3.connect(settings.home / "qa.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    with db:
        db.execute(
            "UPDATE documents SET source = replace(source, ?, ?)", (FIXTURE_FOLDER, str(folder))
        )
    db.close()
    return folder


def test_a_schema_3_store_migrates_and_keeps_its_ids(
    settings: Settings, schema_3_store: Path
) -> None:
    code, out, _ = run("list", "--json")
    assert code == 0
    listed = {Path(d["source"]).name: d for d in json.loads(out)["documents"]}
    assert {name: d["id"] for name, d in listed.items()} == FIXTURE_IDS
    assert listed["bridge.txt"]["sources"] == [str(schema_3_store / "bridge.txt")]
    store = Store.open(settings)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()
    # Old documents answer as before, found by both retrievers.
    answer = ask("When did the river bridge reopen?", settings=settings)
    assert answer.citations[0].doc_id == FIXTURE_IDS["bridge.txt"]
    assert any(hit.dense_rank is not None for hit in answer.evidence)
    # The same files again: unchanged, same ids.
    code, out, _ = run("ingest", str(schema_3_store), "--json")
    outcomes = {Path(d["source"]).name: d for d in json.loads(out)["documents"]}
    assert {name: (d["status"], d["doc_id"]) for name, d in outcomes.items()} == {
        name: ("unchanged", doc_id) for name, doc_id in FIXTURE_IDS.items()
    }
    # An edited file keeps the id the old version gave it.
    (schema_3_store / "bridge.txt").write_text(BRIDGE.replace("Monday", "Sunday"))
    code, out, _ = run("ingest", str(schema_3_store / "bridge.txt"), "--json")
    (outcome,) = json.loads(out)["documents"]
    assert (outcome["status"], outcome["doc_id"]) == ("updated", FIXTURE_IDS["bridge.txt"])
    answer = ask("When did the river bridge reopen?", settings=settings)
    assert "Sunday" in answer.citations[0].quote
    assert_store_consistent(settings)
