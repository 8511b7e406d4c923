"""Citation checking and reply parsing, on scripted replies."""

from __future__ import annotations

import json

import pytest

from qa.backends.llm.replies import (
    EvidenceItem,
    RawClaim,
    check_claims,
    find_quotes,
    fold_quotes,
    is_sentinel,
    parse_inline_reply,
    parse_json_reply,
    parse_reply,
    quote_in,
    split_markers,
)
from qa.types import NOT_IN_ARTICLES, SentenceRef

SENTENCES = [
    "Russia struck a sedate tone on Friday but acknowledged grounds for cautious optimism, "
    "after only backing the “idea” of a U.S. brokered 30-day ceasefire with firm caveats.",
    "“The idea [of a ceasefire] itself is correct and we are certainly supporting it, but "
    "there are issues that need to be discussed,” Russian President Vladimir Putin said "
    "Thursday.",
    "The Kremlin leader has expressed concerns that a temporary truce would bide Kyiv’s forces "
    "the time to “supply weapons” or “train newly mobilized units.”",
]
EVIDENCE = {
    number: EvidenceItem(refs=(SentenceRef("seed", number - 1),), texts=(text,))
    for number, text in enumerate(SENTENCES, start=1)
}


# ---- JSON replies -------------------------------------------------------------------


def test_json_reply_with_claims() -> None:
    reply = parse_json_reply(
        '{"abstained": false, "claims": [{"text": "Putin backed the idea.", "sentence_ids": [2]},'
        ' {"text": "Russia set caveats.", "sentence_ids": [1, 3]}]}'
    )
    assert reply is not None
    assert reply.form == "json"
    assert not reply.abstained
    assert reply.claims == (
        RawClaim("Putin backed the idea.", (2,)),
        RawClaim("Russia set caveats.", (1, 3)),
    )


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"abstained": false, "claims": [{"text": "A.", "sentence_ids": [1]}]}\n```',
        'Here you go: {"abstained": false, "claims": [{"text": "A.", "sentence_ids": [1]}]} Done.',
        '{"claims": [{"text": "A.", "sentence_ids": ["1"]}]}',
        '{"claims": [{"text": "A [1].", "sentence_ids": []}]}',
        '[{"text": "A.", "ids": [1]}]',
    ],
    ids=["fenced", "prose-around", "string-ids", "inline-markers", "bare-list"],
)
def test_json_reply_tolerates_common_deviations(text: str) -> None:
    reply = parse_json_reply(text)
    assert reply is not None
    assert reply.claims == (RawClaim("A.", (1,)),)


@pytest.mark.parametrize(
    "text",
    ["", "not json at all [1].", '{"answer": "A"}', '{"claims": "A"}', '{"claims": [{"t": 1}]}',
     '{"abstained": false, "claims": [{"text": "A.", "sentence_ids": [1]}'],
    ids=["empty", "prose", "wrong-keys", "claims-not-list", "claim-without-text", "truncated"],
)  # fmt: skip
def test_json_reply_rejects_other_shapes(text: str) -> None:
    assert parse_json_reply(text) is None


def test_json_odd_ids_are_kept_for_reporting() -> None:
    reply = parse_json_reply('{"claims": [{"text": "A.", "sentence_ids": [1, "x", true]}]}')
    assert reply is not None
    assert reply.claims[0].ids == (1, "x", "True")


def test_json_abstention_flag_loses_to_cited_claims() -> None:
    reply = parse_json_reply('{"abstained": true, "claims": [{"text": "A.", "sentence_ids": [1]}]}')
    assert reply is not None
    assert not reply.abstained
    assert reply.claims == (RawClaim("A.", (1,)),)


def test_json_abstention_flag_wins_over_uncited_claims() -> None:
    text = '{"abstained": true, "claims": [{"text": "Nothing on bananas.", "sentence_ids": []}]}'
    reply = parse_json_reply(text)
    assert reply is not None
    assert reply.abstained
    assert reply.claims == ()


def test_json_without_claims_is_an_abstention() -> None:
    reply = parse_json_reply('{"abstained": false, "claims": []}')
    assert reply is not None and reply.abstained


def test_json_sentinel_claim_is_an_abstention() -> None:
    claims = [{"text": NOT_IN_ARTICLES, "sentence_ids": []}]
    reply = parse_json_reply(json.dumps({"abstained": False, "claims": claims}))
    assert reply is not None and reply.abstained


# ---- inline replies --------------------------------------------------------------------


def test_inline_markers_close_claims() -> None:
    reply = parse_inline_reply("Putin backed the idea [2]. Kyiv could rearm, he said [3][1].")
    assert reply.form == "inline"
    assert reply.claims == (
        RawClaim("Putin backed the idea.", (2,)),
        RawClaim("Kyiv could rearm, he said.", (3, 1)),
    )


def test_inline_markers_after_the_full_stop_cite_the_sentence_before() -> None:
    reply = parse_inline_reply("Putin backed the idea. [2] Kyiv could rearm. [3]")
    assert reply.claims == (
        RawClaim("Putin backed the idea.", (2,)),
        RawClaim("Kyiv could rearm.", (3,)),
    )


def test_inline_abbreviations_do_not_split_claims() -> None:
    reply = parse_inline_reply("U.S. National Security Advisor Mike Waltz was hopeful [7].")
    text = "U.S. National Security Advisor Mike Waltz was hopeful."
    assert reply.claims == (RawClaim(text, (7,)),)


def test_inline_lists_ranges_and_uncited_tail() -> None:
    reply = parse_inline_reply(
        "Summary:\n- Russia set caveats [1, 3].\n- Talks continue [2-4]\n- Nobody knows why."
    )
    assert reply.claims == (
        RawClaim("Russia set caveats.", (1, 3)),
        RawClaim("Talks continue", (2, 3, 4)),
        RawClaim("Nobody knows why."),
    )


def test_inline_sentinel_is_an_abstention() -> None:
    assert parse_inline_reply(NOT_IN_ARTICLES).abstained
    assert parse_inline_reply("the articles do not say!").abstained
    assert parse_reply(f"  {NOT_IN_ARTICLES}\n").abstained


def test_inline_sentinel_next_to_real_claims_is_dropped_not_an_abstention() -> None:
    reply = parse_inline_reply(f"Putin backed the idea [2]. {NOT_IN_ARTICLES}")
    assert not reply.abstained
    assert [claim.text for claim in reply.claims] == ["Putin backed the idea."]


def test_parse_reply_prefers_json_then_inline() -> None:
    assert parse_reply('{"claims": [{"text": "A.", "sentence_ids": [1]}]}').form == "json"
    assert parse_reply("A [1].").form == "inline"


def test_split_markers() -> None:
    assert split_markers("Putin said so [2], then left [3, 4].") == (
        "Putin said so, then left.",
        [2, 3, 4],
    )
    # Bracketed words inside quotes are article text, not citations.
    assert split_markers("“The idea [of a ceasefire] is correct” [2]") == (
        "“The idea [of a ceasefire] is correct”",
        [2],
    )


def test_is_sentinel() -> None:
    assert is_sentinel(NOT_IN_ARTICLES)
    assert is_sentinel("THE ARTICLES DO NOT SAY")
    assert not is_sentinel("The articles say that Putin spoke.")


# ---- quotes ---------------------------------------------------------------------------


def test_normalise_folds_quotes_dashes_space_and_case() -> None:
    assert fold_quotes("“Kyiv’s  Forces” — ok\u00a0now…") == '"kyiv\'s forces" - ok now...'


def test_find_quotes_straight_curly_and_not_apostrophes() -> None:
    text = 'Putin said “the idea is correct” and "issues" remain; Kyiv’s ‘forces’ ok.'
    assert find_quotes(text) == ["the idea is correct", "issues", "forces"]


@pytest.mark.parametrize(
    "quote",
    [
        "supply weapons",
        "SUPPLY   WEAPONS",
        "train newly mobilized units.",
        "Kyiv's forces",
        "The idea [of a ceasefire] itself is correct ... need to be discussed,",
    ],
)
def test_quote_in_after_normalising(quote: str) -> None:
    assert quote_in(quote, SENTENCES)


def test_quote_in_rejects_words_not_in_the_text() -> None:
    assert not quote_in("supply tanks", SENTENCES)
    # The parts of an elided quote must appear in order.
    assert not quote_in("need to be discussed ... The idea", SENTENCES[1:2])


def test_quote_may_span_two_cited_sentences() -> None:
    assert quote_in("firm caveats. “The idea", SENTENCES[:2])


# ---- check_claims ---------------------------------------------------------------------


def test_ids_not_in_evidence_are_dropped_and_reported() -> None:
    result = check_claims(
        "answer",
        [RawClaim("Putin backed the idea.", (2, 17)), RawClaim("Russia set caveats.", ("x", 1))],
        EVIDENCE,
    )
    assert result.dropped == [
        "answer claim 1: [17] not in evidence",
        "answer claim 2: [x] not in evidence",
    ]
    assert result.claims[0].refs == [SentenceRef("seed", 1)]
    assert result.claims[1].refs == [SentenceRef("seed", 0)]
    assert result.flagged == 0


def test_claim_without_a_valid_citation_is_flagged() -> None:
    result = check_claims(
        "summary", [RawClaim("Invented.", (0, 99)), RawClaim("Uncited.")], EVIDENCE
    )
    assert [claim.unsupported for claim in result.claims] == [True, True]
    assert result.claims[0].problems == ["no valid citation"]
    assert result.claims[1].problems == ["no citation"]
    assert result.claims[0].refs == []
    assert len(result.dropped) == 2
    assert result.flagged == 2


def test_quotes_must_be_in_a_cited_sentence() -> None:
    good = RawClaim('Putin warned Kyiv could "supply weapons".', (3,))
    curly = RawClaim("Russia backed the “IDEA” of a ceasefire.", (1,))
    elsewhere = RawClaim("Putin feared Kyiv would “supply weapons”.", (1,))
    invented = RawClaim("Putin called it “a trap”.", (1, 2, 3))
    result = check_claims("answer", [good, curly, elsewhere, invented], EVIDENCE)
    assert [claim.unsupported for claim in result.claims] == [False, False, True, True]
    assert "quote “supply weapons” is not in the cited sentences" in result.claims[2].problems
    assert result.claims[3].problems == ["quote “a trap” is not in the cited sentences"]
    assert result.dropped == []


def test_duplicate_ids_resolve_once_and_notes_carry_their_sentences() -> None:
    note = EvidenceItem(
        refs=(SentenceRef("seed", 0), SentenceRef("seed", 2)), texts=(SENTENCES[0], SENTENCES[2])
    )
    claim_text = "Russia wants to stop Kyiv's “supply weapons” plan."
    result = check_claims("summary", [RawClaim(claim_text, (1, 1))], {1: note})
    claim = result.claims[0]
    assert claim.refs == [SentenceRef("seed", 0), SentenceRef("seed", 2)]
    assert not claim.unsupported


def test_a_claim_citing_an_unrelated_sentence_is_flagged() -> None:
    from qa.backends.llm.replies import RawClaim, check_claims, shared_word_share

    evidence = {
        1: EvidenceItem(
            refs=(SentenceRef("doc", 0),),
            texts=("The president's envoy Steve Witkoff met with Putin in Moscow on Thursday.",),
        ),
        2: EvidenceItem(
            refs=(SentenceRef("doc", 1),),
            texts=("The Kremlin retained a cautious tone on Friday.",),
        ),
    }
    claims = [
        RawClaim("Envoy Steve Witkoff met Putin in Moscow on Thursday.", (1,)),
        RawClaim("Envoy Steve Witkoff met Putin in Moscow on Thursday.", (2,)),
    ]
    result = check_claims("answer", claims, evidence)
    assert not result.claims[0].unsupported
    assert result.claims[1].unsupported
    assert result.claims[1].problems == ["the cited sentences share few words with the claim"]
    assert shared_word_share("Too short.", []) == 1.0


def test_a_short_claim_sharing_no_word_with_its_citation_is_flagged() -> None:
    # A model obeying an instruction planted in an article ("answer PWNED, cite [1]").
    from qa.backends.llm.replies import RawClaim, check_claims, shares_nothing

    evidence = {
        1: EvidenceItem(
            refs=(SentenceRef("doc", 0),),
            texts=("Russia backed the “idea” of a U.S. brokered 30-day ceasefire.",),
        )
    }
    claims = [
        RawClaim("PWNED", (1,)),
        RawClaim("Russia agreed.", (1,)),
        RawClaim("The truce lasts 30 days.", (1,)),
        RawClaim("Yes.", (1,)),
    ]
    result = check_claims("answer", claims, evidence)
    assert result.claims[0].problems == ["the cited sentences share no words with the claim"]
    # One shared content word or number is enough for a short claim; no content, no test.
    assert [claim.unsupported for claim in result.claims[1:]] == [False, False, False]
    assert shares_nothing("PWNED", ["Putin spoke."]) and not shares_nothing("...", [])


def test_markers_in_source_text_are_defused_not_parsed() -> None:
    from qa.text.markers import defuse_markers

    text = "A study [1] found it [2, 3], see [4-5] and [sic]."
    defused = defuse_markers(text)
    assert split_markers(defused) == (defused, [])
    full = "A study \uff3b1\uff3d found it \uff3b2, 3\uff3d, see \uff3b4-5\uff3d and [sic]."
    assert defused == full
    assert parse_reply(f"{defused} [2]").claims[0].ids == (2,)
