"""QA_CHROMA_URL: the same ingest and ask against a real `chroma run` server on loopback."""

from __future__ import annotations

from pathlib import Path

from qa.api import ask
from qa.config import Settings
from qa.index.store import Store
from qa.ingestion.pipeline import ingest
from tests.helpers import SEED, ChromaServer, assert_one_line_error, run


def test_ingest_and_ask_through_a_chroma_server(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    settings = Settings.from_env(chroma_url=chroma_server.url)
    report = ingest([SEED], settings=settings)
    assert report.count("added") == 1
    assert ingest([SEED], settings=settings).count("unchanged") == 1
    store = Store.open(settings)
    try:
        assert store.count_vectors() == store.count_chunks() > 0
    finally:
        store.close()
    answer = ask("Who met Putin in Moscow?", settings=settings)
    assert "Steve Witkoff" in answer.text
    # The vectors live in the server, not in QA_HOME.
    assert not (settings.home / "chroma").exists()


def test_the_cli_uses_a_chroma_server_and_says_when_it_is_gone(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    server = chroma_server
    code, _, err = run("ingest", str(SEED), "--chroma-url", server.url)
    assert code == 0, err
    code, out, err = run("ask", "Who met Putin in Moscow?", "--chroma-url", server.url)
    assert code == 0, err
    assert "Steve Witkoff" in out
    assert not (tmp_path / "qa-home" / "chroma").exists()

    server.stop()
    for args in (
        ("ask", "Who met Putin in Moscow?"),
        ("ingest", str(SEED)),
        ("forget", "--all", "--yes"),
    ):
        code, out, err = run(*args, "--chroma-url", server.url)
        assert code == 1 and out == ""
        assert_one_line_error(err, f"cannot reach Chroma at {server.url}", "chroma run")


def test_a_malformed_chroma_url_is_refused() -> None:
    code, _, err = run("list", "--chroma-url", "localhost:8000")
    assert code == 2
    assert_one_line_error(err, "invalid Chroma URL", "http://HOST:PORT")
