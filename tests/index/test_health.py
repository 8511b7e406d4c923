"""qa check and qa repair, with real files and real ``qa`` processes: a damaged or removed
Chroma folder, a damaged qa.sqlite3; every document kept, answers ranked densely again."""

from __future__ import annotations

import ast
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, qa_env, qa_process_run

QUESTION = "What caveats did Russia raise?"
# Four eval articles (the first answers QUESTION): enough documents to lose, keep and
# restore, and every repair below re-embeds them, so no more than that.
KEPT = 4


@pytest.fixture(scope="module")
def articles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("articles")
    for article in sorted((ROOT / "eval" / "articles").glob("*.txt"))[:KEPT]:
        shutil.copy(article, folder / article.name)
    return folder


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, articles: Path) -> Path:
    """A store with the articles, made once; each test works on its own copy."""
    home = tmp_path_factory.mktemp("ingested") / "home"
    done = qa_process_run("ingest", str(articles), env=qa_env(home))
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def home(ingested: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(ingested, copy)
    return copy


def qa(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return qa_process_run(*args, env=qa_env(home))


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "forget" not in lines[0]
    return lines[0]


def listed(home: Path) -> list[str]:
    done = qa(home, "list", "--json")
    assert done.returncode == 0, done.stderr
    return sorted(d["id"] for d in json.loads(done.stdout)["documents"])


def evidence(home: Path) -> list[dict[str, object]]:
    done = qa(home, "ask", QUESTION, "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert "supply weapons" in payload["answer"]
    hits: list[dict[str, object]] = payload["evidence"]
    return hits


def chunk_ids(home: Path) -> set[str]:
    db = sqlite3.connect(home / "qa.sqlite3")
    try:
        return {row[0] for row in db.execute("SELECT id FROM chunks")}
    finally:
        db.close()


def vector_ids(home: Path) -> set[str]:
    from qa.config import Settings
    from qa.index.store import Store

    store = Store(Settings.from_env(home=home))
    try:
        return store.vector_ids()
    finally:
        store.close()


def damage_header(path: Path) -> None:
    with path.open("r+b") as file:
        file.write(b"not a database!!" * 8)


def test_a_damaged_chroma_is_named_by_check_and_repair_brings_dense_answers_back(
    home: Path,
) -> None:
    documents = listed(home)
    damage_header(home / "chroma" / "chroma.sqlite3")

    asked = qa(home, "ask", QUESTION)
    assert asked.returncode == 1 and asked.stdout == ""
    assert "qa repair" in one_error(asked)
    # A failed forget changes nothing: every document is still there.
    forgot = qa(home, "forget", "--all", "--yes")
    assert forgot.returncode == 1 and "qa repair" in one_error(forgot)
    forgot = qa(home, "forget", documents[0])
    assert forgot.returncode == 1
    assert listed(home) == documents

    checked = qa(home, "check")
    assert checked.returncode == 1
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1 and str(home / "chroma") in problems[0]
    assert "qa repair" in problems[0] and "forget" not in problems[0]

    repaired = qa(home, "repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    moved = sorted(home.glob("chroma.damaged-*"))
    assert len(moved) == 1 and (moved[0] / "chroma.sqlite3").is_file()
    assert listed(home) == documents
    assert vector_ids(home) == chunk_ids(home)
    assert all(hit["dense_rank"] for hit in evidence(home)[:3])
    assert qa(home, "check").returncode == 0


def test_a_removed_chroma_folder_warns_and_repair_restores_every_vector(home: Path) -> None:
    chunks = len(chunk_ids(home))
    shutil.rmtree(home / "chroma")
    asked = qa(home, "ask", QUESTION, "--json")
    assert asked.returncode == 0
    assert f"{chunks} of {chunks} chunk vectors" in asked.stderr and "qa repair" in asked.stderr
    assert all(hit["dense_rank"] is None for hit in json.loads(asked.stdout)["evidence"])
    # The commands that never open Chroma warn too.
    assert "chunk vectors" in qa(home, "list").stderr

    repaired = qa(home, "repair")
    assert repaired.returncode == 0, repaired.stderr
    assert f"embedded {chunks} missing vectors" in repaired.stdout
    assert vector_ids(home) == chunk_ids(home) != set()
    assert any(hit["dense_rank"] for hit in evidence(home))


def test_ingesting_the_same_files_again_restores_lost_vectors(home: Path, articles: Path) -> None:
    shutil.rmtree(home / "chroma")
    again = qa(home, "ingest", str(articles))
    assert again.returncode == 0, again.stderr
    assert f"0 added, 0 updated, 0 unchanged, 0 failed, {KEPT} restored" in again.stderr
    assert vector_ids(home) == chunk_ids(home) != set()
    # Nothing left to restore: the next run finds everything unchanged.
    assert f"0 added, 0 updated, {KEPT} unchanged" in qa(home, "ingest", str(articles)).stderr


def damage_pages(path: Path, table: str, count: int) -> None:
    db = sqlite3.connect(path)
    pages = [
        row[0]
        for row in db.execute("SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (table,))
    ]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    assert len(pages) >= count
    with path.open("r+b") as file:
        for page in pages[-count:]:
            file.seek((page - 1) * size + 100)
            file.write(b"\xff" * (size - 200))


def test_a_damaged_full_text_index_is_repaired_from_the_documents(home: Path) -> None:
    documents = listed(home)
    damage_pages(home / "qa.sqlite3", "chunk_text_data", 3)
    asked = qa(home, "ask", QUESTION)
    assert asked.returncode == 1
    line = one_error(asked)
    assert "qa.sqlite3 is damaged" in line and "qa repair" in line
    assert "writable" not in line

    checked = qa(home, "check")
    assert checked.returncode == 1 and "fails SQLite's integrity check" in checked.stdout

    repaired = qa(home, "repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert f"copied {KEPT} documents" in repaired.stdout
    assert "rebuilt the full-text index" in repaired.stdout
    assert sorted(home.glob("qa.sqlite3.damaged-*"))
    assert listed(home) == documents
    hits = evidence(home)
    assert any(hit["dense_rank"] for hit in hits) and any(hit["lexical_rank"] for hit in hits)
    assert qa(home, "check").returncode == 0


def test_an_unreadable_database_is_called_damaged_and_nothing_is_deleted(
    home: Path, articles: Path
) -> None:
    before = vector_ids(home)
    damage_header(home / "qa.sqlite3")
    listed_ = qa(home, "list")
    line = one_error(listed_)
    assert "qa.sqlite3 is damaged" in line and "writable" not in line

    repaired = qa(home, "repair")
    assert "no row of" in repaired.stdout and "backup" in repaired.stdout
    # The vectors hold the chunks' text: kept while the damaged file is there.
    assert f"kept {len(before)} vectors" in repaired.stdout
    assert vector_ids(home) == before
    assert sorted(home.glob("qa.sqlite3.damaged-*"))
    # Ingesting the articles again does not sweep them either, and brings everything back.
    assert qa(home, "ingest", str(articles)).returncode == 0
    assert vector_ids(home) == before == chunk_ids(home)


def test_no_error_anywhere_suggests_forgetting() -> None:
    """Every ``fix=`` given to an error in qa/ is checked for "forget"."""
    offenders = []
    for path in (ROOT / "qa").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "fix":
                for part in ast.walk(node.value):
                    if isinstance(part, ast.Constant) and "forget" in str(part.value):
                        offenders.append(f"{path.name}:{part.lineno}")
    assert offenders == []


def test_a_lost_database_does_not_cost_the_vectors(home: Path, articles: Path) -> None:
    before = vector_ids(home)
    (home / "qa.sqlite3").unlink()
    repaired = qa(home, "repair")
    assert f"kept {len(before)} vectors" in repaired.stdout and "backup" in repaired.stdout
    assert vector_ids(home) == before
    # Ingesting the articles again reuses their ids: everything matches once more.
    assert qa(home, "ingest", str(articles)).returncode == 0
    assert vector_ids(home) == before == chunk_ids(home)
