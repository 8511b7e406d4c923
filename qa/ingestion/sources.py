"""Reading inputs: files, folders, URLs and stdin, checked and decoded before anything is stored.

Every refusal is an :class:`~qa.errors.InputError` naming the input and the
fix.  Sizes are checked before a file or a response body is read whole.  PDFs
and RSS/Atom feeds are recognised by their bytes and passed on undecoded (see
:mod:`qa.ingestion.pdf`, :mod:`qa.ingestion.feeds`); everything else is decoded
by evidence (byte-order marks, NUL patterns, the declared charset, UTF-8, then
Windows-1252 / Latin-1) rather than by guessing, so an input whose encoding
cannot be told is refused instead of being stored as mojibake.  Like a browser,
decoding repairs a few invalid bytes and drops NUL bytes from HTML, and says so
(``RawArticle.warnings``).
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from qa.errors import InputError
from qa.ingestion.feeds import is_feed
from qa.types import DocumentMeta, SkippedFile

FORMATS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".rss": "feed",
    ".atom": "feed",
    ".xml": "feed",
}
# What a folder is searched for: articles, not feeds (a folder's .xml files may be anything).
FOLDER_FORMATS = {"text", "markdown", "html", "pdf"}
PDF_MAGIC = b"%PDF-"
# Content types fetched as articles: pages and text, PDFs, and feeds.
FETCHED_TYPES = (
    "text/",
    "application/xhtml+xml",
    "application/pdf",
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
)
STDIN = "-"
READ_BLOCK = 64 * 1024

# Leading bytes of file types people rename to .txt; a NUL check alone misses some of them.
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"PK\x03\x04", "a zip archive (or .docx/.xlsx/.epub)"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file"),
    (b"{\\rtf", "an RTF document"),
    (b"\x7fELF", "a program (ELF)"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
# Control characters that never occur in text (tab, newlines and form feed excluded).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
HIGH_BYTE = re.compile(rb"[\x80-\xff]")
HIGH_RUN = re.compile(rb"[\x80-\xff]{2,}")


@dataclass(frozen=True)
class RawArticle:
    """An input as read: ``content`` is its decoded text; a PDF or feed keeps its bytes in
    ``data`` instead.  ``meta`` and ``title`` are what was known before extraction (a feed
    entry's date, author and title), used where the article itself says nothing."""

    source: str
    format: str
    content: str
    data: bytes = b""
    warnings: tuple[str, ...] = ()
    meta: DocumentMeta | None = None
    title: str = ""
    # Fetched from a public address (a feed's links may then not lead into private ones).
    public: bool = False


def is_url(source: str) -> bool:
    return bool(re.match(r"^https?://", source, re.IGNORECASE))


def _other_scheme(source: str) -> str | None:
    """The scheme of a URL qa does not fetch (``ftp://``, ``file://``), if ``source`` is one."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", source)
    return match.group(1) if match and not is_url(source) else None


def expand_sources(sources: Iterable[str | Path]) -> list[str]:
    """Files, URLs and ``-`` as given; folders replaced by their supported files, recursively."""
    return expand_folders(sources)[0]


def expand_folders(sources: Iterable[str | Path]) -> tuple[list[str], list[SkippedFile]]:
    """Files, URLs and ``-`` as given; folders replaced by their supported files, recursively,
    and every other file found in them, with the reason it is not read.

    Hidden files and folders (names starting with ``.``, e.g. ``.git``) are skipped too;
    a file named on the command line is never skipped here (it is read, or refused)."""
    expanded: list[str] = []
    skipped: list[SkippedFile] = []
    for source in sources:
        text = str(source)
        path = Path(text).expanduser()
        if text == STDIN or is_url(text) or not path.is_dir():
            expanded.append(text)
            continue
        for child in sorted(path.rglob("*")):
            if not child.is_file():
                continue
            if any(part.startswith(".") for part in child.relative_to(path).parts):
                skipped.append(SkippedFile(str(child), "hidden"))
            elif FORMATS.get(child.suffix.lower()) in FOLDER_FORMATS:
                expanded.append(str(child))
            elif child.suffix.lower() in FORMATS:
                # A folder's .xml files may be anything: feeds are read when named.
                skipped.append(SkippedFile(str(child), "a feed is read only when named"))
            else:
                kind = child.suffix or "(no extension)"
                skipped.append(SkippedFile(str(child), f"unsupported type {kind}"))
    return expanded, skipped


def read_source(
    source: str,
    *,
    max_bytes: int,
    url_timeout: float,
    stdin_text: str | None = None,
    from_public: bool = False,
) -> RawArticle:
    """``from_public``: a URL found in a page or feed fetched from a public address
    (see :func:`qa.ingestion.fetch.fetch`)."""
    if source == STDIN:
        return read_stdin(max_bytes, stdin_text)
    if is_url(source):
        return fetch_url(source, max_bytes=max_bytes, timeout=url_timeout, from_public=from_public)
    scheme = _other_scheme(source)
    if scheme and not Path(source).exists():
        raise InputError(
            f"cannot fetch {ascii(source)[1:-1]}: only http and https URLs are fetched, not {scheme}://",
            fix="download it yourself and ingest the file",
        )
    return read_file(source, max_bytes)


def read_stdin(max_bytes: int, stdin_text: str | None = None) -> RawArticle:
    if stdin_text is not None:
        data = stdin_text.encode("utf-8")
    else:
        data = _read_capped(sys.stdin.buffer, max_bytes, "standard input")
    _check_size(len(data), max_bytes, "standard input")
    article = raw_article("standard input", data)
    return RawArticle("stdin", article.format, article.content, article.data, article.warnings)


def read_file(source: str, max_bytes: int) -> RawArticle:
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"file not found: {source}", fix="check the path")
    if path.is_dir():
        raise InputError(
            f"{source} holds no .txt, .md, .html or .pdf files", fix="point at articles"
        )
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"unsupported file type {suffix or '(none)'}: {source}",
            fix="convert it to .txt, .md, .html or .pdf (feeds: .rss, .atom, .xml)",
        )
    try:
        # The size is checked before reading, and the read is capped in case the file grows.
        _check_size(path.stat().st_size, max_bytes, source)
        with path.open("rb") as handle:
            data = _read_capped(handle, max_bytes, source)
    except PermissionError:
        raise InputError(
            f"cannot read {source}: permission denied", fix="check the file's permissions"
        ) from None
    except OSError as error:
        raise InputError(
            f"cannot read {source}: {error.strerror or error}", fix="check the file"
        ) from None
    article = raw_article(source, data, format_hint=FORMATS[suffix])
    return RawArticle(
        str(path.resolve()), article.format, article.content, article.data, article.warnings
    )


def fetch_url(url: str, *, max_bytes: int, timeout: float, from_public: bool = False) -> RawArticle:
    """The one entry point for reading a URL as an article: fetched safely, then read as
    a file's bytes are (a PDF or a feed by its bytes, else decoded like a browser).

    The fetching rules (schemes, addresses, redirects, one deadline, size cap) are
    :func:`qa.ingestion.fetch.fetch`'s; the charset the response declares takes
    precedence over a ``<meta>`` one.
    """
    # Imported here: httpx costs ~0.1 s of start-up that only URL ingest needs.
    from qa.ingestion.fetch import fetch, shown_url

    page = fetch(
        url,
        max_bytes=max_bytes,
        timeout=timeout,
        accept=FETCHED_TYPES,
        wanted="a web page, text, PDF or feed",
        from_public=from_public,
    )
    article = raw_article(
        url,
        page.body,
        declared=page.charset,
        format_hint="html" if "html" in page.content_type else None,
        name=shown_url(url),
    )
    return replace(article, public=page.public)


def raw_article(
    source: str,
    data: bytes,
    *,
    declared: str | None = None,
    format_hint: str | None = None,
    name: str | None = None,
) -> RawArticle:
    """Bytes as an article to clean: a PDF or a feed (by their bytes, whatever the name
    says), else text decoded by evidence, in the format the name says or the text shows.

    ``name`` is how messages call the input (a URL without its password); ``source``
    by default."""
    shown = name or source
    if data.startswith(PDF_MAGIC):
        return RawArticle(source, "pdf", "", data=data)
    if is_feed(data):
        return RawArticle(source, "feed", "", data=data)
    if format_hint == "feed":
        raise InputError(f"{shown} is not an RSS or Atom feed", fix="check the file")
    if format_hint == "pdf":
        raise InputError(f"{shown} is not a PDF file", fix="check the file")
    decoded = decode_text(data, shown, declared=declared)
    article_format = format_hint or sniff_format(decoded.text)
    return RawArticle(source, article_format, decoded.text, warnings=decoded.warnings)


def _read_capped(stream: BinaryIO, max_bytes: int, source: str) -> bytes:
    """Read at most ``max_bytes``; refuse, without reading on, once the stream is longer."""
    read: Callable[[int], bytes] = getattr(stream, "read1", None) or stream.read
    parts: list[bytes] = []
    size = 0
    while True:
        block = read(min(READ_BLOCK, max_bytes + 1 - size))
        if not block:
            return b"".join(parts)
        parts.append(block)
        size += len(block)
        _check_size(size, max_bytes, source)


def _check_size(size: int, max_bytes: int, source: str) -> None:
    if size > max_bytes:
        raise InputError(
            f"{source} is larger than the {_megabytes(max_bytes)} input limit",
            fix="split it into articles, or raise the limit with --max-mb or QA_MAX_INPUT_MB",
        )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.3g} MB"


def decode_bytes(data: bytes, source: str, *, declared: str | None = None) -> str:
    """Text from bytes by evidence; refuse binaries and undecidable encodings.

    What was repaired on the way (invalid bytes replaced, NUL bytes dropped) is
    left out; :func:`decode_text` returns it as warnings."""
    return decode_text(data, source, declared=declared).text


@dataclass(frozen=True)
class Decoded:
    """Decoded text, and what decoding repaired on the way, one warning per repair."""

    text: str
    warnings: tuple[str, ...] = ()


def decode_text(data: bytes, source: str, *, declared: str | None = None) -> Decoded:
    """Decode like a browser, but refuse what a browser would show as garbage.

    Byte-order marks first, then the declared charset (HTTP header or ``<meta>``),
    then UTF-8, then Windows-1252.  A few invalid bytes in otherwise good text (a
    stray Latin-1 byte pasted into a UTF-8 page) become U+FFFD with a warning
    naming the count; NUL bytes in an HTML page are dropped, as browsers do.
    Binaries and text whose encoding cannot be told are refused.
    """
    if not data.strip():
        raise InputError(f"{source} is empty", fix="give a file with the article's text")
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return _decode_marked(data[len(bom) :], encoding, source)
    for magic, kind in MAGIC:
        if data.startswith(magic):
            raise InputError(f"{source} is {kind}, not text", fix="save the article as .txt")
    utf16 = _bomless_utf16(data)
    if utf16:
        return _decode_marked(data, utf16, source)
    warnings: list[str] = []
    if b"\x00" in data:
        nuls = data.count(0)
        if not _looks_like_html(data) or nuls > _repair_limit(data):
            raise InputError(f"{source} is a binary file", fix="give a .txt, .md or .html article")
        data = data.replace(b"\x00", b"")
        warnings.append(f"dropped {nuls} NUL byte{'s' if nuls != 1 else ''} from {source}")
    declared = declared or _meta_charset(data)
    for encoding in [declared] if declared else []:
        try:
            decoded = _decode_declared(data, _codec(encoding), source)
        except LookupError:
            continue
        if decoded is not None:
            return Decoded(decoded.text, (*warnings, *decoded.warnings))
    decoded = _decode_utf8(data, source)
    if decoded is None:
        decoded = Decoded(_text_or_refuse(_single_byte(data, source), source))
    return Decoded(decoded.text, (*warnings, *decoded.warnings))


# At most one repaired byte in a thousand (and at least this many): stray bytes from a
# copy-paste are few, while a wrong encoding breaks every accented letter of the text.
MIN_REPAIRS = 16
REPAIRS_PER_BYTE = 1 / 1000


def _repair_limit(data: bytes) -> int:
    return max(MIN_REPAIRS, int(len(data) * REPAIRS_PER_BYTE))


def _replaced(text: str, data: bytes) -> int:
    """How many U+FFFD decoding put in (not counting those the bytes spelled out)."""
    return text.count("\ufffd") - data.count("\ufffd".encode())


def _decode_marked(data: bytes, encoding: str, source: str) -> Decoded:
    """Decode text that a byte-order mark (or UTF-16's NUL pattern) says is ``encoding``.

    That leaves no doubt about what the file claims, so too many invalid bytes are refused."""
    decoded = _decode_declared(data, encoding, source)
    if decoded is None:
        raise InputError(
            f"{source} claims to be {encoding.upper()} but is not valid {encoding.upper()}",
            fix="save it as UTF-8 and ingest it again",
        )
    return decoded


def _decode_declared(data: bytes, encoding: str, source: str) -> Decoded | None:
    """Decode with a declared encoding, replacing a few invalid bytes; ``None`` when too
    many are invalid (a charset label may simply be wrong: the caller goes on to the
    evidence)."""
    text = data.decode(encoding, errors="replace")
    replaced = _replaced(text, data)
    if replaced and (replaced > _repair_limit(data) or not _has_non_ascii(text)):
        return None
    return Decoded(_text_or_refuse(text, source), _replacement_warning(replaced, source, encoding))


def _decode_utf8(data: bytes, source: str) -> Decoded | None:
    """UTF-8, with a few invalid bytes replaced when the rest shows it really is UTF-8."""
    text = data.decode("utf-8", errors="replace")
    replaced = _replaced(text, data)
    if replaced == 0:
        return Decoded(_text_or_refuse(text, source))
    # Isolated high bytes and no valid multi-byte sequence: a single-byte encoding.
    if replaced > _repair_limit(data) or not _has_non_ascii(text):
        return None
    return Decoded(_text_or_refuse(text, source), _replacement_warning(replaced, source, "utf-8"))


def _has_non_ascii(text: str) -> bool:
    """Whether a character beyond ASCII decoded validly (evidence for the encoding)."""
    return any(ord(ch) > 0x7F and ch != "\ufffd" for ch in text)


def _replacement_warning(replaced: int, source: str, encoding: str) -> tuple[str, ...]:
    if not replaced:
        return ()
    plural = "s" if replaced != 1 else ""
    return (
        f"replaced {replaced} invalid byte{plural} in {source} with U+FFFD "
        f"(not valid {codecs.lookup(encoding).name.upper()})",
    )


def _looks_like_html(data: bytes) -> bool:
    head = data[:2048].replace(b"\x00", b"").lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head or b"<head" in head


def _bomless_utf16(data: bytes) -> str | None:
    # Text in UTF-16 without a byte-order mark has a NUL in every other byte for ASCII.
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even_nuls = sample[0::2].count(0) / (len(sample) / 2)
    odd_nuls = sample[1::2].count(0) / (len(sample) / 2)
    if odd_nuls > 0.4 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.4 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


def _meta_charset(data: bytes) -> str | None:
    match = META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii").lower() if match else None


def _codec(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    # Browsers read pages labelled Latin-1 as Windows-1252; so must we, or curly quotes vanish.
    return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name


def _single_byte(data: bytes, source: str) -> str:
    """Windows-1252 (a superset of Latin-1's printable range) when the bytes look like it."""
    high = len(HIGH_BYTE.findall(data))
    in_runs = sum(len(run) for run in HIGH_RUN.findall(data))
    # In Western single-byte text accented letters stand alone between ASCII letters; runs of
    # high bytes are the mark of a multi-byte encoding (Shift-JIS, GBK, EUC-KR...).
    if high > 8 and in_runs > 0.5 * high:
        raise InputError(
            f"cannot tell the text encoding of {source} (not UTF-8, UTF-16 or Windows-1252)",
            fix="save it as UTF-8 and ingest it again",
        )
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        # Five bytes are unassigned in Windows-1252; Latin-1 maps them to controls, removed here.
        return CONTROL.sub("", data.decode("latin-1").translate(_C1_CONTROLS))


_C1_CONTROLS = {code: None for code in range(0x80, 0xA0)}


def _text_or_refuse(text: str, source: str) -> str:
    controls = len(CONTROL.findall(text))
    if controls > max(2, len(text) // 100):
        raise InputError(f"{source} is a binary file", fix="give a .txt, .md or .html article")
    return CONTROL.sub("", text) if controls else text


def sniff_format(text: str) -> str:
    head = text.lstrip()[:512].lower()
    return "html" if head.startswith(("<!doctype html", "<html")) or "<body" in head else "text"
