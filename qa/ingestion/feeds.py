"""RSS and Atom feeds: each entry's article, fetched politely.

A feed (RSS 0.9x/1.0/2.0 or Atom, parsed by feedparser) becomes one input per
entry: the entry's link, fetched through :func:`qa.ingestion.sources.read_source`
like any URL (same size and time limits), or, for an entry without a link, the
content the feed carries.  The entry's date, author and the feed's title and
language fill the document's metadata where the page itself says nothing.

Fetching is bounded: at most ``Settings.fetch_concurrency`` requests at once,
and requests to one host start at least ``Settings.host_delay`` seconds apart
(:class:`HostGate`).  feedparser is given bytes, never a URL, so it fetches
nothing itself; it is imported only when a feed is read.
"""

from __future__ import annotations

import calendar
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlparse

from qa.errors import InputError
from qa.types import DocumentMeta

# A feed's root element, after any XML declaration, comments and processing instructions.
FEED_ROOT = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*|<\?[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*)*"
    rb"<(?:rss\b|feed\b|(?:\w+:)?RDF\b)",
    re.DOTALL | re.IGNORECASE,
)
FEED_SNIFF_BYTES = 4096


def is_feed(data: bytes) -> bool:
    """Whether ``data`` starts like an RSS or Atom document."""
    return bool(FEED_ROOT.match(data[:FEED_SNIFF_BYTES]))


@dataclass(frozen=True)
class FeedEntry:
    """One entry: where its article is, what the feed says about it, and its own content."""

    link: str | None
    title: str
    meta: DocumentMeta
    content: str
    updated: float | None
    # The entry's own id (RSS guid, Atom id), if the feed gives one.
    guid: str | None = None


def parse_feed(data: bytes, source: str) -> list[FeedEntry]:
    """The entries of a feed, in the feed's order; refuses what is not a readable feed."""
    import feedparser

    parsed: Any = feedparser.parse(data)
    entries = list(parsed.get("entries") or [])
    if not entries:
        if parsed.get("bozo") and not parsed.get("feed"):
            reason = str(parsed.get("bozo_exception") or "not well-formed").splitlines()[0]
            raise InputError(
                f"{source} is not a readable RSS or Atom feed ({reason})",
                fix="check the feed's address, or save its articles and ingest them",
            )
        raise InputError(f"{source} is a feed with no entries", fix="try again when it has some")
    feed = parsed.get("feed") or {}
    base = source if source.startswith(("http://", "https://")) else None
    site = _text(feed.get("title"))
    language = _text(feed.get("language"))
    feed_author = _text(feed.get("author"))
    return [_entry(entry, base, site, language, feed_author) for entry in entries]


def _entry(
    entry: Any, base: str | None, site: str | None, language: str | None, feed_author: str | None
) -> FeedEntry:
    link = _text(entry.get("link"))
    if link and base:
        link = urljoin(base, link)
    if link and urlparse(link).scheme not in ("http", "https"):
        link = None
    author = _author(entry)
    # dict.get: feedparser's own get() maps a missing "updated" to "published" and warns.
    published = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    updated = dict.get(entry, "updated_parsed") or published
    contents = [part.get("value", "") for part in entry.get("content") or []]
    content = max(contents, key=len) if contents else (entry.get("summary") or "")
    return FeedEntry(
        link=link,
        title=_text(entry.get("title")) or "",
        meta=DocumentMeta(
            site=site,
            author=author or feed_author,
            published=time.strftime("%Y-%m-%d", published) if published else None,
            url=link,
            language=language,
        ),
        content=content,
        updated=float(calendar.timegm(updated)) if updated else None,
        guid=_text(entry.get("id")),
    )


# RSS writes an author as an address: "desk@example.com (Sam Reporter)" or
# "Sam Reporter <desk@example.com>"; the name is what a citation shows.
ADDRESS_THEN_NAME = re.compile(r"^\S+@\S+\s*\((?P<name>[^)]+)\)$")
NAME_THEN_ADDRESS = re.compile(r"^(?P<name>[^<]+?)\s*<\S+@\S+>$")


def _author(entry: Any) -> str | None:
    raw = _text(dict.get(entry, "author"))
    if raw and "@" in raw:
        match = ADDRESS_THEN_NAME.match(raw) or NAME_THEN_ADDRESS.match(raw)
        return _text(match.group("name")) if match else None
    names = [_text(author.get("name")) for author in dict.get(entry, "authors") or []]
    return "; ".join(name for name in names if name) or raw


def _text(value: Any) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text or None


class HostGate:
    """Spaces the requests to each host: each starts at least ``delay`` seconds after the
    previous one to the same host began.  Safe to share between threads."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait(self, url: str) -> None:
        try:
            host = (urlparse(url).hostname or "").lower()
        except ValueError:
            # A malformed URL: the fetcher refuses it, in words, without a request.
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + self.delay
        if start > now:
            time.sleep(start - now)
