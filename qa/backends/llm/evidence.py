"""Evidence for a prompt: units of article text, fenced and numbered, packed to a budget.

A :class:`Unit` is one line of evidence: a stored sentence (with the ``<article>`` header
of its document), or a note written by the map step that carries the sentences it cites.
:func:`render` numbers units 1..N in order and maps each number back to its
:class:`~qa.backends.llm.replies.EvidenceItem`; :func:`pack` takes as many whole units
from the front as fit the prompt budget.

Article text is data, never instructions: each line is written on one line with any fence
tag ("</articles>", "&lt;/article&gt;", full-width look-alikes) or "[n]" marker in it
defused (:func:`clean_line`), so an article cannot end its fence or pass its own numbers
off as evidence ids. What a model that obeys an injection anyway writes is caught later,
by :func:`qa.backends.llm.replies.check_claims`.

Not handled: choosing or ranking evidence (retrieval did; units keep the order given),
splitting a sentence that alone exceeds the budget (that is a ConfigError naming the
budget to set), and reading replies.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qa.backends.llm.prompts import Prompt, load_prompt
from qa.backends.llm.replies import EvidenceItem
from qa.backends.llm.tokens import TokenCounter
from qa.errors import ConfigError
from qa.text.markers import defuse_markers
from qa.types import Document, Hit, Sentence, SentenceRef

log = logging.getLogger(__name__)

# What could open or close the evidence fences: "<", and its look-alikes (full-width and
# small forms, HTML entities) a model may read as "<", before an optional "/" and the tag.
_FENCE_LIKE = re.compile(
    r"(?:<|\uff1c|\ufe64|&lt;?|&#0*60;?|&#x0*3c;?)(?=\s*/?\s*(?:articles?|notes?)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Unit:
    """One numbered line of evidence: a stored sentence, or a note from the map step."""

    text: str
    item: EvidenceItem
    order: tuple[int, int]
    header: str = ""


@dataclass(frozen=True)
class Evidence:
    """Packed evidence: the block for the prompt, its numbers' items, units used and left."""

    block: str
    items: dict[int, EvidenceItem]
    used: int
    omitted: int


def clean_line(text: str) -> str:
    """Article text as one evidence line that cannot break out of its fence.

    One line (no line break can start a fake numbered line), no opening or
    closing fence tag (its "<" becomes "\u2039"), and no "[n]" marker that
    could pass for an evidence id (written "\uff3bn\uff3d", see
    :func:`qa.text.markers.defuse_markers`; NFKC folds it back, so quotes still check).
    """
    return defuse_markers(_FENCE_LIKE.sub("\u2039", " ".join(text.split())))


def clean_attr(text: str) -> str:
    """Text for a quoted attribute of the ``<article>`` header: no quotes, no angle brackets."""
    return clean_line(text.replace('"', "'").replace("<", "").replace(">", ""))


def sentence_unit(document: Document, sentence: Sentence, order: tuple[int, int]) -> Unit:
    ref = SentenceRef(document.id, sentence.index)
    header = f'<article title="{clean_attr(document.title or document.id)}">'
    item = EvidenceItem(refs=(ref,), texts=(sentence.text,))
    return Unit(text=sentence.text, item=item, order=order, header=header)


def hit_units(hits: Sequence[Hit], documents: Mapping[str, Document]) -> list[Unit]:
    """The hits' sentences, best hit first, each sentence once."""
    units: list[Unit] = []
    seen: set[tuple[str, int]] = set()
    doc_rank: dict[str, int] = {}
    for hit in hits:
        document = documents.get(hit.chunk.doc_id)
        if document is None:
            log.warning("hit %s names a document that was not given; skipped", hit.chunk.id)
            continue
        rank = doc_rank.setdefault(document.id, len(doc_rank))
        for index in range(hit.chunk.first_sentence, hit.chunk.last_sentence + 1):
            if (document.id, index) in seen or not 0 <= index < len(document.sentences):
                continue
            seen.add((document.id, index))
            units.append(sentence_unit(document, document.sentence(index), (rank, index)))
    return units


def document_units(documents: Sequence[Document]) -> list[Unit]:
    """Every sentence of each document, in order, each document once."""
    units: list[Unit] = []
    seen: set[str] = set()
    for rank, document in enumerate(documents):
        if document.id in seen:
            continue
        seen.add(document.id)
        units.extend(
            sentence_unit(document, sentence, (rank, sentence.index))
            for sentence in document.sentences
        )
    return units


def render(units: Sequence[Unit]) -> tuple[str, dict[int, EvidenceItem]]:
    """The units as numbered lines in their order, inside their ``<article>`` headers."""
    lines: list[str] = []
    items: dict[int, EvidenceItem] = {}
    header = ""
    for number, unit in enumerate(sorted(units, key=lambda unit: unit.order), start=1):
        if unit.header != header:
            if header:
                lines.append("</article>")
            header = unit.header
            if header:
                lines.append(header)
        lines.append(f"[{number}] {clean_line(unit.text)}")
        items[number] = unit.item
    if header:
        lines.append("</article>")
    return "\n".join(lines), items


def pack(
    prompt: Prompt,
    values: Mapping[str, str | int],
    slot: str,
    units: Sequence[Unit],
    *,
    budget: int,
    tokens: TokenCounter,
    warn_omitted: bool = True,
) -> Evidence:
    """As many whole units as fit ``budget`` tokens, taken from the front of ``units``.

    The budget covers the whole prompt (``values`` with the evidence in ``slot``) in its
    longest output form, so the same evidence is used whichever form the endpoint ends
    up accepting.
    """
    longest = max(
        (load_prompt("format_json").text(), load_prompt("format_inline").text()),
        key=tokens.count,
    )
    base = tokens.prompt(prompt.messages(**values, format=longest, **{slot: ""}))
    room = budget - base
    chosen: list[Unit] = []
    cost = 0
    headers: set[str] = set()
    width = len(str(len(units)))
    first = 0
    for unit in units:
        line = tokens.count(f"[{'9' * width}] {clean_line(unit.text)}\n")
        if unit.header and unit.header not in headers:
            line += tokens.count(f"{unit.header}\n</article>\n")
        first = first or line
        if cost + line > room:
            break
        chosen.append(unit)
        headers.add(unit.header)
        cost += line
    # The line-by-line sum is an estimate; count the real prompt and trim if needed.
    while chosen:
        block, items = render(chosen)
        filled = prompt.messages(**values, format=longest, **{slot: block})
        if tokens.prompt(filled) <= budget:
            break
        chosen.pop()
    if not chosen:
        needed = base + first + 16
        raise ConfigError(
            f"--max-context-tokens {budget} leaves no room for evidence: the {prompt.name} "
            f"prompt and the first sentence need more",
            fix=f"raise --max-context-tokens / QA_MAX_CONTEXT_TOKENS to {needed} or more",
        )
    block, items = render(chosen)
    omitted = len(units) - len(chosen)
    if omitted and warn_omitted:
        log.warning(
            "%d of %d evidence sentences left out to fit %d tokens", omitted, len(units), budget
        )
    return Evidence(block=block, items=items, used=len(chosen), omitted=omitted)
