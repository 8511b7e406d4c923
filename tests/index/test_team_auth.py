"""Access control in team mode.

``chroma run`` of the installed chromadb (1.5) has no authentication: its Rust
frontend accepts any request (the first test shows it).  The supported setup is
``chroma run`` bound to loopback behind a reverse proxy that checks a token; qa
sends ``QA_CHROMA_TOKEN`` on every request.  These tests put a real
authenticating proxy in front of a real ``chroma run`` and check that qa's
header gets through, that a missing or wrong token is one clear line, and that
the token appears in no output, no log record at DEBUG and no file of either
QA_HOME.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import (
    SEED,
    AuthProxy,
    ChromaServer,
    assert_one_line_error,
    qa_env,
    run,
    self_signed,
)

SECRET = "qaTEAM-tok-3f9e1c7a5b2d4e60-HxQ2"
WRONG = "qaWRONG-tok-8d2b6f0a1c3e5a79-Zt4"
PIECES = [
    SECRET,
    WRONG,
    "3f9e1c7a5b2d4e60",
    "8d2b6f0a1c3e5a79",
    "qaTEAM-tok",
    "qaWRONG-tok",
    base64.b64encode(SECRET.encode()).decode(),
]
LOGGERS = ("qa", "chromadb", "httpx", "httpcore", "urllib3")
QUESTION = "What caveats did Russia raise?"
Start = Callable[..., AuthProxy]


def leaks(text: str) -> list[str]:
    return [piece for piece in PIECES if piece in text]


def file_leaks(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            hits = [p for p in PIECES if p.encode() in data or p.encode("utf-16-le") in data]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def use(monkeypatch: pytest.MonkeyPatch, home: Path, url: str, **variables: str) -> None:
    monkeypatch.setenv("QA_HOME", str(home))
    monkeypatch.setenv("QA_CHROMA_URL", url)
    for name in ("QA_CHROMA_TOKEN", "QA_CHROMA_AUTH_HEADER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_chroma_run_has_no_authentication_of_its_own(chroma_server: ChromaServer) -> None:
    # Any token, or none, is accepted: protecting the server is the proxy's job.
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"X-Chroma-Token": "nonsense"}):
        request = urllib.request.Request(
            f"{chroma_server.url}/api/v2/tenants/default_tenant/databases/default_database/"
            "collections",
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200


@pytest.mark.parametrize("header", ["authorization", "x-chroma-token"])
def test_the_token_goes_through_an_authenticating_proxy_and_leaks_nowhere(
    chroma_server: ChromaServer,
    auth_proxy: Start,
    debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    header: str,
) -> None:
    proxy = auth_proxy(chroma_server.url, SECRET, header)
    a, b = tmp_path / "a", tmp_path / "b"
    outputs: list[str] = []

    use(monkeypatch, a, proxy.url, QA_CHROMA_TOKEN=SECRET, QA_CHROMA_AUTH_HEADER=header)
    code, out, err = run("ingest", str(SEED))
    outputs += [out, err]
    assert code == 0, err

    use(monkeypatch, b, proxy.url, QA_CHROMA_TOKEN=SECRET, QA_CHROMA_AUTH_HEADER=header)
    code, out, err = run("ask", QUESTION, "-v")
    outputs += [out, err]
    assert code == 0, err
    assert "supply weapons" in out
    assert proxy.refused == 0 and len(proxy.seen) > 10
    expected = f"Bearer {SECRET}" if header == "authorization" else SECRET
    assert all(seen.get(header) == expected for seen in proxy.seen)

    # No token, then a wrong one: one line each, naming the server and the fix.
    use(monkeypatch, b, proxy.url)
    code, out, err = run("ask", QUESTION)
    outputs += [out, err]
    assert code == 1 and out == ""
    assert_one_line_error(err, f"Chroma at {proxy.url} asks for credentials (HTTP 401)")
    assert "QA_CHROMA_TOKEN" in err

    use(monkeypatch, b, proxy.url, QA_CHROMA_TOKEN=WRONG, QA_CHROMA_AUTH_HEADER=header)
    for args in (("ask", QUESTION), ("ingest", str(SEED)), ("list",), ("forget", "--all")):
        code, out, err = run(*args)
        outputs += [out, err]
        assert code == 1 and out == "", (args, err)
        assert_one_line_error(err, "refused the token in QA_CHROMA_TOKEN (HTTP 401)")
    # The proxy echoed the wrong token in its 401 body; nothing of it reached the user.
    assert proxy.refused > 0

    for text in outputs:
        assert not leaks(text), text
    assert debug_logs.records, "the DEBUG logs were not captured"
    for record in debug_logs.records:
        assert not leaks(f"{record.name} {record.getMessage()} {record.exc_text or ''}")
    assert file_leaks(a) == {} and file_leaks(b) == {}
    # The wrong token did not empty anything: A's documents are all still there.
    use(monkeypatch, b, proxy.url, QA_CHROMA_TOKEN=SECRET, QA_CHROMA_AUTH_HEADER=header)
    code, out, _ = run("list", "--json")
    assert code == 0 and '"id"' in out


def test_a_real_qa_process_sends_the_token_and_prints_nothing_of_it(
    chroma_server: ChromaServer, auth_proxy: Start, tmp_path: Path
) -> None:
    proxy = auth_proxy(chroma_server.url, SECRET)
    home = tmp_path / "home"
    env = qa_env(home, QA_CHROMA_URL=proxy.url, QA_CHROMA_TOKEN=SECRET)
    env["PYTHONWARNINGS"] = "always"
    command = [sys.executable, "-c", "from qa.cli import main; main()"]
    ingested = subprocess.run(
        [*command, "ingest", str(SEED)], env=env, capture_output=True, text=True, timeout=300
    )
    assert ingested.returncode == 0, ingested.stderr
    refused = subprocess.run(
        [*command, "ask", QUESTION],
        env={**env, "QA_CHROMA_TOKEN": WRONG},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 1 and "refused the token" in refused.stderr
    for text in (ingested.stdout, ingested.stderr, refused.stdout, refused.stderr):
        assert not leaks(text), text
    assert file_leaks(home) == {}
    assert os.environ.get("QA_CHROMA_TOKEN") is None


def test_tls_through_the_proxy_is_verified_against_qa_chroma_ca(
    chroma_server: ChromaServer,
    auth_proxy: Start,
    debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    certificate = self_signed(tmp_path / "tls")
    proxy = auth_proxy(chroma_server.url, SECRET, tls=certificate)
    assert proxy.url.startswith("https://")
    home = tmp_path / "a"
    # A self-signed proxy is not trusted by default: one line naming the fix.
    use(monkeypatch, home, proxy.url, QA_CHROMA_TOKEN=SECRET)
    code, out, err = run("list")
    assert code == 1 and out == ""
    assert_one_line_error(err, "cannot verify the TLS certificate", "QA_CHROMA_CA")

    use(monkeypatch, home, proxy.url, QA_CHROMA_TOKEN=SECRET,
        QA_CHROMA_CA=str(certificate / "cert.pem"))  # fmt: skip
    code, out, err = run("ingest", str(SEED))
    assert code == 0, err
    code, out, err = run("ask", QUESTION)
    assert code == 0 and "supply weapons" in out, err
    assert proxy.refused == 0 and proxy.seen
    assert file_leaks(home) == {}
    for record in debug_logs.records:
        assert not leaks(f"{record.name} {record.getMessage()}")
