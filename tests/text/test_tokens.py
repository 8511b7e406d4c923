"""o200k_base built offline from quicktok's vocabulary, and the model-to-encoding map."""

from __future__ import annotations

import base64
import hashlib

import pytest

from qa.text.tokens import (
    O200K_VOCAB_SHA256,
    _package_file,
    encoding,
    encoding_for_model,
    load_quicktok_ranks,
)

# tiktoken's own expected_hash for the official o200k_base.tiktoken file.
OFFICIAL_O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def test_quicktok_vocab_converts_to_the_official_o200k_file() -> None:
    path = _package_file("quicktok", "data", "o200k.vocab")
    ranks = load_quicktok_ranks(path, O200K_VOCAB_SHA256)
    text = b"".join(
        base64.b64encode(token) + b" " + str(rank).encode() + b"\n"
        for token, rank in sorted(ranks.items(), key=lambda item: item[1])
    )
    assert hashlib.sha256(text).hexdigest() == OFFICIAL_O200K_SHA256


def test_o200k_encodes_offline() -> None:
    enc = encoding("o200k_base")
    assert enc.n_vocab == 200019
    text = "Russia’s “idea” of a 30-day ceasefire"
    tokens = enc.encode(text)
    assert enc.decode(tokens) == text
    assert tokens != encoding("cl100k_base").encode(text)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("ft:gpt-4o-mini:org::abc", "o200k_base"),
        ("openai/gpt-4.1", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("olmo-2", "cl100k_base"),
        ("smollm2-135m", "cl100k_base"),
        ("llama-3.1-8b", "cl100k_base"),
    ],
)
def test_encoding_for_model(model: str, name: str) -> None:
    assert encoding_for_model(model).name == name
