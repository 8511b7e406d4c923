"""The answering backend Protocol: a new backend is one module implementing it.

A backend turns evidence into a :class:`~qa.types.Draft`: claims that point
at stored sentences by :class:`~qa.types.SentenceRef`.  Numbering, resolving
and checking those citations is done afterwards by :mod:`qa.cite`, the same
way for every backend, so no backend can show an unchecked citation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from qa.types import Document, Draft, Hit

if TYPE_CHECKING:
    from qa.config import Settings
    from qa.store import Store

TextSink = Callable[[str], None]


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


def load_backend(settings: Settings, store: Store) -> Backend:
    """The backend named in settings; imported lazily so the offline path never loads openai."""
    if settings.backend == "openai":
        from qa.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    from qa.extractive import ExtractiveBackend

    return ExtractiveBackend(store.embedder, store)
