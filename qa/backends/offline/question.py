"""Question analysis for the offline engine: type, parts, names, speakers, asked-for things.

Pure functions of the question text (and of word lemmas from
:mod:`qa.backends.offline.discourse`): what kind of answer a question wants (a time, a number,
a name, a reason, a list), which parts a compound question has, which names
and speakers it mentions, and which event or counted thing it asks about.
Not handled: questions that depend on earlier questions ("and what about
him?") and questions in languages other than English.
"""

from __future__ import annotations

import re
import unicodedata

from qa.backends.offline.discourse import (
    lemma,
    match_terms,
)
from qa.text.words import STOPWORDS, WORD_PATTERN

QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how did does do is are was were according""".split()
)


SPEAKER_QUESTION = re.compile(
    r"\b(?:did|does|do|has|have|had)\s+(.+?)\s+(?:each\s+|also\s+)?"
    r"(say|tell|respond|react|describe|explain|argue|claim|make|allege|announce|write|tweet"
    r"|report|warn|point|add|think|criticise|criticize|predict|expect|suggest|comment"
    r"|characteri[sz]e|express|relay|raise)\b",
    re.IGNORECASE,
)


# Questions whose answer is a name: a mention of the asked-for thing without one is no answer.
ENTITY_QUESTION = re.compile(
    r"^(?:who|whom|which other|what other|what is the name|what was the name)\b"
)


NAME_ASKED = re.compile(r"\b(?:name|names|named)\b")


ACCORDING_QUESTION = re.compile(r"(?:\baccording to|^per|,\s*per)\s+([^,?]+)", re.IGNORECASE)


# Question openings by the kind of answer they ask for.
NUMBER_QUESTION = re.compile(
    r"(?:^(?:(?:for|by|in|to|at|on)\s+)?|,\s*)how (?:many|much|long|old|far|big|large|expensive)\b"
    r"|^what (?:number|percentage|share|proportion)\b"
    r"|^what (?:is|was|are|were) the (?:total |overall )?(?:number|price|cost|amount|sum|value)\b"
)


WHEN_QUESTION = re.compile(
    r"^(?:(?:on|at|in|by|until|since)\s+)?"
    r"(?:when|(?:what|which) (?:time|day|date|year|month|hour))\b"
    r"|,?\s+and (?:(?:on|at|in|by)\s+)?(?:when|what (?:time|day|date|year|month))\b"
)


# "What made ... historic?", "What was driving ...?": a cause asked for with "what".
WHY_QUESTION = re.compile(
    r"^(?:why|for what reason|how come"
    r"|what (?:(?:is|was|are|were) )?(?:caus\w*|led|leads|prompt\w*|made|makes|driv\w*"
    r"|fuel\w*|motivat\w*|behind|explains?)\b)"
)


# "Which group ...?", "Which US official ...?": a singular agent asked for, answered by a name.
AGENT_QUESTION = re.compile(
    r"^(?:which|what) (?:\w+ )?(?:group|company|firm|organi[sz]ation|official|person|agency"
    r"|country|party|body|authority|government|leader|scholar|expert|newspaper|outlet"
    r"|individual|team|court|ministry|department|union|bank|state|nation)\b"
)


# Nouns that name an amount of money: "how much" about them needs a price, not any number.
MONEY_WORDS = frozenset(
    lemma(word)
    for word in """price cost costs expensive cheap pay paid spend spent worth value fee fine
    budget salary wage fund funding money charge""".split()
)


# Verbs whose object the evidence may word any way: speech, thought, attitude, and the
# verbs that ask for an event without naming it ("What happened?", "What did X do?").
LIGHT_PREDICATES = frozenset(
    lemma(word)
    for word in """do happen occur mean involve say tell think believe know hope want wish plan
    expect intend aim try seek find conclude show reveal report suggest consider feel see learn
    need ask describe claim argue announce state write add note call make become get have
    face include contain carry""".split()
)


# Nouns for a person by their office or role, as questions name speakers and parties.
PERSON_ROLES = frozenset(
    lemma(word)
    for word in """president leader spokesman spokeswoman spokesperson official minister premier
    adviser advisor secretary envoy chief head founder director executive chairman governor
    mayor commissioner ambassador professor researcher scientist expert analyst author writer
    reporter journalist editor captain commander officer administrator member representative
    chancellor king queen prince""".split()
)


def fold(text: str) -> str:
    """Lower case without accents or curly apostrophes: "São" and "Sao" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


def question_type(question: str) -> str:
    lowered = question.lower().strip()
    if NUMBER_QUESTION.search(lowered):
        return "number"
    if WHEN_QUESTION.search(lowered):
        return "when"
    if WHY_QUESTION.match(lowered):
        return "why"
    if re.match(r"^(who|whom|whose)\b", lowered) or AGENT_QUESTION.match(lowered):
        return "who"
    if re.match(r"^(?:(?:in|at|from|to)\s+)?where\b", lowered):
        return "where"
    if re.match(r"^(what|which) (?!is\b|was\b|does\b|has\b)\w+s\b", lowered) or re.search(
        r"\b(list|what are|which are)\b", lowered
    ):
        return "list"
    return "what"


def answer_type(question: str) -> str:
    """What the answer must contain, for single-part questions: time, money, amount, count, name.

    "On what date ...?" needs a time, "What was the price tag ...?" or "How much did
    it cost?" a sum of money, "By how much did they cut ...?" a number, "How many X
    ...?" or "What is the total number of X?" a count of X, and "What is the name of
    ...?" a name; other questions are typed by nothing the evidence must hold.
    """
    lowered = question.lower().strip()
    if WHEN_QUESTION.search(lowered):
        return "time"
    if re.search(
        r"(?:^|,\s*)how many\b|^what (?:is|was|are|were) the (?:total )?number of\b", lowered
    ):
        return "count"
    amount = re.search(
        r"(?:^|,\s*)(?:by\s+)?how (?:much|expensive)\b"
        r"|^what (?:is|was|are|were) the (?:\w+ )?(?:price|cost|amount|sum|value|fine|fee)\b"
        r"|^what (?:\w+ )?(?:price|cost|amount|sum|fine|fee|penalty|penalties|sentence)\b",
        lowered,
    )
    if amount:
        return "money" if match_terms(question) & MONEY_WORDS else "amount"
    if ENTITY_QUESTION.match(lowered) and NAME_ASKED.search(lowered):
        return "name"
    return ""


def question_focus(question: str) -> str:
    """The plural head noun of "What caveats ..." / "Which elements ...", stemmed; or ""."""
    match = re.match(r"^\s*(?:what|which)\s+(?:\w+\s+)?(\w+s)\b", question, re.IGNORECASE)
    if not match or match.group(1).lower() in QUESTION_WORDS | STOPWORDS:
        return ""
    return lemma(match.group(1))


def question_predicate(question: str) -> str:
    """The event word a "What was agreed ...?" / "What did X decide ...?" question turns on.

    Only words that say what happened count: a participle after "what was", the
    noun before "of" in "What was the outcome of ...", and the verb of "What did
    X <verb> ...". The noun after "what"/"which" ("What conditions ...?") names
    the kind of answer, which the evidence gives as instances ("supply weapons")
    rather than by that word, so it is not a predicate; nor are the light verbs of
    speech, thought and doing ("What did X say/hope/do?").
    """
    lowered = question.lower().strip().replace("’", "'")
    if question_speaker_phrase(question):
        return ""
    word = ""
    passive = re.match(r"^what (?:is|was|are|were|has been|had been|will be) (\w+ed)\b", lowered)
    noun = re.match(r"^what (?:is|was|are|were) the (\w+) of\b", lowered)
    verb = re.match(
        r"^what (?:did|does|do|will|would|could|can|should|might|has|have|had) "
        r"([\w' -]+?) (\w+)(?= (?:to|about|with|for|on|in|at|after|before|over|during|from|of"
        r"|if|when|regarding|against)\b|\s*[?,]|$)",
        lowered,
    )
    if passive:
        word = passive.group(1)
    elif noun:
        word = noun.group(1)
    elif verb:
        word = verb.group(2)
    if not word or word in STOPWORDS or lemma(word) in LIGHT_PREDICATES:
        return ""
    return word


def question_entities(question: str) -> list[str]:
    """Capitalised words after the first: the names a question is about."""
    words = WORD_PATTERN.findall(question)
    return [
        word
        for position, word in enumerate(words)
        if position > 0 and word[:1].isupper() and word.lower() not in QUESTION_WORDS
    ]


def entity_phrases(question: str) -> list[str]:
    """Runs of capitalised words after the first word ("Easter Island", "Rapa Nui"), folded."""
    phrases: list[str] = []
    run: list[str] = []
    for position, word in enumerate([*WORD_PATTERN.findall(question), ""]):
        if position > 0 and word[:1].isupper() and word.lower() not in QUESTION_WORDS:
            run.append(fold(word).removesuffix("'s"))
            continue
        if run:
            phrases.append(" ".join(run))
        run = []
    return phrases


# Words that name the type of answer asked for, not the event it is about.
TYPE_WORDS = frozenset(lemma(w) for w in "date time day year month hour number total".split())


def counted_nouns(question: str) -> set[str]:
    """The words for what "How many X ...?" / "What is the number of X?" counts ("moai")."""
    lowered = question.lower().replace("’", "'")
    match = re.search(
        r"how many ((?:[\w']+\s+){0,2}?[\w']+)\b(?=\s+(?:were|are|was|is|did|do|does|have|has"
        r"|had|will|would|could|can|in|on|of|at|for|aboard)\b|\s*[?,]|$)"
        r"|number of ((?:[\w']+\s+){0,2}?[\w']+)\b(?=\s+(?:were|are|was|is|in|on|of|at|for|that)\b"
        r"|\s*[?,]|$)",
        lowered,
    )
    if not match:
        return set()
    words = (match.group(1) or match.group(2)).split()
    return {word.strip("'") for word in words if word not in STOPWORDS}


def asked_party(question: str) -> str:
    """The noun a "Who was/were the X ...?" question asks a name for ("skipper", "bidders")."""
    match = re.match(
        r"^who (?:is|was|are|were) the ((?:[\w-]+ ){0,2}?[\w-]+)(?= (?:of|for|on|in|at|aboard"
        r"|behind|to)\b|\s*[?,]|$)",
        question.lower().strip(),
    )
    return match.group(1).split()[-1] if match else ""


def role_words(question: str) -> set[str]:
    """Lemmas of the words that describe a party: "the US president", "his spokesman".

    They stand for someone the evidence names, not for the event asked about.
    """
    return match_terms(question) & PERSON_ROLES


def question_parts(question: str) -> list[str]:
    """A compound question split into its asks: "Who bought X, and when?" -> two parts."""
    pieces = re.split(
        r"\?\s+(?=[A-Z])|,?\s+and\s+(?=(?:(?:by|on|in|at|from|for|to|with)\s+)?"
        r"(?:who|whom|when|where|why|what|how|which)\b)",
        question.strip(),
    )
    return [piece.strip(" ?,") for piece in pieces if piece.strip(" ?,")]


def question_speaker_phrase(question: str) -> str:
    match = SPEAKER_QUESTION.search(question) or ACCORDING_QUESTION.search(question)
    return match.group(1) if match else ""


def speaker_parts(question: str) -> list[str]:
    """The speakers a question names, one phrase each ("Coles", "ALDI", "his spokesman")."""
    phrase = question_speaker_phrase(question)
    parts = [part.strip() for part in re.split(r",\s*|\s+and\s+|\s+or\s+", phrase)]
    return [part for part in parts if part and part.lower() not in STOPWORDS]


def part_keys(part: str) -> list[str]:
    words = [w for w in WORD_PATTERN.findall(part) if w.lower() not in STOPWORDS]
    capitals = [w for w in words if w[:1].isupper()]
    return sorted({word_key(capitals[-1]), word_key(words[-1])}) if capitals else []


def word_key(word: str) -> str:
    word = word.lower().replace("’", "'").removesuffix("'s")
    return word[:5]
