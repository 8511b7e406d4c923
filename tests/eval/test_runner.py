"""Real runs of the eval on a slice of eval/: the offline engine, a weak backend that must
fail the gate, errors, interruption, repeats."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from qa.config import Settings
from qa.eval.dataset import check_dataset
from qa.eval.metrics import METRIC_NAMES, load_thresholds
from qa.eval.report import EvalReport
from qa.eval.runner import Progress, evaluate
from qa.types import (
    Document,
    Draft,
    DraftClaim,
    Hit,
    SentenceRef,
    Usage,
)
from tests.helpers import ROOT

EVAL = ROOT / "eval"
SEED_ARTICLE = "00_ceasefire_caveats.txt"


# -- real runs on a slice of eval/ ------------------------------------------


def _slice(root: Path, articles: Sequence[str], questions: int) -> Path:
    """A small dataset cut from eval/: the first answerable questions and the unanswerable ones."""
    (root / "articles").mkdir(parents=True)
    rows: list[str] = []
    for name in articles:
        shutil.copy(EVAL / "articles" / name, root / "articles" / name)
        ours = [
            json.loads(line)
            for line in (EVAL / "gold.jsonl").read_text(encoding="utf-8").splitlines()
            if json.loads(line)["article"] == name
        ]
        chosen = [r for r in ours if r["answerable"]][:questions] + [
            r for r in ours if not r["answerable"]
        ][:1]
        rows += [json.dumps(r) for r in chosen]
    (root / "gold.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    summaries = [
        line
        for line in (EVAL / "summary_gold.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["article"] in articles
    ]
    (root / "summary_gold.jsonl").write_text("\n".join(summaries) + "\n", encoding="utf-8")
    return root


def _collections(settings: Settings) -> list[str]:
    from qa.index.store import Store

    store = Store.open(settings)
    try:
        return [row[0] for row in store.db.execute("SELECT name FROM collections")]
    finally:
        store.close()


def test_evaluate_end_to_end_with_the_offline_engine(tmp_path: Path, settings: Settings) -> None:
    dataset = _slice(tmp_path / "slice", [SEED_ARTICLE], questions=2)
    messages: list[str] = []
    report = evaluate(dataset, settings=settings, on_progress=messages.append)

    assert len(report.questions) == 3 and len(report.summaries) == 1
    assert report.metrics["citation_validity"] == 1.0
    assert report.metrics["errors"] == 0
    assert report.metrics["tokens_total"] == 0  # the offline engine calls no LLM
    assert 0 < report.metrics["answer_fact_recall"] <= 1
    assert set(report.metrics) == set(METRIC_NAMES)
    # Progress covers ingest, every question and the summary, and ends at its total.
    last = messages[-1]
    assert isinstance(last, Progress) and last.done == last.total == 1 + 3 + 1
    assert _collections(settings) == []  # the throwaway collection is gone
    json.dumps(report.to_dict(), allow_nan=False)
    markdown = report.to_markdown()
    assert "| answer_fact_recall |" in markdown
    for failure in report.failures:
        assert f"### {failure.gold.id}" in markdown


class FirstSentenceBackend:
    """A deliberately weak answerer: always the article's first sentence, never abstains."""

    name = "first-sentence"

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: Any = None,
    ) -> Draft:
        document = documents[hits[0].chunk.doc_id]
        first = document.sentences[0]
        return Draft([DraftClaim(first.text, [SentenceRef(document.id, 0)])], usage=Usage())

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        document = documents[0]
        claims = [
            DraftClaim(s.text, [SentenceRef(document.id, s.index)])
            for s in document.sentences[:sentences]
        ]
        return Draft(claims)


def test_gate_fails_for_a_weak_answerer(tmp_path: Path, settings: Settings) -> None:
    dataset = _slice(tmp_path / "slice", [SEED_ARTICLE, "10_amazon_fires_g7.txt"], questions=3)
    report = evaluate(
        dataset,
        settings=settings,
        backend=FirstSentenceBackend(),
        thresholds=load_thresholds(EVAL / "thresholds.toml"),
    )
    assert report.backend == "first-sentence"
    assert not report.passed
    failed = {result.metric for result in report.failed_gates}
    assert {"answer_fact_recall", "abstention_recall"} <= failed
    # Its citations are real stored sentences: the gate fails on content, not on bookkeeping.
    assert report.metrics["citation_validity"] == 1.0
    rows = {row[0]: row for row in report.table_rows()}
    assert rows["answer_fact_recall"][3] == "FAIL"
    assert report.summary_line().startswith("eval FAILED")
    lines = report.failure_lines()
    for failure in report.failures:
        assert f"{failure.gold.id}: {failure.gold.question}" in lines


class CrashingBackend(FirstSentenceBackend):
    name = "crashing"

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: Any = None,
    ) -> Draft:
        raise RuntimeError("backend fell over")


def test_an_erroring_item_is_a_failure_not_a_gap(tmp_path: Path, settings: Settings) -> None:
    dataset = _slice(tmp_path / "slice", [SEED_ARTICLE], questions=1)
    report = evaluate(dataset, settings=settings, backend=CrashingBackend())
    assert report.metrics["errors"] == 2  # one answerable, one unanswerable question
    assert report.metrics["answer_fact_recall"] == 0.0
    assert not report.passed
    assert all(f.error.startswith("RuntimeError: backend fell over") for f in report.failures)
    assert len(report.failures) == 2


def test_collection_is_dropped_when_the_run_is_interrupted(
    tmp_path: Path, settings: Settings
) -> None:
    dataset = _slice(tmp_path / "slice", [SEED_ARTICLE], questions=1)

    def interrupt(message: str) -> None:
        if message.startswith("answer"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(dataset, settings=settings, on_progress=interrupt)
    assert _collections(settings) == []


def test_repeat_reports_a_spread(tmp_path: Path, settings: Settings) -> None:
    dataset = _slice(tmp_path / "slice", [SEED_ARTICLE], questions=1)
    report = evaluate(dataset, settings=settings, repeat=2)
    assert report.repeat == 2 and len(report.questions) == 4
    spread = report.spread["answer_fact_recall"]
    assert spread.stdev == 0.0 and spread.min == spread.max  # the offline engine is deterministic
    assert "## Spread over runs" in report.to_markdown()
    assert isinstance(report, EvalReport)


def test_a_dataset_without_summary_gold_scores_questions_only(
    tmp_path: Path, settings: Settings
) -> None:
    dataset = _slice(tmp_path / "slice", [SEED_ARTICLE], questions=1)
    (dataset / "summary_gold.jsonl").unlink()
    assert check_dataset(dataset) == []
    report = evaluate(dataset, settings=settings)
    assert report.metrics["errors"] == 0
    assert math.isnan(report.metrics["summary_key_fact_coverage"])
    assert not math.isnan(report.metrics["answer_fact_recall"])


@pytest.mark.parametrize("dataset", [EVAL, EVAL / "news-abstention"])
def test_the_reworded_questions_match_the_originals(dataset: Path) -> None:
    """paraphrased/ rewords the questions only: ids, facts and kinds are the originals'."""

    def rows(path: Path) -> dict[str, dict[str, Any]]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return {row["id"]: row for row in map(json.loads, lines)}

    original = rows(dataset / "gold.jsonl")
    reworded = rows(dataset / "paraphrased" / "gold.jsonl")
    assert original.keys() == reworded.keys()
    for key, row in original.items():
        assert {**row, "question": reworded[key]["question"]} == reworded[key]
        assert row["question"] != reworded[key]["question"]
    assert check_dataset(dataset / "paraphrased") == []
