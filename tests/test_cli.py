"""The real CLI through its runner: output, JSON shape, exit codes and one-line errors."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import HTML_PAGE, SEED, assert_one_line_error, run


def test_ingest_then_ask_prints_a_cited_answer() -> None:
    code, out, err = run("ingest", str(SEED))
    assert code == 0
    assert "1 added, 0 updated, 0 unchanged, 0 failed" in err
    code, out, err = run("ask", "What caveats did Russia raise?")
    assert code == 0
    assert "supply weapons" in out and "[1]" in out and "[2]" in out
    assert "how the ceasefire would be enforced" in out
    code, out, err = run("ingest", str(SEED))
    assert "0 added, 0 updated, 1 unchanged" in err


def test_ask_json_shape() -> None:
    run("ingest", str(SEED))
    code, out, _ = run("ask", "Who met Putin in Moscow?", "--json")
    assert code == 0
    payload = json.loads(out)
    assert set(payload) >= {
        "question",
        "answer",
        "abstained",
        "claims",
        "citations",
        "evidence",
        "timings",
        "usage",
        "backend",
        "dropped_citations",
        "flagged_claims",
    }
    assert payload["abstained"] is False
    citation = payload["citations"][0]
    assert set(citation) == {
        "number",
        "doc_id",
        "title",
        "source",
        "sentence_index",
        "start",
        "end",
        "quote",
        "site",
        "published",
    }
    assert "Steve Witkoff" in citation["quote"]
    assert payload["timings"]["total_s"] >= 0

    code, out, _ = run("ask", "What is the capital of France?", "--json")
    assert json.loads(out)["abstained"] is True


def test_installed_console_scripts_run_offline(tmp_path: Path) -> None:
    """The real ``qa`` and ``ask`` executables, as a user runs them."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "QA_HOME": str(tmp_path / "scripts-home")}
    ingested = subprocess.run(
        [bin_dir / "qa", "ingest", str(SEED)], capture_output=True, text=True, env=env, check=False
    )
    assert ingested.returncode == 0, ingested.stderr
    answered = subprocess.run(
        [bin_dir / "ask", "Who met Putin in Moscow?"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert answered.returncode == 0, answered.stderr
    assert "Steve Witkoff" in answered.stdout


def test_list_show_forget() -> None:
    run("ingest", str(SEED))
    code, out, _ = run("list", "--json")
    documents = json.loads(out)["documents"]
    assert len(documents) == 1
    doc_id = documents[0]["id"]
    code, out, _ = run("show", doc_id[:5])
    assert code == 0
    assert "  7  The president’s envoy Steve Witkoff" in out
    assert "Getty" not in out
    code, out, _ = run("show", doc_id, "--json")
    shown = json.loads(out)
    for sentence in shown["sentences"]:
        assert shown["text"][sentence["start"] : sentence["end"]] == sentence["text"]
    code, _, err = run("forget", doc_id)
    assert code == 0 and "forgot 1" in err
    code, _, err = run("ask", "Who met Putin?")
    assert code == 1
    assert_one_line_error(err, "no documents", "qa ingest PATH")


def test_summarize_prints_cited_sentences() -> None:
    run("ingest", str(SEED))
    code, out, _ = run("summarize", "--sentences", "4", "--json")
    assert code == 0
    payload = json.loads(out)
    # 4 asked: 4 to 5 sentences (short ones may add up to 40% within the word budget).
    assert 4 <= len(payload["sentences"]) <= 5
    assert all(sentence["citations"] for sentence in payload["sentences"])


@pytest.mark.parametrize(
    ("args", "needles", "expected_code"),
    [
        (("ask", "Anything?"), ("no documents", "qa ingest PATH first"), 1),
        (("ingest", "missing.txt"), ("file not found", "missing.txt"), 2),
        (("show", "nope"), ("no document 'nope'", "qa list"), 1),
        (("ask", "Who?", "--backend", "magic"), ("unknown backend", "extractive"), 2),
    ],
)
def test_user_errors_are_one_line(
    args: tuple[str, ...], needles: tuple[str, ...], expected_code: int
) -> None:
    code, _, err = run(*args)
    assert code == expected_code
    assert_one_line_error(err, *needles)


def test_binary_unsupported_and_empty_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    empty = tmp_path / "empty.md"
    empty.write_text("0\n\nShare | Tweet\n")
    for path, needle in (
        (binary, "is a PNG image"),
        (pdf, "cannot read the PDF"),
        (empty, "no article text"),
    ):
        code, _, err = run("ingest", str(path))
        assert code == 2
        assert_one_line_error(err, needle, str(path.name))


def test_folder_ingest_reports_counts(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.txt").write_text(SEED.read_text())
    (folder / "nested" / "b.html").write_text(HTML_PAGE)
    (folder / "notes.bin").write_bytes(b"\x00\x01")
    code, _, err = run("ingest", str(folder))
    assert code == 0
    assert f"skipped: {folder / 'notes.bin'} (unsupported type .bin)" in err
    assert "2 added, 0 updated, 0 unchanged, 0 failed, 1 skipped" in err


def test_html_and_stdin_ingest(tmp_path: Path) -> None:
    page = tmp_path / "dam.html"
    page.write_text(HTML_PAGE)
    code, _, _ = run("ingest", str(page))
    assert code == 0
    code, out, _ = run(
        "ingest",
        "-",
        input="Storm hits coast\n\nA storm hit the coast on Sunday, forecasters said.\n",
    )
    assert code == 0 and "Storm hits coast" in out
    code, out, _ = run("ask", "How many homes will the dam supply?", "--json")
    payload = json.loads(out)
    assert not payload["abstained"]
    assert "200,000 homes" in payload["answer"]


class ArticleHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/story":
            body = HTML_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
        elif self.path == "/big":
            body = b"<html><body><p>" + b"word " * 5000 + b"</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
        elif self.path == "/slow":
            time.sleep(3)
            body = b"late"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
        elif self.path == "/image":
            body = b"\x89PNG"
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
        else:
            body = b"gone"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def article_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ArticleHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_ingest_from_a_local_server(article_server: str) -> None:
    code, out, err = run("ingest", f"{article_server}/story", "--json")
    assert code == 0
    outcome = json.loads(out)["documents"][0]
    assert outcome["status"] == "added"
    assert outcome["title"] == "New dam opens on the river"
    assert outcome["source"] == f"{article_server}/story"

    code, _, err = run("ingest", f"{article_server}/missing")
    assert code == 2
    assert_one_line_error(err, "HTTP 404")
    code, _, err = run("ingest", f"{article_server}/image")
    assert_one_line_error(err, "image/png")


def test_unreachable_url_is_one_line() -> None:
    # Port 9 on loopback (discard) is closed on these machines: a refused connection.
    code, _, err = run("ingest", "http://127.0.0.1:9/story")
    assert code == 2
    assert_one_line_error(err, "cannot fetch", "127.0.0.1:9")


def test_eval_check_accepts_the_bundled_dataset_and_rejects_a_broken_one(tmp_path: Path) -> None:
    eval_dir = Path(__file__).parents[1] / "eval"
    code, out, err = run("eval", str(eval_dir), "--check")
    assert code == 0 and "OK" in err
    broken = tmp_path / "broken"
    shutil.copytree(eval_dir, broken)
    with (broken / "gold.jsonl").open("a") as gold:
        gold.write('{"article": "00_ceasefire_caveats.txt", "id": "00-q99", "question": "?", ')
        gold.write('"gold_facts": ["a fact that is not there"], "answerable": true, ')
        gold.write('"kind": "list"}\n')
    code, out, err = run("eval", str(broken), "--check")
    assert code == 1
    assert "00-q99" in out and "not in" in out


def test_eval_runs_end_to_end_on_a_small_dataset(tmp_path: Path) -> None:
    eval_dir = Path(__file__).parents[1] / "eval"
    small = tmp_path / "small"
    (small / "articles").mkdir(parents=True)
    shutil.copy(eval_dir / "articles" / "00_ceasefire_caveats.txt", small / "articles")
    rows = (eval_dir / "gold.jsonl").read_text().splitlines()
    (small / "gold.jsonl").write_text("\n".join(r for r in rows if '"00-q0' in r) + "\n")
    summary_rows = (eval_dir / "summary_gold.jsonl").read_text().splitlines()
    (small / "summary_gold.jsonl").write_text(summary_rows[0] + "\n")
    report = tmp_path / "report.md"
    code, out, err = run("eval", str(small), "--report", str(report), "--json")
    payload = json.loads(out)
    assert payload["metrics"]["citation_validity"] == 1.0
    assert report.read_text().startswith("#")
    # No thresholds.toml in this dataset: only the always-on "no errors" gate applies.
    assert code == 0 and "eval PASSED" in err


def test_url_download_is_capped_and_timed_out(
    article_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_URL_TIMEOUT", "0.5")
    code, _, err = run("ingest", f"{article_server}/big", "--max-mb", "0.01")
    assert code == 2
    assert_one_line_error(err, "larger than the 0.01 MB input limit")
    started = time.monotonic()
    code, _, err = run("ingest", f"{article_server}/slow")
    assert code == 2 and time.monotonic() - started < 2.5
    assert_one_line_error(err, "cannot fetch", "timed out")


def test_help_starts_without_the_heavy_imports() -> None:
    # What keeps `qa --help` fast: the package and the CLI import numpy, Chroma and the
    # embedding model only inside the commands that need them.
    probe = (
        "import sys; from typer.testing import CliRunner; from qa.cli import app; "
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0; "
        "heavy = {'numpy', 'chromadb', 'onnxruntime', 'tiktoken', 'openai', 'trafilatura', "
        "'lxml', 'feedparser', 'pypdf'} & set(sys.modules); "
        "assert not heavy, heavy; import qa; assert qa.ask.__module__ == 'qa.api'"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_learned_backend_reports_its_confidence_and_obeys_min_confidence() -> None:
    run("ingest", str(SEED))
    code, out, _ = run("ask", "Who met Putin in Moscow?", "--backend", "learned", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["backend"] == "learned" and not payload["abstained"]
    assert 0.0 <= payload["confidence"] <= 1.0
    code, out, _ = run(
        "ask", "Who met Putin in Moscow?", "-b", "learned", "--min-confidence", "1", "--json"
    )
    assert code == 0 and json.loads(out)["abstained"] is True
    # The rule engine gives no confidence: null, not a made-up number.
    code, out, _ = run("ask", "Who met Putin in Moscow?", "--json")
    assert json.loads(out)["confidence"] is None
    code, _, err = run("ask", "Who met Putin?", "--min-confidence", "2")
    assert code != 0
    assert_one_line_error(err, "between 0 and 1")


def test_eval_in_collection_scope_with_distractors_and_the_naive_anchor(tmp_path: Path) -> None:
    eval_dir = Path(__file__).parents[1] / "eval"
    small = tmp_path / "small"
    (small / "articles").mkdir(parents=True)
    shutil.copy(eval_dir / "articles" / "00_ceasefire_caveats.txt", small / "articles")
    rows = (eval_dir / "gold.jsonl").read_text().splitlines()
    (small / "gold.jsonl").write_text("\n".join(r for r in rows if '"00-q0' in r) + "\n")
    crowd = tmp_path / "crowd"
    (crowd / "articles").mkdir(parents=True)
    shutil.copy(eval_dir / "articles" / "04_california_boat_fire.txt", crowd / "articles")
    (crowd / "gold.jsonl").write_text(
        "\n".join(r for r in rows if '"04-q0' in r and "04_california" in r) + "\n"
    )
    code, out, err = run(
        "eval", str(small), "--scope", "collection", "--distractors", str(crowd),
        "--backend", "naive", "--json",
    )  # fmt: skip
    payload = json.loads(out)
    assert code == 0, err
    assert payload["backend"] == "naive"
    # The naive anchor never abstains.
    assert payload["metrics"]["abstention_recall"] == 0.0
    assert payload["metrics"]["citation_validity"] == 1.0


# -- what cleaning cuts, and what a page says about itself ---------------------------

COMMENTED = (
    "Bridge reopens after repairs\n\n"
    "The river bridge reopened on Monday after three months of repairs.\n\n"
    "Comments\n\n"
    "Officials said the repairs cost two million euros, more than planned.\n\n"
    "The next inspection of the bridge is due in May, the council said.\n"
)


def test_a_lone_comments_line_keeps_the_article_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "bridge.txt"
    path.write_text(COMMENTED, encoding="utf-8")
    code, out, err = run("ingest", str(path), "--json")
    assert code == 0, err
    [outcome] = json.loads(out)["documents"]
    [dropped] = outcome["dropped"]
    assert dropped["kept"] is True and dropped["paragraphs"] == 2
    assert "kept 2 paragraphs after 'Comments'" in err and "--trim-tail" in err
    code, out, _ = run("ask", "How much did the repairs cost?", "--json")
    assert "two million euros" in json.loads(out)["answer"]

    code, out, err = run("ingest", str(path), "--trim-tail")
    assert code == 0
    assert "updated" in out and "dropped 2 paragraphs after 'Comments'" in err
    code, out, _ = run("list", "--json")
    [document] = json.loads(out)["documents"]
    # The id stays with the source; its text is the trimmed version.
    assert document["id"] == outcome["doc_id"] and document["sentences"] == 1


def test_citations_name_the_outlet_and_date(tmp_path: Path) -> None:
    page = tmp_path / "dam.html"
    page.write_text(HTML_PAGE, encoding="utf-8")
    run("ingest", str(page), str(SEED))
    code, out, _ = run("ask", "How many homes will the dam supply?")
    assert code == 0
    assert "[1] Example News · 2025-03-14 · New dam opens on the river (doc " in out
    code, out, _ = run("list")
    assert "Example News · Ann Writer · 2025-03-14 · en" in out
    code, out, _ = run("list", "--json")
    documents = {document["title"]: document for document in json.loads(out)["documents"]}
    dam = documents["New dam opens on the river"]
    assert dam["url"] == "https://news.example/2025/03/14/dam-opens"
    seed = next(document for title, document in documents.items() if "Russia" in title)
    # A text file says nothing about itself: every field is there, and null.
    for field in ("site", "author", "published", "url", "language"):
        assert field in seed and seed[field] is None
    code, out, _ = run("show", str(dam["id"]), "--json")
    assert json.loads(out)["site"] == "Example News"
    code, out, _ = run("ask", "How many homes will the dam supply?", "--json")
    citation = json.loads(out)["citations"][0]
    assert (citation["site"], citation["published"]) == ("Example News", "2025-03-14")


EXTRACTORS = {"trafilatura", "lxml", "feedparser", "pypdf", "htmldate", "justext"}


def test_ask_never_loads_the_extractors(tmp_path: Path) -> None:
    page = tmp_path / "dam.html"
    page.write_text(HTML_PAGE, encoding="utf-8")
    assert run("ingest", str(page))[0] == 0
    probe = (
        "import sys; from typer.testing import CliRunner; from qa.cli import app; "
        "result = CliRunner().invoke(app, ['ask', 'How many homes will the dam supply?']); "
        "assert result.exit_code == 0 and '200,000' in result.stdout, result.stdout; "
        f"loaded = {sorted(EXTRACTORS)!r}; "
        "loaded = [name for name in loaded if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not unshare_works(), reason="unshare -n is not permitted here")
def test_ingest_of_a_page_needs_no_network(tmp_path: Path) -> None:
    """``unshare -n``: the process has no network at all, not even a resolver."""
    page = tmp_path / "dam.html"
    page.write_text(HTML_PAGE, encoding="utf-8")
    qa = Path(sys.executable).parent / "qa"
    env = {**os.environ, "QA_HOME": str(tmp_path / "offline-home")}
    result = subprocess.run(
        ["unshare", "-n", str(qa), "ingest", str(page), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [outcome] = json.loads(result.stdout)["documents"]
    assert outcome["status"] == "added" and outcome["site"] == "Example News"
