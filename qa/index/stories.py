"""Articles grouped by the story they tell, for a summary of a whole collection.

Two articles tell the same story when their texts are close in meaning (the
cosine of their mean sentence vectors) or, a little less close, name the same
people and organisations; stories are the connected groups of that relation.
The thresholds were measured on the Wikinews articles of the public scrape
``vanatteveldt/wikinews`` (``bench/stories.py``): the two halves of one article
stand in for two reports of one story, pairs of different articles for
different stories. The rule joins 0.4% of different-article pairs (the closest
of them running stories) and 13% of halves: it prefers showing one story twice
to merging two stories into one synthesis.

Not handled: two reports of one story in different languages, and a story
that develops over weeks (an attack, then its trial) with little wording in
common: those come out as separate stories.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.text.words import MONTHS, WEEKDAYS
from qa.types import Document

Vectors = np.ndarray


@dataclass(frozen=True)
class StoryKnobs:
    """The thresholds of "same story", measured by ``bench/stories.py``."""

    # Cosine of mean sentence vectors at or above which two articles tell one story.
    same_story: float = 0.8
    # A lower cosine that is enough when the articles share names too ...
    related: float = 0.6
    # ... at least this many multi-word names ("Boris Johnson", "Supreme Court").
    shared_names: int = 3


STORY_KNOBS = StoryKnobs()

# A multi-word capitalised name: "Boris Johnson", "United States Coast Guard".
MULTIWORD_NAME = re.compile(r"\b[A-Z][\w'’.-]*[a-z][\w'’.-]*(?: +[A-Z][\w'’.-]*[a-z][\w'’.-]*)+")
# Words that open a capitalised run without being part of a name ("On Monday Putin").
NOT_NAME_START = frozenset(
    {"the", "a", "an", "on", "in", "at", "last", "this", "but", "and"} | MONTHS | WEEKDAYS
)


def document_vector(vectors: Vectors) -> Vectors:
    """A document's direction in meaning: the unit mean of its sentence vectors."""
    if not len(vectors):
        return np.zeros(vectors.shape[1] if vectors.ndim == 2 else 1, dtype=np.float32)
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    unit: Vectors = (mean / norm if norm else mean).astype(np.float32)
    return unit


def names(document: Document) -> set[str]:
    """The multi-word names a document uses, lower-cased."""
    found: set[str] = set()
    for match in MULTIWORD_NAME.finditer(f"{document.title}\n{document.text}"):
        words = match.group().split()
        while words and words[0].lower() in NOT_NAME_START:
            words = words[1:]
        if len(words) >= 2:
            found.add(" ".join(words).lower().strip(".’'"))
    return found


def group_stories(
    documents: Sequence[Document],
    sentence_vectors: Sequence[Vectors],
    knobs: StoryKnobs = STORY_KNOBS,
) -> list[list[int]]:
    """The documents (by position) grouped by story, largest story first.

    Within a story the most central article (closest on average to the others)
    comes first: its title names the story.
    """
    count = len(documents)
    centres = [document_vector(vectors) for vectors in sentence_vectors]
    named = [names(document) for document in documents]
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    similarity = np.zeros((count, count), dtype=np.float32)
    for i in range(count):
        for j in range(i + 1, count):
            cosine = float(centres[i] @ centres[j])
            similarity[i, j] = similarity[j, i] = cosine
            shared = len(named[i] & named[j])
            if cosine >= knobs.same_story or (
                cosine >= knobs.related and shared >= knobs.shared_names
            ):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    stories = []
    for members in groups.values():
        centrality = {i: float(similarity[i, members].sum()) for i in members}
        stories.append(sorted(members, key=lambda i: (-centrality[i], i)))
    return sorted(stories, key=lambda members: (-len(members), min(members)))
