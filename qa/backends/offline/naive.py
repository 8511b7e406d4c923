"""The naive anchor: the retrieved sentences nearest the question, pasted; never abstains.

It is what every score of the engine is measured against (``qa eval --backend
naive``): the sentences of the retrieved chunks, nearest to the question by
MiniLM cosine first, taken until the next one would pass the word budget (the
first is always taken), quoted in article order.  The budget defaults to the
engine's mean answer length on the eval sets (``QA_NAIVE_WORDS`` overrides
it), so engine and anchor are compared at equal length.  Summaries are the
lead: each document's first sentences.  Like the engine it reads the documents
without instruction sentences, so the anchor is no easier to steer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from qa.backends.offline.features import Candidate, candidates
from qa.backends.offline.readable import Readable
from qa.config import Settings
from qa.errors import ConfigError
from qa.index.embed import Embedder
from qa.index.store import Store
from qa.text.markers import defuse_markers
from qa.types import Document, Draft, DraftClaim, Hit, SentenceRef, TextSink

# The engine's mean answer length over eval/, eval/paraphrased and eval/squad2 (words).
DEFAULT_WORDS = 42


class NaiveBackend:
    name = "naive"

    def __init__(
        self, embedder: Embedder, store: Store | None = None, words: int = DEFAULT_WORDS
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.words = words

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None = None,
    ) -> Draft:
        readable = Readable.of(documents.values())
        visible = readable.hits(hits)
        found = candidates(visible, readable.documents)
        if not found:
            return Draft(claims=[], abstained=True)
        question_vector = self.embedder.embed([question])[0]
        vectors = {
            doc_id: readable.vectors(readable.documents[doc_id], self.store, self.embedder)
            for doc_id in {c.ref.doc_id for c in found}
        }
        cos = np.array([float(vectors[c.ref.doc_id][c.ref.index] @ question_vector) for c in found])
        chosen: list[Candidate] = []
        total = 0
        for i in np.argsort(-cos, kind="stable"):
            if chosen and total + found[i].words > self.words:
                break
            chosen.append(found[i])
            total += found[i].words
        chosen.sort(key=lambda c: (c.ref.doc_id, c.ref.index))
        claims = [DraftClaim(c.text, [readable.stored(c.ref)]) for c in chosen]
        if on_text is not None:
            on_text(" ".join(defuse_markers(claim.text) for claim in claims))
        return Draft(claims=claims)

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        readable = Readable.of(documents)
        claims: list[DraftClaim] = []
        views = [readable.documents[d.id] for d in documents]
        per_document = max(1, sentences // max(len(views), 1))
        for view in views:
            for sentence in view.sentences[:per_document]:
                ref = readable.stored(SentenceRef(view.id, sentence.index))
                claims.append(DraftClaim(sentence.text, [ref]))
        return Draft(claims=claims[: max(sentences, len(views))])


def create(settings: Settings, store: Store) -> NaiveBackend:
    """The registry's factory; ``QA_NAIVE_WORDS`` sets the word budget."""
    raw = os.environ.get("QA_NAIVE_WORDS", "")
    try:
        words = int(raw) if raw else DEFAULT_WORDS
    except ValueError:
        raise ConfigError(
            f"QA_NAIVE_WORDS={raw!r} is not a whole number", fix="set it to a number of words"
        ) from None
    return NaiveBackend(store.embedder, store, words)
