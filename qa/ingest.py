"""Ingest: read a file, folder, URL or stdin, clean it, split it, chunk it, embed it, store it.

Ids are stable: a document's id is a hash of its normalised cleaned content,
and its chunks are ``DOC:N``.  Ingesting the same text again changes nothing;
ingesting a changed version of a source already stored (same path or URL)
replaces the old document and all its chunks.
"""

from __future__ import annotations

import hashlib
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

from qa.chunk import chunk_sentences
from qa.clean import CleanArticle, clean_text, extract_html
from qa.config import Settings
from qa.errors import InputError
from qa.split import split_sentences
from qa.store import Store
from qa.types import Document, IngestOutcome, IngestReport, IngestStatus

FORMATS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}
URL_TIMEOUT_SECONDS = 20.0
MAX_DOWNLOAD_BYTES = 10 * 1024 * 1024
STDIN = "-"


@dataclass(frozen=True)
class RawArticle:
    source: str
    format: str
    content: str


def is_url(source: str) -> bool:
    return bool(re.match(r"^https?://", source, re.IGNORECASE))


def expand_sources(sources: Iterable[str | Path]) -> list[str]:
    """Files, URLs and ``-`` as given; folders replaced by their supported files, recursively."""
    expanded: list[str] = []
    for source in sources:
        text = str(source)
        path = Path(text).expanduser()
        if text != STDIN and not is_url(text) and path.is_dir():
            expanded.extend(
                str(child)
                for child in sorted(path.rglob("*"))
                if child.is_file()
                and child.suffix.lower() in FORMATS
                and not any(part.startswith(".") for part in child.relative_to(path).parts)
            )
        else:
            expanded.append(text)
    return expanded


def read_source(source: str, stdin_text: str | None = None) -> RawArticle:
    if source == STDIN:
        text = stdin_text if stdin_text is not None else sys.stdin.read()
        return RawArticle("stdin", _sniff_format(text), text)
    if is_url(source):
        return fetch_url(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"file not found: {source}", fix="check the path")
    if path.is_dir():
        raise InputError(f"{source} holds no .txt, .md or .html files", fix="point at articles")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"unsupported file type {suffix or '(none)'}: {source}",
            fix="convert it to .txt, .md or .html",
        )
    data = path.read_bytes()
    return RawArticle(str(path.resolve()), FORMATS[suffix], _decode(data, source))


def fetch_url(url: str) -> RawArticle:
    request = urllib.request.Request(url, headers={"User-Agent": "qa/0.1 (+article reader)"})
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_SECONDS) as response:
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
            headers: Message = response.headers
    except urllib.error.HTTPError as error:
        raise InputError(
            f"cannot fetch {url}: HTTP {error.code}", fix="check the address"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise InputError(
            f"cannot fetch {url}: {reason}",
            fix="check the address and the network, or save the page and ingest the file",
        ) from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise InputError(
            f"{url} is larger than {MAX_DOWNLOAD_BYTES // (1024 * 1024)} MB",
            fix="save the article text to a file and ingest that",
        )
    content_type = headers.get_content_type()
    if not (content_type.startswith("text/") or content_type in ("application/xhtml+xml",)):
        raise InputError(
            f"{url} is {content_type}, not a web page or text", fix="ingest an article page"
        )
    charset = headers.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except LookupError:
        text = data.decode("utf-8", errors="replace")
    article_format = "html" if "html" in content_type else _sniff_format(text)
    return RawArticle(url, article_format, text)


def _decode(data: bytes, source: str) -> str:
    if b"\x00" in data[:8192]:
        raise InputError(f"{source} is a binary file", fix="give a .txt, .md or .html article")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            raise InputError(
                f"{source} is not UTF-8 text", fix="save it as UTF-8 and ingest it again"
            ) from None


def _sniff_format(text: str) -> str:
    head = text.lstrip()[:512].lower()
    return "html" if head.startswith(("<!doctype html", "<html")) or "<body" in head else "text"


def clean_article(raw: RawArticle) -> CleanArticle:
    if raw.format == "html":
        return extract_html(raw.content)
    return clean_text(raw.content, markdown=raw.format == "markdown")


def document_id(title: str, text: str) -> str:
    normalised = " ".join(f"{title}\n{text}".casefold().split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def build_document(raw: RawArticle) -> Document:
    article = clean_article(raw)
    sentences = split_sentences(article.text)
    if not sentences:
        raise InputError(f"{raw.source} has no article text after cleaning", fix="check the file")
    return Document(
        id=document_id(article.title, article.text),
        title=article.title or Path(raw.source).stem,
        source=raw.source,
        text=article.text,
        sentences=sentences,
        ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def ingest_one(store: Store, raw: RawArticle) -> IngestOutcome:
    document = build_document(raw)
    if store.has_document(document.id):
        return IngestOutcome(raw.source, "unchanged", document.id, document.title)
    previous = [] if raw.source == "stdin" else store.find_by_source(raw.source)
    chunks = chunk_sentences(
        document.id, document.text, document.sentences, store.settings.chunk_tokens
    )
    embedder = store.embedder
    chunk_vectors = embedder.embed([_dense_text(document, chunk.text) for chunk in chunks])
    sentence_vectors = embedder.embed([sentence.text for sentence in document.sentences])
    store.add_document(document, chunks, chunk_vectors, sentence_vectors)
    for old_id in previous:
        store.remove_document(old_id)
    status: IngestStatus = "replaced" if previous else "added"
    return IngestOutcome(raw.source, status, document.id, document.title, len(chunks))


def _dense_text(document: Document, chunk_text: str) -> str:
    # The headline gives each chunk the story's context in embedding space.
    return f"{document.title}. {chunk_text}" if document.title else chunk_text


def ingest(
    sources: Sequence[str | Path],
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    on_progress: Callable[[IngestOutcome, int, int], None] | None = None,
    stdin_text: str | None = None,
) -> IngestReport:
    """Ingest each source; a source that fails is reported, not raised, so the rest still go in.

    ``on_progress(outcome, done, total)`` is called after each source.
    """
    outcomes: list[IngestOutcome] = []
    with Store.using(store, settings) as store:
        expanded = expand_sources(sources)
        for done, source in enumerate(expanded, 1):
            try:
                outcome = ingest_one(store, read_source(source, stdin_text))
            except InputError as error:
                outcome = IngestOutcome(source, "failed", error=str(error))
            outcomes.append(outcome)
            if on_progress:
                on_progress(outcome, done, len(expanded))
    return IngestReport(outcomes)
