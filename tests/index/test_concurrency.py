"""Crashes and concurrency with real processes: SIGKILL mid-ingest, two writers, readers.

A document must appear whole or not at all; a killed ingest must leave a usable
store that re-running completes without duplicates; two writers must take
turns; readers must see the state before or after a write, never an error.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from qa.api import ask, list_documents, summarize
from qa.config import Settings
from qa.index.store import Store
from qa.ingestion.pipeline import EMBED_BATCH
from tests.helpers import ROOT, SEED

ARTICLES = sorted((ROOT / "eval" / "articles").glob("*.txt"))


def make_corpus(folder: Path, copies: int, edition: str = "") -> list[Path]:
    """Real articles, each copy with its own closing line so no two share an id."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for copy in range(copies):
        for article in ARTICLES:
            path = folder / f"{copy:02d}_{article.name}"
            title, body = article.read_text(encoding="utf-8").split("\n", 1)
            # Below the headline: text after a comment box at the end would be cleaned away.
            marked = f"{title}\n\nArchive copy {copy}{edition}.\n{body}"
            path.write_text(marked, encoding="utf-8")
            paths.append(path)
    return paths


def qa_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qa", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or dict(os.environ),
    )


def qa_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        check=False,
        timeout=600,
    )


def assert_consistent(settings: Settings) -> tuple[int, int]:
    """Every listed document is whole in both indexes; returns (documents, chunks)."""
    store = Store.open(settings)
    try:
        documents = store.list_documents()
        chunks = store.count_chunks()
        assert sum(document.chunks for document in documents) == chunks
        assert len({document.id for document in documents}) == len(documents)
        assert len({document.source for document in documents}) == len(documents)
        for document in documents:
            assert document.chunks > 0
            stored = store.get_document(document.id)
            assert len(stored.sentences) == document.sentences
            assert store.sentence_vectors(document.id).shape[0] == document.sentences
        collection = store._vectors(create=False)
        if chunks:
            assert collection is not None
            ids = [
                f"{store.get_document(document.id).version}:{index}"
                for document in documents
                for index in range(3)
            ]
            known = [chunk_id for chunk_id in ids if chunk_id in store.get_chunks(ids)]
            # Every chunk SQLite lists has its vector in Chroma.
            assert len(collection.get(ids=known, include=[])["ids"]) == len(known)
        # Vectors of a killed, uncommitted write may remain until the next write sweeps them.
        assert store.count_vectors() >= chunks
        return len(documents), chunks
    finally:
        store.close()


def visible_documents(settings: Settings) -> int:
    store = Store.open(settings)
    try:
        return len(store.doc_ids())
    finally:
        store.close()


def test_a_killed_ingest_leaves_a_usable_store_and_rerun_completes(
    tmp_path: Path, settings: Settings
) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, copies=2)
    total = 2 * len(ARTICLES)
    rounds = random.Random(7)
    for target in (1, 5, 9):
        writer = qa_process("ingest", str(corpus))
        deadline = time.monotonic() + 300
        while visible_documents(settings) < target and writer.poll() is None:
            assert time.monotonic() < deadline, "ingest made no progress"
            time.sleep(0.05)
        # Somewhere inside the next document: embedding, Chroma upsert or SQLite commit.
        time.sleep(rounds.uniform(0.0, 0.4))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        documents, _ = assert_consistent(settings)
        assert documents < total
        answer = ask("Who met Putin in Moscow?", settings=settings)
        assert "Witkoff" in answer.text or answer.abstained
    finished = qa_run("ingest", str(corpus))
    assert finished.returncode == 0, finished.stderr
    documents, chunks = assert_consistent(settings)
    assert documents == total
    store = Store.open(settings)
    try:
        # The re-run swept any vectors a killed write left behind: no duplicates anywhere.
        assert store.count_vectors() == chunks
    finally:
        store.close()
    again = qa_run("ingest", str(corpus))
    assert again.returncode == 0
    assert f"0 added, 0 updated, {total} unchanged" in again.stderr


def test_two_writers_take_turns(tmp_path: Path, settings: Settings) -> None:
    first = make_corpus(tmp_path / "first", copies=1, edition=" (first)")
    second = make_corpus(tmp_path / "second", copies=1, edition=" (second)")
    writers = [qa_process("ingest", str(tmp_path / name)) for name in ("first", "second")]
    results = [writer.communicate(timeout=600) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], results
    errors = "".join(stderr for _, stderr in results)
    assert "Traceback" not in errors
    assert "another qa process is writing to" in errors
    documents, chunks = assert_consistent(settings)
    assert documents == len(first) + len(second)
    store = Store.open(settings)
    try:
        assert store.count_vectors() == chunks
    finally:
        store.close()


def test_a_writer_that_waits_too_long_gives_up_clearly(tmp_path: Path, settings: Settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    with FileLock(settings.home / "write.lock"):
        started = time.monotonic()
        result = qa_run("ingest", str(SEED), env={**os.environ, "QA_LOCK_TIMEOUT": "1"})
    assert result.returncode == 1
    assert time.monotonic() - started < 60
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"another qa process is writing to {settings.home}; waiting up to 1 s"
    assert lines[-1].startswith(f"error: another qa process is still writing to {settings.home}")
    assert "QA_LOCK_TIMEOUT" in lines[-1] and "Traceback" not in result.stderr
    assert list_documents(settings=settings) == []


@pytest.mark.parametrize("edition", [""])
def test_readers_see_the_old_or_the_new_state_never_an_error(
    tmp_path: Path, settings: Settings, edition: str
) -> None:
    assert qa_run("ingest", str(SEED)).returncode == 0
    corpus = tmp_path / "corpus"
    # More documents than one ingest batch: a batch's documents commit one after another
    # within milliseconds, so only a second batch, embedded while the first is visible,
    # lets a reader see the collection part-way.
    copies = EMBED_BATCH // len(ARTICLES) + 1
    make_corpus(corpus, copies=copies, edition=edition)
    questions = ["Who met Putin in Moscow?", "What caveats did Russia raise?"]
    asked = 0
    seen_counts: set[int] = set()
    # Two writes: the folder added, then every file changed and so replaced.
    for step in ("add", "replace"):
        if step == "replace":
            make_corpus(corpus, copies=copies, edition=" (corrected)")
        writer = qa_process("ingest", str(corpus))
        cli_reader = qa_process("ask", questions[0], "--json")
        while writer.poll() is None:
            answer = ask(questions[asked % 2], settings=settings)
            assert not answer.abstained and answer.citations
            if asked % 2 == 0:
                assert "Witkoff" in answer.text
            seen_counts.add(len(list_documents(settings=settings)))
            if asked % 5 == 0:
                assert summarize(settings=settings, sentences=3).citations
            asked += 1
            # A pause between reads: a batch takes seconds to embed, so reads this far apart
            # still see every state, and the reader leaves the writer (and the tests running
            # beside this one) the CPU instead of spinning.
            time.sleep(0.25)
        _, writer_err = writer.communicate()
        assert writer.returncode == 0, writer_err
        out, err = cli_reader.communicate(timeout=120)
        assert cli_reader.returncode == 0, err
        assert "Witkoff" in out
    assert asked >= 5
    # The reader saw the collection grow, in whole documents.
    assert len(seen_counts) > 2
    documents, _ = assert_consistent(settings)
    assert documents == 1 + copies * len(ARTICLES)
