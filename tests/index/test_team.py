"""Team mode: a real ``chroma run`` shared by teammates with separate QA_HOMEs, as real
``qa`` processes.  The server holds everything; each home only a cache of it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.index.store import Store, database_path
from qa.index.team import decode, encode
from qa.index.team import revisions as complete_revisions
from qa.types import Document, DocumentMeta, Sentence
from tests.helpers import (
    HTML_PAGE,
    ROOT,
    SEED,
    ChromaServer,
    assert_one_line_error,
    qa_env,
    qa_process_run,
    run,
)

QUESTION = "What caveats did Russia raise?"
OTHER = ROOT / "eval" / "articles" / "04_california_boat_fire.txt"
ARTICLES = sorted((ROOT / "eval" / "articles").glob("*.txt"))


def qa(home: Path, server: ChromaServer, *args: str) -> subprocess.CompletedProcess[str]:
    done = qa_process_run(*args, env=qa_env(home, QA_CHROMA_URL=server.url))
    return done


def ok_json(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stderr
    payload: dict[str, object] = json.loads(done.stdout)
    return payload


def quotes(answer: dict[str, object]) -> list[tuple[str, int, str]]:
    citations = answer["citations"]
    assert isinstance(citations, list)
    return [(c["doc_id"], c["sentence_index"], c["quote"]) for c in citations]


def test_a_teammate_with_an_empty_home_answers_summarises_and_sees_a_forget(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ingested = ok_json(qa(a, chroma_server, "ingest", str(SEED), str(OTHER), "--json"))
    assert ingested["added"] == 2
    seed_id = next(
        d["doc_id"]
        for d in ingested["documents"]  # type: ignore[attr-defined]
        if d["source"] == str(SEED)
    )
    from_a = ok_json(qa(a, chroma_server, "ask", QUESTION, "--json"))
    assert not b.exists()
    # The server holds the records, the vocabulary and the log beside the vectors.
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server.port)
    for name in ("default", "default--qa-docs", "default--qa-words", "default--qa-log"):
        assert client.get_collection(name, embedding_function=None).count() > 0, name

    from_b = ok_json(qa(b, chroma_server, "ask", QUESTION, "--json"))
    assert not from_b["abstained"] and quotes(from_b)
    assert "supply weapons" in str(from_b["answer"])
    # The same checked answer, quote for quote, from the same evidence ranked the same way.
    assert from_b["answer"] == from_a["answer"]
    assert quotes(from_b) == quotes(from_a)
    assert from_b["evidence"] == from_a["evidence"]
    assert any(hit["dense_rank"] for hit in from_b["evidence"])  # type: ignore[attr-defined]
    assert all(doc_id == seed_id for doc_id, _, _ in quotes(from_b))

    summary = ok_json(qa(b, chroma_server, "summarize", seed_id[:8], "--json"))
    citations = summary["citations"]
    assert isinstance(citations, list) and len(citations) >= 3
    seed_text = SEED.read_text(encoding="utf-8")
    for citation in citations:
        assert citation["doc_id"] == seed_id
        assert " ".join(citation["quote"].split()) in " ".join(seed_text.split())

    # B's home holds only a cache of the server; nothing of the documents lives elsewhere.
    assert database_path(Settings.from_env(home=b, chroma_url=chroma_server.url)).is_file()
    assert not (b / "qa.sqlite3").exists() and not (b / "chroma").exists()

    forgot = qa(a, chroma_server, "forget", seed_id)
    assert forgot.returncode == 0, forgot.stderr
    after = ok_json(qa(b, chroma_server, "ask", QUESTION, "--json"))
    assert after["abstained"] and after["citations"] == [], after
    listed = ok_json(qa(b, chroma_server, "list", "--json"))
    assert [d["id"] for d in listed["documents"]] != [] and seed_id not in json.dumps(listed)  # type: ignore[attr-defined]


def make_copies(folder: Path, numbers: range) -> list[Path]:
    """Real articles, each copy with its own line so no two share an id."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in numbers:
        article = ARTICLES[number % len(ARTICLES)]
        title, body = article.read_text(encoding="utf-8").split("\n", 1)
        path = folder / f"{number:02d}_{article.name}"
        path.write_text(f"{title}\n\nArchive copy {number}.\n{body}", encoding="utf-8")
        paths.append(path)
    return paths


def server_state(url: str, home: Path) -> tuple[dict[str, str], Counter[str], list[str]]:
    """What the server holds: each document's current revision, how many complete revisions
    each has, and the ids of all chunk vectors."""
    settings = Settings.from_env(home=home, chroma_url=url)
    store = Store(settings, sync=False)
    try:
        assert store.team is not None
        docs = store.team._collection("docs", create=False)
        assert docs is not None
        result = docs.get(include=["metadatas"])
        revisions: Counter[str] = Counter()
        for metadata in result["metadatas"] or []:
            if metadata["part"] == 0:
                revisions[str(metadata["doc_id"])] += 1
        current = {doc_id: listed[0].rev for doc_id, listed in complete_revisions(result).items()}
        vectors = sorted(store.vector_ids())
    finally:
        store.close()
    return current, revisions, vectors


def test_identity_is_shared_links_and_new_versions_reach_every_teammate(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    article = tmp_path / "article.txt"
    copy = tmp_path / "copy.txt"
    article.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    copy.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    added = ok_json(qa(a, chroma_server, "ingest", str(article), "--json"))
    (doc,) = added["documents"]  # type: ignore[misc]
    # B has never seen the document, but its cache holds the server's record and sources:
    # the same text from another source is linked to it, not stored twice.
    linked = ok_json(qa(b, chroma_server, "ingest", str(copy), "--json"))
    (link,) = linked["documents"]  # type: ignore[misc]
    assert link["status"] == "linked" and link["doc_id"] == doc["doc_id"]
    for home in (a, b):
        (listed,) = ok_json(qa(home, chroma_server, "list", "--json"))["documents"]  # type: ignore[misc]
        assert listed["id"] == doc["doc_id"]
        assert sorted(listed["sources"]) == sorted([str(article), str(copy)]), home
    # A new version of the text from its first source: same id, new text, for B too.
    title, body = SEED.read_text(encoding="utf-8").split("\n", 1)
    article.write_text(f"{title}\n\nA line added in the second version.\n{body}", encoding="utf-8")
    updated = ok_json(qa(a, chroma_server, "ingest", str(article), "--json"))
    assert [d["status"] for d in updated["documents"]] == ["updated"]  # type: ignore[attr-defined]
    shown = qa(b, chroma_server, "show", doc["doc_id"][:8])
    assert shown.returncode == 0, shown.stderr
    assert "second version" in shown.stdout
    # The copy keeps the old text under an id of its own, on every teammate's side.
    ids = {d["id"] for d in ok_json(qa(b, chroma_server, "list", "--json"))["documents"]}  # type: ignore[attr-defined]
    assert len(ids) == 2 and doc["doc_id"] in ids


@pytest.mark.slow
def test_two_teammates_ingesting_at_once_store_every_document_once(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    # A takes copies 0-7, B copies 4-11 of one shared folder (a share, or the same URLs):
    # four documents are ingested by both at once.  A document's id follows its source, so
    # both writers give each of the four the same id.
    copies = make_copies(tmp_path / "shared", range(0, 12))
    homes = [tmp_path / "a", tmp_path / "b"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "qa", "ingest", *map(str, part), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=qa_env(home, QA_CHROMA_URL=chroma_server.url),
        )
        for home, part in zip(homes, (copies[0:8], copies[4:12]), strict=True)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    expected = {d["doc_id"] for report in reports for d in report["documents"]}
    assert len(expected) == 12

    current, revisions, vectors = server_state(chroma_server.url, tmp_path / "inspect")
    # Every document once: one record, one revision, whoever wrote it.
    assert set(current) == expected
    assert all(count == 1 for count in revisions.values()), revisions
    # No orphans: every vector belongs to a published document, and every chunk has one.
    c = tmp_path / "c"
    listed = ok_json(qa(c, chroma_server, "list", "--json"))
    documents = listed["documents"]
    assert isinstance(documents, list)
    assert sorted(d["id"] for d in documents) == sorted(expected)
    (cache,) = (c / "team").glob("*.sqlite3")
    with closing(sqlite3.connect(cache)) as db:
        chunk_ids = {row[0] for row in db.execute("SELECT id FROM chunks")}
    assert len(chunk_ids) == sum(d["chunks"] for d in documents)
    assert set(vectors) == chunk_ids and len(vectors) == len(chunk_ids)
    # Both writers' caches agree with the server at their next command.
    for home in homes:
        mine = ok_json(qa(home, chroma_server, "list", "--json"))
        assert sorted(d["id"] for d in mine["documents"]) == sorted(expected)  # type: ignore[attr-defined]


def test_the_server_going_down_mid_ask_is_one_line_and_corrupts_nothing(
    chroma_server: ChromaServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = chroma_server.url
    code, _, err = run("ingest", str(SEED), str(OTHER), "--chroma-url", url)
    assert code == 0, err
    code, before, err = run("ask", QUESTION, "--chroma-url", url, "--json")
    assert code == 0, err
    cache = database_path(Settings.from_env(chroma_url=url))
    rows = sqlite3.connect(cache).execute("SELECT COUNT(*) FROM chunks").fetchone()

    # The store syncs with the server, then the server dies before the dense search.
    search = Store.dense_search

    def server_dies_first(self: Store, *args: object, **kwargs: object) -> object:
        chroma_server.stop()
        return search(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "dense_search", server_dies_first)
    code, out, err = run("ask", QUESTION, "--chroma-url", url)
    assert code == 1 and out == ""
    assert_one_line_error(err, f"cannot reach Chroma at {url}")
    monkeypatch.undo()

    check = sqlite3.connect(cache)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert check.execute("SELECT COUNT(*) FROM chunks").fetchone() == rows
    check.close()

    chroma_server.start()
    code, after, err = run("ask", QUESTION, "--chroma-url", url, "--json")
    assert code == 0, err
    assert json.loads(after)["citations"] == json.loads(before)["citations"]


def test_documents_an_older_qa_kept_locally_are_published_by_repair(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    # What qa did before team mode with QA_CHROMA_URL: text in QA_HOME/qa.sqlite3, only the
    # chunk vectors on the server (here copied there from an embedded ingest).
    a = tmp_path / "a"
    embedded = Settings.from_env(home=a)
    from qa.ingestion.pipeline import ingest

    ingest([SEED], settings=embedded)
    local = Store.open(embedded)
    source = local._vectors(create=False)
    assert source is not None
    records = source.get(include=["embeddings", "documents", "metadatas"])
    local.close()
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server.port)
    target = client.create_collection("default", metadata=source.metadata, embedding_function=None)
    target.add(
        ids=records["ids"],
        embeddings=records["embeddings"],
        documents=records["documents"],
        metadatas=[{k: v for k, v in m.items() if k != "at"} for m in records["metadatas"] or []],
    )

    listed = qa(a, chroma_server, "list")
    assert "older qa" in listed.stderr and "qa repair" in listed.stderr
    repaired = qa(a, chroma_server, "repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "published 1 documents" in repaired.stdout
    answer = ok_json(qa(tmp_path / "b", chroma_server, "ask", QUESTION, "--json"))
    assert "supply weapons" in str(answer["answer"])
    # Vectors written before team mode have no age: no sweep ever removed them.
    assert len(target.get(include=[])["ids"]) == len(records["ids"])


def test_repair_rebuilds_vectors_lost_on_the_server(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    a = tmp_path / "a"
    assert qa(a, chroma_server, "ingest", str(SEED), str(OTHER)).returncode == 0
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server.port)
    vectors = client.get_collection("default", embedding_function=None)
    lost = vectors.get(include=[])["ids"][:5]
    vectors.delete(ids=lost)

    checked = qa(tmp_path / "b", chroma_server, "check")
    assert checked.returncode == 1 and "5 of" in checked.stdout, checked.stdout
    repaired = qa(tmp_path / "b", chroma_server, "repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert set(lost) <= set(vectors.get(include=[])["ids"])
    assert qa(a, chroma_server, "check").returncode == 0


def test_a_record_carries_the_page_metadata_and_an_older_one_reads_without(
    tmp_path: Path,
) -> None:
    text = "The dam opened on Tuesday."
    document = Document(
        "d1",
        "New dam opens",
        "https://news.example/dam",
        text,
        (Sentence(0, 0, len(text), text),),
        "2025-03-14T10:00:00+00:00",
        version="v1",
        sources=("https://news.example/dam",),
        meta=DocumentMeta(site="Example News", author="Ann Writer", published="2025-03-14"),
    )
    vectors = np.ones((1, 384), dtype=np.float32)
    record = decode(encode(document, [], vectors, "minilm"))
    assert record.document == document
    assert isinstance(record.document.meta, DocumentMeta)
    # A record written before documents had metadata: none, not a failure.
    payload = json.loads(encode(document, [], vectors, "minilm"))
    del payload["document"]["meta"]
    assert decode(json.dumps(payload)).document.meta == DocumentMeta()


def test_a_teammate_sees_the_outlet_and_date_of_a_page(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    page = tmp_path / "dam.html"
    page.write_text(HTML_PAGE, encoding="utf-8")
    ok_json(qa(a, chroma_server, "ingest", str(page), "--json"))
    listed = ok_json(qa(b, chroma_server, "list", "--json"))
    [document] = listed["documents"]  # type: ignore[misc]
    assert (document["site"], document["author"], document["published"]) == (
        "Example News",
        "Ann Writer",
        "2025-03-14",
    )
    answer = ok_json(qa(b, chroma_server, "ask", "How many homes will the dam supply?", "--json"))
    citation = answer["citations"][0]  # type: ignore[index]
    assert (citation["site"], citation["published"]) == ("Example News", "2025-03-14")
