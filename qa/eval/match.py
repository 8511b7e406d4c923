"""Text matching for the eval suite: normalisation, gold-fact matching, quotations.

A gold fact counts as conveyed when its normalised words occur as one run in
the normalised text, or its content words occur in order within a small
window (:func:`fact_found`).  Normalisation folds case, accents, quote styles,
punctuation, number words and thousands separators.  Not handled: reordered
or paraphrased facts and synonyms, which are scored as missing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Literal

from qa.text.numbers import ORDINALS, SCALES, TENS, UNITS
from qa.text.words import FACT_STOPWORDS

_QUOTES = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
    }
)  # fmt: skip

_TOKEN_RE = re.compile(r"\d+(?:\.\d+)*|[^\W\d_]+")
_CITATION_MARK_RE = re.compile(r"\[\d+(?:\s*[,;–-]\s*\d+)*\]")


def _fold(text: str) -> str:
    """Case, accents, quote styles and invisible characters folded away."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Mn", "Cf"))
    return text.casefold().translate(_QUOTES)


def _ordinal(value: int) -> str:
    if 10 <= value % 100 <= 13:
        return f"{value}th"
    return f"{value}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(value % 10, 'th') }"


def _number_text(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _words_to_numbers(tokens: list[str]) -> list[str]:
    """Runs of number words become digits ("twenty one" -> "21", "4.2 billion" -> "4200000000").

    A run only continues where English number words can follow each other, so
    "two and one package" stays two numbers and "five twenty" is not read as 25.
    """
    out: list[str] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if tok[0].isdigit():
            # Digits followed by a scale word: "105 thousand", "4.2 billion".
            following = tokens[i + 1] if i + 1 < n else ""
            if tok.replace(".", "").isdigit() and (following in SCALES or following == "hundred"):
                scale = 100 if following == "hundred" else SCALES[following]
                out.append(_number_text(Decimal(tok) * scale))
                i += 2
                continue
            out.append(tok)
            i += 1
            continue
        if tok not in UNITS and tok not in TENS and tok not in ORDINALS and tok != "hundred":
            out.append(tok)
            i += 1
            continue
        total = 0  # completed groups (thousands, millions, ...)
        current = 0  # the group being read, below 1000
        last = ""  # "unit", "teen", "ten", "hundred", "scale"
        last_scale = 10**15
        ordinal = False
        j = i
        while j < n:
            word = tokens[j]
            if word in ORDINALS and word not in ("hundredth", "thousandth"):
                value = ORDINALS[word]
                fits = (value < 10 and last in ("", "ten", "hundred", "scale")) or (
                    value >= 10 and last in ("", "hundred", "scale")
                )
                if not fits:
                    break
                current += value
                ordinal = True
                j += 1
                break
            if word in UNITS:
                value = UNITS[word]
                kind = "unit" if value < 10 else "teen"
                fits = last in ("", "hundred", "scale") or (last == "ten" and kind == "unit")
                if not fits:
                    break
                current += value
                last = kind
            elif word in TENS:
                if last not in ("", "hundred", "scale"):
                    break
                current += TENS[word]
                last = "ten"
            elif word == "hundred":
                if last not in ("", "unit", "teen") or current >= 100:
                    break
                current = max(current, 1) * 100
                last = "hundred"
            elif word in SCALES:
                scale = SCALES[word]
                if last == "scale" or scale >= last_scale:
                    break
                total += max(current, 1) * scale
                current = 0
                last = "scale"
                last_scale = scale
            elif (
                word == "and"
                and last in ("hundred", "scale")
                and j + 1 < n
                and (tokens[j + 1] in UNITS or tokens[j + 1] in TENS)
            ):
                pass
            else:
                break
            j += 1
        if j == i:
            out.append(tok)
            i += 1
            continue
        value = total + current
        out.append(_ordinal(value) if ordinal else str(value))
        i = j
    return out


def normalise(text: str) -> tuple[str, ...]:
    """Word tokens compared by every metric: case, accents, quote styles, punctuation,
    whitespace, apostrophes, dotted abbreviations and number words folded away.

    "U.S.-brokered 30-day ceasefire" and "US brokered thirty day cease-fire" do
    not become equal ("cease fire" is two tokens), but "U.S." and "US", "twelve"
    and "12", "85%" and "85 per cent", "São Paulo" and "Sao Paulo", "Trump's" and
    "Trump" do.
    """
    text = _fold(text)
    # "u.s." -> "us", "a.m." -> "am": dotted abbreviations are one word.
    text = re.sub(r"\b(?:[^\W\d_]\.){2,}", lambda m: m.group().replace(".", ""), text)
    # "Trump's position" must still contain the gold fact "President Trump": a clitic
    # or possessive 's goes, other inner apostrophes join ("don't" -> "dont").
    text = re.sub(r"(?<=[^\W_])'s\b", "", text)
    text = re.sub(r"(?<=[^\W_])'(?=[^\W_])", "", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # "5,667" -> "5667"
    text = text.replace("%", " percent ").replace("&", " and ")
    tokens: list[str] = []
    previous_end = -1
    for match in _TOKEN_RE.finditer(text):
        token = match.group()
        # "13th" stays one token, as "thirteenth" becomes; a spaced "13 th" does not.
        if (
            tokens
            and match.start() == previous_end
            and tokens[-1][-1].isdigit()
            and token in ("st", "nd", "rd", "th")
        ):
            tokens[-1] += token
        else:
            tokens.append(token)
        previous_end = match.end()
    merged: list[str] = []
    for token in tokens:
        if token == "cent" and merged and merged[-1] == "per":
            merged[-1] = "percent"
        else:
            merged.append(token)
    return tuple(_words_to_numbers(merged))


def contains_run(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    if not needle:
        return False
    first = needle[0]
    size = len(needle)
    for start in range(len(haystack) - size + 1):
        if haystack[start] == first and tuple(haystack[start : start + size]) == tuple(needle):
            return True
    return False


def content_words(tokens: Sequence[str]) -> tuple[str, ...]:
    return tuple(token for token in tokens if token not in FACT_STOPWORDS)


def _in_order_within(haystack: Sequence[str], needle: Sequence[str], window: int) -> bool:
    """``needle`` appears as an in-order subsequence of ``haystack`` spanning <= window tokens."""
    if not needle:
        return False
    for start, token in enumerate(haystack):
        if token != needle[0]:
            continue
        pos = start
        for word in needle[1:]:
            pos += 1
            limit = start + window
            while pos < min(len(haystack), limit) and haystack[pos] != word:
                pos += 1
            if pos >= min(len(haystack), limit):
                break
        else:
            return True
    return False


# How many more tokens than the fact itself its content words may be spread over:
# room for a few inserted words, too little to assemble a fact from separate clauses.
FACT_SLACK = 3


def fact_found(fact: str, text: str | Sequence[str]) -> bool:
    """Whether ``text`` conveys the gold ``fact``.

    Rule 1: the normalised fact is a contiguous token sequence of the normalised
    text.  Rule 2: the fact's content words (stopwords dropped) all occur in the
    same order within a window of ``len(fact tokens) + 3`` tokens, so a few
    inserted or dropped function words ("Woolworths also ordered extra stock")
    do not hide a fact, while scattered words across the text never add up to one.
    """
    fact_tokens = normalise(fact)
    tokens = normalise(text) if isinstance(text, str) else text
    if contains_run(tokens, fact_tokens):
        return True
    key = content_words(fact_tokens)
    if not key:
        return False
    return _in_order_within(tokens, key, len(fact_tokens) + FACT_SLACK)


def phrase_found(phrase: str, text: str | Sequence[str]) -> bool:
    """Exact normalised token-sequence match (party aliases, loaded terms)."""
    tokens = normalise(text) if isinstance(text, str) else text
    return contains_run(tokens, normalise(phrase))


def strip_citation_marks(text: str) -> str:
    """Answer text without ``[1]``/``[2, 3]`` markers, which are not words of the answer."""
    return re.sub(r"\s+", " ", _CITATION_MARK_RE.sub(" ", text)).strip()


# ---------------------------------------------------------------------------
# Quotation marks and loaded terms
# ---------------------------------------------------------------------------

_OPEN_BEFORE = set(" \t\n([{\u2014\u2013-/:;,")


def _quote_role(text: str, pos: int) -> Literal["open", "close", "none"]:
    """Whether the quote mark at ``pos`` opens or closes a quotation, from its neighbours."""
    before = text[pos - 1] if pos > 0 else " "
    after = text[pos + 1] if pos + 1 < len(text) else " "
    opens = (before.isspace() or before in _OPEN_BEFORE or before in "\"'\u201c\u2018") and not (
        after.isspace()
    )
    closes = not before.isspace() and (not after.isalnum())
    if opens and not closes:
        return "open"
    if closes and not opens:
        return "close"
    return "none"


def quoted_mask(text: str) -> list[bool]:
    """For each character, whether it lies inside a properly opened and closed quotation.

    Curly marks carry their direction; straight marks get it from their neighbours
    (an opening mark follows a space or bracket, a closing one precedes a space or
    punctuation), so the apostrophes in "it's" or "Kyiv's" never open a quotation.
    A quotation that is never closed quotes nothing: a reader cannot tell it is a quote.
    """
    mask = [False] * len(text)
    for opener, closer, straight in (
        ("\u201c\u201e", "\u201d", '"'),
        ("\u2018\u201a", "\u2019", "'"),
    ):
        start: int | None = None
        for pos, ch in enumerate(text):
            if ch in opener:
                role = "open"
            elif ch == closer:
                role = "close" if start is not None else "none"
                if closer == "\u2019" and pos + 1 < len(text) and text[pos + 1].isalpha():
                    role = "none"  # an apostrophe: it’s, Kyiv’s
            elif ch == straight:
                role = _quote_role(text, pos)
                if role == "close" and start is None:
                    role = "none"
            else:
                continue
            if role == "open" and start is None:
                start = pos
            elif role == "close" and start is not None:
                for k in range(start, pos + 1):
                    mask[k] = True
                start = None
    return mask


def unquoted_segments(text: str) -> list[str]:
    """The parts of ``text`` outside quotations (quotations become segment breaks)."""
    mask = quoted_mask(text)
    segments: list[str] = []
    current: list[str] = []
    for ch, quoted in zip(text, mask, strict=True):
        if quoted:
            if current:
                segments.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        segments.append("".join(current))
    return segments


def leaked_terms(text: str, loaded_terms: Iterable[str]) -> list[str]:
    """Loaded terms that ``text`` uses in its own voice, i.e. outside any quotation."""
    segments = [normalise(segment) for segment in unquoted_segments(text)]
    return [term for term in loaded_terms if any(phrase_found(term, seg) for seg in segments)]


def party_aliases(party: str) -> list[str]:
    return [alias.strip() for alias in party.split("/") if alias.strip()]
