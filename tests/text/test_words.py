"""The shared lexicon: one stopword list with named deltas, one stemmer, one calendar table."""

from __future__ import annotations

from qa.text.numbers import ORDINALS, QUANTITY_WORDS, SCALES, TENS, UNITS
from qa.text.words import (
    FACT_STOPWORDS,
    FUNCTION_WORDS,
    KEPT_IN_FACTS,
    LIGHT_VERBS,
    MONTHS,
    REPORTING_VERBS,
    STOPWORDS,
    WEEKDAYS,
    stem,
    vocabulary,
)


def test_every_stopword_set_is_the_base_list_with_a_named_delta() -> None:
    assert STOPWORDS == FUNCTION_WORDS | REPORTING_VERBS | LIGHT_VERBS
    assert FACT_STOPWORDS == FUNCTION_WORDS - KEPT_IN_FACTS
    # The delta only ever keeps function words; it names nothing outside the base list.
    assert KEPT_IN_FACTS <= FUNCTION_WORDS


def test_fact_matching_keeps_negations_and_quantifiers_as_content() -> None:
    for word in ("no", "not", "without", "all", "many", "before", "after"):
        assert word in STOPWORDS
        assert word not in FACT_STOPWORDS


def test_stem_folds_inflection_and_possessives() -> None:
    assert stem("Supported") == stem("supporting") == stem("supports")
    assert stem("hospitalized") == stem("hospitalizations")
    assert stem("Trump's") == stem("Trump’s") == "trump"
    assert stem("fires") == stem("fire")


def test_calendar_tables_come_from_the_standard_library() -> None:
    assert len(MONTHS) == 12 and "september" in MONTHS
    assert len(WEEKDAYS) == 7 and "thursday" in WEEKDAYS


def test_vocabulary_is_content_words_as_written() -> None:
    words = vocabulary("Putin's envoy said the U.S. talks began on 3 March, according to Peskov.")
    assert {"Putin", "envoy", "U.S", "talks", "began", "March", "Peskov"} <= words
    assert not words & {"said", "the", "according", "3", "Putin's"}


def test_number_tables_cover_cardinals_scales_and_ordinals() -> None:
    assert UNITS["nineteen"] == 19 and TENS["ninety"] == 90
    assert SCALES["million"] == 10**6 and ORDINALS["thirteenth"] == 13
    assert {"dozen", "hundreds", "twelve"} <= QUANTITY_WORDS
    assert "zero" not in QUANTITY_WORDS
