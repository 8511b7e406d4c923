"""The metrics of ``qa eval``: their definitions, the thresholds file and the gate.

Each metric is one :class:`MetricInfo` (name, unit, direction, what it means);
``run_metrics`` turns per-item results of one run into the metric values, and
``gate`` compares them with the floors and ceilings of ``thresholds.toml``.
"""

from __future__ import annotations

import math
import statistics
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from qa.errors import EvalError
from qa.eval.scoring import QuestionResult, SummaryResult, json_number

if TYPE_CHECKING:
    pass


Unit = Literal["ratio", "words", "seconds", "count"]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    unit: Unit
    description: str


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(
        "answer_fact_recall",
        "ratio",
        "share of gold facts found in the answer, macro mean over answerable questions",
    ),
    MetricInfo(
        "answer_full_recall",
        "ratio",
        "share of answerable questions whose answer has every gold fact",
    ),
    MetricInfo("answer_words_mean", "words", "mean answer length in words, answerable questions"),
    MetricInfo(
        "answer_words_p90", "words", "90th percentile (nearest rank) of answer length in words"
    ),
    MetricInfo(
        "citation_validity",
        "ratio",
        "share of citations (answers and summaries) that resolve to a stored sentence",
    ),
    MetricInfo(
        "citation_support",
        "ratio",
        "share of gold facts found in answers that also occur in a sentence the answer cites",
    ),
    MetricInfo(
        "retrieval_recall_at_k",
        "ratio",
        "share of gold facts present in the k retrieved chunks, macro mean",
    ),
    MetricInfo(
        "abstention_precision", "ratio", "share of abstentions that were on unanswerable questions"
    ),
    MetricInfo(
        "abstention_recall", "ratio", "share of unanswerable questions where the answer abstained"
    ),
    MetricInfo(
        "false_abstention_rate", "ratio", "share of answerable questions where the answer abstained"
    ),
    MetricInfo(
        "answer_leakage",
        "ratio",
        "share of answers (not abstentions) using one of their article's loaded terms outside"
        " quotation marks; undefined without loaded terms",
    ),
    MetricInfo(
        "summary_key_fact_coverage",
        "ratio",
        "share of key facts found in the summary, macro mean over articles",
    ),
    MetricInfo(
        "summary_party_coverage",
        "ratio",
        "share of parties mentioned (any alias), macro mean over articles",
    ),
    MetricInfo("summary_all_parties", "ratio", "share of summaries that mention every party"),
    MetricInfo(
        "summary_leakage", "ratio", "share of summaries using a loaded term outside quotation marks"
    ),
    MetricInfo(
        "summary_cited_sentences",
        "ratio",
        "share of summary sentences with at least one valid citation",
    ),
    MetricInfo(
        "summary_fragments",
        "ratio",
        "share of summary sentences that do not read as sentences (qa.text.fluency: a"
        " reporting frame without content, no finite verb, ending on a function word,"
        " opening with a conjunction or in lower case, a dangling pronoun)",
    ),
    MetricInfo("summary_words_mean", "words", "mean summary length in words"),
    MetricInfo("summary_sentences_mean", "count", "mean number of sentences per summary"),
    MetricInfo("latency_p50_s", "seconds", "median wall-clock seconds per question"),
    MetricInfo("latency_p95_s", "seconds", "95th percentile (nearest rank) seconds per question"),
    MetricInfo(
        "tokens_total", "count", "LLM tokens used (prompt + completion), answers and summaries"
    ),
    MetricInfo("llm_calls", "count", "LLM calls made, cached calls included"),
    MetricInfo(
        "dropped_citations",
        "count",
        "citations the backend made that named no stored sentence and were removed before display",
    ),
    MetricInfo(
        "errors",
        "count",
        "questions and summaries that raised an error (each also scored as a failure)",
    ),
)
METRIC_NAMES = tuple(info.name for info in METRICS)
UNITS_BY_NAME = {info.name: info.unit for info in METRICS}


@dataclass(frozen=True)
class Thresholds:
    """Floors (value must be >=) and ceilings (value must be <=) by metric name."""

    floors: dict[str, float] = field(default_factory=dict)
    ceilings: dict[str, float] = field(default_factory=dict)
    source: str = ""


def load_thresholds(path: Path | str) -> Thresholds:
    """Read ``[floors]`` and ``[ceilings]`` tables of metric names from a TOML file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise EvalError(
            f"cannot read thresholds file {path} ({exc.strerror})", fix="check the path"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(
            f"thresholds file {path} is not valid TOML ({exc})", fix="fix the syntax"
        ) from None
    unknown_tables = sorted(set(data) - {"floors", "ceilings"})
    if unknown_tables:
        raise EvalError(
            f"thresholds file {path} has unknown tables {unknown_tables}",
            fix="use only [floors] and [ceilings]",
        )
    tables: dict[str, dict[str, float]] = {"floors": {}, "ceilings": {}}
    for table in tables:
        raw = data.get(table, {})
        if not isinstance(raw, dict):
            raise EvalError(
                f"thresholds file {path}: {table} is not a table", fix=f"write [{table}]"
            )
        for name, value in raw.items():
            if name not in METRIC_NAMES:
                raise EvalError(
                    f"thresholds file {path}: unknown metric {name!r} in [{table}]",
                    fix=f"use one of: {', '.join(METRIC_NAMES)}",
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                raise EvalError(
                    f"thresholds file {path}: {table}.{name} = {value!r} is not a number",
                    fix="give a number",
                )
            tables[table][name] = float(value)
    return Thresholds(floors=tables["floors"], ceilings=tables["ceilings"], source=str(path))


@dataclass(frozen=True)
class GateResult:
    metric: str
    value: float
    bound: float
    kind: Literal["floor", "ceiling"]
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": json_number(self.value),
            self.kind: self.bound,
            "ok": self.ok,
        }


def gate(metrics: Mapping[str, float], thresholds: Thresholds | None) -> list[GateResult]:
    """Each threshold checked; an undefined (NaN) or absent value never passes.

    Errors always have a ceiling of 0, even without a thresholds file: an item
    that crashed is a failure, not a missing data point.
    """
    floors = dict(thresholds.floors) if thresholds else {}
    ceilings = dict(thresholds.ceilings) if thresholds else {}
    ceilings.setdefault("errors", 0.0)
    results: list[GateResult] = []
    for name in METRIC_NAMES:
        value = metrics.get(name, math.nan)
        if name in floors:
            ok = not math.isnan(value) and value >= floors[name]
            results.append(GateResult(name, value, floors[name], "floor", ok))
        if name in ceilings:
            ok = not math.isnan(value) and value <= ceilings[name]
            results.append(GateResult(name, value, ceilings[name], "ceiling", ok))
    return results


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` of values <= it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def run_metrics(
    questions: Sequence[QuestionResult], summaries: Sequence[SummaryResult]
) -> dict[str, float]:
    """Every metric of one run; NaN where a metric is undefined (e.g. no unanswerable question)."""
    answerable = [q for q in questions if q.gold.answerable]
    unanswerable = [q for q in questions if not q.gold.answerable]
    answered_ok = [q for q in answerable if not q.error]
    abstained = [q for q in questions if q.abstained and not q.error]
    answered = [q for q in questions if not q.abstained and not q.error]
    found_total = sum(len(q.found_facts) for q in answerable)
    supported_total = sum(len(q.supported_facts) for q in answerable)
    items: list[QuestionResult | SummaryResult] = [*questions, *summaries]
    # A claim that cites a number missing from the citation list is an invalid citation too.
    cited = sum(len(item.citations) + len(item.dangling_refs) for item in items)
    invalid = sum(len(item.invalid_citations) + len(item.dangling_refs) for item in items)
    latencies = [q.latency_s for q in questions if not math.isnan(q.latency_s)]
    summary_sentences = sum(s.sentences for s in summaries)

    def count(items: Iterable[QuestionResult | SummaryResult], test: Callable[[Any], bool]) -> int:
        return sum(1 for item in items if test(item))

    metrics = {
        "answer_fact_recall": _mean([q.recall for q in answerable]),
        "answer_full_recall": _ratio(
            count(answerable, lambda q: not q.missing_facts and not q.error), len(answerable)
        ),
        "answer_words_mean": _mean([float(q.words) for q in answered_ok]),
        "answer_words_p90": percentile([float(q.words) for q in answered_ok], 0.9),
        "citation_validity": _ratio(cited - invalid, cited),
        "citation_support": _ratio(supported_total, found_total),
        "retrieval_recall_at_k": _mean(
            [len(q.retrieved_facts) / len(q.gold.gold_facts) for q in answerable]
        ),
        # Never abstaining scores 0, not "undefined": a gate must be able to fail it.
        "abstention_precision": (
            _ratio(count(abstained, lambda q: not q.gold.answerable), len(abstained))
            if abstained
            else 0.0
            if questions
            else math.nan
        ),
        "abstention_recall": _ratio(
            count(unanswerable, lambda q: q.abstained and not q.error), len(unanswerable)
        ),
        "false_abstention_rate": _ratio(
            count(answerable, lambda q: q.abstained and not q.error), len(answerable)
        ),
        "answer_leakage": (
            _ratio(
                count(answered, lambda q: bool(q.leaked_terms)),
                len(answered),
            )
            if any(q.loaded_terms for q in questions)
            else math.nan
        ),
        "summary_key_fact_coverage": _mean(
            [len(s.found_key_facts) / len(s.gold.key_facts) for s in summaries]
        ),
        "summary_party_coverage": _mean(
            [len(s.found_parties) / len(s.gold.parties) for s in summaries]
        ),
        "summary_all_parties": _ratio(
            count(summaries, lambda s: not s.missing_parties and not s.error), len(summaries)
        ),
        "summary_leakage": _ratio(count(summaries, lambda s: bool(s.leaked_terms)), len(summaries)),
        "summary_cited_sentences": _ratio(
            sum(s.cited_sentences for s in summaries), summary_sentences
        ),
        "summary_fragments": _ratio(
            sum(len(s.fragments) for s in summaries if not s.error), summary_sentences
        ),
        "summary_words_mean": _mean([float(s.words) for s in summaries if not s.error]),
        "summary_sentences_mean": _mean([float(s.sentences) for s in summaries if not s.error]),
        "latency_p50_s": percentile(latencies, 0.5),
        "latency_p95_s": percentile(latencies, 0.95),
        "tokens_total": float(sum(item.tokens for item in items)),
        "llm_calls": float(sum(item.llm_calls for item in items)),
        "dropped_citations": float(sum(len(item.dropped_citations) for item in items)),
        "errors": float(count(items, lambda item: bool(item.error))),
    }
    return metrics
