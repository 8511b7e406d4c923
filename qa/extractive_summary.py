"""The offline summariser: a budgeted choice of sentences (or shortened sentences) for coverage.

A summary is judged by how many of the story's distinct facts and sides it
carries within a few sentences, so sentences are chosen greedily for what
they add, not for how typical they are:

* concepts: the actors a sentence names outside quotes or speaks for (weighted
  up when they speak or recur), the counts and dates it gives ("20 bodies",
  "October 29"), and its content words (weighted by how often the story uses
  them and whether the headline does);
* a sentence's value is the weight of the concepts no chosen sentence has yet,
  per word (so a short sentence carrying a number or a new side beats a long
  one restating the lead), plus a little for centrality and an early position;
* each long sentence also competes in a shortened form: unquoted side clauses
  (non-restrictive ", who ...," clauses, paired-dash asides, parentheses,
  trailing ", urging ..." participles, "what he called the X" tails) dropped.
  Words inside quotation marks are never touched, so a claim stays an excerpt
  of the sentence it cites;
* the lead sentence of each document is always taken (news puts the event
  there), the rest fill a word budget.

Neutrality: sentences inside a multi-sentence quotation, bare quotations with
no speaker, questions, and sentences that end in a colon are never taken
alone; a sentence that uses, outside quotes, wording that the story puts in
someone's quotation marks is pulled down, since that is how one side's
framing slips into the summary's own voice.

Not handled: facts that only a paraphrase or a merge of two sentences could
carry, coreference ("the company" for a name), speakers named only by a
common noun, and loaded wording that no quotation in the story marks.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.discourse import (
    ATTRIBUTION_PATTERN,
    NAME,
    NUMBER_WORDS,
    QUOTE_CHARS,
    RELATIVE_CLAUSE,
    REPORTED_WORDING,
    STOPWORDS,
    TRAILING_PARTICIPLE,
    WORD_PATTERN,
    balanced_quotes,
    clean_name,
    content_terms,
    document_structure,
    outside_quotes,
    quoted_sentences,
    stem,
)
from qa.types import Document, Draft, DraftClaim, SentenceRef

Vectors = np.ndarray

# Past this many words a sentence also competes in a shortened form.
LONG_SENTENCE = 24
# Words per summary sentence the budget allows on average; the last sentence may overrun.
WORDS_PER_SENTENCE = 27
TOPIC_WEIGHT = 0.3
SPEAKER_WEIGHT = 2.0
NAME_WEIGHT = 0.8
ONCE_WEIGHT = 0.3
NUMBER_WEIGHT = 0.35
TERM_WEIGHT = 0.06
TERM_CAP = 4
TITLE_WEIGHT = 0.15
MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
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
DANGLING_PRONOUN = re.compile(r"^\W*(?:he|she|they|it|this|these|those)\b", re.IGNORECASE)
PRONOUN_PENALTY = 0.6
# Verbs that report an event; a sentence with none of them (and no quotation) states a
# standing fact ("G7 is an informal group ...", "The law provides ..."): background.
EVENT_VERB_WORDS = (
    r"\w{3,}ed|was|were|had|has|have|said|says|told|met|made|took|began|begun|won|lost"
    r"|left|found|gave|came|went|saw|sent|set|held|led|struck|ran|put|paid|sold|bought|will"
    r"|would|could"
)
EVENT_VERB = re.compile(rf"\b(?:{EVENT_VERB_WORDS})\b", re.IGNORECASE)
DASH_ASIDE = re.compile(r"\s+[—–]\s+[^—–]{3,140}?\s+[—–](?=\s)")
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
    while len(chosen) < sentences:
        taken = {(o.doc, o.index) for o in chosen}
        best: Option | None = None
        best_value = 0.0
        for option in options:
            if (option.doc, option.index) in taken:
                continue
            if words + option.words > budget + WORDS_PER_SENTENCE // 2:
                continue
            redundancy = max(float(option.vector @ o.vector) for o in chosen)
            value = (
                _gain(option, covered) / option.words**0.6 + option.prior - 0.15 * redundancy
            ) * option.penalty
            if best is None or value > best_value:
                best, best_value = option, value
        if best is None:
            break
        take(best)
    chosen.sort(key=lambda o: (o.doc, o.index))
    return Draft(
        claims=[
            DraftClaim(option.text, [SentenceRef(documents[option.doc].id, option.index)])
            for option in chosen
        ]
    )


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
    term_counts: dict[str, int] = {}
    per_sentence_names = [_sentence_names(text, known) for text in texts]
    for text, names in zip(texts, per_sentence_names, strict=True):
        for name in names:
            name_counts[name] = name_counts.get(name, 0) + 1
        for term in set(content_terms(outside_quotes(text))):
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
        prior = TOPIC_WEIGHT * float(vectors[index] @ topic) + 0.15 * (1.0 - position) ** 2
        for form in _forms(text):
            concepts: dict[str, float] = {}
            # Only names a reader sees count: a "He said" speaks for someone it does not name.
            names = _sentence_names(form, known)
            for name in names:
                if name in speakers:
                    concepts["name:" + name] = SPEAKER_WEIGHT
                else:
                    recurring = name_counts.get(name, 0) >= 2
                    concepts["name:" + name] = NAME_WEIGHT if recurring else ONCE_WEIGHT
            # A run of figures is usually background (sizes, distances); two are enough.
            for number in sorted(_numbers(form))[:2]:
                concepts["number:" + number] = NUMBER_WEIGHT
            for term in set(content_terms(outside_quotes(form))):
                if term in FRAMING or "name:" + term in concepts:
                    continue
                weight = TERM_WEIGHT * min(term_counts.get(term, 1), TERM_CAP)
                concepts["term:" + term] = weight + (TITLE_WEIGHT if term in title_terms else 0.0)
            penalty = BACKGROUND_PENALTY if BACKGROUND.match(form) or _generic(form) else 1.0
            if DANGLING_PRONOUN.match(form):
                penalty *= PRONOUN_PENALTY
            if _is_bare_quote(form):
                penalty *= 0.6
            if _borrows_quoted_wording(form, quoted_pairs):
                penalty *= 0.5
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


def _forms(text: str) -> list[str]:
    """The sentence itself and, when long, with its unquoted side clauses dropped."""
    plain = neutralise(text)
    forms = [plain]
    if len(plain.split()) > LONG_SENTENCE:
        short = shorten(plain)
        if short != plain:
            forms.append(short)
    return forms


def neutralise(text: str) -> str:
    """Drop unquoted non-restrictive relative clauses, the usual seat of editorial colour.

    Also drop "to correct what he called the X" tails: reported wording without
    quote marks, which would otherwise read as the summary's own description.
    """
    trimmed = RELATIVE_CLAUSE.sub(" ", text) if len(text.split()) > LONG_SENTENCE else text
    trimmed = REPORTED_WORDING.sub("", trimmed)
    return _tidy(trimmed, text)


def shorten(text: str) -> str:
    """Drop unquoted side clauses: dash asides, parentheses, trailing participles.

    A span is dropped only when it lies wholly outside quotation marks, so the
    words a claim quotes are exactly the words of the cited sentence.
    """
    quoted = _quoted_mask(text)

    def outside(match: re.Match[str]) -> bool:
        return not any(quoted[match.start() : match.end()])

    result = text
    for pattern in (DASH_ASIDE, PARENTHESES, TRAILING_PARTICIPLE):
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


def _sentence_names(text: str, known: set[str]) -> set[str]:
    found: set[str] = set()
    for match in re.finditer(NAME, outside_quotes(text)):
        name = clean_name(match.group())
        if not name:
            continue
        key = _name_key(name)
        named = match.start() > 0 or len(name.split()) > 1 or key in known
        if named and key not in STOPWORDS and key not in MONTHS:
            found.add(key)
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
        if not (re.search(r"\d", word) or lowered in NUMBER_WORDS - {"one", "half"}):
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
