"""The offline backend: extractive answers and summaries, at sentence and clause level.

Answers: every sentence of the retrieved documents is scored against the question
by embedding similarity, IDF-weighted term overlap, adjacent-word-pair (phrase)
matches (words compared by :func:`qa.backends.offline.discourse.lemma`, which folds inflection,
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
* otherwise the best few sentences that add question terms, or that are closer
  in meaning to the question than the best one (a reworded question shares few
  words with its answer).

A compound question ("Who X, and when?") gets a sentence for each part (each
part matched on the words only it has; "on what day" names a type, not
content), and a name in the question that no chosen sentence has gets its best
sentence when that sentence also adds a question word the answer lacks (a name
used as a modifier, "the Russian leader", is met by the sentence about the
leader).  So does a question word or phrase that is rare in the evidence and
missing from the answer ("cases, hospitalisations and deaths": one sentence may
give only the cases), outside speaker answers, within a word budget; the noun
naming the kind of answer ("Which company"), the cited source ("What does the
story say"), and word pairs with a function word ("the vessel") are no asks.
The sentence after one of the two best-scoring chosen ones, in the same
paragraph, is added when it carries the statement on (an opening pronoun or
connective, the same quotation) or shares a question word, within a word budget.
Unquoted side clauses that miss the question are cut only when the answer runs
long.

It abstains only on a specific absence, each check tolerant of wording
(:meth:`ExtractiveBackend._should_abstain`): a name in the question that the
articles never mention, accents folded and no capitalised word of theirs close to it
by embedding ("Sao" meets "São", "American" meets "U.S.", "Vienna" meets
"Austria"); for a single-part question, no answer of the asked type (a time,
a sum of money, a number, a count of the asked thing by lemma, stated alias
"statues, or moai" or close neighbour, a name) in a best sentence about the
question's event; an event word ("What was agreed", "What did X decide", "What
was the outcome of") that neither the articles nor a close neighbour has; and
an asked-for party mentioned only hedged or negated ("may or may not have been
the captain", "not naming any other bidders").  Low similarity alone abstains
only when nothing in the article is related at all.  The noun after
"what/which" ("What conditions ...?") is not required: it names the kind of
answer, which the text gives as instances.  Speakers named by role ("his
spokesman", "the US president") are resolved to the speaker whose description
in the article ("Kremlin spokesperson Dmitry Peskov") covers the role words
(a word of the phrase itself counting more than a close neighbour); when two
speakers fit equally, the question is answered from the plain ranking.

Sentences written to a model rather than to a reader ("Ignore all previous
instructions ...", fake "system:" turns, prompt delimiters, the abstention
sentence itself: :func:`qa.backends.offline.discourse.is_instruction`) are taken out of the
documents before anything is scored, for answers and summaries alike, so an
article cannot steer the engine; citations are mapped back to the stored
sentence numbers.

Summaries are written by :mod:`qa.backends.offline.summariser`; the text analysis both
share (stemming, patterns, quotation and speaker structure) is in
:mod:`qa.backends.offline.discourse`, and question analysis (type, parts, names, speakers) in
:mod:`qa.backends.offline.question`.

Not handled: answers that need arithmetic or inference across sentences,
near-miss questions whose only missing piece is a category noun ("What penalty
...?" is caught only because a penalty is typed as an amount), aliases the
embedder places far apart (single-word similarity is noisy: a name that shares
sub-words with another may pass for it),
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
from functools import lru_cache

import numpy as np

from qa.backends.offline.discourse import (
    AMOUNT_PATTERN,
    NAME_PATTERN,
    QUOTE_CHARS,
    REASON_PATTERN,
    RELATIVE_CLAUSE,
    TIME_PATTERN,
    TRAILING_PARTICIPLE,
    balanced_quotes,
    document_aliases,
    document_structure,
    has_number,
    idf,
    lemma,
    match_terms,
    outside_quotes,
    sentence_terms,
)
from qa.backends.offline.question import (
    ENTITY_QUESTION,
    QUESTION_WORDS,
    TYPE_WORDS,
    answer_type,
    asked_party,
    counted_nouns,
    entity_phrases,
    fold,
    part_keys,
    question_entities,
    question_focus,
    question_parts,
    question_predicate,
    question_speaker_phrase,
    question_type,
    role_words,
    speaker_parts,
    word_key,
)
from qa.backends.offline.readable import Readable
from qa.backends.offline.summariser import summarize
from qa.config import Settings
from qa.index.embed import Embedder, Vectors
from qa.index.store import Store
from qa.text.markers import defuse_markers
from qa.text.numbers import QUANTITY_WORDS
from qa.text.words import DIGIT_PATTERN, STOPWORDS, WORD_PATTERN, vocabulary
from qa.types import Document, Draft, DraftClaim, Hit, SentenceRef, TextSink

# A sentence that opens like this carries on the statement of the one before it.
CONTINUATION = re.compile(
    r"^\W*(?:he|she|it|they|this|these|those|its|their|his|her|out of these|out these"
    r"|of these|of them|however|but|also|in addition|meanwhile|instead)\b",
    re.IGNORECASE,
)
NEGATIONS = frozenset("not no never without neither nor may might unnamed unidentified".split())
# Adverbs that make a phrasal verb with the word before them ("stocking up", "called off").
PARTICLES = frozenset("up out off down away back over".split())
# A negation or hedge makes a mention unsure when it is at most this many words before it
# ("not naming any other bidders", "may or may not have been the captain").
NEGATION_WINDOW = 4
# A number counts a noun at most this many words after it ("93 statues", "20 bodies had").
COUNT_WINDOW = 3
# Terms shorter than this are not matched as word prefixes (by lemma): "us" or "eu" would
# start too many words.
MIN_PREFIX = 3
# Document sets whose words and vectors the answerer keeps (``_words``): a run asks many
# questions of a few articles, and one set's words take some hundred kilobytes.
WORD_CACHE_SIZE = 64


@dataclass
class Candidate:
    ref: SentenceRef
    text: str
    vector: Vectors
    terms: frozenset[str]
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


@dataclass(frozen=True)
class ExtractiveKnobs:
    """Every tuning number of the extractive answerer, with what it does.

    All were set by hand while the engine was built on ``eval/`` and ``eval/paraphrased``
    (development sets: the engine is tuned on them, so they are no proof); none was
    fitted by a learner or chosen on held-out data. Similarities are cosines of MiniLM
    vectors (L2-normalised, so 1 is identical); "scores" are :meth:`ExtractiveBackend.rank`'s.
    Change one and judge it with ``qa eval`` on data it was not tuned on.
    """

    # -- ranking: a sentence's score ---------------------------------------------------
    # Score = dense_weight * cosine with the question + overlap_weight * the IDF-weighted
    # share of question terms it has (+ the bonuses below). Meaning counts more than shared
    # words because a reworded question shares few words with its answer; the words still
    # carry names and numbers, which the embedding blurs.
    dense_weight: float = 0.6
    overlap_weight: float = 0.4
    # Bonus for a sentence holding the kind of answer asked for (a time for "when", a
    # number for "how many", a name for "who": ``_type_bonus``): enough to break ties
    # between sentences about the event, too small to lift one about something else.
    type_weight: float = 0.08
    # Bonus per adjacent word pair shared with the question ("called off", "power plant"),
    # at most ``max_pairs`` of them: a phrase match is stronger evidence than its words.
    pair_weight: float = 0.06
    max_pairs: int = 2
    # Penalty per rank of the retrieved chunk holding the sentence: retrieval's order as a
    # tie-breaker only (eight chunks cost 0.032, less than one type bonus).
    chunk_rank_weight: float = 0.004
    # A sentence outside every retrieved chunk ranks as if this many places after the last.
    unretrieved_rank: int = 2
    # Sentences of a document lose this times the gap between their document's best score
    # and the best document's: a question is nearly always about one story.
    focus_penalty: float = 0.5

    # -- abstention ---------------------------------------------------------------------
    # Abstain on low similarity only when nothing is related at all: the best
    # ``abstain_depth`` sentences' cosines are all below ``min_dense`` and the best score is
    # below ``min_score``. Kept low because a reworded question may match its answer poorly.
    min_dense: float = 0.20
    min_score: float = 0.20
    abstain_depth: int = 3
    # A name in the question that the articles lack counts as mentioned when a capitalised
    # word of theirs is this close ("Sao" meets "São", "American" meets "U.S."). Single-word
    # cosines are noisy: lower lets unrelated names pass for each other.
    entity_alias_similarity: float = 0.56
    # "How many X": a word this close to X counts as X ("bodies" for "people").
    count_noun_similarity: float = 0.45
    # The question's event word ("agreed", "decided") is present when a word this close is.
    predicate_similarity: float = 0.55
    # Words this close to an asked-for party, or to a word of a speaker's role ("his
    # spokesman"), count as that word.
    party_similarity: float = 0.6
    # An answer of the asked type (time, money, count, name) must be in one of the best
    # ``typed_answer_depth`` sentences scoring at least this share of the best score.
    typed_answer_depth: int = 5
    typed_answer_ratio: float = 0.7
    # "Who/which ...?": the first of the best this many sentences that mentions the asked
    # thing decides whether it is named only hedged or negated.
    hedged_depth: int = 8

    # -- choosing sentences -------------------------------------------------------------
    # Past this many words an answer's unquoted side clauses that miss the question are
    # cut; ``choose_words_factor`` times it ends the choice of further sentences.
    max_answer_words: int = 45
    choose_words_factor: float = 1.5
    # After the best sentence, look at the next ones up to rank ``choose_depth`` (exclusive),
    # taking at most ``choose_sentences`` in all (``list_sentences`` for list and why
    # questions, whose answers spread over more), each scoring at least ``choose_ratio`` of
    # the best: a sentence much weaker than the best is rarely part of the answer.
    choose_depth: int = 8
    choose_sentences: int = 3
    list_sentences: int = 4
    choose_ratio: float = 0.82
    # A sentence this close to one already chosen says the same thing and is left out.
    duplicate_similarity: float = 0.85

    # -- "What caveats ...?": the sentences after the one naming them -------------------
    # The anchor is one of the best ``elaboration_anchors`` sentences; at most
    # ``elaboration_sentences`` follow it, each with at least this cosine to the question.
    elaboration_anchors: int = 3
    elaboration_sentences: int = 2
    min_elaboration_dense: float = 0.15

    # -- "What did X say?": X's quotations ----------------------------------------------
    # Word budget of a speaker answer (a quotation is taken whole, so it gets more words).
    speaker_answer_words: int = 60
    # A quotation's relevance is its best sentence's cosine plus this times its share of
    # the question's other words, plus ``quoted_bonus`` when it has quotation marks (the
    # speaker's own words, not a paraphrase of them).
    speaker_topic_weight: float = 0.5
    quoted_bonus: float = 0.1
    # A speaker's second and later quotations need this share of the best one's relevance.
    speaker_relevance_ratio: float = 0.6
    # A speaker named by role: a role word near the speaker's name counts 1, a word merely
    # close to it (``party_similarity``) this much.
    role_neighbour_weight: float = 0.5

    # -- covering what the first choice missed ------------------------------------------
    # Each part of a compound question gets its best sentence among the best
    # ``parts_depth`` scoring at least ``parts_ratio`` of the best (scored with the ranking
    # weights above on that part's own words).
    parts_depth: int = 12
    parts_ratio: float = 0.45
    # A name of the question missing from the answer: its best sentence among the best
    # ``entity_depth`` scoring at least ``entity_ratio`` of the best.
    entity_depth: int = 12
    entity_ratio: float = 0.6
    # A question word (phrase) missing from the answer that at most ``cover_rarity``
    # evidence sentences have: its best sentence among the best ``cover_depth`` scoring
    # at least ``cover_ratio`` (``cover_phrase_ratio`` for a word pair, more specific so
    # it may reach further down) of the best, within ``cover_budget`` words in all. A
    # common word says nothing of which sentence answers.
    cover_depth: int = 12
    cover_ratio: float = 0.6
    cover_budget: int = 90
    cover_rarity: int = 2
    cover_phrase_ratio: float = 0.5
    # The sentence after one of the best ``neighbour_anchors`` chosen ones joins when it
    # carries the statement on (or shares a question word), has at least
    # ``min_neighbour_dense`` cosine to the question (times ``continuation_share`` for an
    # opening pronoun or connective, which rarely repeats the question's words), and fits
    # in ``neighbour_budget`` words in all.
    neighbour_anchors: int = 2
    min_neighbour_dense: float = 0.2
    continuation_share: float = 0.5
    neighbour_budget: int = 80


KNOBS = ExtractiveKnobs()


class ExtractiveBackend:
    name = "extractive"

    def __init__(
        self, embedder: Embedder, store: Store | None = None, knobs: ExtractiveKnobs = KNOBS
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.knobs = knobs
        # The only state kept between calls: each document set's distinct words and their
        # vectors (:meth:`_words`). What a call reads (the readable views of its documents,
        # the way back to stored sentence numbers) is a :class:`Readable` passed along,
        # never kept here, so one backend can serve several calls at once. The cache is
        # safe to share: a value is a function of its key alone (the documents' ids and
        # text versions; a new version of a document is a new key), is never changed once
        # stored, and each dict operation is atomic, so two calls that miss together both
        # compute the same value and one of them keeps it.
        self._word_cache: dict[tuple[tuple[str, str], ...], tuple[list[str], Vectors]] = {}

    # -- answering ------------------------------------------------------------

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None = None,
    ) -> Draft:
        """Cited claims answering ``question``, or an abstention.

        Sentences written to a model rather than to a reader (a prompt injection,
        :func:`qa.backends.offline.discourse.is_instruction`) are taken out of the documents first,
        so they are never quoted and change no score: the answer is the one the
        article without them gets.
        """
        readable = Readable.of(documents.values())
        draft = readable.restore(self._answer(question, readable.hits(hits), readable))
        if on_text is not None:
            on_text(" ".join(defuse_markers(claim.text) for claim in draft.claims))
        return draft

    def _answer(self, question: str, hits: Sequence[Hit], readable: Readable) -> Draft:
        """The answer from ``readable``'s views; ``hits`` and citations in their numbering."""
        documents = readable.documents
        ranked = self.rank(question, hits, readable)
        if not ranked:
            return Draft(claims=[], abstained=True)
        kind = question_type(question)
        q_terms = match_terms(question)
        candidates = sorted(ranked, key=lambda c: (c.ref.doc_id, c.ref.index))
        if self._should_abstain(question, kind, ranked, documents):
            draft = Draft(claims=[], abstained=True)
        else:
            quoted = self._speaker_answer(question, q_terms, ranked, documents)
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
            long_answer = sum(c.words for c in ordered) > self.knobs.max_answer_words
            claims = [
                DraftClaim(self._trim(c.text, q_terms, kind) if long_answer else c.text, [c.ref])
                for c in ordered
            ]
            draft = Draft(claims=claims)
        return draft

    def rank(self, question: str, hits: Sequence[Hit], readable: Readable) -> list[Candidate]:
        """Every sentence of ``readable``'s views scored against ``question``, best first.

        ``hits`` are in the views' numbering (:meth:`Readable.hits`).
        """
        candidates = self._candidates(hits, readable)
        if not candidates:
            return []
        kind = question_type(question)
        question_vector = self.embedder.embed([question])[0]
        q_terms = match_terms(question)
        q_pairs = _word_pairs(question)
        weights = idf([candidate.terms for candidate in candidates])
        # A question term no sentence has weighs as much as the rarest one; ``or 1.0``: a
        # question without terms matches nothing, and divides by nothing.
        q_weight = sum(weights.get(term, _max_idf(weights)) for term in q_terms) or 1.0
        knobs = self.knobs
        for candidate in candidates:
            candidate.dense = float(candidate.vector @ question_vector)
            matched = q_terms & candidate.terms
            candidate.overlap = sum(weights[term] for term in matched) / q_weight
            candidate.score = (
                knobs.dense_weight * candidate.dense
                + knobs.overlap_weight * candidate.overlap
                + knobs.type_weight * _type_bonus(kind, candidate.text)
                + knobs.pair_weight
                * min(len(q_pairs & _word_pairs(candidate.text)), knobs.max_pairs)
                - knobs.chunk_rank_weight * min(candidate.chunk_rank, len(hits))
            )
        _focus_documents(candidates, knobs.focus_penalty)
        return sorted(candidates, key=lambda c: (-c.score, c.ref.doc_id, c.ref.index))

    def _candidates(self, hits: Sequence[Hit], readable: Readable) -> list[Candidate]:
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
            document = readable.documents[doc_id]
            vectors = readable.vectors(document, self.store, self.embedder)
            structure = document_structure(document)
            for index, sentence in enumerate(document.sentences):
                ref = SentenceRef(doc_id, index)
                found.append(
                    Candidate(
                        ref=ref,
                        text=sentence.text,
                        vector=vectors[index],
                        terms=sentence_terms(sentence.text),
                        chunk_rank=rank_of.get(ref, len(hits) + self.knobs.unretrieved_rank),
                        position=index,
                        unit=structure.unit[index],
                        paragraph=structure.paragraph[index],
                        speaker=structure.speaker[index],
                        context=structure.context[index],
                    )
                )
        return found

    def _should_abstain(
        self,
        question: str,
        kind: str,
        ranked: Sequence[Candidate],
        documents: Mapping[str, Document],
    ) -> bool:
        """Whether the evidence lacks what the question asks for.

        Each check looks for a specific absence, tolerant of wording: a name the
        question uses that the articles never mention (accents folded, and no
        word of theirs close to it by embedding, so "American" meets "U.S." and
        "Vienna" meets "Austria"); an answer of the asked type (a time, a sum, a
        count of the asked thing, a name) in a sentence about the question's
        event; the event word itself ("agreed", "decide"); and an asked-for party
        the evidence mentions only hedged or negated.  Mere low similarity is no
        reason: a reworded question may match its answer poorly.
        """
        knobs = self.knobs
        best = ranked[0]
        related = max(c.dense for c in ranked[: knobs.abstain_depth])
        if related < knobs.min_dense and best.score < knobs.min_score:
            return True
        folded = " ".join(_folded(document) for document in documents.values())
        for entity in question_entities(question):
            name = fold(entity).removesuffix("'s")
            if name not in folded and not self._has_alias(name, documents):
                return True
        if len(question_parts(question)) > 1:
            return False
        focus = (
            match_terms(question)
            - {lemma(entity) for entity in question_entities(question)}
            - role_words(question)
            - TYPE_WORDS
        )
        top = [
            c
            for c in ranked[: knobs.typed_answer_depth]
            if c.score >= knobs.typed_answer_ratio * best.score
        ]
        expected = answer_type(question)
        if expected and not self._typed_answer(expected, question, focus, top, documents):
            return True
        predicate = question_predicate(question)
        if predicate and kind != "why" and not self._predicate_found(predicate, documents):
            return True
        return self._hedged_target(question, focus, ranked, documents)

    def _words(self, documents: Mapping[str, Document]) -> tuple[list[str], Vectors]:
        """The documents' distinct words (no stopwords or numbers) and their embeddings."""
        key = tuple(sorted((d.id, d.version) for d in documents.values()))
        cached = self._word_cache.get(key)
        if cached is None:
            text = " ".join(f"{d.title} {d.text}" for d in documents.values())
            words = sorted(vocabulary(text))
            cached = (words, self._word_vectors([word.lower() for word in words]))
            if len(self._word_cache) > WORD_CACHE_SIZE:
                self._word_cache.clear()
            self._word_cache[key] = cached
        return cached

    def _word_vectors(self, words: Sequence[str]) -> Vectors:
        """Vectors of lower-case words: from the store (embedded at ingest), else embedded now."""
        stored = self.store.word_vectors(words) if self.store is not None else {}
        missing = sorted({word for word in words if word not in stored})
        if missing:
            stored.update(zip(missing, self.embedder.embed(missing), strict=True))
        if not words:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return np.stack([stored[word] for word in words])

    def _neighbours(
        self, word: str, documents: Mapping[str, Document], threshold: float, names: bool = False
    ) -> set[str]:
        """Lemmas of the documents' words whose embedding is within ``threshold`` of ``word``.

        With ``names``, only capitalised words: the aliases of a name ("U.S." for
        "American"); otherwise lower-case content words as well.
        """
        words, vectors = self._words(documents)
        if not words:
            return set()
        similarity = vectors @ self._word_vectors([word.lower()])[0]
        return {
            lemma(w)
            for w, value in zip(words, similarity, strict=True)
            if value >= threshold and (not names or w[:1].isupper())
        }

    def _has_alias(self, name: str, documents: Mapping[str, Document]) -> bool:
        return bool(
            self._neighbours(name, documents, self.knobs.entity_alias_similarity, names=True)
        )

    def _typed_answer(
        self,
        expected: str,
        question: str,
        focus: set[str],
        top: Sequence[Candidate],
        documents: Mapping[str, Document],
    ) -> bool:
        """Whether a best sentence gives an answer of the ``expected`` type to this question.

        The time or amount must sit in a clause that shares a word with the
        question's event ("the fire started some time after 3 a.m."), not merely
        near it ("Putin said Thursday, urging ... a call with Trump"); a count must
        count the asked thing (by lemma, by an alias the article states, "the
        statues, or moai", or by a close neighbour) in a sentence that also has
        the question's other words or names ("in total", "by late Tuesday").
        """
        if expected == "name":
            return any(_new_name(clause, question) for c in top for clause in _clauses(c.text))
        if expected == "count":
            words = counted_nouns(question)
            if not words:
                return any(has_number(c.text) for c in top)
            nouns = {lemma(word) for word in words}
            expanded = set(nouns)
            aliases = document_aliases(documents.values())
            for word in words:
                expanded |= aliases.get(lemma(word), set())
                expanded |= self._neighbours(word, documents, self.knobs.count_noun_similarity)
            rest = focus - nouns - {"many", "number"}
            phrases = entity_phrases(question)
            return any(
                _counts(c.text, expanded)
                and (
                    (not rest and not phrases)
                    or bool(c.terms & rest)
                    or any(phrase in fold(c.text) for phrase in phrases)
                )
                for c in top
            )
        event = focus - {"much", "expensive", "many"}
        for c in top:
            for clause in _clauses(c.text):
                if expected == "time":
                    typed = bool(TIME_PATTERN.search(clause))
                elif expected == "money":
                    typed = bool(AMOUNT_PATTERN.search(clause))
                else:
                    typed = has_number(clause)
                if typed and (not event or match_terms(clause) & event):
                    return True
        return False

    def _predicate_found(self, predicate: str, documents: Mapping[str, Document]) -> bool:
        """Whether the articles have the question's event word, or one close to it in meaning."""
        key = lemma(predicate)
        words, _ = self._words(documents)
        if any(lemma(word).startswith(key) for word in words):
            return True
        return bool(self._neighbours(predicate, documents, self.knobs.predicate_similarity))

    def _hedged_target(
        self,
        question: str,
        focus: set[str],
        ranked: Sequence[Candidate],
        documents: Mapping[str, Document],
    ) -> bool:
        """Whether the party asked for is mentioned only hedged or negated.

        "Who was the skipper?" over "someone who may or may not have been the
        captain", "Which other companies bid?" over "not naming any other
        bidders": the evidence says it does not know, which is no answer.  The
        asked-for noun is matched by lemma or close neighbour, in the best-ranked
        sentence that mentions it (and the question's names, where one does).
        """
        target = asked_party(question)
        if target:
            keys = {lemma(target)} | self._neighbours(
                target, documents, self.knobs.party_similarity
            )
            mentions = [c for c in ranked if _mentions(c.text, keys)]
            phrases = entity_phrases(question)
            about = [c for c in mentions if all(p in fold(c.text) for p in phrases)]
            mentions = about or mentions
            return bool(mentions) and _negated_mention(mentions[0].text, keys)
        if ENTITY_QUESTION.match(question.lower()):
            depth = self.knobs.hedged_depth
            mention = next((c for c in ranked[:depth] if _mentions(c.text, focus)), None)
            return mention is not None and _negated_mention(mention.text, focus)
        return False

    def _choose(self, kind: str, q_terms: set[str], ranked: Sequence[Candidate]) -> list[Candidate]:
        knobs = self.knobs
        best = ranked[0]
        chosen = [best]
        covered = set(best.terms & q_terms)
        words = len(best.text.split())
        limit = knobs.list_sentences if kind in ("list", "why") else knobs.choose_sentences
        for candidate in ranked[1 : knobs.choose_depth]:
            if len(chosen) >= limit or words >= knobs.max_answer_words * knobs.choose_words_factor:
                break
            if candidate.score < knobs.choose_ratio * best.score:
                break
            new_terms = (candidate.terms & q_terms) - covered
            # A sentence closer in meaning than the best one (which won on shared words)
            # is taken without new question words: a reworded question shares few.
            closer = candidate.dense > best.dense
            if kind not in ("list", "why", "who") and not new_terms and not closer:
                continue
            if any(_similarity(candidate, other) > knobs.duplicate_similarity for other in chosen):
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
        for anchor in ranked[: self.knobs.elaboration_anchors]:
            if focus not in anchor.terms:
                continue
            if _spells_out(anchor.text, focus):
                # "compared the sites to the specific resources: rock, fishing, water":
                # the list is in the anchor itself, which the usual ranking finds.
                return []
            document = documents[anchor.ref.doc_id]
            following = []
            last = anchor.ref.index + self.knobs.elaboration_sentences
            for index in range(anchor.ref.index + 1, min(last + 1, len(document.sentences))):
                candidate = by_ref.get(SentenceRef(document.id, index))
                if candidate is None or candidate.dense < self.knobs.min_elaboration_dense:
                    break
                following.append(candidate)
            if following:
                return following
        return []

    def _speaker_keys(
        self, part: str, ranked: Sequence[Candidate], documents: Mapping[str, Document]
    ) -> list[str]:
        """Match keys for one speaker the question names, by name or by role.

        A name ("Peskov", "Brazil's president") gives its keys when some quotation
        is attributed to it.  Otherwise ("his spokesman", "the US president", "the
        head of the retailers' association") each speaker of the evidence is
        described by the words around their name in the articles ("Kremlin
        spokesperson Dmitry Peskov", "Russell Zimmerman, executive director of the
        Australian Retailers Association"), and the speaker whose description
        covers most of the phrase's words (by lemma, or less by close neighbour) is
        taken; a tie between speakers (not one named in part by the other) gives none.
        """
        keys = part_keys(part)
        if keys and any(
            (c.speaker and _keys_match(keys, c.speaker))
            or (c.context and _keys_match(keys, c.context))
            for c in ranked
        ):
            return keys
        wanted = [lemma(w) for w in WORD_PATTERN.findall(part) if w.lower() not in STOPWORDS]
        if not wanted:
            return []
        expanded = [
            {word} | self._neighbours(word, documents, self.knobs.party_similarity)
            for word in wanted
        ]
        text = " ".join(d.text for d in documents.values())
        scores: dict[str, float] = {}
        for name in sorted({c.speaker for c in ranked if c.speaker}):
            described = {
                fold(t).replace(".", "")
                for passage in _passages_around(name.split()[-1], text)
                for t in match_terms(passage)
            }
            described |= {fold(t).replace(".", "") for t in match_terms(name)}
            # A word of the phrase itself counts more than a word merely close to it.
            scores[name] = sum(
                1.0
                if fold(word).replace(".", "") in described
                else self.knobs.role_neighbour_weight
                for word, group in zip(wanted, expanded, strict=True)
                if {fold(t).replace(".", "") for t in group} & described
            )
        top = max(scores.values(), default=0.0)
        # The description must cover half the phrase's words (and at least one).
        if top < max(1, len(wanted) // 2):
            return []
        # "Kremlin" and "Kremlin Spokesperson Dmitry Peskov" are one speaker, named in part.
        tied = [name for name, score in scores.items() if score == top]
        fullest = [
            n for n in tied if not any(n != m and set(n.split()) < set(m.split()) for m in tied)
        ]
        if len(fullest) > 1:
            # Two speakers fit the description equally: the question does not pick one.
            return []
        return [word_key(fullest[0].split()[-1])]

    def _speaker_answer(
        self,
        question: str,
        q_terms: set[str],
        ranked: Sequence[Candidate],
        documents: Mapping[str, Document],
    ) -> list[Candidate]:
        """For "What did X say ...?" / "According to X, ...": the quotations attributed to X.

        A quotation is taken whole (the sentence naming X and the quoted sentences
        that carry it on), best first, within a word budget; each speaker the
        question names gets at least its best quotation.
        """
        speakers = [
            keys
            for part in speaker_parts(question)
            if (keys := self._speaker_keys(part, ranked, documents))
        ]
        if not speakers:
            return []
        # Among X's quotations the rest of the question decides, not X's own name.
        topic = q_terms - match_terms(question_speaker_phrase(question))
        knobs = self.knobs

        def relevance(unit: list[Candidate]) -> float:
            best = max(
                c.dense + knobs.speaker_topic_weight * len(c.terms & topic) / max(len(topic), 1)
                for c in unit
            )
            quoted = any(char in c.text for c in unit for char in QUOTE_CHARS)
            return best + (knobs.quoted_bonus if quoted else 0.0)

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
        budget = self.knobs.speaker_answer_words
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
                if depth > 0 and relevance(unit) < knobs.speaker_relevance_ratio * best_relevance:
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
        knobs = self.knobs
        best = ranked[0].score
        pool = [c for c in ranked[: knobs.parts_depth] if c.score >= knobs.parts_ratio * best]
        vectors = self.embedder.embed(parts)
        part_terms = [match_terms(part) for part in parts]
        for number, (part, vector) in enumerate(zip(parts, vectors, strict=True)):
            kind = question_type(
                re.sub(r"^(?:by|on|in|at|from|for|to|with)\s+", "", part, flags=re.IGNORECASE)
            )
            # A word the parts share ("called for ..., and who backed the call") tells
            # them apart from nothing: each part is matched on its own words.
            others = set().union(*(t for i, t in enumerate(part_terms) if i != number))
            # "on what day" / "in which year" names the answer's type, not its content.
            terms = ((part_terms[number] - others) or part_terms[number]) - TYPE_WORDS
            if not terms:
                if kind in ("when", "who", "where", "number", "why") and not any(
                    _type_bonus(kind, c.text) for c in chosen
                ):
                    fitting = [c for c in pool if _type_bonus(kind, c.text)]
                    if fitting:
                        chosen = [*chosen, fitting[0]]
                continue

            scores = [
                knobs.dense_weight * float(c.vector @ vector)
                + knobs.overlap_weight * len(c.terms & terms) / len(terms)
                + knobs.type_weight * _type_bonus(kind, c.text)
                for c in pool
            ]
            top = pool[scores.index(max(scores))]
            if top not in chosen:
                chosen = [*chosen, top]
        return chosen

    def _cover_entities(
        self, question: str, chosen: list[Candidate], ranked: Sequence[Candidate]
    ) -> list[Candidate]:
        """Add the best sentence for each name in the question that no chosen sentence has.

        The sentence must also add a question word the answer lacks: a name used as
        a modifier ("the Russian leader", "Moscow's answer") is met by the sentence
        about the leader or the answer, and the name's own sentence is off topic.
        """
        text = " ".join(candidate.text for candidate in chosen).lower()
        best = ranked[0].score
        names = {lemma(entity) for entity in question_entities(question)}
        topic = match_terms(question) - names
        covered = set().union(*(c.terms for c in chosen))
        for entity in question_entities(question):
            name = entity.lower().replace("’", "'").removesuffix("'s")
            if name in text.replace("’", "'"):
                continue
            for candidate in ranked[: self.knobs.entity_depth]:
                if candidate.score < self.knobs.entity_ratio * best:
                    break
                if name in candidate.text.lower().replace("’", "'") and candidate not in chosen:
                    # A name used as a modifier ("the Russian leader") is met by the
                    # sentence about the leader; the name's own sentence must add an ask.
                    if not (candidate.terms & topic) - covered:
                        break
                    chosen = [*chosen, candidate]
                    covered |= candidate.terms
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
        # The noun after "which/what" names the kind of answer ("Which company ...?"), and
        # the source a question cites ("What does the story say ...?") frames it: neither
        # is an ask a sentence must answer.
        framing = match_terms(question_speaker_phrase(question)) | _kind_noun(question)
        topic = q_terms - {lemma(entity) for entity in question_entities(question)} - framing
        # "the vessel", "decision in" add nothing to their content word; "stocking up" does.
        phrases = {
            pair
            for pair in _word_pairs(question)
            if topic & set(pair) and all(word in q_terms or word in PARTICLES for word in pair)
        }
        pairs = {id(c): _word_pairs(c.text) & phrases for c in ranked}
        asks: list[tuple[float, str | tuple[str, str]]] = [
            (self.knobs.cover_ratio, term) for term in sorted(topic)
        ] + [(self.knobs.cover_phrase_ratio, pair) for pair in sorted(phrases)]

        def has(candidate: Candidate, ask: str | tuple[str, str]) -> bool:
            return ask in (candidate.terms if isinstance(ask, str) else pairs[id(candidate)])

        best = ranked[0].score
        words = sum(c.words for c in chosen)
        result = list(chosen)
        for ratio, ask in asks:
            if any(has(c, ask) for c in result):
                continue
            if sum(1 for c in ranked if has(c, ask)) > self.knobs.cover_rarity:
                continue
            for candidate in ranked[: self.knobs.cover_depth]:
                if candidate.score < ratio * best:
                    break
                if has(candidate, ask) and candidate not in result:
                    if words + candidate.words <= self.knobs.cover_budget:
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
        The next sentence after one of the two best-scoring chosen ones is taken
        when it continues it (an opening pronoun or connective, the same quotation)
        or shares a word with the question beyond its names, within the word budget.
        """
        by_ref = {c.ref: c for c in candidates}
        topic = q_terms - {lemma(entity) for entity in question_entities(question)}
        words = sum(c.words for c in chosen)
        result = list(chosen)
        best_first = sorted(chosen, key=lambda c: (-c.score, c.ref.doc_id, c.ref.index))
        for anchor in best_first[: self.knobs.neighbour_anchors]:
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
            share = self.knobs.continuation_share if continues else 1.0
            if following.dense < self.knobs.min_neighbour_dense * share:
                continue
            if not (continues or shared):
                continue
            if words + following.words > self.knobs.neighbour_budget:
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
        """A cited summary; instruction sentences are left out as for :meth:`answer`."""
        readable = Readable.of(documents)
        views = readable.documents
        ordered = [views[d.id] for d in documents if views[d.id].sentences]
        draft = summarize(
            ordered,
            sentences,
            lambda document: readable.vectors(document, self.store, self.embedder),
            self.embedder.embed,
        )
        return readable.restore(draft)


def _kind_noun(question: str) -> set[str]:
    """The lemma of the noun after "which/what" ("Which company ...?"): the kind of answer."""
    match = re.match(r"^\s*(?:which|what)\s+(\w+)\b", question, re.IGNORECASE)
    if not match or match.group(1).lower() in QUESTION_WORDS | STOPWORDS:
        return set()
    return {lemma(match.group(1))}


def _keys_match(keys: Sequence[str], text: str) -> bool:
    words = {word_key(word)[: len(key)] for key in keys for word in WORD_PATTERN.findall(text)}
    return all(key in words for key in keys)


@lru_cache(maxsize=1 << 14)
def _word_pairs(text: str) -> frozenset[tuple[str, str]]:
    """Adjacent word pairs with at least one content word: phrase matches, not bag of words.

    Cached: every question compares its pairs with those of each evidence sentence, and
    the same sentences come back question after question."""
    words = [w.lower().replace("’", "'") for w in WORD_PATTERN.findall(text)]
    return frozenset(
        (lemma(a), lemma(b))
        for a, b in itertools.pairwise(words)
        if a not in QUESTION_WORDS
        and b not in QUESTION_WORDS
        and not (a in STOPWORDS and b in STOPWORDS)
    )


def _focus_documents(candidates: Sequence[Candidate], penalty: float) -> None:
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
        candidate.score -= penalty * (top - best_by_doc[candidate.ref.doc_id])


def _clauses(text: str) -> list[str]:
    return [part for part in re.split(r"[,;:—–()]|\s-\s|\bwhich\b|\bwho\b", text) if part.strip()]


def _spells_out(text: str, focus: str) -> bool:
    """Whether ``text`` enumerates after its word for ``focus`` (a colon, or two commas)."""
    words = list(WORD_PATTERN.finditer(text))
    start = next((w.end() for w in words if lemma(w.group()) == focus), None)
    if start is None:
        return False
    rest = outside_quotes(text[start:])
    # Two commas make a list of three ("rock, fishing, water"); one may be an aside.
    return ":" in rest or rest.count(",") >= 2


def _mentions(text: str, terms: set[str]) -> bool:
    return any(
        len(term) >= MIN_PREFIX and lemma(word).startswith(term)
        for word in WORD_PATTERN.findall(text)
        for term in terms
    )


def _negated_mention(text: str, terms: set[str]) -> bool:
    """Whether ``text`` mentions one of ``terms`` only under a negation or hedge."""
    words = [w.lower() for w in WORD_PATTERN.findall(outside_quotes(text))]
    for i, word in enumerate(words):
        named = any(len(term) >= MIN_PREFIX and lemma(word).startswith(term) for term in terms)
        before = words[max(0, i - NEGATION_WINDOW) : i]
        if named and any(earlier in NEGATIONS for earlier in before):
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
        is_number = bool(DIGIT_PATTERN.search(word)) or word.lower() in QUANTITY_WORDS
        if is_number and any(
            lemma(later) in nouns for later in words[i + 1 : i + 1 + COUNT_WINDOW]
        ):
            return True
    return False


def _max_idf(idf: Mapping[str, float]) -> float:
    """The rarest term's weight (1 with no terms at all)."""
    return max(idf.values(), default=1.0)


def _type_bonus(kind: str, text: str) -> float:
    """1 when ``text`` holds an answer of the question's ``kind``, else 0."""
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


# A speaker's description: up to five words before the name ("Kremlin spokesperson Dmitry
# Peskov"), searched in the 240 characters before it (five long words and their spaces),
# and an apposition after it of up to 80 characters ("Zimmerman, executive director of
# the Australian Retailers Association").
_WORDS_BEFORE = re.compile(r"(?:[\w.’'-]+\s+){0,5}\Z")
_WORDS_BEFORE_CHARS = 240
_APPOSITION_AFTER = re.compile(r",[^,.;“\"]{0,80}")


def _passages_around(surname: str, text: str) -> list[str]:
    """Each mention of ``surname`` with up to five words before it and an apposition
    after it ("Kremlin spokesperson Dmitry Peskov", "Zimmerman, executive director of
    the Australian Retailers Association").

    The words before are matched in a short window ending at the mention: one pattern
    that finds the words and the name together is tried at every position of the
    articles, and cost several milliseconds per speaker per question.
    """
    passages = []
    for mention in re.finditer(rf"{re.escape(surname)}\b", text):
        before = _WORDS_BEFORE.search(
            text, max(0, mention.start() - _WORDS_BEFORE_CHARS), mention.start()
        )
        after = _APPOSITION_AFTER.match(text, mention.end())
        passages.append(
            (before.group() if before else "") + mention.group() + (after.group() if after else "")
        )
    return passages


@lru_cache(maxsize=256)
def _folded(document: Document) -> str:
    """A document's title and text, folded once rather than for every question."""
    return fold(f"{document.title} {document.text}")


def create(settings: Settings, store: Store) -> ExtractiveBackend:
    """The registry's factory: the offline engine reads the store's vectors and embedder."""
    return ExtractiveBackend(store.embedder, store)
