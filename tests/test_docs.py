"""Every code block in README.md and docs/ runs, so the documentation cannot rot.

Blocks are read in order from each Markdown file and run in one scratch folder
per file (``eval/`` and ``train/`` linked in, ``QA_HOME`` inside it), so a ``qa
ingest`` in one block is what a later ``qa ask`` reads:

* ``bash`` blocks run with ``bash -euo pipefail``; ``console`` blocks run the
  lines after ``$ `` (the other lines are shown output); ``python`` blocks run
  in a fresh interpreter. Each must exit 0, unless a ``<!-- doc: exit=N -->``
  line before it says which status the example shows.
* ``<!-- doc: needs=llm -->`` before a block: the example talks to an
  OpenAI-compatible server. The test starts the real llama.cpp server (the
  ``llama_server`` fixture), points ``OPENAI_BASE_URL`` at it, writes its
  address where the docs show ``http://127.0.0.1:8080``, and turns a line that
  starts such a server (``python -m tests.serve_gguf`` or ``python -m
  llama_cpp.server``) into a wait for the one already running.
* ``<!-- doc: needs=chroma -->``: the same for a ``chroma run`` server at
  ``http://127.0.0.1:8000``.
* ``<!-- doc: needs=web -->``: the example fetches from the hostile web server the
  security docs describe at ``http://127.0.0.1:8765`` and ``:8766`` (``/metadata``
  redirects to the cloud metadata address, ``/file`` to ``file:///etc/passwd``,
  ``/slow`` sends a header line every 0.2 s, forever): a real HTTP server on loopback.
* ``<!-- doc: checked -->`` before a ``console`` block: its shown output is
  checked too. Every non-empty line the commands print to stdout must appear among
  the shown lines, document ids (16 hex digits, which follow the path a file was
  read from) aside; stderr is not compared (its order against stdout is the
  terminal's).
* The README's two commands (``<!-- command-1 -->``, ``<!-- command-2 -->``)
  install qa; ``.ci/run`` runs them exactly as written, so they are not run
  again here.

``text``, ``json`` and ``toml`` blocks show output or data, not code; a
``json`` block must parse (an ellipsis ``…`` stands for what is left out).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import ROOT, LlamaServer, free_port

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"bash", "sh", "console", "python"}
SHOWN = {"text", "json", "toml", "jsonl", "markdown", "nginx", ""}
DIRECTIVE = re.compile(r"^<!--\s*(doc:[^>]*|command-[12])\s*-->$")
BLOCK_TIMEOUT = 600
# What the docs show for the servers an example talks to, and the commands that start them.
LLM_ADDRESS = "http://127.0.0.1:8080"
CHROMA_ADDRESS = "http://127.0.0.1:8000"
STARTS_LLM = re.compile(r"^\s*python -m (?:llama_cpp\.server|tests\.serve_gguf)\b")
STARTS_CHROMA = re.compile(r"^\s*chroma run\b")
WEB_ADDRESSES = ("http://127.0.0.1:8765", "http://127.0.0.1:8766")


@dataclass
class Block:
    path: Path
    line: int
    language: str
    code: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def read_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of ``path``, each with the directives on the lines before it."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    pending: dict[str, str] = {}
    inside: Block | None = None
    body: list[str] = []
    indent = ""
    for number, line in enumerate(lines, start=1):
        if inside is not None:
            if line.strip().startswith("```"):
                inside.code = "\n".join(body) + "\n"
                blocks.append(inside)
                inside, body = None, []
            else:
                # A block inside a list item is indented with it: its code is not.
                body.append(line.removeprefix(indent))
            continue
        if line.strip().startswith("```"):
            inside = Block(path, number, line.strip()[3:].strip().lower(), "", pending)
            indent = line[: len(line) - len(line.lstrip())]
            pending = {}
            continue
        match = DIRECTIVE.match(line.strip())
        if match:
            for item in match.group(1).removeprefix("doc:").split():
                key, _, value = item.partition("=")
                pending[key] = value
        elif line.strip():
            pending = {}
    assert inside is None, f"{path}: unclosed code block at line {inside.line}"
    return blocks


def _split_console(block: Block) -> tuple[list[str], list[str]]:
    """A console block's commands and its shown output lines."""
    # A command ends at a line that does not continue it with a trailing backslash.
    commands: list[str] = []
    shown: list[str] = []
    continuing = False
    for line in block.code.splitlines():
        if line.startswith("$ ") or continuing:
            text = line[2:] if line.startswith("$ ") else line
            commands.append(text)
            continuing = text.rstrip().endswith("\\")
        else:
            shown.append(line)
    return commands, shown


def _commands(block: Block) -> str:
    if block.language != "console":
        return block.code
    return "\n".join(_split_console(block)[0]) + "\n"


# Document ids (16 hex digits) follow the absolute path a file was ingested from.
DOC_ID = re.compile(r"\b[0-9a-f]{16}\b")


def _comparable(line: str) -> str:
    return DOC_ID.sub("<id>", line).rstrip()


def unshown_lines(block: Block, stdout: str) -> list[str]:
    """The lines a ``checked`` console block printed to stdout that its shown output lacks.

    Document ids aside, every such line must be shown as printed; the block may show
    more than stdout (the stderr lines), never less.
    """
    shown = {_comparable(line) for line in _split_console(block)[1]}
    return [line for line in stdout.splitlines() if line.strip() and _comparable(line) not in shown]


def _wait_for(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_line(url: str) -> str:
    """A shell line that returns once ``url`` answers (the server the fixture started)."""
    return f'python -c "import urllib.request; urllib.request.urlopen({url!r}, timeout=30)"'


@dataclass
class Services:
    llm: LlamaServer | None = None
    chroma_url: str = ""
    web_url: str = ""


def prepare(block: Block, services: Services, env: dict[str, str]) -> str:
    """The block's code, with the documented server addresses pointed at the real ones."""
    code = _commands(block)
    needs = block.directives.get("needs", "")
    if "llm" in needs:
        assert services.llm is not None
        address = services.llm.base_url.removesuffix("/v1")
        code = "\n".join(
            _wait_line(f"{address}/v1/models") if STARTS_LLM.match(line) else line
            for line in code.splitlines()
        )
        code = code.replace(LLM_ADDRESS, address)
        env["OPENAI_BASE_URL"] = services.llm.base_url
        env["QA_MODEL"] = services.llm.model
    if "chroma" in needs:
        code = "\n".join(
            _wait_line(f"{services.chroma_url}/api/v2/heartbeat")
            if STARTS_CHROMA.match(line)
            else line
            for line in code.splitlines()
        )
        code = code.replace(CHROMA_ADDRESS, services.chroma_url)
    if "web" in needs:
        for address in WEB_ADDRESSES:
            code = code.replace(address, services.web_url)
    return code


class _Hostile(BaseHTTPRequestHandler):
    """The pages the security docs fetch: redirects qa must refuse, and a drip."""

    stop: threading.Event

    def do_GET(self) -> None:
        if self.path == "/slow":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            line = 0
            while not self.stop.is_set():
                try:
                    self.wfile.write(f"X-Drip-{line}: x\r\n".encode())
                    self.wfile.flush()
                except OSError:
                    return
                line += 1
                time.sleep(0.2)
            return
        target = {
            "/metadata": "http://169.254.169.254/latest/meta-data/iam/",
            "/file": "file:///etc/passwd",
        }.get(self.path)
        self.send_response(302 if target else 404)
        if target:
            self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web_url() -> Iterator[str]:
    stop = threading.Event()
    handler = type("Hostile", (_Hostile,), {"stop": stop})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    folder = tmp_path_factory.mktemp("docs-chroma")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/api/v2/heartbeat")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _needs(path: Path) -> set[str]:
    return {
        need
        for block in read_blocks(path)
        for need in block.directives.get("needs", "").split(",")
        if need
    }


def test_every_block_is_runnable_or_shown_output() -> None:
    for path in DOCS:
        for block in read_blocks(path):
            assert block.language in RUNNABLE | SHOWN, f"{block.label}: unknown language"
            if block.language == "json":
                json.loads(block.code.replace("…", "0").replace(", 0]", "]"))
            if block.language in RUNNABLE and not {"command-1", "command-2"} & set(
                block.directives
            ):
                # Installing is what the README's two commands do; examples assume it done.
                assert "pip install" not in block.code, f"{block.label}: pip install"


def test_the_readme_has_its_two_commands() -> None:
    directives = [set(block.directives) for block in read_blocks(ROOT / "README.md")]
    assert sum("command-1" in found for found in directives) == 1
    assert sum("command-2" in found for found in directives) == 1


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_examples_run(path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    blocks = [
        block
        for block in read_blocks(path)
        if block.language in RUNNABLE and not {"command-1", "command-2"} & set(block.directives)
    ]
    if not blocks:
        return
    needs = _needs(path)
    services = Services(
        llm=request.getfixturevalue("llama_server") if "llm" in needs else None,
        chroma_url=request.getfixturevalue("chroma_url") if "chroma" in needs else "",
        web_url=request.getfixturevalue("web_url") if "web" in needs else "",
    )
    for linked in ("eval", "train"):
        (tmp_path / linked).symlink_to(ROOT / linked)
    bin_dir = str(Path(sys.executable).parent)
    for block in blocks:
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "QA_HOME": str(tmp_path / "qa-home"),
        }
        code = prepare(block, services, env)
        command = (
            [sys.executable, "-c", code]
            if block.language == "python"
            else ["bash", "-euo", "pipefail", "-c", code]
        )
        result = subprocess.run(
            command,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
        expected = int(block.directives.get("exit", "0"))
        assert result.returncode == expected, (
            f"{block.label} exited {result.returncode}, expected {expected}\n"
            f"--- code\n{code}\n--- stdout\n{result.stdout[-3000:]}\n"
            f"--- stderr\n{result.stderr[-3000:]}"
        )
        if "checked" in block.directives:
            assert block.language == "console", f"{block.label}: only console output is checked"
            missing = unshown_lines(block, result.stdout)
            assert not missing, f"{block.label} printed lines it does not show:\n" + "\n".join(
                missing
            )


def test_a_checked_block_notices_output_it_does_not_show() -> None:
    block = Block(ROOT / "README.md", 1, "console", "$ qa ask x\nanswer (doc 0123456789abcdef)\n")
    assert unshown_lines(block, "answer (doc fedcba9876543210)\n\n") == []
    assert unshown_lines(block, "answer (doc fedcba9876543210)\nanother line\n") == ["another line"]
