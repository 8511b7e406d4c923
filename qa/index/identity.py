"""Document identity: which source a document comes from, and which text version it holds.

* A document's **id** is stable for its source: the first time a path or URL is
  ingested the id is derived from the source, normalised (:func:`source_key`),
  and the id stays with that source when its text changes.  Text from standard
  input has no source to follow, so its id is the text's hash.
* A document's **version** is the hash of its normalised title and text
  (:func:`content_hash`).  Identical text from two sources is one document that
  lists both sources; chunk ids are ``VERSION:N``, so a new version never reuses
  the ids or vectors of the old one.

Stores written before schema 4 used the text hash as the id; they keep their ids.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

STDIN_SOURCE = "stdin"
ID_LENGTH = 16
DEFAULT_PORTS = {"http": 80, "https": 443}
URL = re.compile(r"^https?://", re.IGNORECASE)


def content_hash(title: str, text: str) -> str:
    """The version of a document's text: case and whitespace do not make a new version."""
    normalised = " ".join(f"{title}\n{text}".casefold().split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:ID_LENGTH]


def source_key(source: str) -> str | None:
    """The normalised form a source is known by, or None for standard input.

    Files are already absolute, resolved paths (``qa.ingestion.sources.read_file``).
    URLs lose what does not change the page: the case of the scheme and host, a
    default port, an empty path (``/``) and the fragment; the query is kept."""
    if source == STDIN_SOURCE:
        return None
    if not URL.match(source):
        return source
    try:
        parts = urlsplit(source)
        port = parts.port
    except ValueError:
        return source
    host = (parts.hostname or "").lower()
    if ":" in host:  # An IPv6 literal keeps its brackets.
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def id_for_source(key: str, salt: str = "") -> str:
    """The id a new document gets from its source key (``salt`` when that id is taken)."""
    data = f"source\0{key}\0{salt}" if salt else f"source\0{key}"
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:ID_LENGTH]
