"""Token counts for one model: a text, and a chat prompt with its per-message framing.

Used to pack evidence to the prompt budget (:mod:`qa.backends.llm.evidence`) and to
estimate usage when a server reports none (:mod:`qa.backends.llm.client`). The encoding
comes from :mod:`qa.text.tokens` (offline tiktoken files). Not handled: exact counts for
non-OpenAI models (they are estimated with cl100k_base), tools, images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qa.text.tokens import encoding_for_model


class TokenCounter:
    """Counts tokens as ``model`` would, or as cl100k_base does for other vendors' models."""

    def __init__(self, model: str) -> None:
        self._encoding = encoding_for_model(model)

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def prompt(self, messages: Sequence[Mapping[str, str]]) -> int:
        # Chat framing costs a few tokens per message on OpenAI models (their cookbook's 3 + 3).
        return 3 + sum(3 + self.count(message["content"]) for message in messages)
