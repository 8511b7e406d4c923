"""Typed values passed between qa's modules and returned by its library API.

Every result object has a ``to_dict()`` that is exactly what ``--json`` prints,
so the JSON output is a serialisation of these types and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# Receives text as a backend produces it (``qa ask --stream``).
TextSink = Callable[[str], None]


@dataclass(frozen=True)
class Sentence:
    """One sentence of a cleaned document: ``document.text[start:end] == text``."""

    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class DocumentMeta:
    """What a page, feed entry or PDF says about an article; ``None`` where it says nothing.

    ``published`` is an ISO date (``2025-03-14``); ``url`` the canonical address;
    ``language`` a language tag as the source gives it (``en``, ``de-CH``)."""

    site: str | None = None
    author: str | None = None
    published: str | None = None
    url: str | None = None
    language: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def merged(self, fallback: DocumentMeta) -> DocumentMeta:
        """These values, with ``fallback``'s where these are unknown."""
        return DocumentMeta(
            **{
                name: value if value is not None else getattr(fallback, name)
                for name, value in asdict(self).items()
            }
        )


@dataclass(frozen=True)
class Document:
    """A cleaned article as stored: the single owner of its sentence spans."""

    id: str
    title: str
    source: str
    text: str
    sentences: tuple[Sentence, ...]
    ingested_at: str = ""
    # The hash of this text version (``qa.index.identity.content_hash``): the id stays
    # with the source while the text changes; chunk ids follow the text.
    version: str = ""
    # Every source this text was ingested from (the first one is ``source``).
    sources: tuple[str, ...] = ()
    meta: DocumentMeta = field(default_factory=DocumentMeta)

    def sentence(self, index: int) -> Sentence:
        return self.sentences[index]


@dataclass(frozen=True)
class Chunk:
    """Consecutive whole sentences ``[first_sentence, last_sentence]`` of one document.

    Its id is ``VERSION:N``, VERSION being the document's text version, so a new
    version of a document never reuses the ids (and vectors) of the old one."""

    doc_id: str
    index: int
    first_sentence: int
    last_sentence: int
    start: int
    end: int
    text: str
    token_count: int
    version: str = ""

    @property
    def id(self) -> str:
        return f"{self.version or self.doc_id}:{self.index}"


@dataclass(frozen=True)
class Hit:
    """A chunk found by retrieval, with its fused score and the ranks behind it."""

    chunk: Chunk
    score: float
    dense_rank: int | None
    lexical_rank: int | None


@dataclass(frozen=True)
class SentenceRef:
    """A pointer to one stored sentence; resolved to a Citation through the store."""

    doc_id: str
    index: int


@dataclass(frozen=True)
class Citation:
    """A resolved citation: the quote is ``document.text[start:end]``."""

    number: int
    doc_id: str
    title: str
    source: str
    sentence_index: int
    start: int
    end: int
    quote: str
    # The outlet and publication date the article carried, for the citation line.
    site: str | None = None
    published: str | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cached_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls
        self.cached_calls += other.cached_calls

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "calls": self.calls,
            "cached_calls": self.cached_calls,
        }


@dataclass
class DraftClaim:
    """A claim as a backend produced it, citing stored sentences.

    ``heading`` is set on the first claim about a story of a collection summary:
    the story's title, which a reader sees above it.
    """

    text: str
    refs: list[SentenceRef]
    unsupported: bool = False
    problems: list[str] = field(default_factory=list)
    heading: str = ""


@dataclass(frozen=True)
class Story:
    """One story of a collection summary: the articles that tell it and whether it is shown.

    A story left out (``shown`` False, past ``--max-stories``) is still counted and
    named in the summary's last line, so a reader knows what the summary skipped.
    """

    title: str
    doc_ids: tuple[str, ...]
    shown: bool = True


@dataclass
class Draft:
    """What a backend returns before citations are numbered and resolved."""

    claims: list[DraftClaim]
    abstained: bool = False
    usage: Usage = field(default_factory=Usage)
    dropped_citations: list[str] = field(default_factory=list)
    # Backend-specific record of the run (per-call usage, fallbacks), shown by --json and -v.
    run: dict[str, Any] = field(default_factory=dict)
    # The stories of a collection summary, shown ones first; empty for one document.
    stories: list[Story] = field(default_factory=list)
    # The probability (0-1) that the evidence answers the question, where the backend has one.
    confidence: float | None = None


@dataclass
class Claim:
    """One sentence of an answer or summary; ``citations`` are Citation numbers."""

    text: str
    citations: list[int]
    unsupported: bool = False
    problems: list[str] = field(default_factory=list)
    heading: str = ""


NOT_IN_ARTICLES = "The articles do not say."


@dataclass
class Answer:
    question: str
    text: str
    abstained: bool
    claims: list[Claim]
    citations: list[Citation]
    evidence: list[Hit] = field(default_factory=list)
    backend: str = "extractive"
    usage: Usage = field(default_factory=Usage)
    dropped_citations: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    # The offline scorer's probability (0-1) that the evidence answers the question; None
    # when the backend gives none (the openai backend).
    confidence: float | None = None

    @property
    def flagged_claims(self) -> int:
        return sum(1 for claim in self.claims if claim.unsupported)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "confidence": self.confidence,
            "backend": self.backend,
            "claims": [asdict(claim) for claim in self.claims],
            "citations": [asdict(citation) for citation in self.citations],
            "evidence": [
                {
                    "chunk_id": hit.chunk.id,
                    "doc_id": hit.chunk.doc_id,
                    "score": round(hit.score, 6),
                    "dense_rank": hit.dense_rank,
                    "lexical_rank": hit.lexical_rank,
                }
                for hit in self.evidence
            ],
            "dropped_citations": list(self.dropped_citations),
            "flagged_claims": self.flagged_claims,
            "usage": self.usage.to_dict(),
            "run": self.run,
            "timings": {name: round(value, 4) for name, value in self.timings.items()},
        }


@dataclass
class Summary:
    doc_ids: list[str]
    text: str
    claims: list[Claim]
    citations: list[Citation]
    backend: str = "extractive"
    usage: Usage = field(default_factory=Usage)
    dropped_citations: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    # A collection summary's stories (shown ones first); empty for one document.
    stories: list[Story] = field(default_factory=list)

    @property
    def flagged_claims(self) -> int:
        return sum(1 for claim in self.claims if claim.unsupported)

    @property
    def coverage_line(self) -> str:
        """The last line of a collection summary: how many articles each story draws on,
        and the stories left out, by title ("" for a one-document summary)."""
        if not self.stories:
            return ""
        shown = [story for story in self.stories if story.shown]
        left = [story for story in self.stories if not story.shown]
        parts = [f"{story.title} ({_articles(len(story.doc_ids))})" for story in shown]
        line = f"{_count(len(shown), 'story', 'stories')} from {_articles(_total(shown))}: "
        line += "; ".join(parts)
        if left:
            line += f"; and {_count(len(left), 'more story', 'more stories')}: "
            line += "; ".join(f"{story.title} ({_articles(len(story.doc_ids))})" for story in left)
        return line + "."

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_ids": list(self.doc_ids),
            "summary": self.text,
            "backend": self.backend,
            "stories": [
                {"title": s.title, "doc_ids": list(s.doc_ids), "shown": s.shown}
                for s in self.stories
            ],
            "coverage": self.coverage_line,
            "sentences": [asdict(claim) for claim in self.claims],
            "citations": [asdict(citation) for citation in self.citations],
            "dropped_citations": list(self.dropped_citations),
            "flagged_claims": self.flagged_claims,
            "usage": self.usage.to_dict(),
            "run": self.run,
            "timings": {name: round(value, 4) for name, value in self.timings.items()},
        }


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _articles(number: int) -> str:
    return _count(number, "article", "articles")


def _total(stories: list[Story]) -> int:
    return sum(len(story.doc_ids) for story in stories)


# added: a new document; updated: a known source's text changed, same id, new text;
# unchanged: the source's text is stored already; linked: the same text is stored from
# another source, and this source was added to that document; restored: already stored,
# but its vectors were missing and were written again; failed: refused.
IngestStatus = Literal["added", "updated", "unchanged", "linked", "restored", "failed"]


@dataclass(frozen=True)
class Dropped:
    """Text the cleaner cut from an article as page furniture, so no cut goes unreported.

    ``kind`` is ``"tail"`` (everything after a heading such as "Comments") or
    ``"furniture"`` (single lines: share buttons, photo credits, page notes).
    ``kept`` is true when a tail cut was not made because it would have removed too
    large a share of the text (``--trim-tail`` makes it)."""

    kind: Literal["tail", "furniture"]
    paragraphs: int
    words: int
    after: str = ""
    kept: bool = False

    def describe(self) -> str:
        units = f"{self.paragraphs} paragraph{'s' if self.paragraphs != 1 else ''}"
        if self.kind == "furniture":
            lines = f"{self.paragraphs} line{'s' if self.paragraphs != 1 else ''}"
            return f"dropped {lines} of page furniture ({self.words} words)"
        if self.kept:
            return (
                f"kept {units} after {self.after!r} ({self.words} words, too much to cut "
                "as a comment section; --trim-tail cuts it)"
            )
        return f"dropped {units} after {self.after!r} ({self.words} words)"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.describe()}


@dataclass(frozen=True)
class IngestOutcome:
    source: str
    status: IngestStatus
    doc_id: str = ""
    title: str = ""
    chunks: int = 0
    error: str = ""
    # What else happened, in words (e.g. "same text as /path/a.txt").
    note: str = ""
    # What cleaning cut (or kept, see Dropped.kept), and what reading repaired.
    dropped: tuple[Dropped, ...] = ()
    warnings: tuple[str, ...] = ()
    meta: DocumentMeta = field(default_factory=DocumentMeta)

    def notes(self) -> list[str]:
        """One line per warning and per cut, for people."""
        return [*self.warnings, *(dropped.describe() for dropped in self.dropped)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status,
            "doc_id": self.doc_id,
            "title": self.title,
            "chunks": self.chunks,
            "error": self.error,
            "note": self.note,
            **self.meta.to_dict(),
            "dropped": [dropped.to_dict() for dropped in self.dropped],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class SkippedFile:
    """A file inside a given folder that ingest did not read, and why."""

    path: str
    reason: str


@dataclass
class IngestReport:
    outcomes: list[IngestOutcome]
    skipped: list[SkippedFile] = field(default_factory=list)

    def count(self, status: IngestStatus) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    def summary_line(self) -> str:
        line = (
            f"{self.count('added')} added, {self.count('updated')} updated, "
            f"{self.count('unchanged')} unchanged, {self.count('failed')} failed"
        )
        if self.count("linked"):
            line += f", {self.count('linked')} linked"
        if self.count("restored"):
            line += f", {self.count('restored')} restored"
        if self.skipped:
            line += f", {len(self.skipped)} skipped"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": [outcome.to_dict() for outcome in self.outcomes],
            "skipped": [asdict(skipped) for skipped in self.skipped],
            "added": self.count("added"),
            "updated": self.count("updated"),
            "unchanged": self.count("unchanged"),
            "linked": self.count("linked"),
            "restored": self.count("restored"),
            "failed": self.count("failed"),
        }


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    title: str
    source: str
    sentences: int
    chunks: int
    ingested_at: str
    # Every source of this text, ``source`` first.
    sources: tuple[str, ...] = ()
    meta: DocumentMeta = field(default_factory=DocumentMeta)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "sentences": self.sentences,
            "chunks": self.chunks,
            "ingested_at": self.ingested_at,
            "sources": list(self.sources or (self.source,)),
            **self.meta.to_dict(),
        }


@dataclass(frozen=True)
class StoreProblem:
    """One thing ``qa check`` found wrong with a store, and the fix."""

    kind: str
    what: str
    fix: str

    def line(self) -> str:
        return f"{self.what}; {self.fix}"


@dataclass
class CheckReport:
    """What ``qa check`` found: the collection's counts and every problem."""

    collection: str
    database: str
    vectors_at: str
    documents: int = 0
    chunks: int = 0
    vectors: int = 0
    fts_rows: int = 0
    problems: list[StoreProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_line(self) -> str:
        counts = (
            f"collection {self.collection!r}: {self.documents} documents, {self.chunks} chunks, "
            f"{self.vectors} vectors, {self.fts_rows} full-text rows"
        )
        if self.ok:
            return f"{counts}; no problems"
        return f"{counts}; {len(self.problems)} problem(s)"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class RepairReport:
    """What ``qa repair`` did, and the check that followed."""

    actions: list[str]
    check: CheckReport

    def to_dict(self) -> dict[str, Any]:
        return {"actions": list(self.actions), "check": self.check.to_dict()}
