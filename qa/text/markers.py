"""Citation markers in text: ``[n]``, ``[3, 5]``, ``[2-4]``.

Used on both sides of a citation: backends defuse markers that source text
contains (so a footnote or an injected "[99]" never reads as qa's citation),
the LLM reply parser splits a model's markers from its prose, and the eval
removes them before scoring.
"""

from __future__ import annotations

import re

# One marker group: "[3]", "[3, 5]", "[2-4]", possibly several in a row: "[3][5]".
MARKER = re.compile(r"\[\s*\d+(?:\s*(?:[,;]|[-\u2013])\s*\d+)*\s*\]")
MARKER_RUN = re.compile(r"(?:\s*\[\s*\d+(?:\s*(?:[,;]|[-\u2013])\s*\d+)*\s*\])+")
_FULL_WIDTH = str.maketrans({"[": "\uff3b", "]": "\uff3d"})


def expand_group(group: str) -> list[int]:
    ids: list[int] = []
    for part in re.split(r"[,;]", group.strip("[] \t")):
        bounds = re.split(r"\s*[-\u2013]\s*", part.strip())
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            # A range like [2-4]; a huge one is more likely noise than a citation.
            ids.extend(range(low, high + 1) if 0 <= high - low <= 20 else [low, high])
        elif part.strip().isdigit():
            ids.append(int(part))
    return ids


def defuse_markers(text: str) -> str:
    """``text`` with every ``[n]``-style group written in full-width brackets: ``［n］``.

    Source text may itself contain "[99]" (a footnote, or an injected fake
    citation). Shown beside qa's own markers it would read as a citation, and a
    parser would take it for one; in full-width brackets it reads the same to a
    person but matches no marker pattern. NFKC folds the brackets back, so a
    normalised comparison with the source (quote checks, eval matching) still
    sees the exact words.
    """
    return MARKER.sub(lambda match: match.group().translate(_FULL_WIDTH), text)


def split_markers(text: str) -> tuple[str, list[int]]:
    """Remove inline ``[n]`` markers from ``text``; return the clean text and the ids in order."""
    ids: list[int] = []
    for match in MARKER.finditer(text):
        ids.extend(expand_group(match.group()))
    clean = MARKER_RUN.sub("", text)
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
    return " ".join(clean.split()), ids
