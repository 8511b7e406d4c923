"""Words: the one stopword list and word tokenisation shared by more than one layer.

Ingest (the collection's vocabulary), retrieval (the BM25 query) and the
offline engine all split text into words and leave out function words the
same way, so they read text alike.
"""

from __future__ import annotations

import re

# Function words that carry no content of their own: left out of BM25 queries,
# term matching and the vocabulary embedded at ingest.
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

WORD_PATTERN = re.compile(r"[^\W_][\w'’.-]*[^\W_]|[^\W_]")
DIGIT_PATTERN = re.compile(r"\d")


def vocabulary(text: str) -> set[str]:
    """``text``'s distinct content words as written (no stopwords, no numbers, no "'s").

    The engine embeds these to find a name's aliases ("U.S." for "American");
    ingest embeds them ahead of time so a question never has to.
    """
    return {
        word.replace("’", "'").removesuffix("'s")
        for word in WORD_PATTERN.findall(text)
        if word.lower() not in STOPWORDS and not DIGIT_PATTERN.search(word)
    }
