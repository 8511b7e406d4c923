"""Turn raw page text, Markdown or HTML into a clean article: a title and body paragraphs.

HTML goes to trafilatura first (:mod:`qa.ingestion.extract`); the hand-written
parser at the end of this module is its fallback, used only when trafilatura
finds no body.  Every cleaned text drops invisible characters (soft hyphens,
zero-width characters, bidi controls), so a word is stored, searched and quoted
as it reads.

The line rules are general page-debris rules, not a list made for one site:

* lines with no letters (stray counters such as "0" or "4", rules, bullets);
* photo credits ("Name | Getty Images", "Photo: AP") and the caption just above one;
* editorial notes ("This developing story is being updated.", "Read more: ...");
* share, subscribe and cookie widgets (short lines made of widget words);
* a comment section: from "Leave a reply" / "Comments" to the end, and form prompts.

On text that trafilatura extracted only the single-line rules run (widgets,
credits, editorial and page notes, form prompts): measured on its evaluation set
they remove leaks and cost no recall, while the others (the comment cut, lines of
"|"-separated cells, captions) cost more than they saved there.

No cut is silent: what the rules remove is counted in ``CleanArticle.dropped``,
and a comment-section cut that would remove more than ``MAX_TAIL_SHARE`` of the
text is not made unless asked for (``trim_tail``, ``qa ingest --trim-tail``).

Not handled: paywall overlays spliced into the middle of a sentence, and
captions that are not next to a credit line (they are indistinguishable from
a one-sentence paragraph).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from qa.text.injection import opens_injection
from qa.types import DocumentMeta, Dropped

# Characters that change how text is drawn but are not part of any word: the soft
# hyphen, zero-width spaces and joiners, the word joiner and BOM, the direction marks,
# and bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069, which can also
# reorder what a terminal shows).  Left in, "Lauf\u00adzeit" would not match "Laufzeit".
INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad\u061c\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    )
)
# A comment-section cut is made only when what follows the heading is at most this share
# of the article's words; a larger tail may be the article itself (a lone "Comments" line
# in the middle of it), so it is kept and reported instead.
MAX_TAIL_SHARE = 0.2
LETTER = re.compile(r"[^\W\d_]")
SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
SOURCE_HEADER = re.compile(r"^#\s*source:\s*(?P<source>.+)$", re.IGNORECASE)
LIST_MARKER = re.compile(r"^(?:[-*•·]|\d{1,3}[.)])\s+")

CREDIT_WORDS = re.compile(
    r"\b(getty images?|reuters|afp|ap photo|associated press|shutterstock|epa|bloomberg"
    r"|photo(?:graph)?s?|image|images|credit|courtesy|pool|via)\b",
    re.IGNORECASE,
)
CREDIT_PREFIX = re.compile(
    r"^\(?\s*(photo|image|picture|photograph|credit|source|illustration)s?( by)?\s*[:/]",
    re.IGNORECASE,
)
STORY_NOTE = re.compile(
    r"^(this (is a )?(developing|breaking)( news)? story"
    r"|this (story|article|post|report) (is being|has been|will be|was|is) (updated|corrected))",
    re.IGNORECASE,
)
# Page furniture that starts like prose ("Published ...", "Related ..."): only a short line
# or one without a full stop counts, so "Published on Monday, the report found ..." stays.
PAGE_NOTE = re.compile(
    r"^((updated|published|last updated|correction)\b"
    r"|(read|see|watch|listen)( more| also)?\s*:"
    r"|(related|recommended|more from|trending|most read)\b"
    r"|advertisement$|sponsored( content)?$"
    r"|sign up\b|subscribe\b|click here\b|follow us\b|download (our|the) app\b"
    r"|copyright\b|©|all rights reserved"
    r"|we use cookies\b|accept (all )?cookies\b)",
    re.IGNORECASE,
)
COMMENT_SECTION = re.compile(
    r"^(leave a (reply|comment)|post a comment|add a comment|write a comment"
    r"|join the (conversation|discussion)|comments?( \(\d+\))?|\d+ comments?"
    r"|show comments|view comments)\s*[:.!]?$",
    re.IGNORECASE,
)
FORM_PROMPT = re.compile(
    r"^(please enter your|you have entered an incorrect|save my name|notify me of"
    r"|required fields are marked|your email address will not be published|log ?in to comment"
    r"|cancel reply|submit( comment)?$|post comment$)",
    re.IGNORECASE,
)
WIDGET_WORDS = {
    "share",
    "tweet",
    "email",
    "print",
    "copy",
    "link",
    "facebook",
    "twitter",
    "x",
    "linkedin",
    "whatsapp",
    "reddit",
    "pinterest",
    "telegram",
    "save",
    "comment",
    "comments",
    "on",
    "this",
    "article",
    "story",
    "via",
    "menu",
    "search",
    "close",
    "skip",
    "to",
    "content",
    "home",
    "next",
    "previous",
    "back",
    "top",
    "more",
}


@dataclass(frozen=True)
class CleanArticle:
    title: str
    text: str
    source_note: str = ""
    meta: DocumentMeta = field(default_factory=DocumentMeta)
    dropped: tuple[Dropped, ...] = ()


def normalise_line(line: str) -> str:
    # Why: any character str.split() counts as whitespace (\x1f, U+1680, a line break in
    # a title) becomes one space; a hand-picked list of space characters let the rest
    # through into stored text, where the splitter's strip() saw them as whitespace.
    # NFC: one spelling per character ("é" composed or not, Bengali's "য়"), as
    # trafilatura's own output and as people type, so a quote or a search matches.
    return unicodedata.normalize("NFC", " ".join(line.translate(INVISIBLE).split()))


class _Cuts:
    """A tally of the lines the rules drop, so cleaning can report what it removed."""

    def __init__(self) -> None:
        self.lines = 0
        self.words = 0

    def drop(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.lines += 1
            self.words += len(line.split())

    def report(self, tail: Dropped | None = None) -> tuple[Dropped, ...]:
        furniture = [Dropped("furniture", self.lines, self.words)] if self.lines else []
        return (*([tail] if tail else []), *furniture)


def is_credit(line: str) -> bool:
    """A photo credit: short, unpunctuated, and naming an agency or 'photo'."""
    words = line.split()
    if len(words) > 14 or (SENTENCE_END.search(line) and "|" not in line):
        return False
    if CREDIT_PREFIX.match(line):
        return True
    return ("|" in line or line.startswith("(")) and bool(CREDIT_WORDS.search(line))


def is_widget(line: str) -> bool:
    words = re.findall(r"[\w']+", line.lower())
    return 0 < len(words) <= 6 and all(word in WIDGET_WORDS for word in words)


def is_debris(line: str) -> bool:
    if not LETTER.search(line):
        return True
    if is_widget(line) or FORM_PROMPT.match(line):
        return True
    words = len(line.split())
    if words <= 25 and STORY_NOTE.match(line):
        return True
    if PAGE_NOTE.match(line) and (words <= 8 or not SENTENCE_END.search(line)):
        return True
    # A line of short segments split by "|" is navigation or a byline bar, not prose.
    return "|" in line and not SENTENCE_END.search(line) and len(line.split()) <= 14


def looks_like_headline(block: list[str]) -> bool:
    if len(block) != 1:
        return False
    line = block[0]
    return len(line.split()) <= 25 and not re.search(r"[.,;:]$", line)


def _blocks(text: str) -> list[list[str]]:
    """Blocks of non-empty normalised lines, split at blank lines."""
    blocks: list[list[str]] = []
    current: list[str] = []
    # Why splitlines(): \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029 end a line too; split("\n")
    # left them inside a "line", so they survived cleaning mid-paragraph.
    for raw in text.splitlines():
        line = normalise_line(raw)
        if line:
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _strip_markdown(line: str) -> str:
    line = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", line)
    line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"^(#{1,6}|>+)\s*", "", line)
    line = re.sub(r"(\*\*|__|`)", "", line)
    # Why: deleting markup mid-line ("a ** b", "[](x) c") leaves doubled spaces behind.
    return normalise_line(line)


def clean_text(
    raw: str, *, markdown: bool = False, title: str = "", trim_tail: bool = False
) -> CleanArticle:
    """Clean article text; the first headline-like block becomes the title unless one is given.

    ``trim_tail``: cut a comment section even when it is a large share of the text."""
    blocks = _blocks(raw)
    source_note = ""
    if blocks and (match := SOURCE_HEADER.match(blocks[0][0])):
        source_note = match.group("source").strip()
        blocks[0] = blocks[0][1:]
        if not blocks[0]:
            blocks.pop(0)
    if markdown:
        blocks = [[_strip_markdown(line) for line in block] for block in blocks]
        blocks = [[line for line in block if line] for block in blocks]
        blocks = [block for block in blocks if block]
    blocks, tail = _cut_tail(blocks, trim_tail)

    cuts = _Cuts()
    kept: list[list[str]] = []
    for block in blocks:
        lines: list[str] = []
        for line in block:
            if is_credit(line):
                cuts.drop([line])
                # The caption sits just above its credit, in this block or the one before.
                if lines:
                    cuts.drop(lines)
                    lines = []
                elif _is_caption_candidate(kept, title):
                    cuts.drop(kept.pop())
                continue
            if is_debris(line):
                cuts.drop([line])
                continue
            lines.append(line)
        if lines:
            kept.append(lines)
    return _finish(kept, title, source_note, cuts.report(tail))


def _cut_tail(blocks: list[list[str]], trim_tail: bool) -> tuple[list[list[str]], Dropped | None]:
    """Cut everything after a comment-section heading ("Leave a reply", "Comments"), when
    that is a small share of the text (or ``trim_tail``); either way, say so."""
    for b, block in enumerate(blocks):
        for n, line in enumerate(block):
            if not COMMENT_SECTION.match(line):
                continue
            before = [*blocks[:b], block[:n]] if n else blocks[:b]
            after_lines = [*block[n + 1 :], *(line for rest in blocks[b + 1 :] for line in rest)]
            after_words = sum(len(rest.split()) for rest in after_lines)
            total = sum(len(text.split()) for part in blocks for text in part)
            paragraphs = len(blocks) - b - 1 + (1 if block[n + 1 :] else 0)
            if not after_lines:
                return before, Dropped("tail", 0, 0, after=line)
            if trim_tail or after_words <= MAX_TAIL_SHARE * total:
                return before, Dropped("tail", paragraphs, after_words, after=line)
            # Too much to be page furniture: keep it all but the heading line itself.
            rest = [*before, block[n + 1 :]] if block[n + 1 :] else before
            rest.extend(blocks[b + 1 :])
            return rest, Dropped("tail", paragraphs, after_words, after=line, kept=True)
    return blocks, None


def clean_lines(
    lines: Iterable[str],
    *,
    title: str,
    meta: DocumentMeta,
    dropped_lines: Iterable[str] = (),
) -> CleanArticle:
    """Paragraphs an extractor found (one per line): normalised, list markers and the
    single-line debris rules applied (see the module's docstring for which, and why).

    ``dropped_lines``: what the extractor itself left out as furniture, to be reported."""
    cuts = _Cuts()
    cuts.drop(dropped_lines)
    paragraphs: list[str] = []
    for raw in lines:
        line = normalise_line(raw)
        if not line:
            continue
        # trafilatura writes a list item as "- item" and a table row as "| a | b |": the
        # item, the row's cells, are the paragraph.
        line = line.removeprefix("- ").strip() or line
        if line.startswith("| ") and line.endswith(" |"):
            line = line[2:-2].strip() or line
        if is_line_debris(line):
            cuts.drop([line])
            continue
        paragraphs.append(line)
    title = normalise_line(title)
    if paragraphs and paragraphs[0] == title:
        paragraphs.pop(0)
    if opens_injection(title):
        # As in _finish: a title written to a model is not the article's title.
        title = ""
    return CleanArticle(title, "\n\n".join(paragraphs), meta=meta, dropped=cuts.report())


def is_line_debris(line: str) -> bool:
    """The single-line rules that help on extracted text: widgets, credits, page notes."""
    if is_widget(line) or FORM_PROMPT.match(line) or is_credit(line):
        return True
    words = len(line.split())
    if words <= 25 and STORY_NOTE.match(line):
        return True
    return bool(PAGE_NOTE.match(line)) and (words <= 8 or not SENTENCE_END.search(line))


def _is_caption_candidate(kept: list[list[str]], title: str) -> bool:
    if not kept or len(kept[-1]) > 2 or len(" ".join(kept[-1]).split()) > 60:
        return False
    # A lone headline followed by a credit has no caption: keep the headline.
    return not (len(kept) == 1 and not title and looks_like_headline(kept[0]))


def _finish(
    kept: list[list[str]], title: str, source_note: str, dropped: tuple[Dropped, ...] = ()
) -> CleanArticle:
    # A "title" written to a model ("Assistant: HACKED [1]") would sit beside every citation
    # of the article and in every chunk's embedding: it is not taken as the title (a first
    # line stays in the text, where the engine leaves it out).
    if title and opens_injection(title):
        title = ""
    if not title and kept and looks_like_headline(kept[0]) and not opens_injection(kept[0][0]):
        title = kept.pop(0)[0]
    paragraphs: list[str] = []
    for block in kept:
        # Hard-wrapped lines belong to one paragraph; list items stand alone, and so does a
        # line written to a model ("Assistant: ..."), so it never swallows the next line.
        current: list[str] = []
        for line in block:
            if LIST_MARKER.match(line) or opens_injection(line):
                if current:
                    paragraphs.append(" ".join(current))
                current = []
                paragraphs.append(LIST_MARKER.sub("", line))
            else:
                current.append(line)
        if current:
            paragraphs.append(" ".join(current))
    return CleanArticle(
        title=title, text="\n\n".join(paragraphs), source_note=source_note, dropped=dropped
    )


SKIP_TAGS = {
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "button",
    "select",
    "figure",
    "figcaption",
    "dialog",
    "menu",
    "object",
}
BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "blockquote",
    "pre",
    "tr",
    "td",
    "th",
    "dd",
    "dt",
    "br",
    "hr",
    "ul",
    "ol",
    "table",
}
VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "source", "wbr", "area", "col", "embed"}
SKIP_ATTRIBUTE = re.compile(
    r"(^|[\s_-])(share|sharing|social|comments?|related|newsletter|promo|advert\w*|ads?|cookie"
    r"|breadcrumbs?|menu|sidebar|subscribe|signup|popup|modal|byline|caption|credit|footer"
    r"|masthead|navigation|nav|toolbar|recommended|outbrain|taboola)($|[\s_-])",
    re.IGNORECASE,
)
SKIP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "form"}


class _ArticleParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_stack: list[str] = []
        self.open_tags: list[str] = []
        self.scope_depth = 0
        self.blocks: list[tuple[bool, str]] = []
        self.buffer: list[str] = []
        self.h1 = ""
        self.in_h1 = False
        self.page_title = ""
        self.in_title = False
        self.og_title = ""
        self.saw_scope = False

    def _flush(self) -> None:
        text = " ".join("".join(self.buffer).split())
        if text:
            self.blocks.append((self.scope_depth > 0, text))
        self.buffer = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "meta" and attributes.get("property") == "og:title":
            self.og_title = attributes.get("content", "").strip()
        if tag == "title":
            self.in_title = True
        if tag in VOID_TAGS:
            if tag in ("br", "hr") and not self.skip_stack:
                self._flush()
            return
        if self.skip_stack:
            self.skip_stack.append(tag)
            return
        marker = " ".join(attributes.get(name, "") for name in ("class", "id", "aria-label"))
        if (
            tag in SKIP_TAGS
            or attributes.get("role", "") in SKIP_ROLES
            or attributes.get("hidden") is not None
            or (tag not in ("article", "main", "body") and SKIP_ATTRIBUTE.search(marker))
        ):
            self._flush()
            self.skip_stack.append(tag)
            return
        if tag in BLOCK_TAGS:
            self._flush()
        if tag in ("article", "main"):
            self.scope_depth += 1
            self.saw_scope = True
        if tag == "h1":
            self.in_h1 = True
        self.open_tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if self.skip_stack:
            # Pop to the matching open tag so unclosed inner tags cannot leak the skip.
            if tag in self.skip_stack:
                while self.skip_stack and self.skip_stack.pop() != tag:
                    pass
            return
        if tag not in self.open_tags:
            return
        while self.open_tags:
            open_tag = self.open_tags.pop()
            if open_tag in ("article", "main"):
                self.scope_depth -= 1
            if open_tag == "h1":
                self.in_h1 = False
            if open_tag == tag:
                break
        if tag in BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.page_title += data
        if self.skip_stack:
            return
        if self.in_h1 and not self.h1:
            self.h1 = " ".join(data.split())
        self.buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def extract_html(html: str, *, url: str | None = None) -> CleanArticle:
    """The article of an HTML page, with its metadata: trafilatura first, qa's own parser
    when trafilatura finds no body."""
    from qa.ingestion.extract import extract_page

    page = extract_page(html, url=url)
    if page is not None and page.lines:
        article = clean_lines(page.lines, title=page.title, meta=page.meta)
        if article.text:
            return article
    fallback = extract_html_fallback(html)
    if page is None:
        return fallback
    return CleanArticle(
        fallback.title or normalise_line(page.title),
        fallback.text,
        fallback.source_note,
        meta=page.meta,
        dropped=fallback.dropped,
    )


def extract_html_fallback(html: str) -> CleanArticle:
    """The article body of an HTML page by qa's own parser, then cleaned like plain text."""
    parser = _ArticleParser()
    parser.feed(html)
    parser.close()
    blocks = [text for in_scope, text in parser.blocks if in_scope or not parser.saw_scope]
    title = parser.og_title or parser.h1 or _site_suffix_removed(parser.page_title)
    title = normalise_line(title)
    if blocks and normalise_line(blocks[0]) == title:
        blocks = blocks[1:]
    return clean_text("\n\n".join(blocks), title=title)


def _site_suffix_removed(title: str) -> str:
    return re.split(r"\s+[|–—-]\s+", title.strip())[0] if title.strip() else ""
