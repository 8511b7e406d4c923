"""The Chroma adapter: the only module that talks to chromadb.

It opens the embedded ``PersistentClient`` under ``QA_HOME/chroma`` or, with
``QA_CHROMA_URL``, an ``HttpClient`` that sends the credentials of
``QA_CHROMA_TOKEN`` on every request, with a time limit per request.  Every
failure becomes one :class:`~qa.errors.StoreError` that says what failed and the
fix, and never suggests deleting anything:

* a transient fault (disk full, no permission, a lock, a file-size limit) says what
  to free or change, and that nothing was lost;
* a damaged folder says ``qa repair`` (which moves it aside and rebuilds it);
* a server that cannot be reached, or refuses the credentials, says so.

The token never appears in a message or a log record: it is masked in both
(:func:`mask`), and the displayed URL never carries user info or a query.
"""

from __future__ import annotations

import errno
import logging
import re
import ssl
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from qa.config import Settings
from qa.errors import QAError, StoreError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

log = logging.getLogger("qa")

# Chroma caps one add() call at a little over 5,000 records.
BATCH = 5000
# A piece of a secret this long, found anywhere, is masked too (a server may echo it cut).
SECRET_PIECE = 8
# Loggers that could see a request: the client, its HTTP stack, and qa's own.
GUARDED_LOGGERS = ("chromadb", "httpx", "httpcore", "urllib3", "qa")


def display_url(url: str) -> str:
    """The server as shown in messages: scheme, host and port only (no user info, path
    parameters, query or fragment)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, "", "", "")) or "the Chroma URL"


def mask(text: str, secret: str) -> str:
    """``text`` with ``secret``, and any piece of it ``SECRET_PIECE`` characters long, masked."""
    if not secret:
        return text
    text = text.replace(secret, "***")
    if len(secret) < SECRET_PIECE:
        return text
    pieces = {secret[i : i + SECRET_PIECE] for i in range(len(secret) - SECRET_PIECE + 1)}
    for piece in pieces:
        text = text.replace(piece, "***")
    return text


class _Masking(logging.Filter):
    """Masks the Chroma token in every record of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = message
            for secret in self.secrets:
                clean = mask(clean, secret)
            if clean != message:
                record.msg, record.args = clean, None
        return True


_MASKING = _Masking()


def _guard_logs(secret: str) -> None:
    """Attach the masking filter to every existing logger of the guarded packages (a filter
    on a logger sees only that logger's records, so each one is guarded)."""
    if not secret:
        return
    _MASKING.secrets.add(secret)
    names = [*GUARDED_LOGGERS, *logging.root.manager.loggerDict]
    for name in names:
        if name.split(".")[0] in GUARDED_LOGGERS:
            logger = logging.getLogger(name)
            if _MASKING not in logger.filters:
                logger.addFilter(_MASKING)


def auth_headers(settings: Settings) -> dict[str, str]:
    """The headers that carry ``QA_CHROMA_TOKEN``: ``Authorization: Bearer TOKEN`` (Chroma's
    default, and what most reverse proxies check) or ``X-Chroma-Token: TOKEN``."""
    if not settings.chroma_token:
        return {}
    if settings.chroma_auth_header.lower() == "x-chroma-token":
        return {"X-Chroma-Token": settings.chroma_token}
    return {"Authorization": f"Bearer {settings.chroma_token}"}


# What a failed disk operation was, read from the errno or the SQLite message Chroma passes on.
_FAULTS: tuple[tuple[str, tuple[int, ...], re.Pattern[str]], ...] = (
    (
        "full",
        (errno.ENOSPC, errno.EDQUOT),
        re.compile(r"no space left|disk is full|disk full|quota|\(code: 13\)", re.I),
    ),
    (
        "size",
        (errno.EFBIG,),
        re.compile(r"file too large|file size limit", re.I),
    ),
    (
        "permission",
        (errno.EACCES, errno.EPERM, errno.EROFS),
        # SQLite cannot open a file it may not create or write (its journal, its WAL).
        re.compile(
            r"permission denied|read-?only|operation not permitted|unable to open"
            r"|\(code: (8|14|23)\)",
            re.I,
        ),
    ),
    (
        "locked",
        (),
        re.compile(r"database is locked|database table is locked|\(code: [56]\)", re.I),
    ),
    (
        "io",
        (errno.EIO,),
        re.compile(r"disk i/o error|\(code: 10\)|input/output error", re.I),
    ),
)


def fault_kind(error: BaseException) -> str:
    """``full``, ``size``, ``permission``, ``locked``, ``io`` (transient: nothing is wrong
    with the data), or ``damaged``."""
    number = getattr(error, "errno", None)
    text = f"{type(error).__name__}: {error}"
    for kind, numbers, pattern in _FAULTS:
        if number in numbers or pattern.search(text):
            # SQLite reports a write past the file-size limit as a bare I/O error.
            return "size" if kind == "io" and _file_size_limit() else kind
    return "damaged"


def _file_size_limit() -> int | None:
    """This process's file-size limit (``ulimit -f``) in bytes, or None when there is none."""
    try:
        import resource
    except ImportError:  # Not on POSIX.
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


class StoreFault(StoreError):
    """A StoreError that knows its kind (see :func:`fault_kind`): ``qa repair`` moves a
    folder aside only for ``damaged``, never for a full disk."""

    def __init__(self, what: str, *, fix: str, kind: str) -> None:
        super().__init__(what, fix=fix)
        self.kind = kind


def transient_fix(kind: str, where: Path) -> str:
    """The fix for a transient fault: what to free or change; nothing was lost."""
    fixes = {
        "full": f"free space on the disk that holds {where} and run the command again",
        "size": f"a file-size limit (ulimit -f: {_file_size_limit() or 0:,} bytes) stopped "
        "the write; raise it and run the command again",
        "permission": f"give this user write access to {where} (or set QA_HOME to a "
        "folder it can write) and run the command again",
        "locked": f"another program holds {where}; let it finish and run the command again",
        "io": f"the disk that holds {where} reported an I/O error (full, a file-size "
        "limit, or failing); fix that and run the command again",
    }
    return fixes[kind] + "; nothing was lost"


class ChromaIndex:
    """One qa process's connection to Chroma (embedded folder or server)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.home / "chroma"
        self._client: ClientAPI | None = None
        _guard_logs(settings.chroma_token)

    @property
    def server(self) -> bool:
        return bool(self.settings.chroma_url)

    @property
    def where(self) -> str:
        """The server or folder, as messages show it."""
        if self.server:
            return display_url(self.settings.chroma_url)
        return str(self.folder)

    def exists(self) -> bool:
        """Whether an embedded Chroma database is on disk (always true for a server)."""
        return self.server or (self.folder / "chroma.sqlite3").is_file()

    # -- the client -----------------------------------------------------------

    def client(self) -> ClientAPI:
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            if self.server:
                url = urlsplit(self.settings.chroma_url)
                if url.scheme == "http":
                    # No TLS on plain http: loading the system's CA bundle for a context
                    # never used costs ~150 ms per client, twice per command.
                    chroma_settings = ChromaSettings(
                        anonymized_telemetry=False, chroma_server_ssl_verify=False
                    )
                elif self.settings.chroma_ca:
                    chroma_settings = ChromaSettings(
                        anonymized_telemetry=False,
                        chroma_server_ssl_verify=str(Path(self.settings.chroma_ca).expanduser()),
                    )
                with self.errors("connect"), warnings.catch_warnings():
                    # chromadb hands QA_CHROMA_CA to httpx as a path, which httpx deprecates.
                    warnings.filterwarnings(
                        "ignore",
                        message="`verify=<str>` is deprecated",
                        category=DeprecationWarning,
                    )
                    client = chromadb.HttpClient(
                        host=url.hostname or "127.0.0.1",
                        port=url.port or (443 if url.scheme == "https" else 8000),
                        ssl=url.scheme == "https",
                        headers=auth_headers(self.settings) or None,
                        settings=chroma_settings,
                    )
                _set_timeout(client, self.settings.chroma_timeout)
                self._client = client
            else:
                with self.errors("open"):
                    self._client = chromadb.PersistentClient(
                        path=str(self.folder), settings=chroma_settings
                    )
        return self._client

    def close(self, *, release: bool = False) -> None:
        """Let go of the client.  A server client is always released (each has its own HTTP
        session).  An embedded one is shared by every client of the folder in this process,
        so it is released only when asked (``release``: before the folder is moved aside,
        so that a later client opens the new folder, not the moved files)."""
        client, self._client = self._client, None
        if client is not None and (self.server or release):
            _release(client)
        elif release and not self.server:
            _release_folder(self.folder)

    def collection(
        self, name: str, *, create: bool, metadata: dict[str, Any] | None = None
    ) -> Collection | None:
        """The collection ``name``; None when it does not exist and ``create`` is false."""
        client = self.client()
        if create:
            with self.errors("open collection"):
                return client.get_or_create_collection(
                    name, metadata=metadata, embedding_function=None
                )
        try:
            return client.get_collection(name, embedding_function=None)
        except Exception as error:  # Chroma raises several types for "missing" and "down".
            if _missing(error):
                return None
            raise self.error("open collection", error) from None

    def delete_collection(self, name: str) -> bool:
        """Delete ``name``; False when there was none."""
        try:
            self.client().delete_collection(name)
        except QAError:
            raise
        except Exception as error:  # Chroma raises different types when it is missing.
            if _missing(error):
                return False
            raise self.error("delete collection", error) from None
        return True

    # -- errors ---------------------------------------------------------------

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """A failing Chroma operation becomes one StoreError naming the server or folder."""
        try:
            yield
        except QAError:
            raise
        except Exception as error:  # Chroma and httpx raise many types for "down" and "broken".
            raise self.error(action, error) from None

    def error(self, action: str, error: BaseException) -> StoreError:
        detail = mask(_first_line(error), self.settings.chroma_token)
        if self.server:
            return self._server_error(action, detail, _causes(error))
        kind = fault_kind(error)
        if kind != "damaged":
            return StoreFault(
                f"Chroma could not {action} in {self.folder}: {detail}",
                fix=transient_fix(kind, self.folder),
                kind=kind,
            )
        return StoreFault(
            f"the vector index in {self.folder} cannot be read ({action}: {detail})",
            fix="run qa repair: it moves the folder aside (deleting nothing) and rebuilds "
            "the vectors from the documents in qa.sqlite3; no document is lost",
            kind=kind,
        )

    def _server_error(self, action: str, detail: str, causes: str) -> StoreError:
        where = self.where
        status = self._probe()
        if status in (401, 403):
            if not self.settings.chroma_token:
                return StoreError(
                    f"Chroma at {where} asks for credentials (HTTP {status})",
                    fix="set QA_CHROMA_TOKEN to the token your team's server expects",
                )
            return StoreError(
                f"Chroma at {where} refused the token in QA_CHROMA_TOKEN (HTTP {status})",
                fix="check QA_CHROMA_TOKEN, and QA_CHROMA_AUTH_HEADER if the server expects "
                "X-Chroma-Token rather than Authorization: Bearer",
            )
        if status is None and re.search(r"CERTIFICATE_VERIFY_FAILED|certificate verify", causes):
            return StoreError(
                f"cannot verify the TLS certificate of Chroma at {where} ({action})",
                fix="set QA_CHROMA_CA to the PEM file of the CA that signed it (for a private "
                "CA or a self-signed proxy)",
            )
        if status is None:
            return StoreError(
                f"cannot reach Chroma at {where} ({action}: {detail})",
                fix="start it (chroma run --path DIR --host 127.0.0.1 --port PORT) or fix "
                "QA_CHROMA_URL / --chroma-url; nothing was lost",
            )
        return StoreError(
            f"Chroma at {where} failed ({action}: {detail})",
            fix="see the server's log; run the command again when it is healthy",
        )

    def _probe(self) -> int | None:
        """The HTTP status of the server's identity endpoint with our credentials, or None when
        it cannot be reached.  Chroma's client reports a proxy's 401 as a bare exception
        carrying the body, so the status is asked for again here."""
        base = self.settings.chroma_url.rstrip("/")
        request = urllib.request.Request(
            f"{base}/api/v2/auth/identity", headers=auth_headers(self.settings)
        )
        # No proxies from the environment: they are not what qa's client used.
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if self.settings.chroma_ca:
            context = ssl.create_default_context(
                cafile=str(Path(self.settings.chroma_ca).expanduser())
            )
            handlers.append(urllib.request.HTTPSHandler(context=context))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=min(5.0, self.settings.chroma_timeout)) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (OSError, ValueError):
            return None


def _missing(error: Exception) -> bool:
    text = str(error).lower()
    return "does not exist" in text or type(error).__name__ == "NotFoundError"


def _causes(error: BaseException) -> str:
    """The first lines of an error and of the errors it was raised from (Chroma's client
    wraps a TLS failure in "Could not connect to a Chroma server")."""
    lines = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines.append(_first_line(current))
        current = current.__cause__ or current.__context__
    return " | ".join(lines)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _set_timeout(client: ClientAPI, seconds: float) -> None:
    """A time limit on every request: Chroma's HTTP client waits forever by default, so a
    server that hangs would hang qa.  (Its session is not public API; without it qa keeps
    working, only without the limit.)"""
    session = getattr(getattr(client, "_server", None), "_session", None)
    if session is None:
        log.debug("cannot set a time limit on Chroma's HTTP client")
        return
    import httpx

    session.timeout = httpx.Timeout(seconds)


def _release(client: ClientAPI) -> None:
    _release_identifier(getattr(client, "_identifier", None))


def _release_folder(folder: Path) -> None:
    _release_identifier(str(folder))


def _release_identifier(identifier: str | None) -> None:
    """Stop a shared chromadb system and forget it, so its files are closed (chromadb keeps
    one system per folder, and one per HTTP client, for the whole process otherwise)."""
    if identifier is None:
        return
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        system = SharedSystemClient._identifier_to_system.pop(identifier, None)
        SharedSystemClient._identifier_to_refcount.pop(identifier, None)
        if system is not None:
            system.stop()
    except Exception as error:  # Best effort: a failure here only keeps files open longer.
        log.debug("could not release the Chroma client: %s", _first_line(error))
