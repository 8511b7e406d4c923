"""The eval report: the metric table with spreads, failing questions and summary
shortfalls, as text for the terminal, Markdown for ``--report`` and JSON."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qa.eval.metrics import METRIC_NAMES, UNITS_BY_NAME, GateResult, Thresholds, gate
from qa.eval.scoring import QuestionResult, SummaryResult, json_number
from qa.types import Citation

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Spread:
    """How a metric varied over ``--repeat`` runs (all zero for a deterministic backend)."""

    min: float
    max: float
    stdev: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            "min": json_number(self.min),
            "max": json_number(self.max),
            "stdev": json_number(self.stdev),
        }


def _spread(values: Sequence[float]) -> Spread:
    if any(math.isnan(v) for v in values):
        return Spread(math.nan, math.nan, math.nan)
    stdev = statistics.pstdev(values) if len(values) > 1 else 0.0
    return Spread(min(values), max(values), stdev)


def format_value(name: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    unit = UNITS_BY_NAME.get(name, "ratio")
    if unit == "ratio":
        return f"{value:.3f}"
    if unit == "seconds":
        return f"{value:.3f}"
    if unit == "words" or value != int(value):
        return f"{value:.1f}"
    return f"{int(value)}"


TABLE_COLUMNS = ("metric", "value", "threshold", "status")


@dataclass
class EvalReport:
    """Scores of one ``qa eval`` run; ``metrics`` are means over the repeated runs."""

    dataset: str
    backend: str
    k: int
    summary_sentences: int
    articles: int
    runs: list[dict[str, float]]
    questions: list[QuestionResult]
    summaries: list[SummaryResult]
    thresholds: Thresholds | None = None
    doc_articles: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(init=False)
    spread: dict[str, Spread] = field(init=False)
    gate: list[GateResult] = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = {}
        self.spread = {}
        for name in METRIC_NAMES:
            values = [run.get(name, math.nan) for run in self.runs]
            # A metric undefined in any run is undefined overall: NaN is never averaged away.
            self.metrics[name] = (
                math.nan
                if not values or any(math.isnan(v) for v in values)
                else statistics.fmean(values)
            )
            self.spread[name] = _spread(values) if values else Spread(math.nan, math.nan, math.nan)
        self.gate = gate(self.metrics, self.thresholds)

    @property
    def repeat(self) -> int:
        return len(self.runs)

    @property
    def passed(self) -> bool:
        return all(result.ok for result in self.gate)

    @property
    def failures(self) -> list[QuestionResult]:
        """Questions (of every run) that missed a fact, abstained wrongly, erred or mis-cited."""
        return [result for result in self.questions if result.failed]

    @property
    def summary_failures(self) -> list[SummaryResult]:
        return [result for result in self.summaries if result.reasons]

    @property
    def failed_gates(self) -> list[GateResult]:
        return [result for result in self.gate if not result.ok]

    def failure_lines(self) -> list[str]:
        """Plain-text lines listing each failing question and summary, for a terminal.

        Per question: id, question and why; the missing facts (marked when not even
        retrieved); the answer given; its citations as ``[n] article sentence i``.
        """
        lines: list[str] = []
        for result in self.failures:
            run = f" (run {result.run})" if self.repeat > 1 else ""
            lines.append(f"{result.gold.id}{run}: {result.gold.question}")
            lines.append(f"  why: {'; '.join(result.reasons)}")
            if result.missing_facts:
                missing = ", ".join(
                    repr(f) + ("" if f in result.retrieved_facts else " (not retrieved)")
                    for f in result.missing_facts
                )
                lines.append(f"  missing: {missing}")
            if not result.error:
                lines.append(f"  answer: {result.answer}")
                cites = ", ".join(
                    f"[{c.number}] {self.doc_articles.get(c.doc_id, c.doc_id)}"
                    f" sentence {c.sentence_index}"
                    for c in result.citations
                )
                lines.append(f"  citations: {cites or 'none'}")
        for summary in self.summary_failures:
            run = f" (run {summary.run})" if self.repeat > 1 else ""
            lines.append(f"summary of {summary.gold.article}{run}: {'; '.join(summary.reasons)}")
            if summary.missing_parties:
                lines.append(f"  missing parties: {', '.join(summary.missing_parties)}")
            for fragment in summary.fragments:
                lines.append(f"  fragment: {fragment}")
        return lines

    def summary_line(self) -> str:
        verdict = (
            "PASSED" if self.passed else f"FAILED ({len(self.failed_gates)} thresholds missed)"
        )
        questions = len(self.questions) // max(1, self.repeat)
        runs = f"{self.repeat} run{'s' if self.repeat != 1 else ''}"
        return (
            f"eval {verdict}: {self.articles} articles, {questions} questions, backend "
            f"{self.backend}, {runs}; {len(self.failures)} answers and "
            f"{len(self.summary_failures)} summaries fell short"
        )

    def table_rows(self) -> list[tuple[str, str, str, str]]:
        """Rows of (metric, value, threshold, status) for the CLI's table, in METRICS order.

        With several runs the value reads ``mean (min-max)``.
        """
        bounds: dict[str, list[GateResult]] = {}
        for result in self.gate:
            bounds.setdefault(result.metric, []).append(result)
        rows: list[tuple[str, str, str, str]] = []
        for name in METRIC_NAMES:
            value = format_value(name, self.metrics[name])
            spread = self.spread[name]
            if self.repeat > 1 and not math.isnan(spread.min) and spread.min != spread.max:
                value += f" ({format_value(name, spread.min)}-{format_value(name, spread.max)})"
            checks = bounds.get(name, [])
            threshold = ", ".join(
                f"{'>=' if r.kind == 'floor' else '<='} {format_value(name, r.bound)}"
                for r in checks
            )
            status = "" if not checks else "ok" if all(r.ok for r in checks) else "FAIL"
            rows.append((name, value, threshold, status))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "backend": self.backend,
            "k": self.k,
            "summary_sentences": self.summary_sentences,
            "repeat": self.repeat,
            "articles": self.articles,
            "questions": len(self.questions) // max(1, self.repeat),
            "passed": self.passed,
            "thresholds": self.thresholds.source if self.thresholds else None,
            "metrics": {name: json_number(value) for name, value in self.metrics.items()},
            "spread": {name: spread.to_dict() for name, spread in self.spread.items()},
            "runs": [
                {name: json_number(value) for name, value in run.items()} for run in self.runs
            ],
            "gate": [result.to_dict() for result in self.gate],
            "failures": [result.to_dict() for result in self.failures],
            "summary_failures": [result.to_dict() for result in self.summary_failures],
        }

    def to_markdown(self) -> str:
        lines = [
            "# qa eval report",
            "",
            f"- dataset: `{self.dataset}` ({self.articles} articles,"
            f" {len(self.questions) // max(1, self.repeat)} questions)",
            f"- backend: `{self.backend}`, k={self.k}, summary sentences={self.summary_sentences},"
            f" runs={self.repeat}",
            f"- thresholds: `{self.thresholds.source}`"
            if self.thresholds
            else "- thresholds: none",
            f"- result: **{'PASSED' if self.passed else 'FAILED'}**",
            "",
            "| metric | value | threshold | status |",
            "|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(row)} |" for row in self.table_rows()]
        if self.repeat > 1:
            lines += [
                "",
                "## Spread over runs",
                "",
                "| metric | min | max | stdev |",
                "|---|---|---|---|",
            ]
            for name in METRIC_NAMES:
                spread = self.spread[name]
                low, high = format_value(name, spread.min), format_value(name, spread.max)
                stdev = "n/a" if math.isnan(spread.stdev) else f"{spread.stdev:.4f}"
                lines.append(f"| {name} | {low} | {high} | {stdev} |")
        lines += ["", f"## Failing questions ({len(self.failures)})", ""]
        for result in self.failures:
            lines += _question_markdown(result, self.repeat > 1, self.doc_articles)
        lines += ["", f"## Summaries with shortfalls ({len(self.summary_failures)})", ""]
        for summary in self.summary_failures:
            lines += _summary_markdown(summary, self.repeat > 1)
        return "\n".join(lines).rstrip() + "\n"


def _quote_block(text: str) -> list[str]:
    return [f"> {line}" if line else ">" for line in (text or "(empty)").splitlines()] or [
        "> (empty)"
    ]


def _citation_lines(citations: Sequence[Citation], doc_articles: Mapping[str, str]) -> list[str]:
    return [
        f"  - [{c.number}] `{doc_articles.get(c.doc_id, c.doc_id)}` sentence {c.sentence_index}:"
        f" {c.quote!r}"
        for c in citations
    ]


def _question_markdown(
    result: QuestionResult, show_run: bool, doc_articles: Mapping[str, str]
) -> list[str]:
    run = f" (run {result.run})" if show_run else ""
    lines = [f"### {result.gold.id}{run}: {result.gold.question}", ""]
    lines.append(f"- why: {'; '.join(result.reasons)}")
    if result.missing_facts:
        lines.append(
            "- missing facts: "
            + ", ".join(
                f"`{fact}`{'' if fact in result.retrieved_facts else ' (not retrieved)'}"
                for fact in result.missing_facts
            )
        )
    if result.unsupported_facts:
        lines.append(
            "- facts not in a cited sentence: "
            + ", ".join(f"`{f}`" for f in result.unsupported_facts)
        )
    if not result.error:
        lines.append(f"- answer ({result.words} words{', abstained' if result.abstained else ''}):")
        lines += ["", *_quote_block(result.answer), ""]
        lines.append("- citations:" if result.citations else "- citations: none")
        lines += _citation_lines(result.citations, doc_articles)
        for problem in [*result.invalid_citations, *result.dangling_refs]:
            lines.append(f"  - invalid: {problem}")
    lines.append("")
    return lines


def _summary_markdown(result: SummaryResult, show_run: bool) -> list[str]:
    run = f" (run {result.run})" if show_run else ""
    lines = [f"### {result.gold.article}{run}", "", f"- why: {'; '.join(result.reasons)}"]
    if result.missing_key_facts:
        lines.append(
            "- missing key facts: " + ", ".join(f"`{f}`" for f in result.missing_key_facts)
        )
    if result.missing_parties:
        lines.append("- missing parties: " + ", ".join(f"`{p}`" for p in result.missing_parties))
    if result.fragments:
        lines.append("- not sentences: " + "; ".join(f"`{f}`" for f in result.fragments))
    if not result.error:
        lines += [f"- summary ({result.words} words, {result.sentences} sentences):", ""]
        lines += [*_quote_block(result.text), ""]
        for problem in [*result.invalid_citations, *result.dangling_refs]:
            lines.append(f"  - invalid: {problem}")
    lines.append("")
    return lines
