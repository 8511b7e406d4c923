"""Keeping secrets out of what qa writes: text redaction, endpoint display and a log filter.

:func:`redact` masks a secret (an API key, a token) in any text: the secret whole, any
8-character piece of it (a server may echo it cut or without its prefix) and, unless told
otherwise, anything that looks like an OpenAI key ("sk-...", also half-masked
"sk-abc***xyz"). :func:`display_url` is an endpoint as messages may show it, without
user:password, query or fragment. :func:`guard_logs` attaches a filter that applies
:func:`redact` to every record of the openai, httpx, httpcore and qa loggers (httpcore logs
response headers at DEBUG, so a server that echoes the key in a header would put it in a
log line).

Standard library only, so any part of qa may use it for its own secrets. Not handled:
deciding what is secret (callers pass their secrets in), secrets shorter than 8 characters
in pieces (only whole ones are masked), and log handlers' own output outside the records
(a formatter that adds the environment, say).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

# OpenAI-style keys, also the half-masked ones servers echo ("sk-abc***xyz").
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9*_\-]{6,}")
# A run of key characters; one sharing 8 or more in a row with the key is a piece of it.
_KEY_TOKEN = re.compile(r"[A-Za-z0-9_\-]{8,}")
_PIECE = 8
# The loggers of the openai client and its HTTP stack (and of qa) that guard_logs filters.
_LOGGED_PACKAGES = ("openai", "httpx", "httpcore", "qa")


def redact(text: str, secrets: Iterable[str], *, key_like: bool = True) -> str:
    """``text`` with each secret, any 8-character piece of one, and key-like strings masked.

    A server may echo the key whole, cut ("...qaLEAKCHECK-7f3a9c1e"), without its
    prefix, or half-masked ("sk-abc***xyz"); all of those become ``***``. With
    ``key_like`` False, other "sk-..." strings are left alone (model replies).
    """
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "***")
        if len(secret) >= _PIECE:

            def mask(match: re.Match[str], secret: str = secret) -> str:
                token = match.group()
                pieces = (token[i : i + _PIECE] for i in range(len(token) - _PIECE + 1))
                return "***" if any(piece in secret for piece in pieces) else token

            text = _KEY_TOKEN.sub(mask, text)
    return _KEY_LIKE.sub("***", text) if key_like else text


def display_url(url: str) -> str:
    """The endpoint as shown in messages: no user:password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", "")) or url


class _Redactor(logging.Filter):
    """Masks the secrets in use in every record of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = redact(message, self.secrets)
            if clean != message:
                record.msg, record.args = clean, None
        return True


_REDACTOR = _Redactor()


def guard_logs(secret: str) -> None:
    """Mask ``secret`` in the records of every logger of those packages that exists now.

    A filter on a logger only sees that logger's own records, so each is
    guarded; call again before every request, for loggers created lazily.
    """
    if not secret:
        return
    _REDACTOR.secrets.add(secret)
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0].rstrip("0123456789") in _LOGGED_PACKAGES:
            logger = logging.getLogger(name)
            if _REDACTOR not in logger.filters:
                logger.addFilter(_REDACTOR)
