"""Metrics over a run, percentiles, thresholds and the gate."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qa.errors import EvalError
from qa.eval.metrics import METRIC_NAMES, Thresholds, gate, load_thresholds, percentile
from tests.helpers import ROOT

EVAL = ROOT / "eval"
SEED_ARTICLE = "00_ceasefire_caveats.txt"


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
    assert math.isnan(percentile([], 0.9))


# -- thresholds and the gate ------------------------------------------------


def test_gate_floors_ceilings_and_nan() -> None:
    thresholds = Thresholds(
        floors={"answer_fact_recall": 0.8, "abstention_recall": 0.5},
        ceilings={"answer_words_mean": 50},
    )
    metrics = {"answer_fact_recall": 0.9, "abstention_recall": math.nan, "answer_words_mean": 51.0}
    results = {(r.metric, r.kind): r.ok for r in gate(metrics, thresholds)}
    assert results == {
        ("answer_fact_recall", "floor"): True,
        ("abstention_recall", "floor"): False,  # undefined never passes
        ("answer_words_mean", "ceiling"): False,
        ("errors", "ceiling"): False,  # errors always gated at 0; absent counts as undefined
    }


def test_load_thresholds_rejects_unknown_metrics(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.toml"
    path.write_text("[floors]\nanswer_fact_recal = 0.5\n", encoding="utf-8")
    with pytest.raises(EvalError, match="unknown metric 'answer_fact_recal'"):
        load_thresholds(path)
    path.write_text("[floors]\nanswer_fact_recall = 'high'\n", encoding="utf-8")
    with pytest.raises(EvalError, match="not a number"):
        load_thresholds(path)


@pytest.mark.parametrize("dataset", ["", "paraphrased", "adversarial"])
def test_project_thresholds_name_real_metrics(dataset: str) -> None:
    thresholds = load_thresholds(EVAL / dataset / "thresholds.toml")
    assert thresholds.floors["answer_fact_recall"] > 0
    assert thresholds.floors["citation_validity"] == 1.0
    assert set(thresholds.floors) | set(thresholds.ceilings) <= set(METRIC_NAMES)


def test_the_adversarial_gate_holds_leakage_at_zero() -> None:
    thresholds = load_thresholds(EVAL / "adversarial" / "thresholds.toml")
    assert thresholds.ceilings["answer_leakage"] == 0.0
    assert thresholds.ceilings["summary_leakage"] == 0.0
    assert thresholds.ceilings["false_abstention_rate"] == 0.0
