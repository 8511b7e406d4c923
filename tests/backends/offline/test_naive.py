"""The naive anchor: nearest sentences by cosine within a word budget, never abstaining."""

from __future__ import annotations

import numpy as np

from qa.backends.offline.naive import NaiveBackend
from qa.backends.registry import names
from tests.helpers import make_hits, make_paragraph_document


class Directions:
    """Sentence i points along axis i; the question along a mix that ranks 2, then 0, then 1."""

    name = "directions"
    dimension = 4

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            if text.startswith("Q:"):
                rows.append([0.5, 0.1, 0.8, 0.0])
            else:
                rows.append(np.eye(4)[int(text.split()[1])])
        return np.asarray(rows, dtype=np.float32)


DOCUMENT = make_paragraph_document(
    [
        ["Sentence 0 is about the deal.", "Sentence 1 is filler text here."],
        ["Sentence 2 says 30 days."],
    ]
)


def test_the_nearest_sentences_within_the_budget_in_article_order() -> None:
    hits = make_hits(DOCUMENT, [(0, 2)])
    draft = NaiveBackend(Directions(), words=12).answer("Q: how long?", hits, {"d1": DOCUMENT})
    assert not draft.abstained
    # 2 (5 words) then 0 (6 words) fit in 12; 1 would not.
    assert [claim.refs[0].index for claim in draft.claims] == [0, 2]
    assert all(claim.text == DOCUMENT.sentences[claim.refs[0].index].text for claim in draft.claims)


def test_the_nearest_sentence_is_taken_however_long() -> None:
    hits = make_hits(DOCUMENT, [(0, 2)])
    draft = NaiveBackend(Directions(), words=1).answer("Q: how long?", hits, {"d1": DOCUMENT})
    assert [claim.refs[0].index for claim in draft.claims] == [2]


def test_it_is_registered_and_summarises_with_the_lead() -> None:
    assert "naive" in names()
    draft = NaiveBackend(Directions()).summarize([DOCUMENT], sentences=2)
    assert [claim.refs[0].index for claim in draft.claims] == [0, 1]
