"""The eval suite behind ``qa eval``: answers and summaries scored against gold facts.

Everything here is deterministic and needs no LLM judge: a gold fact counts as
conveyed when it matches the normalised text (see :func:`fact_found`), citations
are checked against the stored sentence spans, and the gate compares each
metric with the floors and ceilings of ``thresholds.toml``.

Not handled, on purpose: paraphrases that reorder or replace a fact's content
words (an answer saying "the cabinet voted unanimously" for the gold fact
"cabinet unanimously voted" is scored as missing it), synonyms, and negation
or attribution errors around a correctly copied fact.  The scorer errs on the
side of missing a fact rather than crediting one that was not conveyed.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import statistics
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from qa.errors import ConfigError, EvalError, QAError
from qa.eval.dataset import (
    Dataset,
    GoldQuestion,
    SummaryGold,
    load_dataset,
)
from qa.eval.match import (
    fact_found,
    leaked_terms,
    normalise,
    party_aliases,
    phrase_found,
    strip_citation_marks,
)
from qa.types import Answer, Citation, Document, IngestOutcome, Summary

if TYPE_CHECKING:
    from qa.backends.base import Backend
    from qa.config import Settings
    from qa.index.store import Store


# ---------------------------------------------------------------------------
# Metrics, thresholds and the gate
# ---------------------------------------------------------------------------

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
_UNITS_BY_NAME = {info.name: info.unit for info in METRICS}


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
            "value": _json_number(self.value),
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


# ---------------------------------------------------------------------------
# Per-item results
# ---------------------------------------------------------------------------


@dataclass
class QuestionResult:
    """One question of one run, scored; ``error`` is set when asking raised."""

    run: int
    gold: GoldQuestion
    answer: str = ""
    abstained: bool = False
    citations: list[Citation] = field(default_factory=list)
    invalid_citations: list[str] = field(default_factory=list)
    dangling_refs: list[str] = field(default_factory=list)
    dropped_citations: list[str] = field(default_factory=list)
    found_facts: list[str] = field(default_factory=list)
    supported_facts: list[str] = field(default_factory=list)
    retrieved_facts: list[str] = field(default_factory=list)
    # The article's loaded terms (summary gold) checked, and those the answer used unquoted.
    loaded_terms: list[str] = field(default_factory=list)
    leaked_terms: list[str] = field(default_factory=list)
    words: int = 0
    latency_s: float = math.nan
    tokens: int = 0
    llm_calls: int = 0
    error: str = ""

    @property
    def missing_facts(self) -> list[str]:
        return [fact for fact in self.gold.gold_facts if fact not in self.found_facts]

    @property
    def unsupported_facts(self) -> list[str]:
        return [fact for fact in self.found_facts if fact not in self.supported_facts]

    @property
    def recall(self) -> float:
        facts = self.gold.gold_facts
        return len(self.found_facts) / len(facts) if facts else math.nan

    @property
    def reasons(self) -> list[str]:
        reasons: list[str] = []
        if self.error:
            reasons.append(f"error: {self.error}")
        elif self.gold.answerable:
            if self.abstained:
                reasons.append("abstained on an answerable question")
            if self.missing_facts:
                not_retrieved = [f for f in self.missing_facts if f not in self.retrieved_facts]
                where = (
                    f"{len(not_retrieved)} of them not retrieved"
                    if not_retrieved
                    else "all retrieved"
                )
                reasons.append(
                    f"missing {len(self.missing_facts)} of {len(self.gold.gold_facts)} facts"
                    f" ({where})"
                )
            if self.unsupported_facts:
                reasons.append(f"{len(self.unsupported_facts)} facts not in any cited sentence")
        elif not self.abstained:
            reasons.append("did not abstain on an unanswerable question")
        if self.leaked_terms:
            reasons.append(f"loaded terms outside quotes: {', '.join(self.leaked_terms)}")
        bad = len(self.invalid_citations) + len(self.dangling_refs)
        if bad:
            reasons.append(f"{bad} invalid citations")
        return reasons

    @property
    def failed(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "id": self.gold.id,
            "article": self.gold.article,
            "question": self.gold.question,
            "answerable": self.gold.answerable,
            "kind": self.gold.kind,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [_citation_dict(c) for c in self.citations],
            "invalid_citations": list(self.invalid_citations) + list(self.dangling_refs),
            "dropped_citations": list(self.dropped_citations),
            "found_facts": list(self.found_facts),
            "missing_facts": self.missing_facts,
            "unsupported_facts": self.unsupported_facts,
            "retrieved_facts": list(self.retrieved_facts),
            "leaked_terms": list(self.leaked_terms),
            "words": self.words,
            "latency_s": _json_number(round(self.latency_s, 4)),
            "tokens": self.tokens,
            "error": self.error,
            "reasons": self.reasons,
        }


@dataclass
class SummaryResult:
    """The summary of one article in one run, scored."""

    run: int
    gold: SummaryGold
    text: str = ""
    sentences: int = 0
    cited_sentences: int = 0
    citations: list[Citation] = field(default_factory=list)
    invalid_citations: list[str] = field(default_factory=list)
    dangling_refs: list[str] = field(default_factory=list)
    dropped_citations: list[str] = field(default_factory=list)
    found_key_facts: list[str] = field(default_factory=list)
    found_parties: list[str] = field(default_factory=list)
    leaked_terms: list[str] = field(default_factory=list)
    words: int = 0
    latency_s: float = math.nan
    tokens: int = 0
    llm_calls: int = 0
    error: str = ""

    @property
    def missing_key_facts(self) -> list[str]:
        return [fact for fact in self.gold.key_facts if fact not in self.found_key_facts]

    @property
    def missing_parties(self) -> list[str]:
        return [party for party in self.gold.parties if party not in self.found_parties]

    @property
    def reasons(self) -> list[str]:
        reasons: list[str] = []
        if self.error:
            return [f"error: {self.error}"]
        if self.missing_key_facts:
            reasons.append(
                f"missing {len(self.missing_key_facts)} of {len(self.gold.key_facts)} key facts"
            )
        if self.missing_parties:
            reasons.append(
                f"missing {len(self.missing_parties)} of {len(self.gold.parties)} parties"
            )
        if self.leaked_terms:
            reasons.append(f"loaded terms outside quotes: {', '.join(self.leaked_terms)}")
        if self.cited_sentences < self.sentences:
            reasons.append(
                f"{self.sentences - self.cited_sentences} sentences without a valid citation"
            )
        bad = len(self.invalid_citations) + len(self.dangling_refs)
        if bad:
            reasons.append(f"{bad} invalid citations")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "article": self.gold.article,
            "summary": self.text,
            "sentences": self.sentences,
            "cited_sentences": self.cited_sentences,
            "citations": [_citation_dict(c) for c in self.citations],
            "invalid_citations": list(self.invalid_citations) + list(self.dangling_refs),
            "dropped_citations": list(self.dropped_citations),
            "found_key_facts": list(self.found_key_facts),
            "missing_key_facts": self.missing_key_facts,
            "found_parties": list(self.found_parties),
            "missing_parties": self.missing_parties,
            "leaked_terms": list(self.leaked_terms),
            "words": self.words,
            "latency_s": _json_number(round(self.latency_s, 4)),
            "tokens": self.tokens,
            "error": self.error,
            "reasons": self.reasons,
        }


def _citation_dict(citation: Citation) -> dict[str, Any]:
    return {
        "number": citation.number,
        "doc_id": citation.doc_id,
        "sentence_index": citation.sentence_index,
        "start": citation.start,
        "end": citation.end,
        "quote": citation.quote,
    }


def _json_number(value: float) -> float | None:
    """JSON has no NaN: an undefined metric is written as null, never dropped."""
    return None if math.isnan(value) else value


class CitationChecker:
    """Checks citations against the store, the one owner of sentence spans."""

    def __init__(self, get_document: Callable[[str], Document]) -> None:
        self._get_document = get_document
        self._documents: dict[str, Document | None] = {}

    def document(self, doc_id: str) -> Document | None:
        if doc_id not in self._documents:
            try:
                self._documents[doc_id] = self._get_document(doc_id)
            except QAError:
                self._documents[doc_id] = None
        return self._documents[doc_id]

    def problem(self, citation: Citation) -> str | None:
        """Why ``citation`` is not a stored sentence, or None when it is one."""
        label = f"[{citation.number}]"
        document = self.document(citation.doc_id)
        if document is None:
            return f"{label} unknown document {citation.doc_id!r}"
        if not 0 <= citation.sentence_index < len(document.sentences):
            return (
                f"{label} sentence {citation.sentence_index} out of range"
                f" ({len(document.sentences)} sentences in {citation.doc_id})"
            )
        sentence = document.sentences[citation.sentence_index]
        if (citation.start, citation.end) != (sentence.start, sentence.end):
            return (
                f"{label} span {citation.start}-{citation.end} is not sentence"
                f" {citation.sentence_index} ({sentence.start}-{sentence.end})"
            )
        if document.text[citation.start : citation.end] != citation.quote:
            return f"{label} quote differs from the stored text"
        return None

    def sentence_text(self, citation: Citation) -> str:
        document = self.document(citation.doc_id)
        assert document is not None
        return document.sentences[citation.sentence_index].text


def _resolve_claim_citations(
    claim_numbers: Iterable[int], citations: Sequence[Citation], checker: CitationChecker
) -> tuple[list[Citation], list[str]]:
    """Valid citations of a claim, and problems of its numbers that resolve to nothing."""
    by_number = {citation.number: citation for citation in citations}
    valid: list[Citation] = []
    problems: list[str] = []
    for number in claim_numbers:
        citation = by_number.get(number)
        if citation is None:
            problems.append(f"[{number}] cited by a sentence but not in the citation list")
        elif checker.problem(citation) is None:
            valid.append(citation)
    return valid, problems


def score_answer(
    gold: GoldQuestion,
    answer: Answer,
    checker: CitationChecker,
    *,
    run: int = 1,
    loaded_terms: Sequence[str] = (),
) -> QuestionResult:
    """Score one answer: facts found, cited, retrieved; citations checked; ``loaded_terms``
    (its article's, from the summary gold: one party's words, or text planted for a model)
    used outside quotation marks."""
    text = strip_citation_marks(answer.text)
    tokens = normalise(text)
    result = QuestionResult(run=run, gold=gold, answer=answer.text, abstained=answer.abstained)
    result.citations = list(answer.citations)
    result.words = len(text.split())
    result.tokens = answer.usage.total_tokens
    result.llm_calls = answer.usage.calls
    result.dropped_citations = list(answer.dropped_citations)
    valid: list[Citation] = []
    for citation in answer.citations:
        problem = checker.problem(citation)
        if problem is None:
            valid.append(citation)
        else:
            result.invalid_citations.append(problem)
    for claim in answer.claims:
        _, dangling = _resolve_claim_citations(claim.citations, answer.citations, checker)
        result.dangling_refs.extend(dangling)
    cited = [normalise(checker.sentence_text(citation)) for citation in valid]
    retrieved = [normalise(hit.chunk.text) for hit in answer.evidence]
    result.found_facts = [fact for fact in gold.gold_facts if fact_found(fact, tokens)]
    result.supported_facts = [
        fact for fact in result.found_facts if any(fact_found(fact, s) for s in cited)
    ]
    result.retrieved_facts = [
        fact for fact in gold.gold_facts if any(fact_found(fact, chunk) for chunk in retrieved)
    ]
    result.loaded_terms = list(loaded_terms)
    if not answer.abstained:
        result.leaked_terms = leaked_terms(text, loaded_terms)
    return result


def score_summary(
    gold: SummaryGold, summary: Summary, checker: CitationChecker, *, run: int = 1
) -> SummaryResult:
    """Score one summary: key facts, parties, loaded terms, cited sentences."""
    text = strip_citation_marks(summary.text)
    tokens = normalise(text)
    result = SummaryResult(run=run, gold=gold, text=summary.text)
    result.citations = list(summary.citations)
    result.words = len(text.split())
    result.tokens = summary.usage.total_tokens
    result.llm_calls = summary.usage.calls
    result.dropped_citations = list(summary.dropped_citations)
    for citation in summary.citations:
        problem = checker.problem(citation)
        if problem is not None:
            result.invalid_citations.append(problem)
    # A summary whose text is not split into claims is one uncited sentence, not zero.
    result.sentences = len(summary.claims) if summary.claims else int(bool(text))
    for claim in summary.claims:
        valid, dangling = _resolve_claim_citations(claim.citations, summary.citations, checker)
        result.dangling_refs.extend(dangling)
        if valid:
            result.cited_sentences += 1
    result.found_key_facts = [fact for fact in gold.key_facts if fact_found(fact, tokens)]
    result.found_parties = [
        party
        for party in gold.parties
        if any(phrase_found(alias, tokens) for alias in party_aliases(party))
    ]
    result.leaked_terms = leaked_terms(text, gold.loaded_terms)
    return result


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


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """How a metric varied over ``--repeat`` runs (all zero for a deterministic backend)."""

    min: float
    max: float
    stdev: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            "min": _json_number(self.min),
            "max": _json_number(self.max),
            "stdev": _json_number(self.stdev),
        }


def _spread(values: Sequence[float]) -> Spread:
    if any(math.isnan(v) for v in values):
        return Spread(math.nan, math.nan, math.nan)
    stdev = statistics.pstdev(values) if len(values) > 1 else 0.0
    return Spread(min(values), max(values), stdev)


def format_value(name: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    unit = _UNITS_BY_NAME.get(name, "ratio")
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
            "metrics": {name: _json_number(value) for name, value in self.metrics.items()},
            "spread": {name: spread.to_dict() for name, spread in self.spread.items()},
            "runs": [
                {name: _json_number(value) for name, value in run.items()} for run in self.runs
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
    if not result.error:
        lines += [f"- summary ({result.words} words, {result.sentences} sentences):", ""]
        lines += [*_quote_block(result.text), ""]
        for problem in [*result.invalid_citations, *result.dangling_refs]:
            lines.append(f"  - invalid: {problem}")
    lines.append("")
    return lines


# ---------------------------------------------------------------------------
# Running an evaluation
# ---------------------------------------------------------------------------


class Progress(str):
    """A progress message (``"answer 12/112 01-q02"``) that also carries its counts.

    It is a ``str`` so any ``Callable[[str], None]`` works as ``on_progress``;
    a progress bar reads ``done``, ``total``, ``stage`` and ``item``.
    """

    done: int
    total: int
    stage: str
    item: str

    def __new__(cls, stage: str, item: str, done: int, total: int) -> Progress:
        message = super().__new__(cls, f"{stage} {done}/{total} {item}")
        message.stage = stage
        message.item = item
        message.done = done
        message.total = total
        return message


def _describe(exc: BaseException) -> str:
    """One line for the report; a bug (not a QAError) also names where it was raised."""
    if isinstance(exc, QAError):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def evaluate(
    dataset_dir: Path | str,
    *,
    settings: Settings | None = None,
    backend: Backend | None = None,
    repeat: int = 1,
    k: int = 8,
    summary_sentences: int = 5,
    on_progress: Callable[[str], None] | None = None,
    thresholds: Thresholds | None = None,
    scope: Literal["article", "collection"] = "article",
) -> EvalReport:
    """Ingest a dataset into a throwaway collection, answer and summarise everything, score.

    ``thresholds`` defaults to ``DATASET_DIR/thresholds.toml`` when that file
    exists.  Each question is asked about its own article (``doc=``), because
    whether it is answerable is defined against that article alone;
    ``scope="collection"`` asks across all articles instead, as ``qa ask`` does
    by default.  An item that raises is recorded with its error and scored as a
    failure.  The throwaway collection is dropped even when the run fails; the
    user's own collection is never touched.
    """
    from qa.config import Settings
    from qa.index.store import Store

    if repeat < 1:
        raise ConfigError(f"--repeat {repeat} is not a positive number", fix="use 1 or more")
    if k < 1:
        raise ConfigError(f"k={k} retrieves nothing", fix="use 1 or more")
    if summary_sentences < 1:
        raise ConfigError(f"{summary_sentences} summary sentences", fix="use 1 or more")
    dataset = load_dataset(dataset_dir)
    if thresholds is None and (dataset.root / "thresholds.toml").is_file():
        thresholds = load_thresholds(dataset.root / "thresholds.toml")
    base = settings if settings is not None else Settings.from_env()
    # A cached LLM reply would make every repeat identical and hide the spread --repeat is for.
    eval_settings = base.with_options(
        collection=f"eval-{secrets.token_hex(6)}", use_cache=False if repeat > 1 else None
    )
    runner = _Runner(dataset, eval_settings, backend, k, summary_sentences, repeat, on_progress)
    runner.scoped = scope == "article"
    store = Store.open(eval_settings)
    try:
        try:
            runs, questions, summaries = runner.run(store)
        except BaseException:
            # The original error matters more than a failed clean-up of a throwaway collection.
            with contextlib.suppress(Exception):
                store.drop_collection()
            raise
        store.drop_collection()
    finally:
        store.close()
    return EvalReport(
        dataset=str(dataset_dir),
        backend=backend.name if backend is not None else eval_settings.backend,
        k=k,
        summary_sentences=summary_sentences,
        articles=len(dataset.articles),
        runs=runs,
        questions=questions,
        summaries=summaries,
        thresholds=thresholds,
        doc_articles={doc_id: name for name, doc_id in runner.doc_ids.items()},
    )


class _Runner:
    """One evaluation: ingest once, then answer and summarise ``repeat`` times."""

    def __init__(
        self,
        dataset: Dataset,
        settings: Settings,
        backend: Backend | None,
        k: int,
        summary_sentences: int,
        repeat: int,
        on_progress: Callable[[str], None] | None,
    ) -> None:
        self.dataset = dataset
        self.settings = settings
        self.backend = backend
        self.k = k
        self.summary_sentences = summary_sentences
        self.repeat = repeat
        self.on_progress = on_progress
        self.total = len(dataset.articles) + repeat * (
            len(dataset.questions) + len(dataset.summaries)
        )
        self.done = 0
        self.doc_ids: dict[str, str] = {}
        self.ingest_errors: dict[str, str] = {}
        self.scoped = True

    def step(self, stage: str, item: str) -> None:
        self.done += 1
        if self.on_progress is not None:
            self.on_progress(Progress(stage, item, self.done, self.total))

    def run(
        self, store: Store
    ) -> tuple[list[dict[str, float]], list[QuestionResult], list[SummaryResult]]:
        self.ingest(store)
        checker = CitationChecker(store.get_document)
        runs: list[dict[str, float]] = []
        all_questions: list[QuestionResult] = []
        all_summaries: list[SummaryResult] = []
        for run in range(1, self.repeat + 1):
            questions: list[QuestionResult] = []
            for gold in self.dataset.questions:
                questions.append(self.ask(gold, store, checker, run))
                self.step("answer", gold.id)
            summaries: list[SummaryResult] = []
            for summary_gold in self.dataset.summaries:
                summaries.append(self.summarize(summary_gold, store, checker, run))
                self.step("summary", summary_gold.article)
            runs.append(run_metrics(questions, summaries))
            all_questions += questions
            all_summaries += summaries
        return runs, all_questions, all_summaries

    def ingest(self, store: Store) -> None:
        from qa.ingestion.pipeline import ingest

        def progress(outcome: IngestOutcome, done: int, total: int) -> None:
            self.step("ingest", Path(outcome.source).name)

        paths = [self.dataset.articles[name] for name in sorted(self.dataset.articles)]
        report = ingest(paths, settings=self.settings, store=store, on_progress=progress)
        for outcome in report.outcomes:
            name = Path(outcome.source).name
            if outcome.status == "failed" or not outcome.doc_id:
                reason = outcome.error or "no document id"
                self.ingest_errors[name] = f"article failed to ingest: {reason}"
            else:
                self.doc_ids[name] = outcome.doc_id
        for name in self.dataset.articles:
            if name not in self.doc_ids and name not in self.ingest_errors:
                self.ingest_errors[name] = "article missing from the ingest report"

    def ask(
        self, gold: GoldQuestion, store: Store, checker: CitationChecker, run: int
    ) -> QuestionResult:
        from qa.api import ask

        if gold.article in self.ingest_errors:
            return QuestionResult(run=run, gold=gold, error=self.ingest_errors[gold.article])
        started = time.perf_counter()
        try:
            answer = ask(
                gold.question,
                doc=self.doc_ids[gold.article] if self.scoped else None,
                k=self.k,
                settings=self.settings,
                backend=self.backend,
                store=store,
            )
            latency = time.perf_counter() - started
            loaded: tuple[str, ...] = next(
                (s.loaded_terms for s in self.dataset.summaries if s.article == gold.article), ()
            )
            result = score_answer(gold, answer, checker, run=run, loaded_terms=loaded)
        except Exception as exc:  # one item's failure is reported and scored, not fatal
            latency = time.perf_counter() - started
            return QuestionResult(run=run, gold=gold, error=_describe(exc), latency_s=latency)
        result.latency_s = latency
        return result

    def summarize(
        self, gold: SummaryGold, store: Store, checker: CitationChecker, run: int
    ) -> SummaryResult:
        from qa.api import summarize

        if gold.article in self.ingest_errors:
            return SummaryResult(run=run, gold=gold, error=self.ingest_errors[gold.article])
        started = time.perf_counter()
        try:
            summary = summarize(
                self.doc_ids[gold.article],
                sentences=self.summary_sentences,
                settings=self.settings,
                backend=self.backend,
                store=store,
            )
            latency = time.perf_counter() - started
            result = score_summary(gold, summary, checker, run=run)
        except Exception as exc:  # one item's failure is reported and scored, not fatal
            latency = time.perf_counter() - started
            return SummaryResult(run=run, gold=gold, error=_describe(exc), latency_s=latency)
        result.latency_s = latency
        return result
