"""Redaction on its own: a secret masked whole, in pieces and half-masked; endpoints shown
without credentials; and the log filter on the loggers of qa and of the HTTP stack.

The end-to-end check, that the key reaches no output, log or file of a whole session
through the real CLI, is test_secrets.py.
"""

from __future__ import annotations

import logging

import pytest

from qa.backends.llm.redaction import display_url, guard_logs, redact

SECRET = "sk-proj-qaREDACT-5e1f0b7c9d2a4e68-PlW42kq"


@pytest.mark.parametrize(
    "echoed",
    [
        SECRET,
        SECRET[8:],  # without its prefix
        SECRET[:20],  # cut
        SECRET[12:34],  # a piece from the middle
        "sk-proj-qaR***W42kq",  # half-masked by the server
        f"Bearer {SECRET}",
    ],
    ids=["whole", "no-prefix", "cut", "middle", "half-masked", "header"],
)
def test_every_form_of_an_echoed_key_is_masked(echoed: str) -> None:
    text = redact(f"Incorrect API key provided: {echoed}. See the docs.", [SECRET])
    assert text.startswith("Incorrect API key provided: ") and text.endswith(". See the docs.")
    assert "***" in text
    # No 8-character piece of the key is left (fewer may be: a server's own mask shows them).
    assert not [SECRET[i : i + 8] for i in range(len(SECRET) - 7) if SECRET[i : i + 8] in text]


def test_other_text_is_left_alone() -> None:
    text = "Russia backed the idea of a 30-day ceasefire on 2025-03-14 [1]."
    assert redact(text, [SECRET]) == text
    # No secrets given: nothing but key-like strings is masked.
    assert redact(text, []) == text and redact(text, [""]) == text


def test_key_like_strings_are_masked_unless_asked_not_to() -> None:
    text = "keys such as sk-abcdef123456 and sk-other***xyz"
    assert redact(text, []) == "keys such as *** and ***"
    # A model's reply may mention "sk-..." words of its own; only the secret goes.
    reply = f"The article says sk-abcdef123456; the key was {SECRET}."
    assert (
        redact(reply, [SECRET], key_like=False)
        == "The article says sk-abcdef123456; the key was ***."
    )


def test_a_short_secret_is_masked_only_whole() -> None:
    assert redact("token abc123 and abc12", ["abc123"]) == "token *** and abc12"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:hunter2@127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("https://api.example.com/v1?key=abc#frag", "https://api.example.com/v1"),
        ("http://[::1]:9000/v1", "http://[::1]:9000/v1"),
        ("https://API.Example.com/v1", "https://api.example.com/v1"),
    ],
    ids=["userinfo", "query-and-fragment", "ipv6", "host-case"],
)
def test_display_url_drops_credentials_query_and_fragment(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_the_log_filter_masks_records_of_the_guarded_loggers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    early = logging.getLogger("httpcore.test_redaction")
    guard_logs(SECRET)
    early.debug("send header %s", f"Bearer {SECRET}")
    # A logger created after the first guard is covered by the next call (before each request).
    late = logging.getLogger("qa.test_redaction_late")
    guard_logs(SECRET)
    late.info("reply echoed %s", SECRET[8:])
    unrelated = logging.getLogger("elsewhere.test_redaction")
    unrelated.info("not a secret: %s", "plain text")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["send header Bearer ***", "reply echoed ***", "not a secret: plain text"]
    assert "qaREDACT" not in caplog.text
