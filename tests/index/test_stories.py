"""Grouping a collection's articles by story (qa.index.stories), on hand-made vectors."""

from __future__ import annotations

import numpy as np

from qa.index.stories import StoryKnobs, group_stories, names
from tests.helpers import make_document


def _rows(*directions: list[float]) -> np.ndarray:
    return np.asarray(directions, dtype=np.float32)


def test_close_articles_are_one_story_and_the_most_central_leads() -> None:
    documents = [
        make_document("a", "Fire on a dive boat", "A boat burned off Santa Cruz Island."),
        make_document("b", "Markets rally", "Shares rose in Tokyo on Monday."),
        make_document("c", "Dive boat fire kills 33", "The boat Conception burned."),
        make_document("d", "Boat owner sued", "Families sued Truth Aquatics."),
    ]
    vectors = [
        _rows([1.0, 0.1, 0.0]),
        _rows([0.0, 0.0, 1.0]),
        _rows([1.0, 0.0, 0.0]),
        _rows([0.9, 0.3, 0.0]),
    ]
    groups = group_stories(documents, vectors)
    assert [sorted(group) for group in groups] == [[0, 2, 3], [1]]
    # "a" is the closest on average to the other two.
    assert groups[0][0] == 0


def test_shared_names_join_articles_that_are_only_somewhat_alike() -> None:
    text = "Boris Johnson met Angela Merkel and Emmanuel Macron at the G7 summit in Biarritz."
    documents = [make_document("a", "Summit", text), make_document("b", "Leaders meet", text)]
    cosine = 0.7  # between related (0.6) and same story (0.8)
    vectors = [_rows([1.0, 0.0]), _rows([cosine, float(np.sqrt(1 - cosine**2))])]
    assert len(group_stories(documents, vectors)) == 1
    assert len(group_stories(documents, vectors, StoryKnobs(shared_names=4))) == 2


def test_names_are_multi_word_and_skip_sentence_openers() -> None:
    document = make_document("a", "On Monday Boris Johnson spoke", "The Supreme Court ruled.")
    assert names(document) == {"boris johnson", "supreme court"}
