"""The chat client: one logical model call over the official ``openai`` package.

:meth:`ChatClient.complete` fills a prompt, sends it and returns the parsed reply.
Structured output is asked for with ``response_format`` ``json_schema``; when an
endpoint rejects that form (any 4xx/5xx on it, e.g. llama-cpp-python's HTTP 500) the
client falls back to ``json_object`` with the schema, then to plain prose with inline
``[n]`` markers, and remembers per endpoint and model which form worked (in memory, and
in the cache folder unless caching is off). Streaming (``on_text``) always uses the
prose form, because streamed JSON is unreadable to a person; the final text is parsed
when the stream ends. Replies are read from and written to the :mod:`cache
<qa.backends.llm.cache>`. HTTP 429 and 5xx are retried with exponential backoff, or
after the server's Retry-After; every failure becomes one :class:`BackendError` line
that names the endpoint and the fix. Each call adds to the run's :class:`Usage` (the
server's counts, estimated when it sends none) and to :class:`RunInfo` (a
:class:`CallRecord` per request, and the fallbacks taken).

The API key is passed to the ``openai`` client only; it is not in the cache key, the
cache files, the logs or any error message. What a server sends back is masked
(:func:`qa.backends.llm.redaction.redact`) before it reaches an error message, the
endpoint shown, a reply or the cache, and the loggers are guarded before every request.

Not handled: what the prompt holds (the backend packs the evidence), whether the claims
are supported (:func:`qa.backends.llm.replies.check_claims`, by the backend), tool calls,
images and the Responses API. Connection failures and timeouts are not retried: the
one-line error is more useful than a long wait.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

import openai

from qa.backends.llm.cache import ReplyCache
from qa.backends.llm.prompts import Prompt, load_prompt
from qa.backends.llm.redaction import display_url, guard_logs, redact
from qa.backends.llm.replies import ParsedReply, parse_json_reply, parse_reply
from qa.backends.llm.tokens import TokenCounter
from qa.config import Settings
from qa.errors import BackendError
from qa.types import TextSink, Usage

log = logging.getLogger(__name__)

Mode = Literal["json_schema", "json_object", "text"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "text")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
# A local server ignores the key, but the client refuses to start without one.
PLACEHOLDER_KEY = "not-needed"

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
    r"prompt is too long|reduce the length|exceeds the available context size",
    re.IGNORECASE,
)
# Words in an error that blame the structured-output request rather than the server.
_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|schema|grammar", re.I)

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
class _Reply:
    text: str
    usage: Usage
    cache_key: str


class _FormatRejected(Exception):
    """The endpoint refused this response_format; the caller tries the next form."""


def _is_o_series(model: str) -> bool:
    name = model.lower().rsplit("/", 1)[-1]
    return bool(re.match(r"o\d(?:$|-)", name)) or name.startswith("gpt-5")


class ChatClient:
    """Chat completions from one endpoint and model, with fallbacks, retries and the cache.

    ``run`` and ``usage`` describe the calls since the last :meth:`start_run`.
    """

    # Seconds before the first retry; doubled each time, capped by max_backoff.
    backoff_base = 0.5
    max_backoff = 8.0

    def __init__(self, settings: Settings, *, max_output_tokens: int) -> None:
        self.settings = settings
        self.base_url = (settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        # Shown in messages and logs: no credentials, and no key pasted in by mistake.
        self.endpoint = redact(display_url(self.base_url), [settings.api_key])
        self.model = settings.model
        self.max_output_tokens = max_output_tokens
        self._secret = settings.api_key
        guard_logs(self._secret)
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
        self.tokens = TokenCounter(settings.model)
        self.cache = ReplyCache(settings.home / "cache" / "llm", enabled=settings.use_cache)
        self.run = RunInfo()
        self.usage = Usage()

    def start_run(self) -> None:
        """Forget the records and usage of the previous answer or summary."""
        self.run = RunInfo()
        self.usage = Usage()

    # ---- one logical call: output forms in turn ---------------------------------

    def complete(
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
                self.run.fallbacks.append(f"{step}: {mode} rejected ({rejected})")
                log.info("%s at %s rejected %s: %s", self.model, self.endpoint, mode, rejected)
                continue
            log.debug("%s reply (%s): %.2000r", step, mode, reply.text)
            parsed = parse_json_reply(reply.text) if mode != "text" else parse_reply(reply.text)
            if parsed is not None and parsed.abstained and not allow_abstain:
                abstention = abstention or (parsed, reply, mode)
                invalid.append(mode)
                self.run.fallbacks.append(f"{step}: {mode} reply abstained")
                continue
            if parsed is not None and (parsed.abstained or parsed.claims):
                # Only an HTTP refusal says what the endpoint supports; a form that was
                # accepted but answered with bad JSON is the model's fault, not the server's.
                if not streaming and not invalid:
                    self._remember_mode(mode)
                self._store(reply, mode)
                return parsed
            invalid.append(mode)
            self.run.fallbacks.append(f"{step}: {mode} reply was not valid")
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

    # ---- output forms and the memory of what worked ---------------------------------

    @property
    def _endpoint_key(self) -> str:
        return f"{self.endpoint} {self.model}"

    def _modes(self, streaming: bool) -> list[Mode]:
        if streaming:
            return ["text"]
        known = _KNOWN_MODES.get(self._endpoint_key) or self._load_known_mode()
        start = MODES.index(known) if known else 0
        return list(MODES[start:])

    def _load_known_mode(self) -> Mode | None:
        mode = self.cache.load_mode(self._endpoint_key)
        if mode in MODES:
            _KNOWN_MODES[self._endpoint_key] = mode
            return mode
        return None

    def _remember_mode(self, mode: Mode) -> None:
        if _KNOWN_MODES.get(self._endpoint_key) == mode:
            return
        _KNOWN_MODES[self._endpoint_key] = mode
        self.cache.store_mode(self._endpoint_key, mode)

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

    # ---- one request: the cache, then the endpoint ------------------------------------

    def _call(
        self,
        step: str,
        messages: list[dict[str, str]],
        mode: Mode,
        on_text: TextSink | None,
    ) -> _Reply:
        params = self._params(mode)
        key = self.cache.key(self.base_url, messages, params)
        started = time.perf_counter()
        cached = self.cache.load(key)
        if cached is not None:
            if on_text is not None:
                on_text(cached)
            self._record(step, mode, Usage(calls=1, cached_calls=1), True, started)
            return _Reply(text=cached, usage=Usage(), cache_key=key)
        guard_logs(self._secret)
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

    def _store(self, reply: _Reply, mode: Mode) -> None:
        # A reply served from the cache (no call made) is there already.
        if reply.usage.calls == 0:
            return
        self.cache.store(
            reply.cache_key, model=self.model, mode=mode, text=reply.text, usage=reply.usage
        )

    def _record(self, step: str, mode: Mode, usage: Usage, cached: bool, started: float) -> None:
        seconds = time.perf_counter() - started
        self.usage.add(usage)
        self.run.calls.append(
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
            prompt_tokens=self.tokens.prompt(messages), completion_tokens=self.tokens.count(text)
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

    # ---- retries and errors -------------------------------------------------------------

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
                    fix="raise QA_TIMEOUT (seconds), or check that the server is not stuck",
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
        """A server's words for an error message: no key, one line, at most 200 characters."""
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
