"""QA_CHROMA_URL: the same ingest and ask against a real `chroma run` server on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qa.api import ask
from qa.config import Settings
from qa.index.store import Store
from qa.ingestion.pipeline import ingest
from tests.helpers import SEED, assert_one_line_error, run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ChromaServer:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    process = subprocess.Popen(
        [
            chroma,
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("chroma run did not start")
                time.sleep(0.2)
        yield ChromaServer(url, process)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def chroma_server(server: ChromaServer) -> str:
    return server.url


def test_ingest_and_ask_through_a_chroma_server(chroma_server: str, tmp_path: Path) -> None:
    settings = Settings.from_env(chroma_url=chroma_server)
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
    server: ChromaServer, tmp_path: Path
) -> None:
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
