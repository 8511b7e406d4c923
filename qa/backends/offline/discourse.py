"""Shared text analysis for the offline engine: words, patterns and a document's discourse.

Used by the extractive answerer (:mod:`qa.backends.offline.answerer`) and summariser
(:mod:`qa.backends.offline.summariser`); it imports nothing else from qa but
:mod:`qa.types`.

Handled: a light suffix stemmer and content terms; patterns for times, reasons,
amounts, attributions and names; per document, the paragraph of each sentence,
which sentences start inside a quotation opened earlier, which sentences form
one quotation unit, and who is speaking in each (``X said``, ``said X``,
``according to X``, ``X ...: "...``, a ``He said`` that follows a named speaker,
a quotation whose speaker is named only after it closes); the actors a
sentence names outside quotes; aliases a text declares by apposition ("the
statues, or moai,", "Rapa Nui, also called Easter Island"); sentences that
address a language model instead of a reader (prompt injection), and a view of
a document without them.

Not handled: coreference beyond ``he/she/they said`` right after a named
speaker, single-quote quotations (apostrophes make them ambiguous), speakers
named only by a common noun ("the official said"), and names written in lower
case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from functools import lru_cache

from qa.text.injection import is_injected

# Re-exported: the answerer and summariser read quotations through discourse.
from qa.text.injection import outside_quotes as outside_quotes
from qa.text.markers import defuse_markers
from qa.text.numbers import QUANTITY_WORDS
from qa.text.words import DIGIT_PATTERN, MONTHS, STOPWORDS, WEEKDAYS, WORD_PATTERN, stem
from qa.types import Document

# Words that place a statement in time: day and month names, relative times, years, clock times.
TIME_PATTERN = re.compile(
    rf"\b({'|'.join(sorted(WEEKDAYS))}|today|yesterday|tomorrow"
    rf"|tonight|{'|'.join(sorted(MONTHS))}"
    r"|morning|afternoon|evening|night|week|weeks|month|months|year|years|ago"
    r"|earlier|later|last|next|since|until|(1[89]|20)\d\d|\d{1,2}:\d\d|utc|gmt|overnight"
    r"|midnight|noon|dawn|dusk|[ap]\.m)\b",
    re.IGNORECASE,
)
REASON_PATTERN = re.compile(
    r"\b(because|due to|since|as a result|after|so that|in order to|amid|over concerns"
    r"|reason|caused|cause|blamed|following|led to|fears?|concerns?|to avoid|to prevent)\b",
    re.IGNORECASE,
)
ATTRIBUTION_PATTERN = re.compile(
    r"\b(said|says|told|stated|added|announced|claimed|argued|warned|wrote|according to"
    r"|reported|noted|explained|insisted|denied|confirmed|described|called)\b",
    re.IGNORECASE,
)
NAME_PATTERN = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)+\b")
AMOUNT_PATTERN = re.compile(
    r"[$€£¥]\s?\d|\d\s?%|\b\d[\d.,]*\s*(?:million|billion|thousand|percent|per cent|dollars?"
    r"|euros?|pounds?|yen|yuan|rupees?)\b|\b(?:dollars?|euros?|pounds?)\b",
    re.IGNORECASE,
)
RELATIVE_CLAUSE = re.compile(r",\s+(?:who|which|whose)\b[^,“”\"]{3,160},\s+")
TRAILING_PARTICIPLE = re.compile(
    r",\s+(?:urging|saying|adding|citing|noting|calling|prompting|describing)\b[^“”\"]*(?=[.!?]$)"
)
QUOTE_CHARS = '"“”'
REPORTED_WORDING = re.compile(
    r"\s+(?:to\s+\w+\s+)?what\s+(?:he|she|they|it)\s+(?:named|called|termed|dubbed|described as)"
    r"\b[^“”\",;]*(?=[.!?]$)"
)
ATTRIBUTION_VERBS = (
    r"said|says|say|told|tells|stated|states|added|adds|announced|claimed|claims|argued|argues"
    r"|warned|warns|wrote|writes|tweeted|tweets|remarked|noted|notes|explained|insisted|denied"
    r"|confirmed|stressed|replied|responded|commented|continued|emphasi[sz]ed|observed"
    r"|pointed out|went on to add|alleged|alleges|described|expressed|called|termed|reported"
    r"|read|opposed|disagreed|criticised|criticized|urged|asked|acknowledged|admitted"
)
NAME = r"[A-Z][\w.’'-]*(?:\s+(?:of\s+|for\s+|de\s+|van\s+|von\s+)?[A-Z][\w.’'-]*)*"
PRONOUN_ATTRIBUTION = re.compile(
    rf"(?:^|[,;”\"])\s*(?:he|she|they|it)\s+(?:\w+\s+)?(?:{ATTRIBUTION_VERBS})\b", re.IGNORECASE
)
NAME_BEFORE_VERB = re.compile(
    rf"({NAME})(?:,[^,]{{2,160}},|(?:\s+[a-z]+){{1,2}}(?=\s+(?:has|had|have)\b))?\s+"
    rf"(?:(?:has|have|had|also|then|later|further|publicly|on \w+)\s+)*"
    rf"(?:{ATTRIBUTION_VERBS})\b"
)
# "Jo Anne Van Tilburg of the University of California, Los Angeles disagreed": the
# speaker is the name before the affiliation, not the place that ends it.
AFFILIATED_SPEAKER = re.compile(
    rf"^\W*({NAME}\s+[A-Z][\w.’'-]*)\s+(?:of|from|at)\s+the\s+[^“\"”;]{{2,80}}?\s+"
    rf"(?:{ATTRIBUTION_VERBS})\b"
)
VERB_BEFORE_NAME = re.compile(rf"\b(?:said|says|tweeted|wrote|added|according to)\s+({NAME})")
COLON_QUOTE = re.compile(rf"^\W*({NAME})[^:“\"]*:\s*[“\"]")

# Capitalised words that open a sentence or a date rather than a name ("On Monday Putin ...").
NOT_NAMES = (
    WEEKDAYS
    | MONTHS
    | frozenset(
        """the a an on in at this that while although but and as after before when during last
        however according no""".split()
    )
)


def content_terms(text: str) -> list[str]:
    return [
        stem(word)
        for word in WORD_PATTERN.findall(text)
        if word.lower().replace("’", "'") not in STOPWORDS and len(word) > 1
    ]


def idf(term_sets: Sequence[AbstractSet[str]]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for terms in term_sets:
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
    total = len(term_sets)
    return {term: math.log(1 + total / count) for term, count in counts.items()}


def has_number(text: str) -> bool:
    return bool(DIGIT_PATTERN.search(text)) or any(
        word.lower() in QUANTITY_WORDS for word in WORD_PATTERN.findall(text)
    )


def balanced_quotes(text: str) -> bool:
    return text.count('"') % 2 == 0 and text.count("“") == text.count("”")


def quoted_sentences(document: Document) -> list[bool]:
    """Per sentence: whether it starts inside a quotation opened by an earlier sentence."""
    result: list[bool] = []
    inside = False
    for i, sentence in enumerate(document.sentences):
        if i and "\n" in document.text[document.sentences[i - 1].end : sentence.start]:
            inside = False
        result.append(inside)
        inside = ends_inside_quote(sentence.text, inside)
    return result


# -- document structure: paragraphs, quotations and who is speaking ------------


@dataclass
class Structure:
    """Per sentence of one document: its paragraph, quotation unit and speaker ("" if none)."""

    paragraph: list[int]
    unit: list[int]
    speaker: list[str]
    # The attribution's own words ("Russell Zimmerman, executive director of ..."), which
    # often name the speaker's organisation when the question uses that instead.
    context: list[str]


def ends_inside_quote(text: str, inside: bool) -> bool:
    """Whether a quotation is still open after ``text``, given whether one was open before."""
    for char in text:
        if char == "“":
            inside = True
        elif char == "”":
            inside = False
        elif char == '"':
            inside = not inside
    return inside


def clean_name(name: str) -> str:
    words = re.sub(r"[’']s\b|[.,]$", "", name).split()
    while words and words[0].lower().strip(",.") in NOT_NAMES:
        words = words[1:]
    return " ".join(words)


def attributed_name(text: str) -> str:
    """The speaker an attribution names: "X said", "said X", "according to X", "X ...: "..."."""
    outside = outside_quotes(text)
    if PRONOUN_ATTRIBUTION.search(outside):
        return ""
    for pattern in (AFFILIATED_SPEAKER, NAME_BEFORE_VERB, VERB_BEFORE_NAME):
        for match in pattern.finditer(outside):
            name = clean_name(match.group(1))
            if name and name.lower() not in STOPWORDS:
                return name
    colon = COLON_QUOTE.search(text)
    if colon:
        return clean_name(colon.group(1))
    if re.search(rf"\b(?:{ATTRIBUTION_VERBS})\b", outside):
        for match in re.finditer(NAME, outside):
            name = clean_name(match.group())
            if name:
                return name
    return ""


@lru_cache(maxsize=256)
def document_structure(document: Document) -> Structure:
    """Per-sentence structure; cached because every question re-reads its documents.

    Callers must treat the result as read-only.
    """
    sentences = document.sentences
    paragraph: list[int] = []
    current = 0
    for i, sentence in enumerate(sentences):
        if i and "\n" in document.text[sentences[i - 1].end : sentence.start]:
            current += 1
        paragraph.append(current)
    # A sentence that opens inside a quotation ("... so far," Musk told the press) is
    # read with its opening mark restored, so the attribution after it is not taken
    # for quoted text.
    opened = quoted_sentences(document)
    speaker = [
        attributed_name('"' + s.text if opened[i] and s.text[:1] not in QUOTE_CHARS else s.text)
        for i, s in enumerate(sentences)
    ]
    context = [outside_quotes(s.text) if speaker[i] else "" for i, s in enumerate(sentences)]
    for i, sentence in enumerate(sentences):
        # "He said ..." speaks for whoever the previous sentence quoted or named first.
        if not speaker[i] and i and PRONOUN_ATTRIBUTION.search(outside_quotes(sentence.text)):
            previous = sentences[i - 1].text
            names = [clean_name(m.group()) for m in re.finditer(NAME, outside_quotes(previous))]
            speaker[i] = speaker[i - 1] or next((n for n in names if n), "")
            context[i] = context[i - 1] or speaker[i]
    unit = [0] * len(sentences)
    inside = False
    for i in range(1, len(sentences)):
        text, before = sentences[i].text, sentences[i - 1].text
        inside = ends_inside_quote(
            before, inside if paragraph[i - 1] == paragraph[i - 2] else False
        )
        same = paragraph[i] == paragraph[i - 1]
        has_quote = any(char in text for char in QUOTE_CHARS)
        linked = (
            same
            and (
                inside
                # A quotation carried on in the next sentence of the paragraph.
                or (text.lstrip()[:1] in QUOTE_CHARS and not speaker[i] and bool(speaker[i - 1]))
                # A quotation whose speaker is named only after it closes.
                or (
                    not has_quote
                    and bool(speaker[i])
                    and not speaker[i - 1]
                    and any(char in before for char in QUOTE_CHARS)
                )
            )
        )
        unit[i] = unit[i - 1] if linked else unit[i - 1] + 1
    for group in set(unit):
        members = [i for i in range(len(sentences)) if unit[i] == group]
        first = next((i for i in members if speaker[i]), None)
        if first is not None:
            for i in members:
                speaker[i] = speaker[i] or speaker[first]
                context[i] = context[i] or context[first]
    return Structure(paragraph, unit, speaker, context)


# -- matching words by meaning: inflection, spelling, derivation and synonyms ---
#
# ``lemma`` is the Snowball stem (qa.text.words.stem) with the engine's delta on top:
# British -ise spellings, irregular forms and a few news synonyms folded to one key.

# Irregular forms of common news verbs and nouns, to their base.
IRREGULAR = dict(
    pair.split(":")
    for pair in """
    died:die dying:die dies:die met:meet bought:buy sold:sell paid:pay spent:spend
    held:hold brought:bring sought:seek flew:fly flown:fly rose:rise risen:rise fell:fall
    fallen:fall grew:grow grown:grow began:begin begun:begin knew:know known:know
    wrote:write written:write spoke:speak spoken:speak chose:choose chosen:choose led:lead
    built:build sent:send kept:keep thought:think caught:catch fought:fight ran:run
    won:win lost:lose struck:strike sank:sink sunk:sink hid:hide hidden:hide shot:shoot
    stole:steal stolen:steal forgave:forgive drove:drive driven:drive fled:flee
    withdrew:withdraw withdrawn:withdraw people:person persons:person children:child
    women:woman men:man lives:life wives:wife analyses:analysis crises:crisis bodies:body
    casualties:casualty news:news""".split()
)
# Words that mean the same in news reporting, each to one concept key.  General
# English vocabulary only: what a reporter writes for what a reader asks.
SYNONYM_GROUPS = (
    "die dead death kill fatal fatality perish",
    "injure injury wound hurt",
    "blame attribute ascribe",
    "buy acquire acquisition purchase buyer purchaser",
    "sell seller sale",
    "back support second endorse",
    "increase rise grow growth surge climb soar jump",
    "decrease decline fall drop plunge slump shrink",
    "suspend halt",
    "ease alleviate relieve mitigate",
    "begin start launch commence",
    "conduct execute perform",
    "penalty sanction punish punishment fine",
    "criticize criticism critic",
    "fear concern worry",
    "ban prohibit forbid",
    "arrest detain",
    "rescue save",
    "survive survivor",
    "agree agreement",
    "meet meeting",
    "cause reason",
    "find finding",
    "person individual",
    "vaccinate vaccine vaccination immunize immunization inoculate",
)
# Each synonym by its written form and by its stem ("injuries" stems to "injuri").
CONCEPT = {
    key: group.split()[0]
    for group in SYNONYM_GROUPS
    for word in group.split()
    for key in (word, stem(word))
}
# Multi-word paraphrases, read as one word before matching.
PHRASES = (
    (re.compile(r"\blos(?:t|e|es|ing)\s+(?:their|his|her|its)\s+li(?:fe|ves)\b", re.I), "die"),
    (re.compile(r"\bcarr(?:y|ies|ied|ying)\s+out\b", re.I), "conduct"),
    (re.compile(r"\bcall(?:s|ed|ing)?\s+off\b", re.I), "suspend"),
    (re.compile(r"\btak(?:e|es|en|ing)\s+over\b|\btook\s+over\b", re.I), "acquire"),
)


@lru_cache(maxsize=1 << 17)
def lemma(word: str) -> str:
    """A word's matching key: base form, US spelling, derivation and synonyms folded.

    "hospitalisations" and "hospitalized", "fires" and "fire", "died" and
    "deaths" get one key each; unlike :func:`stem` the trailing "e" always goes.
    """
    word = word.lower().replace("’", "'").strip("'.-")
    word = word.removesuffix("'s")
    if word in IRREGULAR:
        # Already a base form: "news" must not lose its "s".
        base = IRREGULAR[word]
    else:
        # British -ise/-isation spellings fold into -ize/-ization.
        if len(word) > 6:
            word = re.sub(r"is(e|ed|es|ing|ation|ations)$", r"iz\1", word)
        base = stem(word)
        base = IRREGULAR.get(base, base)
    for candidate in (word, base, base + "e", base.removesuffix("e")):
        if candidate in CONCEPT:
            return CONCEPT[candidate]
    return base.removesuffix("e") if len(base) > 3 else base


def sentence_terms(text: str) -> frozenset[str]:
    """``match_terms`` of a stored sentence, cached: each question's evidence compares its
    terms with the same sentences again and again."""
    return frozenset(match_terms(text))


def match_terms(text: str) -> set[str]:
    """The lemmas of ``text``'s content words, multi-word paraphrases included."""
    keys: set[str] = set()
    for pattern, key in PHRASES:
        if pattern.search(text):
            keys.add(key)
            text = pattern.sub(" ", text)
    for word in WORD_PATTERN.findall(text):
        if word.lower().replace("’", "'") not in STOPWORDS and len(word) > 1:
            keys.add(lemma(word))
    return keys


# "the statues, or moai,", "Rapa Nui, also called Easter Island": a name the text gives
# for the same thing.
ALIAS_PATTERN = re.compile(
    r"\b([\w'’-]+),?\s+(?:or|also called|also known as|known as|aka)\s+([\w'’-]+)(?=\s*[,)])"
)


def document_aliases(documents: Iterable[Document]) -> dict[str, set[str]]:
    """Word lemmas the documents declare equivalent by apposition ("X, or Y,"), both ways."""
    aliases: dict[str, set[str]] = {}
    for document in documents:
        for match in ALIAS_PATTERN.finditer(document.text):
            a, b = lemma(match.group(1)), lemma(match.group(2))
            if a != b and a not in STOPWORDS and b not in STOPWORDS:
                aliases.setdefault(a, set()).add(b)
                aliases.setdefault(b, set()).add(a)
    return aliases


# ---- text addressed to a model, not to a reader: prompt injection ------------------


def is_instruction(text: str) -> bool:
    """Whether a sentence is written to a language model rather than to a news reader.

    The list of what counts is :data:`qa.text.injection.MARKERS` ("Note to AI
    models:", "Assistant:", "ignore ... instructions", "you must answer", qa's own
    abstention sentence, ...). Such a sentence reports nothing, so the offline
    engine neither quotes nor weighs it; the stored text keeps it. An
    instruction that the article quotes as news is not matched.
    """
    return is_injected(text)


def without_instructions(document: Document) -> tuple[Document, tuple[int, ...]]:
    """``document`` as the engine reads it: without the sentences :func:`is_instruction`
    finds, citation look-alikes defused; and the kept indices.

    The kept sentences are renumbered from 0 (the second value maps a new index
    back to the stored one) and the dropped ones are blanked in the text, with
    their line breaks kept, so character offsets, paragraph breaks and
    whole-text searches all see the article as if the instructions were never
    there. "[3]" and "(doc 1a2b..., sentence 3)" in the text are written in
    full-width brackets (:func:`qa.text.markers.defuse_markers`, one character
    for one), so no answer or summary built from the view repeats them in the
    form qa uses for its own citations. The document itself is returned when
    nothing changes.
    """
    kept = tuple(s.index for s in document.sentences if not is_instruction(s.text))
    text = defuse_markers(document.text)
    if len(kept) == len(document.sentences) and text == document.text:
        return document, kept
    chars = list(text)
    keep = set(kept)
    for sentence in document.sentences:
        if sentence.index not in keep:
            for position in range(sentence.start, sentence.end):
                if chars[position] != "\n":
                    chars[position] = " "
    view = "".join(chars)
    sentences = tuple(
        replace(
            document.sentences[old],
            index=new,
            text=view[document.sentences[old].start : document.sentences[old].end],
        )
        for new, old in enumerate(kept)
    )
    return replace(document, text=view, sentences=sentences), kept
