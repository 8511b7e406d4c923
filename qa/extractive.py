"""The offline backend: extractive answers and summaries, at sentence and clause level.

Answers: every sentence of the retrieved chunks is scored against the question
by embedding similarity, IDF-weighted term overlap and the question's type
(who, when, where, how many, why, list).  The best few are chosen, each cut to
the clauses that carry the answer, and cited.  It abstains when the question
names something the evidence never mentions, when nothing matches well enough,
or when a how-many / when question finds no number or time in its best match.

Summaries: sentences are chosen by centrality, position and attribution with a
redundancy penalty (MMR), making room for each party quoted in the article.
Non-restrictive relative clauses in the article's own voice (", who ...,") are
dropped, since that is where editorial colour usually sits.

Not handled: answers that need arithmetic or inference across sentences, and
coreference ("he", "the Kremlin leader") beyond what the embeddings capture.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qa.backend import TextSink
from qa.embed import Embedder, Vectors
from qa.store import Store
from qa.types import Document, Draft, DraftClaim, Hit, SentenceRef

STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as into about over after
    before between through during without within under above up down out off than then
    so such is are was were be been being am do does did doing done have has had having
    will would shall should can could may might must not no nor only own same too very
    just also it its it's this that these those there here their them they he him his
    she her hers we us our you your i me my mine what which who whom whose when where
    why how whether all any both each few more most other some many much one ones said
    says say according tell told get got make made take took give gave go went come came""".split()
)
QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how did does do is are was were according""".split()
)
NUMBER_WORDS = frozenset(
    """one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
    eighty ninety hundred hundreds thousand thousands million millions billion billions
    dozen dozens half several""".split()
)
TIME_PATTERN = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow"
    r"|tonight|january|february|march|april|may|june|july|august|september|october|november"
    r"|december|morning|afternoon|evening|night|week|weeks|month|months|year|years|ago"
    r"|earlier|later|last|next|since|until|(1[89]|20)\d\d|\d{1,2}:\d\d|utc|gmt)\b",
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
DIGIT_PATTERN = re.compile(r"\d")
WORD_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.-]*[A-Za-z0-9]|[A-Za-z0-9]")
# Clause boundaries at which a long sentence may be cut without breaking a quote.
CLAUSE_BREAK = re.compile(r"(?<=[,;:—–])\s+|\s+(?=[—–]\s)")
RELATIVE_CLAUSE = re.compile(r",\s+(?:who|which|whose)\b[^,“”\"]{3,160},\s+")
TRAILING_PARTICIPLE = re.compile(
    r",\s+(?:urging|saying|adding|citing|noting|calling|prompting|describing)\b[^“”\"]*(?=[.!?]$)"
)
QUOTE_CHARS = '"“”'


def stem(word: str) -> str:
    word = word.lower().strip("'’.-").replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in (
        "ingly",
        "edly",
        "ations",
        "ation",
        "ings",
        "ing",
        "ied",
        "ies",
        "ed",
        "es",
        "s",
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word


def content_terms(text: str) -> list[str]:
    return [
        stem(word)
        for word in WORD_PATTERN.findall(text)
        if word.lower().replace("’", "'") not in STOPWORDS and len(word) > 1
    ]


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
    if re.match(r"^(what|which) \w+s\b", lowered) or re.search(
        r"\b(list|what are|which are)\b", lowered
    ):
        return "list"
    return "what"


def question_focus(question: str) -> str:
    """The plural head noun of "What caveats ..." / "Which elements ...", stemmed; or ""."""
    match = re.match(r"^\s*(?:what|which)\s+(?:\w+\s+)?(\w+s)\b", question, re.IGNORECASE)
    if not match or match.group(1).lower() in QUESTION_WORDS | STOPWORDS:
        return ""
    return stem(match.group(1))


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


class ExtractiveBackend:
    name = "extractive"
    min_dense = 0.30
    min_score = 0.34
    max_answer_words = 45
    min_elaboration_dense = 0.15

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
        candidates = self._candidates(hits, documents)
        if not candidates:
            return Draft(claims=[], abstained=True)
        kind = question_type(question)
        question_vector = self.embedder.embed([question])[0]
        q_terms = set(content_terms(question))
        idf = _idf([candidate.terms for candidate in candidates])
        q_weight = sum(idf.get(term, _max_idf(idf)) for term in q_terms) or 1.0
        for candidate in candidates:
            candidate.dense = float(candidate.vector @ question_vector)
            matched = q_terms & candidate.terms
            candidate.overlap = sum(idf[term] for term in matched) / q_weight
            candidate.score = (
                0.6 * candidate.dense
                + 0.4 * candidate.overlap
                + 0.08 * _type_bonus(kind, candidate.text)
                - 0.004 * candidate.chunk_rank
            )
        ranked = sorted(candidates, key=lambda c: -c.score)
        if self._should_abstain(question, kind, ranked, documents):
            draft = Draft(claims=[], abstained=True)
        else:
            chosen = self._elaboration(question, ranked, candidates, documents) or self._choose(
                kind, q_terms, ranked
            )
            claims = [
                DraftClaim(self._trim(candidate.text, q_terms, kind), [candidate.ref])
                for candidate in sorted(chosen, key=lambda c: (c.ref.doc_id, c.ref.index))
            ]
            draft = Draft(claims=claims)
        if on_text is not None:
            on_text(" ".join(claim.text for claim in draft.claims))
        return draft

    def _candidates(
        self, hits: Sequence[Hit], documents: Mapping[str, Document]
    ) -> list[Candidate]:
        seen: dict[SentenceRef, Candidate] = {}
        vectors: dict[str, Vectors] = {}
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            document = documents[chunk.doc_id]
            if chunk.doc_id not in vectors:
                vectors[chunk.doc_id] = self._sentence_vectors(document)
            for index in range(chunk.first_sentence, chunk.last_sentence + 1):
                ref = SentenceRef(chunk.doc_id, index)
                if ref in seen:
                    continue
                sentence = document.sentences[index]
                seen[ref] = Candidate(
                    ref=ref,
                    text=sentence.text,
                    vector=vectors[chunk.doc_id][index],
                    terms=set(content_terms(sentence.text)),
                    chunk_rank=rank,
                    position=index,
                )
        return list(seen.values())

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
        if best.dense < self.min_dense or best.score < self.min_score:
            return True
        top = [c for c in ranked[:3] if c.score >= 0.8 * best.score]
        if kind == "number" and not any(_has_number(c.text) for c in top):
            return True
        return kind == "when" and not any(TIME_PATTERN.search(c.text) for c in top)

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

    def _trim(self, text: str, q_terms: set[str], kind: str) -> str:
        """Drop unquoted side clauses (", who ...,", ", urging ...") that miss the question."""

        def keep_if_relevant(match: re.Match[str]) -> str:
            clause_terms = set(content_terms(match.group()))
            return match.group() if clause_terms & q_terms else " "

        trimmed = RELATIVE_CLAUSE.sub(keep_if_relevant, text)
        trimmed = TRAILING_PARTICIPLE.sub(
            lambda match: match.group() if set(content_terms(match.group())) & q_terms else "",
            trimmed,
        )
        trimmed = re.sub(r"\s+,", ",", re.sub(r"\s{2,}", " ", trimmed))
        return trimmed if _balanced_quotes(trimmed) else text

    # -- summarising ----------------------------------------------------------

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        pool: list[tuple[Document, int]] = [
            (document, index)
            for document in documents
            for index in range(len(document.sentences))
            if _summary_worthy(document.sentences[index].text)
        ]
        if not pool:
            return Draft(claims=[])
        vectors = np.stack(
            [self._sentence_vectors(document)[index] for document, index in pool]
        ).astype(np.float32)
        centroid = vectors.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
        centrality = vectors @ centroid
        relevance: list[float] = []
        speakers: list[str] = []
        for (document, index), central in zip(pool, centrality, strict=True):
            text = document.sentences[index].text
            position = index / max(len(document.sentences), 1)
            score = float(central) + 0.25 * (1.0 - position) ** 2
            if ATTRIBUTION_PATTERN.search(text):
                score += 0.08
            if _is_bare_quote(text):
                score -= 0.15
            relevance.append(score)
            speakers.append(_speaker(text))
        chosen: list[int] = []
        similarity = vectors @ vectors.T
        represented: set[str] = set()
        while len(chosen) < min(sentences, len(pool)):
            best_index, best_value = -1, -math.inf
            for i in range(len(pool)):
                if i in chosen:
                    continue
                redundancy = max((float(similarity[i, j]) for j in chosen), default=0.0)
                value = 0.7 * relevance[i] - 0.3 * redundancy
                if speakers[i] and speakers[i] not in represented:
                    value += 0.1
                if value > best_value:
                    best_index, best_value = i, value
            chosen.append(best_index)
            if speakers[best_index]:
                represented.add(speakers[best_index])
        claims = []
        for i in sorted(chosen, key=lambda i: (documents.index(pool[i][0]), pool[i][1])):
            document, index = pool[i]
            text = _neutralise(document.sentences[index].text)
            claims.append(DraftClaim(text, [SentenceRef(document.id, index)]))
        return Draft(claims=claims)


def _idf(term_sets: Sequence[set[str]]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for terms in term_sets:
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
    total = len(term_sets)
    return {term: math.log(1 + total / count) for term, count in counts.items()}


def _max_idf(idf: Mapping[str, float]) -> float:
    return max(idf.values(), default=1.0)


def _has_number(text: str) -> bool:
    return bool(DIGIT_PATTERN.search(text)) or any(
        word.lower() in NUMBER_WORDS for word in WORD_PATTERN.findall(text)
    )


def _type_bonus(kind: str, text: str) -> float:
    if kind == "number":
        return 1.0 if _has_number(text) else 0.0
    if kind == "when":
        return 1.0 if TIME_PATTERN.search(text) else 0.0
    if kind == "why":
        return 1.0 if REASON_PATTERN.search(text) else 0.0
    if kind == "who":
        return 1.0 if NAME_PATTERN.search(text) else 0.0
    if kind == "where":
        return 1.0 if re.search(r"\b(in|at|near|from) [A-Z]", text) else 0.0
    return 0.0


def _similarity(a: Candidate, b: Candidate) -> float:
    return float(a.vector @ b.vector)


def _balanced_quotes(text: str) -> bool:
    return text.count('"') % 2 == 0 and text.count("“") == text.count("”")


def _summary_worthy(text: str) -> bool:
    words = text.split()
    # Datelines and pull-quote attributions carry no claim of their own.
    return len(words) >= 6 and not text.lstrip().startswith(("–", "—"))


def _is_bare_quote(text: str) -> bool:
    """A quotation with no speaker in the sentence cannot stand alone in a summary."""
    stripped = text.strip()
    return stripped[:1] in QUOTE_CHARS and not ATTRIBUTION_PATTERN.search(stripped)


def _speaker(text: str) -> str:
    """The name an attribution names ("X said", "said X", "according to X"), if any."""
    outside = re.sub(r"[“\"][^”\"]*[”\"]", " ", text)
    match = re.search(
        r"([A-Z][\w.’'-]+(?:\s+[A-Z][\w.’'-]+)*)\s+(?:said|says|told|added|stated|wrote|warned)\b"
        r"|\b(?:said|according to)\s+([A-Z][\w.’'-]+(?:\s+[A-Z][\w.’'-]+)*)",
        outside,
    )
    if not match:
        return ""
    name = match.group(1) or match.group(2) or ""
    return name.split()[-1].lower()


def _neutralise(text: str) -> str:
    """Drop unquoted non-restrictive relative clauses, the usual seat of editorial colour."""
    trimmed = RELATIVE_CLAUSE.sub(" ", text)
    trimmed = re.sub(r"\s+,", ",", re.sub(r"\s{2,}", " ", trimmed))
    return trimmed if _balanced_quotes(trimmed) else text
