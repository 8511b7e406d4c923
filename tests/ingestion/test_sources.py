"""Bad input through the real CLI: each is refused in one line naming it, or read correctly.

Every refusal must exit non-zero and leave nothing stored; the encodings
people really have (BOMs, UTF-16, Latin-1, Windows-1252) must be decoded to
the right characters.
"""

from __future__ import annotations

import codecs
import gzip
import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SEED, assert_one_line_error, run

ARTICLE = (
    "Town opens new library\n\n"
    "The town of Grünwald opened its new library on Monday, the mayor said.\n\n"
    "“It is a place for everyone,” said Mayor Zoë Müller — adding that it cost €2 million.\n"
)


def stored_documents() -> list[dict[str, object]]:
    code, out, _ = run("list", "--json")
    assert code == 0
    documents: list[dict[str, object]] = json.loads(out)["documents"]
    return documents


def stored_text(doc_id: str) -> str:
    code, out, _ = run("show", doc_id, "--json")
    assert code == 0
    text: str = json.loads(out)["text"]
    return text


def assert_refused(path: Path | str, *needles: str) -> None:
    code, out, err = run("ingest", str(path))
    assert code == 2, err
    assert out == ""
    assert_one_line_error(err, *needles)
    assert stored_documents() == []


# -- files -----------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  \n"])
def test_empty_and_whitespace_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(content)
    assert_refused(path, "blank.txt is empty")


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "a PNG image"),
        (gzip.compress(ARTICLE.encode(), mtime=0), "a gzip archive"),
        (b"PK\x03\x04\x14\x00\x06\x00word/document.xml", "a zip archive"),
        (bytes(range(256)) * 8, "a binary file"),
    ],
)
def test_binary_files_are_refused_whatever_their_extension(
    tmp_path: Path, content: bytes, kind: str
) -> None:
    path = tmp_path / "article.txt"
    path.write_bytes(content)
    assert_refused(path, "article.txt", kind)


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: codecs.BOM_UTF8 + text.encode("utf-8"), id="utf-8-bom"),
        pytest.param(lambda text: text.encode("utf-16"), id="utf-16-bom"),
        pytest.param(lambda text: text.encode("utf-16-le"), id="utf-16-le-no-bom"),
        pytest.param(lambda text: text.encode("utf-16-be"), id="utf-16-be-no-bom"),
        pytest.param(lambda text: text.encode("cp1252"), id="windows-1252"),
    ],
)
def test_encodings_are_decoded_to_the_right_characters(tmp_path: Path, encode: object) -> None:
    path = tmp_path / "library.txt"
    path.write_bytes(encode(ARTICLE))  # type: ignore[operator]
    code, _, err = run("ingest", str(path))
    assert code == 0, err
    [document] = stored_documents()
    text = stored_text(str(document["id"]))
    assert "Grünwald" in text and "“It is a place for everyone,”" in text
    assert "Zoë Müller — adding" in text and "€2 million" in text
    assert "\ufeff" not in text and "\x00" not in text


def test_latin_1_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    latin = "Café reopens\n\nThe café in Düsseldorf reopened on Friday, its owner François said.\n"
    path.write_bytes(latin.encode("latin-1"))
    code, _, err = run("ingest", str(path))
    assert code == 0, err
    [document] = stored_documents()
    assert "Düsseldorf" in stored_text(str(document["id"]))
    assert "François" in stored_text(str(document["id"]))


def test_html_declares_its_charset(tmp_path: Path) -> None:
    page = (
        '<html><head><meta charset="windows-1251"><title>Новости</title></head><body>'
        "<article><p>Мэр города открыл новую библиотеку в понедельник, сообщили власти.</p>"
        "</article></body></html>"
    )
    path = tmp_path / "news.html"
    path.write_bytes(page.encode("cp1251"))
    code, _, err = run("ingest", str(path))
    assert code == 0, err
    [document] = stored_documents()
    assert "новую библиотеку" in stored_text(str(document["id"]))


def test_an_undecidable_encoding_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokyo.txt"
    path.write_bytes(
        ("東京で新しい図書館が開館したと市長が月曜日に発表した。" * 3).encode("shift_jis")
    )
    assert_refused(path, "tokyo.txt", "cannot tell the text encoding", "save it as UTF-8")


# -- decoding like a browser ------------------------------------------------------


def html_page(body: str, charset: str = "utf-8") -> str:
    return (
        f'<!doctype html><html><head><meta charset="{charset}"><title>Library</title></head>'
        f"<body><article><h1>Town opens new library</h1>{body}</article></body></html>"
    )


def ingest_ok(path: Path) -> tuple[str, str]:
    """Ingest one file that must go in; its stored text and the stderr of the run."""
    code, _, err = run("ingest", str(path))
    assert code == 0, err
    [document] = stored_documents()
    return stored_text(str(document["id"])), err


def test_a_few_invalid_bytes_in_a_utf8_page_are_replaced_with_a_warning(tmp_path: Path) -> None:
    # A page that says UTF-8, with three Latin-1 bytes pasted in: browsers show it.
    body = (
        "<p>The town of Grünwald opened its new library on Monday, the mayor said.</p>"
        "<p>It cost 2 million euros, the council's report says.</p>"
    ).encode()
    body = body.replace(b"2 million", b"\xa32 million \xb1\xe9")
    path = tmp_path / "stray.html"
    path.write_bytes(html_page("").encode().replace(b"</h1>", b"</h1>" + body))
    text, err = ingest_ok(path)
    assert "Grünwald" in text and "\ufffd2 million \ufffd\ufffd" in text
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "replaced 3 invalid bytes" in warnings[0], err
    assert "stray.html" in warnings[0]


def test_a_utf8_label_on_a_latin1_page_does_not_garble_it(tmp_path: Path) -> None:
    # No valid UTF-8 sequence at all: the label is wrong, the bytes are Windows-1252.
    page = html_page("<p>Le café de Düsseldorf a rouvert vendredi, dit François.</p>")
    path = tmp_path / "mislabelled.html"
    path.write_bytes(page.encode("cp1252"))
    text, err = ingest_ok(path)
    assert "café de Düsseldorf" in text and "\ufffd" not in text
    assert "warning:" not in err


def test_nul_bytes_in_a_page_are_dropped(tmp_path: Path) -> None:
    page = html_page("<p>The new library opened on Monday, the mayor said.</p>").encode()
    path = tmp_path / "nul.html"
    path.write_bytes(page.replace(b"library opened", b"library\x00 opened\x00"))
    text, err = ingest_ok(path)
    assert "The new library opened on Monday" in text and "\x00" not in text
    assert "dropped 2 NUL bytes" in err


def test_invisible_characters_are_removed_from_stored_text(tmp_path: Path) -> None:
    # Soft hyphens, zero-width characters and bidi controls: invisible, but they split words.
    hidden = (
        "The Lauf\u00adzeit of the new li\u00adbrary is ten years, "
        "the may\u200bor said on Mon\u2060day.\n\n"
        "Its \u202ecatalogue\u202c lists \u2066forty\u2069 thousand books."
    )
    path = tmp_path / "hidden.txt"
    path.write_text(f"Library opens\n\n{hidden}\n", encoding="utf-8")
    text, _ = ingest_ok(path)
    assert text == (
        "The Laufzeit of the new library is ten years, the mayor said on Monday.\n\n"
        "Its catalogue lists forty thousand books."
    )
    code, out, _ = run("ask", "What is the Laufzeit of the library?", "--json")
    assert code == 0 and "Laufzeit" in json.loads(out)["answer"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("photo.html", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
        ("noise.html", bytes(range(256)) * 64),
        # An HTML start, then mostly NULs: not a page with a few stray ones.
        ("padded.html", b"<html><body><p>Hello there.</p>" + b"\x00" * 4096),
    ],
)
def test_real_binaries_are_still_refused(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run("ingest", str(path))
    assert code == 2 and out == ""
    assert_one_line_error(err, name)
    assert "binary" in err or "image" in err


def test_html_that_is_all_script_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.html"
    path.write_text(
        "<!doctype html><html><head><script>window.app = {};</script></head>"
        "<body><div id='root'></div><script src='bundle.js'></script>"
        "<script>render(document.getElementById('root'))</script>"
        "<noscript>You need to enable JavaScript to run this app.</noscript></body></html>"
    )
    assert_refused(path, "app.html", "no article text")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    # Sparse: 64 GiB on paper and no disk; reading it whole would take minutes and all memory.
    huge = tmp_path / "dump.txt"
    with huge.open("wb") as handle:
        handle.truncate(64 * 1024**3)
    started = time.monotonic()
    assert_refused(huge, "dump.txt", "larger than the 5 MB input limit", "--max-mb")
    assert time.monotonic() - started < 10

    small = tmp_path / "article.txt"
    small.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    code, _, err = run("ingest", str(small), "--max-mb", "0.002")
    assert code == 2
    assert_one_line_error(err, "article.txt", "larger than the 0.002 MB input limit")
    code, _, _ = run("ingest", str(small), "--max-mb", "1")
    assert code == 0


def test_stdin_over_the_size_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_MAX_INPUT_MB", "0.01")
    code, _, err = run("ingest", "-", input="A long story. " * 2000)
    assert code == 2
    assert_one_line_error(err, "standard input", "larger than the 0.01 MB input limit")


def test_missing_and_unreadable_paths(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nowhere.txt", "file not found", "nowhere.txt")
    broken = tmp_path / "broken.txt"
    broken.symlink_to(tmp_path / "gone.txt")
    assert_refused(broken, "file not found", "broken.txt")
    # Reading /proc/self/mem from offset 0 fails for every user, root included.
    unreadable = tmp_path / "mem.txt"
    unreadable.symlink_to("/proc/self/mem")
    assert_refused(unreadable, "cannot read", "mem.txt")
    if os.geteuid() != 0:
        locked = tmp_path / "locked.txt"
        locked.write_text(ARTICLE)
        locked.chmod(0)
        assert_refused(locked, "cannot read", "permission denied")


def test_a_folder_with_some_bad_files_is_ingested_partially(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    (folder / "more").mkdir(parents=True)
    (folder / "good.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "more" / "library.txt").write_bytes(ARTICLE.encode("cp1252"))
    (folder / "scan.txt").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    (folder / "empty.md").write_text("\n\n")
    code, out, err = run("ingest", str(folder))
    assert code == 3, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    # A PDF by its bytes, whatever its name says; this one is damaged.
    assert any("cannot read the PDF" in line and "scan.txt" in line for line in errors)
    assert any("empty.md is empty" in line for line in errors)
    assert "2 added, 0 updated, 0 unchanged, 2 failed" in err
    assert "Traceback" not in err
    assert len(stored_documents()) == 2
    assert out.count("added") == 2

    code, _, err = run("ingest", str(folder / "scan.txt"), str(folder / "empty.md"))
    assert code == 2
    assert len(stored_documents()) == 2


# -- URLs ------------------------------------------------------------------------


class TroubleHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/pdf":
            self.reply(200, "application/pdf", b"%PDF-1.4 " * 100)
        elif self.path == "/latin":
            page = "<html><body><p>Le café de Düsseldorf a rouvert vendredi, dit François.</p>"
            self.reply(
                200, "text/html; charset=iso-8859-1", (page + "</body></html>").encode("latin-1")
            )
        elif self.path == "/huge-declared":
            # Declares a gigabyte and sends it slowly: refused on the header, never read.
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(1024**3))
            self.end_headers()
            self.drip(seconds=5)
        elif self.path == "/drip":
            # Never stops sending, one byte at a time, so no single read times out.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.drip(seconds=5)
        else:
            self.reply(404, "text/plain", b"not here")

    def reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def drip(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def trouble_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TroubleHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_failures_are_refused_clearly(
    trouble_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_URL_TIMEOUT", "1")
    assert_refused(f"{trouble_server}/missing", "/missing", "HTTP 404")
    assert_refused(f"{trouble_server}/loop", "/loop", "redirect loop")
    assert_refused(f"{trouble_server}/pdf", "/pdf", "cannot read the PDF")
    started = time.monotonic()
    assert_refused(f"{trouble_server}/huge-declared", "larger than the 5 MB input limit")
    assert time.monotonic() - started < 2
    started = time.monotonic()
    assert_refused(f"{trouble_server}/drip", "/drip", "timed out")
    assert time.monotonic() - started < 3


def test_url_charset_from_the_header_is_used(trouble_server: str) -> None:
    code, _, err = run("ingest", f"{trouble_server}/latin")
    assert code == 0, err
    [document] = stored_documents()
    assert "Düsseldorf" in stored_text(str(document["id"]))


# -- questions -------------------------------------------------------------------


@pytest.fixture
def seeded() -> None:
    code, _, err = run("ingest", str(SEED))
    assert code == 0, err


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("question", ["", "   ", "\t\n", "\x00\x1b"])
def test_empty_questions_are_refused(question: str) -> None:
    code, out, err = run("ask", question)
    assert code == 2 and out == ""
    assert_one_line_error(err, "the question is empty")


@pytest.mark.usefixtures("seeded")
def test_a_very_long_question_is_refused() -> None:
    code, out, err = run("ask", "Who met Putin? " * 667)
    assert code == 2 and out == ""
    assert_one_line_error(err, "10,004 characters", "2,000 limit")


@pytest.mark.usefixtures("seeded")
def test_control_characters_in_a_question_are_ignored() -> None:
    code, out, err = run("ask", "Who\x1b[31m met\x07 Putin\x00 in\r\nMoscow?\x7f", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["question"] == "Who [31m met Putin in Moscow?"
    assert "Steve Witkoff" in payload["answer"]
