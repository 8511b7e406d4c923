"""Unit tests for the offline summariser's sentence shortening and selection."""

from __future__ import annotations

import numpy as np

from qa.backends.offline.discourse import attributed_name
from qa.backends.offline.summariser import (
    DEFINITION,
    KNOBS,
    _name_key,
    _positions,
    _readable,
    _sides,
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
        [
            "Fire chief Tom Hale said 12 crews fought the blaze for six hours.",
            "Hale said the roof fell in before midnight.",
        ],
        ["The Riverton Historical Society said it had hoped to restore the building next year."],
    ]
)


def test_only_sentences_about_one_actor_share_a_claim() -> None:
    draft = summarize([SHORT_FACTS], 3, _vectors, _embed)
    # 3 asked: up to 4 claims (extra_claims) when short units fit the word budget.
    assert len(draft.claims) <= 4
    for claim in draft.claims:
        _assert_excerpts(claim, SHORT_FACTS)
        if len(claim.refs) == 2:
            # Joined: adjacent, and about the same actor (Hale), never "hurt; the cause".
            assert claim.refs[1].index == claim.refs[0].index + 1
            assert "Hale" in claim.text.split("; ")[1]
    text = " ".join(claim.text for claim in draft.claims)
    assert "Tom Hale" in text and "Riverton Historical Society" in text
    assert "hurt; the cause" not in text


def test_unrelated_adjacent_sentences_are_not_joined() -> None:
    story = make_paragraph_document(
        [
            [
                "Rebels said hundreds of prisoners escaped from a camp at Ain Dara.",
                "On Monday, the two presidents spoke on the phone about trade.",
            ]
        ]
    )
    draft = summarize([story], 1, _vectors, _embed)
    assert all(len(claim.refs) == 1 for claim in draft.claims)


def test_a_reporting_frame_is_never_a_summary_sentence() -> None:
    story = make_paragraph_document(
        [
            ["Police shot a man dead after a knife attack in central London on Friday."],
            [
                'Alexis Boon, the head of the counter terrorism command, said about Amman: "We '
                'are working with partners."',
                'The prime minister, Boris Johnson, tweeted: "Thank you to the police."',
            ],
        ]
    )
    draft = summarize([story], 5, _vectors, _embed)
    texts = [claim.text for claim in draft.claims]
    assert "Alexis Boon, the head of the counter terrorism command, said about Amman." not in texts
    assert "The prime minister, Boris Johnson, tweeted." not in texts
    for text in texts:
        assert not text.rstrip(".").endswith(("said about Amman", "tweeted"))


def test_a_sentence_opening_with_a_pronoun_follows_its_antecedent() -> None:
    story = make_paragraph_document(
        [
            ["A storm flooded the town of Riverton on Monday."],
            [
                "Mayor Ann Lee toured the flooded streets.",
                "She said the town would rebuild by May.",
            ],
        ]
    )
    draft = summarize([story], 5, _vectors, _embed)
    indexes = [ref.index for claim in draft.claims for ref in claim.refs]
    if 2 in indexes:
        assert indexes[indexes.index(2) - 1] == 1


def test_each_side_with_a_stated_position_is_named() -> None:
    story = make_paragraph_document(
        [
            ["The council approved a new bridge over the Avon river on Tuesday."],
            ["The bridge will cost 40 million pounds and open in 2027, the council said."],
            ["Mayor Ann Lee said the bridge would end years of traffic jams."],
            ["Residents' group Save Avon said the bridge would harm the river's birds."],
            ["The river has flooded the town twice since 1990."],
        ]
    )
    draft = summarize([story], 3, _vectors, _embed)
    text = " ".join(claim.text for claim in draft.claims)
    assert "Ann Lee" in text and "Save Avon" in text


def test_a_sentence_several_articles_repeat_is_one_claim_citing_each() -> None:
    first = make_paragraph_document(
        [["A storm flooded Riverton on Monday."], ["Mayor Ann Lee said the town would rebuild."]],
        doc_id="a",
    )
    second = make_paragraph_document(
        [["A storm flooded Riverton on Monday."], ["Insurer Acme said 40 claims were filed."]],
        doc_id="b",
    )

    def vectors(document: Document) -> np.ndarray:
        rows = np.zeros((len(document.sentences), 8), dtype=np.float32)
        for i, sentence in enumerate(document.sentences):
            rows[i, hash(sentence.text) % 8] = 1.0
        return rows

    draft = summarize([first, second], 3, vectors, _embed)
    storm = [claim for claim in draft.claims if "storm" in claim.text]
    assert len(storm) == 1
    assert {ref.doc_id for ref in storm[0].refs} == {"a", "b"}


def test_a_person_is_introduced_by_full_name() -> None:
    story = make_paragraph_document(
        [
            ["Floods closed the main road into Riverton on Monday, police said."],
            ["Sheriff Bill Brown said the water was still rising.", "Brown spoke at noon."],
        ]
    )
    draft = summarize([story], 2, _vectors, _embed)
    assert "Bill Brown" in " ".join(claim.text for claim in draft.claims)


NEWS = make_paragraph_document(
    [
        ["Monday, March 2, 2020"],
        ["A fire destroyed the Riverton paper mill on Sunday night."],
        ["Acme Paper is a family firm founded in 1920."],
        ["Eleven workers were hurt and two are in hospital."],
        ["The mill will stay closed for at least six months, Acme Paper said."],
        [
            "Union leader Ann Lee said the workers must be paid while the mill is closed.",
            "Fire chief Tom Hale said the cause was not yet known.",
        ],
        ["In 2015, a smaller fire closed the mill for a week."],
    ]
)


def test_the_news_comes_first_and_a_definition_is_not_news() -> None:
    # Two asked: the first two sentences that report news, not the dateline and not
    # "Acme Paper is a family firm ...", which defines rather than reports.
    draft = summarize([NEWS], 2, _vectors, _embed)
    indexes = [ref.index for claim in draft.claims for ref in claim.refs]
    assert indexes[:2] == [1, 3]
    assert DEFINITION.match("Acme Paper is a family firm founded in 1920.")
    assert DEFINITION.match("The Supreme Court is the final court of appeal.")
    assert not DEFINITION.match("He remarked toilet paper is a bulky item.")
    assert not DEFINITION.match("This is the unanimous judgment of all 11 Justices.")


def test_a_summary_never_exceeds_its_word_budget() -> None:
    for asked in (1, 2, 3, 5):
        draft = summarize([NEWS], asked, _vectors, _embed)
        words = sum(len(claim.text.split()) for claim in draft.claims)
        # The lead alone may take up to lead_cap words when one sentence is asked for.
        assert words <= max(KNOBS.words_per_sentence * asked, KNOBS.lead_cap)


def test_two_people_of_one_organisation_are_one_side() -> None:
    story = make_paragraph_document(
        [
            ["Tesco agreed on Thursday to sell its Polish stores to Salling Group."],
            ["Tesco said it would leave the Polish market."],
            ["Matt Simister, Tesco's CEO for Central Europe, said it would stay in Hungary."],
            ["Dave Lewis, CEO of Tesco, said last year that Tesco had no plans to leave."],
        ]
    )
    positions = _positions([story])
    sides = _sides([story], positions)
    assert sides == {"simister": "tesco", "lewis": "tesco"}


def test_an_organisation_is_keyed_by_its_own_name_not_its_head_noun() -> None:
    assert _name_key("Salling Group") == _name_key("Salling") == "salling"
    assert _name_key("Court of Session") != _name_key("Supreme Court")
    assert _name_key("United States Department of Defense") == _name_key("United States")
    assert _name_key("Santa Barbara County Sheriff Bill Brown") == "brown"


def test_an_unquoted_charge_is_not_a_sides_position() -> None:
    story = make_paragraph_document(
        [
            ["The Supreme Court ruled on Tuesday that the suspension of parliament was unlawful."],
            [
                "Former prime minister John Major has accused Johnson of misleading the Queen, and"
                " argued that the true intent was to shut down debate."
            ],
        ]
    )
    draft = summarize([story], 3, _vectors, _embed)
    assert "misleading the Queen" not in " ".join(claim.text for claim in draft.claims)


def test_a_pronoun_chain_never_leaves_a_claim_without_its_antecedent() -> None:
    claims = [
        DraftClaim("Trump said he may declare an emergency; he also said he never threatens.", []),
        DraftClaim("He also claimed the wall was crucial.", []),
        DraftClaim("Mike Pence said there is a crisis.", []),
    ]
    kept = _readable(claims)
    assert [claim.text for claim in kept] == [claims[0].text, claims[2].text]
