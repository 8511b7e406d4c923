"""The chat client over real HTTP, through the backend and on its own: output forms and
their fallbacks (json_schema, json_object, inline markers) and the memory of what worked,
streaming, retries and backoff, and every failure as one line that never holds the key.

Every request crosses a real socket to a scripted local server.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from qa.backends.llm.backend import OpenAIBackend
from qa.backends.llm.client import _KNOWN_MODES, ChatClient
from qa.backends.llm.prompts import load_prompt
from qa.config import Settings
from qa.errors import BackendError
from qa.types import NOT_IN_ARTICLES, Document, SentenceRef
from tests.helpers import (
    QUESTION,
    SECRET,
    SPANS,
    Scripted,
    Start,
    claims_json,
    error,
    make_backend,
    make_hits,
    ok,
    stream_chunks,
)

pytestmark = pytest.mark.usefixtures("fresh_modes")


# ---- structured output fallbacks ---------------------------------------------------


def test_json_schema_rejected_falls_back_to_json_object_and_is_remembered(
    scripted_server: Start, seed_document: Document, tmp_path: Path
) -> None:
    rejected = error(500, "Input should be 'text' or 'json_object' (body.response_format.type)")
    server = scripted_server([rejected, ok(claims_json(("Putin spoke.", [1])))])
    hits, documents = make_hits(seed_document, SPANS), {"seed": seed_document}
    backend = make_backend(server.base_url)
    draft = backend.answer(QUESTION, hits, documents)
    assert draft.claims[0].refs == [SentenceRef("seed", 2)]
    assert server.response_formats() == ["json_schema", "json_object"]
    assert server.requests[1].json["response_format"]["schema"]["required"] == [
        "abstained",
        "claims",
    ]
    assert backend.last_run.calls[0].mode == "json_object"
    assert backend.last_run.fallbacks == ["answer: json_schema rejected (HTTP 500)"]
    # Remembered in this process...
    make_backend(server.base_url).answer("Another question?", hits, documents)
    assert server.response_formats()[2:] == ["json_object"]
    # ...and by the next process, through the cache folder.
    _KNOWN_MODES.clear()
    make_backend(server.base_url).answer("A third question?", hits, documents)
    assert server.response_formats()[3:] == ["json_object"]
    modes = json.loads((tmp_path / "qa-home" / "cache" / "llm" / "modes.json").read_text())
    assert list(modes.values()) == ["json_object"]


def test_both_json_forms_rejected_falls_back_to_inline_markers(
    scripted_server: Start, seed_document: Document
) -> None:
    server = scripted_server(
        [
            error(400, "response_format is not supported"),
            error(422, "unknown field: schema"),
            ok("Putin backed the idea [1]. Kyiv could rearm [3][42]."),
        ]
    )
    draft = make_backend(server.base_url).answer(
        QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
    )
    assert server.response_formats() == ["json_schema", "json_object", "text"]
    assert "square brackets" in server.requests[2].json["messages"][0]["content"]
    assert [claim.text for claim in draft.claims] == ["Putin backed the idea.", "Kyiv could rearm."]
    assert draft.claims[1].refs == [SentenceRef("seed", 4)]
    assert draft.dropped_citations == ["answer claim 2: [42] not in evidence"]


def test_invalid_json_from_an_accepted_form_is_not_remembered(
    scripted_server: Start, seed_document: Document
) -> None:
    server = scripted_server(
        [ok('{"claims": [{"text": "cut off'), ok(claims_json(("Putin spoke.", [2])))]
    )
    backend = make_backend(server.base_url)
    draft = backend.answer(QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document})
    assert server.response_formats() == ["json_schema", "json_object"]
    assert draft.claims[0].refs == [SentenceRef("seed", 3)]
    # Both calls cost tokens.
    assert draft.usage.calls == 2 and draft.usage.prompt_tokens == 22
    assert _KNOWN_MODES == {}


def test_invalid_json_after_all_fallbacks_is_one_clear_line(
    scripted_server: Start, seed_document: Document
) -> None:
    server = scripted_server([ok("{not json"), ok("{still not"), ok("   ")])
    with pytest.raises(BackendError) as raised:
        make_backend(server.base_url).answer(
            QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
        )
    message = str(raised.value)
    assert "\n" not in message
    assert "invalid JSON" in message and server.base_url in message
    assert server.response_formats() == ["json_schema", "json_object", "text"]


def test_a_summary_does_not_accept_an_abstention_while_another_form_may_work(
    scripted_server: Start, seed_document: Document
) -> None:
    server = scripted_server([ok(claims_json(abstained=True)), ok("Putin backed the idea [2].")])
    backend = make_backend(server.base_url)
    draft = backend.summarize([seed_document], 2)
    # The second script entry repeats: prose is no JSON for json_object, fine for text.
    assert server.response_formats() == ["json_schema", "json_object", "text"]
    assert not draft.abstained and draft.claims[0].refs == [SentenceRef("seed", 1)]
    assert backend.last_run.fallbacks == [
        "summary: json_schema reply abstained",
        "summary: json_object reply was not valid",
    ]
    # An answer, though, may abstain.
    server = scripted_server([ok(claims_json(abstained=True))])
    answer = make_backend(server.base_url).answer(
        QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
    )
    assert answer.abstained and len(server.requests) == 1


# ---- streaming ---------------------------------------------------------------------------


def test_streaming_passes_deltas_and_parses_the_end(
    scripted_server: Start, seed_document: Document
) -> None:
    parts = ["Putin backed ", "the idea [1]", ". Kyiv could ", "rearm [3]."]
    server = scripted_server([Scripted(sse=stream_chunks(parts, usage=(50, 12)))])
    received: list[str] = []
    backend = make_backend(server.base_url)
    draft = backend.answer(
        QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}, on_text=received.append
    )
    assert received == parts
    body = server.requests[0].json
    assert body["stream"] is True and "response_format" not in body
    assert [claim.refs for claim in draft.claims] == [
        [SentenceRef("seed", 2)],
        [SentenceRef("seed", 4)],
    ]
    assert (draft.usage.prompt_tokens, draft.usage.completion_tokens) == (50, 12)
    assert backend.last_run.calls[0].mode == "text"


def test_streaming_without_server_usage_counts_tokens_itself(
    scripted_server: Start, seed_document: Document
) -> None:
    server = scripted_server([Scripted(sse=stream_chunks([NOT_IN_ARTICLES]))])
    draft = make_backend(server.base_url).answer(
        QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}, on_text=lambda _: None
    )
    assert draft.abstained
    assert draft.usage.prompt_tokens > 100 and draft.usage.completion_tokens == 6


# ---- retries and errors ---------------------------------------------------------------


def test_500_then_200_is_retried_in_the_same_form(
    scripted_server: Start, seed_document: Document
) -> None:
    server = scripted_server([error(500, "boom"), ok(claims_json(("Putin spoke.", [1])))])
    backend = make_backend(server.base_url)
    started = time.perf_counter()
    draft = backend.answer(QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document})
    assert time.perf_counter() - started >= backend.backoff_base
    assert server.response_formats() == ["json_schema", "json_schema"]
    assert draft.claims and draft.usage.calls == 1


def test_429_waits_as_the_server_asks(scripted_server: Start, seed_document: Document) -> None:
    limited = Scripted(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"})
    server = scripted_server([limited, ok(claims_json(("Putin spoke.", [1])))])
    started = time.perf_counter()
    make_backend(server.base_url).answer(
        QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
    )
    assert time.perf_counter() - started >= 1.0
    assert len(server.requests) == 2


def test_5xx_after_all_retries_is_one_line(scripted_server: Start, seed_document: Document) -> None:
    server = scripted_server([error(503, "overloaded\ntry later")])
    with pytest.raises(BackendError) as raised:
        make_backend(server.base_url, max_retries=1).answer(
            QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}, on_text=print
        )
    assert str(raised.value).startswith(f"{server.base_url} failed with HTTP 503 after 1 retries")
    assert "\n" not in str(raised.value)
    assert len(server.requests) == 2


def test_401_names_the_endpoint_and_never_the_key(
    scripted_server: Start, seed_document: Document, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = scripted_server([error(401, f"Incorrect API key provided: {SECRET}.")])
    with pytest.raises(BackendError) as raised:
        make_backend(server.base_url, api_key=SECRET).answer(
            QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
        )
    message = str(raised.value)
    assert message == (
        f"{server.base_url} rejected the API key (HTTP 401); "
        "check OPENAI_API_KEY; a local server usually needs none"
    )
    # The key was really sent, and appears nowhere we write.
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert len(server.requests) == 1
    assert SECRET not in caplog.text and SECRET[:12] not in message
    assert SECRET not in repr(make_backend(server.base_url, api_key=SECRET).settings)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (error(403, "no access"), "refused access to model 'test-model' (HTTP 403)"),
        (error(404, "The model `test-model` does not exist"), "model 'test-model' not found at"),
        (
            error(400, "This model's maximum context length is 4096 tokens."),
            "the prompt is too long for model 'test-model'",
        ),
    ],
    ids=["403", "404", "context"],
)
def test_status_errors_are_one_clear_line(
    scripted_server: Start, seed_document: Document, reply: Scripted, expected: str
) -> None:
    server = scripted_server([reply])
    with pytest.raises(BackendError) as raised:
        make_backend(server.base_url).answer(
            QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
        )
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    # Not a format problem: no fallback and no retry.
    assert len(server.requests) == 1


def test_timeout_is_one_line_and_not_retried(
    scripted_server: Start, seed_document: Document
) -> None:
    server = scripted_server([Scripted(delay=10)])
    started = time.perf_counter()
    with pytest.raises(BackendError) as raised:
        make_backend(server.base_url, timeout=0.5).answer(
            QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
        )
    assert time.perf_counter() - started < 3
    assert str(raised.value).startswith(f"{server.base_url} did not answer within 0.5 s")
    assert len(server.requests) == 1


def test_closed_port_is_one_line(closed_port: int, seed_document: Document) -> None:
    backend = make_backend(f"http://user:hunter2@127.0.0.1:{closed_port}/v1/")
    with pytest.raises(BackendError) as raised:
        backend.answer(QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document})
    message = str(raised.value)
    assert message.startswith(f"cannot connect to http://127.0.0.1:{closed_port}/v1 ")
    assert "hunter2" not in message and "\n" not in message


def test_api_openai_com_without_a_key_fails_before_any_request() -> None:
    settings = Settings.from_env(backend="openai", model="gpt-4o-mini")
    with pytest.raises(BackendError) as raised:
        OpenAIBackend(settings)
    message = str(raised.value)
    assert message.startswith("no API key for https://api.openai.com/v1; set OPENAI_API_KEY")


@pytest.mark.parametrize(
    ("model", "expected", "absent"),
    [("o3-mini", "max_completion_tokens", "temperature"), ("gpt-4o-mini", "max_tokens", "")],
)
def test_reasoning_models_get_their_own_parameters(
    scripted_server: Start, seed_document: Document, model: str, expected: str, absent: str
) -> None:
    server = scripted_server([ok(claims_json(("Putin spoke.", [1])))])
    make_backend(server.base_url, model=model, api_key=SECRET).answer(
        QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
    )
    body = server.requests[0].json
    assert body["model"] == model and body[expected] == 256
    assert absent not in body


# ---- the client on its own ------------------------------------------------------------


def test_the_client_on_its_own_completes_a_prompt_and_counts_the_call(
    scripted_server: Start, tmp_path: Path
) -> None:
    server = scripted_server([ok(claims_json(("Putin spoke.", [1])), 30, 5)])
    settings = Settings.from_env(backend="openai", base_url=server.base_url, model="test-model")
    client = ChatClient(settings, max_output_tokens=64)
    values: dict[str, str | int] = {
        "question": QUESTION,
        "not_found": NOT_IN_ARTICLES,
        "evidence": '<article title="Seed">\n[1] Putin spoke on Friday.\n</article>',
    }
    parsed = client.complete("answer", load_prompt("answer"), values)
    assert not parsed.abstained and parsed.form == "json"
    assert [(claim.text, claim.ids) for claim in parsed.claims] == [("Putin spoke.", (1,))]
    body = server.requests[0].json
    assert body["max_tokens"] == 64 and body["response_format"]["type"] == "json_schema"
    assert "[1] Putin spoke on Friday." in body["messages"][-1]["content"]
    assert [(call.step, call.mode, call.cached) for call in client.run.calls] == [
        ("answer", "json_schema", False)
    ]
    assert (client.usage.calls, client.usage.prompt_tokens, client.usage.completion_tokens) == (
        1,
        30,
        5,
    )
    # The reply is cached and the working form remembered, in the cache folder.
    assert list((tmp_path / "qa-home" / "cache" / "llm").rglob("*.json"))
    assert {f"{server.base_url} test-model": "json_schema"} == _KNOWN_MODES
    # A new run forgets the last one's records, not the cache.
    client.start_run()
    assert client.run.calls == [] and client.usage.calls == 0
    client.complete("answer", load_prompt("answer"), values)
    assert client.usage.cached_calls == 1 and len(server.requests) == 1
