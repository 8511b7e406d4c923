"""The dataset validator: what a valid dataset is, and one named reason per bad row."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from qa.errors import EvalError
from qa.eval.dataset import check_dataset
from qa.eval.runner import evaluate
from tests.helpers import ROOT

EVAL = ROOT / "eval"
SEED_ARTICLE = "00_ceasefire_caveats.txt"

# -- the dataset validator --------------------------------------------------

ARTICLE = """# source: test article
Town opens a bridge

The town opened a new bridge on Monday. The mayor said it cost twelve million dollars.
"""


def _row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "article": "01_bridge.txt",
        "id": "01-q01",
        "question": "When did the bridge open?",
        "gold_facts": ["on Monday"],
        "answerable": True,
        "kind": "factoid",
    }
    row.update(overrides)
    return row


def _write_dataset(
    root: Path, rows: Sequence[Mapping[str, Any] | str], summary: Mapping[str, Any] | None = None
) -> Path:
    (root / "articles").mkdir(parents=True)
    (root / "articles" / "01_bridge.txt").write_text(ARTICLE, encoding="utf-8")
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    (root / "gold.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = summary or {
        "article": "01_bridge.txt",
        "key_facts": ["opened a new bridge"],
        "parties": ["town / mayor"],
        "loaded_terms": [],
    }
    (root / "summary_gold.jsonl").write_text(json.dumps(summary) + "\n", encoding="utf-8")
    return root


UNANSWERABLE_ROW = _row(
    id="01-q02", question="Who built it?", gold_facts=[], answerable=False, kind="unanswerable"
)


def test_check_dataset_accepts_a_valid_dataset(tmp_path: Path) -> None:
    assert check_dataset(_write_dataset(tmp_path, [_row(), UNANSWERABLE_ROW])) == []


@pytest.mark.parametrize("dataset", ["", "adversarial"])
def test_check_dataset_accepts_the_project_dataset(dataset: str) -> None:
    assert check_dataset(EVAL / dataset) == []


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("{not json", "gold.jsonl:1: not valid JSON"),
        ("[1, 2]", "gold.jsonl:1: not a JSON object"),
        (
            _row(gold_facts=["on Tuesday"]),
            "gold.jsonl:1 (01-q01): gold fact not in 01_bridge.txt: 'on Tuesday'",
        ),
        (
            _row(gold_facts=["pen"]),
            "gold.jsonl:1 (01-q01): gold fact only occurs inside longer words",
        ),
        (_row(answerable="yes"), "gold.jsonl:1 (01-q01): key 'answerable' missing or not a bool"),
        (_row(kind="opinion"), "unknown kind 'opinion'"),
        (_row(gold_facts=[]), "answerable row has no gold facts"),
        (_row(kind="unanswerable"), "answerable=True but kind='unanswerable'"),
        (_row(article="99_missing.txt"), "article file not found: articles/99_missing.txt"),
        (_row(extra=1), "unexpected keys ['extra']"),
    ],
)
def test_check_dataset_names_the_row_and_reason(tmp_path: Path, row: Any, expected: str) -> None:
    problems = check_dataset(_write_dataset(tmp_path, [row, UNANSWERABLE_ROW]))
    assert any(expected in problem for problem in problems), problems


def test_check_dataset_rejects_duplicates_and_bad_summary_rows(tmp_path: Path) -> None:
    summary = {
        "article": "01_bridge.txt",
        "key_facts": ["closed the old bridge"],
        "parties": ["county council"],
        "loaded_terms": ["boondoggle"],
    }
    problems = check_dataset(_write_dataset(tmp_path, [_row(), _row(), UNANSWERABLE_ROW], summary))
    assert "gold.jsonl:2 (01-q01): duplicate id" in problems
    assert any("key fact not in 01_bridge.txt: 'closed the old bridge'" in p for p in problems)
    assert any("no alias of party 'county council'" in p for p in problems)
    assert any("loaded term not in 01_bridge.txt: 'boondoggle'" in p for p in problems)


def test_evaluate_refuses_an_invalid_dataset(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path, [_row(gold_facts=["on Tuesday"]), UNANSWERABLE_ROW])
    with pytest.raises(EvalError, match="--check"):
        evaluate(root)
