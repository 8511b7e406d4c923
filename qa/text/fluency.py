"""Whether a summary sentence reads as a sentence: the structural checks of issue 16.

A summary built from excerpts can go wrong in ways a reader sees at once and no
coverage score counts: a reporting frame kept without what was said ("The prime
minister, Boris Johnson, tweeted."), a clause cut off at a preposition, a
headline-style line with no verb, a clause that opens with "and" or in lower case,
a "he said" whose "he" the summary never named. :func:`sentence_problems` names
each such problem of one sentence; :func:`claim_problems` checks a claim whose
clauses a semicolon joins, clause by clause. The offline summariser keeps only
excerpts without problems, the LLM backend flags summary sentences with any, and
the eval counts them (``summary_fragments``).

Parts of speech come from the Brill-style tagger that TextBlob ships (Pattern's
English lexicon, context rules and suffix rules, bundled in the wheel: nothing is
downloaded, ~0.1 ms a sentence). It was chosen over word lists alone because "no
finite verb" and "a reporting verb with nothing said after it" need to tell
"attack"/"attacks" the noun from the verb, which no list can;
``tests/text/test_fluency.py`` holds the labelled sentences it is measured on.

The tagger is loaded from TextBlob's own files without importing the ``textblob``
package, whose ``__init__`` imports NLTK (~0.5-0.85 s of every cold ``qa
summarize``) for features this check does not use: the same code and data give the
same tags (checked on the 1,768 sentences of ``eval/``'s articles and three SQuAD
articles, and by ``tests/text/test_fluency.py``), in ~0.03 s plus ~0.2 s to read the
lexicon once.

Not handled: whether two clauses joined by a semicolon belong together (the
summariser decides that from the source), pronouns that are not the first word or
the subject of an attribution, and errors of the tagger (it reads some "-ed"
words after a bare demonstrative as participles; such a word still counts as the
finite verb when nothing else in the sentence is one).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

Problem = Literal[
    "reporting frame without content",
    "ends on a function word",
    "no finite verb",
    "starts with a conjunction",
    "starts lower-case",
    "dangling pronoun",
]

# Verbs of saying that need what was said after them (a clause, a quotation, "that ..."):
# "X said about Amman." and "X told the press on Thursday." say nothing. Verbs that take
# their content as an object ("confirmed the deal", "claimed responsibility") are not here.
SAYING_VERBS = frozenset(
    """say says said saying tell tells told tweet tweets tweeted write writes wrote add adds
    added state states stated remark remarks remarked comment comments commented explain
    explains explained note notes noted reply replies replied respond responds responded
    speak speaks spoke argue argues argued insist insists insisted post posts posted
    elaborate elaborates elaborated""".split()
)
# Words that start the content of a verb of saying: "said that ...", "asked whether ...".
CONTENT_OPENERS = frozenset("that whether if how what why who when where which".split())
# Words a sentence cannot end on: prepositions that are not also verb particles ("called
# off", "set up" may end a sentence; "said about" may not), articles and conjunctions.
DANGLING_ENDS = frozenset(
    """of about to for with from at by into onto than via during between among against toward
    towards upon despite including regarding amid without per the a an and or but nor
    whether that""".split()
)
# Coordinating conjunctions: a sentence that opens with one continues a sentence the
# summary does not have.
OPENING_CONJUNCTIONS = frozenset("and but or nor yet so".split())
# Subordinators: a sentence that opens with one needs a main clause after it.
SUBORDINATORS = frozenset("although though while whereas because since unless if".split())
# Personal pronouns and possessives that refer back: as the first word of a sentence
# (or the subject of its attribution) they need an antecedent in the sentence before.
PERSON_PRONOUNS = frozenset("he she him his her".split())
GROUP_PRONOUNS = frozenset("they them their".split())
THING_PRONOUNS = frozenset("it its".split())
# Demonstratives that refer back when they stand alone ("This revised the toll"), not when
# they determine a noun ("This week saw ...").
DEMONSTRATIVES = frozenset("this these those".split())
FINITE_TAGS = frozenset("VBD VBZ VBP MD".split())
NOUN_TAGS = frozenset("NN NNS NNP NNPS PRP CD".split())
# Tags after which a base-form verb is not finite ("to raise", "will raise", "did not say").
NON_FINITE_BEFORE = frozenset("TO MD".split())
DO_FORMS = frozenset("do does did don't doesn't didn't".split())
ARTICLES = frozenset("the a an".split())
# Forms of "be", "have" and "get" before a participle: "was killed", "has died".
AUXILIARIES = frozenset(
    "be is are was were been being am have has had having get gets got getting 's 're".split()
)

_ASCII_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "—": " - ", "–": " - "})
_QUOTED = re.compile(r'"[^"]*"?')
_CLAUSE_BREAK = re.compile(r";\s+")

Tagged = tuple[tuple[str, str], ...]


@lru_cache(maxsize=1)
def _parser() -> Any:
    """TextBlob's English parser (Pattern's), built as ``textblob.en`` builds it, from the
    installed package's ``_text.py`` and ``en/`` data files, without running
    ``textblob/__init__.py`` (which imports NLTK). Loaded on first use: only summaries
    need it."""
    spec = importlib.util.find_spec("textblob")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("textblob is not installed (pip install textblob)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    text_spec = importlib.util.spec_from_file_location("_qa_pattern_text", folder / "_text.py")
    if text_spec is None or text_spec.loader is None:
        raise ModuleNotFoundError(f"textblob's tagger code is missing from {folder}")
    pattern = importlib.util.module_from_spec(text_spec)
    text_spec.loader.exec_module(pattern)
    data = folder / "en"
    lexicon = pattern.Lexicon(
        path=str(data / "en-lexicon.txt"),
        morphology=str(data / "en-morphology.txt"),
        context=str(data / "en-context.txt"),
        entities=str(data / "en-entities.txt"),
        language="en",
    )
    return pattern.Parser(lexicon=lexicon, default=("NN", "NNP", "CD"), language="en")


def _penn(token: str, pos: str) -> tuple[str, str]:
    return token, pos


@lru_cache(maxsize=1 << 14)
def tag(text: str) -> Tagged:
    """``text``'s tokens with Penn Treebank tags (curly quotes read as straight ones).

    What ``textblob.en.tag`` returns: tokenised, tagged, no chunks or lemmata.
    """
    plain = text.translate(_ASCII_QUOTES)
    parsed = _parser().parse(plain, True, True, False, False, False, "utf-8", map=_penn)
    return tuple((token[0], token[1]) for sentence in parsed.split() for token in sentence)


def _words(tagged: Tagged) -> list[tuple[str, str]]:
    return [(word, pos) for word, pos in tagged if re.search(r"\w", word)]


def _finite_positions(tagged: Tagged) -> list[int]:
    """Indices of the finite verbs among ``tagged``'s words."""
    words = _words(tagged)
    found: list[int] = []
    for i, (word, pos) in enumerate(words):
        before = words[i - 1] if i else ("", "")
        if pos in FINITE_TAGS:
            found.append(i)
        elif (
            pos == "VB"
            and before[1] not in NON_FINITE_BEFORE
            and before[0].lower() not in (DO_FORMS | AUXILIARIES | {"not", "n't", "t"})
        ):
            # The tagger gives some present-tense verbs the base tag ("Retailers try ...").
            found.append(i)
        elif (pos == "VBN" or (pos == "JJ" and word.lower().endswith("ed"))) and _past_verb(
            words, i
        ):
            found.append(i)
    return found


def _past_verb(words: Sequence[tuple[str, str]], i: int) -> bool:
    """Whether an "-ed" word the tagger read as a participle or adjective is the verb.

    The tagger reads many simple past verbs so ("the capsule docked", "Woolworths also
    limited purchases", "This revised the toll"). With no auxiliary before it, one
    that follows its subject (a noun, pronoun or bare demonstrative, an adverb
    allowed between) is the verb; an adjective must also have an object after it.
    """
    if any(word.lower() in AUXILIARIES for word, _ in words[max(0, i - 3) : i]):
        return False
    j = i - 1
    while j >= 0 and words[j][1] == "RB":
        j -= 1
    if j < 0:
        return False
    word, pos = words[j]
    subject = pos in NOUN_TAGS or (pos in ("DT", "WDT", "WP") and word.lower() not in ARTICLES)
    if not subject:
        return False
    if words[i][1] == "JJ":
        following = words[i + 1][1] if i + 1 < len(words) else ""
        return following in NOUN_TAGS | {"DT", "PRP$", "JJ"}
    return True


def _outside_quotes(text: str) -> str:
    return _QUOTED.sub(" ", text.translate(_ASCII_QUOTES))


def _has_quote(text: str) -> bool:
    return '"' in text.translate(_ASCII_QUOTES)


def sentence_problems(sentence: str, previous: str | None = None) -> list[Problem]:
    """What keeps ``sentence`` from reading as a sentence of a summary, if anything.

    ``previous`` is the summary sentence before it (None for the first): a
    pronoun that opens ``sentence`` needs its antecedent there.
    """
    text = sentence.strip()
    if not text:
        return ["no finite verb"]
    problems: list[Problem] = []
    tagged = tag(text)
    words = _words(tagged)
    if not words:
        return ["no finite verb"]
    finite = _finite_positions(tagged)
    if not finite:
        problems.append("no finite verb")
    elif _frame_without_content(text, words, finite):
        problems.append("reporting frame without content")
    last = words[-1][0].lower()
    if last in DANGLING_ENDS and not text.rstrip().endswith(('"', "”")):
        problems.append("ends on a function word")
    first = words[0][0]
    opener = first.lower()
    # "Although the fire was put out." has no main clause; "Although ..., X did Y." has.
    # "Since then, X did Y." opens with a phrase, not a clause: no verb before its comma.
    if opener in OPENING_CONJUNCTIONS or (
        opener in SUBORDINATORS and len(finite) < 2 and not _opening_phrase(text)
    ):
        problems.append("starts with a conjunction")
    if _starts_lower(text, first):
        problems.append("starts lower-case")
    if _dangling_pronoun(text, words, previous):
        problems.append("dangling pronoun")
    return problems


def _opening_phrase(text: str) -> bool:
    """Whether a comma closes the opening words before any finite verb ("Since 2015, ...")."""
    head, comma, _ = _outside_quotes(text).partition(",")
    return bool(comma) and not _finite_positions(tag(head))


def claim_problems(claim: str, previous: str | None = None) -> list[Problem]:
    """:func:`sentence_problems` of each clause a semicolon joins (outside quotation marks).

    A later clause may open in lower case (it continues the claim); each clause's
    pronouns may refer to the clause before it.
    """
    problems: list[Problem] = []
    before = previous
    for number, clause in enumerate(split_clauses(claim)):
        found = sentence_problems(clause, before)
        if number:
            found = [p for p in found if p != "starts lower-case"]
        problems.extend(p for p in found if p not in problems)
        before = clause
    return problems


def split_clauses(claim: str) -> list[str]:
    """``claim`` split at semicolons that stand outside quotation marks."""
    plain = claim.translate(_ASCII_QUOTES)
    inside = False
    cuts: list[int] = []
    for i, char in enumerate(plain):
        if char == '"':
            inside = not inside
        elif char == ";" and not inside and _CLAUSE_BREAK.match(plain, i):
            cuts.append(i)
    if not cuts:
        return [claim]
    parts: list[str] = []
    start = 0
    for cut in cuts:
        parts.append(claim[start:cut].strip() + ".")
        start = cut + 1
    parts.append(claim[start:].strip())
    return [part for part in parts if part.strip(". ")]


def _frame_without_content(text: str, words: Sequence[tuple[str, str]], finite: list[int]) -> bool:
    """A verb of saying is the only finite verb, and nothing said follows or precedes it.

    "X said about Amman." and "X tweeted." are frames; "X said the talks failed",
    "X said that ...", 'X said: "..."' and "The talks failed, X said." are not.
    """
    if _has_quote(text):
        return False
    saying = [i for i in finite if words[i][0].lower() in SAYING_VERBS]
    if not saying or len(saying) != len(finite):
        return False
    after = [word.lower() for word, _ in words[saying[-1] + 1 :]]
    if any(word in CONTENT_OPENERS for word in after):
        return False
    # "to" + verb after a verb of saying is content too ("told them to leave").
    return not any(
        words[j][1] == "TO" and j + 1 < len(words) and words[j + 1][1] == "VB"
        for j in range(saying[-1] + 1, len(words))
    )


def _starts_lower(text: str, first: str) -> bool:
    opening = text.lstrip("\"'“‘([ ")[:1]
    if not opening.isalpha() or not opening.islower():
        return False
    # "al-Muhandis", "eBay", "iPhone": names written with a lower-case first letter.
    return not re.match(r"[a-z]+-[A-Z]|[a-z]+[A-Z]", first)


def _dangling_pronoun(text: str, words: Sequence[tuple[str, str]], previous: str | None) -> bool:
    """A pronoun that refers back to someone or something the sentence has not named.

    "It"/"its" and bare demonstratives count as the first word only (a later "it"
    is often "it was intimated"); "he", "she", "they" and their possessives count
    wherever the sentence uses them first outside quotation marks, unless a name
    (for "they", also a plural noun) comes before them in the sentence.
    """
    first = words[0][0].lower()
    second_tag = words[1][1] if len(words) > 1 else ""
    pronoun = ""
    if first in THING_PRONOUNS or (
        first in DEMONSTRATIVES and not second_tag.startswith(("NN", "JJ", "CD"))
    ):
        pronoun = first
    else:
        outside = _words(tag(_outside_quotes(text))) if _has_quote(text) else list(words)
        for i, (word, _) in enumerate(outside):
            lowered = word.lower()
            if lowered not in PERSON_PRONOUNS | GROUP_PRONOUNS:
                continue
            earlier = {pos for _, pos in outside[:i]}
            names = {"NNP", "NNPS"} | ({"NNS"} if lowered in GROUP_PRONOUNS else set())
            if not earlier & names:
                pronoun = lowered
            break
    if not pronoun:
        return False
    if previous is None:
        return True
    tags = {pos for _, pos in _words(tag(previous.strip()))}
    if pronoun in PERSON_PRONOUNS:
        return not tags & {"NNP", "NNPS"}
    if pronoun in GROUP_PRONOUNS:
        return not tags & {"NNS", "NNP", "NNPS"}
    if pronoun in THING_PRONOUNS:
        return not tags & {"NN", "NNS", "NNP", "NNPS"}
    return False
