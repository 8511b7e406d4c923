"""The learned answer scorer: shipped weights, selection, features and the engine around them."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from qa.backends.offline.features import (
    CANDIDATE_FEATURES,
    QUESTION_FEATURES,
    WordVectors,
    answer_kinds,
    candidates,
    extract,
)
from qa.backends.offline.learned import Knobs, LearnedBackend
from qa.backends.offline.scorer import WEIGHTS_FILE, Selection, load, select
from qa.config import Settings
from qa.errors import ConfigError
from qa.index.embed import MiniLMEmbedder
from qa.index.retrieve import retrieve
from qa.index.store import Store
from qa.ingestion.pipeline import ingest
from qa.types import Document, Hit
from tests.helpers import SEED, make_hits, make_paragraph_document

ROOT = Path(__file__).parents[3]


def test_the_shipped_weights_load_and_match_the_engine_s_features() -> None:
    scorer = load()
    assert scorer.candidate.features == CANDIDATE_FEATURES
    assert scorer.abstain.features == QUESTION_FEATURES
    assert np.isfinite(scorer.candidate.coef).all() and np.isfinite(scorer.abstain.coef).all()
    assert 0.0 < scorer.selection.min_confidence < 1.0
    assert scorer.selection.answer_words >= 20
    # The file records where it came from and what it scored, cross-validated and in-sample.
    meta = scorer.meta
    assert {"data_sha256", "code_sha256", "cross_validated", "in_sample", "naive_anchor"} <= set(
        meta
    )
    assert WEIGHTS_FILE.stat().st_size < 64 * 1024


def test_the_shipped_weights_were_trained_on_the_current_data_and_code() -> None:
    from train.scorer import check

    assert check() == []


def test_weights_with_other_features_are_refused(tmp_path: Path) -> None:
    data = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    data["candidate"]["features"] = ["cos"]
    path = tmp_path / "scorer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be read"):
        load(path)


def test_selection_takes_the_best_then_what_fits() -> None:
    selection = Selection(
        answer_words=30, min_probability=0.2, relative_probability=0.5, min_confidence=0.5
    )
    p = np.array([0.1, 0.9, 0.6, 0.5, 0.3])
    words = [5, 20, 15, 8, 5]
    # 1 first; 2 would pass 30 words; 3 fits; 4 is under half of the best.
    assert select(p, words, selection) == [1, 3]
    # The best sentence is taken however long it is.
    assert select(np.array([0.9, 0.1]), [80, 5], selection) == [0]
    assert select(np.zeros(0), [], selection) == []


def test_answer_kinds() -> None:
    kinds = answer_kinds("On Monday, 35 people died in Kabul because of a bombing by the Taliban.")
    assert kinds["when"] and kinds["number"] and kinds["where"] and kinds["why"]
    assert answer_kinds("Russian President Vladimir Putin spoke.")["who"]
    assert answer_kinds("They offered rock, fishing, timber and water.")["list"]
    assert not any(answer_kinds("it was fine").values())


class Unit:
    """Embeds each text to a fixed direction, so the test knows every cosine."""

    name = "unit"
    dimension = 4

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.tile(np.array([1.0, 0, 0, 0], dtype=np.float32), (len(texts), 1))


def test_features_have_one_row_per_sentence_of_the_retrieved_chunks() -> None:
    document = make_paragraph_document(
        [
            ["Officials met on Monday in Vienna.", "They agreed on a 30-day ceasefire."],
            ["Analyst Bob Smith said the deal would fail.", "Nobody else commented."],
        ]
    )
    hits = make_hits(document, [(0, 1), (3, 3)])
    vectors = {document.id: Unit().embed([s.text for s in document.sentences])}
    evidence = extract(
        "When did the officials meet?",
        Unit().embed(["q"])[0],
        hits,
        {document.id: document},
        vectors,
    )
    assert [c.ref.index for c in evidence.candidates] == [0, 1, 3]
    assert evidence.features.shape == (3, len(CANDIDATE_FEATURES))
    assert evidence.question_features.shape == (len(QUESTION_FEATURES) - 2,)
    column = CANDIDATE_FEATURES.index("type_when")
    assert list(evidence.features[:, column]) == [1.0, 0.0, 0.0]
    assert np.isfinite(evidence.features).all()
    assert [c.chunk_rank for c in candidates(hits, {document.id: document})] == [0, 0, 1]


_INSTANCES = itertools.count()


def _words(close: dict[str, str]) -> WordVectors:
    """Word vectors where each word of ``close`` sits near its partner and every other word
    has a direction of its own (cosine 0 with the rest)."""
    axes: dict[str, int] = {}

    def vector(word: str) -> np.ndarray:
        axis = axes.setdefault(close.get(word, word), len(axes))
        v = np.zeros(64)
        v[axis] = 1.0
        if word in close:  # cosine 0.8 with its partner
            v[63] = 0.75
            v /= np.linalg.norm(v)
        return v

    # A name of its own: the engine caches a document's word vectors per embedder name.
    return WordVectors(
        f"test-{next(_INSTANCES)}", lambda words: np.array([vector(w) for w in words])
    )


def _question_features(question: str, words: WordVectors | None) -> dict[str, float]:
    document = make_paragraph_document(
        [["The ceasefire starts on Monday.", "Kremlin spokesman Dmitry Peskov welcomed it."]]
    )
    hits = make_hits(document, [(0, 1)])
    vectors = {document.id: Unit().embed([s.text for s in document.sentences])}
    evidence = extract(
        question, Unit().embed(["q"])[0], hits, {document.id: document}, vectors, words
    )
    return dict(zip(QUESTION_FEATURES[2:], evidence.question_features, strict=True))


def test_a_reworded_question_word_is_present_by_its_word_vector_neighbour() -> None:
    """ "truce" for "ceasefire": missing by lemma, present by neighbour, and the sentence that
    has it (and the time asked for) supports the question fully."""
    question = "When does the truce start?"
    exact = _question_features(question, None)
    soft = _question_features(question, _words({"truce": "ceasefire"}))
    assert exact["soft_terms_missing"] == 0.5 and exact["support"] < 1.0
    assert soft["soft_terms_missing"] == 0.0
    assert soft["support"] == pytest.approx(1.0)
    assert soft["typed_support"] == pytest.approx(1.0)
    # Far neighbours do not count: "truce" on an axis of its own is missing.
    assert _question_features(question, _words({}))["soft_terms_missing"] == 0.5


def test_a_name_is_present_by_its_last_word_or_an_alias() -> None:
    words = _words({"lavrov": "peskov"})
    # "Spokesman Peskov": the role word aside, the last word of the name is in the article.
    assert _question_features("What did Spokesman Peskov say?", None)["soft_names_missing"] == 0
    assert _question_features("What did Sergei Lavrov say?", None)["soft_names_missing"] == 1
    # A capitalised article word close to the name by word vector is its alias.
    assert _question_features("What did Sergei Lavrov say?", words)["soft_names_missing"] == 0


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings.from_env(home=tmp_path_factory.mktemp("qa-home"), collection="scorer")
    assert ingest([SEED], settings=settings).count("added") == 1
    return settings


Evidence = tuple[list[Hit], dict[str, Document]]


def _evidence(store: Store, question: str) -> Evidence:
    hits = retrieve(store, question, k=8)
    return hits, {h.chunk.doc_id: store.get_document(h.chunk.doc_id) for h in hits}


def _answer(backend: LearnedBackend, question: str, evidence: Evidence) -> tuple[bool, list[str]]:
    draft = backend.answer(question, *evidence)
    assert draft.confidence is not None and 0.0 <= draft.confidence <= 1.0
    return draft.abstained, [claim.text for claim in draft.claims]


def test_one_backend_serves_calls_from_several_threads_alike(seeded: Settings) -> None:
    questions = [
        "What caveats did Russia raise?",
        "Who met Putin in Moscow?",
        "How long would the ceasefire last?",
        "What did Peskov say?",
    ]
    store = Store.open(seeded)
    try:
        evidence = [_evidence(store, q) for q in questions]
    finally:
        store.close()
    # No store: each call embeds its documents itself, so the threads share only the backend.
    backend = LearnedBackend(MiniLMEmbedder())
    alone = [_answer(backend, q, e) for q, e in zip(questions, evidence, strict=True)]
    results: dict[int, tuple[bool, list[str]]] = {}

    def work(n: int) -> None:
        i = n % len(questions)
        results[n] = _answer(backend, questions[i], evidence[i])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[n] for n in range(8)] == alone + alone


def test_the_confidence_threshold_moves_abstention(seeded: Settings) -> None:
    store = Store.open(seeded)
    try:
        scorer = load()
        never = LearnedBackend(
            MiniLMEmbedder(), store, scorer, Knobs.of(scorer.selection, min_confidence=0.0)
        )
        always = LearnedBackend(
            MiniLMEmbedder(), store, scorer, Knobs.of(scorer.selection, min_confidence=1.0)
        )
        question = "Who met Putin in Moscow?"
        evidence = _evidence(store, question)
        abstained, claims = _answer(never, question, evidence)
        assert not abstained and any("Witkoff" in claim for claim in claims)
        assert _answer(always, question, evidence) == (True, [])
    finally:
        store.close()
