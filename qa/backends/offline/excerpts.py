"""Excerpts of one sentence that still read as sentences: the summariser's units.

Each sentence competes in several forms, every one made only of the sentence's
own words in order: whole; with unquoted side clauses dropped (non-restrictive
", who ...," clauses, paired-dash asides, parentheses, trailing ", urging ..."
participles and ", which ..." clauses, "what he called the X" tails, the
description between a speaker's name and verb); each clause of a sentence whose
clauses a semicolon joins; and the main clause before ", but ...", ", while ...",
", and <new subject> ..." or a colon. Words inside quotation marks are never
touched, and no form leaves a quotation open. Whether a form still reads as a
sentence (a colon cut can leave "X said about Amman.") is checked afterwards by
:mod:`qa.text.fluency`; forms that fail are not offered to a reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.backends.offline.discourse import (
    ATTRIBUTION_VERBS,
    RELATIVE_CLAUSE,
    REPORTED_WORDING,
    TRAILING_PARTICIPLE,
    balanced_quotes,
    outside_quotes,
)


@dataclass(frozen=True)
class ExcerptKnobs:
    """The two numbers that decide which shorter forms of a sentence are offered."""

    # Past this many words a sentence also competes with its relative clauses dropped.
    long_sentence: int = 24
    # A clause cut from a sentence must keep at least this many words to say something.
    min_clause: int = 6


EXCERPT_KNOBS = ExcerptKnobs()

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
# " — the supreme court on matters of EU law — ": an aside between paired dashes.
DASH_ASIDE = re.compile(r"\s+[—–]\s+[^—–]{3,140}?\s+[—–](?=\s)")
# ", executive director of the Retailers Association," between a name and its verb.
APPOSITIVE = re.compile(
    rf"[A-Z][\w’'.-]+ [A-Z][\w’'.-]+(,\s+[a-z][^,“”\"]{{2,90}},)(?=\s+(?:\w+\s+)?"
    rf"(?:{ATTRIBUTION_VERBS})\b)"
)
# ", whose US-built vehicle was used ..." ending a sentence: an aside, as mid-sentence.
TRAILING_RELATIVE = re.compile(r",\s+(?:who|which|whose)\b[^,“”\"]*(?=[.!?]$)")
# What opens an appositive right after a relative clause's comma (", the then chair").
APPOSITION_NEXT = re.compile(r"(?:the|a|an)\b")
# Semicolons, and full stops the sentence splitter missed ("... out of stock. Kimberly-Clark").
CLAUSE_SPLIT = re.compile(r";\s+|(?<=\b[a-z]{3})\.\s+(?=[A-Z])")
# What opens a clause with its own subject after ", and": "the ...", "he ...", "Coles ...".
NEW_SUBJECT = re.compile(
    r"(?:the|a|an|its|his|her|their|this|these|those|he|she|it|they|we|[A-Z]\w*)\s+\w+"
)
# Where a second clause starts that the first does not need.
# A colon too: what it introduces elaborates a statement that stands on its own.
CONTRAST = re.compile(
    r",\s+(but|though|although|while|whereas|and)\s+(?=[\w“\"])|(:)\s+(?=[\w“\"])"
)
# "In a statement following the attack, " before a capitalised subject: the setting of a
# statement, which the statement does not need ("On Monday, " is not here: dates are news).
LEADING_SETTING = re.compile(
    r"^(?:In (?:a|an|his|her|its|their|the) (?:statement|message|interview|letter|post|tweet"
    r"|speech|report|ruling|press release)|Speaking (?:to|with|at|on)|Commenting on"
    r"|Following|After|Asked about)\b[^,“”\"]{0,80},\s+(?=[A-Z])"
)
# A parenthesis of up to 120 characters: an aside, unless it gives a short alias.
PARENTHESES = re.compile(r"\s*\([^()]{1,120}\)")


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
    for form in list(forms):
        forms += _without_setting(form)
    # A quotation left open would run on, for a reader, into the claims after it.
    return [form for form in dict.fromkeys(forms) if balanced_quotes(form)]


def _without_setting(text: str) -> list[str]:
    """The sentence without an opening phrase that only sets the scene, when a name follows:
    "In his statement, Israeli Prime Minister Benjamin Netanyahu found ..." -> "Israeli ..."."""
    match = LEADING_SETTING.match(text)
    if not match or not balanced_quotes(text[: match.end()]):
        return []
    rest = text[match.end() :]
    return [rest] if len(rest.split()) >= EXCERPT_KNOBS.min_clause else []


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
            and len(head.split()) >= EXCERPT_KNOBS.min_clause
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
        if len(part.split()) >= EXCERPT_KNOBS.min_clause and balanced_quotes(part):
            parts.append(part[:1].upper() + part[1:] + ".")
    return parts


def neutralise(text: str) -> str:
    """Drop unquoted non-restrictive relative clauses, the usual seat of editorial colour.

    Also drop "to correct what he called the X" tails: reported wording without
    quote marks, which would otherwise read as the summary's own description.
    """
    trimmed = text
    if len(text.split()) > EXCERPT_KNOBS.long_sentence:
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
