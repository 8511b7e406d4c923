"""The answering backend Protocol: a new backend is one module implementing it,
named in :mod:`qa.backends.registry`.

A backend turns evidence into a :class:`~qa.types.Draft`: claims that point
at stored sentences by :class:`~qa.types.SentenceRef`.  Numbering, resolving
and checking those citations is done afterwards by :mod:`qa.citations`, the same
way for every backend, so no backend can show an unchecked citation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from qa.types import Document, Draft, Hit, TextSink


class Backend(Protocol):
    name: str

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None = None,
    ) -> Draft:
        """Answer from the retrieved chunks; ``on_text`` receives streamed text, if any."""
        ...

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        """Write a neutral summary of about ``sentences`` sentences."""
        ...
