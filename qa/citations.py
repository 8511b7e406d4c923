"""Turn a backend's Draft into numbered, resolved citations: the one place citations resolve.

A citation number is given to each distinct sentence in order of first use;
its quote is read from the stored document by its span, so a citation can
only ever show text that is really in the article.

A claim's own text never carries a marker qa did not put there: a "[99]" or
"[1]" that an article sentence contains (a footnote, or a fake citation planted
in the article) is written ``［99］`` in the claim, so neither a reader nor a
parser of ``[n]`` markers can take it for a citation. The quote keeps the
stored text exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

from qa.errors import UnknownDocumentError
from qa.text.markers import defuse_markers
from qa.types import Citation, Claim, Document, Draft, SentenceRef


def resolve(ref: SentenceRef, documents: Mapping[str, Document], number: int) -> Citation:
    document = documents.get(ref.doc_id)
    if document is None:
        raise UnknownDocumentError(f"citation to unknown document {ref.doc_id!r}")
    if not 0 <= ref.index < len(document.sentences):
        raise UnknownDocumentError(
            f"citation to sentence {ref.index} of document {ref.doc_id!r}, "
            f"which has {len(document.sentences)} sentences"
        )
    sentence = document.sentences[ref.index]
    return Citation(
        number=number,
        doc_id=document.id,
        title=document.title,
        source=document.source,
        sentence_index=sentence.index,
        start=sentence.start,
        end=sentence.end,
        quote=document.text[sentence.start : sentence.end],
        site=document.meta.site,
        published=document.meta.published,
    )


def number_citations(
    draft: Draft, documents: Mapping[str, Document]
) -> tuple[list[Claim], list[Citation], list[str]]:
    """Claims with citation numbers, the citations, and refs dropped as unresolvable."""
    numbers: dict[SentenceRef, int] = {}
    citations: list[Citation] = []
    claims: list[Claim] = []
    dropped: list[str] = []
    for claim_number, draft_claim in enumerate(draft.claims, 1):
        cited: list[int] = []
        for ref in draft_claim.refs:
            if ref not in numbers:
                try:
                    citation = resolve(ref, documents, len(citations) + 1)
                except UnknownDocumentError as error:
                    dropped.append(f"claim {claim_number}: {error}")
                    continue
                numbers[ref] = citation.number
                citations.append(citation)
            if numbers[ref] not in cited:
                cited.append(numbers[ref])
        problems = list(draft_claim.problems)
        unsupported = draft_claim.unsupported or not cited
        # A backend that already said why (e.g. "no citation") keeps its own wording.
        if not cited and not problems:
            problems.append("no valid citation")
        claims.append(
            Claim(
                defuse_markers(draft_claim.text),
                cited,
                unsupported,
                problems,
                heading=defuse_markers(draft_claim.heading),
            )
        )
    return claims, citations, dropped


def render(claims: list[Claim]) -> str:
    """The claims as one text with ``[n]`` markers after each claim.

    A claim with a heading (the first about a story of a collection summary)
    starts a new paragraph under that heading.
    """
    paragraphs: list[tuple[str, list[str]]] = []
    for claim in claims:
        if claim.heading or not paragraphs:
            paragraphs.append((claim.heading, []))
        markers = "".join(f"[{number}]" for number in claim.citations)
        paragraphs[-1][1].append(f"{defuse_markers(claim.text)} {markers}".rstrip())
    return "\n\n".join(
        (f"{heading}\n" if heading else "") + " ".join(parts) for heading, parts in paragraphs
    )
