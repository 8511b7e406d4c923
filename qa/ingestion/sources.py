"""Reading inputs: files, folders, URLs and stdin, checked and decoded before anything is stored.

Every refusal is an :class:`~qa.errors.InputError` naming the input and the
fix.  Sizes are checked before a file or a response body is read whole, and
bytes are decoded by evidence (byte-order marks, NUL patterns, strict UTF-8,
then Windows-1252 / Latin-1) rather than by guessing, so an input whose
encoding cannot be told is refused instead of being stored as mojibake.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from qa.errors import InputError

FORMATS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}
STDIN = "-"
READ_BLOCK = 64 * 1024

# Leading bytes of file types people rename to .txt; a NUL check alone misses some of them.
MAGIC = (
    (b"%PDF-", "a PDF file"),
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
    source: str
    format: str
    content: str


def is_url(source: str) -> bool:
    return bool(re.match(r"^https?://", source, re.IGNORECASE))


def _other_scheme(source: str) -> str | None:
    """The scheme of a URL qa does not fetch (``ftp://``, ``file://``), if ``source`` is one."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", source)
    return match.group(1) if match and not is_url(source) else None


def expand_sources(sources: Iterable[str | Path]) -> list[str]:
    """Files, URLs and ``-`` as given; folders replaced by their supported files, recursively."""
    expanded: list[str] = []
    for source in sources:
        text = str(source)
        path = Path(text).expanduser()
        if text != STDIN and not is_url(text) and path.is_dir():
            expanded.extend(
                str(child)
                for child in sorted(path.rglob("*"))
                if child.suffix.lower() in FORMATS
                and child.is_file()
                and not any(part.startswith(".") for part in child.relative_to(path).parts)
            )
        else:
            expanded.append(text)
    return expanded


def read_source(
    source: str,
    *,
    max_bytes: int,
    url_timeout: float,
    stdin_text: str | None = None,
) -> RawArticle:
    if source == STDIN:
        return read_stdin(max_bytes, stdin_text)
    if is_url(source):
        return fetch_url(source, max_bytes=max_bytes, timeout=url_timeout)
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
    text = decode_bytes(data, "standard input")
    return RawArticle("stdin", sniff_format(text), text)


def read_file(source: str, max_bytes: int) -> RawArticle:
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"file not found: {source}", fix="check the path")
    if path.is_dir():
        raise InputError(f"{source} holds no .txt, .md or .html files", fix="point at articles")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"unsupported file type {suffix or '(none)'}: {source}",
            fix="convert it to .txt, .md or .html",
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
    return RawArticle(str(path.resolve()), FORMATS[suffix], decode_bytes(data, source))


def fetch_url(url: str, *, max_bytes: int, timeout: float) -> RawArticle:
    """The one entry point for reading a URL as an article: fetched safely, then decoded.

    The fetching rules (schemes, addresses, redirects, one deadline, size cap) are
    :func:`qa.ingestion.fetch.fetch`'s; the bytes are decoded here as a file's are,
    with the charset the response declares taking precedence over a ``<meta>`` one.
    """
    # Imported here: httpx costs ~0.1 s of start-up that only URL ingest needs.
    from qa.ingestion.fetch import fetch, shown_url

    page = fetch(url, max_bytes=max_bytes, timeout=timeout)
    text = decode_bytes(page.body, shown_url(url), declared=page.charset)
    article_format = "html" if "html" in page.content_type else sniff_format(text)
    return RawArticle(url, article_format, text)


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
    """Text from bytes by evidence; refuse binaries and undecidable encodings."""
    if not data.strip():
        raise InputError(f"{source} is empty", fix="give a file with the article's text")
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return _strict(data[len(bom) :], encoding, source)
    for magic, kind in MAGIC:
        if data.startswith(magic):
            raise InputError(f"{source} is {kind}, not text", fix="save the article as .txt")
    utf16 = _bomless_utf16(data)
    if utf16:
        return _strict(data, utf16, source)
    if b"\x00" in data:
        raise InputError(f"{source} is a binary file", fix="give a .txt, .md or .html article")
    declared = declared or _meta_charset(data)
    candidates = [declared] if declared else []
    for encoding in [*candidates, "utf-8"]:
        try:
            return _text_or_refuse(data.decode(_codec(encoding)), source)
        except (UnicodeDecodeError, LookupError):
            continue
    return _text_or_refuse(_single_byte(data, source), source)


def _strict(data: bytes, encoding: str, source: str) -> str:
    try:
        return _text_or_refuse(data.decode(encoding), source)
    except UnicodeDecodeError:
        raise InputError(
            f"{source} claims to be {encoding.upper()} but is not valid {encoding.upper()}",
            fix="save it as UTF-8 and ingest it again",
        ) from None


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
