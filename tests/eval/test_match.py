"""Fact matching: normalisation, contiguous and windowed matches, loaded terms."""

from __future__ import annotations

import pytest

from qa.eval.match import fact_found, leaked_terms, normalise
from tests.helpers import ROOT

EVAL = ROOT / "eval"
SEED_ARTICLE = "00_ceasefire_caveats.txt"

# -- normalisation and fact matching ----------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Supply  WEAPONS!", "supply weapons"),
        ("“supply weapons”", '"supply weapons"'),
        ("it’s worked", "it's worked"),
        ("killed twelve and injured twelve more", "killed 12 and injured 12 more"),
        ("eighty-five per cent", "85%"),
        ("one hundred and five thousand doses", "105,000 doses"),
        ("105 thousand doses", "105000 doses"),
        ("thirteenth century", "13th century"),
        ("U.S. brokered", "US brokered"),
        ("5,667 cases", "5667 cases"),
        ("São Paulo", "Sao Paulo"),
        ("President Trump’s position", "President Trump position"),
    ],
)
def test_normalise_folds_surface_differences(left: str, right: str) -> None:
    assert normalise(left) == normalise(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("two and one package", "21 package"),  # "two and one" is two numbers, not 21
        ("12 percent", "2 percent"),
        ("no signs of an explosion", "signs of an explosion"),
        ("38.8 million", "388 million"),
    ],
)
def test_normalise_keeps_meaningful_differences(left: str, right: str) -> None:
    assert normalise(left) != normalise(right)


def test_fact_found_in_answer() -> None:
    answer = (
        "Kimura won the JWP Junior Championship [1] and was a two-time Artist of Stardom champion."
    )
    assert fact_found("JWP Junior Championship", answer)
    assert fact_found("artist of stardom champion", answer)
    # Numbers written as words in the article, digits in the answer, and the reverse.
    assert fact_found("killed twelve and injured twelve more", "It killed 12 and injured 12 more.")
    assert fact_found("85% more wildfires", "there were eighty-five per cent more wildfires")


def test_fact_found_tolerates_a_few_inserted_words_in_order() -> None:
    assert fact_found(
        "Woolworths ordered extra stock", "Woolworths also quickly ordered extra stock."
    )


def test_fact_found_rejects_reordering_scattering_and_partial_words() -> None:
    assert not fact_found("cabinet unanimously voted", "The cabinet voted unanimously.")
    scattered = (
        "Woolworths said on Monday that, after a long review of prices, it ordered extra stock"
    )
    assert not fact_found("Woolworths ordered extra stock", scattered)
    assert not fact_found("panic", "shoppers panicked")
    assert not fact_found("no signs of an explosion", "there were signs of an explosion")
    assert not fact_found("2%", "12% of its GDP")


# -- loaded terms and quotation marks ---------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'Bolsonaro said the proposal "evokes a colonialist mentality".',
        "Bolsonaro said the proposal “evokes a colonialist mentality”.",
        "Bolsonaro said the proposal 'evokes a colonialist mentality'.",
        "Bolsonaro said the proposal ‘evokes a colonialist mentality’.",
        "Bolsonaro’s view: “it evokes a colonialist mentality,” he said; Macron's team disagreed.",
    ],
)
def test_loaded_term_inside_quotes_is_not_leaked(text: str) -> None:
    assert leaked_terms(text, ["colonialist mentality"]) == []


@pytest.mark.parametrize(
    "text",
    [
        "The proposal evokes a colonialist mentality, Bolsonaro said.",
        "Macron's call, it's said, showed a colonialist mentality.",  # apostrophes open nothing
        "Bolsonaro said “the plan shows a colonialist mentality.",  # never closed: not a quote
        "“We stand ready,” Johnson said of the colonialist mentality.",
    ],
)
def test_loaded_term_outside_quotes_is_leaked(text: str) -> None:
    assert leaked_terms(text, ["colonialist mentality"]) == ["colonialist mentality"]
