"""Ingest's pooled chunk vectors: sentences are embedded once, and each chunk's vector is
pooled from its sentences' (and the headline's) tokens instead of a second model pass."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from qa.index.embed import Embedder, MiniLMEmbedder, PooledEmbedder, Vectors
from qa.ingestion.chunk import chunk_sentences
from qa.ingestion.pipeline import _dense_text, _embed_batch, _Prepared, build_document
from qa.ingestion.sources import RawArticle
from qa.types import Chunk, Document


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def _document(text: str) -> Document:
    return build_document(RawArticle("article.txt", "text", text))


def _vectors(
    embedder: Embedder, document: Document, chunks: Sequence[Chunk]
) -> tuple[Vectors, Vectors]:
    found, _ = _embed_batch(
        embedder, [_Prepared(0, "article.txt", document, list(chunks), "added", "", [])], []
    )
    return found[0]


def test_weighted_means_are_the_plain_vectors_unnormalised(embedder: MiniLMEmbedder) -> None:
    texts = ["Putin met Witkoff in Moscow.", "Short.", "A longer sentence " * 100]
    means, counts = embedder.embed_weighted(texts)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    np.testing.assert_allclose(means / norms, embedder.embed(texts), atol=1e-6)
    # [CLS] and [SEP] count, as they do in the mean; the long text is cut at 256 tokens.
    assert counts[1] >= 3
    assert counts[2] == embedder.max_tokens
    assert isinstance(embedder, PooledEmbedder)
    # Batch company changes no vector: each text alone gives the same row.
    alone = np.concatenate([embedder.embed([text]) for text in texts])
    np.testing.assert_allclose(embedder.embed(texts), alone, atol=1e-5)


def test_every_sentence_and_chunk_gets_a_sane_vector(
    embedder: MiniLMEmbedder, seed_text: str
) -> None:
    document = _document(seed_text)
    chunks = chunk_sentences(document.id, document.text, document.sentences, 80)
    assert len(chunks) > 3
    chunk_vectors, sentence_vectors = _vectors(embedder, document, chunks)
    assert sentence_vectors.shape == (len(document.sentences), embedder.dimension)
    assert chunk_vectors.shape == (len(chunks), embedder.dimension)
    for vectors in (sentence_vectors, chunk_vectors):
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Sentence vectors are the standalone ones, exactly as the answer engine expects.
    standalone = embedder.embed([sentence.text for sentence in document.sentences])
    np.testing.assert_allclose(sentence_vectors, standalone, atol=1e-6)
    # A pooled chunk vector points where a model pass over "title. chunk" does.
    whole = embedder.embed([_dense_text(document, chunk.text) for chunk in chunks])
    agreement = np.einsum("ij,ij->i", whole, chunk_vectors)
    assert float(agreement.min()) > 0.8
    assert float(agreement.mean()) > 0.88


def test_pieces_of_an_over_long_sentence_get_their_own_vectors(
    embedder: MiniLMEmbedder,
) -> None:
    clauses = [
        "schools in the capital would reopen on Monday after three weeks",
        "vaccination teams had visited every village on the northern islands",
        "the airport would again accept flights from New Zealand and Australia",
        "hospital staff who worked double shifts would receive a bonus",
        "a committee would review why the first warnings were missed",
        "fishing boats could leave the harbour without a health certificate",
        "the parliament would debate a law making vaccines compulsory",
        "market stalls selling cooked food could open again at night",
    ]
    long_sentence = "The ministry said that " + ", and ".join(clauses) + "."
    document = _document(
        f"Measles outbreak\n\nThe outbreak is over.\n\n{long_sentence}\n\nSchools reopen."
    )
    chunks = chunk_sentences(document.id, document.text, document.sentences, 40)
    pieces = [c for c in chunks if c.first_sentence == c.last_sentence == 1]
    assert len(pieces) > 2
    chunk_vectors, _ = _vectors(embedder, document, chunks)
    whole = embedder.embed([_dense_text(document, chunk.text) for chunk in chunks])
    similarity = whole @ chunk_vectors.T
    assert float(np.diag(similarity).min()) > 0.85
    assert list(similarity.argmax(axis=1)) == list(range(len(chunks)))


def test_documents_and_words_share_one_call(embedder: MiniLMEmbedder, seed_text: str) -> None:
    first = _document(seed_text)
    second = _document("Boat fire\n\nA fire broke out on a dive boat.\n\nNo one escaped.")
    batch = [
        _Prepared(
            n,
            f"{n}.txt",
            document,
            chunk_sentences(document.id, document.text, document.sentences),
            "added",
            "",
            [],
        )
        for n, document in enumerate([first, second])
    ]
    words = ["ceasefire", "kremlin"]
    found, word_vectors = _embed_batch(embedder, batch, words)
    np.testing.assert_allclose(word_vectors, embedder.embed(words), atol=1e-6)
    for prepared, (chunk_vectors, sentence_vectors) in zip(batch, found, strict=True):
        assert chunk_vectors.shape == (len(prepared.chunks), embedder.dimension)
        assert sentence_vectors.shape == (len(prepared.document.sentences), embedder.dimension)
    alone = _vectors(embedder, second, batch[1].chunks)
    np.testing.assert_allclose(found[1][0], alone[0], atol=1e-5)
    np.testing.assert_allclose(found[1][1], alone[1], atol=1e-5)


class PlainEmbedder:
    """An embedder without token counts: it gets the chunks as text, as before."""

    name = "plain"
    dimension = 4

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        return np.ones((len(texts), self.dimension), dtype=np.float32) / 2


def test_an_embedder_without_counts_embeds_chunks_whole(seed_text: str) -> None:
    document = _document(seed_text)
    chunks = chunk_sentences(document.id, document.text, document.sentences)
    plain = PlainEmbedder()
    assert not isinstance(plain, PooledEmbedder)
    prepared = _Prepared(0, "seed.txt", document, chunks, "added", "", [])
    found, word_vectors = _embed_batch(plain, [prepared], ["kremlin"])
    assert plain.calls == [
        [_dense_text(document, chunk.text) for chunk in chunks]
        + [sentence.text for sentence in document.sentences]
        + ["kremlin"]
    ]
    chunk_vectors, sentence_vectors = found[0]
    assert chunk_vectors.shape == (len(chunks), 4)
    assert sentence_vectors.shape == (len(document.sentences), 4)
    assert word_vectors.shape == (1, 4)
