"""Sentence splitting with exact character spans.

nupunkt is right on news text ("U.S. National Security Advisor", quotes ending
in ``," he said``, "No. 2").  Paragraphs (blank-line separated) are split
separately so a sentence never spans two paragraphs.
"""

from __future__ import annotations

import re

import nupunkt

from qa.types import Sentence

PARAGRAPH = re.compile(r"[^\n]+(?:\n(?!\n)[^\n]+)*")


def split_sentences(text: str) -> tuple[Sentence, ...]:
    sentences: list[Sentence] = []
    for paragraph in PARAGRAPH.finditer(text):
        offset = paragraph.start()
        for start, end in nupunkt.sent_spans(paragraph.group()):
            piece = paragraph.group()[start:end]
            stripped = piece.strip()
            if not stripped:
                continue
            lead = len(piece) - len(piece.lstrip())
            begin = offset + start + lead
            sentences.append(Sentence(len(sentences), begin, begin + len(stripped), stripped))
    return tuple(sentences)
