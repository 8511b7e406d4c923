"""Sentence spans round-trip; chunks respect the token budget; tiktoken stays offline."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from qa.ingestion.chunk import chunk_sentences
from qa.ingestion.clean import clean_text
from qa.text.split import split_sentences
from qa.text.tokens import count_tokens, encoding
from tests.helpers import ROOT

ARTICLES = sorted((ROOT / "eval" / "articles").glob("*.txt"))


@pytest.mark.parametrize("path", ARTICLES, ids=lambda path: path.name[:2])
def test_sentence_spans_round_trip(path: Path) -> None:
    text = clean_text(path.read_text(encoding="utf-8")).text
    sentences = split_sentences(text)
    assert sentences
    for position, sentence in enumerate(sentences):
        assert sentence.index == position
        assert text[sentence.start : sentence.end] == sentence.text
        assert sentence.text == sentence.text.strip()
    # Sentences are in order and never overlap.
    for before, after in itertools.pairwise(sentences):
        assert before.end <= after.start


def test_news_abbreviations_do_not_split(seed_text: str) -> None:
    sentences = split_sentences(clean_text(seed_text).text)
    waltz = [s.text for s in sentences if "Mike Waltz" in s.text]
    assert waltz == [
        "“We do have some cautious optimism,” U.S. National Security Advisor Mike Waltz said "
        "in a Fox News TV interview."
    ]


@pytest.mark.parametrize("budget", [40, 80, 200])
def test_chunks_fit_the_budget_and_overlap_by_one_sentence(seed_text: str, budget: int) -> None:
    text = clean_text(seed_text).text
    sentences = split_sentences(text)
    chunks = chunk_sentences("doc", text, sentences, budget)
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert count_tokens(chunk.text) <= budget
        assert chunk.token_count == count_tokens(chunk.text)
        assert chunk.id == f"doc:{chunk.index}"
    covered = {i for chunk in chunks for i in range(chunk.first_sentence, chunk.last_sentence + 1)}
    assert covered == set(range(len(sentences)))
    multi = [c for c in chunks if c.last_sentence > c.first_sentence]
    for before, after in itertools.pairwise(multi):
        if after.index == before.index + 1:
            assert after.first_sentence == before.last_sentence


def test_over_long_sentence_is_cut_at_token_boundaries() -> None:
    text = "Officials listed " + ", ".join(f"item number {n}" for n in range(200)) + "."
    sentences = split_sentences(text)
    assert len(sentences) == 1
    chunks = chunk_sentences("doc", text, sentences, 50)
    assert len(chunks) > 1
    assert all(chunk.token_count <= 50 for chunk in chunks)
    assert all(chunk.first_sentence == chunk.last_sentence == 0 for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks).replace(" ", "") == text.replace(" ", "")


def test_tiktoken_works_offline_without_its_cache() -> None:
    enc = encoding("cl100k_base")
    assert enc.encode("hello world") == [15339, 1917]
    cache = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    assert not cache.exists() or not any(cache.iterdir())


# Regressions found by the property tests (tests/test_properties.py).


def test_sentences_never_span_a_blank_line_of_any_kind() -> None:
    texts = [s.text for s in split_sentences("Headline\r\n\r\nBody text here.\n \nLast one")]
    assert texts == ["Headline", "Body text here.", "Last one"]
    # A single line break, "\r\n" included, does not end a paragraph.
    assert [s.text for s in split_sentences("One line\r\ncontinues here.")] == [
        "One line\r\ncontinues here."
    ]


def test_overlap_sentence_is_not_repeated_as_a_chunk_of_its_own() -> None:
    # 5 + 3 + 15 tokens: the overlap "They agreed." cannot join the 15-token sentence within
    # 16 tokens, and used to be emitted alone, a duplicate of the first chunk's end.
    text = (
        "Officials met on Monday. They agreed. "
        "The long plan covers roads and bridges and schools and parks across the city."
    )
    chunks = chunk_sentences("doc", text, split_sentences(text), 16)
    assert [(c.first_sentence, c.last_sentence) for c in chunks] == [(0, 1), (2, 2)]


def test_budget_below_minimum_is_refused() -> None:
    # Budget 0 used to loop forever on a sentence over the budget.
    with pytest.raises(ValueError, match="at least 4"):
        chunk_sentences("doc", "Some text.", split_sentences("Some text."), 0)
