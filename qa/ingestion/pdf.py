"""PDF reports: the text layer, as paragraphs, by pypdf.

pypdf gives each run of text with its position.  Runs on one baseline make a
line; a line starts a new paragraph when the gap above it is clearly wider than
the page's usual line spacing, when the font size changes (a heading), when it
is indented after a line that ended a sentence, or when it follows a short line
that ended one.  Inside a paragraph, a word hyphenated at the end of a line is
joined again ("com-" + "plete" is "complete"), unless the document spells the
word with its hyphen elsewhere ("well-known").  Lines repeated on most pages
(running headers and footers) are left out.

A PDF whose pages hold no text (a scan) is refused: it needs OCR first.
pypdf is imported on first use, so it costs nothing unless a PDF is ingested.
"""

from __future__ import annotations

import io
import itertools
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from qa.errors import InputError
from qa.types import DocumentMeta

LETTER = re.compile(r"[^\W\d_]")
DIGITS = re.compile(r"\d+")
SENTENCE_END = re.compile(r"[.!?…:][\"'”’»)\]]*$")
HYPHENATED = re.compile(r"(\w+)-$")
FIRST_WORD = re.compile(r"^(\w+)")
PDF_DATE = re.compile(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?")
# A gap this many times the usual line spacing separates paragraphs (1.0 is the usual
# spacing, which varies by a few percent; paragraph spacing is 1.3 in TeX manuals, 1.5 or
# more in most reports).
PARAGRAPH_GAP = 1.2
# A line shorter than this share of the page's usual line ends its paragraph when it
# ends a sentence: the last line of a paragraph is usually short.
SHORT_LINE = 0.75
# A line found (digits aside) on at least this share of pages is a running header/footer.
RUNNING_SHARE = 0.5
# Titles some PDF writers put in the metadata that are not the document's title.
PLACEHOLDER_TITLE = re.compile(r"^(untitled|microsoft word\b|document\d*$|.*\.(docx?|pdf)$)", re.I)


@dataclass(frozen=True)
class _Line:
    page: int
    x: float
    y: float
    size: float
    text: str


@dataclass(frozen=True)
class PdfArticle:
    title: str
    paragraphs: list[str]
    meta: DocumentMeta
    running_lines: list[str]


def extract_pdf(data: bytes, source: str) -> PdfArticle:
    """The paragraphs and metadata of a text-layer PDF; refuses scans and locked files."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputError(
                f"{source} is a password-protected PDF",
                fix="save an unprotected copy (or print it to PDF) and ingest that",
            )
        pages = [_page_lines(page, number) for number, page in enumerate(reader.pages)]
        info: Any = reader.metadata or {}
        language = _language(reader)
    except DependencyError:
        raise InputError(
            f"{source} is an encrypted PDF that pypdf cannot open without 'cryptography'",
            fix="pip install cryptography, or save an unencrypted copy",
        ) from None
    except InputError:
        raise
    except Exception as error:
        # A damaged PDF makes pypdf raise many kinds of error (KeyError, IndexError,
        # RecursionError, ...): all of them say the file cannot be read.
        raise InputError(
            f"cannot read the PDF {source}: {str(error).strip() or type(error).__name__}",
            fix="check that the file is a complete PDF, or save the text and ingest that",
        ) from None
    if not any(LETTER.search(line.text) for lines in pages for line in lines):
        raise InputError(
            f"{source} is a scanned PDF with no text layer",
            fix="run OCR on it first (e.g. ocrmypdf) and ingest the result",
        )
    lines, running = _without_running_lines(pages)
    paragraphs = _paragraphs(lines)
    title = _title(info, paragraphs, lines)
    meta = DocumentMeta(
        author=_info_text(info, "/Author"),
        published=_pdf_date(_info_text(info, "/CreationDate")),
        language=language,
    )
    return PdfArticle(title, paragraphs, meta, running)


def _page_lines(page: Any, number: int) -> list[_Line]:
    """The page's lines as pypdf writes them (it puts the spaces between runs of text and
    ends each line with a line break), each with the position and size of its first run."""
    lines: list[_Line] = []
    text: list[str] = []
    where: tuple[float, float, float] | None = None

    def end_line() -> None:
        nonlocal where
        joined = " ".join("".join(text).split())
        if joined and where is not None:
            lines.append(_Line(number, where[0], where[1], where[2], joined))
        text.clear()
        where = None

    def visit(run: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        nonlocal where
        parts = run.split("\n")
        for n, part in enumerate(parts):
            if n:
                end_line()
            if part.strip() and where is None:
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                # The size in points: a font set at size 1 and scaled by the matrix is common.
                scale = abs(tm[3] * cm[3]) or abs(tm[0] * cm[0]) or 1.0
                where = (x, y, float(size) * (scale if size < 2 else 1.0))
            text.append(part)

    page.extract_text(visitor_text=visit)
    end_line()
    return lines


def _without_running_lines(pages: list[list[_Line]]) -> tuple[list[_Line], list[str]]:
    """All lines, less those repeated (digits aside) on most pages, headers and footers,
    and those without a letter (page numbers, rules), as for text files."""
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({DIGITS.sub("#", line.text) for line in lines})
    running = {
        text
        for text, count in counts.items()
        if len(pages) >= 3 and count >= RUNNING_SHARE * len(pages)
    }
    kept: list[_Line] = []
    removed: list[str] = []
    for line in (line for lines in pages for line in lines):
        if DIGITS.sub("#", line.text) in running or not LETTER.search(line.text):
            removed.append(line.text)
        else:
            kept.append(line)
    return kept, removed


def _paragraphs(lines: list[_Line]) -> list[str]:
    """Lines joined into paragraphs (see the module's docstring for the rules)."""
    if not lines:
        return []
    gaps = sorted(
        previous.y - line.y
        for previous, line in itertools.pairwise(lines)
        if previous.page == line.page
        and abs(previous.size - line.size) < 0.5
        and previous.y - line.y >= 0.8 * line.size
    )
    # The usual line spacing is the narrowest common gap: paragraph gaps only add to it
    # (a low percentile, not the median, which short paragraphs push to paragraph gaps).
    spacing = gaps[len(gaps) // 10] if gaps else 0.0
    widths = [len(line.text) for line in lines]
    usual_width = statistics.median(widths) if widths else 0
    left = statistics.median(line.x for line in lines)
    groups: list[list[_Line]] = [[lines[0]]]
    for previous, line in itertools.pairwise(lines):
        if _starts_paragraph(previous, line, spacing, usual_width, left):
            groups.append([line])
        else:
            groups[-1].append(line)
    texts = [[line.text for line in group] for group in groups]
    vocabulary = {word.lower() for group in texts for line in group for word in line.split()}
    return [_join(group, vocabulary) for group in texts]


def _starts_paragraph(
    previous: _Line, line: _Line, spacing: float, usual_width: float, left: float
) -> bool:
    if abs(previous.size - line.size) >= 0.5:
        return True
    if previous.page != line.page:
        # A paragraph runs on to the next page unless its last line ended a sentence.
        return bool(SENTENCE_END.search(previous.text)) and not line.text[:1].islower()
    gap = previous.y - line.y
    if gap <= 0 or (spacing and gap > PARAGRAPH_GAP * spacing):
        return True
    ended = bool(SENTENCE_END.search(previous.text))
    if ended and len(previous.text) < SHORT_LINE * usual_width:
        return True
    # An indented first line, after a line that ended a sentence.
    return ended and line.x > left + line.size


def _join(lines: list[str], vocabulary: set[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        hyphenated = HYPHENATED.search(text)
        first = FIRST_WORD.match(line)
        if hyphenated and first and line[:1].islower():
            left, right = hyphenated.group(1), first.group(1)
            # Keep the hyphen of a compound the document also writes whole with it.
            if f"{left}-{right}".lower() in vocabulary:
                text = f"{text}{line}"
            else:
                text = f"{text[:-1]}{line}"
        else:
            text = f"{text} {line}"
    return text


def _info_text(info: Any, key: str) -> str | None:
    try:
        value = info.get(key)
    except (AttributeError, TypeError, ValueError):
        return None
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


def _pdf_date(value: str | None) -> str | None:
    match = PDF_DATE.match(value or "")
    if not match:
        return None
    year, month, day = match.group(1), match.group(2), match.group(3)
    if not year or int(year) < 1900:
        return None
    return "-".join(part for part in (year, month, day if month else None) if part)


def _title(info: Any, paragraphs: list[str], lines: list[_Line]) -> str:
    title = _info_text(info, "/Title")
    if title and not PLACEHOLDER_TITLE.match(title):
        return title
    # Else the first line, when it is set larger than the text (a heading).
    if lines and paragraphs:
        body = statistics.median(line.size for line in lines)
        if lines[0].size > body + 0.5 and len(paragraphs[0].split()) <= 25:
            return paragraphs[0]
    return ""


def _language(reader: Any) -> str | None:
    try:
        language = reader.trailer["/Root"].get("/Lang")
    except (KeyError, AttributeError, TypeError, ValueError):
        return None
    text = str(language).strip() if language else ""
    return text or None
