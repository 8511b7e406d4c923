"""Transient faults while writing, with real ``qa`` processes: a full disk (a small tmpfs),
a read-only file system, a file-size limit.  Each is one line that says what to free or
change and that nothing was lost; the documents already stored stay whole, and running
the same command again after the fault is gone completes the work."""

from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.index.chroma import fault_kind
from qa.index.store import sqlite_error
from tests.helpers import ROOT, qa_env, qa_process_run

ARTICLES = sorted((ROOT / "eval" / "articles").glob("*.txt"))


def corpus(folder: Path, copies: int) -> Path:
    folder.mkdir()
    for copy in range(copies):
        for article in ARTICLES:
            title, body = article.read_text(encoding="utf-8").split("\n", 1)
            (folder / f"{copy}_{article.name}").write_text(
                f"{title}\n\nCopy {copy}.\n{body}", encoding="utf-8"
            )
    return folder


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (needs the right to mount; skipped without it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root, or no permission)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert lines and "Traceback" not in done.stderr, done.stderr
    assert all("forget" not in line for line in lines)
    return lines[-1]


def consistent(home: Path) -> int:
    """Every stored document is whole (qa check finds at most vectors of no chunk); returns
    the number of documents."""
    checked = qa_process_run("check", "--json", env=qa_env(home))
    report = json.loads(checked.stdout)
    assert {p["kind"] for p in report["problems"]} <= {"orphan-vectors"}, report
    return int(report["documents"])


def test_a_full_disk_says_free_space_and_loses_nothing(small_disk: Path, tmp_path: Path) -> None:
    home = small_disk / "home"
    # One article fits the 3 MB disk; the eleven need about 5 MB (qa.sqlite3 keeps a vector
    # per sentence and per word), so the second ingest fills it with one document stored.
    articles = corpus(tmp_path / "articles", 1)
    first = qa_process_run("ingest", str(min(articles.iterdir())), env=qa_env(home))
    assert first.returncode == 0, first.stderr
    full = qa_process_run("ingest", str(articles), env=qa_env(home))
    assert full.returncode != 0
    line = one_line(full)
    assert "free space on the disk that holds" in line and "nothing was lost" in line
    # While the disk is full, check says so too; no repair would move anything for it.
    checked = qa_process_run("check", "--json", env=qa_env(home))
    kinds = {p["kind"] for p in json.loads(checked.stdout)["problems"]}
    assert "vectors-unreadable" not in kinds and "damaged-database" not in kinds

    remount(small_disk, "size=80m")
    stored = consistent(home)
    assert 0 < stored < 11
    again = qa_process_run("ingest", str(articles), env=qa_env(home))
    assert again.returncode == 0, again.stderr
    assert f"{11 - stored} added, 0 updated, {stored} unchanged" in again.stderr
    assert consistent(home) == 11


def test_a_read_only_disk_says_so_and_loses_nothing(small_disk: Path, tmp_path: Path) -> None:
    home = small_disk / "home"
    first = qa_process_run("ingest", str(ARTICLES[0]), env=qa_env(home))
    assert first.returncode == 0, first.stderr
    remount(small_disk, "ro")
    for args in (("ingest", str(ARTICLES[1])), ("forget", "--all", "--yes")):
        done = qa_process_run(*args, env=qa_env(home))
        assert done.returncode != 0
        line = one_line(done)
        assert "write access" in line and "nothing was lost" in line, line
    remount(small_disk, "rw")
    assert consistent(home) == 1


def test_a_file_size_limit_is_named_and_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "store"
    # One article is stored before the limit; the eleven's files would pass 1.5 MB.
    articles = corpus(tmp_path / "articles", 1)
    first = qa_process_run("ingest", str(min(articles.iterdir())), env=qa_env(home))
    assert first.returncode == 0, first.stderr

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_500_000, 1_500_000))

    limited = subprocess.run(
        [sys.executable, "-m", "qa", "ingest", str(articles)],
        env=qa_env(home),
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=600,
        check=False,
    )
    assert limited.returncode != 0
    line = one_line(limited)
    assert "file-size limit (ulimit -f: 1,500,000 bytes)" in line
    assert "nothing was lost" in line
    stored = consistent(home)
    again = qa_process_run("ingest", str(articles), env=qa_env(home))
    assert again.returncode == 0, again.stderr
    assert consistent(home) == 11 and 0 < stored < 11


def test_a_locked_database_is_a_transient_fault(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as raised:
        other.execute("SELECT * FROM t")
    holder.rollback()
    assert fault_kind(raised.value) == "locked"
    error = sqlite_error(path, "read", raised.value)
    assert "another program holds" in error.fix and "nothing was lost" in error.fix
    assert "damaged" not in str(error)
    holder.close()
    other.close()
