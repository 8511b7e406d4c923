"""The openai backend's Protocol over real HTTP: answers and summaries (map-reduce
included) from scripted local servers for exact cases, and from a real llama.cpp server
(SmolLM2-135M) for real model output.

Nothing here patches the openai client; every request crosses a real socket. The chat
client's own cases (output forms, streaming, retries, errors) are in test_client.py,
the cache's in test_cache.py, evidence fencing and packing in test_evidence.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from qa.backends.llm.backend import OpenAIBackend
from qa.config import Settings
from qa.errors import BackendError
from qa.types import NOT_IN_ARTICLES, Document, Draft, SentenceRef
from tests.helpers import (
    QUESTION,
    SPANS,
    LlamaServer,
    Scripted,
    Start,
    chat_body,
    claims_json,
    evidence_lines,
    make_backend,
    make_document,
    make_hits,
    ok,
    seed_text,
    sentence_text,
)

pytestmark = pytest.mark.usefixtures("fresh_modes")

DROPPED = re.compile(
    r"^(answer|summary|map \d+|reduce \d+\.\d+) claim \d+: \[.+\] not in evidence$"
)


# ---- answers over a scripted server --------------------------------------------------


def test_answer_cites_stored_sentences_and_drops_unknown_ids(
    scripted_server: Start, seed_document: Document
) -> None:
    reply = claims_json(("Putin backed the idea.", [1]), ("Russia set caveats.", [4, 99]))
    server = scripted_server([ok(reply)])
    draft = make_backend(server.base_url).answer(
        QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
    )
    lines = evidence_lines(server)
    # Hit sentences, each once, in document order: 2..7.
    expected = [sentence_text(seed_document, SentenceRef("seed", i)) for i in range(2, 8)]
    assert list(lines.values()) == expected
    assert draft.claims[0].refs == [SentenceRef("seed", 2)]
    assert draft.claims[1].refs == [SentenceRef("seed", 5)]
    assert draft.dropped_citations == ["answer claim 2: [99] not in evidence"]
    assert not any(claim.unsupported for claim in draft.claims)
    assert draft.usage.to_dict() == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "calls": 1,
        "cached_calls": 0,
    }
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    # A local server needs no key: a placeholder is sent, never a real key.
    assert request.headers["authorization"] == "Bearer not-needed"
    body = request.json
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["temperature"] == 0.0 and body["max_tokens"] == 256
    assert [message["role"] for message in body["messages"]] == ["system", "user"]
    user = body["messages"][1]["content"]
    assert user.count("<articles>") == 1 and user.count("</articles>") == 1
    assert user.index("</articles>") < user.index(QUESTION)


def test_no_evidence_abstains_without_a_call(scripted_server: Start) -> None:
    server = scripted_server([ok("unused")])
    draft = make_backend(server.base_url).answer(QUESTION, [], {})
    assert draft.abstained and draft.claims == [] and server.requests == []


@pytest.mark.parametrize(
    "content",
    [claims_json(abstained=True), claims_json((NOT_IN_ARTICLES, []))],
    ids=["flag", "sentinel-claim"],
)
def test_json_abstention(scripted_server: Start, seed_document: Document, content: str) -> None:
    server = scripted_server([ok(content)])
    draft = make_backend(server.base_url).answer(
        QUESTION, make_hits(seed_document, SPANS), {"seed": seed_document}
    )
    assert draft.abstained and draft.claims == []


# ---- summaries ----------------------------------------------------------------------------


def scripted_summarizer(request: dict[str, Any]) -> dict[str, Any]:
    """Cites item 1 and a bogus id in every map step, items 1 and 2 in the final step.

    Each claim repeats the text it cites: one sharing no word with it would be flagged.
    """
    system = request["messages"][0]["content"]
    items = dict(re.findall(r"^\[(\d+)\] (.*)$", request["messages"][-1]["content"], re.M))
    if "take notes" in system:
        note = claims_json((f"Note one: {items['1']}", [1]), (f"Note two: {items['2']}", [2, 999]))
        return chat_body(note)
    return chat_body(claims_json((f"Final one: {items['1']}", [1]), ("Final two.", [2, 3])))


def test_summary_that_fits_is_one_call(scripted_server: Start, seed_document: Document) -> None:
    server = scripted_server([Scripted(body=scripted_summarizer)])
    backend = make_backend(server.base_url)
    draft = backend.summarize([seed_document], 3)
    assert [call.step for call in backend.last_run.calls] == ["summary"]
    assert draft.claims[0].refs == [SentenceRef("seed", 0)]
    assert "Write about 3 sentences" in server.requests[0].json["messages"][0]["content"]


def test_summary_sentences_that_are_not_sentences_are_flagged(
    scripted_server: Start, seed_document: Document
) -> None:
    def fragments(request: dict[str, Any]) -> dict[str, Any]:
        items = dict(re.findall(r"^\[(\d+)\] (.*)$", request["messages"][-1]["content"], re.M))
        return chat_body(
            claims_json(
                (items["1"], [1]),
                # The example: a reporting frame without what was said.
                ("Russian President Vladimir Putin said Thursday.", [2]),
                ("He said it was incomplete.", [3]),
            )
        )

    server = scripted_server([Scripted(body=fragments)])
    draft = make_backend(server.base_url).summarize([seed_document], 3)
    first, frame, pronoun = draft.claims
    assert not first.unsupported and first.problems == []
    assert frame.unsupported
    assert "not a sentence: reporting frame without content" in frame.problems
    # "He" may refer to Putin, named in the sentence before it.
    assert not any(problem.startswith("not a sentence") for problem in pronoun.problems)


def test_long_input_is_mapped_then_reduced_keeping_original_refs(
    scripted_server: Start, seed_document: Document
) -> None:
    server = scripted_server([Scripted(body=scripted_summarizer)])
    backend = make_backend(server.base_url, max_context_tokens=600)
    draft = backend.summarize([seed_document], 3)
    steps = [call.step for call in backend.last_run.calls]
    groups = backend.last_run.map_groups
    assert groups >= 2 and steps == [*(f"map {n}" for n in range(1, groups + 1)), "reduce"]
    # Notes 1 and 2 come from map group 1, which starts at sentence 0; note 3 is the first
    # note of group 2, which cites the first sentence of that group.
    assert draft.claims[0].refs == [SentenceRef("seed", 0)]
    second_group_start = len(evidence_lines(server, 0))
    assert draft.claims[1].refs == [SentenceRef("seed", 1), SentenceRef("seed", second_group_start)]
    assert all(DROPPED.match(line) for line in draft.dropped_citations)
    assert "map 1 claim 2: [999] not in evidence" in draft.dropped_citations
    assert draft.usage.calls == groups + 1 and draft.usage.prompt_tokens == 11 * (groups + 1)
    for request in server.requests:
        assert backend._prompt_tokens(request.json["messages"]) <= 600
    # The reduce step sees notes, not sentences.
    reduce_input = server.requests[-1].json["messages"][1]["content"]
    assert re.search(r"<notes>\n\[1\] Note one: .*\n\[2\] Note two: ", reduce_input)


def test_too_many_notes_are_condensed_in_rounds(
    scripted_server: Start, seed_document: Document
) -> None:
    # Notes must share words with the sentence they cite, or the checker flags them.
    note = "Russia struck a sedate tone on Friday and backed the ceasefire with caveats"
    long_note = f"{note} " * 5

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        if "take notes" in request["messages"][0]["content"]:
            return chat_body(claims_json(*[(f"{long_note}{n}.", [1]) for n in range(6)]))
        return chat_body(claims_json((f"{note}.", [1])))

    server = scripted_server([Scripted(body=reply)])
    backend = make_backend(server.base_url, max_context_tokens=600)
    draft = backend.summarize([seed_document], 3)
    steps = [call.step for call in backend.last_run.calls]
    groups = backend.last_run.map_groups
    assert steps[:groups] == [f"map {n}" for n in range(1, groups + 1)]
    assert steps[groups] == "reduce 1.1" and steps[-1] == "reduce"
    # Through every round, the citation still points at the original first sentence.
    assert draft.claims[0].refs == [SentenceRef("seed", 0)]


# ---- a real OpenAI-compatible server ----------------------------------------------------------


def real_backend(
    server: LlamaServer, *, max_output_tokens: int = 120, **options: Any
) -> OpenAIBackend:
    values: dict[str, Any] = {"backend": "openai", "base_url": server.base_url}
    # These tests check the protocol, not speed: on a loaded 2-core machine the tiny model
    # has taken over 60 s (the default) for one map-reduce call, so wait longer.
    values.update({"model": server.model, "max_context_tokens": 2500, "timeout": 600, **options})
    return OpenAIBackend(Settings.from_env(**values), max_output_tokens=max_output_tokens)


def assert_checked(draft: Draft, allowed: set[SentenceRef]) -> None:
    """Whatever the model said, what comes back is checked."""
    if draft.abstained:
        assert draft.claims == []
    for claim in draft.claims:
        assert set(claim.refs) <= allowed
        assert claim.unsupported == bool(claim.problems)
        if not claim.refs:
            assert claim.unsupported
    assert all(DROPPED.match(line) for line in draft.dropped_citations)


def hit_refs(document: Document) -> set[SentenceRef]:
    return {SentenceRef(document.id, i) for first, last in SPANS for i in range(first, last + 1)}


@pytest.mark.slow
def test_real_server_json_fallback_usage_and_cache(
    llama_server: LlamaServer, seed_document: Document
) -> None:
    hits, documents = make_hits(seed_document, SPANS), {"seed": seed_document}
    backend = real_backend(llama_server, max_output_tokens=48)
    draft = backend.answer(QUESTION, hits, documents)
    calls = backend.last_run.calls
    modes = [call.mode for call in calls]
    # llama.cpp's server takes json_schema (it turns the schema into a grammar), so no form is
    # refused; a model this small may still run out of tokens inside the JSON, and then the
    # next form is tried for this call.  (Refusals are tested against scripted servers.)
    assert modes == ["json_schema", "json_object", "text"][: len(modes)]
    assert not any("rejected" in fallback for fallback in backend.last_run.fallbacks)
    assert len(backend.last_run.fallbacks) == len(calls) - 1
    assert_checked(draft, hit_refs(seed_document))
    # Usage is the server's own count, close to our cl100k estimate of the same prompt.
    usage = draft.usage
    assert usage.calls == len(calls) and usage.cached_calls == 0 and usage.completion_tokens > 0
    assert all(200 < call.prompt_tokens < 2500 for call in calls)
    # The identical call again: the reply that was used comes from the cache, nothing sent
    # for it (replies that were not valid are not cached: those forms are asked again).
    again = real_backend(llama_server, max_output_tokens=48)
    repeat = again.answer(QUESTION, hits, documents)
    assert (repeat.claims, repeat.abstained) == (draft.claims, draft.abstained)
    final = again.last_run.calls[-1]
    assert repeat.usage.cached_calls == 1 and final.cached and final.prompt_tokens == 0
    assert final.seconds < 0.5
    assert repeat.usage.prompt_tokens == sum(call.prompt_tokens for call in calls[:-1])


@pytest.mark.slow
def test_real_server_streams_and_checks_at_the_end(
    llama_server: LlamaServer, seed_document: Document
) -> None:
    received: list[str] = []
    backend = real_backend(llama_server)
    draft = backend.answer(
        "What did the articles say about the price of bananas?",
        make_hits(seed_document, SPANS),
        {"seed": seed_document},
        on_text=received.append,
    )
    assert len(received) > 1 and "".join(received).strip()
    assert [call.mode for call in backend.last_run.calls] == ["text"]
    assert draft.abstained or draft.claims
    assert_checked(draft, hit_refs(seed_document))
    # The server sends no usage when streaming; the backend estimates it.
    assert draft.usage.prompt_tokens > 200 and draft.usage.completion_tokens > 0


@pytest.mark.slow
def test_real_server_map_reduce_summary(llama_server: LlamaServer, seed_document: Document) -> None:
    # Short replies: the steps and their order are the subject here, not the notes' wording.
    backend = real_backend(llama_server, max_context_tokens=600, max_output_tokens=48)
    draft = backend.summarize([seed_document], 3)
    run = backend.last_run
    # A step whose reply was not valid JSON is asked again in the next form: one step, more calls.
    steps = list(dict.fromkeys(call.step for call in run.calls))
    assert run.map_groups >= 2
    assert steps[: run.map_groups] == [f"map {n}" for n in range(1, run.map_groups + 1)]
    # Without a single supported note there is nothing to reduce.
    assert steps[-1] == ("reduce" if run.map_notes else f"map {run.map_groups}")
    assert_checked(draft, {SentenceRef("seed", i) for i in range(len(seed_document.sentences))})
    assert draft.usage.calls == len(backend.last_run.calls)


@pytest.mark.slow
def test_real_server_context_too_long(llama_server: LlamaServer) -> None:
    # About 6,000 tokens of evidence for a server started with a 4,096-token window.
    document = make_document("long", "Long", "\n\n".join([seed_text()] * 12))
    backend = real_backend(llama_server, max_context_tokens=7000, use_cache=False)
    with pytest.raises(BackendError, match="the prompt is too long for model 'smollm2-135m'"):
        backend.answer(
            QUESTION, make_hits(document, [(0, len(document.sentences) - 1)]), {"long": document}
        )
