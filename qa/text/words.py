"""Words: the one stopword list, stemmer and calendar table that every layer shares.

Ingest (the collection's vocabulary), retrieval (the BM25 query), the offline
engine (term matching), the LLM reply checks (claim support) and the eval
(fact matching) all split text into words, drop function words and fold
inflection here, so they read text alike. Each use that needs a different set
takes the base list with a named, documented delta rather than a list of its own.
"""

from __future__ import annotations

import calendar
import re
from functools import lru_cache

import snowballstemmer

# Closed-class English words (articles, pronouns, auxiliaries, prepositions,
# conjunctions, determiners, quantifiers): the base every stopword set below starts from.
FUNCTION_WORDS = frozenset(
    """a an the and or but if of to in on at by for with from as into onto about over after
    before between through during without within under above up down out off than then
    so such is are was were be been being am do does did doing done have has had having
    will would shall should can could may might must not no nor only own same too very
    just also it its it's this that these those there here their theirs them they he him
    his she her hers we us our ours you your i me my mine what which who whom whose when
    where why how whether while all any both each few more most other some many much one
    ones""".split()
)
# Verbs that frame a statement rather than make one ("said", "according to"), and light
# verbs whose meaning is in their object ("made a decision"): no help in matching a
# question to its answer, so retrieval and the engine drop them with the function words.
REPORTING_VERBS = frozenset("said says say according tell told".split())
LIGHT_VERBS = frozenset("get got make made take took give gave go went come came".split())

# Words with no content of their own for retrieval and answer matching: the BM25 query,
# the engine's term overlap and the vocabulary embedded at ingest leave them out.
STOPWORDS = FUNCTION_WORDS | REPORTING_VERBS | LIGHT_VERBS

# Function words the eval's fact matcher keeps as content: a dropped negation,
# quantifier or preposition could turn "no signs of an explosion" into a match, so
# these must appear in an answer for a fact to count (qa.eval.match). The last
# line are words the matcher has always scored as content, kept so scores stay
# comparable across versions.
KEPT_IN_FACTS = frozenset(
    """no not without all any both each few many more most much one ones only other own same
    some such too above after before between down during off out over through under up
    within if whether while why
    him mine whose it's doing done having""".split()
)
# Function words the eval's fact matcher may skip between a fact's content words.
FACT_STOPWORDS = FUNCTION_WORDS - KEPT_IN_FACTS

# Month and weekday names in lower case, from the standard library's English table
# (Python never sets LC_TIME by itself, so calendar's names are English here).
MONTHS = frozenset(name.lower() for name in calendar.month_name[1:])
WEEKDAYS = frozenset(name.lower() for name in calendar.day_name)

WORD_PATTERN = re.compile(r"[^\W_][\w'’.-]*[^\W_]|[^\W_]")
DIGIT_PATTERN = re.compile(r"\d")

# The Snowball English (Porter2) stemmer: the one stemmer in qa, of the same family as
# the porter tokenizer SQLite's FTS5 index applies to stored chunks.
_SNOWBALL = snowballstemmer.stemmer("english")


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """``word`` lower-cased, without a possessive "'s", reduced to its Snowball stem."""
    word = word.lower().strip("'’.-").replace("’", "'").removesuffix("'s")
    return str(_SNOWBALL.stemWord(word))


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
