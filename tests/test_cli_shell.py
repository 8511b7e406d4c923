"""The CLI as a shell user meets it: a question on stdin, confirmations on a terminal (a
pseudo-terminal) and without one, --version, help text, what a folder ingest did not take,
stable ids, and terminal-safe output.  Through the CLI's runner in this process (``cli``),
and through the installed ``qa`` executable (``qa``) where the process itself matters:
real standard input, a real terminal, the bytes a terminal receives."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, SEED, run

QA = Path(sys.executable).with_name("qa")
ARTICLES = ROOT / "eval" / "articles"


def qa(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed ``qa`` in a new process, with no terminal (stdin is a pipe or null)."""
    return subprocess.run(
        [str(QA), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI through its runner, in this process (stdin is not a terminal)."""
    code, out, err = run(*args, input=stdin)
    return subprocess.CompletedProcess(list(args), code, out, err)


def doc_ids() -> list[str]:
    listed = cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    return [document["id"] for document in json.loads(listed.stdout)["documents"]]


def qa_on_terminal(*args: str, answer: str | None) -> tuple[int, str]:
    """``qa`` with stdin and stderr on a pseudo-terminal; types ``answer`` at the prompt.
    Returns the exit status and what the terminal showed."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [str(QA), *args], stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=os.environ
    )
    os.close(slave)
    shown = bytearray()
    deadline = time.monotonic() + 120

    def read_some() -> bool:
        """Read what the terminal has within 0.2 s; False once there is nothing more."""
        if not select.select([master], [], [], 0.2)[0]:
            return False
        try:
            data = os.read(master, 4096)
        except OSError:  # The child closed the terminal.
            return False
        shown.extend(data)
        return bool(data)

    try:
        if answer is not None:
            while b"[y/N]" not in shown and process.poll() is None:
                assert time.monotonic() < deadline, shown
                read_some()
            os.write(master, answer.encode() + b"\n")
        while process.poll() is None:
            assert time.monotonic() < deadline, shown
            read_some()
        while read_some():
            pass
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
        if process.stdout:
            process.stdout.close()
    return process.wait(), shown.decode("utf-8", errors="replace")


# ---- qa ask - --------------------------------------------------------------------------


def test_ask_reads_the_question_from_stdin() -> None:
    assert cli("ingest", str(SEED)).returncode == 0
    piped = qa("ask", "-", "--json", stdin="Who met Putin in Moscow?\n")
    assert piped.returncode == 0, piped.stderr
    answer = json.loads(piped.stdout)
    assert answer["question"] == "Who met Putin in Moscow?"
    assert not answer["abstained"] and "Witkoff" in answer["answer"]
    # The same answer as the question given as an argument.
    direct = json.loads(cli("ask", "Who met Putin in Moscow?", "--json").stdout)
    assert direct["answer"] == answer["answer"]


@pytest.mark.parametrize("stdin", ["", "\n", "  \n\n"])
def test_ask_with_empty_stdin_is_the_empty_question_error(stdin: str) -> None:
    assert cli("ingest", str(SEED)).returncode == 0
    result = cli("ask", "-", stdin=stdin)
    assert result.returncode == 2
    assert result.stderr.startswith("error: the question is empty")
    assert len(result.stderr.splitlines()) == 1


# ---- confirmations ---------------------------------------------------------------------


def ingest_three(tmp_path: Path) -> list[str]:
    for name in (
        "01_afghanistan_base_attack_peace_talks.txt",
        "02_australia_toilet_paper_limits.txt",
    ):
        (tmp_path / name).write_text((ARTICLES / name).read_text())
    result = cli("ingest", str(SEED), str(tmp_path))
    assert result.returncode == 0, result.stderr
    return doc_ids()


def test_forget_all_without_a_terminal_refuses_and_names_yes(tmp_path: Path) -> None:
    before = ingest_three(tmp_path)
    refused = cli("forget", "--all")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("error:")
    assert "--yes" in refused.stderr and "all 3 documents of collection" in refused.stderr
    assert doc_ids() == before
    # Several documents at once ask too; one does not.
    two = cli("forget", before[0][:8], before[1])
    assert two.returncode == 2 and "--yes" in two.stderr
    assert doc_ids() == before
    one = cli("forget", before[0][:8])
    assert one.returncode == 0 and "forgot 1 document(s)" in one.stderr
    assert doc_ids() == before[1:]
    confirmed = cli("forget", "--all", "-y")
    assert confirmed.returncode == 0 and "forgot 2 document(s)" in confirmed.stderr
    assert doc_ids() == []


def test_forget_on_a_terminal_asks_and_removes_only_on_yes(tmp_path: Path) -> None:
    before = ingest_three(tmp_path)
    code, shown = qa_on_terminal("forget", "--all", answer="n")
    assert "Forget all 3 documents of collection 'default'? [y/N]" in shown
    assert code == 1 and "nothing was removed" in shown
    assert doc_ids() == before
    code, shown = qa_on_terminal("forget", before[1], before[2], answer="y")
    assert "Forget 2 documents (" in shown and code == 0
    assert doc_ids() == before[:1]
    # --yes skips the question on a terminal too.
    code, shown = qa_on_terminal("forget", "--all", "--yes", answer=None)
    assert code == 0 and "[y/N]" not in shown
    assert doc_ids() == []


# ---- --version and help ------------------------------------------------------------------


def test_version() -> None:
    plain = qa("--version")
    assert plain.returncode == 0 and re.fullmatch(r"qa \d+\.\d+\.\d+\S*\n", plain.stdout)
    verbose = cli("--version", "--verbose")
    for name in ("chromadb", "onnxruntime", "openai", "tiktoken", "embedding model"):
        assert re.search(rf"^{name} \S+", verbose.stdout, re.MULTILINE), verbose.stdout
    as_json = json.loads(cli("--version", "--json").stdout)
    assert set(as_json) >= {
        "qa",
        "chromadb",
        "onnxruntime",
        "openai",
        "tiktoken",
        "embedding_model",
    }
    assert as_json["embedding_model"] == "all-MiniLM-L6-v2-int8"
    # Before a command, --json means nothing but --version's: say so rather than ignore it.
    misplaced = cli("--json", "list")
    assert misplaced.returncode == 2 and "after the command" in misplaced.stderr


COMMANDS = ["ingest", "ask", "summarize", "list", "show", "forget", "eval"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_reads_like_a_well_kept_cli(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(command, "--help")
    assert code == 0
    assert "<bool>" not in out and "<str>" not in out and "{" not in out
    assert "Example: qa " in out
    # Every short option has a long one: a row with "-x" also has "--name".
    for line in out.splitlines():
        if re.search(r"(?<![\w-])-[a-zA-Z]\b", line) and "Example" not in line:
            assert re.search(r"--[a-z][\w-]+", line), line
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert not re.search(r"\b[a-z]+_?[a-z]*\b(?= *$)", usage.split("[OPTIONS]")[-1]), usage


def test_ask_help_names_the_question_in_capitals() -> None:
    out = qa("ask", "--help", COLUMNS="120").stdout
    assert "Usage: qa ask [OPTIONS] QUESTION" in out
    assert "--top-k" in out and "-k" in out and "<bool>" not in out


# ---- folder ingest reports what it did not take ------------------------------------------


def test_mixed_folder_reports_every_file_it_did_not_take(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    (folder / "nested").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / "a.txt").write_text(SEED.read_text())
    (folder / "nested" / "b.md").write_text(
        (ARTICLES / "03_easter_island_statues_water.txt").read_text()
    )
    (folder / "empty.txt").write_text("")
    (folder / "blob.bin").write_bytes(b"\x00\x01\x02")
    (folder / "notes").write_text("no extension")
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    result = cli("ingest", str(folder))
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("error:")] == [
        f"error: {folder / 'empty.txt'} is empty; give a file with the article's text"
    ]
    skipped = sorted(line for line in lines if line.startswith("skipped:"))
    assert skipped == [
        f"skipped: {folder / '.git' / 'HEAD'} (hidden)",
        f"skipped: {folder / 'blob.bin'} (unsupported type .bin)",
        f"skipped: {folder / 'notes'} (unsupported type (no extension))",
    ]
    assert lines[-1] == "2 added, 0 updated, 0 unchanged, 1 failed, 3 skipped"
    # README: 3 when some inputs went in and the refused ones are listed; skipped files
    # are reported but are not refused inputs.
    assert result.returncode == 3
    as_json = json.loads(cli("ingest", str(folder), "--json").stdout)
    assert {item["path"] for item in as_json["skipped"]} == {
        str(folder / ".git" / "HEAD"),
        str(folder / "blob.bin"),
        str(folder / "notes"),
    }
    (folder / "empty.txt").unlink()
    assert cli("ingest", str(folder)).returncode == 0


def test_many_skipped_files_are_counted_per_type(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "story.txt").write_text(SEED.read_text())
    for n in range(12):
        (folder / f"p{n}.jpg").write_bytes(b"\xff\xd8\xff")
    for n in range(3):
        # PDFs are read now; Word files are not.
        (folder / f"s{n}.docx").write_bytes(b"PK\x03\x04")
    result = cli("ingest", str(folder))
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert skipped == [
        "skipped: 12 file(s) (unsupported type .jpg)",
        "skipped: 3 file(s) (unsupported type .docx)",
    ]


# ---- identity through the CLI -------------------------------------------------------------


def test_edit_and_reingest_keeps_the_id(tmp_path: Path) -> None:
    story = tmp_path / "story.txt"
    story.write_text("Bridge reopens\n\nThe river bridge reopened on Monday after repairs.\n")
    first = json.loads(cli("ingest", str(story), "--json").stdout)["documents"][0]
    assert first["status"] == "added"
    story.write_text(
        "Bridge reopens\n\nThe river bridge reopened on Tuesday after repairs to its deck.\n"
    )
    result = cli("ingest", str(story))
    assert result.returncode == 0
    assert result.stdout.startswith(f"updated   {first['doc_id']}  Bridge reopens")
    assert "0 added, 1 updated, 0 unchanged, 0 failed" in result.stderr
    shown = cli("show", first["doc_id"])
    assert "reopened on Tuesday" in shown.stdout and "Monday" not in shown.stdout
    answer = json.loads(cli("ask", "When did the bridge reopen?", "--json").stdout)
    assert answer["citations"][0]["doc_id"] == first["doc_id"]
    assert "Tuesday" in answer["citations"][0]["quote"]
    assert doc_ids() == [first["doc_id"]]


# ---- nothing reaches the terminal raw (issue 18, clean terminal output) -------------------

RLO = "\u202e"
CSI = "\u009b"


def test_an_escape_in_a_path_is_shown_escaped_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "bad\x1b]0;owned\x07name.txt"
    result = qa("ingest", str(path))
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "bad\\x1b]0;owned\\x07name.txt" in result.stderr
    assert len(result.stderr.splitlines()) == 2  # the error and the summary line


def test_bidi_and_control_characters_in_an_article_are_escaped(tmp_path: Path) -> None:
    article = tmp_path / "dam.txt"
    article.write_text(
        f"Dam {RLO}opens\n\nThe dam opened on Tuesday {RLO}after six years{CSI} of building. "
        "Engineers said it will supply power to 200,000 homes.\n",
        encoding="utf-8",
    )
    assert cli("ingest", str(article)).returncode == 0
    stored = json.loads(cli("show", doc_ids()[0], "--json").stdout)
    outputs = {
        "show": cli("show", doc_ids()[0]).stdout,
        "ask": cli("ask", "When did the dam open?").stdout,
        "summarize": cli("summarize").stdout,
        "list": cli("list").stdout,
    }
    for name, out in outputs.items():
        assert RLO not in out and CSI not in out, name
        # Whatever ingest kept of them is shown as an escape.
        if RLO in stored["text"]:
            assert "\\u202e" in out or name == "list", name
        if CSI in stored["text"]:
            assert "\\x9b" in out or name == "list", name
    assert "Tuesday" in outputs["ask"]
    # --json keeps the exact text, with those characters JSON-escaped.
    raw = cli("show", doc_ids()[0], "--json").stdout
    assert RLO not in raw and CSI not in raw
    assert json.loads(raw)["text"] == stored["text"]
