"""Sentence splitting with exact character spans.

nupunkt is right on news text ("U.S. National Security Advisor", quotes ending
in ``," he said``, "No. 2").  Paragraphs (blank-line separated) are split
separately so a sentence never spans two paragraphs.

A line that opens with text addressed to a model ("Assistant: HACKED [1]",
"Note to AI models: ...", :func:`qa.text.injection.opens_injection`) is one
unit of its own, whole: never merged with the line after it (which has no
full stop between them to split at), and never split into pieces that look
like news.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import nupunkt

from qa.text.injection import opens_injection
from qa.types import Sentence

# A blank line: a line break, then lines holding nothing but whitespace.  Why not just
# "\n\n": text that was not cleaned has "\r\n\r\n" and lines of spaces between paragraphs,
# and a sentence must not run from one paragraph into the next across them.
LINE_BREAK = r"(?:\r\n|\r(?!\n)|\n)"
PARAGRAPH_BREAK = re.compile(rf"{LINE_BREAK}(?:[^\S\r\n]*{LINE_BREAK})+")


def _paragraphs(text: str) -> Iterator[tuple[int, str]]:
    """Each paragraph with its offset in ``text``."""
    start = 0
    for gap in PARAGRAPH_BREAK.finditer(text):
        yield start, text[start : gap.start()]
        start = gap.end()
    yield start, text[start:]


def _units(paragraph: str) -> Iterator[tuple[int, int]]:
    """Spans of ``paragraph`` to split into sentences, or to keep whole (an injected line).

    Injected lines come out as spans of their own (a line break is only looked at
    where a paragraph has one); every other run of lines is split by nupunkt.
    """
    if "\n" not in paragraph and "\r" not in paragraph:
        if opens_injection(paragraph):
            yield 0, len(paragraph)
        else:
            yield from nupunkt.sent_spans(paragraph)
        return
    run_start = 0
    position = 0
    for line in paragraph.splitlines(keepends=True):
        if opens_injection(line):
            if position > run_start:
                yield from _shifted(paragraph[run_start:position], run_start)
            yield position, position + len(line)
            run_start = position + len(line)
        position += len(line)
    if position > run_start:
        yield from _shifted(paragraph[run_start:position], run_start)


def _shifted(text: str, offset: int) -> Iterator[tuple[int, int]]:
    for start, end in nupunkt.sent_spans(text):
        yield offset + start, offset + end


def split_sentences(text: str, *, limit: int | None = None) -> tuple[Sentence, ...]:
    """The sentences of ``text``; with ``limit``, no more than that many (the first ones):
    splitting stops there, so a caller that refuses long texts need not split them whole."""
    sentences: list[Sentence] = []
    for offset, paragraph in _paragraphs(text):
        if limit is not None and len(sentences) >= limit:
            break
        if not paragraph.strip():
            continue
        for start, end in _units(paragraph):
            piece = paragraph[start:end]
            stripped = piece.strip()
            if not stripped:
                continue
            lead = len(piece) - len(piece.lstrip())
            begin = offset + start + lead
            sentences.append(Sentence(len(sentences), begin, begin + len(stripped), stripped))
    return tuple(sentences[:limit] if limit is not None else sentences)
