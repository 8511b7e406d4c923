"""Pack whole consecutive sentences into chunks of at most ``budget`` tokens.

Consecutive chunks share one sentence of overlap, so a fact stated across a
chunk boundary is still seen whole by one chunk.  A single sentence longer than
the budget is cut at token boundaries into pieces of at most ``budget`` tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qa.text.tokens import encoding
from qa.types import Chunk, Sentence

# Below this a budget cannot be kept: one character may take 4 tokens (one per UTF-8 byte).
MIN_BUDGET = 4

# (first sentence, last sentence, start char, end char, token count)
_Emit = Callable[[int, int, int, int, int], None]


def chunk_sentences(
    doc_id: str, text: str, sentences: Sequence[Sentence], budget: int = 200, version: str = ""
) -> list[Chunk]:
    if budget < MIN_BUDGET:
        # Why: with budget 0 the cutting loop never advanced (it hung); below 4 a single
        # character (up to 4 UTF-8 bytes, a token each) may not fit, breaking the promise.
        raise ValueError(f"chunk budget must be at least {MIN_BUDGET} tokens, not {budget}")
    enc = encoding()
    sizes = [len(enc.encode(sentence.text, disallowed_special=())) for sentence in sentences]
    chunks: list[Chunk] = []

    def emit(first: int, last: int, start: int, end: int, tokens: int) -> None:
        chunks.append(
            Chunk(doc_id, len(chunks), first, last, start, end, text[start:end], tokens, version)
        )

    first, overlapping = 0, False
    while first < len(sentences):
        if sizes[first] > budget:
            _emit_long_sentence(sentences[first], budget, emit)
            first, overlapping = first + 1, False
            continue
        last, tokens = first, sizes[first]
        while last + 1 < len(sentences) and sizes[last + 1] <= budget:
            # Count the chunk as the text it really is, separators included.
            candidate = text[sentences[first].start : sentences[last + 1].end]
            candidate_tokens = len(enc.encode(candidate, disallowed_special=()))
            if candidate_tokens > budget:
                break
            last, tokens = last + 1, candidate_tokens
        if overlapping and last == first:
            # Why: the overlap sentence fits with nothing after it, so on its own it would
            # be a chunk repeating the previous chunk's end word for word (a duplicate hit
            # in retrieval, a wasted embedding).  Skip it: no overlap is possible here.
            first, overlapping = first + 1, False
            continue
        emit(first, last, sentences[first].start, sentences[last].end, tokens)
        if last + 1 >= len(sentences):
            break
        # One sentence of overlap, unless the chunk is that single sentence.
        overlapping = last > first
        first = last if overlapping else last + 1
    return chunks


def _emit_long_sentence(sentence: Sentence, budget: int, emit: _Emit) -> None:
    enc = encoding()
    tokens = enc.encode(sentence.text, disallowed_special=())
    _, offsets = enc.decode_with_offsets(tokens)
    begin = 0
    while begin < len(tokens):
        stop = min(begin + budget, len(tokens))
        while True:
            start_char = offsets[begin]
            end_char = offsets[stop] if stop < len(tokens) else len(sentence.text)
            piece = sentence.text[start_char:end_char]
            # A piece re-encoded on its own can take a token more than in context.
            piece_tokens = len(enc.encode(piece.strip(), disallowed_special=()))
            if piece_tokens <= budget or stop - begin <= 1:
                break
            stop -= 1
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if piece.strip():
            emit(
                sentence.index,
                sentence.index,
                sentence.start + start_char + left,
                sentence.start + start_char + right,
                piece_tokens,
            )
        begin = stop
