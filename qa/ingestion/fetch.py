"""Fetching a web page safely: where a request may go, for how long, and how much it may read.

Built on httpx (URLs, headers, redirects' ``Location``, gzip/deflate) over
httpcore, whose network backend is the hook: every TCP connection qa opens
goes through :class:`_Guard`, which resolves the host, checks every address
it resolves to, and connects to one of those very addresses (so a name cannot
resolve to one address for the check and another for the connection).

The rules, for every hop of a request (the URL typed and each redirect):

- Only ``http`` and ``https``; a redirect to ``ftp://``, ``file://`` or any
  other scheme is refused before anything is opened.
- Never reached, whoever asks (:func:`reach` says why): link-local addresses
  (169.254.0.0/16, fe80::/10), cloud metadata addresses (:data:`METADATA`),
  multicast, and the unspecified addresses (0.0.0.0/8, ``::``), also when
  written inside an IPv6 address (``::ffff:169.254.169.254``).
- Loopback and private addresses (127/8, 10/8, 172.16/12, 192.168/16, 100.64/10,
  fc00::/7, ``::1`` ...) are reached for the URL the user typed, and for
  redirects among such addresses (a local server is a common use), but never
  once any hop of the request has reached a public address: a public page must
  not steer qa into the user's own network.
- One deadline for the whole request: name resolution, connecting, TLS, the
  response headers, the body and every redirect share ``timeout`` seconds, so
  a server that trickles header or body bytes is cut off on time.
- At most :data:`MAX_REDIRECTS` redirects, :data:`MAX_HEADERS` header lines per
  response and 100 KiB of headers (httpcore's limit); the body is capped at
  ``max_bytes`` (a declared ``Content-Length`` over it is refused unread).
- No proxy from the environment: through a proxy qa could not see where a
  request really goes.

Every failure is one :class:`~qa.errors.InputError` naming the URL (without
its password, control characters escaped) and the reason.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from enum import Enum
from functools import lru_cache
from typing import Any

import httpcore
import httpx

from qa.errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# What a resolver returns for a host and port: its addresses, best first.
Resolver = Callable[[str, int], Sequence[IPAddress]]

MAX_REDIRECTS = 10  # as browsers and urllib: real sites need 2-3 (http -> https -> www)
MAX_HEADERS = 100  # header lines per response: http.client's limit; real pages send 10-40
# Bytes per socket read. Small enough that one gzip block cannot expand past ~16 MB
# (deflate's worst ratio is ~1000:1) before the body cap sees it.
READ_BLOCK = 16 * 1024
SCHEMES = ("http", "https")
REDIRECTS = frozenset({301, 302, 303, 307, 308})  # followed; 300 and 304 are not redirects here
USER_AGENT = "qa/0.1 (+article reader)"
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,text/*;q=0.8,*/*;q=0.1"
PAGE_TYPES = ("text/", "application/xhtml+xml")

# Cloud metadata services: they hand out credentials to whoever can reach them. AWS, GCP,
# Azure, OpenStack and DigitalOcean use 169.254.169.254 (AWS also fd00:ec2::254, ECS
# tasks 169.254.170.2), Alibaba 100.100.100.200, Oracle's legacy endpoint 192.0.0.192.
METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "192.0.0.192",
    )
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "this host"; Linux connects 0.0.0.0 to itself
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.?)+$", re.I)


class Reach(Enum):
    """Where an address lies, for the rules above."""

    REFUSED = "refused"
    PRIVATE = "private"
    PUBLIC = "public"


# Says where an address lies and, unless it is public, what it is ("a loopback address").
Classifier = Callable[[IPAddress], tuple[Reach, str]]


def reach(address: IPAddress) -> tuple[Reach, str]:
    """Where ``address`` lies, and what it is in words (for the refusal)."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        verdict, what = reach(inner)
        return verdict, what and f"{what} inside {address}"
    if address in METADATA:
        return Reach.REFUSED, "a cloud metadata address"
    if address.is_unspecified or address in _THIS_NETWORK:
        return Reach.REFUSED, "an unspecified address"
    if address.is_multicast:
        return Reach.REFUSED, "a multicast address"
    if address.is_link_local:
        return Reach.REFUSED, "a link-local address"
    if address.is_loopback:
        return Reach.PRIVATE, "a loopback address"
    if address.is_global:
        return Reach.PUBLIC, ""
    # RFC 1918, unique-local, shared (100.64/10), reserved and documentation ranges.
    return Reach.PRIVATE, "a private address"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = int(address)
    if address in _NAT64 or (packed >> 32 == 0 and packed > 1):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The host's addresses from the system resolver (getaddrinfo), in its order."""
    addresses: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class Fetched:
    """A page's bytes and what its final response said about them."""

    url: str  # as the user gave it
    final_url: str  # after redirects
    content_type: str  # e.g. "text/html", lower case
    charset: str | None  # the Content-Type header's charset, if any
    body: bytes
    # Whether any hop reached a public address (links found in it may then not lead
    # into loopback or private networks: ``fetch(from_public=True)``).
    public: bool = False


class _Stop(Exception):
    """A rule refused the request; ``reason`` says which, in words."""

    def __init__(self, reason: str, fix: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


@dataclass
class _Guard(httpcore.NetworkBackend):
    """httpcore's network backend with the checks: every connection qa opens passes here."""

    deadline: float
    classify: Classifier
    resolve: Resolver
    # The URL is a link from a public page or feed (see fetch).
    from_public: bool = False
    # Set by the redirect loop before each hop.
    allow_private: bool = True
    # Every address connected to, with where it lies, in order.
    connected: list[tuple[IPAddress, Reach]] = field(default_factory=list)
    _backend: httpcore.SyncBackend = field(default_factory=httpcore.SyncBackend)

    def remaining(self, timeout: float | None = None) -> float:
        """Seconds left for the next wait: at most ``timeout``, never past the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._addresses(host, port)
        verdicts = []
        for address in addresses:
            verdict, what = self.classify(address)
            where = host if host == str(address) else f"{host} ({address})"
            if verdict is Reach.REFUSED:
                raise _Stop(f"{where} is {what}, which qa never connects to")
            if verdict is Reach.PRIVATE and not self.allow_private:
                origin = (
                    "link from a public page or feed"
                    if self.from_public
                    else "redirect from a public page"
                )
                raise _Stop(
                    f"{where} is {what}, and qa follows no {origin} "
                    "into loopback or private networks",
                    fix="ingest that URL directly if you trust it",
                )
            verdicts.append(verdict)
        error: Exception = _Stop(f"{host} has no address")
        for address, verdict in zip(addresses, verdicts, strict=True):
            try:
                stream = self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=self.remaining(timeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as failed:
                error = failed
                continue
            self.connected.append((address, verdict))
            return _DeadlineStream(stream, self)
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise _Stop("qa does not fetch over Unix sockets")

    def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        # getaddrinfo cannot be given a timeout; it runs in a thread the deadline waits for.
        result: list[Sequence[IPAddress]] = []
        failure: list[BaseException] = []

        def work() -> None:
            try:
                result.append(self.resolve(host, port))
            except BaseException as error:  # handed to the caller below
                failure.append(error)

        worker = threading.Thread(target=work, name="qa-resolve", daemon=True)
        worker.start()
        worker.join(self.remaining())
        if failure:
            if isinstance(failure[0], OSError):
                raise _Stop(f"cannot resolve {host}: {_os_reason(failure[0])}")
            raise failure[0]
        if not result:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long")
        return list(result[0])


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends by the request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, guard: _Guard) -> None:
        self._stream = stream
        self._guard = guard

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(min(max_bytes, READ_BLOCK), self._guard.remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._guard.remaining(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wrapped = self._stream.start_tls(
            ssl_context, server_hostname, self._guard.remaining(timeout)
        )
        return _DeadlineStream(wrapped, self._guard)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Body(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        stream = self._response.stream
        assert isinstance(stream, Iterable)
        yield from stream

    def close(self) -> None:
        self._response.close()


class _Transport(httpx.BaseTransport):
    """httpx's transport over an httpcore pool whose connections all go through the guard.

    No connection is kept alive, so each hop opens (and checks) its own.
    """

    def __init__(self, guard: _Guard, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_keepalive_connections=0,
            network_backend=guard,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        response = self._pool.handle_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    accept: Sequence[str] = PAGE_TYPES,
    wanted: str = "a web page or text",
    from_public: bool = False,
    classify: Classifier = reach,
    resolve: Resolver = system_resolver,
) -> Fetched:
    """GET ``url`` under the rules in this module's docstring; its body and content type.

    ``accept`` lists the content types read (an entry ending in "/" is a prefix);
    any other type is refused before the body is read, saying it is not ``wanted``.
    ``from_public``: ``url`` is a link found in a page or feed that came from a public
    address, so, like a redirect from one, it may not lead into loopback or private
    networks. ``classify`` and
    ``resolve`` are the address rules and the resolver (tests give their own).
    """
    shown = shown_url(url)
    current = _parse(url, shown)
    guard = _Guard(time.monotonic() + timeout, classify, resolve, from_public=from_public)
    seen = {str(current)}
    try:
        with httpx.Client(
            transport=_Transport(guard, _tls_context()),
            follow_redirects=False,
            trust_env=False,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
        ) as client:
            for hop in range(MAX_REDIRECTS + 1):
                # Once any hop reached a public address, no later hop may go private.
                guard.allow_private = not from_public and all(
                    verdict != Reach.PUBLIC for _, verdict in guard.connected
                )
                with _hop(current, hop), client.stream("GET", current) as response:
                    if len(response.headers.raw) > MAX_HEADERS:
                        raise _Stop(f"the response has more than {MAX_HEADERS} header lines")
                    if response.status_code in REDIRECTS:
                        current = _redirect(current, response.headers.get("Location"))
                        if str(current) in seen:
                            raise _Stop(
                                f"redirect loop (back to {shown_url(str(current))})",
                                fix="open the address in a browser and ingest the final page's URL",
                            )
                        seen.add(str(current))
                        continue
                    public = from_public or any(
                        verdict == Reach.PUBLIC for _, verdict in guard.connected
                    )
                    return _read(url, shown, current, response, max_bytes, accept, wanted, public)
            raise _Stop(
                f"more than {MAX_REDIRECTS} redirects",
                fix="open the address in a browser and ingest the final page's URL",
            )
    except _Stop as stop:
        raise InputError(
            f"cannot fetch {shown}: {stop.reason}",
            fix=stop.fix or "check the address, or save the page and ingest the file",
        ) from None
    except (httpcore.TimeoutException, httpx.TimeoutException):
        raise InputError(
            f"cannot fetch {shown}: timed out after {timeout:g} s (QA_URL_TIMEOUT bounds the "
            "whole request: connecting, headers, body and redirects)",
            fix="try again later, raise QA_URL_TIMEOUT, or save the page and ingest the file",
        ) from None
    except (httpcore.ProtocolError, httpx.RemoteProtocolError, httpx.DecodingError) as error:
        raise InputError(
            f"cannot fetch {shown}: the server sent a broken response ({_protocol_reason(error)})",
            fix="check the address, or save the page and ingest the file",
        ) from None
    except (httpcore.NetworkError, httpx.TransportError, OSError) as error:
        raise InputError(
            f"cannot fetch {shown}: {_network_reason(error)}",
            fix="check the address and the network, or save the page and ingest the file",
        ) from None


@contextmanager
def _hop(url: httpx.URL, hop: int) -> Iterator[None]:
    """A refusal on a redirect's hop names where the redirect went."""
    try:
        yield
    except _Stop as stop:
        if hop == 0 or stop.reason.startswith("redirected to "):
            raise
        raise _Stop(f"redirected to {shown_url(str(url))}: {stop.reason}", stop.fix) from None


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """The system's trusted certificates, as urllib used; loading them takes ~25 ms, once."""
    return ssl.create_default_context()


def _read(
    url: str,
    shown: str,
    final: httpx.URL,
    response: httpx.Response,
    max_bytes: int,
    accept: Sequence[str],
    wanted: str,
    public: bool,
) -> Fetched:
    if response.status_code >= 300:
        raise _Stop(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
    content_type, charset = _content_type(response.headers.get("Content-Type"))
    if not any(
        content_type.startswith(kind) if kind.endswith("/") else content_type == kind
        for kind in accept
    ):
        raise InputError(f"{shown} is {content_type}, not {wanted}", fix="ingest an article page")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(shown, max_bytes)
    parts: list[bytes] = []
    size = 0
    for block in response.iter_bytes():
        size += len(block)
        if size > max_bytes:
            raise _too_large(shown, max_bytes)
        parts.append(block)
    return Fetched(url, str(final), content_type, charset, b"".join(parts), public)


def _too_large(shown: str, max_bytes: int) -> InputError:
    return InputError(
        f"{shown} is larger than the {max_bytes / (1024 * 1024):.3g} MB input limit",
        fix="split it into articles, or raise the limit with --max-mb or QA_MAX_INPUT_MB",
    )


def _content_type(header: str | None) -> tuple[str, str | None]:
    """The media type and charset of a Content-Type header, parsed as email headers are."""
    message = Message()
    if header:
        message["Content-Type"] = header
    charset = message.get_content_charset()
    return message.get_content_type(), charset


def _parse(url: str, shown: str) -> httpx.URL:
    """``url`` as an absolute http(s) URL with a valid host, or a refusal naming the fault."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        reason = _ascii(str(error)).rstrip(".")
        authority = url.partition("://")[2].split("/")[0]
        if "[" in authority and "]" not in authority:
            reason = "the IPv6 address has no closing ']'"
        raise InputError(
            f"cannot fetch {shown}: not a valid URL ({reason})",
            fix="check the address (quote it in the shell)",
        ) from None
    try:
        _check_target(parsed)
    except _Stop as stop:
        raise InputError(f"cannot fetch {shown}: {stop.reason}", fix=stop.fix) from None
    return parsed


def _check_target(url: httpx.URL) -> None:
    if url.scheme not in SCHEMES:
        raise _Stop(
            f"only http and https URLs are fetched, not {url.scheme or 'this'}://",
            fix="give an http or https address",
        )
    host = url.raw_host.decode("ascii", "replace")
    if not host:
        raise _Stop("the URL has no host name", fix="check the address")
    if not _is_ip(host) and not _HOSTNAME.match(host):
        raise _Stop(f"{_ascii(url.host)!r} is not a valid host name", fix="check the address")
    if url.port is not None and not 0 < url.port < 65536:
        raise _Stop(f"port {url.port} is out of range", fix="check the address")


def _redirect(current: httpx.URL, location: str | None) -> httpx.URL:
    if not location:
        raise _Stop("a redirect without a Location")
    try:
        target = current.join(location)
    except (httpx.InvalidURL, ValueError) as error:
        raise _Stop(
            f"redirected to an invalid URL {shown_url(location)} ({_ascii(str(error))})"
        ) from None
    try:
        _check_target(target)
    except _Stop as stop:
        raise _Stop(f"redirected to {shown_url(location)}: {stop.reason}") from None
    return target


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def shown_url(url: str) -> str:
    """``url`` fit for a message: no password, control and non-ASCII characters escaped."""
    shown = re.sub(r"^([a-zA-Z][\w+.-]*://[^/@?#]*?):[^/@?#]*@", r"\1:***@", url)
    if len(shown) > 300:
        shown = shown[:300] + "..."
    return _ascii(shown)


def _ascii(text: str) -> str:
    """Printable ASCII as is; anything else (ESC, bidi controls, ...) as a visible escape."""
    return "".join(
        char if " " <= char <= "~" or (char.isalnum() and char.isprintable()) else _escape(char)
        for char in text
    )


def _escape(char: str) -> str:
    # ascii() writes "\x1b", "\u202e"; strip its quotes.
    return ascii(char)[1:-1]


def _os_reason(error: BaseException) -> str:
    """ "connection refused" from "[Errno 111] Connection refused"."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:].rstrip(".")
    return _ascii(str(error)) or type(error).__name__


def _network_reason(error: BaseException) -> str:
    cause = error.__context__ or error.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"the TLS certificate is not valid ({cause.verify_message})"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed ({cause.reason or cause})"
    if isinstance(cause, OSError) and cause.strerror:
        return _os_reason(cause)
    return _ascii(str(error)) or type(error).__name__


def _protocol_reason(error: BaseException) -> str:
    text = str(error)
    if "too long" in text.lower():
        return "its headers are over 100 KiB"
    return _ascii(text) or type(error).__name__
