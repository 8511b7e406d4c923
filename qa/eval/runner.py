"""Running an evaluation: ingest a dataset into a throwaway collection, answer and
summarise every item, score, and build the report (``qa eval``)."""

from __future__ import annotations

import contextlib
import secrets
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from qa.errors import ConfigError, QAError
from qa.eval.dataset import (
    Dataset,
    GoldQuestion,
    SummaryGold,
    load_dataset,
)
from qa.eval.metrics import Thresholds, load_thresholds, run_metrics
from qa.eval.report import EvalReport
from qa.eval.scoring import (
    CitationChecker,
    QuestionResult,
    SummaryResult,
    score_answer,
    score_summary,
)
from qa.types import IngestOutcome

if TYPE_CHECKING:
    from qa.backends.base import Backend
    from qa.config import Settings
    from qa.index.store import Store


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
    distractors: Sequence[Path | str] = (),
) -> EvalReport:
    """Ingest a dataset into a throwaway collection, answer and summarise everything, score.

    ``thresholds`` defaults to ``DATASET_DIR/thresholds.toml`` when that file
    exists.  Each question is asked about its own article (``doc=``), because
    whether it is answerable is defined against that article alone;
    ``scope="collection"`` asks across all articles instead, as ``qa ask`` does
    by default.  ``distractors`` are other dataset folders whose articles join the
    collection but whose questions are not asked: a crowded collection, where
    retrieval and abstention must cope with many unrelated articles.  An item that
    raises is recorded with its error and scored as a failure.  The throwaway
    collection is dropped even when the run fails; the user's own collection is
    never touched.
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
    runner.distractors = [
        path for folder in distractors for path in load_dataset(folder).articles.values()
    ]
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
        self.distractors: list[Path] = []

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
        own = {path.resolve() for path in paths}
        extra = [path for path in self.distractors if path.resolve() not in own]
        self.total += len(extra)
        report = ingest([*paths, *extra], settings=self.settings, store=store, on_progress=progress)
        for outcome in report.outcomes[: len(paths)]:
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
