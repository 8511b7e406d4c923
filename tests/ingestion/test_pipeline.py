"""The ingest pipeline's embedding in slices (qa.ingestion.pipeline)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.index.embed import MiniLMEmbedder
from qa.ingestion import pipeline

TEXTS = [f"Sentence number {n} about the river and the dam." for n in range(11)]


def test_slices_give_what_one_call_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    # Eleven texts in slices of three (the last slice short), written into one array:
    # the same vectors and token counts, in the same order, as one call.
    embedder = MiniLMEmbedder()
    whole, whole_counts = embedder.embed_weighted(TEXTS)
    monkeypatch.setattr(pipeline, "EMBED_SLICE", 3)
    seen: list[tuple[str, int, int]] = []
    vectors, counts = pipeline._sliced(
        embedder.embed_weighted, TEXTS, lambda what, done, total: seen.append((what, done, total))
    )
    assert np.allclose(vectors, whole, atol=1e-5)
    assert np.array_equal(counts, whole_counts)
    assert [done for _, done, _ in seen] == [3, 6, 9, 11]


def test_slices_of_an_embedder_without_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = MiniLMEmbedder()
    monkeypatch.setattr(pipeline, "EMBED_SLICE", 4)
    vectors, counts = pipeline._sliced(
        lambda part: (embedder.embed(part), np.zeros(0, np.int64)), TEXTS, None
    )
    assert np.allclose(vectors, embedder.embed(TEXTS), atol=1e-5)
    assert counts.shape == (0,)
