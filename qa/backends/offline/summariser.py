"""The offline summariser: a budgeted choice of sentence excerpts for coverage and balance.

A summary is judged by how many of the story's distinct facts and sides it
carries within a few sentences and a word budget, and by whether a reader can
use each sentence as it is. So excerpts are chosen greedily (a weighted,
budgeted max-coverage) for what they add:

* units: each sentence's excerpts (:mod:`qa.backends.offline.excerpts`) that
  pass the structural checks of :mod:`qa.text.fluency` — never a reporting frame
  without what was said, never a clause cut off at a preposition. An excerpt
  that opens with a pronoun ("He said ...") is taken only right after the
  sentence before it, which names whom it means;
* prior: how likely a sentence is to carry one of the story's key facts,
  from a logistic model over 14 features (position, paragraph start, likeness to
  the headline and to the whole story, actors, speakers, figures, quotation share,
  background cues, length; :data:`FEATURES`). It was fitted on ``eval/``'s summary
  gold by ``bench/summary_model.py`` and is checked on ``eval/summaries-untuned``,
  which it never saw; the weights ship in ``summary_model.json``;
* coverage: the actors a sentence names outside quotes (weighted up when they
  speak, down when named once or only as a place), its counts and dates, and its
  content words; an excerpt's gain is the weight of the concepts no chosen
  excerpt has yet, per word. So a side that has not spoken yet outweighs more
  detail from a side already covered (balance), and a short sentence with a new
  figure beats a long one restating the lead;
* order of choice: the lead sentence of each document (news puts the event
  there); then, for balance, each side with a stated position (the speaker of a
  quotation or attribution, or the subject of a verb of stance such as
  "blamed" or "opposed"), sides before sources that only report, most vocal
  first, gets its position in an excerpt that names it; then the excerpts of
  most value fill a word budget of ``words_per_sentence`` per asked sentence.
  Short excerpts may make up to ``extra_claims`` more claims than asked;
  adjacent sentences of one paragraph about the same actor may share one
  claim, joined by "; " and citing both;
* several articles of one story: a sentence that another article repeats (its
  vector nearly the same) is one unit citing every article that has it, so
  shared facts are said once.

Neutrality: sentences inside a multi-sentence quotation, bare quotations with
no speaker, questions, and sentences that end in a colon are never taken
alone; a sentence that uses, outside quotes, wording that the story puts in
someone's quotation marks is pulled down, as is one that reports a label
without quotation marks ("called her party fascist").

Not handled: facts that only a paraphrase could carry, joins of sentences that
are not adjacent, coreference ("the company" for a name), speakers named only by
a common noun ("the cabinet"), actors told apart from places only by the
preposition before them, and loaded wording that no quotation in the story marks.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from qa.backends.offline.discourse import (
    ATTRIBUTION_PATTERN,
    NAME,
    QUOTE_CHARS,
    clean_name,
    content_terms,
    document_structure,
    outside_quotes,
    quoted_sentences,
)
from qa.backends.offline.excerpts import (
    EVENT_VERB,
    drop_appositives,
    excerpts,
    neutralise,
    shorten,
)
from qa.text.fluency import claim_problems, split_clauses
from qa.text.numbers import QUANTITY_WORDS
from qa.text.words import MONTHS, STOPWORDS, WEEKDAYS, WORD_PATTERN, stem
from qa.types import Document, Draft, DraftClaim, SentenceRef

__all__ = ["KNOBS", "SummaryKnobs", "drop_appositives", "excerpts", "neutralise", "shorten"]

Vectors = np.ndarray


@dataclass(frozen=True)
class SummaryKnobs:
    """Every tuning number of the offline summariser, with what it does.

    Concept weights are relative to each other; the prior's weight sets how much
    the learned chance of a key fact counts against new concepts per word.
    """

    # Words per asked summary sentence: the budget is this times the sentences asked for,
    # and a summary never exceeds it (-n 5: 130 words, issue 16's length bar), except that
    # the first news sentence may take up to ``lead_cap`` words alone (-n 1).
    words_per_sentence: int = 26
    # An excerpt's gain is divided by its words to this power: below 1, a longer excerpt
    # that carries more may still win over a short one.
    gain_exponent: float = 0.8
    # Weight of the learned prior (the chance a sentence carries a key fact, 0 to 1): at 3
    # a sure key-fact sentence outweighs a new speaker's name in a 12-word excerpt.
    prior_weight: float = 3.0
    # An actor who speaks in the story (a side with a stated position).
    speaker_weight: float = 3.0
    # Any other named actor; half as much when the story names it only once.
    actor_weight: float = 0.8
    once_factor: float = 0.5
    # A name only ever seen after "in", "at", "near" ...: where, not who.
    place_weight: float = 0.1
    # Share of an actor's weight that a surname alone earns when the story gives a full
    # name: the rest comes with the full name, which introduces the person.
    surname_share: float = 0.5
    # Share of a content word's weight it earns when it is only inside quotation marks.
    quoted_share: float = 0.3
    # A count or a date ("20 bodies", "October 29"); at most two per excerpt count.
    number_weight: float = 0.35
    numbers_per_excerpt: int = 2
    # A content word: this times its count in the story (capped, to a power), plus the
    # headline bonus when the headline uses it.
    term_weight: float = 0.1
    term_cap: int = 4
    tf_power: float = 0.5
    title_weight: float = 0.15
    # Penalties (multipliers) on excerpts that would adopt one side's framing.
    borrowed_wording: float = 0.5
    bare_quote: float = 0.6
    # Two sentences of different articles this alike (cosine) state the same fact.
    duplicate_similarity: float = 0.9
    # Short units may make this share more claims than the sentences asked for (5 -> 7),
    # within the same word budget: facts in short sentences need not be joined to others.
    extra_claims: float = 0.4
    # News first: the story's first sentences that report news (not background, not a
    # definition) open the summary, as many as this share of the sentences asked for
    # (rounded up: 3 of 5) while they fit in ``lead_words`` of the budget (the first one
    # always), leaving the rest to the sides' positions and further detail. The first
    # sentences are where news puts its facts: the first, second and third that report
    # news carry a key fact 91%, 64%, 64% of the time on eval/, against 37% for a side's
    # first stated position further down and 24% for other sentences.
    lead_share: float = 0.6
    lead_words: float = 0.55
    # A lead sentence keeps its fullest form up to this many words (trimming may drop a
    # fact); a longer one its shortest excerpt.
    lead_cap: int = 35
    # Share of the budget that the leads and the sides' stated positions may take before
    # other detail (1: all of it; 0 turns the balance step off).
    positions_share: float = 1.0


KNOBS = SummaryKnobs()

# What a name is after when it is a place, not an actor: "in", "at", "near" ...
PLACE_BEFORE = re.compile(
    r"\b(?:in|at|near|into|from|across|outside|inside|off|to|of the coast of)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
# A sentence that opens in another time ("Last week ...", "In 2016, ...") is usually
# background to the story, not its news.
BACKGROUND = re.compile(
    r"^\W*(?:last|earlier this|previously|in the past|in (?:early |late )?(?:1[89]|20)\d\d\b"
    r"|(?:until|since|before) (?:1[89]|20)\d\d\b)",
    re.IGNORECASE,
)
# "PKK is a banned militant organization in Turkey.", "G7 is an informal group ...", "The
# Supreme Court is the final court of appeal ...": a definition (a present-tense "is a",
# "is the" after a short subject), which a reader may need but which is not the news.
DEFINITION = re.compile(
    r"^(?!\W*(?:this|that|it)\b)[^\w“\"]*"
    r"(?:(?!(?:that|which|who|was|were|has|had|said|says)\b|\w+ed\b)[\w'’().,-]+\s+){1,7}"
    r"(?:is|are)\s+(?:(?:\w+ly\s+)?(?:a|an|one of the)|the)\s",
    re.IGNORECASE,
)
# A sentence that opens with a pronoun needs the sentence before it to be understood.
PRONOUN_START = re.compile(
    r"^\W*(?:he|she|they|it|this|these|those|both|such|the same|the two)\b", re.IGNORECASE
)
# Verbs by which an actor takes a stand or reports: the subject of one states a position.
STANCE_VERBS = (
    r"said|says|told|stated|added|announced|claimed|argued|warned|wrote|tweeted|insisted"
    r"|denied|confirmed|described|called|urged|asked|acknowledged|admitted|blamed|accused"
    r"|condemned|critici[sz]ed|rejected|opposed|supported|backed|welcomed|praised|declared"
    r"|demanded|vowed|pledged|promised|threatened|disagreed|agreed|approved|ordered|appealed"
    r"|expressed|questioned|dismissed|defended|justified|found|ruled|concluded|maintained"
    r"|spoke out|reported|revealed|noted|explained|responded|replied|credited|cautioned"
    r"|believes?|believed"
)
# A name (optionally with ", its description,") right before a verb of stance.
STANCE_SUBJECT = re.compile(
    rf"({NAME})(?:,[^,]{{2,120}},)?\s+(?:(?:has|have|had|also|then|later|further|\w+ly)\s+)*"
    rf"({STANCE_VERBS})\b"
)
# Head nouns of organisations' names (see ``_name_key``).
ORG_HEADS = frozenset(
    """group department court institute committee council party government ministry agency
    office union association organization organisation force forces army police times news
    press state service services centre center commission university bank
    company corporation front movement magazine post journal guard command network""".split()
)
# Words for a role held in an organisation: "Tesco's CEO", "a spokesman for the PMF".
ROLE = (
    r"(?:spokes(?:man|woman|person)|CEO|chief|head|director|chair(?:man|woman)?|president"
    r"|minister|secretary|leader|member|lawyer|attorney|official|officer|commander|counsel"
    r"|representative|founder|executive|manager|advis[eo]r)"
)
# "Tesco’s CEO", "CEO of Tesco", "a spokesman for the PMF": whom a speaker speaks for (the
# last name in the words after "of" or "for").
AFFILIATION = re.compile(
    rf"({NAME})[’']s\s+(?:[\w-]+\s+){{0,2}}?{ROLE}\b"
    rf"|\b{ROLE}\s+(?:[\w-]+\s+){{0,3}}?(?:of|for|at|with)\s+([^,;]{{1,70}})"
)
# Verbs by which a source passes on news rather than takes a side: "CNN reported ...".
SOURCE_VERBS = frozenset("reported revealed".split())
# "called her party fascist", "accused Johnson of misleading the Queen": one side's label
# or charge reported without quotation marks, so a summary would say it in its own voice.
REPORTED_LABEL = re.compile(
    r"\b(?:called|termed|dubbed|branded|labell?ed)\s+(?:him|her|it|them|(?:his|her|its|their|the)"
    r"(?:\s+[a-z]+){1,2})\s+(?:a\s+|an\s+)?[a-z]"
    r"|\baccus(?:ed|es|ing)\s+(?:[\w’'-]+\s+){1,4}?of\s+\w+ing\b"
)
# Words that report or frame rather than state: common to every story, no fact of their own.
FRAMING = frozenset(
    stem(word)
    for word in """announced reported added stated noted explained claimed described called
    according also would could told report reports statement news press media""".split()
)

# The prior's features, in the order of the model's weights (see ``sentence_features``).
FEATURES = (
    "lead",  # the first sentence that makes a claim
    "position",  # index / number of sentences
    "paragraph_start",  # first sentence of its paragraph
    "title_similarity",  # cosine with the headline's vector
    "centrality",  # cosine with the mean of the story's sentence vectors
    "actors",  # named actors outside quotes (not places), at most 3
    "new_actors",  # of those, named here for the first time, at most 3
    "speaker",  # the sentence attributes a statement to someone
    "numbers",  # counts and dates, at most 3
    "quoted",  # share of its characters inside quotation marks
    "background",  # opens in another time, or states a standing fact
    "pronoun_start",  # opens with a pronoun
    "words",  # length in words / 25
    "title_terms",  # share of the headline's content words it uses
)


@dataclass(frozen=True)
class PriorModel:
    """A logistic model over :data:`FEATURES`, standardised by the training means and spreads."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def probability(self, features: Vectors) -> Vectors:
        z = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        logits = z @ np.asarray(self.weights) + self.bias
        probabilities: Vectors = 1.0 / (1.0 + np.exp(-logits))
        return probabilities


@lru_cache(maxsize=1)
def prior_model() -> PriorModel:
    """The shipped model (``summary_model.json``, written by ``bench/summary_model.py``)."""
    data = json.loads(
        resources.files("qa.backends.offline").joinpath("summary_model.json").read_text("utf-8")
    )
    if tuple(data["features"]) != FEATURES:
        raise RuntimeError("summary_model.json was fitted on other features; refit it")
    return PriorModel(
        tuple(data["weights"]), float(data["bias"]), tuple(data["mean"]), tuple(data["scale"])
    )


@dataclass
class Option:
    """One way to quote one sentence: whole, or with its side clauses dropped."""

    doc: int
    index: int
    text: str
    words: int
    concepts: dict[str, float]
    prior: float
    penalty: float = 1.0
    paragraph: int = 0
    speaker: str = ""
    actors: frozenset[str] = frozenset()
    # Opens with a pronoun: only after (or joined to) the sentence before it.
    needs_previous: bool = False
    # Reports news: neither background ("In 2015, ...") nor a standing fact.
    news: bool = True
    # The same sentence in other articles of the story, cited with it: (doc, index).
    twins: list[tuple[int, int]] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int]:
        return (self.doc, self.index)


def summarize(
    documents: Sequence[Document],
    sentences: int,
    sentence_vectors: Callable[[Document], Vectors],
    embed: Callable[[list[str]], Vectors],
    knobs: SummaryKnobs = KNOBS,
) -> Draft:
    """About ``sentences`` cited claims covering the documents' distinct facts and actors."""
    vectors = [sentence_vectors(document) for document in documents]
    options: list[Option] = []
    leads: list[tuple[int, int]] = []
    # News first: the first sentences that report news; one per article of a story.
    lead_count = math.ceil(sentences * knobs.lead_share) if len(documents) == 1 else 1
    for d, document in enumerate(documents):
        found = _document_options(d, document, vectors[d], embed, knobs)
        news = sorted({option.index for option in found if option.news})
        leads.extend((d, index) for index in news[:lead_count])
        options.extend(found)
    if not options:
        return Draft(claims=[])
    if len(documents) > 1:
        options, leads = _merge_repeats(options, leads, vectors, knobs)
    budget = knobs.words_per_sentence * sentences
    # Short units may make a few more claims than asked for, within the same word budget.
    sentences = sentences + int(sentences * knobs.extra_claims)
    chosen: list[Option] = []
    covered: set[str] = set()
    words = 0

    def take(option: Option) -> None:
        nonlocal words
        chosen.append(option)
        covered.update(option.concepts)
        words += option.words

    def take_leads(keys: Sequence[tuple[int, int]]) -> None:
        for d, index in keys:
            taken = {option.key for option in chosen}
            forms = [
                o
                for o in options
                if o.key == (d, index)
                and (not o.needs_previous or (d, index - 1) in taken)
                # The story's first news sentence always opens the summary, even when it
                # alone is longer than the budget of one asked sentence.
                and words + o.words
                <= (max(budget, knobs.lead_cap) if not chosen else budget * knobs.lead_words)
            ]
            if forms:
                # Its fullest form that is not too long (trimming may drop a fact), else its
                # shortest.
                short = [o for o in forms if o.words <= knobs.lead_cap]
                if short:
                    take(max(short, key=lambda o: o.words))
                else:
                    take(min(forms, key=lambda o: o.words))

    positions = _positions(documents)
    sides = _sides(documents, positions)

    def take_positions() -> None:
        # Balance: each side with a stated position, most vocal first, gets that position
        # in its own words and under its name before further detail.
        for party in _parties(options, positions, sides):
            if words >= budget * knobs.positions_share:
                break
            members = {party} | {person for person, org in sides.items() if org == party}
            if any(members & option.actors for option in chosen):
                continue
            said = [
                o
                for o in options
                if members & set(positions.get(o.key, {})) & o.actors and not o.needs_previous
            ]
            room = budget - words
            fits = [
                o
                for o in said
                if o.words <= room
                and o.key not in {c.key for c in chosen}
                and len(_claims([*chosen, o], sentences)) <= sentences
            ]
            # A side is introduced by its full name ("Gáspár Maróth", not "Maróth").
            full = [o for o in fits if any("full:" + member in o.concepts for member in members)]
            if full or fits:
                take(max(full or fits, key=lambda o: _value(o, covered, knobs)))

    take_leads(leads[:sentences])
    take_positions()
    # Then the excerpts of most value fill the budget.
    while best := _best(options, chosen, covered, sentences, budget - words, knobs):
        take(best)
    claims = [
        DraftClaim(
            _join([option.text for option in group], documents[group[0].doc]),
            [
                SentenceRef(documents[doc].id, index)
                for option in group
                for doc, index in [(option.doc, option.index), *option.twins]
            ],
        )
        for group in _claims(chosen, sentences)
    ]
    return Draft(claims=_readable(claims))


def _readable(claims: list[DraftClaim]) -> list[DraftClaim]:
    """``claims`` without any that do not read as a sentence where they stand.

    Each excerpt was checked alone; in the summary, a pronoun must also find its
    antecedent in the claim before it ("He also claimed ..." after a claim that ends
    "...; he also said ..."). A claim that fails is dropped, and the check runs again.
    """
    kept = list(claims)
    while True:
        previous: str | None = None
        for number, claim in enumerate(kept):
            if claim_problems(claim.text, previous):
                del kept[number]
                break
            previous = split_clauses(claim.text)[-1]
        else:
            return kept


def _positions(documents: Sequence[Document]) -> dict[tuple[int, int], dict[str, bool]]:
    """Per sentence, the actors (by name key) who state a position in it, each with whether
    the statement is a side's (True) or only a source's report ("X reported ...": False).

    An actor states a position as the speaker of a quotation or attribution, or as the
    subject of a verb of stance ("Netanyahu found the strike justified", "al-Assadi
    blamed Israel", "Bolsonaro opposed the statement").
    """
    found: dict[tuple[int, int], dict[str, bool]] = {}
    for d, document in enumerate(documents):
        structure = document_structure(document)
        for index, sentence in enumerate(document.sentences):
            holders: dict[str, bool] = {}
            outside = outside_quotes(sentence.text)
            for match in STANCE_SUBJECT.finditer(outside):
                key = _name_key(clean_name(match.group(1)))
                if _actor_key(key, match.group(1)):
                    side = match.group(2).lower() not in SOURCE_VERBS
                    holders[key] = holders.get(key, False) or side
            speaker = structure.speaker[index]
            key = _name_key(speaker) if speaker else ""
            if _actor_key(key, speaker) and key not in holders:
                holders[key] = not re.search(r"\b(?:reported|according to)\b", outside)
            if holders:
                found[(d, index)] = holders
    return found


def _actor_key(key: str, name: str) -> bool:
    """Whether a name's key can be an actor: not a date ("As of January 3")."""
    return bool(key) and key not in STOPWORDS | MONTHS | WEEKDAYS and not name.startswith("of ")


def _sides(
    documents: Sequence[Document], positions: dict[tuple[int, int], dict[str, bool]]
) -> dict[str, str]:
    """Whom each speaker speaks for, by name key, where the story says so: "Matt Simister,
    Tesco's CEO for Central Europe" -> "tesco"; "Ahmed al-Assadi, a spokesman for the
    PMF" -> "pmf". Two people of one organisation are one side, not two.

    The organisation must be named in more than one sentence, not only as a place, and
    be one (an acronym or a name with an organisation's head noun) or state positions
    itself: "the chief executive of Hong Kong" does not make Hong Kong a side.
    """
    holders = {key for found in positions.values() for key in found}
    sides: dict[str, str] = {}
    for document in documents:
        texts = [sentence.text for sentence in document.sentences]
        known = _known_names(texts)
        counts: dict[str, int] = {}
        actors: set[str] = set()
        for text in texts:
            for key, (_, place) in _mentions(text, known).items():
                counts[key] = counts.get(key, 0) + 1
                if not place:
                    actors.add(key)
        for text in texts:
            outside = outside_quotes(text)
            for match in re.finditer(NAME, outside):
                person = clean_name(match.group())
                # A person's name: two words or more, not a role ("CEO for Central Europe").
                if len(person.split()) < 2 or re.fullmatch(ROLE, person.split()[0]):
                    continue
                # The words about the person: the appositive after it, or its title before.
                tail = outside[match.end() : match.end() + 90].split(",")
                about = ",".join(tail[:2]) if outside[match.end() :].startswith(",") else tail[0]
                before = outside[max(0, match.start() - 40) : match.start()]
                for found in AFFILIATION.finditer(before + " " + person + about):
                    names = [found.group(1)] if found.group(1) else re.findall(NAME, found.group(2))
                    org = clean_name(names[-1]) if names else ""
                    key, own = _name_key(org), _name_key(person)
                    organisation = (
                        key in holders
                        or org.isupper()
                        or any(word.lower() in ORG_HEADS for word in org.split())
                    )
                    if key != own and counts.get(key, 0) >= 2 and key in actors and organisation:
                        sides[own] = key
    return sides


def _parties(
    options: Sequence[Option],
    positions: dict[tuple[int, int], dict[str, bool]],
    sides: dict[str, str],
) -> list[str]:
    """The sides that state a position, sides before sources, then by how often they do.

    A speaker who speaks for an organisation (``sides``) counts for it.
    """
    counts: dict[str, int] = {}
    side: dict[str, bool] = {}
    first: dict[str, tuple[int, int]] = {}
    for key, holders in sorted(positions.items()):
        for name, is_side in holders.items():
            party = sides.get(name, name)
            counts[party] = counts.get(party, 0) + 1
            side[party] = side.get(party, False) or is_side
            first.setdefault(party, key)
    named = {sides.get(key, key) for option in options for key in option.actors}
    return sorted(
        (k for k in counts if k in named), key=lambda k: (not side[k], -counts[k], first[k])
    )


def _merge_repeats(
    options: list[Option],
    leads: list[tuple[int, int]],
    vectors: Sequence[Vectors],
    knobs: SummaryKnobs,
) -> tuple[list[Option], list[tuple[int, int]]]:
    """One unit per fact that several articles state: the first article's sentence, citing
    the others' too; their own copies of it are no longer offered."""
    first: dict[tuple[int, int], tuple[int, int]] = {}
    offered = sorted({(o.doc, o.index) for o in options})
    for (d, i), (e, j) in itertools.combinations(offered, 2):
        if d == e or (e, j) in first or (d, i) in first:
            continue
        if float(vectors[d][i] @ vectors[e][j]) >= knobs.duplicate_similarity:
            first[(e, j)] = (d, i)
    for option in options:
        option.twins = sorted(key for key, primary in first.items() if primary == option.key)
    kept = [o for o in options if o.key not in first]
    return kept, [lead for lead in leads if lead not in first]


def _best(
    options: Sequence[Option],
    chosen: Sequence[Option],
    covered: set[str],
    sentences: int,
    room: int,
    knobs: SummaryKnobs,
) -> Option | None:
    """The option adding most new concept weight per word that fits ``room`` words."""
    taken = {(o.doc, o.index) for o in chosen}
    best: Option | None = None
    best_value = 0.0
    for option in options:
        if (option.doc, option.index) in taken or option.words > room:
            continue
        if option.needs_previous and (option.doc, option.index - 1) not in taken:
            continue
        if len(_claims([*chosen, option], sentences)) > sentences:
            continue
        value = _value(option, covered, knobs)
        if best is None or value > best_value:
            best, best_value = option, value
    return best


def _value(option: Option, covered: set[str], knobs: SummaryKnobs) -> float:
    """New concept weight per word, plus the learned prior, times the neutrality penalty."""
    gain = _gain(option, covered) / option.words**knobs.gain_exponent
    return float((gain + knobs.prior_weight * option.prior) * option.penalty)


def _claims(chosen: Sequence[Option], sentences: int) -> list[list[Option]]:
    """The chosen excerpts in story order, adjacent ones joined in pairs until ``sentences`` fit.

    Only parts that belong together join: adjacent sentences of one paragraph
    about the same actor, where the first ends a plain statement and the second
    does not open a quotation, so the joined claim still reads as one sentence.
    """
    groups = [[option] for option in sorted(chosen, key=lambda o: (o.doc, o.index))]
    # Left to right is a maximum matching on a run of adjacent sentences.
    pairs: list[int] = []
    i = 0
    while i + 1 < len(groups):
        if _joinable(groups[i][0], groups[i + 1][0]):
            pairs.append(i)
            i += 2
        else:
            i += 1
    needed = len(groups) - sentences
    if needed <= 0:
        return groups
    # The shortest pairs join, so no claim grows longer than it must.
    joined = sorted(pairs, key=lambda i: groups[i][0].words + groups[i + 1][0].words)[:needed]
    for i in sorted(joined, reverse=True):
        groups[i : i + 2] = [groups[i] + groups[i + 1]]
    return groups


def _joinable(first: Option, second: Option) -> bool:
    adjacent = (
        first.doc == second.doc
        and second.index == first.index + 1
        and first.paragraph == second.paragraph
    )
    same_actor = (
        second.needs_previous
        or bool(first.speaker and first.speaker == second.speaker)
        or bool(first.actors & second.actors)
    )
    return (
        adjacent and same_actor and first.text.endswith(".") and second.text[:1] not in QUOTE_CHARS
    )


def _join(parts: Sequence[str], document: Document) -> str:
    """Excerpts of adjacent sentences as one claim: "First part; second part."."""
    if len(parts) == 1:
        return parts[0]
    known = _known_names([sentence.text for sentence in document.sentences])
    text = document.text
    joined = parts[0]
    for part in parts[1:]:
        first = part.split(maxsplit=1)[0]
        # "The" or "Out" starting a sentence is not a name, so it reads lower-case mid-claim.
        common = first.lower() in STOPWORDS or re.search(rf"\b{re.escape(first.lower())}\b", text)
        if (not first[1:] or first[1:].islower()) and _name_key(first) not in known and common:
            part = part[:1].lower() + part[1:]
        joined = joined[:-1] + "; " + part
    return joined


def _gain(option: Option, covered: set[str]) -> float:
    return sum(weight for concept, weight in option.concepts.items() if concept not in covered)


# -- one document's units -------------------------------------------------------------


@dataclass(frozen=True)
class _Story:
    """What the units of one document are weighed against."""

    texts: list[str]
    known: set[str]
    speakers: set[str]
    name_counts: dict[str, int]
    fullest: dict[str, int]
    term_counts: dict[str, int]
    title_terms: set[str]
    quoted_pairs: set[tuple[str, str]]


def _read_story(document: Document) -> _Story:
    structure = document_structure(document)
    texts = [sentence.text for sentence in document.sentences]
    known = _known_names(texts)
    name_counts: dict[str, int] = {}
    fullest: dict[str, int] = {}
    term_counts: dict[str, int] = {}
    for text in texts:
        for name, (length, _) in _mentions(text, known).items():
            name_counts[name] = name_counts.get(name, 0) + 1
            fullest[name] = max(fullest.get(name, 0), length)
        for term in set(content_terms(text)):
            term_counts[term] = term_counts.get(term, 0) + 1
    return _Story(
        texts=texts,
        known=known,
        speakers={_name_key(name) for name in structure.speaker if name},
        name_counts=name_counts,
        fullest=fullest,
        term_counts=term_counts,
        title_terms=set(content_terms(document.title)),
        quoted_pairs=_quoted_pairs(texts),
    )


def sentence_features(document: Document, vectors: Vectors, title_vector: Vectors) -> Vectors:
    """The prior's :data:`FEATURES` for every sentence of ``document``, one row each."""
    story = _read_story(document)
    structure = document_structure(document)
    texts = story.texts
    total = max(len(texts), 1)
    centre = vectors.mean(axis=0) if len(texts) else np.zeros(1, dtype=np.float32)
    centre = centre / max(float(np.linalg.norm(centre)), 1e-9)
    title_norm = title_vector / max(float(np.linalg.norm(title_vector)), 1e-9)
    lead = next((i for i, text in enumerate(texts) if _summary_worthy(text)), 0)
    seen: set[str] = set()
    rows: list[list[float]] = []
    for index, text in enumerate(texts):
        actors = {
            name
            for name, (_, place) in _mentions(text, story.known).items()
            if not place and story.name_counts.get(name, 0)
        }
        new = actors - seen
        seen |= actors
        quoted = len(text) - len(outside_quotes(text).strip())
        words = len(text.split())
        title_share = (
            len(story.title_terms & set(content_terms(text))) / len(story.title_terms)
            if story.title_terms
            else 0.0
        )
        # Counts are capped at 3 and the length is in units of 25 words (a typical news
        # sentence), so every feature is of order 1, as the shipped model was trained.
        rows.append(
            [
                float(index == lead),
                index / total,
                float(index == 0 or structure.paragraph[index] != structure.paragraph[index - 1]),
                float(vectors[index] @ title_norm) if document.title else 0.0,
                float(vectors[index] @ centre),
                float(min(len(actors), 3)),
                float(min(len(new), 3)),
                float(bool(structure.speaker[index])),
                float(min(len(_numbers(text)), 3)),
                max(quoted, 0) / max(len(text), 1),
                float(bool(BACKGROUND.match(text)) or _generic(text)),
                float(bool(PRONOUN_START.match(text))),
                words / 25.0,
                title_share,
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(texts), len(FEATURES))


def _document_options(
    d: int,
    document: Document,
    vectors: Vectors,
    embed: Callable[[list[str]], Vectors],
    knobs: SummaryKnobs,
) -> list[Option]:
    story = _read_story(document)
    structure = document_structure(document)
    inside = quoted_sentences(document)
    title_vector = (
        embed([document.title])[0] if document.title else np.zeros(vectors.shape[1], np.float32)
    )
    priors = prior_model().probability(sentence_features(document, vectors, title_vector))
    options: list[Option] = []
    for index, text in enumerate(story.texts):
        if inside[index] or not _summary_worthy(text):
            continue
        for form in excerpts(text):
            # One side's label or charge reported unquoted would be said in the summary's
            # own voice ("accused Johnson of misleading the Queen"): not offered.
            if REPORTED_LABEL.search(outside_quotes(form)):
                continue
            problems = claim_problems(form)
            if [p for p in problems if p != "dangling pronoun"]:
                continue
            mentions = _mentions(form, story.known)
            options.append(
                Option(
                    doc=d,
                    index=index,
                    text=form,
                    words=len(form.split()),
                    concepts=_concepts(form, mentions, story, knobs),
                    prior=float(priors[index]),
                    penalty=_penalty(form, story, knobs),
                    paragraph=structure.paragraph[index],
                    speaker=structure.speaker[index],
                    actors=frozenset(name for name, (_, place) in mentions.items() if not place),
                    needs_previous="dangling pronoun" in problems,
                    news=not (BACKGROUND.match(text) or DEFINITION.match(text)),
                )
            )
    return options


def _concepts(
    form: str, mentions: dict[str, tuple[int, bool]], story: _Story, knobs: SummaryKnobs
) -> dict[str, float]:
    """What an excerpt says, by concept: actors, counts and dates, content words."""
    concepts: dict[str, float] = {}
    # Only names a reader sees count: a "He said" speaks for someone it does not name.
    for name, (length, place) in mentions.items():
        if name in story.speakers:
            weight = knobs.speaker_weight
        elif place:
            weight = knobs.place_weight
        else:
            once = story.name_counts.get(name, 0) < 2
            weight = knobs.actor_weight * (knobs.once_factor if once else 1.0)
        # A surname alone does not introduce a person the story names in full.
        full = length >= min(story.fullest.get(name, 1), 2)
        concepts["name:" + name] = weight * knobs.surname_share
        if full:
            concepts["full:" + name] = weight * (1.0 - knobs.surname_share)
    # A run of figures is usually background (sizes, distances): only the first few count.
    for number in sorted(_numbers(form))[: knobs.numbers_per_excerpt]:
        concepts["number:" + number] = knobs.number_weight
    unquoted = set(content_terms(outside_quotes(form)))
    for term in set(content_terms(form)):
        if term in FRAMING or "name:" + term in concepts:
            continue
        count = min(story.term_counts.get(term, 1), knobs.term_cap)
        weight = knobs.term_weight * count**knobs.tf_power
        weight += knobs.title_weight if term in story.title_terms else 0.0
        concepts["term:" + term] = weight * (1.0 if term in unquoted else knobs.quoted_share)
    return concepts


def _penalty(form: str, story: _Story, knobs: SummaryKnobs) -> float:
    """Below 1 for an excerpt that would carry one side's framing into the summary's voice."""
    penalty = 1.0
    if _is_bare_quote(form):
        penalty *= knobs.bare_quote
    if _borrows_quoted_wording(form, story.quoted_pairs):
        penalty *= knobs.borrowed_wording
    return penalty


def _generic(text: str) -> bool:
    """No event verb and no quotation: a standing fact ("G7 is an informal group ...")."""
    return not EVENT_VERB.search(outside_quotes(text)) and not any(c in text for c in QUOTE_CHARS)


def _summary_worthy(text: str) -> bool:
    stripped = text.strip()
    words = stripped.split()
    lowercase = [w for w in words if w[:1].islower()]
    # Datelines ("Thursday, January 24, 2019") and pull-quote attributions carry no claim;
    # a question or a sentence that introduces a list or quotation is not a claim either.
    return (
        len(words) >= 4
        and len(lowercase) >= 2
        and not stripped.startswith(("–", "—", "-"))
        and not stripped.endswith(("?", ":", '?"', "?”"))
    )


def _is_bare_quote(text: str) -> bool:
    """A quotation with no speaker in the sentence cannot stand alone in a summary."""
    stripped = text.strip()
    return stripped[:1] in QUOTE_CHARS and not ATTRIBUTION_PATTERN.search(stripped)


def _known_names(texts: Sequence[str]) -> set[str]:
    """Name keys seen mid-sentence anywhere in the story.

    A single capitalised word at the start of a sentence ("Coles ordered ...") is
    a name only if the story also capitalises it where capitals mean names.
    """
    known: set[str] = set()
    for text in texts:
        for match in re.finditer(NAME, outside_quotes(text)):
            if match.start() > 0:
                name = clean_name(match.group())
                # Every word of a name seen mid-sentence: "Kremlin Spokesperson Dmitry
                # Peskov" makes "The Kremlin ..." at a sentence start a name too.
                known.update(_name_key(word) for word in name.split())
    return known


def _mentions(text: str, known: set[str]) -> dict[str, tuple[int, bool]]:
    """Names outside quotes, by key: the longest mention's word count and whether it is a place.

    A name only ever seen after "in", "at", "near" ... is where something happened,
    not who acted.
    """
    found: dict[str, tuple[int, bool]] = {}
    outside = outside_quotes(text)
    for match in re.finditer(NAME, outside):
        name = clean_name(match.group())
        if not name:
            continue
        key = _name_key(name)
        named = match.start() > 0 or len(name.split()) > 1 or key in known
        if not named or key in STOPWORDS or key in MONTHS:
            continue
        place = bool(PLACE_BEFORE.search(outside[: match.start()]))
        length, was_place = found.get(key, (0, True))
        found[key] = (max(length, len(name.split())), was_place and place)
    return found


def _name_key(name: str) -> str:
    """A name by its last word: "Santa Barbara County Sheriff Bill Brown" -> "brown".

    An organisation's name by the word before its head noun ("Salling Group" ->
    "salling", as "Salling" alone is; "United States Department of Defense" -> "states",
    the side it speaks for), or whole when the head stands alone ("Court of Session"):
    "Salling Group" and "the Supreme Court" are not all "group" and "court".
    """
    # "Carl Lipo of Binghamton University" is Lipo, not the university.
    words = re.split(r"\s+(?:of|for|at|from)\s+", name)[0].split()
    if not words:
        return ""
    last = words[-1].lower().strip(".,’'")
    if last not in ORG_HEADS:
        return last
    if len(words) > 1:
        return words[-2].lower().strip(".,’'")
    return " ".join(name.split()).lower().strip(".,’'")


def _numbers(text: str) -> set[str]:
    """Counts and dates by what they count: "20 bodies" -> "20 bodi", "October 29" -> "29 oct"."""
    words = WORD_PATTERN.findall(text)
    found: set[str] = set()
    for i, word in enumerate(words):
        lowered = word.lower()
        if not (re.search(r"\d", word) or lowered in QUANTITY_WORDS - {"one", "half"}):
            continue
        if re.fullmatch(r"(1[89]|20)\d\d", word):
            found.add(word)
            continue
        before = words[i - 1].lower() if i else ""
        after = next(
            (w for w in words[i + 1 : i + 3] if w.lower() not in STOPWORDS),
            "",
        )
        anchor = before[:3] if before in MONTHS else stem(after)
        found.add(f"{lowered} {anchor}")
    return found


def _quoted_pairs(texts: Sequence[str]) -> set[tuple[str, str]]:
    """Adjacent content-word pairs the story puts inside quotation marks."""
    pairs: set[tuple[str, str]] = set()
    for text in texts:
        for quote in re.findall(r"“([^”]*)”|\"([^\"]*)\"", text):
            words = content_terms(" ".join(quote))
            pairs.update(itertools.pairwise(words))
    return pairs


def _borrows_quoted_wording(text: str, quoted_pairs: set[tuple[str, str]]) -> bool:
    words = content_terms(outside_quotes(text))
    return any(pair in quoted_pairs for pair in itertools.pairwise(words))
