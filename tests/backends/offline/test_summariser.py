"""Unit tests for the offline summariser's sentence shortening and selection."""

from __future__ import annotations

import numpy as np

from qa.backends.offline.discourse import attributed_name
from qa.backends.offline.summariser import (
    drop_appositives,
    excerpts,
    neutralise,
    shorten,
    summarize,
)
from qa.types import Document, DraftClaim
from tests.helpers import make_paragraph_document


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


def test_main_clause_before_but_is_an_excerpt() -> None:
    forms = excerpts("Brazil is not a member of the group, but it is part of a trade pact with it.")
    assert "Brazil is not a member of the group." in forms


def test_a_list_ending_in_and_is_not_cut() -> None:
    text = "Officials reported 150 soldiers, 95 civilians, and hundreds of fighters killed."
    assert not any(form.endswith("95 civilians.") for form in excerpts(text))


def test_clauses_joined_by_a_semicolon_are_offered_alone() -> None:
    text = "The war has gone on for years; the rebels want foreign forces to leave the country."
    assert "The rebels want foreign forces to leave the country." in excerpts(text)


def test_colon_ends_a_statement_before_its_quotation() -> None:
    text = 'President Jo Bloggs opposed the statement: "It is out of place in this century."'
    assert "President Jo Bloggs opposed the statement." in excerpts(text)


def test_description_between_speaker_and_verb_is_dropped() -> None:
    text = "Russell Zimmerman, executive director of the retailers' association, said stock is low."
    assert drop_appositives(text) == "Russell Zimmerman said stock is low."


def test_relative_clause_running_into_an_appositive_is_kept() -> None:
    text = (
        "The post, which was about Eva Smith, the then chair and spokesperson for the party, "
        "could potentially be seen by anyone with access to the site and shared by many."
    )
    assert not neutralise(text).startswith("The post the then")


def _vectors(document: Document) -> np.ndarray:
    return np.eye(len(document.sentences), 8, dtype=np.float32)


def _embed(texts: list[str]) -> np.ndarray:
    return np.full((len(texts), 8), 1 / np.sqrt(8), dtype=np.float32)


STORY = make_paragraph_document(
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


def _assert_excerpts(claim: DraftClaim, document: Document) -> None:
    """Each "; "-joined part of a claim is made of words of the sentence it cites, in order."""
    parts = claim.text.split("; ")
    assert len(parts) == len(claim.refs)
    assert [ref.index for ref in claim.refs] == sorted(ref.index for ref in claim.refs)
    for part, ref in zip(parts, claim.refs, strict=True):
        sentence = document.sentences[ref.index].text.lower()
        position = 0
        for word in part.rstrip(".").lower().split():
            position = sentence.find(word.strip(",.;"), position)
            assert position >= 0, (word, sentence)


def test_summary_claims_are_excerpts_of_their_sentences() -> None:
    draft = summarize([STORY], 5, _vectors, _embed)
    for claim in draft.claims:
        _assert_excerpts(claim, STORY)


SHORT_FACTS = make_paragraph_document(
    [
        ["A fire destroyed the old mill in Riverton on Monday night, officials said."],
        ["Nobody was hurt.", "The cause is not known."],
        ["Fire chief Tom Hale said 12 crews fought the blaze for six hours before it was out."],
        ["The Riverton Historical Society said it had hoped to restore the building next year."],
    ]
)


def test_adjacent_short_sentences_share_a_claim_when_the_count_is_tight() -> None:
    draft = summarize([SHORT_FACTS], 3, _vectors, _embed)
    assert len(draft.claims) <= 3
    assert any(len(claim.refs) == 2 for claim in draft.claims)
    joined = next(claim for claim in draft.claims if len(claim.refs) == 2)
    assert [ref.index for ref in joined.refs][1] == joined.refs[0].index + 1
    for claim in draft.claims:
        _assert_excerpts(claim, SHORT_FACTS)
    text = " ".join(claim.text for claim in draft.claims)
    assert "Tom Hale" in text and "Riverton Historical Society" in text


def test_a_person_is_introduced_by_full_name() -> None:
    story = make_paragraph_document(
        [
            ["Floods closed the main road into Riverton on Monday, police said."],
            ["Sheriff Bill Brown said the water was still rising.", "Brown spoke at noon."],
        ]
    )
    draft = summarize([story], 2, _vectors, _embed)
    assert "Bill Brown" in " ".join(claim.text for claim in draft.claims)
