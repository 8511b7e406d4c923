"""The command line: parse options, call one library function, print the result.

Results go to stdout (a human view, or one JSON object with ``--json``);
progress and errors go to stderr.  A :class:`~qa.errors.QAError` becomes one
line on stderr and a non-zero exit; any other exception is a bug and keeps
its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qa.config import Settings
from qa.errors import QAError
from qa.types import Answer, Citation, Claim, DocumentMeta, IngestOutcome, Summary

app = typer.Typer(
    help="Answer questions about news articles, and summarise them, with verified citations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Soft wrap: the terminal wraps, so copied answers carry no inserted line breaks.
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

CollectionOption = Annotated[
    str | None, typer.Option("--collection", "-c", help="Collection name (env QA_COLLECTION).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
DocOption = Annotated[
    str | None, typer.Option("--doc", "-d", help="Restrict to one document (id or id prefix).")
]
BackendOption = Annotated[
    str | None,
    typer.Option("--backend", "-b", help="extractive (offline) or openai (env QA_BACKEND)."),
]
ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="Model (env QA_MODEL).")]
BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible endpoint (env OPENAI_BASE_URL)."),
]
ContextOption = Annotated[
    int | None,
    typer.Option(
        "--max-context-tokens", help="Prompt budget for evidence (env QA_MAX_CONTEXT_TOKENS)."
    ),
]
ChromaUrlOption = Annotated[
    str | None,
    typer.Option(
        "--chroma-url", help="Use a Chroma server, e.g. http://127.0.0.1:8000 (env QA_CHROMA_URL)."
    ),
]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Bypass the LLM response cache.")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show timings and token usage.")
]


def fail(error: QAError) -> NoReturn:
    stderr.print(f"error: {escape(str(error))}", soft_wrap=True)
    raise typer.Exit(error.exit_code)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except QAError as error:
        fail(error)


def settings_from(
    collection: str | None = None,
    backend: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    max_context_tokens: int | None = None,
    no_cache: bool = False,
    chunk_tokens: int | None = None,
    chroma_url: str | None = None,
    max_mb: float | None = None,
) -> Settings:
    from qa.backends.registry import check_name

    settings = Settings.from_env(
        collection=collection,
        chroma_url=chroma_url,
        max_input_bytes=None if max_mb is None else int(max_mb * 1024 * 1024),
        backend=backend,
        model=model,
        base_url=base_url,
        max_context_tokens=max_context_tokens,
        use_cache=False if no_cache else None,
        chunk_tokens=chunk_tokens,
    )
    # A mistyped backend fails at once, before an ingest or a retrieval runs.
    check_name(settings.backend)
    return settings


def progress_bar() -> Progress:
    """A bar on stderr, shown only on a terminal so logs and pipes stay clean."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )


def print_json(payload: dict[str, Any]) -> None:
    # Plain print: rich would wrap long lines and break the JSON.
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


@app.command()
def ingest(
    sources: Annotated[
        list[str], typer.Argument(help="Files, folders, http(s) URLs, or - for stdin.")
    ],
    collection: CollectionOption = None,
    chunk_tokens: Annotated[
        int | None,
        typer.Option("--chunk-tokens", help="Token budget per chunk (env QA_CHUNK_TOKENS)."),
    ] = None,
    max_mb: Annotated[
        float | None,
        typer.Option("--max-mb", help="Refuse inputs larger than this (env QA_MAX_INPUT_MB; 5)."),
    ] = None,
    chroma_url: ChromaUrlOption = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Ingest at most N entries of each RSS/Atom feed."),
    ] = None,
    trim_tail: Annotated[
        bool,
        typer.Option(
            "--trim-tail",
            help="Cut everything after a 'Comments' / 'Leave a reply' heading, however much.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Clean, split, chunk, embed and store articles. Re-ingesting never duplicates.

    Inputs: .txt, .md, .html and .pdf files, folders of them, http(s) URLs, RSS/Atom
    feeds (each entry's article), or - for stdin. What cleaning cuts is reported.

    Exit status: 0 all stored, 2 nothing stored (every input refused), 3 partial
    (some stored, the refused ones listed on stderr), 1 any other failure.
    """
    from qa.ingestion.pipeline import ingest as run_ingest

    with user_errors():
        settings = settings_from(
            collection, chunk_tokens=chunk_tokens, chroma_url=chroma_url, max_mb=max_mb
        )
        with progress_bar() as progress:
            task = progress.add_task("ingesting", total=None)
            work: list[Any] = []

            def on_progress(outcome: IngestOutcome, done: int, total: int) -> None:
                progress.update(
                    task, completed=done, total=total, description=Path(outcome.source).name
                )
                if outcome.status == "failed":
                    stderr.print(f"error: {escape(outcome.error)}", soft_wrap=True)
                for warning in outcome.warnings:
                    stderr.print(f"warning: {escape(warning)}", soft_wrap=True)
                for dropped in outcome.dropped:
                    stderr.print(
                        f"note: {escape(outcome.source)}: {escape(dropped.describe())}",
                        soft_wrap=True,
                    )

            def on_work(what: str, done: int, total: int) -> None:
                # A second line under the bar while one long document is embedded.
                if not work:
                    work.append(progress.add_task(what, total=total))
                progress.update(work[0], completed=done, total=total, description=what)
                if done >= total:
                    progress.remove_task(work.pop())

            report = run_ingest(
                sources,
                settings=settings,
                on_progress=on_progress,
                on_work=on_work,
                limit=limit,
                trim_tail=trim_tail,
            )
    if as_json:
        print_json(report.to_dict())
    else:
        for outcome in report.outcomes:
            if outcome.status != "failed":
                stdout.print(
                    f"{outcome.status:<9} {outcome.doc_id}  {escape(outcome.title)}"
                    + (f"  ({outcome.chunks} chunks)" if outcome.chunks else "")
                )
    stderr.print(report.summary_line())
    if not report.outcomes:
        stderr.print("error: no .txt, .md, .html or .pdf files found in the given folders")
        raise typer.Exit(2)
    failed = report.count("failed")
    if failed:
        raise typer.Exit(2 if failed == len(report.outcomes) else 3)


def ask_command(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    doc: DocOption = None,
    k: Annotated[int, typer.Option("-k", help="Number of chunks of evidence.")] = 8,
    collection: CollectionOption = None,
    backend: BackendOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    max_context_tokens: ContextOption = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it arrives.")
    ] = False,
    no_cache: NoCacheOption = False,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Answer a question from the ingested articles, citing the exact sentences."""
    from qa.api import ask

    on_text: Callable[[str], None] | None = None
    if stream and not as_json:

        def on_text(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

    with user_errors():
        settings = settings_from(
            collection,
            backend,
            model,
            base_url,
            max_context_tokens,
            no_cache,
            chroma_url=chroma_url,
        )
        answer = ask(question, doc=doc, k=k, settings=settings, on_text=on_text)
    if as_json:
        print_json(answer.to_dict())
        return
    if stream:
        # The stream shows the model's raw ids; the checked claims carry qa's citation numbers.
        sys.stdout.write("\n\n")
        stdout.print("[bold]Checked:[/]")
    print_answer(answer)
    if verbose:
        print_usage(answer.timings, answer.usage.to_dict(), answer.run)


def print_answer(answer: Answer) -> None:
    if answer.abstained:
        stdout.print(escape(answer.text))
        return
    stdout.print(render_claims(answer.claims))
    print_citations(answer.citations, answer.dropped_citations, answer.claims)


def render_claims(claims: list[Claim]) -> str:
    parts = []
    for claim in claims:
        markers = "".join(f"[{number}]" for number in claim.citations)
        flag = " [bold red](unsupported)[/]" if claim.unsupported else ""
        parts.append(f"{escape(claim.text)} [cyan]{escape(markers)}[/]{flag}")
    return " ".join(parts)


def print_citations(citations: list[Citation], dropped: list[str], claims: list[Claim]) -> None:
    if citations:
        stdout.print()
    for citation in citations:
        stdout.print(
            f"[cyan]\\[{citation.number}][/] "
            + "".join(f"{escape(part)} · " for part in (citation.site, citation.published) if part)
            + f"[bold]{escape(short_title(citation.title))}[/] "
            f"[dim](doc {citation.doc_id}, sentence {citation.sentence_index})[/]"
        )
        stdout.print(f"    [green]│[/] {escape(citation.quote)}")
    flagged = [claim for claim in claims if claim.unsupported]
    if dropped or flagged:
        stdout.print()
        stdout.print(
            f"[yellow]{len(dropped)} citation(s) dropped, {len(flagged)} claim(s) flagged[/]"
        )
        for line in dropped:
            stdout.print(f"  [yellow]dropped:[/] {escape(line)}")
        for claim in flagged:
            stdout.print(f"  [red]flagged:[/] {escape('; '.join(claim.problems))}")


# Longer titles are cut at a word in citation lines, so each stays one line on a terminal.
CITATION_TITLE_CHARS = 60


def short_title(title: str) -> str:
    if len(title) <= CITATION_TITLE_CHARS:
        return title
    cut = title[:CITATION_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:-–—")
    return f"{cut}…"


def byline(meta: DocumentMeta) -> str:
    """Outlet · author · date · language, as far as known (empty when nothing is)."""
    parts = [meta.site, meta.author, meta.published, meta.language]
    return " · ".join(part for part in parts if part)


def print_usage(timings: dict[str, float], usage: dict[str, int], run: dict[str, Any]) -> None:
    stderr.print("timings: " + ", ".join(f"{name} {value:.3f}" for name, value in timings.items()))
    for call in run.get("calls", []):
        stderr.print(
            f"call {call['step']} ({call['mode']}): prompt {call['prompt_tokens']}, "
            f"completion {call['completion_tokens']}"
            + (" [cached]" if call["cached"] else "")
            + f", {call['seconds']:.2f} s"
        )
    for fallback in run.get("fallbacks", []):
        stderr.print(f"fallback: {escape(fallback)}")
    stderr.print("usage: " + ", ".join(f"{name} {value}" for name, value in usage.items()))


app.command("ask")(ask_command)


@app.command()
def summarize(
    doc: Annotated[
        str | None, typer.Argument(help="Document id or prefix; all when omitted.")
    ] = None,
    sentences: Annotated[int, typer.Option("--sentences", "-n", help="Summary length.")] = 5,
    collection: CollectionOption = None,
    backend: BackendOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    max_context_tokens: ContextOption = None,
    no_cache: NoCacheOption = False,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Write a neutral summary of one article or the whole collection, every sentence cited."""
    from qa.api import summarize as run_summarize

    with user_errors():
        settings = settings_from(
            collection,
            backend,
            model,
            base_url,
            max_context_tokens,
            no_cache,
            chroma_url=chroma_url,
        )
        summary = run_summarize(doc, sentences=sentences, settings=settings)
    if as_json:
        print_json(summary.to_dict())
        return
    print_summary(summary)
    if verbose:
        print_usage(summary.timings, summary.usage.to_dict(), summary.run)


def print_summary(summary: Summary) -> None:
    stdout.print(render_claims(summary.claims))
    print_citations(summary.citations, summary.dropped_citations, summary.claims)


@app.command("list")
def list_command(
    collection: CollectionOption = None,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the ingested documents."""
    from qa.api import list_documents

    with user_errors():
        documents = list_documents(settings=settings_from(collection, chroma_url=chroma_url))
    if as_json:
        print_json({"documents": [document.to_dict() for document in documents]})
        return
    if not documents:
        stderr.print("no documents yet; run qa ingest PATH first")
        return
    for document in documents:
        stdout.print(
            f"{document.id}  {document.sentences:>4} sentences {document.chunks:>4} chunks  "
            f"[bold]{escape(document.title)}[/]"
        )
        if details := byline(document.meta):
            stdout.print(f"    {escape(details)}")
        stdout.print(f"    [dim]{escape(document.source)}[/]")


@app.command()
def show(
    doc: Annotated[str, typer.Argument(help="Document id or prefix.")],
    collection: CollectionOption = None,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a document's cleaned text with its sentence numbers."""
    from qa.api import show as show_document

    with user_errors():
        document = show_document(doc, settings=settings_from(collection, chroma_url=chroma_url))
    if as_json:
        print_json(
            {
                "id": document.id,
                "title": document.title,
                "source": document.source,
                **document.meta.to_dict(),
                "text": document.text,
                "sentences": [
                    {"index": s.index, "start": s.start, "end": s.end, "text": s.text}
                    for s in document.sentences
                ],
            }
        )
        return
    stdout.print(f"[bold]{escape(document.title)}[/]")
    if details := byline(document.meta):
        stdout.print(escape(details))
    if document.meta.url and document.meta.url != document.source:
        stdout.print(f"[dim]{escape(document.meta.url)}[/]")
    stdout.print(f"[dim]{document.id}  {escape(document.source)}[/]")
    previous_end = 0
    for sentence in document.sentences:
        if "\n\n" in document.text[previous_end : sentence.start]:
            stdout.print()
        stdout.print(f"[cyan]{sentence.index:>3}[/]  {escape(sentence.text)}")
        previous_end = sentence.end


@app.command()
def forget(
    doc: Annotated[str | None, typer.Argument(help="Document id or prefix.")] = None,
    all_documents: Annotated[
        bool, typer.Option("--all", help="Forget the whole collection.")
    ] = False,
    collection: CollectionOption = None,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove a document (or the whole collection) from the vector and lexical indexes."""
    from qa.api import forget as forget_documents

    if (doc is None) == (not all_documents):
        stderr.print("error: give a document id, or --all to forget the whole collection")
        raise typer.Exit(2)
    with user_errors():
        removed = forget_documents(doc, settings=settings_from(collection, chroma_url=chroma_url))
    if as_json:
        print_json({"removed": removed})
    else:
        stderr.print(f"forgot {len(removed)} document(s)")


@app.command("eval")
def eval_command(
    dataset: Annotated[
        Path, typer.Argument(help="Eval dataset folder (articles/, gold.jsonl, ...).")
    ] = Path("eval"),
    backend: BackendOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    max_context_tokens: ContextOption = None,
    as_json: JsonOption = False,
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Write the Markdown report to this file.")
    ] = None,
    repeat: Annotated[
        int, typer.Option("--repeat", help="Run everything N times and report the spread.")
    ] = 1,
    check: Annotated[
        bool, typer.Option("--check", help="Only validate the dataset; ingest nothing.")
    ] = False,
) -> None:
    """Score answers and summaries against gold facts; exit 1 when a metric misses its threshold."""
    from rich.table import Table

    from qa.eval.dataset import check_dataset
    from qa.eval.runner import TABLE_COLUMNS, evaluate
    from qa.eval.runner import Progress as EvalProgress

    if check:
        problems = check_dataset(dataset)
        for problem in problems:
            stdout.print(escape(problem), soft_wrap=True)
        stderr.print(f"{dataset}: {len(problems)} problem(s)" if problems else f"{dataset}: OK")
        raise typer.Exit(1 if problems else 0)
    with user_errors():
        settings = settings_from(None, backend, model, base_url, max_context_tokens)
        with progress_bar() as progress:
            task = progress.add_task("eval", total=None)

            def on_progress(message: str) -> None:
                if isinstance(message, EvalProgress):
                    progress.update(
                        task,
                        completed=message.done,
                        total=message.total,
                        description=f"{message.stage} {message.item}",
                    )

            report = evaluate(dataset, settings=settings, repeat=repeat, on_progress=on_progress)
        if report_file is not None:
            try:
                report_file.write_text(report.to_markdown(), encoding="utf-8")
            except OSError as error:
                stderr.print(f"error: cannot write {report_file}: {error.strerror}")
                raise typer.Exit(2) from None
    if as_json:
        print_json(report.to_dict())
    else:
        for line in report.failure_lines():
            stdout.print(escape(line), soft_wrap=True)
        table = Table(*TABLE_COLUMNS)
        for row in report.table_rows():
            table.add_row(*row, style="red" if row[3] == "FAIL" else None)
        stdout.print(table)
    stderr.print(report.summary_line())
    if not report.passed:
        raise typer.Exit(1)


# Libraries that log what qa already reports in its own words (a damaged PDF, a page
# that is not HTML): their records would reach stderr through logging's last resort.
QUIET_LOGGERS = ("pypdf", "trafilatura", "htmldate", "courlan", "justext", "feedparser")


def show_library_notices() -> None:
    """Print the library's warnings (waiting for a lock, repairs) as plain lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("qa")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    for name in QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False


def main() -> None:
    show_library_notices()
    app()


def ask_main() -> None:
    """The ``ask`` console script: ``qa ask`` on its own."""
    show_library_notices()
    typer.run(ask_command)
