"""The offline backend: extractive answers and summaries, at sentence and clause level.

Answers: every sentence of the retrieved documents is scored against the question
by embedding similarity, IDF-weighted term overlap, adjacent-word-pair (phrase)
matches (words compared by :func:`qa.discourse.lemma`, which folds inflection,
British spelling, derivation and a small list of news synonyms: "deaths" meets
"died" and "lost their lives", "blamed" meets "attribute") and the question's
type (who, when, where, how many, why, list);
sentences outside the retrieved chunks rank last, and sentences of documents
whose best match is far below the best document's are pulled down.  Then:

* "What caveats ...?": the sentences after the one naming the caveats, unless
  that sentence spells the list out itself ("resources: rock, fishing, water");
* "What did X say / How did X respond / According to X": X's quotations, each
  taken whole (the sentence naming X, a "He said" that follows it, and the
  quoted sentences that carry the quotation on or precede "X told ..."),
  ranked by the rest of the question, within a word budget, every named
  speaker getting at least one;
* otherwise the best few sentences that add question terms.

A compound question ("Who X, and when?") gets a sentence for each part (each
part matched on the words only it has), and a name in the question that no
chosen sentence has gets its best sentence.  So does a question word or phrase
that is rare in the evidence and missing from the answer ("cases,
hospitalisations and deaths": one sentence may give only the cases), outside
speaker answers, within a word budget.  The sentence after one of the two
best chosen ones, in the same paragraph, is added when it carries the statement
on (an opening pronoun or connective, the same quotation) or shares a question
word, within a word budget.  Unquoted side clauses that miss the question are
cut only when the answer runs long.

It abstains when the question names something the evidence never mentions,
when nothing matches well enough, and on checks of single questions: the word a
"What was agreed ...?" / "What penalty ...?" question turns on must occur in the
evidence (as a lemma or synonym) or have a close neighbour (by embedding) in
the best sentences, light verbs ("What happened ...?") and "what share" excepted; a
"Who/Which other/What is the name" question is not answered by a negated or
hedged mention ("not naming any other bidders", "may or may not have been the
captain"), and one asking for a name needs a name the question lacks; "how
much" needs an amount in a clause that shares a word with the question's
focus, "how many X" a count of X itself, "when ..." a time in a clause holding
the question's event.

Summaries are written by :mod:`qa.extractive_summary`; the text analysis both
share (stemming, patterns, quotation and speaker structure) is in
:mod:`qa.discourse`.

Not handled: answers that need arithmetic or inference across sentences,
coreference beyond "he/she said" after a named speaker and the next-sentence
rule, synonyms outside the small list, method questions ("How was X carried
out?") whose answer shares no word with them, lists spread over many
sentences beyond the word budget, and "why" questions whose event the text
never reports ("Why had rates fallen?"), which are answered from nearby
sentences.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qa.backend import TextSink
from qa.discourse import (
    AMOUNT_PATTERN,
    DIGIT_PATTERN,
    NAME_PATTERN,
    NUMBER_WORDS,
    QUOTE_CHARS,
    REASON_PATTERN,
    RELATIVE_CLAUSE,
    STOPWORDS,
    TIME_PATTERN,
    TRAILING_PARTICIPLE,
    WORD_PATTERN,
    balanced_quotes,
    document_structure,
    has_number,
    idf,
    lemma,
    match_terms,
    outside_quotes,
)
from qa.embed import Embedder, Vectors
from qa.extractive_summary import summarize
from qa.store import Store
from qa.types import Document, Draft, DraftClaim, Hit, SentenceRef

QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how did does do is are was were according""".split()
)
SPEAKER_QUESTION = re.compile(
    r"\b(?:did|does|do|has|have|had)\s+(.+?)\s+(?:each\s+|also\s+)?"
    r"(say|tell|respond|react|describe|explain|argue|claim|make|allege|announce|write|tweet"
    r"|report|warn|point|add|think|criticise|criticize|predict|expect|suggest|comment)\b",
    re.IGNORECASE,
)
# A sentence that opens like this carries on the statement of the one before it.
CONTINUATION = re.compile(
    r"^\W*(?:he|she|it|they|this|these|those|its|their|his|her|out of these|out these"
    r"|of these|of them|however|but|also|in addition|meanwhile|instead)\b",
    re.IGNORECASE,
)
# Questions whose answer is a name: a mention of the asked-for thing without one is no answer.
ENTITY_QUESTION = re.compile(
    r"^(?:who|whom|which other|what other|what is the name|what was the name)\b"
)
NAME_ASKED = re.compile(r"\b(?:name|names|named)\b")
NEGATIONS = frozenset("not no never without neither nor may might unnamed unidentified".split())
AUXILIARIES = frozenset("could would will can should might may must shall".split())
# Verbs that ask for an event or a fact without naming what it is.
LIGHT_HEADS = frozenset(lemma(word) for word in "happen occur mean involve".split())
ACCORDING_QUESTION = re.compile(r"\baccording to\s+([^,?]+)", re.IGNORECASE)


def question_type(question: str) -> str:
    lowered = question.lower().strip()
    if re.match(
        r"^(how (many|much|long|old|far|big|large)|what (number|percentage|share))", lowered
    ):
        return "number"
    if re.match(r"^(when|what (time|day|date|year))\b", lowered) or " and when" in lowered:
        return "when"
    if re.match(r"^(why|what (caused|led|prompted)|for what reason)\b", lowered):
        return "why"
    if re.match(r"^(who|whom|whose)\b", lowered):
        return "who"
    if re.match(r"^where\b", lowered):
        return "where"
    if re.match(r"^(what|which) (?!is\b|was\b|does\b|has\b)\w+s\b", lowered) or re.search(
        r"\b(list|what are|which are)\b", lowered
    ):
        return "list"
    return "what"


def question_focus(question: str) -> str:
    """The plural head noun of "What caveats ..." / "Which elements ...", stemmed; or ""."""
    match = re.match(r"^\s*(?:what|which)\s+(?:\w+\s+)?(\w+s)\b", question, re.IGNORECASE)
    if not match or match.group(1).lower() in QUESTION_WORDS | STOPWORDS:
        return ""
    return lemma(match.group(1))


def question_head(question: str) -> str:
    """The word a "What was agreed ...?" / "What penalty ...?" question turns on, or "".

    The first content word after "what"/"which" and any auxiliary and names; only
    for questions that open with those words and are not about a speaker's words.
    """
    match = re.match(r"^\s*(?:what|which)\b(.*)", question, re.IGNORECASE)
    if not match or question_speaker_phrase(question):
        return ""
    entities = set(question_entities(question))
    for word in WORD_PATTERN.findall(match.group(1)):
        lowered = word.lower()
        if word in entities or lowered in STOPWORDS or lowered in AUXILIARIES:
            continue
        if lemma(lowered) in LIGHT_HEADS:
            # "What happened ...?" asks about events, not about a word the text must have.
            return ""

        return word if len(word) > 2 else ""
    return ""


def question_entities(question: str) -> list[str]:
    """Capitalised words after the first: the names a question is about."""
    words = WORD_PATTERN.findall(question)
    return [
        word
        for position, word in enumerate(words)
        if position > 0 and word[:1].isupper() and word.lower() not in QUESTION_WORDS
    ]


@dataclass
class Candidate:
    ref: SentenceRef
    text: str
    vector: Vectors
    terms: set[str]
    chunk_rank: int
    position: int
    score: float = 0.0
    dense: float = 0.0
    overlap: float = 0.0
    unit: int = 0
    paragraph: int = 0
    speaker: str = ""
    context: str = ""

    @property
    def words(self) -> int:
        return len(self.text.split())


class ExtractiveBackend:
    name = "extractive"
    min_dense = 0.30
    min_score = 0.34
    max_answer_words = 45
    min_elaboration_dense = 0.15
    speaker_answer_words = 60
    neighbour_anchors = 2
    min_head_similarity = 0.45
    min_neighbour_dense = 0.2
    neighbour_budget = 80
    cover_depth = 12
    cover_ratio = 0.6
    cover_budget = 90
    cover_rarity = 2
    cover_phrase_ratio = 0.5

    def __init__(self, embedder: Embedder, store: Store | None = None) -> None:
        self.embedder = embedder
        self.store = store

    # -- answering ------------------------------------------------------------

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None = None,
    ) -> Draft:
        ranked = self.rank(question, hits, documents)
        if not ranked:
            return Draft(claims=[], abstained=True)
        kind = question_type(question)
        q_terms = match_terms(question)
        candidates = sorted(ranked, key=lambda c: (c.ref.doc_id, c.ref.index))
        if self._should_abstain(question, kind, ranked, documents):
            draft = Draft(claims=[], abstained=True)
        else:
            quoted = self._speaker_answer(question, q_terms, ranked)
            chosen = (
                self._elaboration(question, ranked, candidates, documents)
                or quoted
                or self._choose(kind, q_terms, ranked)
            )
            chosen = self._cover_parts(question, chosen, ranked)
            chosen = self._cover_entities(question, chosen, ranked)
            if not quoted:
                # A speaker's quotations are ranked by the rest of the question already;
                # a word they lack is the question's framing, not an unanswered ask.
                chosen = self._cover_terms(question, q_terms, chosen, ranked)
            chosen = self._add_neighbours(question, q_terms, chosen, candidates)
            ordered = sorted(chosen, key=lambda c: (c.ref.doc_id, c.ref.index))
            # Side clauses are cut only when the answer is long: a short answer loses
            # nothing by keeping them, and they often carry the detail asked for.
            long_answer = sum(c.words for c in ordered) > self.max_answer_words
            claims = [
                DraftClaim(self._trim(c.text, q_terms, kind) if long_answer else c.text, [c.ref])
                for c in ordered
            ]
            draft = Draft(claims=claims)
        if on_text is not None:
            on_text(" ".join(claim.text for claim in draft.claims))
        return draft

    def rank(
        self, question: str, hits: Sequence[Hit], documents: Mapping[str, Document]
    ) -> list[Candidate]:
        """Every candidate sentence scored against ``question``, best first."""
        candidates = self._candidates(hits, documents)
        if not candidates:
            return []
        kind = question_type(question)
        question_vector = self.embedder.embed([question])[0]
        q_terms = match_terms(question)
        q_pairs = _word_pairs(question)
        weights = idf([candidate.terms for candidate in candidates])
        q_weight = sum(weights.get(term, _max_idf(weights)) for term in q_terms) or 1.0
        for candidate in candidates:
            candidate.dense = float(candidate.vector @ question_vector)
            matched = q_terms & candidate.terms
            candidate.overlap = sum(weights[term] for term in matched) / q_weight
            candidate.score = (
                0.6 * candidate.dense
                + 0.4 * candidate.overlap
                + 0.08 * _type_bonus(kind, candidate.text)
                + 0.06 * min(len(q_pairs & _word_pairs(candidate.text)), 2)
                - 0.004 * min(candidate.chunk_rank, len(hits))
            )
        _focus_documents(candidates)
        return sorted(candidates, key=lambda c: (-c.score, c.ref.doc_id, c.ref.index))

    def _candidates(
        self, hits: Sequence[Hit], documents: Mapping[str, Document]
    ) -> list[Candidate]:
        """Every sentence of every retrieved document, ranked by its best chunk.

        Sentences outside the retrieved chunks stay candidates (ranked last), so a
        quotation or list that runs past a chunk boundary can still be completed.
        """
        rank_of: dict[SentenceRef, int] = {}
        order: list[str] = []
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            if chunk.doc_id not in order:
                order.append(chunk.doc_id)
            for index in range(chunk.first_sentence, chunk.last_sentence + 1):
                rank_of.setdefault(SentenceRef(chunk.doc_id, index), rank)
        found: list[Candidate] = []
        for doc_id in order:
            document = documents[doc_id]
            vectors = self._sentence_vectors(document)
            structure = document_structure(document)
            for index, sentence in enumerate(document.sentences):
                ref = SentenceRef(doc_id, index)
                found.append(
                    Candidate(
                        ref=ref,
                        text=sentence.text,
                        vector=vectors[index],
                        terms=match_terms(sentence.text),
                        chunk_rank=rank_of.get(ref, len(hits) + 2),
                        position=index,
                        unit=structure.unit[index],
                        paragraph=structure.paragraph[index],
                        speaker=structure.speaker[index],
                        context=structure.context[index],
                    )
                )
        return found

    def _sentence_vectors(self, document: Document) -> Vectors:
        if self.store is not None:
            stored = self.store.sentence_vectors(document.id)
            if len(stored) == len(document.sentences):
                return stored
        return self.embedder.embed([sentence.text for sentence in document.sentences])

    def _should_abstain(
        self,
        question: str,
        kind: str,
        ranked: Sequence[Candidate],
        documents: Mapping[str, Document],
    ) -> bool:
        evidence_text = " ".join(candidate.text for candidate in ranked).lower()
        titles = " ".join(document.title for document in documents.values()).lower()
        for entity in question_entities(question):
            name = entity.lower().replace("’", "'").removesuffix("'s")
            if name not in evidence_text and name not in titles:
                return True
        best = ranked[0]
        top = [c for c in ranked[:3] if c.score >= 0.8 * best.score]
        if max(c.dense for c in ranked[:3]) < self.min_dense or best.score < self.min_score:
            return True
        if len(question_parts(question)) > 1:
            return False
        focus = match_terms(question) - {lemma(entity) for entity in question_entities(question)}
        lowered = question.lower()
        head = question_head(question)
        if head and kind != "number" and not self._head_matched(head, ranked[:3], evidence_text):
            return True
        if ENTITY_QUESTION.match(lowered):
            # "Which other companies bid?" over "not naming any other bidders": the
            # evidence says the names are not given, which is not an answer.
            mention = next(
                (c for c in ranked[:8] if _mentions(c.text, focus)),
                None,
            )
            if mention is not None and _negated_mention(mention.text, focus):
                return True
            # "What is the name of the captain?" needs a name the question lacks.
            if NAME_ASKED.search(lowered) and not any(
                _new_name(clause, question) for c in top for clause in _clauses(c.text)
            ):
                return True
        if re.match(r"^(by )?how much\b", lowered):
            # An amount, in the same clause as what the question asks the amount of.
            return not any(
                AMOUNT_PATTERN.search(clause) and match_terms(clause) & (focus - {"much"})
                for c in top
                for clause in _clauses(c.text)
            )
        many = re.match(r"^how many ((?:\w+\s+){0,2}?\w+)\b", lowered)
        if many:
            # "How many moai": a count of that very thing, not of something near it.
            nouns = {lemma(word) for word in many.group(1).split()}
            return not any(
                _counts(c.text, nouns) for c in ranked[:5] if c.score >= 0.7 * best.score
            )
        if kind == "number" and not any(has_number(c.text) for c in top):
            return True
        if lowered.startswith("when"):
            # A time in the clause that holds the question's own event, not anywhere nearby.
            return not any(
                TIME_PATTERN.search(clause) and match_terms(clause) & focus
                for c in top
                for clause in _clauses(c.text)
            )
        return kind == "when" and not any(TIME_PATTERN.search(c.text) for c in top)

    def _head_matched(self, head: str, top: Sequence[Candidate], evidence_text: str) -> bool:
        """Whether the evidence has the question's asked-for word, or one close in meaning.

        "What was agreed at the meeting?" is not answered by a report of the meeting:
        when the word the question turns on is nowhere in the evidence, one of the
        best sentences must hold a word the embedder places near it.
        """
        key = lemma(head)
        if any(lemma(word).startswith(key) for word in WORD_PATTERN.findall(evidence_text)):
            return True
        if key in match_terms(evidence_text):
            return True
        words = sorted(
            {
                word.lower()
                for c in top
                for word in WORD_PATTERN.findall(c.text)
                if word.lower() not in STOPWORDS and not DIGIT_PATTERN.search(word)
            }
        )
        if not words:
            return False
        vectors = self.embedder.embed([head.lower(), *words])
        return float((vectors[1:] @ vectors[0]).max()) >= self.min_head_similarity

    def _choose(self, kind: str, q_terms: set[str], ranked: Sequence[Candidate]) -> list[Candidate]:
        best = ranked[0]
        chosen = [best]
        covered = set(best.terms & q_terms)
        words = len(best.text.split())
        limit = 4 if kind in ("list", "why") else 3
        for candidate in ranked[1:8]:
            if len(chosen) >= limit or words >= self.max_answer_words * 1.5:
                break
            if candidate.score < 0.82 * best.score:
                break
            new_terms = (candidate.terms & q_terms) - covered
            if kind not in ("list", "why", "who") and not new_terms:
                continue
            if any(_similarity(candidate, other) > 0.85 for other in chosen):
                continue
            chosen.append(candidate)
            covered |= candidate.terms & q_terms
            words += len(candidate.text.split())
        return chosen

    def _elaboration(
        self,
        question: str,
        ranked: Sequence[Candidate],
        candidates: Sequence[Candidate],
        documents: Mapping[str, Document],
    ) -> list[Candidate]:
        """For "What caveats ...?": the sentences after the one that names the caveats.

        News writing names a list ("backed it with firm caveats") and spells
        it out in the next sentences, which share few words with the question.
        """
        focus = question_focus(question)
        if not focus:
            return []
        by_ref = {candidate.ref: candidate for candidate in candidates}
        for anchor in ranked[:3]:
            if focus not in anchor.terms:
                continue
            if _spells_out(anchor.text, focus):
                # "compared the sites to the specific resources: rock, fishing, water":
                # the list is in the anchor itself, which the usual ranking finds.
                return []
            document = documents[anchor.ref.doc_id]
            following = []
            for index in range(
                anchor.ref.index + 1, min(anchor.ref.index + 3, len(document.sentences))
            ):
                candidate = by_ref.get(SentenceRef(document.id, index))
                if candidate is None or candidate.dense < self.min_elaboration_dense:
                    break
                following.append(candidate)
            if following:
                return following
        return []

    def _speaker_answer(
        self, question: str, q_terms: set[str], ranked: Sequence[Candidate]
    ) -> list[Candidate]:
        """For "What did X say ...?" / "According to X, ...": the quotations attributed to X.

        A quotation is taken whole (the sentence naming X and the quoted sentences
        that carry it on), best first, within a word budget; each speaker the
        question names gets at least its best quotation.
        """
        speakers = question_speakers(question)
        if not speakers:
            return []
        # Among X's quotations the rest of the question decides, not X's own name.
        topic = q_terms - match_terms(question_speaker_phrase(question))

        def relevance(unit: list[Candidate]) -> float:
            best = max(c.dense + 0.5 * len(c.terms & topic) / max(len(topic), 1) for c in unit)
            quoted = any(char in c.text for c in unit for char in QUOTE_CHARS)
            return best + (0.1 if quoted else 0.0)

        chosen: list[Candidate] = []
        units_taken: set[tuple[str, int]] = set()
        per_speaker: list[list[list[Candidate]]] = []
        for keys in speakers:
            by_name = [c for c in ranked if c.speaker and _keys_match(keys, c.speaker)]
            matches = by_name or [c for c in ranked if c.context and _keys_match(keys, c.context)]
            grouped: dict[tuple[str, int], list[Candidate]] = {}
            for candidate in matches:
                grouped.setdefault((candidate.ref.doc_id, candidate.unit), []).append(candidate)
            per_speaker.append(sorted(grouped.values(), key=lambda unit: -relevance(unit)))
        if not any(per_speaker):
            return []
        best_relevance = max(relevance(units[0]) for units in per_speaker if units)
        budget = self.speaker_answer_words
        words = 0
        # Round-robin over speakers so that "X and Y each said" covers both.
        for depth in range(max(len(units) for units in per_speaker)):
            for units in per_speaker:
                if depth >= len(units):
                    continue
                unit = sorted(units[depth], key=lambda c: c.ref.index)
                key = (unit[0].ref.doc_id, unit[0].unit)
                if key in units_taken:
                    continue
                if depth > 0 and relevance(unit) < 0.6 * best_relevance:
                    continue
                size = sum(c.words for c in unit)
                if depth == 0 and words + size > budget:
                    # A long quotation: its best sentences, in order, within what is left.
                    keep = sorted(unit, key=lambda c: -c.score)
                    unit = []
                    for candidate in keep:
                        if not unit or words + candidate.words <= budget:
                            unit.append(candidate)
                            words += candidate.words
                    chosen.extend(unit)
                    units_taken.add(key)
                    continue
                if words + size > budget and chosen:
                    continue
                chosen.extend(unit)
                words += size
                units_taken.add(key)
        return chosen

    def _cover_parts(
        self, question: str, chosen: list[Candidate], ranked: Sequence[Candidate]
    ) -> list[Candidate]:
        """Each part of "Who X, and when?" / "What A ... and what B?" gets a sentence of its own.

        A part with content words of its own gets its best match for those words;
        a bare "and when" / "and by whom" needs a sentence of its type (a time,
        a name) among the best matches of the whole question.
        """
        parts = question_parts(question)
        if len(parts) < 2:
            return chosen
        best = ranked[0].score
        pool = [c for c in ranked[:12] if c.score >= 0.45 * best]
        vectors = self.embedder.embed(parts)
        part_terms = [match_terms(part) for part in parts]
        for number, (part, vector) in enumerate(zip(parts, vectors, strict=True)):
            kind = question_type(re.sub(r"^by\s+", "", part, flags=re.IGNORECASE))
            # A word the parts share ("called for ..., and who backed the call") tells
            # them apart from nothing: each part is matched on its own words.
            others = set().union(*(t for i, t in enumerate(part_terms) if i != number))
            terms = (part_terms[number] - others) or part_terms[number]
            if not terms:
                if kind in ("when", "who", "where", "number", "why") and not any(
                    _type_bonus(kind, c.text) for c in chosen
                ):
                    fitting = [c for c in pool if _type_bonus(kind, c.text)]
                    if fitting:
                        chosen = [*chosen, fitting[0]]
                continue

            scores = [
                0.6 * float(c.vector @ vector)
                + 0.4 * len(c.terms & terms) / len(terms)
                + 0.08 * _type_bonus(kind, c.text)
                for c in pool
            ]
            top = pool[scores.index(max(scores))]
            if top not in chosen:
                chosen = [*chosen, top]
        return chosen

    def _cover_entities(
        self, question: str, chosen: list[Candidate], ranked: Sequence[Candidate]
    ) -> list[Candidate]:
        """Add the best sentence for each name in the question that no chosen sentence has."""
        text = " ".join(candidate.text for candidate in chosen).lower()
        best = ranked[0].score
        for entity in question_entities(question):
            name = entity.lower().replace("’", "'").removesuffix("'s")
            if name in text.replace("’", "'"):
                continue
            for candidate in ranked[:12]:
                if candidate.score < 0.6 * best:
                    break
                if name in candidate.text.lower().replace("’", "'") and candidate not in chosen:
                    chosen = [*chosen, candidate]
                    text += " " + candidate.text.lower()
                    break
        return chosen

    def _cover_terms(
        self,
        question: str,
        q_terms: set[str],
        chosen: list[Candidate],
        ranked: Sequence[Candidate],
    ) -> list[Candidate]:
        """Add the best sentence for a question word or phrase that no chosen sentence has.

        "How many cases, hospitalisations and deaths ...?" asks three things that
        news writing spreads over sentences; a word of the question that the
        chosen sentences lack is usually an ask they leave unanswered.  Only words
        and phrases rare in the evidence count: a common one says nothing of
        which sentence answers.  A phrase ("stocking up") is more specific than
        its words, so it may reach a little further down the ranking.
        """
        topic = q_terms - {lemma(entity) for entity in question_entities(question)}
        phrases = {pair for pair in _word_pairs(question) if topic & set(pair)}
        pairs = {id(c): _word_pairs(c.text) & phrases for c in ranked}
        asks: list[tuple[float, str | tuple[str, str]]] = [
            (self.cover_ratio, term) for term in sorted(topic)
        ] + [(self.cover_phrase_ratio, pair) for pair in sorted(phrases)]

        def has(candidate: Candidate, ask: str | tuple[str, str]) -> bool:
            return ask in (candidate.terms if isinstance(ask, str) else pairs[id(candidate)])

        best = ranked[0].score
        words = sum(c.words for c in chosen)
        result = list(chosen)
        for ratio, ask in asks:
            if any(has(c, ask) for c in result):
                continue
            if sum(1 for c in ranked if has(c, ask)) > self.cover_rarity:
                continue
            for candidate in ranked[: self.cover_depth]:
                if candidate.score < ratio * best:
                    break
                if has(candidate, ask) and candidate not in result:
                    if words + candidate.words <= self.cover_budget:
                        result.append(candidate)
                        words += candidate.words
                    break
        return result

    def _add_neighbours(
        self,
        question: str,
        q_terms: set[str],
        chosen: list[Candidate],
        candidates: Sequence[Candidate],
    ) -> list[Candidate]:
        """The sentence after a chosen one when it carries the same statement on.

        News writing spreads one statement over consecutive sentences of a paragraph:
        a figure and its breakdown ("5667 cases." / "Out of these, 1846 ..."), an
        action and its agent ("The search was called off." / "Captain X said ...").
        The next sentence is taken when it continues the chosen one (an opening
        pronoun or connective, the same quotation) or shares a word with the
        question beyond its names, within the word budget.
        """
        by_ref = {c.ref: c for c in candidates}
        topic = q_terms - {lemma(entity) for entity in question_entities(question)}
        words = sum(c.words for c in chosen)
        result = list(chosen)
        for anchor in chosen[: self.neighbour_anchors]:
            following = by_ref.get(SentenceRef(anchor.ref.doc_id, anchor.ref.index + 1))
            if following is None or following in result:
                continue
            if following.paragraph != anchor.paragraph:
                continue
            continues = bool(CONTINUATION.match(following.text)) or (following.unit == anchor.unit)
            shared = following.terms & topic
            # A continuation rarely repeats the question's words ("However, such seeps
            # are minor"), so it needs less likeness to the question than a sentence
            # that is only next to the chosen one.
            if following.dense < self.min_neighbour_dense * (0.5 if continues else 1.0):
                continue
            if not (continues or shared):
                continue
            if words + following.words > self.neighbour_budget:
                continue
            result.append(following)
            words += following.words
        return result

    def _trim(self, text: str, q_terms: set[str], kind: str) -> str:
        """Drop unquoted side clauses (", who ...,", ", urging ...") that miss the question."""

        def keep_if_relevant(match: re.Match[str]) -> str:
            clause_terms = match_terms(match.group())
            return match.group() if clause_terms & q_terms else " "

        trimmed = RELATIVE_CLAUSE.sub(keep_if_relevant, text)
        trimmed = TRAILING_PARTICIPLE.sub(
            lambda match: match.group() if match_terms(match.group()) & q_terms else "",
            trimmed,
        )
        trimmed = re.sub(r"\s+,", ",", re.sub(r"\s{2,}", " ", trimmed))
        return trimmed if balanced_quotes(trimmed) else text

    # -- summarising ----------------------------------------------------------

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        return summarize(documents, sentences, self._sentence_vectors, self.embedder.embed)


def question_parts(question: str) -> list[str]:
    """A compound question split into its asks: "Who bought X, and when?" -> two parts."""
    pieces = re.split(
        r"\?\s+(?=[A-Z])|,?\s+and\s+(?=(?:by\s+)?(?:who|whom|when|where|why|what|how|which)\b)",
        question.strip(),
    )
    return [piece.strip(" ?,") for piece in pieces if piece.strip(" ?,")]


def question_speaker_phrase(question: str) -> str:
    match = SPEAKER_QUESTION.search(question) or ACCORDING_QUESTION.search(question)
    return match.group(1) if match else ""


def question_speakers(question: str) -> list[list[str]]:
    """Who the question asks about ("What did X say", "According to X"), as match keys.

    Each speaker is keyed by its last capitalised word (usually the surname) and
    its last word ("Brazil's president" -> brazil, president).
    """
    phrase = question_speaker_phrase(question)
    speakers = []
    for part in re.split(r",\s*|\s+and\s+|\s+or\s+", phrase):
        words = [w for w in WORD_PATTERN.findall(part) if w.lower() not in STOPWORDS]
        capitals = [w for w in words if w[:1].isupper()]
        if not capitals:
            continue
        keys = {_key(capitals[-1]), _key(words[-1])}
        speakers.append(sorted(keys))
    return speakers


def _key(word: str) -> str:
    word = word.lower().replace("’", "'").removesuffix("'s")
    return word[:5]


def _keys_match(keys: Sequence[str], text: str) -> bool:
    words = {_key(word)[: len(key)] for key in keys for word in WORD_PATTERN.findall(text)}
    return all(key in words for key in keys)


def _word_pairs(text: str) -> set[tuple[str, str]]:
    """Adjacent word pairs with at least one content word: phrase matches, not bag of words."""
    words = [w.lower().replace("’", "'") for w in WORD_PATTERN.findall(text)]
    return {
        (lemma(a), lemma(b))
        for a, b in itertools.pairwise(words)
        if a not in QUESTION_WORDS
        and b not in QUESTION_WORDS
        and not (a in STOPWORDS and b in STOPWORDS)
    }


def _focus_documents(candidates: Sequence[Candidate]) -> None:
    """Pull down sentences of documents whose best match is far below the best document's.

    A question is nearly always about one story; a sentence that scores well on
    its own in an unrelated article is the usual source of a wrong claim.
    """
    best_by_doc: dict[str, float] = {}
    for candidate in candidates:
        doc_id = candidate.ref.doc_id
        best_by_doc[doc_id] = max(best_by_doc.get(doc_id, -math.inf), candidate.score)
    top = max(best_by_doc.values())
    for candidate in candidates:
        candidate.score -= 0.5 * (top - best_by_doc[candidate.ref.doc_id])


def _clauses(text: str) -> list[str]:
    return [part for part in re.split(r"[,;:—–()]|\s-\s|\bwhich\b|\bwho\b", text) if part.strip()]


def _spells_out(text: str, focus: str) -> bool:
    """Whether ``text`` enumerates after its word for ``focus`` (a colon, or two commas)."""
    words = list(WORD_PATTERN.finditer(text))
    start = next((w.end() for w in words if lemma(w.group()) == focus), None)
    if start is None:
        return False
    rest = outside_quotes(text[start:])
    return ":" in rest or rest.count(",") >= 2


def _mentions(text: str, terms: set[str]) -> bool:
    return any(
        len(term) >= 3 and lemma(word).startswith(term)
        for word in WORD_PATTERN.findall(text)
        for term in terms
    )


def _negated_mention(text: str, terms: set[str]) -> bool:
    """Whether ``text`` mentions one of ``terms`` only under a negation or hedge."""
    words = [w.lower() for w in WORD_PATTERN.findall(outside_quotes(text))]
    for i, word in enumerate(words):
        named = any(len(term) >= 3 and lemma(word).startswith(term) for term in terms)
        if named and any(before in NEGATIONS for before in words[max(0, i - 4) : i]):
            return True
    return False


def _new_name(text: str, question: str) -> bool:
    """Whether ``text`` holds a name (two capitalised words) that ``question`` lacks."""
    asked = {word.lower() for word in WORD_PATTERN.findall(question)}
    return any(
        not {word.lower() for word in match.group().replace("-", " ").split()} <= asked
        for match in NAME_PATTERN.finditer(text)
    )


def _counts(text: str, nouns: set[str]) -> bool:
    """Whether ``text`` gives a number of one of ``nouns`` ("93 statues", "20 bodies had")."""
    words = WORD_PATTERN.findall(text)
    for i, word in enumerate(words):
        is_number = bool(DIGIT_PATTERN.search(word)) or word.lower() in NUMBER_WORDS
        if is_number and any(lemma(later) in nouns for later in words[i + 1 : i + 4]):
            return True
    return False


def _max_idf(idf: Mapping[str, float]) -> float:
    return max(idf.values(), default=1.0)


def _type_bonus(kind: str, text: str) -> float:
    if kind == "number":
        return 1.0 if has_number(text) else 0.0
    if kind == "when":
        return 1.0 if TIME_PATTERN.search(text) else 0.0
    if kind == "why":
        return 1.0 if REASON_PATTERN.search(text) else 0.0
    if kind == "who":
        return 1.0 if NAME_PATTERN.search(text) else 0.0
    if kind == "where":
        return 1.0 if re.search(r"\b(in|at|near|from) [A-Z]", text) else 0.0
    if kind == "list":
        # Enumerations ("A, B and C", "resources: A, B") are what a list question wants.
        return 1.0 if text.count(",") >= 2 and re.search(r"\b(and|or)\b|:", text) else 0.0
    return 0.0


def _similarity(a: Candidate, b: Candidate) -> float:
    return float(a.vector @ b.vector)
