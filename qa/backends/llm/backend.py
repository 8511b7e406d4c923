"""The ``openai`` backend: answers and summaries from any OpenAI-compatible endpoint.

Evidence goes to the model as numbered sentences (ids 1..N) inside
``<articles>`` delimiters; ids are mapped back to :class:`SentenceRef` and every
citation is checked by :mod:`qa.backends.llm.replies` before the Draft is returned. Article
text is data, never instructions: the prompts say so, and each sentence is
written on one line with any fence tag ("</articles>", "&lt;/article&gt;") or
"[n]" marker in it defused (:func:`_clean_line`), so an article cannot end
its fence or pass its own numbers off as evidence ids. What a model that obeys
an injection anyway writes is caught by the checks: an id not in the evidence
is dropped, and a claim that shares no words with what it cites is flagged.

Structured output is asked for with ``response_format`` ``json_schema``; when an
endpoint rejects that form (any 4xx/5xx on it, e.g. llama-cpp-python's HTTP
500) the backend falls back to ``json_object`` with the schema, then to plain
prose with inline ``[n]`` markers, and remembers per endpoint and model which
form worked (in memory, and in the cache folder unless caching is off).
Streaming (``on_text``) always uses the prose form, because streamed JSON is
unreadable to a person; the final text is parsed when the stream ends.

Not handled: tool calls, images, the Responses API, and token counts exact for
non-OpenAI models (those are estimated with cl100k_base, see :mod:`qa.text.tokens`).
Connection failures and timeouts are not retried: the one-line error is more
useful than a long wait. The API key is passed to the client only; it is not in
the cache key, the cache files, the logs or any error message. What a server
sends back is masked (:func:`redact`: the key, any 8-character piece of it, and
"sk-..." strings) before it reaches an error message, the endpoint shown, a
reply or the cache, and a logging filter masks it in the records of the
openai, httpx and httpcore loggers (httpcore logs response headers at DEBUG).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

import openai

from qa.backends.llm.prompts import Prompt, load_prompt
from qa.backends.llm.replies import (
    CheckResult,
    EvidenceItem,
    ParsedReply,
    check_claims,
    flag_fragments,
    parse_json_reply,
    parse_reply,
)
from qa.config import Settings
from qa.errors import BackendError, ConfigError
from qa.text.markers import defuse_markers
from qa.text.tokens import encoding_for_model
from qa.types import (
    NOT_IN_ARTICLES,
    Document,
    Draft,
    DraftClaim,
    Hit,
    Sentence,
    SentenceRef,
    TextSink,
    Usage,
)

if TYPE_CHECKING:
    from qa.index.store import Store

log = logging.getLogger(__name__)

Mode = Literal["json_schema", "json_object", "text"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "text")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
# A local server ignores the key, but the client refuses to start without one.
PLACEHOLDER_KEY = "not-needed"
CACHE_VERSION = 1

CLAIMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "abstained": {"type": "boolean"},
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "sentence_ids": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["text", "sentence_ids"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["abstained", "claims"],
    "additionalProperties": False,
}

# Words servers use when the prompt exceeds the model's context window.
_CONTEXT_WORDS = re.compile(
    r"context[ _]length|context window|maximum context|too many tokens|"
    r"prompt is too long|reduce the length",
    re.IGNORECASE,
)
# Words in an error that blame the structured-output request rather than the server.
_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|schema|grammar", re.I)
# OpenAI-style keys, also the half-masked ones servers echo ("sk-abc***xyz").
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9*_\-]{6,}")
# A run of key characters; one sharing 8 or more in a row with the key is a piece of it.
_KEY_TOKEN = re.compile(r"[A-Za-z0-9_\-]{8,}")
_PIECE = 8
# What could open or close the evidence fences: "<", and its look-alikes (full-width and
# small forms, HTML entities) a model may read as "<", before an optional "/" and the tag.
_FENCE_LIKE = re.compile(
    r"(?:<|\uff1c|\ufe64|&lt;?|&#0*60;?|&#x0*3c;?)(?=\s*/?\s*(?:articles?|notes?)\b)",
    re.IGNORECASE,
)

# Modes that worked, per (endpoint, model): this process's memory of fallbacks.
_KNOWN_MODES: dict[str, Mode] = {}


@dataclass
class CallRecord:
    """One model request as ``-v`` may show it; tokens are 0 for a cache hit."""

    step: str
    mode: Mode
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 4)
        return data


@dataclass
class RunInfo:
    """What the last answer()/summarize() did, beyond the Draft: for -v and debugging."""

    calls: list[CallRecord] = field(default_factory=list)
    evidence_sentences: int = 0
    omitted_sentences: int = 0
    map_groups: int = 0
    map_notes: int = 0
    fallbacks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": [call.to_dict() for call in self.calls],
            "evidence_sentences": self.evidence_sentences,
            "omitted_sentences": self.omitted_sentences,
            "map_groups": self.map_groups,
            "map_notes": self.map_notes,
            "fallbacks": list(self.fallbacks),
        }


@dataclass(frozen=True)
class _Unit:
    """One numbered line of evidence: a stored sentence, or a note from the map step."""

    text: str
    item: EvidenceItem
    order: tuple[int, int]
    header: str = ""


@dataclass(frozen=True)
class _Evidence:
    block: str
    items: dict[int, EvidenceItem]
    used: int
    omitted: int


@dataclass(frozen=True)
class _Reply:
    text: str
    usage: Usage
    cache_key: str


class _FormatRejected(Exception):
    """The endpoint refused this response_format; the caller tries the next form."""


def redact(text: str, secrets: Iterable[str], *, key_like: bool = True) -> str:
    """``text`` with each secret, any 8-character piece of one, and key-like strings masked.

    A server may echo the key whole, cut ("...qaLEAKCHECK-7f3a9c1e"), without its
    prefix, or half-masked ("sk-abc***xyz"); all of those become ``***``. With
    ``key_like`` False, other "sk-..." strings are left alone (model replies).
    """
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "***")
        if len(secret) >= _PIECE:

            def mask(match: re.Match[str], secret: str = secret) -> str:
                token = match.group()
                pieces = (token[i : i + _PIECE] for i in range(len(token) - _PIECE + 1))
                return "***" if any(piece in secret for piece in pieces) else token

            text = _KEY_TOKEN.sub(mask, text)
    return _KEY_LIKE.sub("***", text) if key_like else text


class _Redactor(logging.Filter):
    """Masks the API keys in use in every record of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = redact(message, self.secrets)
            if clean != message:
                record.msg, record.args = clean, None
        return True


_REDACTOR = _Redactor()
# The loggers of the client and its HTTP stack (and of qa): httpcore logs response
# headers at DEBUG, so a server that echoes the key in one would put it in a log line.
_LOGGED_PACKAGES = ("openai", "httpx", "httpcore", "qa")


def _guard_logs(secret: str) -> None:
    """Attach the redacting filter to every logger of those packages that exists now.

    A filter on a logger only sees that logger's own records, so each is
    guarded; called again before every request, for loggers created lazily.
    """
    if not secret:
        return
    _REDACTOR.secrets.add(secret)
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0].rstrip("0123456789") in _LOGGED_PACKAGES:
            logger = logging.getLogger(name)
            if _REDACTOR not in logger.filters:
                logger.addFilter(_REDACTOR)


def display_url(url: str) -> str:
    """The endpoint as shown in messages: no user:password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", "")) or url


def _is_o_series(model: str) -> bool:
    name = model.lower().rsplit("/", 1)[-1]
    return bool(re.match(r"o\d(?:$|-)", name)) or name.startswith("gpt-5")


def _clean_attr(text: str) -> str:
    return _clean_line(text.replace('"', "'").replace("<", "").replace(">", ""))


def _clean_line(text: str) -> str:
    """Article text as one evidence line that cannot break out of its fence.

    One line (no line break can start a fake numbered line), no opening or
    closing fence tag (its "<" becomes "\u2039"), and no "[n]" marker that
    could pass for an evidence id (written "\uff3bn\uff3d", see
    :func:`qa.text.markers.defuse_markers`; NFKC folds it back, so quotes still check).
    """
    return defuse_markers(_FENCE_LIKE.sub("\u2039", " ".join(text.split())))


class OpenAIBackend:
    """The Backend Protocol over the official ``openai`` client."""

    name = "openai"
    # Seconds before the first retry; doubled each time, capped by max_backoff.
    backoff_base = 0.5
    max_backoff = 8.0

    def __init__(self, settings: Settings, *, max_output_tokens: int = 1024) -> None:
        self.settings = settings
        self.base_url = (settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        # Shown in messages and logs: no credentials, and no key pasted in by mistake.
        self.endpoint = redact(display_url(self.base_url), [settings.api_key])
        self.model = settings.model
        self.max_output_tokens = max_output_tokens
        self._secret = settings.api_key
        _guard_logs(self._secret)
        if not settings.api_key and not settings.base_url:
            raise BackendError(
                f"no API key for {self.endpoint}",
                fix="set OPENAI_API_KEY, or point --base-url / OPENAI_BASE_URL at a local "
                "OpenAI-compatible server (which needs no key)",
            )
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=settings.api_key or PLACEHOLDER_KEY,
            timeout=settings.timeout,
            max_retries=0,
        )
        self._encoding = encoding_for_model(settings.model)
        self.cache_dir = settings.home / "cache" / "llm"
        self.last_run = RunInfo()
        self._usage = Usage()
        self._sentence_texts: dict[SentenceRef, str] = {}

    def __repr__(self) -> str:
        return f"OpenAIBackend(endpoint={self.endpoint!r}, model={self.model!r})"

    # ---- the Backend Protocol ------------------------------------------------

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None = None,
    ) -> Draft:
        draft = self._answer(question, hits, documents, on_text)
        draft.run = self.last_run.to_dict()
        return draft

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        draft = self._summarize(documents, sentences)
        flag_fragments(draft.claims)
        draft.run = self.last_run.to_dict()
        return draft

    def _answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None,
    ) -> Draft:
        self._start_run()
        units = self._hit_units(hits, documents)
        if not units:
            return Draft(claims=[], abstained=True, usage=self._usage)
        prompt = load_prompt("answer")
        values: dict[str, str | int] = {"question": question, "not_found": NOT_IN_ARTICLES}
        evidence = self._pack(prompt, values, "evidence", units)
        self.last_run.evidence_sentences = evidence.used
        self.last_run.omitted_sentences = evidence.omitted
        parsed = self._complete("answer", prompt, {**values, "evidence": evidence.block}, on_text)
        if parsed.abstained:
            return Draft(claims=[], abstained=True, usage=self._usage)
        checked = check_claims("answer", parsed.claims, evidence.items)
        return self._draft(checked, checked.dropped)

    def _summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        self._start_run()
        units = self._document_units(documents)
        if not units:
            return Draft(claims=[], usage=self._usage)
        prompt = load_prompt("summary")
        values: dict[str, str | int] = {"sentences": sentences}
        whole = self._pack(prompt, values, "evidence", units, warn_omitted=False)
        self.last_run.evidence_sentences = len(units)
        if whole.omitted == 0:
            parsed = self._complete(
                "summary", prompt, {**values, "evidence": whole.block}, allow_abstain=False
            )
            if parsed.abstained:
                return Draft(claims=[], abstained=True, usage=self._usage)
            checked = check_claims("summary", parsed.claims, whole.items)
            return self._draft(checked, checked.dropped)
        return self._map_reduce(units, sentences)

    # ---- map-reduce ------------------------------------------------------------

    def _map_reduce(self, units: list[_Unit], sentences: int) -> Draft:
        """Notes per group of sentences, then a summary of the notes.

        Each note carries the SentenceRefs (and texts) its own citations resolved
        to, so a summary sentence citing note 3 cites the original sentences
        behind note 3, and its quotes are checked against those sentences.
        """
        map_prompt = load_prompt("map")
        map_values: dict[str, str | int] = {"notes": max(3, sentences)}
        dropped: list[str] = []
        notes: list[_Unit] = []
        remaining = units
        group = 0
        while remaining:
            group += 1
            evidence = self._pack(map_prompt, map_values, "evidence", remaining, warn_omitted=False)
            remaining = remaining[evidence.used :]
            parsed = self._complete(
                f"map {group}", map_prompt, {**map_values, "evidence": evidence.block}
            )
            checked = check_claims(f"map {group}", parsed.claims, evidence.items)
            dropped.extend(checked.dropped)
            notes.extend(self._notes(checked, len(notes)))
        self.last_run.map_groups = group
        self.last_run.map_notes = len(notes)
        reduce_prompt = load_prompt("reduce")
        reduce_values: dict[str, str | int] = {"sentences": sentences}
        for round_number in range(1, 6):
            if not notes:
                return Draft(claims=[], usage=self._usage, dropped_citations=dropped)
            packed = self._pack(reduce_prompt, reduce_values, "notes", notes, warn_omitted=False)
            if packed.omitted == 0:
                parsed = self._complete(
                    "reduce",
                    reduce_prompt,
                    {**reduce_values, "notes": packed.block},
                    allow_abstain=False,
                )
                if parsed.abstained:
                    return Draft(
                        claims=[], abstained=True, usage=self._usage, dropped_citations=dropped
                    )
                checked = check_claims("summary", parsed.claims, packed.items)
                return self._draft(checked, dropped + checked.dropped)
            # Too many notes for one prompt: condense them in batches and go again.
            condensed: list[_Unit] = []
            rest, batch = notes, 0
            while rest:
                batch += 1
                label = f"reduce {round_number}.{batch}"
                packed = self._pack(reduce_prompt, reduce_values, "notes", rest, warn_omitted=False)
                rest = rest[packed.used :]
                parsed = self._complete(
                    label,
                    reduce_prompt,
                    {**reduce_values, "notes": packed.block},
                    allow_abstain=False,
                )
                checked = check_claims(label, parsed.claims, packed.items)
                dropped.extend(checked.dropped)
                condensed.extend(self._notes(checked, len(condensed)))
            if len(condensed) >= len(notes):
                break
            notes = condensed
        raise BackendError(
            f"the notes of model {self.model!r} at {self.endpoint} do not shrink to fit "
            f"{self.settings.max_context_tokens} tokens",
            fix="raise --max-context-tokens / QA_MAX_CONTEXT_TOKENS or summarize fewer documents",
        )

    def _notes(self, checked: CheckResult, start: int) -> list[_Unit]:
        notes: list[_Unit] = []
        for claim in checked.claims:
            if claim.unsupported:
                log.info("note left out of the summary: %s (%s)", claim.text, claim.problems)
                continue
            texts = tuple(self._sentence_texts.get(ref, "") for ref in claim.refs)
            item = EvidenceItem(refs=tuple(claim.refs), texts=texts)
            notes.append(_Unit(text=claim.text, item=item, order=(0, start + len(notes))))
        return notes

    # ---- evidence --------------------------------------------------------------

    def _start_run(self) -> None:
        self.last_run = RunInfo()
        self._usage = Usage()
        self._sentence_texts = {}

    def _sentence_unit(
        self, document: Document, sentence: Sentence, order: tuple[int, int]
    ) -> _Unit:
        ref = SentenceRef(document.id, sentence.index)
        self._sentence_texts[ref] = sentence.text
        header = f'<article title="{_clean_attr(document.title or document.id)}">'
        item = EvidenceItem(refs=(ref,), texts=(sentence.text,))
        return _Unit(text=sentence.text, item=item, order=order, header=header)

    def _hit_units(self, hits: Sequence[Hit], documents: Mapping[str, Document]) -> list[_Unit]:
        """The hits' sentences, best hit first, each sentence once."""
        units: list[_Unit] = []
        seen: set[tuple[str, int]] = set()
        doc_rank: dict[str, int] = {}
        for hit in hits:
            document = documents.get(hit.chunk.doc_id)
            if document is None:
                log.warning("hit %s names a document that was not given; skipped", hit.chunk.id)
                continue
            rank = doc_rank.setdefault(document.id, len(doc_rank))
            for index in range(hit.chunk.first_sentence, hit.chunk.last_sentence + 1):
                if (document.id, index) in seen or not 0 <= index < len(document.sentences):
                    continue
                seen.add((document.id, index))
                units.append(self._sentence_unit(document, document.sentence(index), (rank, index)))
        return units

    def _document_units(self, documents: Sequence[Document]) -> list[_Unit]:
        units: list[_Unit] = []
        seen: set[str] = set()
        for rank, document in enumerate(documents):
            if document.id in seen:
                continue
            seen.add(document.id)
            units.extend(
                self._sentence_unit(document, sentence, (rank, sentence.index))
                for sentence in document.sentences
            )
        return units

    def count_tokens(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def _prompt_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        # Chat framing costs a few tokens per message on OpenAI models (their cookbook's 3 + 3).
        return 3 + sum(3 + self.count_tokens(message["content"]) for message in messages)

    def _render(self, units: Sequence[_Unit]) -> tuple[str, dict[int, EvidenceItem]]:
        lines: list[str] = []
        items: dict[int, EvidenceItem] = {}
        header = ""
        for number, unit in enumerate(sorted(units, key=lambda unit: unit.order), start=1):
            if unit.header != header:
                if header:
                    lines.append("</article>")
                header = unit.header
                if header:
                    lines.append(header)
            lines.append(f"[{number}] {_clean_line(unit.text)}")
            items[number] = unit.item
        if header:
            lines.append("</article>")
        return "\n".join(lines), items

    def _pack(
        self,
        prompt: Prompt,
        values: Mapping[str, str | int],
        slot: str,
        units: Sequence[_Unit],
        *,
        warn_omitted: bool = True,
    ) -> _Evidence:
        """As many whole units as fit the prompt budget, taken from the front of ``units``.

        The budget covers the whole prompt in its longest output form, so the
        same evidence is used whichever form the endpoint ends up accepting.
        """
        budget = self.settings.max_context_tokens
        longest = max(
            (load_prompt("format_json").text(), load_prompt("format_inline").text()),
            key=self.count_tokens,
        )
        base = self._prompt_tokens(prompt.messages(**values, format=longest, **{slot: ""}))
        room = budget - base
        chosen: list[_Unit] = []
        cost = 0
        headers: set[str] = set()
        width = len(str(len(units)))
        first = 0
        for unit in units:
            line = self.count_tokens(f"[{'9' * width}] {_clean_line(unit.text)}\n")
            if unit.header and unit.header not in headers:
                line += self.count_tokens(f"{unit.header}\n</article>\n")
            first = first or line
            if cost + line > room:
                break
            chosen.append(unit)
            headers.add(unit.header)
            cost += line
        # The line-by-line sum is an estimate; count the real prompt and trim if needed.
        while chosen:
            block, items = self._render(chosen)
            filled = prompt.messages(**values, format=longest, **{slot: block})
            if self._prompt_tokens(filled) <= budget:
                break
            chosen.pop()
        if not chosen:
            needed = base + first + 16
            raise ConfigError(
                f"--max-context-tokens {budget} leaves no room for evidence: the {prompt.name} "
                f"prompt and the first sentence need more",
                fix=f"raise --max-context-tokens / QA_MAX_CONTEXT_TOKENS to {needed} or more",
            )
        block, items = self._render(chosen)
        omitted = len(units) - len(chosen)
        if omitted and warn_omitted:
            log.warning(
                "%d of %d evidence sentences left out to fit %d tokens", omitted, len(units), budget
            )
        return _Evidence(block=block, items=items, used=len(chosen), omitted=omitted)

    # ---- model calls ---------------------------------------------------------

    def _draft(self, checked: CheckResult, dropped: list[str]) -> Draft:
        claims = [
            DraftClaim(
                text=claim.text,
                refs=list(claim.refs),
                unsupported=claim.unsupported,
                problems=list(claim.problems),
            )
            for claim in checked.claims
        ]
        return Draft(claims=claims, abstained=False, usage=self._usage, dropped_citations=dropped)

    @property
    def _endpoint_key(self) -> str:
        return f"{self.endpoint} {self.model}"

    def _modes(self, streaming: bool) -> list[Mode]:
        if streaming:
            return ["text"]
        known = _KNOWN_MODES.get(self._endpoint_key) or self._load_known_mode()
        start = MODES.index(known) if known else 0
        return list(MODES[start:])

    def _complete(
        self,
        step: str,
        prompt: Prompt,
        values: Mapping[str, str | int],
        on_text: TextSink | None = None,
        *,
        allow_abstain: bool = True,
    ) -> ParsedReply:
        """One logical model call: tries the output forms in turn until one parses.

        With ``allow_abstain`` False (a summary, where "cannot answer" makes no
        sense) an abstention counts as unusable and the next form is tried; it is
        returned only when no form gives claims.
        """
        formats = {
            "json": load_prompt("format_json").text(),
            "inline": load_prompt("format_inline").text(),
        }
        invalid: list[str] = []
        abstention: tuple[ParsedReply, _Reply, Mode] | None = None
        streaming = on_text is not None
        for mode in self._modes(streaming):
            form = "inline" if mode == "text" else "json"
            messages = prompt.messages(**values, format=formats[form])
            try:
                reply = self._call(step, messages, mode, on_text)
            except _FormatRejected as rejected:
                self.last_run.fallbacks.append(f"{step}: {mode} rejected ({rejected})")
                log.info("%s at %s rejected %s: %s", self.model, self.endpoint, mode, rejected)
                continue
            log.debug("%s reply (%s): %.2000r", step, mode, reply.text)
            parsed = parse_json_reply(reply.text) if mode != "text" else parse_reply(reply.text)
            if parsed is not None and parsed.abstained and not allow_abstain:
                abstention = abstention or (parsed, reply, mode)
                invalid.append(mode)
                self.last_run.fallbacks.append(f"{step}: {mode} reply abstained")
                continue
            if parsed is not None and (parsed.abstained or parsed.claims):
                # Only an HTTP refusal says what the endpoint supports; a form that was
                # accepted but answered with bad JSON is the model's fault, not the server's.
                if not streaming and not invalid:
                    self._remember_mode(mode)
                self._store(reply, mode)
                return parsed
            invalid.append(mode)
            self.last_run.fallbacks.append(f"{step}: {mode} reply was not valid")
            log.info("%s reply in %s form was not valid: %.200r", step, mode, reply.text)
        if abstention is not None:
            parsed, reply, mode = abstention
            self._store(reply, mode)
            return parsed
        tried = ", ".join(invalid) or "none"
        raise BackendError(
            f"model {self.model!r} at {self.endpoint} gave no usable reply for {step} "
            f"(invalid JSON or no claims after fallbacks; unusable forms: {tried})",
            fix="use a larger model or another server, or try again without --stream",
        )

    def _params(self, mode: Mode) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model}
        if _is_o_series(self.model):
            # Reasoning models reject max_tokens and any temperature but the default.
            params["max_completion_tokens"] = self.max_output_tokens
        else:
            params["max_tokens"] = self.max_output_tokens
            params["temperature"] = self.settings.temperature
        if mode == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "claims", "strict": True, "schema": CLAIMS_SCHEMA},
            }
        elif mode == "json_object":
            # "schema" beside json_object is an extension some servers (llama.cpp) honour.
            params["response_format"] = {"type": "json_object", "schema": CLAIMS_SCHEMA}
        return params

    def _call(
        self,
        step: str,
        messages: list[dict[str, str]],
        mode: Mode,
        on_text: TextSink | None,
    ) -> _Reply:
        params = self._params(mode)
        key = self._cache_key(messages, params)
        started = time.perf_counter()
        cached = self._load(key)
        if cached is not None:
            if on_text is not None:
                on_text(cached)
            self._record(step, mode, Usage(calls=1, cached_calls=1), True, started)
            return _Reply(text=cached, usage=Usage(), cache_key=key)
        _guard_logs(self._secret)
        if on_text is not None:
            sink = on_text
            if self._secret:
                # A reply never needs the key; one that echoes it is not shown or cached.
                def sink(delta: str) -> None:
                    on_text(redact(delta, [self._secret], key_like=False))

            text, usage = self._with_retries(mode, lambda: self._stream(messages, params, sink))
        else:
            text, usage = self._with_retries(mode, lambda: self._once(messages, params))
        text = redact(text, [self._secret], key_like=False)
        usage.calls = 1
        self._record(step, mode, usage, False, started)
        return _Reply(text=text, usage=usage, cache_key=key)

    def _record(self, step: str, mode: Mode, usage: Usage, cached: bool, started: float) -> None:
        seconds = time.perf_counter() - started
        self._usage.add(usage)
        self.last_run.calls.append(
            CallRecord(step, mode, usage.prompt_tokens, usage.completion_tokens, cached, seconds)
        )
        log.info(
            "%s: %s %s, %d prompt + %d completion tokens, %.2f s%s",
            step,
            self.model,
            mode,
            usage.prompt_tokens,
            usage.completion_tokens,
            seconds,
            " (cache hit)" if cached else "",
        )

    def _usage_of(self, reported: Any, messages: list[dict[str, str]], text: str) -> Usage:
        if reported is not None and getattr(reported, "prompt_tokens", None) is not None:
            return Usage(
                prompt_tokens=int(reported.prompt_tokens),
                completion_tokens=int(reported.completion_tokens or 0),
            )
        # Some servers send no usage (llama-cpp-python when streaming): estimate it.
        return Usage(
            prompt_tokens=self._prompt_tokens(messages), completion_tokens=self.count_tokens(text)
        )

    def _once(self, messages: list[dict[str, str]], params: dict[str, Any]) -> tuple[str, Usage]:
        response = self._client.chat.completions.create(
            messages=cast(Any, messages), stream=False, **params
        )
        choices = getattr(response, "choices", None)
        if not choices:
            raise BackendError(
                f"{self.endpoint} answered without any choices",
                fix="check that it is an OpenAI-compatible chat completions endpoint",
            )
        text = choices[0].message.content or ""
        return text, self._usage_of(response.usage, messages, text)

    def _stream(
        self, messages: list[dict[str, str]], params: dict[str, Any], on_text: TextSink
    ) -> tuple[str, Usage]:
        stream = self._client.chat.completions.create(
            messages=cast(Any, messages),
            stream=True,
            stream_options={"include_usage": True},
            **params,
        )
        parts: list[str] = []
        reported: Any = None
        for chunk in cast(Iterator[Any], stream):
            if getattr(chunk, "usage", None) is not None:
                reported = chunk.usage
            for choice in chunk.choices or []:
                delta = choice.delta.content if choice.delta is not None else None
                if delta:
                    parts.append(delta)
                    on_text(delta)
        text = "".join(parts)
        return text, self._usage_of(reported, messages, text)

    def _with_retries(
        self, mode: Mode, request: Callable[[], tuple[str, Usage]]
    ) -> tuple[str, Usage]:
        retries = max(0, self.settings.max_retries)
        for attempt in range(retries + 1):
            try:
                return request()
            except openai.APIStatusError as error:
                status = error.status_code
                message = self._server_message(error)
                if status in (400, 413) and _CONTEXT_WORDS.search(message):
                    raise self._context_error() from None
                if status in (401, 403, 404):
                    raise self._status_error(status, message) from None
                blames_format = (status < 500 and status != 429) or _FORMAT_WORDS.search(message)
                if mode != "text" and blames_format:
                    raise _FormatRejected(f"HTTP {status}") from None
                if (status == 429 or status >= 500) and attempt < retries:
                    delay = self._backoff(attempt, error)
                    log.info("HTTP %d from %s, retry in %.1f s", status, self.endpoint, delay)
                    time.sleep(delay)
                    continue
                if mode != "text" and status >= 500:
                    # A server that keeps failing on structured output may manage prose.
                    raise _FormatRejected(f"HTTP {status} after {retries} retries") from None
                raise self._status_error(status, message, retries) from None
            except openai.APITimeoutError:
                raise BackendError(
                    f"{self.endpoint} did not answer within {self.settings.timeout:g} s",
                    fix="raise --timeout / QA_TIMEOUT, or check that the server is not stuck",
                ) from None
            except openai.APIConnectionError:
                raise BackendError(
                    f"cannot connect to {self.endpoint} (connection refused or host unreachable)",
                    fix="start the server, or fix --base-url / OPENAI_BASE_URL",
                ) from None
            except openai.OpenAIError as failure:
                # E.g. an error event in the middle of a stream.
                raise BackendError(
                    f"{self.endpoint} failed: {self._scrub(str(failure))}",
                    fix="check the server's log, or try again without --stream",
                ) from None
        raise AssertionError("unreachable: the loop returns or raises")

    def _backoff(self, attempt: int, error: openai.APIStatusError) -> float:
        delay: float = min(self.max_backoff, self.backoff_base * float(2**attempt))
        retry_after = str(error.response.headers.get("retry-after", ""))
        try:
            # Honour the server's own wait, within reason.
            return min(30.0, max(delay, float(retry_after)))
        except ValueError:
            return delay

    def _scrub(self, text: str) -> str:
        text = redact(text, [self._secret])
        text = " ".join(text.split())
        return text[:200] + ("..." if len(text) > 200 else "")

    def _server_message(self, error: openai.APIStatusError) -> str:
        body = error.body
        if isinstance(body, dict):
            inner = body.get("error", body)
            if isinstance(inner, dict) and isinstance(inner.get("message"), str):
                return str(inner["message"])
            if isinstance(body.get("detail"), str):
                return str(body["detail"])
        return str(error.message)

    def _context_error(self) -> BackendError:
        return BackendError(
            f"the prompt is too long for model {self.model!r} at {self.endpoint}",
            fix=f"lower --max-context-tokens / QA_MAX_CONTEXT_TOKENS "
            f"(now {self.settings.max_context_tokens}) below the model's context window",
        )

    def _status_error(self, status: int, message: str, retries: int = 0) -> BackendError:
        if status == 401:
            return BackendError(
                f"{self.endpoint} rejected the API key (HTTP 401)",
                fix="check OPENAI_API_KEY; a local server usually needs none",
            )
        if status == 403:
            return BackendError(
                f"{self.endpoint} refused access to model {self.model!r} (HTTP 403)",
                fix="check that OPENAI_API_KEY may use this model, or pick another --model",
            )
        if status == 404:
            return BackendError(
                f"model {self.model!r} not found at {self.endpoint} (HTTP 404)",
                fix="check --model / QA_MODEL, and that --base-url ends with /v1",
            )
        if status == 429:
            return BackendError(
                f"{self.endpoint} is rate limiting (HTTP 429, after {retries} retries)",
                fix="wait and try again, or raise QA_MAX_RETRIES",
            )
        detail = self._scrub(message)
        return BackendError(
            f"{self.endpoint} failed with HTTP {status}"
            + (f" after {retries} retries" if status >= 500 else "")
            + (f": {detail}" if detail else ""),
            fix="check the server's log, or try again later",
        )

    # ---- cache and remembered modes --------------------------------------------

    def _cache_key(self, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        # The endpoint, model, prompt and parameters, and never the API key.
        payload = {
            "version": CACHE_VERSION,
            "base_url": self.base_url,
            "messages": messages,
            "params": params,
        }
        data = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def _load(self, key: str) -> str | None:
        if not self.settings.use_cache:
            return None
        path = self._cache_path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        text = data.get("text") if isinstance(data, dict) else None
        return text if isinstance(text, str) else None

    def _store(self, reply: _Reply, mode: Mode) -> None:
        if not self.settings.use_cache or reply.usage.calls == 0:
            return
        path = self._cache_path(reply.cache_key)
        record = {
            "version": CACHE_VERSION,
            "model": self.model,
            "mode": mode,
            "text": reply.text,
            "usage": reply.usage.to_dict(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._write_json(path, record)

    def _write_json(self, path: Path, data: Any) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            # Atomic, so a concurrent reader sees the old file or the new one, not half.
            os.replace(partial, path)
        except OSError as error:
            log.warning("could not write cache file %s: %s", path, error)

    @property
    def _modes_file(self) -> Path:
        return self.cache_dir / "modes.json"

    def _load_known_mode(self) -> Mode | None:
        if not self.settings.use_cache:
            return None
        try:
            data = json.loads(self._modes_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        mode = data.get(self._endpoint_key) if isinstance(data, dict) else None
        if mode in MODES:
            _KNOWN_MODES[self._endpoint_key] = cast(Mode, mode)
            return cast(Mode, mode)
        return None

    def _remember_mode(self, mode: Mode) -> None:
        if _KNOWN_MODES.get(self._endpoint_key) == mode:
            return
        _KNOWN_MODES[self._endpoint_key] = mode
        if not self.settings.use_cache:
            return
        try:
            data = json.loads(self._modes_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        data[self._endpoint_key] = mode
        self._write_json(self._modes_file, data)


def create(settings: Settings, store: Store) -> OpenAIBackend:
    """The registry's factory: the LLM backend needs only the settings."""
    return OpenAIBackend(settings)
