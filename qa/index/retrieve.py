"""Hybrid retrieval: dense (Chroma) and lexical (BM25 over FTS5), fused by reciprocal rank.

Reciprocal rank fusion needs no score calibration between the two retrievers:
each contributes ``1 / (RRF_K + rank)`` for every chunk it ranks.
"""

from __future__ import annotations

from qa.index.store import Store
from qa.text.words import STOPWORDS
from qa.types import Hit

RRF_K = 60
CANDIDATES_PER_RETRIEVER = 30


def retrieve(store: Store, question: str, k: int = 8, doc_id: str | None = None) -> list[Hit]:
    store.require_documents()
    depth = max(CANDIDATES_PER_RETRIEVER, 3 * k)
    vector = store.embedder.embed([question])[0]
    dense = store.dense_search(vector, depth, doc_id)
    lexical = store.lexical_search(question, depth, doc_id, stopwords=STOPWORDS)
    dense_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(dense, 1)}
    lexical_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(lexical, 1)}
    scores: dict[str, float] = {}
    for ranks in (dense_rank, lexical_rank):
        for chunk_id, rank in ranks.items():
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    best = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))[:k]
    chunks = store.get_chunks(best)
    return [
        Hit(
            chunks[chunk_id], scores[chunk_id], dense_rank.get(chunk_id), lexical_rank.get(chunk_id)
        )
        for chunk_id in best
        if chunk_id in chunks
    ]
