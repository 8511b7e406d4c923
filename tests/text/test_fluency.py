"""The structural checks of summary sentences (issue 16), on labelled sentences.

The fragments are the issue's own examples and ones the offline summariser
produced on eval/ and eval/summaries-untuned before the checks existed; the
sentences that must pass are summary sentences of the same runs, picked for the
constructions that the checks must not mistake for fragments (past tenses the
tagger reads as participles, inverted attributions, quotations, names written in
lower case).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from qa.text.fluency import claim_problems, sentence_problems, split_clauses

FRAGMENTS = [
    # The examples: a reporting frame kept without what was said.
    (
        "Alexis Boon, the head of the Metropolitan Police Counter Terrorism Command, said"
        " about Amman.",
        "reporting frame without content",
    ),
    ("The prime minister, Boris Johnson, tweeted.", "reporting frame without content"),
    ("Macron told the world on Thursday via Twitter.", "reporting frame without content"),
    (
        "Wrestling sportswriter Dave Meltzer tweeted after hearing the news of her death.",
        "reporting frame without content",
    ),
    ("USCG Captain Monica Rochester told the press.", "reporting frame without content"),
    # Headlines, datelines and cut-off clauses.
    ("Dozens dead in California boat fire", "no finite verb"),
    ("Thursday, January 24, 2019", "no finite verb"),
    ("The Daily Telegraph.", "no finite verb"),
    ("The deal was signed by.", "ends on a function word"),
    ("Coles ordered bigger packages from.", "ends on a function word"),
    ("And in 2015 sold its South Korean chain HomePlus.", "starts with a conjunction"),
    ("But the rest are presumed dead.", "starts with a conjunction"),
    ("Although the fire was put out.", "starts with a conjunction"),
    ("Since the fire was put out, in the morning.", "starts with a conjunction"),
    ("itself is correct and we are certainly supporting it.", "starts lower-case"),
    # Pronouns with nothing before them to refer to.
    ("He said the town would rebuild.", "dangling pronoun"),
    ('"It is never an easy decision to suspend search efforts," she said.', "dangling pronoun"),
    ("She credited news media with keeping the story alive.", "dangling pronoun"),
    ("It grew out of the Group of Six.", "dangling pronoun"),
    ("This revised downwards an earlier toll of 27 dead.", "dangling pronoun"),
    ("Their demands have included dissolving Parliament.", "dangling pronoun"),
]

SENTENCES = [
    "On Sunday, the SpaceX Crew Dragon capsule successfully docked with the International"
    " Space Station in orbit around the Earth.",
    "Thursday, United States military forces killed Qasem Soleimani, head of Iran's Quds Force,"
    " in an airstrike.",
    "On Wednesday, Woolworths also limited toilet paper purchases for home delivery to one pack"
    " per order.",
    "Russell Zimmerman said that retailers try to raise stock.",
    "Abdurrahman Mangal said the attack had killed twelve and injured twelve more.",
    '"We will use the full force of the law to bring to justice the perpetrators behind this'
    ' incident," said Delfin Lorenzana, the Defence Secretary.',
    "Seventeen rockets struck near the base, according to Iraqi military.",
    "As of late Tuesday, 20 bodies had been recovered, eleven women and nine men, according to"
    " Brown.",
    "The United States Coast Guard (USCG) called off its search late on Tuesday.",
    "Jo Anne Val Tilburg of the University of California, Los Angeles disagreed with these"
    " findings.",
    "Kimura made her profesional wrestling debut in 2016 for promotion Wrestle-1.",
    "al-Muhandis was the deputy commander of the Popular Mobilization Forces (PMF).",
    "PKK is a banned militant organization in Turkey.",
    "The president had previously called it \u201ca matter of public health\u201d.",
    "Brazilian President Jair Bolsonaro opposed Macron's statement.",
    "Although the fire was out by noon, the road stayed closed.",
    "The search was called off.",
    "Five people, who were all crew, were rescued while the rest are presumed dead.",
    # A subordinator that opens a phrase, not a clause: "since" before a time.
    "Since then, anti-immigration groups have increased their numbers and activities in Europe.",
]


@pytest.mark.parametrize(("sentence", "problem"), FRAGMENTS)
def test_fragments_are_named(sentence: str, problem: str) -> None:
    assert problem in sentence_problems(sentence)


@pytest.mark.parametrize("sentence", SENTENCES)
def test_sentences_pass(sentence: str) -> None:
    assert sentence_problems(sentence) == []


def test_a_pronoun_may_refer_to_the_sentence_before() -> None:
    before = "Mayor Ann Lee toured the flooded streets."
    assert sentence_problems("She said the town would rebuild.", before) == []
    # "he" needs a name before it; a sentence about a storm has none.
    assert "dangling pronoun" in sentence_problems(
        "He said the town would rebuild.", "A storm flooded the town."
    )


def test_a_later_clause_of_a_claim_may_open_in_lower_case() -> None:
    claim = "Glawischnig-Piesczek sued in Austria for defamation and won; the court agreed."
    assert claim_problems(claim) == []
    joined = "Macron told the world on Thursday via Twitter; Merkel seconded the call."
    assert claim_problems(joined) == ["reporting frame without content"]


def test_semicolons_inside_quotations_do_not_split_a_claim() -> None:
    claim = 'The statement read "we stay; we fight" on Monday.'
    assert split_clauses(claim) == [claim]
    assert split_clauses("One thing happened; another did.") == [
        "One thing happened.",
        "another did.",
    ]


def test_the_tagger_is_textblobs_own_without_nltk() -> None:
    """The tags are those of ``textblob.en.tag`` (same code and data), loaded without the
    ``textblob`` package, whose ``__init__`` imports NLTK: checked in a fresh process."""
    script = (
        "import sys\n"
        "from qa.text.fluency import tag\n"
        "mine = tag('The capsule docked and Woolworths limited purchases on Monday.')\n"
        "assert 'nltk' not in sys.modules and 'textblob' not in sys.modules, 'imported'\n"
        "from textblob.en import tag as textblob_tag\n"
        "theirs = textblob_tag('The capsule docked and Woolworths limited purchases on Monday.')\n"
        "assert list(mine) == [tuple(pair) for pair in theirs], (mine, theirs)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
