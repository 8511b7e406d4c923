"""What the answer scorer sees: candidate sentences and their features, as numbers.

Every sentence of the retrieved chunks is a candidate.  Its feature vector is
built from what qa already computes: MiniLM cosine with the question (the
sentence itself and its neighbours), IDF-weighted lemma overlap (the sentence,
and the window of it and its neighbours), shared word pairs, BM25, whether it
holds the kind of thing the question asks for (a number, a time, a name, a
place, a reason, an enumeration), the question's names and speaker, quotation,
its place in the article and the rank of the chunk that brought it.  Features
relative to the best candidate (``cos_gap``, ``doc_gap``) let one weight serve
questions whose absolute similarities differ.

The question gets a second, shorter vector for abstention: how well the best
candidates match, which of its names and content words the evidence lacks (a word
counts as present when a document has its lemma or a close MiniLM word-vector
neighbour, a name when a document has its last word or an alias, so a reader's
rewording is not taken for missing evidence), how much of the question the best
candidate holding the asked-for kind of answer covers, and what kind of question
it is.  :mod:`qa.backends.offline.scorer` turns both into
probabilities with weights learned from data (``train/scorer.py``).

Everything here is a pure function of the question, the retrieved chunks, the
documents (as the engine reads them: instruction sentences already removed),
their sentence vectors and the word vectors, so the training script computes exactly what the
engine computes when it answers.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from qa.backends.offline.discourse import (
    NAME_PATTERN,
    QUOTE_CHARS,
    REASON_PATTERN,
    TIME_PATTERN,
    document_structure,
    has_number,
    lemma,
    match_terms,
    sentence_terms,
)
from qa.backends.offline.question import (
    PERSON_ROLES,
    QUESTION_WORDS,
    TYPE_WORDS,
    answer_type,
    entity_phrases,
    fold,
    question_type,
    speaker_parts,
    word_key,
)
from qa.index.embed import Vectors
from qa.text.words import STOPWORDS, WORD_PATTERN, vocabulary
from qa.types import Document, Hit, SentenceRef

Matrix = npt.NDArray[np.float64]

# The question kinds of :func:`qa.backends.offline.question.question_type`, one feature each.
KINDS = ("what", "who", "when", "where", "why", "number", "list")

# Per candidate, in this order (the weights file records the names and is checked against them).
CANDIDATE_FEATURES = (
    "cos",  # MiniLM cosine of question and sentence
    "cos_gap",  # cos minus the best candidate's cos (0 for the best)
    "cos_rank",  # 1 / (1 + rank of cos among the candidates)
    "neighbour_cos",  # the better cosine of the sentence before and after it (same document)
    "overlap",  # IDF-weighted share of the question's lemmas the sentence has
    "overlap_gap",  # overlap minus the best candidate's overlap
    "window_overlap",  # the same share for the sentence with its two neighbours
    "pairs",  # adjacent question word pairs the sentence repeats (at most 3), over 3
    "bm25",  # BM25 of the sentence for the question, over the best candidate's
    "type_match",  # holds the kind of thing the question asks for (see answer_kinds)
    *(f"type_{kind}" for kind in KINDS[1:]),  # type_match for that question kind only
    "novelty",  # log(1 + content lemmas the question does not have)
    "names",  # share of the question's names (capitalised runs) the sentence has
    "speaker",  # the sentence is attributed to a speaker the question names
    "quote",  # the sentence holds a quotation mark
    "position",  # sentence index over the document's sentence count
    "lede",  # one of the document's first two sentences (headline, lede)
    "chunk_rank",  # 1 / (1 + rank of the best retrieved chunk holding the sentence)
    "dense_rank",  # 1 / rank of that chunk in dense retrieval (0 when not found by it)
    "lexical_rank",  # 1 / rank of that chunk in BM25 retrieval (0 when not found by it)
    "doc_gap",  # best cos in the sentence's document minus the best cos overall
    "words",  # log of the sentence's word count
    "opens_with_reference",  # opens with a pronoun or connective: leans on the sentence before
)

# Per question, for abstention; the first two come from the candidate scorer.  The evidence
# features match a question word by its lemma or by a MiniLM word-vector neighbour in the
# documents ("truce" meets "ceasefire"), and a name by its last word or an alias, so that a
# reader's rewording does not read as missing evidence (issue 13: exact-match versions of
# these over-abstained on reworded questions).
QUESTION_FEATURES = (
    "top_p",  # the best candidate's probability of holding a gold fact
    "second_p",  # the second best candidate's
    "max_cos",  # the best cosine of any candidate
    "max_overlap",  # the best overlap of any candidate
    "max_window_overlap",  # the best window overlap of any candidate
    "typed",  # the question wants a typed answer (time, count, amount, name)...
    "typed_found",  # ... and one of the three best candidates holds one
    *(f"kind_{kind}" for kind in KINDS),
    "question_terms",  # log(1 + the question's content lemma count)
    "soft_terms_missing",  # share of its words no document has, by lemma or neighbour
    "soft_names_missing",  # share of its names whose last word no document has, nor an alias
    "support",  # best IDF-weighted share of its words a candidate's window has (or neighbours)
    "typed_support",  # the same, among the candidates holding what the question asks for
)

# A sentence that opens like this carries on the statement of the one before it.
REFERENCE_OPENING = re.compile(
    r"^\W*(?:he|she|it|they|this|these|those|its|their|his|her|however|but|also|in addition"
    r"|meanwhile|instead)\b",
    re.IGNORECASE,
)
# A place: "in Paris", "at Camp Shorab", "near the Seine" with a capitalised name.
PLACE_PATTERN = re.compile(r"\b(?:in|at|near|from|outside|across) (?:the )?[A-Z]")
# BM25's usual constants: term saturation and length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75


# A name's alias: a capitalised document word this close to it by MiniLM word vector
# ("U.S." for "American"; the rule engine's entity_alias_similarity).
ALIAS_SIMILARITY = 0.56
# A document word this close to a question word stands in for it ("truce" for
# "ceasefire"); 0.5, 0.6 and 0.7 were tried in grouped CV (docs/answering.md): 0.6 gave
# the best AUC on eval/news-abstention (0.89; 0.87 and 0.88) and the most abstention.
NEIGHBOUR_SIMILARITY = 0.6


@dataclass(frozen=True)
class WordVectors:
    """Unit MiniLM vectors of lower-case words (one row each), from the store or embedded."""

    name: str  # the embedder's: cached vocabularies are kept per embedder
    lookup: Callable[[Sequence[str]], Matrix]


@dataclass(frozen=True)
class Candidate:
    """One candidate sentence, in the numbering of the documents the engine reads."""

    ref: SentenceRef
    text: str
    words: int
    chunk_rank: int


@dataclass(frozen=True)
class Evidence:
    """The candidates of one question and their features (one row per candidate)."""

    candidates: tuple[Candidate, ...]
    features: Matrix
    # QUESTION_FEATURES without the two scorer outputs, filled in by the scorer.
    question_features: Matrix


def answer_kinds(text: str) -> dict[str, bool]:
    """Which kinds of answer ``text`` holds, by question kind."""
    return {
        "who": bool(NAME_PATTERN.search(text)),
        "when": bool(TIME_PATTERN.search(text)),
        "where": bool(PLACE_PATTERN.search(text)),
        "why": bool(REASON_PATTERN.search(text)),
        "number": has_number(text),
        # Enumerations ("A, B and C", "resources: A, B") are what a list question wants.
        "list": text.count(",") >= 2 and bool(re.search(r"\b(?:and|or)\b|:", text)),
    }


@lru_cache(maxsize=1 << 14)
def _kinds(text: str) -> tuple[bool, ...]:
    kinds = answer_kinds(text)
    return tuple(kinds[kind] for kind in KINDS[1:])


@lru_cache(maxsize=1 << 14)
def word_pairs(text: str) -> frozenset[tuple[str, str]]:
    """Adjacent word pairs with at least one content word, as lemmas: phrase matches."""
    words = [w.lower().replace("’", "'") for w in WORD_PATTERN.findall(text)]
    return frozenset(
        (lemma(a), lemma(b))
        for a, b in itertools.pairwise(words)
        if a not in QUESTION_WORDS
        and b not in QUESTION_WORDS
        and not (a in STOPWORDS and b in STOPWORDS)
    )


DocumentTerms = tuple[tuple[frozenset[str], ...], Counter[str], str]
# Per document (by id and text), computed once: the store hands out a new Document object
# for every question, and comparing whole documents as cache keys costs more than the work.
_DOCUMENTS: OrderedDict[tuple[str, str], DocumentTerms] = OrderedDict()
DOCUMENT_CACHE_SIZE = 512


def _document_terms(document: Document) -> DocumentTerms:
    """Each sentence's lemmas, in how many sentences each lemma occurs, and the folded text."""
    key = (document.id, document.text)
    cached = _DOCUMENTS.get(key)
    if cached is None:
        terms = tuple(sentence_terms(sentence.text) for sentence in document.sentences)
        counts: Counter[str] = Counter()
        for sentence in terms:
            counts.update(sentence)
        cached = (terms, counts, fold(f"{document.title} {document.text}"))
        _DOCUMENTS[key] = cached
        while len(_DOCUMENTS) > DOCUMENT_CACHE_SIZE:
            _DOCUMENTS.popitem(last=False)
    return cached


def candidates(hits: Sequence[Hit], documents: Mapping[str, Document]) -> list[Candidate]:
    """The sentences of the retrieved chunks, best chunk first, each once."""
    found: dict[SentenceRef, Candidate] = {}
    for rank, hit in enumerate(hits):
        chunk = hit.chunk
        document = documents[chunk.doc_id]
        for index in range(chunk.first_sentence, chunk.last_sentence + 1):
            ref = SentenceRef(chunk.doc_id, index)
            if ref not in found and index < len(document.sentences):
                text = document.sentences[index].text
                found[ref] = Candidate(ref, text, len(text.split()), rank)
    return list(found.values())


def extract(
    question: str,
    question_vector: Vectors,
    hits: Sequence[Hit],
    documents: Mapping[str, Document],
    vectors: Mapping[str, Vectors],
    words: WordVectors | None = None,
) -> Evidence:
    """The candidates of ``hits`` and their features for ``question``.

    ``documents`` and ``vectors`` (one row per sentence) are in the same numbering
    as the hits' chunks.
    """
    found = candidates(hits, documents)
    n = len(found)
    features = np.zeros((n, len(CANDIDATE_FEATURES)), dtype=np.float64)
    question_features = np.zeros(len(QUESTION_FEATURES) - 2, dtype=np.float64)
    if not n:
        return Evidence((), features, question_features)
    kind = question_type(question)
    q_terms = match_terms(question)
    q_pairs = word_pairs(question)
    names = entity_phrases(question)
    speakers = _speaker_keys(question)

    # Lemma statistics over every sentence of the retrieved documents.
    doc_ids = list(dict.fromkeys(c.ref.doc_id for c in found))
    df: Counter[str] = Counter()
    total = 0
    lengths = 0
    for doc_id in doc_ids:
        terms, counts, _ = _document_terms(documents[doc_id])
        df.update(counts)
        total += len(terms)
        lengths += sum(len(t) for t in terms)
    average_length = lengths / max(total, 1)

    def idf(term: str) -> float:
        return math.log(1 + (total + 1) / (df.get(term, 0) + 0.5))

    weights = {term: idf(term) for term in q_terms}
    q_weight = sum(weights.values()) or 1.0

    # Cosines: of each candidate, and of its neighbours in the document.
    cos = np.empty(n)
    neighbour = np.zeros(n)
    doc_cos: dict[str, npt.NDArray[np.float64]] = {
        doc_id: np.asarray(vectors[doc_id] @ question_vector, dtype=np.float64)
        for doc_id in doc_ids
    }
    for i, candidate in enumerate(found):
        row = doc_cos[candidate.ref.doc_id]
        index = candidate.ref.index
        cos[i] = row[index]
        around = [row[j] for j in (index - 1, index + 1) if 0 <= j < len(row)]
        neighbour[i] = max(around, default=0.0)
    doc_best = {doc_id: float(doc_cos[doc_id].max()) for doc_id in doc_ids}
    best_cos = float(cos.max())

    overlap = np.zeros(n)
    window = np.zeros(n)
    bm25 = np.zeros(n)
    for i, candidate in enumerate(found):
        document = documents[candidate.ref.doc_id]
        terms, _, _ = _document_terms(document)
        index = candidate.ref.index
        own = terms[index]
        matched = q_terms & own
        overlap[i] = sum(weights[t] for t in matched) / q_weight
        near = own.union(*terms[max(0, index - 1) : index + 2])
        window[i] = sum(weights[t] for t in q_terms & near) / q_weight
        norm = BM25_K1 * (1 - BM25_B + BM25_B * len(own) / max(average_length, 1e-9))
        bm25[i] = sum(weights[t] * (BM25_K1 + 1) / (1 + norm) for t in matched)

    order = np.argsort(-cos, kind="stable")
    cos_rank = np.empty(n)
    cos_rank[order] = 1.0 / (1.0 + np.arange(n))
    best_bm25 = float(bm25.max()) or 1.0
    hit_of = {hit.chunk.id: hit for hit in hits}
    chunk_by_rank = [hit.chunk.id for hit in hits]
    kind_column = {k: CANDIDATE_FEATURES.index(f"type_{k}") for k in KINDS[1:]}
    column = {name: i for i, name in enumerate(CANDIDATE_FEATURES)}

    for i, candidate in enumerate(found):
        document = documents[candidate.ref.doc_id]
        index = candidate.ref.index
        text = candidate.text
        row = features[i]
        row[column["cos"]] = cos[i]
        row[column["cos_gap"]] = cos[i] - best_cos
        row[column["cos_rank"]] = cos_rank[i]
        row[column["neighbour_cos"]] = neighbour[i]
        row[column["overlap"]] = overlap[i]
        row[column["overlap_gap"]] = overlap[i] - overlap.max()
        row[column["window_overlap"]] = window[i]
        row[column["pairs"]] = min(len(q_pairs & word_pairs(text)), 3) / 3
        row[column["bm25"]] = bm25[i] / best_bm25
        kinds = _kinds(text)
        if kind in kind_column:
            held = kinds[KINDS.index(kind) - 1]
            row[column["type_match"]] = held
            row[kind_column[kind]] = held
        own = sentence_terms(text)
        row[column["novelty"]] = math.log1p(len(own - q_terms))
        if names:
            folded = fold(text)
            row[column["names"]] = sum(name in folded for name in names) / len(names)
        if speakers:
            structure = document_structure(document)
            said_by = f"{structure.speaker[index]} {structure.context[index]}"
            row[column["speaker"]] = float(_keys_in(speakers, said_by))
        row[column["quote"]] = any(char in text for char in QUOTE_CHARS)
        row[column["position"]] = index / max(len(document.sentences), 1)
        row[column["lede"]] = index <= 1
        row[column["chunk_rank"]] = 1.0 / (1.0 + candidate.chunk_rank)
        hit = hit_of[chunk_by_rank[candidate.chunk_rank]]
        row[column["dense_rank"]] = 1.0 / hit.dense_rank if hit.dense_rank else 0.0
        row[column["lexical_rank"]] = 1.0 / hit.lexical_rank if hit.lexical_rank else 0.0
        row[column["doc_gap"]] = doc_best[candidate.ref.doc_id] - best_cos
        row[column["words"]] = math.log(max(candidate.words, 1))
        row[column["opens_with_reference"]] = bool(REFERENCE_OPENING.match(text))

    # The question's own vector (the scorer adds top_p and second_p in front).
    q_column = {name: i - 2 for i, name in enumerate(QUESTION_FEATURES)}
    expected = answer_type(question)
    best_three = [found[i].text for i in np.argsort(-(cos + overlap), kind="stable")[:3]]
    q = question_features
    q[q_column["max_cos"]] = best_cos
    q[q_column["max_overlap"]] = overlap.max()
    q[q_column["max_window_overlap"]] = window.max()
    if expected:
        q[q_column["typed"]] = 1.0
        q[q_column["typed_found"]] = any(_typed(expected, text) for text in best_three)
    q[q_column[f"kind_{kind}"]] = 1.0
    q[q_column["question_terms"]] = math.log1p(len(q_terms))
    support = _support(question, found, documents, doc_ids, df, weights, words)
    for name, value in zip(ANSWERABILITY, support, strict=True):
        q[q_column[name]] = value
    return Evidence(tuple(found), features, question_features)


# The question features :func:`_support` computes, in its order.
ANSWERABILITY = ("soft_terms_missing", "soft_names_missing", "support", "typed_support")
# Per document (embedder, id, text): its distinct content words, their lemmas, whether each
# is capitalised, and their word vectors.
Vocabulary = tuple[tuple[str, ...], tuple[str, ...], npt.NDArray[np.bool_], Matrix]
_VOCABULARIES: OrderedDict[tuple[str, str, str], Vocabulary] = OrderedDict()


def _vocabulary(document: Document, words: WordVectors) -> Vocabulary:
    """A document's distinct content words as written, with their lemmas and vectors, cached."""
    key = (words.name, document.id, document.text)
    cached = _VOCABULARIES.get(key)
    if cached is None:
        written = tuple(sorted(vocabulary(f"{document.title} {document.text}")))
        lower = [w.lower() for w in written]
        matrix = np.asarray(words.lookup(lower), dtype=np.float64)
        capital = np.array([w[:1].isupper() for w in written], dtype=bool)
        cached = (written, tuple(lemma(w) for w in written), capital, matrix)
        _VOCABULARIES[key] = cached
        while len(_VOCABULARIES) > DOCUMENT_CACHE_SIZE:
            _VOCABULARIES.popitem(last=False)
    return cached


def _support(
    question: str,
    found: Sequence[Candidate],
    documents: Mapping[str, Document],
    doc_ids: Sequence[str],
    df: Counter[str],
    weights: Mapping[str, float],
    words: WordVectors | None,
) -> tuple[float, float, float, float]:
    """ANSWERABILITY: whether the evidence has what the question asks, tolerant of wording.

    A question word is present where a document word has its lemma or lies within
    NEIGHBOUR_SIMILARITY of it by MiniLM word vector; a name ("Foreign Minister Sergei
    Lavrov") where a document has its last word ("lavrov") or a capitalised word within
    ALIAS_SIMILARITY of it.  Without word vectors (``words`` None) only lemmas match.
    """
    terms = sorted(set(weights) - TYPE_WORDS)  # not the answer's kind: "what date"
    surface: dict[str, str] = {}
    for word in WORD_PATTERN.findall(question):
        surface.setdefault(lemma(word), word.lower().replace("’", "'").removesuffix("'s"))
    parts = [_vocabulary(documents[d], words) for d in doc_ids] if words is not None else []
    parts = [part for part in parts if part[0]]
    lemmas = [lemma_ for part in parts for lemma_ in part[1]]
    near = [{t} for t in terms]
    if parts and terms and words is not None:
        matrix = np.vstack([part[3] for part in parts])
        similarity = matrix @ np.asarray(words.lookup([surface.get(t, t) for t in terms])).T
        for j, rows in enumerate((similarity >= NEIGHBOUR_SIMILARITY).T):
            near[j] |= {lemmas[i] for i in np.flatnonzero(rows)}
    missing = sum(t not in df and len(n) == 1 for t, n in zip(terms, near, strict=True))
    total = sum(weights[t] for t in terms) or 1.0
    expected = answer_type(question)
    kind = question_type(question)
    best = best_typed = 0.0
    for candidate in found:
        sentences, _, _ = _document_terms(documents[candidate.ref.doc_id])
        index = candidate.ref.index
        window = sentences[index].union(*sentences[max(0, index - 1) : index + 2])
        cover = sum(weights[t] for t, n in zip(terms, near, strict=True) if n & window) / total
        best = max(best, cover)
        if expected:
            holds = _typed(expected, candidate.text)
        else:
            holds = kind not in KINDS[1:] or _kinds(candidate.text)[KINDS.index(kind) - 1]
        if holds:
            best_typed = max(best_typed, cover)
    heads = []
    for phrase in entity_phrases(question):
        kept = [w for w in phrase.split() if lemma(w) not in PERSON_ROLES]
        if kept:
            heads.append(kept[-1])
    names_missing = 0.0
    if heads:
        text = " ".join(_document_terms(documents[d])[2] for d in doc_ids)
        folded = {w.removesuffix("'s") for w in WORD_PATTERN.findall(text)}
        absent = [h for h in heads if h not in folded]
        count = len(absent)
        capitals = [part[3][part[2]] for part in parts]
        if absent and words is not None and any(len(c) for c in capitals):
            alias = np.vstack(capitals) @ np.asarray(words.lookup(absent)).T
            count = int((alias.max(axis=0) < ALIAS_SIMILARITY).sum())
        names_missing = count / len(heads)
    return (missing / len(terms) if terms else 0.0, names_missing, best, best_typed)


def _typed(expected: str, text: str) -> bool:
    """Whether ``text`` holds an answer of :func:`~question.answer_type`'s ``expected`` kind."""
    kinds = answer_kinds(text)
    if expected == "time":
        return kinds["when"]
    if expected == "name":
        return kinds["who"]
    return kinds["number"]


def _speaker_keys(question: str) -> list[str]:
    """Word keys of the capitalised words of the speakers a question names ("Peskov")."""
    keys = []
    for part in speaker_parts(question):
        capitals = [w for w in WORD_PATTERN.findall(part) if w[:1].isupper()]
        keys += [word_key(word) for word in capitals if word.lower() not in STOPWORDS]
    return keys


def _keys_in(keys: Sequence[str], text: str) -> bool:
    words = {word_key(word) for word in WORD_PATTERN.findall(text)}
    return any(key in words for key in keys)
