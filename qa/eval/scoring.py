"""Per-item scoring: one answer or summary against its gold facts, citations checked.

Everything here is deterministic and needs no LLM judge: a gold fact counts as
conveyed when it matches the normalised text (:func:`qa.eval.match.fact_found`),
and citations are checked against the stored sentence spans.

Not handled, on purpose: paraphrases that reorder or replace a fact's content
words (an answer saying "the cabinet voted unanimously" for the gold fact
"cabinet unanimously voted" is scored as missing it), synonyms, and negation
or attribution errors around a correctly copied fact.  The scorer errs on the
side of missing a fact rather than crediting one that was not conveyed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qa.errors import QAError
from qa.eval.dataset import (
    GoldQuestion,
    SummaryGold,
)
from qa.eval.match import (
    fact_found,
    leaked_terms,
    normalise,
    party_aliases,
    phrase_found,
    strip_citation_marks,
)
from qa.text.fluency import claim_problems, split_clauses
from qa.types import Answer, Citation, Document, Summary

if TYPE_CHECKING:
    pass


@dataclass
class QuestionResult:
    """One question of one run, scored; ``error`` is set when asking raised."""

    run: int
    gold: GoldQuestion
    answer: str = ""
    abstained: bool = False
    citations: list[Citation] = field(default_factory=list)
    invalid_citations: list[str] = field(default_factory=list)
    dangling_refs: list[str] = field(default_factory=list)
    dropped_citations: list[str] = field(default_factory=list)
    found_facts: list[str] = field(default_factory=list)
    supported_facts: list[str] = field(default_factory=list)
    retrieved_facts: list[str] = field(default_factory=list)
    # The article's loaded terms (summary gold) checked, and those the answer used unquoted.
    loaded_terms: list[str] = field(default_factory=list)
    leaked_terms: list[str] = field(default_factory=list)
    words: int = 0
    latency_s: float = math.nan
    tokens: int = 0
    llm_calls: int = 0
    error: str = ""

    @property
    def missing_facts(self) -> list[str]:
        return [fact for fact in self.gold.gold_facts if fact not in self.found_facts]

    @property
    def unsupported_facts(self) -> list[str]:
        return [fact for fact in self.found_facts if fact not in self.supported_facts]

    @property
    def recall(self) -> float:
        facts = self.gold.gold_facts
        return len(self.found_facts) / len(facts) if facts else math.nan

    @property
    def reasons(self) -> list[str]:
        reasons: list[str] = []
        if self.error:
            reasons.append(f"error: {self.error}")
        elif self.gold.answerable:
            if self.abstained:
                reasons.append("abstained on an answerable question")
            if self.missing_facts:
                not_retrieved = [f for f in self.missing_facts if f not in self.retrieved_facts]
                where = (
                    f"{len(not_retrieved)} of them not retrieved"
                    if not_retrieved
                    else "all retrieved"
                )
                reasons.append(
                    f"missing {len(self.missing_facts)} of {len(self.gold.gold_facts)} facts"
                    f" ({where})"
                )
            if self.unsupported_facts:
                reasons.append(f"{len(self.unsupported_facts)} facts not in any cited sentence")
        elif not self.abstained:
            reasons.append("did not abstain on an unanswerable question")
        if self.leaked_terms:
            reasons.append(f"loaded terms outside quotes: {', '.join(self.leaked_terms)}")
        bad = len(self.invalid_citations) + len(self.dangling_refs)
        if bad:
            reasons.append(f"{bad} invalid citations")
        return reasons

    @property
    def failed(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "id": self.gold.id,
            "article": self.gold.article,
            "question": self.gold.question,
            "answerable": self.gold.answerable,
            "kind": self.gold.kind,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [_citation_dict(c) for c in self.citations],
            "invalid_citations": list(self.invalid_citations) + list(self.dangling_refs),
            "dropped_citations": list(self.dropped_citations),
            "found_facts": list(self.found_facts),
            "missing_facts": self.missing_facts,
            "unsupported_facts": self.unsupported_facts,
            "retrieved_facts": list(self.retrieved_facts),
            "leaked_terms": list(self.leaked_terms),
            "words": self.words,
            "latency_s": json_number(round(self.latency_s, 4)),
            "tokens": self.tokens,
            "error": self.error,
            "reasons": self.reasons,
        }


@dataclass
class SummaryResult:
    """The summary of one article in one run, scored."""

    run: int
    gold: SummaryGold
    text: str = ""
    sentences: int = 0
    cited_sentences: int = 0
    citations: list[Citation] = field(default_factory=list)
    invalid_citations: list[str] = field(default_factory=list)
    dangling_refs: list[str] = field(default_factory=list)
    dropped_citations: list[str] = field(default_factory=list)
    found_key_facts: list[str] = field(default_factory=list)
    found_parties: list[str] = field(default_factory=list)
    leaked_terms: list[str] = field(default_factory=list)
    # One line per summary sentence that does not read as a sentence: "text (problems)".
    fragments: list[str] = field(default_factory=list)
    words: int = 0
    latency_s: float = math.nan
    tokens: int = 0
    llm_calls: int = 0
    error: str = ""

    @property
    def missing_key_facts(self) -> list[str]:
        return [fact for fact in self.gold.key_facts if fact not in self.found_key_facts]

    @property
    def missing_parties(self) -> list[str]:
        return [party for party in self.gold.parties if party not in self.found_parties]

    @property
    def reasons(self) -> list[str]:
        reasons: list[str] = []
        if self.error:
            return [f"error: {self.error}"]
        if self.missing_key_facts:
            reasons.append(
                f"missing {len(self.missing_key_facts)} of {len(self.gold.key_facts)} key facts"
            )
        if self.missing_parties:
            reasons.append(
                f"missing {len(self.missing_parties)} of {len(self.gold.parties)} parties"
            )
        if self.leaked_terms:
            reasons.append(f"loaded terms outside quotes: {', '.join(self.leaked_terms)}")
        if self.fragments:
            reasons.append(f"{len(self.fragments)} sentences that do not read as sentences")
        if self.cited_sentences < self.sentences:
            reasons.append(
                f"{self.sentences - self.cited_sentences} sentences without a valid citation"
            )
        bad = len(self.invalid_citations) + len(self.dangling_refs)
        if bad:
            reasons.append(f"{bad} invalid citations")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "article": self.gold.article,
            "summary": self.text,
            "sentences": self.sentences,
            "cited_sentences": self.cited_sentences,
            "citations": [_citation_dict(c) for c in self.citations],
            "invalid_citations": list(self.invalid_citations) + list(self.dangling_refs),
            "dropped_citations": list(self.dropped_citations),
            "found_key_facts": list(self.found_key_facts),
            "missing_key_facts": self.missing_key_facts,
            "found_parties": list(self.found_parties),
            "missing_parties": self.missing_parties,
            "leaked_terms": list(self.leaked_terms),
            "fragments": list(self.fragments),
            "words": self.words,
            "latency_s": json_number(round(self.latency_s, 4)),
            "tokens": self.tokens,
            "error": self.error,
            "reasons": self.reasons,
        }


def _citation_dict(citation: Citation) -> dict[str, Any]:
    return {
        "number": citation.number,
        "doc_id": citation.doc_id,
        "sentence_index": citation.sentence_index,
        "start": citation.start,
        "end": citation.end,
        "quote": citation.quote,
    }


def json_number(value: float) -> float | None:
    """JSON has no NaN: an undefined metric is written as null, never dropped."""
    return None if math.isnan(value) else value


class CitationChecker:
    """Checks citations against the store, the one owner of sentence spans."""

    def __init__(self, get_document: Callable[[str], Document]) -> None:
        self._get_document = get_document
        self._documents: dict[str, Document | None] = {}

    def document(self, doc_id: str) -> Document | None:
        if doc_id not in self._documents:
            try:
                self._documents[doc_id] = self._get_document(doc_id)
            except QAError:
                self._documents[doc_id] = None
        return self._documents[doc_id]

    def problem(self, citation: Citation) -> str | None:
        """Why ``citation`` is not a stored sentence, or None when it is one."""
        label = f"[{citation.number}]"
        document = self.document(citation.doc_id)
        if document is None:
            return f"{label} unknown document {citation.doc_id!r}"
        if not 0 <= citation.sentence_index < len(document.sentences):
            return (
                f"{label} sentence {citation.sentence_index} out of range"
                f" ({len(document.sentences)} sentences in {citation.doc_id})"
            )
        sentence = document.sentences[citation.sentence_index]
        if (citation.start, citation.end) != (sentence.start, sentence.end):
            return (
                f"{label} span {citation.start}-{citation.end} is not sentence"
                f" {citation.sentence_index} ({sentence.start}-{sentence.end})"
            )
        if document.text[citation.start : citation.end] != citation.quote:
            return f"{label} quote differs from the stored text"
        return None

    def sentence_text(self, citation: Citation) -> str:
        document = self.document(citation.doc_id)
        assert document is not None
        return document.sentences[citation.sentence_index].text


def _resolve_claim_citations(
    claim_numbers: Iterable[int], citations: Sequence[Citation], checker: CitationChecker
) -> tuple[list[Citation], list[str]]:
    """Valid citations of a claim, and problems of its numbers that resolve to nothing."""
    by_number = {citation.number: citation for citation in citations}
    valid: list[Citation] = []
    problems: list[str] = []
    for number in claim_numbers:
        citation = by_number.get(number)
        if citation is None:
            problems.append(f"[{number}] cited by a sentence but not in the citation list")
        elif checker.problem(citation) is None:
            valid.append(citation)
    return valid, problems


def score_answer(
    gold: GoldQuestion,
    answer: Answer,
    checker: CitationChecker,
    *,
    run: int = 1,
    loaded_terms: Sequence[str] = (),
) -> QuestionResult:
    """Score one answer: facts found, cited, retrieved; citations checked; ``loaded_terms``
    (its article's, from the summary gold: one party's words, or text planted for a model)
    used outside quotation marks."""
    text = strip_citation_marks(answer.text)
    tokens = normalise(text)
    result = QuestionResult(run=run, gold=gold, answer=answer.text, abstained=answer.abstained)
    result.citations = list(answer.citations)
    result.words = len(text.split())
    result.tokens = answer.usage.total_tokens
    result.llm_calls = answer.usage.calls
    result.dropped_citations = list(answer.dropped_citations)
    valid: list[Citation] = []
    for citation in answer.citations:
        problem = checker.problem(citation)
        if problem is None:
            valid.append(citation)
        else:
            result.invalid_citations.append(problem)
    for claim in answer.claims:
        _, dangling = _resolve_claim_citations(claim.citations, answer.citations, checker)
        result.dangling_refs.extend(dangling)
    cited = [normalise(checker.sentence_text(citation)) for citation in valid]
    retrieved = [normalise(hit.chunk.text) for hit in answer.evidence]
    result.found_facts = [fact for fact in gold.gold_facts if fact_found(fact, tokens)]
    result.supported_facts = [
        fact for fact in result.found_facts if any(fact_found(fact, s) for s in cited)
    ]
    result.retrieved_facts = [
        fact for fact in gold.gold_facts if any(fact_found(fact, chunk) for chunk in retrieved)
    ]
    result.loaded_terms = list(loaded_terms)
    if not answer.abstained:
        result.leaked_terms = leaked_terms(text, loaded_terms)
    return result


def score_summary(
    gold: SummaryGold, summary: Summary, checker: CitationChecker, *, run: int = 1
) -> SummaryResult:
    """Score one summary: key facts, parties, loaded terms, cited sentences."""
    text = strip_citation_marks(summary.text)
    tokens = normalise(text)
    result = SummaryResult(run=run, gold=gold, text=summary.text)
    result.citations = list(summary.citations)
    result.words = len(text.split())
    result.tokens = summary.usage.total_tokens
    result.llm_calls = summary.usage.calls
    result.dropped_citations = list(summary.dropped_citations)
    for citation in summary.citations:
        problem = checker.problem(citation)
        if problem is not None:
            result.invalid_citations.append(problem)
    # A summary whose text is not split into claims is one uncited sentence, not zero.
    result.sentences = len(summary.claims) if summary.claims else int(bool(text))
    for claim in summary.claims:
        valid, dangling = _resolve_claim_citations(claim.citations, summary.citations, checker)
        result.dangling_refs.extend(dangling)
        if valid:
            result.cited_sentences += 1
    result.found_key_facts = [fact for fact in gold.key_facts if fact_found(fact, tokens)]
    result.found_parties = [
        party
        for party in gold.parties
        if any(phrase_found(alias, tokens) for alias in party_aliases(party))
    ]
    result.leaked_terms = leaked_terms(text, gold.loaded_terms)
    result.fragments = fragments(summary)
    return result


def fragments(summary: Summary) -> list[str]:
    """Each summary sentence that fails a structural check, with the problems found.

    A pronoun may refer to the sentence before it; a story heading of a collection
    summary starts afresh, so the first sentence under it has no sentence before.
    """
    found: list[str] = []
    previous: str | None = None
    for claim in summary.claims:
        if claim.heading:
            previous = None
        text = strip_citation_marks(claim.text)
        problems = claim_problems(text, previous)
        if problems:
            found.append(f"{text} ({', '.join(problems)})")
        previous = split_clauses(text)[-1]
    return found
