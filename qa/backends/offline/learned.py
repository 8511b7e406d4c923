"""The learned offline backend (``--backend learned``): extractive answers chosen by a
learned scorer, with a calibrated confidence; summaries as the default engine writes them.

Answering, in four steps:

1. The documents are read without sentences written to a model (prompt
   injection, :mod:`qa.backends.offline.readable`), so an article cannot steer
   the engine; citations are mapped back to the stored sentence numbers.
2. Every sentence of the retrieved chunks is a candidate, described by the
   features of :mod:`qa.backends.offline.features` (similarity, overlap, answer
   type, names, speaker, position, retrieval ranks).
3. The scorer (:mod:`qa.backends.offline.scorer`, weights learned by
   ``python -m train.scorer``) gives each candidate the probability that it
   holds the answer, and the question the probability that the evidence
   answers it at all: the answer's ``confidence``.
4. Below the confidence threshold the engine abstains.  Otherwise the answer
   is the best candidate, then the next best while each is probable enough and
   the answer stays within its word budget, quoted in article order, one
   citation per sentence.

There are no hand rules about which sentence answers which question: the
weights, the word budget and the thresholds are all chosen on held-out folds
(grouped by article) of the eval data.  What stays hand-written is about
safety and faithfulness: instruction sentences never reach the scorer,
sentences are quoted whole (so quotations stay intact), and citation-like
markers inside quoted text are defused before streaming.

Summaries are written by :mod:`qa.backends.offline.summariser`.

Not handled: answers that need arithmetic or inference across sentences, a
part of a sentence as the answer (sentences are quoted whole), and
coreference ("he said" is a feature of the sentence, not resolved).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qa.backends.offline.features import Evidence, WordVectors, extract
from qa.backends.offline.readable import Readable
from qa.backends.offline.scorer import Scorer, Selection, load, select
from qa.backends.offline.summariser import summarize
from qa.config import Settings
from qa.index.embed import Embedder
from qa.index.store import Store
from qa.text.markers import defuse_markers
from qa.types import Document, Draft, DraftClaim, Hit, TextSink


@dataclass(frozen=True)
class Knobs:
    """The offline engine's tuning knobs, all in one place.

    Defaults come from the scorer's weights file, where training recorded the
    values chosen on held-out folds; ``Settings.min_confidence`` moves the
    abstention threshold.
    """

    # Most words an answer may have; its best sentence is always quoted whole.
    answer_words: int
    # A second or later sentence needs at least this probability of holding the answer ...
    min_probability: float
    # ... and at least this share of the best sentence's probability.
    relative_probability: float
    # Abstain when the probability that the evidence answers the question is below this.
    min_confidence: float

    @classmethod
    def of(cls, selection: Selection, min_confidence: float | None = None) -> Knobs:
        return cls(
            answer_words=selection.answer_words,
            min_probability=selection.min_probability,
            relative_probability=selection.relative_probability,
            min_confidence=selection.min_confidence if min_confidence is None else min_confidence,
        )

    @property
    def selection(self) -> Selection:
        return Selection(
            self.answer_words, self.min_probability, self.relative_probability, self.min_confidence
        )


class LearnedBackend:
    name = "learned"

    def __init__(
        self,
        embedder: Embedder,
        store: Store | None = None,
        scorer: Scorer | None = None,
        knobs: Knobs | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.scorer = scorer or load()
        self.knobs = knobs or Knobs.of(self.scorer.selection)

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None = None,
    ) -> Draft:
        """Cited sentences answering ``question``, or an abstention; both with a confidence."""
        readable, evidence = gather(question, hits, documents, self.store, self.embedder)
        scored = self.scorer.score(evidence)
        confidence = round(scored.confidence, 4)
        if not evidence.candidates or scored.confidence < self.knobs.min_confidence:
            return Draft(claims=[], abstained=True, confidence=confidence)
        words = [candidate.words for candidate in evidence.candidates]
        chosen = select(scored.probabilities, words, self.knobs.selection)
        picked = [evidence.candidates[i] for i in chosen]
        # In article order; the document of the best sentence first when there are several.
        first = {doc_id: n for n, doc_id in reversed(list(enumerate(c.ref.doc_id for c in picked)))}
        ordered = sorted(picked, key=lambda c: (first[c.ref.doc_id], c.ref.index))
        claims = [DraftClaim(c.text, [readable.stored(c.ref)]) for c in ordered]
        if on_text is not None:
            on_text(" ".join(defuse_markers(claim.text) for claim in claims))
        return Draft(claims=claims, confidence=confidence)

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        """A cited summary; instruction sentences are left out as for :meth:`answer`."""
        readable = Readable.of(documents)
        ordered = [
            readable.documents[d.id] for d in documents if readable.documents[d.id].sentences
        ]
        draft = summarize(
            ordered,
            sentences,
            lambda document: readable.vectors(document, self.store, self.embedder),
            self.embedder.embed,
        )
        return readable.restore(draft)


def gather(
    question: str,
    hits: Sequence[Hit],
    documents: Mapping[str, Document],
    store: Store | None,
    embedder: Embedder,
) -> tuple[Readable, Evidence]:
    """The readable views of ``documents`` and the candidates' features for ``question``.

    The training script (``train/scorer.py``) calls this too, so the weights are
    learned from exactly what the engine computes.
    """
    readable = Readable.of(documents.values())
    visible = readable.hits(hits)
    views = readable.documents
    doc_ids = {hit.chunk.doc_id for hit in visible}
    vectors = {doc_id: readable.vectors(views[doc_id], store, embedder) for doc_id in doc_ids}
    question_vector = embedder.embed([question])[0]
    words = word_vectors(store, embedder)
    return readable, extract(question, question_vector, visible, views, vectors, words)


# Vectors of words the collection's vocabulary lacks (a question's own words), embedded once
# per process: a question asked again, or its words in the next question, cost nothing.
_EMBEDDED: dict[tuple[str, str], np.ndarray] = {}
EMBEDDED_WORDS = 50_000


def word_vectors(store: Store | None, embedder: Embedder) -> WordVectors:
    """Word vectors from the store (embedded at ingest), else embedded now."""

    def lookup(words: Sequence[str]) -> np.ndarray:
        found = store.word_vectors(words) if store is not None else {}
        missing = sorted({w for w in words if w not in found})
        cached = {
            w: _EMBEDDED[(embedder.name, w)] for w in missing if (embedder.name, w) in _EMBEDDED
        }
        fresh = [w for w in missing if w not in cached]
        if fresh:
            if len(_EMBEDDED) > EMBEDDED_WORDS:
                _EMBEDDED.clear()
            for word, vector in zip(fresh, embedder.embed(fresh), strict=True):
                _EMBEDDED[(embedder.name, word)] = cached[word] = np.asarray(vector)
        found.update(cached)
        if not words:
            return np.zeros((0, embedder.dimension))
        return np.stack([np.asarray(found[w], dtype=np.float64) for w in words])

    return WordVectors(embedder.name, lookup)


def create(settings: Settings, store: Store) -> LearnedBackend:
    """The registry's factory: the offline engine reads the store's vectors and embedder."""
    scorer = load()
    knobs = Knobs.of(scorer.selection, settings.min_confidence)
    return LearnedBackend(store.embedder, store, scorer, knobs)
