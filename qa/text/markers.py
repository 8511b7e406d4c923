"""Citation markers in text: ``[n]``, ``[3, 5]``, ``[2-4]``, and qa's citation line form.

Used on both sides of a citation: backends defuse markers that source text
contains (so a footnote or an injected "[99]" never reads as qa's citation),
the LLM reply parser splits a model's markers from its prose, and the eval
removes them before scoring. Text imitating the way qa shows where a citation
points, "(doc b8551d2148befaa6, sentence 3)", is defused the same way.
"""

from __future__ import annotations

import re

# One marker group: "[3]", "[3, 5]", "[2-4]", possibly several in a row: "[3][5]".
MARKER = re.compile(r"\[\s*\d+(?:\s*(?:[,;]|[-\u2013])\s*\d+)*\s*\]")
MARKER_RUN = re.compile(r"(?:\s*\[\s*\d+(?:\s*(?:[,;]|[-\u2013])\s*\d+)*\s*\])+")
# qa's own way of naming a citation's source, as `qa ask` prints it: "(doc <id>, sentence N)";
# an article that writes one could point a reader at another document's sentence.
CITATION_FORM = re.compile(
    r"[(\[]\s*doc(?:ument)?\s*[:#]?\s*[0-9a-f]{4,64}\s*[,;]?\s*(?:sentence|sent\.?|s)\s*[:#]?\s*"
    r"\d+\s*[)\]]",
    re.IGNORECASE,
)
_FULL_WIDTH = str.maketrans({"[": "\uff3b", "]": "\uff3d"})
# Its comma too, so a clause cut at the next comma cannot leave half of it ("... sentence 3)").
_FULL_WIDTH_FORM = str.maketrans(
    {"[": "\uff3b", "]": "\uff3d", "(": "\uff08", ")": "\uff09", ",": "\uff0c", ";": "\uff1b"}
)


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
    """``text`` with every ``[n]``-style group written in full-width brackets: ``［n］``,
    and every imitation of qa's "(doc <id>, sentence N)" in full-width punctuation.

    Each character is replaced by one character, so offsets into ``text`` still hold.

    Source text may itself contain "[99]" (a footnote, or an injected fake
    citation). Shown beside qa's own markers it would read as a citation, and a
    parser would take it for one; in full-width brackets it reads the same to a
    person but matches no marker pattern. NFKC folds the brackets back, so a
    normalised comparison with the source (quote checks, eval matching) still
    sees the exact words.
    """
    text = CITATION_FORM.sub(lambda match: match.group().translate(_FULL_WIDTH_FORM), text)
    return MARKER.sub(lambda match: match.group().translate(_FULL_WIDTH), text)


def split_markers(text: str) -> tuple[str, list[int]]:
    """Remove inline ``[n]`` markers from ``text``; return the clean text and the ids in order."""
    ids: list[int] = []
    for match in MARKER.finditer(text):
        ids.extend(expand_group(match.group()))
    clean = MARKER_RUN.sub("", text)
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
    return " ".join(clean.split()), ids
