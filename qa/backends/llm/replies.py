"""Parsing an LLM's reply into claims, and checking every citation it gives.

Pure functions, no I/O: a backend numbers its evidence (ids 1..N), asks the
model, then runs the reply through :func:`parse_reply` and
:func:`check_claims` before it returns a :class:`~qa.types.Draft`.

The checks are mechanical, not semantic: an id must name an item that was in
the prompt (else it is dropped and reported), a claim needs at least one valid
id (else it is flagged unsupported), and text inside double quotes (straight
or curly) must occur in one of the cited sentences after normalising quotes,
dashes, whitespace and case (else it is flagged). A claim whose content words
are mostly absent from its cited sentences is flagged too: a cheap lexical
test that catches a citation pointing at an unrelated sentence, and a short
claim that shares no content word or number with what it cites ("PWNED [1]",
a model obeying an instruction planted in an article). Whether a
cited sentence really entails a paraphrase is not judged; single straight
quotes are not treated as quotation marks because they double as apostrophes.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from qa.text.fluency import claim_problems, split_clauses
from qa.text.markers import MARKER, MARKER_RUN, expand_group, split_markers
from qa.text.words import STOPWORDS
from qa.types import NOT_IN_ARTICLES, DraftClaim, SentenceRef

_TRAILING_PUNCT = re.compile(r"[.,;:!?]+")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
# Double quotes (straight, curly, low-9, guillemets) and curly single quotes that stand
# alone (not the apostrophe in "Kyiv’s").
_QUOTES = (
    re.compile(r'"([^"\n]+)"'),
    re.compile(r"\u201c([^\u201c\u201d\n]+)\u201d"),
    re.compile(r"\u201e([^\u201c\u201d\u201e\n]+)[\u201c\u201d]"),
    re.compile(r"\u00ab\s*([^\u00ab\u00bb\n]+?)\s*\u00bb"),
    re.compile(r"(?<!\w)\u2018([^\u2018\u2019\n]+)\u2019(?!\w)"),
)
_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2026": "...",
        "\u00a0": " ",
    }
)
_ID_KEYS = ("sentence_ids", "ids", "citations", "sources", "note_ids")


@dataclass(frozen=True)
class RawClaim:
    """A claim as the model wrote it; ``ids`` are unvalidated (ints, or odd strings)."""

    text: str
    ids: tuple[int | str, ...] = ()


@dataclass(frozen=True)
class ParsedReply:
    abstained: bool
    claims: tuple[RawClaim, ...]
    form: Literal["json", "inline"]


@dataclass(frozen=True)
class EvidenceItem:
    """What one prompt id stands for: a stored sentence, or a note citing several."""

    refs: tuple[SentenceRef, ...]
    texts: tuple[str, ...]


@dataclass
class CheckResult:
    claims: list[DraftClaim] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> int:
        return sum(1 for claim in self.claims if claim.unsupported)


def fold_quotes(text: str) -> str:
    """Fold the differences that do not change a quote: quote style, dashes, spacing, case."""
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    return " ".join(text.split()).casefold()


def _sentinel_key(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", fold_quotes(text)).split())


_SENTINEL_KEY = _sentinel_key(NOT_IN_ARTICLES)


def is_sentinel(text: str) -> bool:
    """True for a reply or claim that is the abstention sentence (with or without more words)."""
    return _sentinel_key(text).startswith(_SENTINEL_KEY)


def _load_json(text: str) -> Any:
    stripped = text.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", stripped, re.DOTALL)
    if fence:
        stripped = fence.group(1)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        try:
            return json.loads(stripped[start : end + 1])
        except json.JSONDecodeError:
            return None
    return None


def _json_claim(item: Any) -> RawClaim | None:
    if isinstance(item, str):
        text, ids = split_markers(item)
        return RawClaim(text=text, ids=tuple(ids))
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        return None
    raw_ids: list[int | str] = []
    for key in _ID_KEYS:
        value = item.get(key)
        if value is None:
            continue
        for raw in value if isinstance(value, list) else [value]:
            if isinstance(raw, bool):
                raw_ids.append(str(raw))
            elif isinstance(raw, int):
                raw_ids.append(raw)
            elif isinstance(raw, str) and raw.strip().strip("[]").strip().isdigit():
                raw_ids.append(int(raw.strip().strip("[]")))
            else:
                raw_ids.append(str(raw))
        break
    text, inline_ids = split_markers(item["text"])
    raw_ids.extend(inline_ids)
    return RawClaim(text=text, ids=tuple(raw_ids))


def parse_json_reply(text: str) -> ParsedReply | None:
    """The reply as ``{"abstained": bool, "claims": [...]}``; None when it is not that JSON."""
    data = _load_json(text)
    if isinstance(data, list):
        data = {"claims": data}
    if not isinstance(data, dict) or not ("claims" in data or "abstained" in data):
        return None
    items = data.get("claims", [])
    if not isinstance(items, list):
        return None
    claims: list[RawClaim] = []
    for item in items:
        claim = _json_claim(item)
        if claim is None:
            return None
        claims.append(claim)
    abstained = data.get("abstained") is True
    return _finish(abstained, claims, "json")


def parse_inline_reply(text: str) -> ParsedReply:
    """Prose with ``[n]`` markers: each marker run closes the claim before it.

    Segmenting on markers rather than on sentence ends keeps "U.S. officials said
    ... [3]" whole; text after the last marker of a line is a claim without ids.
    """
    claims: list[RawClaim] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        position = 0
        for run in MARKER_RUN.finditer(line):
            ids = [
                number for group in MARKER.findall(run.group()) for number in expand_group(group)
            ]
            end = run.end()
            punct = _TRAILING_PUNCT.match(line, end)
            tail = punct.group() if punct else ""
            if punct:
                end = punct.end()
            body = line[position : run.start()].strip()
            # A run right after a sentence end ("Claim. [2]") cites that sentence.
            if body or not claims:
                claims.append(RawClaim(text=" ".join((body + tail).split()), ids=tuple(ids)))
            else:
                last = claims[-1]
                claims[-1] = RawClaim(text=last.text, ids=last.ids + tuple(ids))
            position = end
        rest = line[position:].strip()
        if re.search(r"\w", rest) and not (rest.endswith(":") and len(rest) < 60):
            claims.append(RawClaim(text=" ".join(rest.split())))
    return _finish(False, claims, "inline")


def _finish(
    abstained: bool, claims: list[RawClaim], form: Literal["json", "inline"]
) -> ParsedReply:
    # A claim without a single word ("...", "-") is a copied placeholder, not a claim.
    worded = [claim for claim in claims if re.search(r"\w", claim.text)]
    kept = [claim for claim in worded if not is_sentinel(claim.text)]
    said_sentinel = len(kept) < len(worded)
    # Well-formed JSON with no claims is the model saying it has nothing to cite.
    nothing = form == "json" and not kept
    # A flag that contradicts cited claims loses to them (small models set "abstained": true
    # before writing real claims); uncited claims beside it only explain the abstention.
    flagged = abstained and not any(claim.ids for claim in kept)
    if flagged or nothing or (said_sentinel and not kept):
        return ParsedReply(abstained=True, claims=(), form=form)
    return ParsedReply(abstained=False, claims=tuple(kept), form=form)


def parse_reply(text: str) -> ParsedReply:
    """JSON if the reply is JSON of the expected shape, else prose with inline markers."""
    parsed = parse_json_reply(text)
    if parsed is not None:
        return parsed
    return parse_inline_reply(text)


def find_quotes(text: str) -> list[str]:
    found: list[tuple[int, str]] = []
    for pattern in _QUOTES:
        for match in pattern.finditer(text):
            quote = match.group(1).strip()
            if re.search(r"\w", quote):
                found.append((match.start(), quote))
    return [quote for _, quote in sorted(found)]


def quote_in(quote: str, texts: Sequence[str]) -> bool:
    """Whether ``quote`` occurs in one cited text (or across them, joined), ellipses allowed."""
    needle = fold_quotes(quote).strip(" .,;:!?'\"")
    parts = [part.strip(" .,;:!?'\"") for part in needle.split("...")]
    parts = [part for part in parts if part]
    if not parts:
        return True
    haystacks = [fold_quotes(text) for text in texts]
    if len(texts) > 1:
        haystacks.append(fold_quotes(" ".join(texts)))
    for haystack in haystacks:
        position = 0
        for part in parts:
            found = haystack.find(part, position)
            if found < 0:
                break
            position = found + len(part)
        else:
            return True
    return False


# Below this share of its content words found in the cited text, a claim is flagged.
MIN_SHARED_WORDS = 0.34


_NUMBER = re.compile(r"\d+")


def _content_keys(text: str) -> set[str]:
    """Content words (four letters or more) cut to five letters.

    A deliberately coarse key, not a stemmer: the check only asks whether a claim
    and the sentence it cites talk about the same things, and five letters let
    "supported" meet "supporting" and also "Russia" meet "Russian", which the
    Snowball stem (qa.text.words.stem) keeps apart.
    """
    words = re.findall(r"[^\W_]+", fold_quotes(text))
    return {word[:5] for word in words if len(word) >= 4 and word not in STOPWORDS}


def shared_word_share(claim: str, texts: Sequence[str]) -> float:
    keys = _content_keys(claim)
    if len(keys) < 4:
        return 1.0  # too short to judge
    cited = set().union(*(_content_keys(text) for text in texts)) if texts else set()
    return len(keys & cited) / len(keys)


def shares_nothing(claim: str, texts: Sequence[str]) -> bool:
    """Whether a claim with content words or numbers has none in common with ``texts``.

    :func:`shared_word_share` leaves claims of fewer than four content words
    alone; this catches the short ones that cite an unrelated sentence ("PWNED [1]").
    """
    keys = _content_keys(claim) | set(_NUMBER.findall(fold_quotes(claim)))
    if not keys:
        return False
    cited = " ".join(texts)
    return not keys & (_content_keys(cited) | set(_NUMBER.findall(fold_quotes(cited))))


def _as_id(raw: int | str) -> int | None:
    if isinstance(raw, int):
        return raw
    return int(raw) if raw.isdigit() else None


def check_claims(
    label: str, claims: Sequence[RawClaim], evidence: Mapping[int, EvidenceItem]
) -> CheckResult:
    """Validate each claim's ids against ``evidence`` and its quotes against the cited text.

    ``label`` names the step in the reports, e.g. "answer claim 2: [17] not in evidence".
    """
    result = CheckResult()
    for number, claim in enumerate(claims, start=1):
        refs: list[SentenceRef] = []
        texts: list[str] = []
        seen: set[int] = set()
        for raw in claim.ids:
            key = _as_id(raw)
            if key is None or key not in evidence:
                result.dropped.append(f"{label} claim {number}: [{raw}] not in evidence")
                continue
            if key in seen:
                continue
            seen.add(key)
            item = evidence[key]
            refs.extend(ref for ref in item.refs if ref not in refs)
            texts.extend(text for text in item.texts if text not in texts)
        problems: list[str] = []
        if not refs:
            problems.append("no valid citation" if claim.ids else "no citation")
        else:
            for quote in find_quotes(claim.text):
                if not quote_in(quote, texts):
                    problems.append(f"quote \u201c{quote}\u201d is not in the cited sentences")
            if shared_word_share(claim.text, texts) < MIN_SHARED_WORDS:
                problems.append("the cited sentences share few words with the claim")
            elif shares_nothing(claim.text, texts):
                problems.append("the cited sentences share no words with the claim")
        result.claims.append(
            DraftClaim(text=claim.text, refs=refs, unsupported=bool(problems), problems=problems)
        )
    return result


def flag_fragments(claims: Sequence[DraftClaim]) -> None:
    """Flag summary sentences that do not read as sentences, as unsupported claims are.

    The checks of :mod:`qa.text.fluency` (a reporting frame without content, no
    finite verb, a dangling pronoun ...), each claim read after the one before it;
    a flagged claim is shown marked, with the reason, never silently dropped.
    """
    previous: str | None = None
    for claim in claims:
        problems = claim_problems(claim.text, previous)
        if problems:
            claim.unsupported = True
            claim.problems.extend(f"not a sentence: {problem}" for problem in problems)
        previous = split_clauses(claim.text)[-1]
