"""The reply cache: identical requests are answered from disk (whatever the key), never
with the key in a file; and the cache on its own: keys, damaged files, atomic writes,
modes.json, and a disabled cache that touches nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.backends.llm.cache import ReplyCache
from qa.types import Document, Usage
from tests.helpers import (
    QUESTION,
    SECRET,
    SPANS,
    Scripted,
    Start,
    claims_json,
    make_backend,
    make_hits,
    ok,
    stream_chunks,
)

pytestmark = pytest.mark.usefixtures("fresh_modes")


def test_identical_calls_hit_the_cache(
    scripted_server: Start, seed_document: Document, tmp_path: Path
) -> None:
    server = scripted_server([ok(claims_json(("Putin spoke.", [1])), 40, 9)])
    hits, documents = make_hits(seed_document, SPANS), {"seed": seed_document}
    first = make_backend(server.base_url, api_key=SECRET).answer(QUESTION, hits, documents)
    # Another key, same endpoint, model, prompt and parameters: the same cache entry.
    backend = make_backend(server.base_url, api_key="sk-other-key-000000")
    second = backend.answer(QUESTION, hits, documents)
    assert len(server.requests) == 1
    assert second.claims == first.claims
    assert second.usage.to_dict() == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "calls": 1,
        "cached_calls": 1,
    }
    assert backend.last_run.calls[0].cached
    make_backend(server.base_url, use_cache=False).answer(QUESTION, hits, documents)
    assert len(server.requests) == 2
    files = list((tmp_path / "qa-home" / "cache" / "llm").rglob("*.json"))
    assert files
    for path in files:
        assert SECRET not in path.read_text() and "sk-other" not in path.read_text()


def test_streamed_cache_hit_sends_the_whole_text_once(
    scripted_server: Start, seed_document: Document
) -> None:
    server = scripted_server([Scripted(sse=stream_chunks(["Putin spoke [1]", "."]))])
    hits, documents = make_hits(seed_document, SPANS), {"seed": seed_document}
    make_backend(server.base_url).answer(QUESTION, hits, documents, on_text=lambda _: None)
    received: list[str] = []
    draft = make_backend(server.base_url).answer(QUESTION, hits, documents, on_text=received.append)
    assert received == ["Putin spoke [1]."]
    assert len(server.requests) == 1 and draft.usage.cached_calls == 1


# ---- the cache on its own --------------------------------------------------------------

MESSAGES = [{"role": "user", "content": "Who met Putin?"}]
PARAMS = {"model": "m", "max_tokens": 64, "temperature": 0.0}
USAGE = Usage(prompt_tokens=12, completion_tokens=3, calls=1)


def test_the_key_is_the_endpoint_messages_and_parameters() -> None:
    key = ReplyCache.key("http://127.0.0.1:8080/v1", MESSAGES, PARAMS)
    assert key == ReplyCache.key("http://127.0.0.1:8080/v1", list(MESSAGES), dict(PARAMS))
    assert len(key) == 64 and int(key, 16) >= 0
    others = {
        ReplyCache.key("http://127.0.0.1:9090/v1", MESSAGES, PARAMS),
        ReplyCache.key("http://127.0.0.1:8080/v1", [{"role": "user", "content": "Who?"}], PARAMS),
        ReplyCache.key("http://127.0.0.1:8080/v1", MESSAGES, {**PARAMS, "max_tokens": 65}),
    }
    assert key not in others and len(others) == 3


def test_a_stored_reply_loads_back_from_its_own_file(tmp_path: Path) -> None:
    cache = ReplyCache(tmp_path / "llm", enabled=True)
    key = ReplyCache.key("http://127.0.0.1:8080/v1", MESSAGES, PARAMS)
    assert cache.load(key) is None
    cache.store(key, model="m", mode="json_object", text="Putin spoke [1].", usage=USAGE)
    assert cache.load(key) == "Putin spoke [1]."
    path = cache.path(key)
    assert path == tmp_path / "llm" / key[:2] / f"{key}.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    assert (record["model"], record["mode"], record["usage"]["total_tokens"]) == (
        "m",
        "json_object",
        15,
    )
    # Written through a temporary file that was renamed into place: none is left over.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"text": 3}', ""])
def test_a_damaged_or_foreign_file_is_a_miss(tmp_path: Path, content: str) -> None:
    cache = ReplyCache(tmp_path / "llm", enabled=True)
    key = ReplyCache.key("http://127.0.0.1:8080/v1", MESSAGES, PARAMS)
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_text(content, encoding="utf-8")
    assert cache.load(key) is None
    cache.modes_file.write_text(content, encoding="utf-8")
    assert cache.load_mode("http://127.0.0.1:8080/v1 m") is None
    # A damaged modes.json is replaced, not kept.
    cache.store_mode("http://127.0.0.1:8080/v1 m", "text")
    assert cache.load_mode("http://127.0.0.1:8080/v1 m") == "text"


def test_modes_are_kept_per_endpoint_and_model(tmp_path: Path) -> None:
    cache = ReplyCache(tmp_path / "llm", enabled=True)
    cache.store_mode("http://a/v1 m", "json_object")
    cache.store_mode("http://b/v1 m", "text")
    cache.store_mode("http://a/v1 m", "text")
    again = ReplyCache(tmp_path / "llm", enabled=True)
    assert (again.load_mode("http://a/v1 m"), again.load_mode("http://b/v1 m")) == ("text", "text")
    assert again.load_mode("http://a/v1 other") is None


def test_a_disabled_cache_reads_and_writes_nothing(tmp_path: Path) -> None:
    enabled = ReplyCache(tmp_path / "llm", enabled=True)
    key = ReplyCache.key("http://127.0.0.1:8080/v1", MESSAGES, PARAMS)
    enabled.store(key, model="m", mode="text", text="old", usage=USAGE)
    enabled.store_mode("http://a/v1 m", "text")
    disabled = ReplyCache(tmp_path / "llm", enabled=False)
    assert disabled.load(key) is None and disabled.load_mode("http://a/v1 m") is None
    before = sorted(p.name for p in (tmp_path / "llm").rglob("*"))
    disabled.store(ReplyCache.key("http://x/v1", MESSAGES, PARAMS), model="m", mode="text",
                   text="new", usage=USAGE)  # fmt: skip
    disabled.store_mode("http://b/v1 m", "text")
    assert sorted(p.name for p in (tmp_path / "llm").rglob("*")) == before


def test_an_unwritable_folder_is_a_warning_not_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "llm"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    cache = ReplyCache(blocker, enabled=True)
    key = ReplyCache.key("http://127.0.0.1:8080/v1", MESSAGES, PARAMS)
    cache.store(key, model="m", mode="text", text="reply", usage=USAGE)
    assert cache.load(key) is None
    assert "could not write cache file" in caplog.text
