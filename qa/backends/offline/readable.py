"""The documents as the offline backends read them: without sentences written to a model.

Sentences that address a language model rather than a reader ("Ignore all
previous instructions ...", fake "system:" turns, prompt delimiters, the
abstention sentence itself: :func:`qa.backends.offline.discourse.is_instruction`)
are taken out before anything is scored, so an article cannot steer the
engine.  A :class:`Readable` is the per-call value that holds those views and
maps hits, sentence vectors and citations between the views' numbering and
the stored one; it is passed along, never kept on a backend, so one backend
can serve several calls at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from qa.backends.offline.discourse import without_instructions
from qa.index.embed import Embedder, Vectors
from qa.index.store import Store
from qa.types import Document, Draft, Hit, SentenceRef


@dataclass(frozen=True)
class Readable:
    """Instruction-free views of some documents, and the way back to stored numbering."""

    documents: dict[str, Document]
    # Per document that lost sentences: the stored index of each kept sentence, and the
    # stored sentence count.
    kept: dict[str, tuple[tuple[int, ...], int]]

    @classmethod
    def of(cls, documents: Iterable[Document]) -> Readable:
        views: dict[str, Document] = {}
        kept: dict[str, tuple[tuple[int, ...], int]] = {}
        for document in documents:
            view, indices = without_instructions(document)
            if view is not document:
                kept[document.id] = (indices, len(document.sentences))
            views[document.id] = view
        return cls(views, kept)

    def hits(self, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` in the views' numbering; a chunk of nothing but instructions is gone."""
        visible: list[Hit] = []
        for hit in hits:
            chunk = hit.chunk
            if chunk.doc_id not in self.kept:
                visible.append(hit)
                continue
            indices, _ = self.kept[chunk.doc_id]
            inside = [
                new
                for new, old in enumerate(indices)
                if chunk.first_sentence <= old <= chunk.last_sentence
            ]
            if inside:
                chunk = replace(chunk, first_sentence=inside[0], last_sentence=inside[-1])
                visible.append(replace(hit, chunk=chunk))
        return visible

    def stored(self, ref: SentenceRef) -> SentenceRef:
        """``ref`` (views' numbering) in the stored document's numbering."""
        if ref.doc_id not in self.kept:
            return ref
        return SentenceRef(ref.doc_id, self.kept[ref.doc_id][0][ref.index])

    def restore(self, draft: Draft) -> Draft:
        """``draft`` with its citations in the stored documents' sentence numbering."""
        for claim in draft.claims:
            claim.refs = [self.stored(ref) for ref in claim.refs]
        return draft

    def vectors(self, document: Document, store: Store | None, embedder: Embedder) -> Vectors:
        """One row per sentence of the view of ``document``: stored rows, else embedded now."""
        if store is not None:
            stored = store.sentence_vectors(document.id)
            indices, total = self.kept.get(document.id, ((), -1))
            if len(stored) == total and len(document.sentences) == len(indices) < total:
                return stored[list(indices)]
            if len(stored) == len(document.sentences):
                return stored
        return embedder.embed([sentence.text for sentence in document.sentences])
