"""The command line: parse options, call one library function, print the result.

Results go to stdout (a human view, or one JSON object with ``--json``);
progress and errors go to stderr.  A :class:`~qa.errors.QAError` becomes one
line on stderr and a non-zero exit; any other exception is a bug and keeps
its traceback.  Everything printed for a person goes through :func:`safe` (or
``visible``): control characters and bidi overrides in an article, a path or a
reply are shown as escapes, never sent to the terminal; ``--json`` keeps the
exact text, JSON-escaped.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qa.config import Settings, qa_version
from qa.errors import QAError
from qa.text.display import json_safe, visible
from qa.types import Answer, Citation, Claim, DocumentMeta, IngestOutcome, IngestReport, Summary

app = typer.Typer(
    help="Answer questions about news articles, and summarise them, with verified citations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Soft wrap: the terminal wraps, so copied answers carry no inserted line breaks.
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

# Options shared by several commands.  Every option with a value names it (N, NAME, URL);
# every short option has a long one.
CollectionOption = Annotated[
    str | None,
    typer.Option("--collection", "-c", metavar="NAME", help="Collection name (env QA_COLLECTION)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
DocOption = Annotated[
    str | None,
    typer.Option(
        "--doc", "-d", metavar="DOC", help="Restrict to one document (id or unique id prefix)."
    ),
]
BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        "-b",
        metavar="NAME",
        help="extractive, learned, naive (offline) or openai (env QA_BACKEND).",
    ),
]
ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", metavar="MODEL", help="Model (env QA_MODEL).")
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url", metavar="URL", help="OpenAI-compatible endpoint (env OPENAI_BASE_URL)."
    ),
]
ContextOption = Annotated[
    int | None,
    typer.Option(
        "--max-context-tokens",
        metavar="N",
        help="Prompt budget for evidence, in tokens (env QA_MAX_CONTEXT_TOKENS).",
    ),
]
ChromaUrlOption = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        metavar="URL",
        help="Use a Chroma server, e.g. http://127.0.0.1:8000 (env QA_CHROMA_URL).",
    ),
]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Bypass the LLM response cache.")]
MinConfidenceOption = Annotated[
    float | None,
    typer.Option(
        "--min-confidence",
        help="Abstain below this confidence, 0-1 (env QA_MIN_CONFIDENCE; default: as trained).",
    ),
]
# An answer whose confidence is below this is shown with its confidence and a warning.
LOW_CONFIDENCE = 0.5
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show timings and token usage.")
]

# Folder ingest lists each file it skipped up to this many, then counts them by reason.
SKIPPED_LISTED = 10
# `qa ask -` reads at most this much of standard input (a question is at most 2,000
# characters; the rest is read only to say how long it was).
STDIN_QUESTION_BYTES = 64 * 1024


def safe(text: str) -> str:
    """One line of untrusted text for rich: control characters escaped, markup escaped."""
    return escape(visible(text))


def safe_block(text: str) -> str:
    """Untrusted text that may have lines (an article's sentence, an answer)."""
    return escape(visible(text, keep_lines=True))


def fail(error: QAError) -> NoReturn:
    stderr.print(f"error: {safe(str(error))}", soft_wrap=True)
    raise typer.Exit(error.exit_code)


def refuse(message: str, code: int = 2) -> NoReturn:
    stderr.print(f"error: {safe(message)}", soft_wrap=True)
    raise typer.Exit(code)


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
    min_confidence: float | None = None,
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
        min_confidence=min_confidence,
    )
    # A mistyped backend fails at once, before an ingest or a retrieval runs.
    check_name(settings.backend)
    return settings


@app.callback(invoke_without_command=True)
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print qa's version; with --verbose or --json also its main libraries' "
            "and the embedding model.",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="With --version: the libraries too.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --version: one JSON object.")
    ] = False,
) -> None:
    """Answer questions about news articles, and summarise them, with verified citations.

    Example: qa ingest articles/ && qa ask "Who met Putin in Moscow?"
    """
    if version:
        print_versions(verbose, as_json)
        raise typer.Exit()
    if verbose or as_json:
        refuse(
            "--verbose and --json before a command go with --version only; "
            "put them after the command, e.g. qa ask --json QUESTION"
        )
    if ctx.invoked_subcommand is None:
        stdout.print(ctx.get_help())
        raise typer.Exit(2)


def print_versions(verbose: bool, as_json: bool) -> None:
    if not (verbose or as_json):
        sys.stdout.write(f"qa {qa_version()}\n")
        return
    from qa.api import versions

    found = versions()
    if as_json:
        print_json(found)
        return
    for name, version in found.items():
        if name == "embedding_model":
            package = found.get("embedding_model_package", "")
            sys.stdout.write(f"embedding model {version}" + (f" ({package})" if package else ""))
            sys.stdout.write("\n")
        elif name != "embedding_model_package":
            sys.stdout.write(f"{name} {version}\n")


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
    sys.stdout.write(json_safe(json.dumps(payload, ensure_ascii=False, indent=2)) + "\n")


@app.command()
def ingest(
    sources: Annotated[
        list[str],
        typer.Argument(metavar="SOURCE...", help="Files, folders, http(s) URLs, or - for stdin."),
    ],
    collection: CollectionOption = None,
    chunk_tokens: Annotated[
        int | None,
        typer.Option(
            "--chunk-tokens", metavar="N", help="Token budget per chunk (env QA_CHUNK_TOKENS)."
        ),
    ] = None,
    max_mb: Annotated[
        float | None,
        typer.Option(
            "--max-mb",
            metavar="MB",
            help="Refuse inputs larger than this (env QA_MAX_INPUT_MB; 5).",
        ),
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
    A document keeps its id while its source (path or URL) changes: ingesting a changed
    file again updates it. Files in folders that qa does not read are listed as skipped.
    Exit status: 0 all given inputs stored, 2 nothing stored (every input refused),
    3 partial (some stored, the refused ones listed on stderr), 1 any other failure.

    Example: qa ingest eval/articles/ https://example.org/feed.xml --limit 20
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
                    task, completed=done, total=total, description=safe(Path(outcome.source).name)
                )
                if outcome.status == "failed":
                    stderr.print(f"error: {safe(outcome.error)}", soft_wrap=True)
                for warning in outcome.warnings:
                    stderr.print(f"warning: {safe(warning)}", soft_wrap=True)
                for dropped in outcome.dropped:
                    stderr.print(
                        f"note: {safe(outcome.source)}: {safe(dropped.describe())}",
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
                    f"{outcome.status:<9} {outcome.doc_id}  {safe(outcome.title)}"
                    + (f"  ({outcome.chunks} chunks)" if outcome.chunks else "")
                    + (f"  [dim]({safe(outcome.note)})[/]" if outcome.note else "")
                )
    print_skipped(report)
    stderr.print(report.summary_line())
    if not report.outcomes:
        refuse("no .txt, .md, .html or .pdf files found in the given folders")
    failed = report.count("failed")
    if failed:
        raise typer.Exit(2 if failed == len(report.outcomes) else 3)


def print_skipped(report: IngestReport) -> None:
    """One ``skipped:`` line per file a folder held that qa did not read, or, when there
    are many, one line per reason with its count."""
    if len(report.skipped) <= SKIPPED_LISTED:
        for skipped in report.skipped:
            stderr.print(f"skipped: {safe(skipped.path)} ({safe(skipped.reason)})", soft_wrap=True)
        return
    for reason, count in Counter(skipped.reason for skipped in report.skipped).most_common():
        stderr.print(f"skipped: {count} file(s) ({safe(reason)})", soft_wrap=True)


def read_question_from_stdin() -> str:
    """``qa ask -``: the question is all of standard input, its trailing newline removed."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return ""
    data: bytes = stream.read(STDIN_QUESTION_BYTES)
    return data.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")


def ask_command(
    question: Annotated[
        str,
        typer.Argument(
            metavar="QUESTION", help="The question, in quotes, or - to read it from stdin."
        ),
    ],
    doc: DocOption = None,
    k: Annotated[
        int,
        typer.Option("--top-k", "-k", metavar="N", help="Number of chunks of evidence."),
    ] = 8,
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
    min_confidence: MinConfidenceOption = None,
) -> None:
    """Answer a question from the ingested articles, citing the exact sentences.

    Example: qa ask "Who met Putin in Moscow?"
    """
    from qa.api import ask

    if question == "-":
        question = read_question_from_stdin()

    on_text: Callable[[str], None] | None = None
    if stream and not as_json:

        def on_text(text: str) -> None:
            sys.stdout.write(visible(text, keep_lines=True))
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
            min_confidence=min_confidence,
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
        stdout.print(safe_block(answer.text))
        return
    stdout.print(render_claims(answer.claims))
    if answer.confidence is not None and answer.confidence < LOW_CONFIDENCE:
        stdout.print(
            f"[yellow]Low confidence ({answer.confidence:.2f}): the articles may not answer this;"
            " check the cited sentences.[/]"
        )
    print_citations(answer.citations, answer.dropped_citations, answer.claims)


def render_claims(claims: list[Claim]) -> str:
    paragraphs: list[list[str]] = []
    for claim in claims:
        markers = "".join(f"[{number}]" for number in claim.citations)
        flag = " [bold red](unsupported)[/]" if claim.unsupported else ""
        if claim.heading or not paragraphs:
            # The first sentence about a story of a collection summary: its title above it.
            paragraphs.append([f"[bold]{safe(claim.heading)}[/]\n"] if claim.heading else [])
        paragraphs[-1].append(f"{safe_block(claim.text)} [cyan]{escape(markers)}[/]{flag}")
    return "\n\n".join(" ".join(parts).replace("\n ", "\n") for parts in paragraphs)


def print_citations(citations: list[Citation], dropped: list[str], claims: list[Claim]) -> None:
    if citations:
        stdout.print()
    for citation in citations:
        stdout.print(
            f"[cyan]\\[{citation.number}][/] "
            + "".join(f"{safe(part)} · " for part in (citation.site, citation.published) if part)
            + f"[bold]{safe(short_title(citation.title))}[/] "
            f"[dim](doc {citation.doc_id}, sentence {citation.sentence_index})[/]"
        )
        stdout.print(f"    [green]│[/] {safe_block(citation.quote)}")
    flagged = [claim for claim in claims if claim.unsupported]
    if dropped or flagged:
        stdout.print()
        stdout.print(
            f"[yellow]{len(dropped)} citation(s) dropped, {len(flagged)} claim(s) flagged[/]"
        )
        for line in dropped:
            stdout.print(f"  [yellow]dropped:[/] {safe(line)}")
        for claim in flagged:
            stdout.print(f"  [red]flagged:[/] {safe('; '.join(claim.problems))}")


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
            f"call {safe(str(call['step']))} ({safe(str(call['mode']))}): "
            f"prompt {call['prompt_tokens']}, completion {call['completion_tokens']}"
            + (" [cached]" if call["cached"] else "")
            + f", {call['seconds']:.2f} s"
        )
    for fallback in run.get("fallbacks", []):
        stderr.print(f"fallback: {safe(fallback)}")
    stderr.print("usage: " + ", ".join(f"{name} {value}" for name, value in usage.items()))


app.command("ask")(ask_command)


@app.command()
def summarize(
    doc: Annotated[
        str | None,
        typer.Argument(metavar="[DOC]", help="Document id or unique prefix; all when omitted."),
    ] = None,
    sentences: Annotated[
        int, typer.Option("--sentences", "-n", metavar="N", help="Summary length in sentences.")
    ] = 5,
    max_stories: Annotated[
        int,
        typer.Option(
            "--max-stories",
            metavar="N",
            help="Over a collection: stories shown (the rest are counted and named).",
        ),
    ] = 5,
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
    """Write a neutral summary of one article or the whole collection, every sentence cited.

    Example: qa summarize --sentences 3
    """
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
        summary = run_summarize(
            doc, sentences=sentences, max_stories=max_stories, settings=settings
        )
    if as_json:
        print_json(summary.to_dict())
        return
    print_summary(summary)
    if verbose:
        print_usage(summary.timings, summary.usage.to_dict(), summary.run)


def print_summary(summary: Summary) -> None:
    stdout.print(render_claims(summary.claims))
    if summary.coverage_line:
        stdout.print()
        stdout.print(escape(summary.coverage_line))
    print_citations(summary.citations, summary.dropped_citations, summary.claims)


@app.command("list")
def list_command(
    collection: CollectionOption = None,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the ingested documents, with their ids and sources.

    Example: qa list --json
    """
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
            f"[bold]{safe(document.title)}[/]"
        )
        if details := byline(document.meta):
            stdout.print(f"    {safe(details)}")
        for source in document.sources or (document.source,):
            stdout.print(f"    [dim]{safe(source)}[/]")


@app.command()
def show(
    doc: Annotated[str, typer.Argument(metavar="DOC", help="Document id or unique prefix.")],
    collection: CollectionOption = None,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a document's cleaned text with its sentence numbers.

    Example: qa show b8551d21
    """
    from qa.api import show as show_document

    with user_errors():
        document = show_document(doc, settings=settings_from(collection, chroma_url=chroma_url))
    if as_json:
        print_json(
            {
                "id": document.id,
                "title": document.title,
                "source": document.source,
                "sources": list(document.sources or (document.source,)),
                **document.meta.to_dict(),
                "text": document.text,
                "sentences": [
                    {"index": s.index, "start": s.start, "end": s.end, "text": s.text}
                    for s in document.sentences
                ],
            }
        )
        return
    stdout.print(f"[bold]{safe(document.title)}[/]")
    if details := byline(document.meta):
        stdout.print(safe(details))
    if document.meta.url and document.meta.url != document.source:
        stdout.print(f"[dim]{safe(document.meta.url)}[/]")
    stdout.print(f"[dim]{document.id}  {safe(document.source)}[/]")
    for source in document.sources[1:]:
        stdout.print(f"[dim]{' ' * len(document.id)}  {safe(source)}[/]")
    previous_end = 0
    for sentence in document.sentences:
        if "\n\n" in document.text[previous_end : sentence.start]:
            stdout.print()
        stdout.print(f"[cyan]{sentence.index:>3}[/]  {safe_block(sentence.text)}")
        previous_end = sentence.end


@app.command()
def forget(
    docs: Annotated[
        list[str] | None,
        typer.Argument(metavar="[DOC]...", help="Document ids or unique prefixes."),
    ] = None,
    all_documents: Annotated[
        bool, typer.Option("--all", help="Forget the whole collection.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Do not ask before forgetting several documents."),
    ] = False,
    collection: CollectionOption = None,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove documents (or the whole collection) from the vector and lexical indexes.

    Forgetting more than one document, or --all, asks first on a terminal; elsewhere it
    needs --yes.

    Example: qa forget b8551d21
    """
    from qa.api import documents_named
    from qa.api import forget as forget_documents

    if bool(docs) == all_documents:
        refuse("give document ids, or --all to forget the whole collection")
    with user_errors():
        settings = settings_from(collection, chroma_url=chroma_url)
        targets = documents_named(None if all_documents else docs, settings=settings)
        if all_documents or len(targets) > 1:
            count = f"{len(targets)} document{'' if len(targets) == 1 else 's'}"
            what = (
                f"all {count} of collection {settings.collection!r}"
                if all_documents
                else f"{count} ("
                + ", ".join(f"{info.id[:8]} {shorten(info.title, 40)}" for info in targets)
                + ")"
            )
            if targets or not all_documents:
                confirm(f"forget {what}", yes)
        removed = forget_documents(
            None if all_documents else [info.id for info in targets], settings=settings
        )
    if as_json:
        print_json({"removed": removed})
    else:
        stderr.print(f"forgot {len(removed)} document(s)")


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def confirm(action: str, yes: bool) -> None:
    """Ask on the terminal before a destructive ``action``; without one, require --yes."""
    if yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        refuse(
            f"not asked to {action}: no terminal to confirm on; run it again with --yes to go ahead"
        )
    try:
        answer = stderr.input(f"{safe(action[0].upper() + action[1:])}? \\[y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        stderr.print("cancelled; nothing was removed")
        raise typer.Exit(1)


class Scope(StrEnum):
    article = "article"
    collection = "collection"


@app.command()
def check(
    collection: CollectionOption = None,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the store: SQLite integrity, vectors against chunks, the full-text index.

    Prints one line per problem with its fix (stdout) and exits 1 when there is any.
    Changes nothing; qa repair applies the fixes.
    """
    from qa.index.health import check as check_store

    with user_errors():
        report = check_store(settings_from(collection, chroma_url=chroma_url))
    if as_json:
        print_json(report.to_dict())
    else:
        for problem in report.problems:
            stdout.print(f"problem: {escape(problem.line())}")
    stderr.print(report.summary_line())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def repair(
    collection: CollectionOption = None,
    chroma_url: ChromaUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fix what qa check finds without losing text: rebuild vectors and the full-text index
    from the stored documents, remove orphans, move a damaged Chroma folder or database
    aside (never deleting it). Exits 1 if problems remain."""
    from qa.ingestion.repair import repair as repair_store

    with user_errors():
        settings = settings_from(collection, chroma_url=chroma_url)
        with progress_bar() as progress:
            task = progress.add_task("repairing", total=None)

            def on_progress(step: str, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total, description=step)

            report = repair_store(settings, on_progress=on_progress)
    if as_json:
        print_json(report.to_dict())
    else:
        for action in report.actions:
            stdout.print(escape(action))
        for problem in report.check.problems:
            stdout.print(f"problem: {escape(problem.line())}")
    if not report.actions:
        stderr.print("nothing to repair")
    stderr.print(report.check.summary_line())
    if not report.check.ok:
        raise typer.Exit(1)


@app.command("eval")
def eval_command(
    dataset: Annotated[
        Path,
        typer.Argument(
            metavar="[DATASET_DIR]", help="Eval dataset folder (articles/, gold.jsonl, ...)."
        ),
    ] = Path("eval"),
    backend: BackendOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    max_context_tokens: ContextOption = None,
    as_json: JsonOption = False,
    report_file: Annotated[
        Path | None,
        typer.Option("--report", metavar="FILE", help="Write the Markdown report to this file."),
    ] = None,
    repeat: Annotated[
        int,
        typer.Option("--repeat", metavar="N", help="Run everything N times and report the spread."),
    ] = 1,
    check: Annotated[
        bool, typer.Option("--check", help="Only validate the dataset; ingest nothing.")
    ] = False,
    scope: Annotated[
        Scope,
        typer.Option(
            "--scope",
            help="Ask each question about its own article, or across the whole collection.",
        ),
    ] = Scope.article,
    distractors: Annotated[
        list[Path] | None,
        typer.Option(
            "--distractors",
            help="Also ingest this dataset's articles (questions not asked): a crowded collection.",
        ),
    ] = None,
    min_confidence: MinConfidenceOption = None,
    thresholds_file: Annotated[
        Path | None,
        typer.Option(
            "--thresholds", help="Gate with this TOML file (default: DATASET/thresholds.toml)."
        ),
    ] = None,
) -> None:
    """Score answers and summaries against gold facts; exit 1 when a metric misses its threshold.

    Example: qa eval eval/ --report eval-report.md
    """
    from rich.table import Table

    from qa.eval.dataset import check_dataset
    from qa.eval.metrics import load_thresholds
    from qa.eval.report import TABLE_COLUMNS
    from qa.eval.runner import Progress as EvalProgress
    from qa.eval.runner import evaluate

    if check:
        problems = check_dataset(dataset)
        for problem in problems:
            stdout.print(safe_block(problem), soft_wrap=True)
        where = safe(str(dataset))
        stderr.print(f"{where}: {len(problems)} problem(s)" if problems else f"{where}: OK")
        raise typer.Exit(1 if problems else 0)
    with user_errors():
        settings = settings_from(
            None, backend, model, base_url, max_context_tokens, min_confidence=min_confidence
        )
        with progress_bar() as progress:
            task = progress.add_task("eval", total=None)

            def on_progress(message: str) -> None:
                if isinstance(message, EvalProgress):
                    progress.update(
                        task,
                        completed=message.done,
                        total=message.total,
                        description=safe(f"{message.stage} {message.item}"),
                    )

            report = evaluate(
                dataset,
                settings=settings,
                repeat=repeat,
                on_progress=on_progress,
                scope=scope.value,
                distractors=distractors or [],
                thresholds=load_thresholds(thresholds_file) if thresholds_file else None,
            )
        if report_file is not None:
            try:
                report_file.write_text(report.to_markdown(), encoding="utf-8")
            except OSError as error:
                refuse(f"cannot write {report_file}: {error.strerror}")
    if as_json:
        print_json(report.to_dict())
    else:
        for line in report.failure_lines():
            stdout.print(safe_block(line), soft_wrap=True)
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
    handler.setFormatter(VisibleFormatter("%(message)s"))
    logger = logging.getLogger("qa")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    for name in QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False


class VisibleFormatter(logging.Formatter):
    """Log lines with control characters escaped: a path in a warning is untrusted text."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


def main() -> None:
    show_library_notices()
    app()


def ask_main() -> None:
    """The ``ask`` console script: ``qa ask`` on its own."""
    show_library_notices()
    typer.run(ask_command)
