"""The peer: LlamaIndex's standard pipeline on the same corpus, with qa's embedder.

SimpleDirectoryReader -> SentenceSplitter -> VectorStoreIndex over llama-index's
ChromaVectorStore (an on-disk chromadb PersistentClient), and a top-k vector retriever. The
embedding model is qa's own MiniLM (through :class:`QaEmbedding`), so the two runs differ
only in the pipeline around the model. Chunks use qa's token budget and tokenizer
(cl100k_base), with about one sentence of overlap, as qa's chunker has.

Differences that remain, and are part of what is compared: the peer does not clean pages or
record sentence spans, embeds each chunk once (with LlamaIndex's default ``file_path``
metadata line in front) and no sentences, and retrieves by vector only (qa fuses vector and
BM25 ranks and reads the chunks back from SQLite).
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from bench.pipeline import (
    default_embedder,
    model_token_counter,
    preload_chroma,
    read_record,
    settings_for,
    time_pass,
    warm,
)

COLLECTION = "peer"
# qa overlaps chunks by one whole sentence; the eval articles average about 28 tokens one.
OVERLAP_TOKENS = 30


class QaEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model that calls qa's embedder."""

    _inner: Any = PrivateAttr()
    _record: IO[str] | None = PrivateAttr(default=None)
    _seconds: float = PrivateAttr(default=0.0)
    _texts: int = PrivateAttr(default=0)

    def __init__(self, inner: Any, record: IO[str] | None = None) -> None:
        # Same batch size as qa's embedder, so neither side gets a batching advantage.
        super().__init__(model_name=inner.name, embed_batch_size=inner.batch_size)
        self._inner = inner
        self._record = record

    @property
    def seconds(self) -> float:
        return self._seconds

    @property
    def texts(self) -> int:
        return self._texts

    def _embed(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        vectors = self._inner.embed(texts)
        self._seconds += time.perf_counter() - started
        self._texts += len(texts)
        if self._record is not None:
            self._record.write(json.dumps({"embed": texts}) + "\n")
        return vectors.tolist()  # type: ignore[no-any-return]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)


def _client(folder: str) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(folder, settings=ChromaSettings(anonymized_telemetry=False))


def ingest_peer(corpus: str, folder: str, record: str) -> dict[str, Any]:
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from qa.text.tokens import encoding

    inner = default_embedder()
    load_s = warm(inner)
    preload_chroma()
    budget = settings_for(folder).chunk_tokens
    with open(record, "w", encoding="utf-8") as sink:
        embed_model = QaEmbedding(inner, sink)
        started = time.perf_counter()
        collection = _client(folder).get_or_create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine"}
        )
        storage = StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=collection)
        )
        splitter = SentenceSplitter(
            chunk_size=budget,
            chunk_overlap=OVERLAP_TOKENS,
            tokenizer=lambda text: encoding().encode(text, disallowed_special=()),
        )
        documents = SimpleDirectoryReader(corpus, required_exts=[".txt"]).load_data()
        VectorStoreIndex.from_documents(
            documents,
            storage_context=storage,
            embed_model=embed_model,
            transformations=[splitter],
        )
        wall = time.perf_counter() - started
    count = model_token_counter()
    tokens = sum(count(text) for _, texts in read_record(record) for text in texts)
    return {
        "wall_s": wall,
        "model_load_s": load_s,
        "articles": len(documents),
        "chunks": collection.count(),
        "embedded_texts": embed_model.texts,
        "model_tokens": tokens,
        "stages_s": {"embed": embed_model.seconds},
    }


def retrieve_peer(folder: str, questions: list[str], warmup: str, k: int) -> dict[str, Any]:
    """One timed pass of the peer's retriever, after one untimed question, as on qa's side."""
    from llama_index.core import VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    inner = default_embedder()
    warm(inner)
    collection = _client(folder).get_collection(COLLECTION)
    index = VectorStoreIndex.from_vector_store(
        ChromaVectorStore(chroma_collection=collection), embed_model=QaEmbedding(inner)
    )
    retriever = index.as_retriever(similarity_top_k=k)
    retriever.retrieve(warmup)
    return {"latencies_s": time_pass(retriever.retrieve, questions)}
