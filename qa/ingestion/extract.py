"""Web pages: the article body and what the page says about it, by trafilatura.

trafilatura (a well-kept extractor: document tree, text and link density,
readability and jusText as its own fallbacks) finds the body; its metadata
module and htmldate give the title, outlet, author, publication date and
canonical URL.  qa adds two things it measured on trafilatura's evaluation set
(``bench/extraction.py``, checked on the half it was not developed on):

* comment sections are left out (a reader's comment is not the article);
* the lead is put back: news pages often set the standfirst apart, in the
  header beside the headline or in an element named "lead", "intro",
  "teaser", "standfirst"..., and trafilatura, keeping one main container,
  drops it.  A lead is taken only between the headline and the body, when it
  reads as prose and is not a link list, caption or byline.

Nothing here touches the network.  trafilatura is imported on first use, so
``qa --help`` and ``qa ask`` never load it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from qa.types import DocumentMeta

if TYPE_CHECKING:
    from lxml.html import HtmlElement

SPACES = re.compile(r"\s+")
WORD = re.compile(r"\w+")
# A lead or standfirst, as CMSs name the element that holds it (English, German,
# French, Portuguese, Spanish names for the same thing).
LEAD_MARKER = re.compile(
    r"(?:^|[^a-z])(lead|leadtext|intro|introduction|introtext|teaser|teasertext|standfirst"
    r"|summary|excerpt|preface|abstract|chapo|chapeau|sapo|dek|deck|entradilla|description"
    r"|vorspann)(?:$|[^a-z])",
    re.IGNORECASE,
)
# Names that make an element something else than the article's lead: a picture's
# caption, an author box, a search form, another story's teaser in a list.
NOT_LEAD_MARKER = re.compile(
    r"(?:^|[^a-z])(image|img|photo|picture|media|caption|credit|author|bio|site|search|modal"
    r"|dialog|popup|sidebar|related|widget|portlet|promo|newsletter|footer|comments?|nav|menu"
    r"|list|more|share|social)(?:$|[^a-z])",
    re.IGNORECASE,
)
# Containers whose contents are never the article's lead.
NOT_LEAD_CONTAINER = re.compile(
    r"(?:^|[^a-z])(modal|dialog|popup|sidebar|related|widget|portlet|promo|newsletter|footer"
    r"|comments?|nav|menu|carousel)(?:$|[^a-z])",
    re.IGNORECASE,
)
NOT_LEAD_TAGS = {
    "nav", "aside", "footer", "a", "li", "button", "form", "script", "style", "noscript",
    "figure", "figcaption", "template",
}  # fmt: skip
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
SENTENCE_END = re.compile(r"[.!?…:][\"'”’»)\]]*$")
# A lead is a sentence or a short paragraph or two: fewer words is a label, more is a body.
LEAD_WORDS = (8, 150)
# Link text above this share of a candidate makes it a list of links, not a lead.
LEAD_MAX_LINK_SHARE = 0.3
# A <noscript> with fewer words than this is a notice to turn JavaScript on.
NOSCRIPT_NOTICE_WORDS = 25
# Pages with more elements than this are left to qa's own parser, which is linear: the
# largest of the 990 real pages in trafilatura's evaluation set has 10,106 elements,
# while trafilatura's time grows faster than linearly (100,000 paragraphs: 30 s of CPU).
MAX_TREE_ELEMENTS = 30_000
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True)
class ExtractedPage:
    """An article found in a page: its title, body lines (one paragraph each) and metadata.

    No lines when trafilatura found no body, or the page is too large for it
    (``MAX_TREE_ELEMENTS``): the caller falls back to qa's own parser."""

    title: str
    lines: list[str]
    meta: DocumentMeta


def extract_page(html: str, *, url: str | None = None) -> ExtractedPage | None:
    """The article in ``html``; ``None`` when it is not a page at all (a fragment)."""
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        return None
    if sum(1 for _ in tree.iter()) > MAX_TREE_ELEMENTS:
        # Metadata only, without htmldate's extensive search through the whole text.
        return _without_body(tree, url, extensive=False)
    # trafilatura prunes the tree it is given; the lead is looked for in the page as it was.
    page = copy.deepcopy(tree)
    # A short <noscript> is a notice ("enable JavaScript to run this app"), never the
    # article, which trafilatura's fallback for short pages would keep; a long one can be
    # the article itself, for readers without JavaScript (Blogger pages), and stays.
    for element in list(page.iter("noscript")):
        if len(WORD.findall(element.text_content())) < NOSCRIPT_NOTICE_WORDS:
            element.drop_tree()
    try:
        result: Any = trafilatura.bare_extraction(
            page, url=url, include_comments=False, with_metadata=True
        )
    except Exception:  # trafilatura failing on an odd page: qa's own parser reads it
        result = None
    if result is None or not (result.text or "").strip():
        return _without_body(tree, url, extensive=True)
    lines = [line for line in result.text.splitlines() if line.strip()]
    title = _flat(result.title or "")
    lead = find_lead(tree, title, lines)
    if lead:
        lines.insert(0, lead)
    return ExtractedPage(title, lines, _meta(result, tree, url))


def _without_body(tree: HtmlElement, url: str | None, *, extensive: bool) -> ExtractedPage:
    """A page whose body qa's own parser will read: its title and metadata only."""
    from trafilatura.metadata import extract_metadata

    try:
        found: Any = extract_metadata(tree, default_url=url, extensive=extensive)
    except Exception:  # as above: metadata is a bonus, never a reason to fail
        return ExtractedPage("", [], DocumentMeta(language=page_language(tree)))
    return ExtractedPage(_flat(found.title or ""), [], _meta(found, tree, url))


def _flat(text: str) -> str:
    return SPACES.sub(" ", text).strip()


def find_lead(tree: HtmlElement, title: str, lines: list[str]) -> str | None:
    """The article's lead when the extracted body left it out, else ``None``.

    Looked for between the ``<h1>`` that holds the title and the element where the
    extracted body starts: a paragraph in the headline's ``<header>``, or an element
    named as a lead (``LEAD_MARKER``)."""
    headline = next(
        (
            element
            for element in tree.iter("h1")
            if (text := _flat(element.text_content()))
            and title
            and (text in title or title in text)
        ),
        None,
    )
    if headline is None:
        return None
    body = " ".join(_flat(line) for line in lines)
    first_line = _flat(lines[0])[:60] if lines else ""
    order = [element for element in tree.iter() if isinstance(element.tag, str)]
    position = {id(element): n for n, element in enumerate(order)}
    begin = position[id(headline)] + 1
    end = next(
        (
            n
            for n in range(begin, len(order))
            if first_line
            and order[n].tag not in ("script", "style")
            and (
                first_line in _flat(order[n].text or "")
                or (len(order[n]) == 0 and first_line in _flat(order[n].text_content()))
            )
        ),
        len(order),
    )
    header = next(
        (element for element in headline.iterancestors() if element.tag in ("header", "hgroup")),
        None,
    )
    body_start = order[end] if end < len(order) else None
    for element in order[begin:end]:
        if _is_lead(element, header, body_start, body):
            return _flat(element.text_content())
    return None


def _marker(element: HtmlElement) -> str:
    return " ".join(filter(None, [element.get("class"), element.get("id")]))


def _is_lead(
    element: HtmlElement, header: HtmlElement | None, body_start: HtmlElement | None, body: str
) -> bool:
    marker = _marker(element)
    in_header = element.tag == "p" and any(node is header for node in element.iterancestors())
    if not in_header and not LEAD_MARKER.search(marker):
        return False
    if NOT_LEAD_MARKER.search(marker) or element.tag in ("article", "section", "main", "body"):
        return False
    for ancestor in [element, *element.iterancestors()]:
        if ancestor.tag in NOT_LEAD_TAGS:
            return False
        if (
            ancestor is not element
            and ancestor.tag not in ("body", "html")
            and NOT_LEAD_CONTAINER.search(_marker(ancestor))
        ):
            return False
    descendants = list(element.iterdescendants())
    if body_start is not None and any(node is body_start for node in descendants):
        return False
    if any(node.tag in HEADINGS for node in descendants if isinstance(node.tag, str)):
        return False
    text = _flat(element.text_content())
    words = len(WORD.findall(text))
    if not LEAD_WORDS[0] <= words <= LEAD_WORDS[1] or not SENTENCE_END.search(text):
        return False
    if text in body:
        return False
    links = sum(len(_flat(link.text_content())) for link in element.iter("a"))
    return links <= LEAD_MAX_LINK_SHARE * len(text)


def _meta(result: Any, tree: HtmlElement, url: str | None) -> DocumentMeta:
    canonical = result.url or url
    hostname = result.hostname or (urlparse(canonical).hostname if canonical else None)
    host = hostname.removeprefix("www.") if hostname else None
    site = _flat(result.sitename or "") or None
    # Some pages put a URL (their Facebook page, their home page) where the name goes.
    if site and ("/" in site or site.startswith("@")):
        site = host
    site = site or host
    author = _flat(result.author or "") or None
    if author and site and author.casefold() == site.casefold():
        author = None
    return DocumentMeta(
        site=site,
        author=author,
        published=result.date or None,
        url=canonical or None,
        language=page_language(tree),
    )


def page_language(tree: HtmlElement) -> str | None:
    """The language the page declares: ``<html lang>``, Content-Language, or og:locale."""
    candidates = [tree.get("lang"), tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    for meta in tree.iter("meta"):
        key = (meta.get("http-equiv") or meta.get("property") or meta.get("name") or "").lower()
        if key in ("content-language", "og:locale", "language", "dc.language"):
            candidates.append(meta.get("content"))
    for candidate in candidates:
        value = (candidate or "").strip().split(",")[0].strip()
        if LANGUAGE_TAG.match(value):
            return value.replace("_", "-")
    return None
