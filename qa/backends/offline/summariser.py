"""The offline summariser: a budgeted choice of sentence excerpts for coverage.

A summary is judged by how many of the story's distinct facts and sides it
carries within a few sentences and a word budget, so excerpts are chosen
greedily (a weighted max-coverage) for what they add, not for how typical they are:

* concepts: the actors a sentence names outside quotes (weighted up when they
  speak, down when they appear once or only as a place after "in", "at" ...; a
  person the story names in full counts fully only where named in full), the
  counts and dates it gives ("20 bodies", "October 29"), and its content words
  (weighted by how often the story uses them and whether the headline does;
  words inside quotes count a little);
* an excerpt's value is the weight of the concepts no chosen excerpt has yet,
  per word (so a short sentence carrying a number or a new side beats a long
  one restating the lead), plus a little for centrality and an early position;
* each sentence competes in several forms, every one made only of the
  sentence's own words in order: whole; with unquoted side clauses dropped
  (non-restrictive ", who ...," clauses, paired-dash asides, parentheses,
  trailing ", urging ..." participles and ", which ..." clauses, "what he
  called the X" tails, the description between a speaker's name and verb);
  each clause of a sentence whose clauses a semicolon joins; and the main
  clause before ", but ...", ", while ...", ", and <new subject> ..." or a
  colon. Words inside quotation marks are never touched, and no form leaves a
  quotation open;
* the lead sentence of each document is always taken (news puts the event
  there), the rest fill a word budget of ``WORDS_PER_SENTENCE`` per sentence;
  when more excerpts fit than sentences were asked for, excerpts of adjacent
  sentences share one claim, joined by "; " and citing both sentences.

Neutrality: sentences inside a multi-sentence quotation, bare quotations with
no speaker, questions, and sentences that end in a colon are never taken
alone; a sentence that uses, outside quotes, wording that the story puts in
someone's quotation marks is pulled down, as is one that reports a label
without quotation marks ("called her party fascist"), since that is how one
side's framing slips into the summary's own voice.

Not handled: facts that only a paraphrase could carry, joins of sentences
that are not adjacent, coreference ("the company" for a name), speakers named
only by a common noun ("the cabinet"), actors told apart from places only by
the preposition before them, a speaker whose only sentence is a long
quotation, and loaded wording that no quotation in the story marks.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.backends.offline.discourse import (
    ATTRIBUTION_PATTERN,
    ATTRIBUTION_VERBS,
    NAME,
    QUOTE_CHARS,
    RELATIVE_CLAUSE,
    REPORTED_WORDING,
    TRAILING_PARTICIPLE,
    balanced_quotes,
    clean_name,
    content_terms,
    document_structure,
    outside_quotes,
    quoted_sentences,
)
from qa.text.numbers import QUANTITY_WORDS
from qa.text.words import MONTHS, STOPWORDS, WORD_PATTERN, stem
from qa.types import Document, Draft, DraftClaim, SentenceRef

Vectors = np.ndarray

# Past this many words a sentence also competes in a shortened form.
LONG_SENTENCE = 24
# Words per summary sentence the budget allows on average.
WORDS_PER_SENTENCE = 25
GAIN_EXPONENT = 0.8
REDUNDANCY_WEIGHT = 0.0
TOPIC_WEIGHT = 0.15
POSITION_WEIGHT = 0.5
SPEAKER_WEIGHT = 3.0
ACTOR_WEIGHT = 0.8
ONCE_FACTOR = 0.5
PLACE_WEIGHT = 0.1
SURNAME_SHARE = 0.5
QUOTED_SHARE = 0.3
NUMBER_WEIGHT = 0.35
TERM_WEIGHT = 0.1
TERM_CAP = 4
TF_POWER = 0.5
TITLE_WEIGHT = 0.15
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
BACKGROUND_PENALTY = 0.6
# A sentence that opens with a pronoun needs the sentence before it to be understood.
DANGLING_PRONOUN = re.compile(
    r"^\W*(?:he|she|they|it|this|these|those|both|such|the same|the two)\b", re.IGNORECASE
)
PRONOUN_PENALTY = 0.6
# Verbs that report an event; a sentence with none of them (and no quotation) states a
# standing fact ("G7 is an informal group ...", "The law provides ..."): background.
EVENT_VERB_WORDS = (
    r"\w{3,}ed|was|were|had|has|have|said|says|told|met|made|took|began|begun|won|lost"
    r"|left|found|gave|came|went|saw|sent|set|held|led|struck|ran|put|paid|sold|bought|will"
    r"|would|could"
)
EVENT_VERB = re.compile(rf"\b(?:{EVENT_VERB_WORDS})\b", re.IGNORECASE)
# Any finite verb: a clause cut from a sentence must still state something.
FINITE_VERB = re.compile(
    rf"\b(?:{EVENT_VERB_WORDS}|is|are|am|do|does|did|can|cannot|may|might|must|should|shall)\b",
    re.IGNORECASE,
)
DASH_ASIDE = re.compile(r"\s+[—–]\s+[^—–]{3,140}?\s+[—–](?=\s)")
# ", executive director of the Retailers Association," between a name and its verb.
APPOSITIVE = re.compile(
    rf"[A-Z][\w’'.-]+ [A-Z][\w’'.-]+(,\s+[a-z][^,“”\"]{{2,90}},)(?=\s+(?:\w+\s+)?"
    rf"(?:{ATTRIBUTION_VERBS})\b)"
)
# ", whose US-built vehicle was used ..." ending a sentence: an aside, as mid-sentence.
TRAILING_RELATIVE = re.compile(r",\s+(?:who|which|whose)\b[^,“”\"]*(?=[.!?]$)")
MIN_CLAUSE = 6
APPOSITION_NEXT = re.compile(r"(?:the|a|an)\b")
# "called her party fascist": one side's label reported without quotation marks.
REPORTED_LABEL = re.compile(
    r"\b(?:called|termed|dubbed|branded|labell?ed)\s+(?:him|her|it|them|(?:his|her|its|their|the)"
    r"(?:\s+[a-z]+){1,2})\s+(?:a\s+|an\s+)?[a-z]"
)
# Semicolons, and full stops the sentence splitter missed ("... out of stock. Kimberly-Clark").
CLAUSE_SPLIT = re.compile(r";\s+|(?<=\b[a-z]{3})\.\s+(?=[A-Z])")
NEW_SUBJECT = re.compile(
    r"(?:the|a|an|its|his|her|their|this|these|those|he|she|it|they|we|[A-Z]\w*)\s+\w+"
)
# Where a second clause starts that the first does not need.
# A colon too: what it introduces elaborates a statement that stands on its own.
CONTRAST = re.compile(
    r",\s+(but|though|although|while|whereas|and)\s+(?=[\w“\"])|(:)\s+(?=[\w“\"])"
)
PARENTHESES = re.compile(r"\s*\([^()]{1,120}\)")
# Words that report or frame rather than state: common to every story, no fact of their own.
FRAMING = frozenset(
    stem(word)
    for word in """announced reported added stated noted explained claimed described called
    according also would could told report reports statement news press media""".split()
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
    vector: Vectors = field(default_factory=lambda: np.zeros(1, dtype=np.float32))


def summarize(
    documents: Sequence[Document],
    sentences: int,
    sentence_vectors: Callable[[Document], Vectors],
    embed: Callable[[list[str]], Vectors],
) -> Draft:
    """About ``sentences`` cited claims covering the documents' distinct facts and actors."""
    options: list[Option] = []
    leads: list[tuple[int, int]] = []
    for d, document in enumerate(documents):
        found = _document_options(d, document, sentence_vectors(document), embed)
        if found:
            leads.append((d, min(option.index for option in found)))
        options.extend(found)
    if not options:
        return Draft(claims=[])
    budget = WORDS_PER_SENTENCE * sentences
    chosen: list[Option] = []
    covered: set[str] = set()
    words = 0

    def take(option: Option) -> None:
        nonlocal words
        chosen.append(option)
        covered.update(option.concepts)
        words += option.words

    for d, index in leads[:sentences]:
        # The lead in its shortest form that still carries its concepts' weight best.
        forms = [o for o in options if o.doc == d and o.index == index]
        take(max(forms, key=lambda o: _gain(o, covered) / o.words**0.5))
    # First fill the budget; then, if fewer claims than asked for fit, one more short
    # claim each may overrun it by half a sentence.
    for limit in (budget, budget + WORDS_PER_SENTENCE // 2):
        while limit == budget or len(_claims(chosen, sentences)) < sentences:
            best = _best(options, chosen, covered, sentences, limit - words)
            if best is None:
                break
            take(best)
    return Draft(
        claims=[
            DraftClaim(
                _join([option.text for option in group], documents[group[0].doc]),
                [SentenceRef(documents[option.doc].id, option.index) for option in group],
            )
            for group in _claims(chosen, sentences)
        ]
    )


def _best(
    options: Sequence[Option],
    chosen: Sequence[Option],
    covered: set[str],
    sentences: int,
    room: int,
) -> Option | None:
    """The option adding most new concept weight per word that fits ``room`` words."""
    taken = {(o.doc, o.index) for o in chosen}
    best: Option | None = None
    best_value = 0.0
    for option in options:
        if (option.doc, option.index) in taken or option.words > room:
            continue
        if len(_claims([*chosen, option], sentences)) > sentences:
            continue
        redundancy = max(float(option.vector @ o.vector) for o in chosen)
        value = (
            _gain(option, covered) / option.words**GAIN_EXPONENT
            + option.prior
            - REDUNDANCY_WEIGHT * redundancy
        ) * option.penalty
        if best is None or value > best_value:
            best, best_value = option, value
    return best


def _claims(chosen: Sequence[Option], sentences: int) -> list[list[Option]]:
    """The chosen excerpts in story order, adjacent ones joined in pairs until ``sentences`` fit.

    A pair is joined only where the first ends a plain statement and the second
    does not open a quotation, so the joined claim still reads as one sentence.
    """
    groups = [[option] for option in sorted(chosen, key=lambda o: (o.doc, o.index))]
    # Left to right is a maximum matching on a run of adjacent sentences.
    pairs: list[int] = []
    i = 0
    while i + 1 < len(groups):
        first, second = groups[i][0], groups[i + 1][0]
        if first.doc == second.doc and second.index == first.index + 1 and _joinable(first, second):
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
    return first.text.endswith(".") and second.text[:1] not in QUOTE_CHARS


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


def _document_options(
    d: int, document: Document, vectors: Vectors, embed: Callable[[list[str]], Vectors]
) -> list[Option]:
    structure = document_structure(document)
    inside = quoted_sentences(document)
    texts = [sentence.text for sentence in document.sentences]
    known = _known_names(texts)
    speakers = {_name_key(name) for name in structure.speaker if name}
    name_counts: dict[str, int] = {}
    fullest: dict[str, int] = {}
    term_counts: dict[str, int] = {}
    for text in texts:
        for name, (length, _) in _mentions(text, known).items():
            name_counts[name] = name_counts.get(name, 0) + 1
            fullest[name] = max(fullest.get(name, 0), length)
        for term in set(content_terms(text)):
            term_counts[term] = term_counts.get(term, 0) + 1
    title_terms = set(content_terms(document.title))
    quoted_pairs = _quoted_pairs(texts)
    # What the story is about: its headline and lead, which news writing makes the gist.
    lead = next((i for i, text in enumerate(texts) if _summary_worthy(text)), 0)
    topic = embed([document.title])[0] + vectors[lead] if document.title else vectors[lead]
    topic = topic / max(float(np.linalg.norm(topic)), 1e-9)
    options: list[Option] = []
    total = max(len(texts), 1)
    for index, text in enumerate(texts):
        if inside[index] or not _summary_worthy(text):
            continue
        position = index / total
        prior = (
            TOPIC_WEIGHT * float(vectors[index] @ topic) + POSITION_WEIGHT * (1.0 - position) ** 2
        )
        for form in excerpts(text):
            concepts: dict[str, float] = {}
            # Only names a reader sees count: a "He said" speaks for someone it does not name.
            for name, (length, place) in _mentions(form, known).items():
                if name in speakers:
                    weight = SPEAKER_WEIGHT
                elif place:
                    weight = PLACE_WEIGHT
                else:
                    weight = ACTOR_WEIGHT * (1.0 if name_counts.get(name, 0) >= 2 else ONCE_FACTOR)
                # A surname alone does not introduce a person the story names in full.
                full = length >= min(fullest.get(name, 1), 2)
                concepts["name:" + name] = weight * SURNAME_SHARE
                if full:
                    concepts["full:" + name] = weight * (1.0 - SURNAME_SHARE)
            # A run of figures is usually background (sizes, distances); two are enough.
            for number in sorted(_numbers(form))[:2]:
                concepts["number:" + number] = NUMBER_WEIGHT
            unquoted = set(content_terms(outside_quotes(form)))
            for term in set(content_terms(form)):
                if term in FRAMING or "name:" + term in concepts:
                    continue
                weight = TERM_WEIGHT * min(term_counts.get(term, 1), TERM_CAP) ** TF_POWER
                weight += TITLE_WEIGHT if term in title_terms else 0.0
                concepts["term:" + term] = weight * (1.0 if term in unquoted else QUOTED_SHARE)
            penalty = BACKGROUND_PENALTY if BACKGROUND.match(form) or _generic(form) else 1.0
            if DANGLING_PRONOUN.match(form):
                penalty *= PRONOUN_PENALTY
            if _is_bare_quote(form):
                penalty *= 0.6
            if _borrows_quoted_wording(form, quoted_pairs):
                penalty *= 0.5
            if REPORTED_LABEL.search(outside_quotes(form)):
                penalty *= 0.2
            options.append(
                Option(
                    d,
                    index,
                    form,
                    len(form.split()),
                    concepts,
                    prior,
                    penalty,
                    vectors[index].astype(np.float32),
                )
            )
    return options


def _generic(text: str) -> bool:
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


def excerpts(text: str) -> list[str]:
    """The sentence itself and shorter excerpts of it that still read as sentences.

    Side clauses dropped (when long), each clause of a sentence whose clauses a
    semicolon joins, and the main clause before ", but ...", ", while ..." and the like.
    """
    plain = neutralise(text)
    forms = [plain, shorten(plain), shorten(drop_appositives(plain))]
    for form in list(forms):
        forms += _clauses(form)
    for form in list(forms):
        forms += _main_clause(form)
    # A quotation left open would run on, for a reader, into the claims after it.
    return [form for form in dict.fromkeys(forms) if balanced_quotes(form)]


def _main_clause(text: str) -> list[str]:
    quoted = _quoted_mask(text)
    for match in CONTRAST.finditer(text):
        if quoted[match.start()]:
            continue
        head, rest = text[: match.start()], text[match.end() :]
        # ", and" also ends lists: only a new subject makes a second clause.
        independent = match.group(1) != "and" or bool(NEW_SUBJECT.match(rest))
        if (
            independent
            and len(head.split()) >= MIN_CLAUSE
            and balanced_quotes(head)
            and FINITE_VERB.search(outside_quotes(head))
        ):
            return [head + "."]
    return []


def _clauses(text: str) -> list[str]:
    quoted = _quoted_mask(text)
    cuts = [m for m in CLAUSE_SPLIT.finditer(text) if not quoted[m.start()]]
    if not cuts:
        return []
    bounds = [0, *(m.start() for m in cuts), len(text)]
    starts = [0, *(m.end() for m in cuts)]
    parts = []
    for start, end in zip(starts, bounds[1:], strict=True):
        part = text[start:end].strip().rstrip(".")
        if len(part.split()) >= MIN_CLAUSE and balanced_quotes(part):
            parts.append(part[:1].upper() + part[1:] + ".")
    return parts


def neutralise(text: str) -> str:
    """Drop unquoted non-restrictive relative clauses, the usual seat of editorial colour.

    Also drop "to correct what he called the X" tails: reported wording without
    quote marks, which would otherwise read as the summary's own description.
    """
    trimmed = text
    if len(text.split()) > LONG_SENTENCE:
        # ", which was about X, the then chair of Y, could ...": the clause runs on past
        # its comma into an appositive, and cutting there would leave "X the then chair".
        spans = [
            m for m in RELATIVE_CLAUSE.finditer(text) if not APPOSITION_NEXT.match(text, m.end())
        ]
        for match in reversed(spans):
            trimmed = trimmed[: match.start()] + " " + trimmed[match.end() :]
    trimmed = REPORTED_WORDING.sub("", trimmed)
    return _tidy(trimmed, text)


def drop_appositives(text: str) -> str:
    """Drop the description between a speaker and the verb: "Jo Smith, head of X, said" ->
    "Jo Smith said"; the name stays, so the side is still there, named.
    """
    quoted = _quoted_mask(text)
    spans = [m for m in APPOSITIVE.finditer(text) if not any(quoted[m.start() : m.end()])]
    result = text
    for match in reversed(spans):
        result = result[: match.start(1)] + result[match.end(1) :]
    return _tidy(result, text)


def shorten(text: str) -> str:
    """Drop unquoted side clauses: dash asides, parentheses, trailing participles.

    A span is dropped only when it lies wholly outside quotation marks, so the
    words a claim quotes are exactly the words of the cited sentence.
    """
    quoted = _quoted_mask(text)

    def outside(match: re.Match[str]) -> bool:
        return not any(quoted[match.start() : match.end()])

    result = text
    for pattern in (DASH_ASIDE, PARENTHESES, TRAILING_PARTICIPLE, TRAILING_RELATIVE):
        spans = [m for m in pattern.finditer(text) if outside(m) and not _is_alias(m.group())]
        for match in reversed(spans):
            piece = text[match.start() : match.end()]
            result = result.replace(piece, " " if pattern is DASH_ASIDE else "", 1)
    return _tidy(result, text)


def _tidy(trimmed: str, original: str) -> str:
    trimmed = re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s{2,}", " ", trimmed)).strip()
    return trimmed if balanced_quotes(trimmed) and trimmed else original


def _is_alias(span: str) -> bool:
    """A parenthesis that gives a short name ("(ECJ)", "(NEOC)") is how later text refers to it."""
    inner = span.strip().strip("()").strip()
    return bool(re.fullmatch(r"[A-Z][\w.&-]{0,11}", inner))


def _quoted_mask(text: str) -> list[bool]:
    mask: list[bool] = []
    inside = False
    for char in text:
        if char == "“" or (char == '"' and not inside):
            inside = True
            mask.append(True)
        elif char == "”" or (char == '"' and inside):
            mask.append(True)
            inside = False
        else:
            mask.append(inside)
    return mask


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
    """A name by its last word: "Santa Barbara County Sheriff Bill Brown" -> "brown"."""
    # "Carl Lipo of Binghamton University" is Lipo, not the university.
    words = re.split(r"\s+(?:of|for|at|from)\s+", name)[0].split()
    return words[-1].lower().strip(".,’'") if words else ""


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
