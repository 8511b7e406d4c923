"""Unit tests for the offline summariser's sentence shortening and selection."""

from __future__ import annotations

import numpy as np

from qa.discourse import attributed_name
from qa.extractive_summary import neutralise, shorten, summarize
from qa.types import Document
from tests.test_extractive import make_document


def test_side_clauses_outside_quotes_are_dropped() -> None:
    text = (
        "On Thursday, the court — the highest court on matters of union law — ruled on the "
        "case (filed in 2016) and ordered the firm to act, urging others to follow suit."
    )
    assert shorten(text) == "On Thursday, the court ruled on the case and ordered the firm to act."


def test_words_inside_quotes_are_never_dropped() -> None:
    text = 'He said "the plan — which we like — is good (mostly)" on Monday, adding more.'
    short = shorten(text)
    assert '"the plan — which we like — is good (mostly)"' in short


def test_short_aliases_in_parentheses_are_kept() -> None:
    text = "The National Emergency Operation Centre (NEOC) announced the decision that night."
    assert "(NEOC)" in shorten(text)


def test_relative_clauses_are_kept_in_short_sentences() -> None:
    assert neutralise("Five people, who were all crew, were rescued.") == (
        "Five people, who were all crew, were rescued."
    )


def test_speaker_before_an_affiliation_is_the_person() -> None:
    text = "Jo Anne Smith of the University of California, Los Angeles disagreed with this."
    assert attributed_name(text) == "Jo Anne Smith"


def _vectors(document: Document) -> np.ndarray:
    return np.eye(len(document.sentences), 8, dtype=np.float32)


def _embed(texts: list[str]) -> np.ndarray:
    return np.full((len(texts), 8), 1 / np.sqrt(8), dtype=np.float32)


STORY = make_document(
    [
        ["Thursday, January 24, 2019"],
        ["A storm hit the town of Riverton on Monday, flooding hundreds of homes."],
        ["Mayor Ann Lee said the town would rebuild.", "The town is old and pretty."],
        ["Residents described the water rising fast and the roads closing overnight."],
        ["Insurer Acme Mutual said 40 claims had been filed by Tuesday."],
        ["The region's river is long and wide and crosses many towns and farms."],
    ]
)


def test_summary_takes_the_lead_and_each_actor() -> None:
    draft = summarize([STORY], 3, _vectors, _embed)
    indexes = [claim.refs[0].index for claim in draft.claims]
    assert indexes[0] == 1  # the lead, not the dateline
    text = " ".join(claim.text for claim in draft.claims)
    assert "Ann Lee" in text and "Acme Mutual" in text
    assert all(len(claim.refs) == 1 for claim in draft.claims)


def test_summary_claims_are_excerpts_of_their_sentences() -> None:
    draft = summarize([STORY], 5, _vectors, _embed)
    for claim in draft.claims:
        sentence = STORY.sentences[claim.refs[0].index].text
        words = claim.text.rstrip(".").split()
        assert all(word.strip(",.") in sentence for word in words)
