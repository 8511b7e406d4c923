"""Safe URL fetching (qa/ingestion/fetch.py) against real HTTP servers on loopback.

Each server records every connection it accepts, and a hook on ``socket.connect``
(on top of conftest's guard, which fails any connection beyond loopback)
records every address qa tries, so "refused before any connect" is asserted on
what really happened on the wire. Through the real CLI where the CLI can show
it; the rule "no private address after a public one" needs a public address,
which a test on loopback has not, so those tests call :func:`fetch` with a
classifier that counts 127.0.0.2 as public (and, for host names, a resolver
that reads a hosts-style table).
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from qa.errors import InputError
from qa.ingestion.fetch import (
    MAX_REDIRECTS,
    Fetched,
    IPAddress,
    Reach,
    fetch,
    reach,
    shown_url,
)
from tests.helpers import assert_one_line_error, run

PAGE = (
    b"<html><head><title>Dam opens</title></head><body><article>"
    b"<p>The new dam opened on Tuesday after six years of building, officials said.</p>"
    b"<p>Engineers said it will supply power to 200,000 homes in the valley.</p>"
    b"</article></body></html>"
)
CERTIFICATE = Path(__file__).parent / "data" / "self-signed-127.0.0.1.pem"
# One route: (status, headers, body), or a callable writing its own response.
Route = tuple[int, dict[str, str], bytes] | Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Server:
    """A real HTTP server on a loopback address that records what reached it."""

    host: str = "127.0.0.1"
    routes: dict[str, Route] = field(default_factory=dict)
    connections: list[tuple[str, int]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                route = server.routes.get(self.path, (404, {}, b"not here"))
                if callable(route):
                    route(self)
                    return
                status, headers, body = route
                self.send_response(status)
                headers = {"Content-Type": "text/html; charset=utf-8", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Recording(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                server.connections.append(client_address)
                return True

        self.httpd = Recording((self.host, 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.routes[path] = (status, {"Location": location}, b"")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Listener:
    """A bare TCP listener that only counts the connections it accepts (ftp://, raw tricks)."""

    respond: Callable[[socket.socket], None] | None = None
    accepted: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, address = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(address)
            if self.respond:
                threading.Thread(target=self._answer, args=(connection,), daemon=True).start()
            else:
                connection.close()

    def _answer(self, connection: socket.socket) -> None:
        assert self.respond is not None
        try:
            connection.recv(65536)
            self.respond(connection)
        except OSError:
            pass
        finally:
            connection.close()

    def stopped(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def make_server() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(host: str = "127.0.0.1") -> Server:
        servers.append(Server(host))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


@pytest.fixture
def make_listener() -> Iterator[Callable[..., Listener]]:
    listeners: list[Listener] = []

    def make(respond: Callable[[socket.socket], None] | None = None) -> Listener:
        listeners.append(Listener(respond))
        return listeners[-1]

    yield make
    for listener in listeners:
        listener.close()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address any socket in this process tries to connect to, in order."""
    attempts: list[Any] = []
    guarded = socket.socket.connect

    def recording(self: socket.socket, address: Any) -> Any:
        attempts.append(address)
        return guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording)
    return attempts


def stored_count() -> int:
    code, out, _ = run("list", "--json")
    assert code == 0
    return len(json.loads(out)["documents"])


def refused(url: str, *needles: str) -> str:
    code, out, err = run("ingest", url)
    assert code == 2, err
    assert out == ""
    assert_one_line_error(err, *needles)
    assert stored_count() == 0
    return err


# ---- schemes and addresses, on every hop --------------------------------------------


def test_a_local_page_the_user_gives_is_fetched(server: Server) -> None:
    server.routes["/dam"] = (200, {}, PAGE)
    server.redirect("/old", "/dam", 301)
    code, _, err = run("ingest", f"{server.url}/old")
    assert code == 0, err
    assert stored_count() == 1
    assert server.paths == ["/old", "/dam"]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "a cloud metadata address"),
        ("http://169.254.10.20/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://[::ffff:169.254.169.254]/latest/", "a cloud metadata address inside"),
        ("http://100.100.100.200/latest/meta-data/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/latest/", "a cloud metadata address"),
        ("http://224.0.0.1/", "a multicast address"),
    ],
)
def test_a_redirect_to_a_forbidden_address_is_refused_before_any_connect(
    server: Server, connects: list[Any], target: str, reason: str
) -> None:
    server.redirect("/go", target)
    refused(f"{server.url}/go", "/go", reason, "never connects")
    # Only the page that redirected was ever connected to.
    assert [address[:2] for address in connects] == [("127.0.0.1", server.port)]
    assert len(server.connections) == 1


def test_the_unspecified_address_is_refused_even_though_linux_would_connect_it_to_loopback(
    server: Server, connects: list[Any]
) -> None:
    server.routes["/dam"] = (200, {}, PAGE)
    # 0.0.0.0:port reaches a local listener on Linux: the recording server would see it.
    server.redirect("/go", f"http://0.0.0.0:{server.port}/dam")
    refused(f"{server.url}/go", "an unspecified address")
    assert server.paths == ["/go"] and len(server.connections) == 1
    refused(f"http://0.0.0.0:{server.port}/dam", "an unspecified address")
    assert len(server.connections) == 1
    assert all(address[0] != "0.0.0.0" for address in connects)


def test_metadata_addresses_are_refused_when_typed_too(connects: list[Any]) -> None:
    refused("http://169.254.169.254/latest/meta-data/", "a cloud metadata address")
    assert connects == []


def test_a_redirect_to_another_scheme_is_refused_before_anything_is_opened(
    server: Server, make_listener: Callable[..., Listener], tmp_path: Path, connects: list[Any]
) -> None:
    ftp = make_listener()
    secret = tmp_path / "secret.txt"
    secret.write_text("The launch codes are 0000, the minister said.\n")
    server.redirect("/ftp", f"ftp://127.0.0.1:{ftp.port}/pub/article.txt")
    server.redirect("/file", secret.as_uri())
    server.redirect("/gopher", f"gopher://127.0.0.1:{ftp.port}/")
    refused(f"{server.url}/ftp", "/ftp", "redirected to ftp://", "only http and https")
    refused(f"{server.url}/file", "/file", "redirected to file://", "only http and https")
    refused(f"{server.url}/gopher", "redirected to gopher://", "only http and https")
    time.sleep(0.2)
    assert ftp.accepted == []
    assert all(address[:2] == ("127.0.0.1", server.port) for address in connects)
    # Typed, too: one line, not "file not found".
    refused(f"ftp://127.0.0.1:{ftp.port}/article.txt", "only http and https", "not ftp://")
    assert ftp.accepted == []


def test_redirect_loops_and_chains(server: Server) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    refused(f"{server.url}/a", "/a", "redirect loop")
    for hop in range(MAX_REDIRECTS + 1):
        server.redirect(f"/hop/{hop}", f"/hop/{hop + 1}")
    server.routes[f"/hop/{MAX_REDIRECTS + 1}"] = (200, {}, PAGE)
    refused(f"{server.url}/hop/0", f"more than {MAX_REDIRECTS} redirects")
    server.routes["/nowhere"] = (302, {}, b"")
    refused(f"{server.url}/nowhere", "a redirect without a Location")
    # Exactly the limit is followed.
    code, _, err = run("ingest", f"{server.url}/hop/1")
    assert code == 0, err


# ---- public -> private: a classifier that counts 127.0.0.2 as public --------------------

PUBLIC_FOR_TEST = ipaddress.ip_network("127.0.0.2/32")


def classify_for_test(address: IPAddress) -> tuple[Reach, str]:
    """:func:`reach`, except that 127.0.0.2 (and names resolved to it) count as public."""
    if address in PUBLIC_FOR_TEST:
        return Reach.PUBLIC, ""
    return reach(address)


HOSTS = {
    "news.test": ["127.0.0.2"],
    "intranet.test": ["127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "split.test": ["127.0.0.2", "169.254.169.254"],
}


def hosts_resolver(host: str, port: int) -> list[IPAddress]:
    """A hosts file: the test names above, nothing else."""
    if host not in HOSTS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [ipaddress.ip_address(address) for address in HOSTS[host]]


def fetch_for_test(url: str, timeout: float = 5) -> bytes:
    page = fetch(
        url,
        max_bytes=1 << 20,
        timeout=timeout,
        classify=classify_for_test,
        resolve=hosts_resolver,
    )
    return page.body


def test_a_public_page_cannot_redirect_into_the_private_network(
    make_server: Callable[..., Server], connects: list[Any]
) -> None:
    public = make_server("127.0.0.2")
    private = make_server("127.0.0.1")
    private.routes["/admin"] = (200, {}, PAGE)
    public.redirect("/go", f"{private.url}/admin")
    with pytest.raises(InputError) as refusal:
        fetch_for_test(f"{public.url}/go")
    message = str(refusal.value)
    assert f"redirected to {private.url}/admin: 127.0.0.1 is a loopback address" in message
    assert "no redirect from a public page into loopback or private networks" in message
    assert f"{public.url}/go" in message and "ingest that URL directly" in message
    assert private.connections == [] and private.paths == []
    assert [address[:2] for address in connects] == [("127.0.0.2", public.port)]
    # The same private page, given directly, is fetched.
    assert fetch_for_test(f"{private.url}/admin") == PAGE


def test_a_link_from_a_public_feed_cannot_lead_into_the_private_network(
    make_server: Callable[..., Server],
) -> None:
    public = make_server("127.0.0.2")
    private = make_server("127.0.0.1")
    private.routes["/admin"] = (200, {}, PAGE)
    public.routes["/feed"] = (200, {"Content-Type": "application/rss+xml"}, b"<rss/>")
    feed = fetch(
        f"{public.url}/feed",
        max_bytes=1 << 20,
        timeout=5,
        accept=("application/rss+xml",),
        classify=classify_for_test,
        resolve=hosts_resolver,
    )
    # The feed says where it came from; a link found in it is fetched as from there.
    assert feed.public
    with pytest.raises(InputError) as refusal:
        fetch(
            f"{private.url}/admin",
            max_bytes=1 << 20,
            timeout=5,
            from_public=feed.public,
            classify=classify_for_test,
            resolve=hosts_resolver,
        )
    message = str(refusal.value)
    assert "127.0.0.1 is a loopback address" in message
    assert "no link from a public page or feed into loopback or private networks" in message
    assert private.connections == []
    # A private feed's links may stay private (a local server is a common use).
    assert not fetch_for_test_page(f"{private.url}/admin").public


def fetch_for_test_page(url: str) -> Fetched:
    return fetch(
        url, max_bytes=1 << 20, timeout=5, classify=classify_for_test, resolve=hosts_resolver
    )


def test_once_public_always_public_for_the_rest_of_the_chain(
    make_server: Callable[..., Server],
) -> None:
    public = make_server("127.0.0.2")
    private = make_server("127.0.0.1")
    private.routes["/page"] = (200, {}, PAGE)
    public.routes["/page"] = (200, {}, PAGE)
    # private -> private: a local server redirecting within itself.
    private.redirect("/local", "/page")
    assert fetch_for_test(f"{private.url}/local") == PAGE
    # private -> public: fine.
    private.redirect("/out", f"{public.url}/page")
    assert fetch_for_test(f"{private.url}/out") == PAGE
    # private -> public -> private: refused, though the user typed a private URL.
    public.redirect("/back", f"{private.url}/page")
    private.redirect("/out-and-back", f"{public.url}/back")
    before = len(private.connections)
    with pytest.raises(
        InputError, match=r"127\.0\.0\.1 is a loopback address, and qa follows no redirect"
    ):
        fetch_for_test(f"{private.url}/out-and-back")
    assert len(private.connections) == before + 1  # the first hop only
    # By host name: the name's addresses are what count.
    public.redirect("/intranet", f"http://intranet.test:{private.port}/page")
    with pytest.raises(InputError, match=r"intranet.test \(127.0.0.1\) is a loopback address"):
        fetch_for_test(f"http://news.test:{public.port}/intranet")
    assert fetch_for_test(f"http://intranet.test:{private.port}/page") == PAGE


def test_host_names_are_checked_by_every_address_they_resolve_to(
    make_server: Callable[..., Server], connects: list[Any]
) -> None:
    public = make_server("127.0.0.2")
    public.routes["/page"] = (200, {}, PAGE)
    assert fetch_for_test(f"http://news.test:{public.port}/page") == PAGE
    for name in ("metadata.test", "split.test"):
        public.redirect(f"/{name}", f"http://{name}:{public.port}/page")
        with pytest.raises(
            InputError,
            match=r"redirected to http://.*: .*\(169.254.169.254\) is a cloud metadata address",
        ):
            fetch_for_test(f"http://news.test:{public.port}/{name}")
        with pytest.raises(InputError, match="never connects"):
            fetch_for_test(f"http://{name}:{public.port}/page")
    assert all(address[0] != "169.254.169.254" for address in connects)
    with pytest.raises(
        InputError, match=r"cannot resolve nowhere\.test: name or service not known"
    ):
        fetch_for_test("http://nowhere.test/")


@pytest.mark.parametrize(
    ("address", "verdict"),
    [
        ("8.8.8.8", Reach.PUBLIC),
        ("2a00:1450:4001:80b::200e", Reach.PUBLIC),
        ("127.0.0.1", Reach.PRIVATE),
        ("::1", Reach.PRIVATE),
        ("10.1.2.3", Reach.PRIVATE),
        ("172.16.0.1", Reach.PRIVATE),
        ("192.168.1.1", Reach.PRIVATE),
        ("100.64.0.1", Reach.PRIVATE),
        ("fd12:3456::1", Reach.PRIVATE),
        ("::ffff:10.0.0.1", Reach.PRIVATE),
        ("169.254.169.254", Reach.REFUSED),
        ("169.254.0.1", Reach.REFUSED),
        ("fe80::1", Reach.REFUSED),
        ("fd00:ec2::254", Reach.REFUSED),
        ("100.100.100.200", Reach.REFUSED),
        ("0.0.0.0", Reach.REFUSED),
        ("0.1.2.3", Reach.REFUSED),
        ("::", Reach.REFUSED),
        ("224.0.0.251", Reach.REFUSED),
        ("ff02::1", Reach.REFUSED),
        ("::ffff:169.254.169.254", Reach.REFUSED),
        ("64:ff9b::a9fe:a9fe", Reach.REFUSED),  # NAT64 of 169.254.169.254
        ("2002:a9fe:a9fe::1", Reach.REFUSED),  # 6to4 of 169.254.169.254
        ("::169.254.169.254", Reach.REFUSED),  # IPv4-compatible
    ],
)
def test_where_addresses_lie(address: str, verdict: Reach) -> None:
    assert reach(ipaddress.ip_address(address))[0] is verdict


# ---- one deadline for everything ------------------------------------------------------


def trickle(head: bytes, piece: bytes, seconds: float = 8) -> Callable[[socket.socket], None]:
    """A response that sends ``head``, then ``piece`` every 50 ms for ``seconds``."""

    def respond(connection: socket.socket) -> None:
        connection.sendall(head)
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            connection.sendall(piece)
            time.sleep(0.05)

    return respond


@pytest.mark.parametrize(
    ("head", "piece"),
    [
        (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"),  # one header, a byte at a time
        (b"HTTP/1.1 200 OK\r\n", b"X-Line: a\r\n"),  # header lines, one at a time
        (b"HTTP/1.1 200", b" "),  # the status line itself
    ],
    ids=["header-bytes", "header-lines", "status-line"],
)
def test_a_server_trickling_headers_is_cut_off_at_the_deadline(
    make_listener: Callable[..., Listener],
    monkeypatch: pytest.MonkeyPatch,
    head: bytes,
    piece: bytes,
) -> None:
    listener = make_listener(trickle(head, piece))
    monkeypatch.setenv("QA_URL_TIMEOUT", "1")
    started = time.monotonic()
    err = refused(f"{listener.url}/slow", "/slow", "timed out after 1 s")
    assert time.monotonic() - started < 2.5
    assert "whole request" in err


def test_the_deadline_covers_all_redirects(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each hop answers in 0.3 s, well within any per-read timeout; five of them are not.
    def slow_redirect(hop: int) -> Callable[[BaseHTTPRequestHandler], None]:
        def respond(handler: BaseHTTPRequestHandler) -> None:
            time.sleep(0.3)
            handler.send_response(302)
            handler.send_header("Location", f"/slow/{hop + 1}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        return respond

    for hop in range(5):
        server.routes[f"/slow/{hop}"] = slow_redirect(hop)
    server.routes["/slow/5"] = (200, {}, PAGE)
    monkeypatch.setenv("QA_URL_TIMEOUT", "1")
    started = time.monotonic()
    refused(f"{server.url}/slow/0", "timed out after 1 s")
    assert time.monotonic() - started < 2


def test_too_many_or_too_large_headers_are_one_line(
    make_listener: Callable[..., Listener],
) -> None:
    many = b"".join(b"X-Header-%d: %d\r\n" % (n, n) for n in range(150))
    crowded = make_listener(
        lambda c: c.sendall(b"HTTP/1.1 200 OK\r\n" + many + b"Content-Length: 0\r\n\r\n")
    )
    refused(f"{crowded.url}/", "more than 100 header lines")
    huge = b"X-Huge: " + b"a" * 200_000 + b"\r\n"
    bloated = make_listener(lambda c: c.sendall(b"HTTP/1.1 200 OK\r\n" + huge + b"\r\n"))
    refused(f"{bloated.url}/", "broken response", "headers are over 100 KiB")
    garbage = make_listener(lambda c: c.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))
    refused(f"{garbage.url}/", "broken response")


def test_a_stalled_tls_handshake_ends_at_the_deadline(
    make_listener: Callable[..., Listener], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Accepts, reads the ClientHello, and never answers it.
    listener = make_listener(lambda connection: time.sleep(8))
    monkeypatch.setenv("QA_URL_TIMEOUT", "1")
    started = time.monotonic()
    refused(f"https://127.0.0.1:{listener.port}/", "timed out after 1 s")
    assert time.monotonic() - started < 2.5


def test_an_untrusted_certificate_is_one_line(server: Server) -> None:
    server.routes["/dam"] = (200, {}, PAGE)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTIFICATE)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    https = server.url.replace("http://", "https://")
    refused(f"{https}/dam", f"{https}/dam", "the TLS certificate is not valid", "self-signed")


# ---- bodies -----------------------------------------------------------------------------


def test_gzip_is_decoded_and_a_gzip_bomb_is_capped(server: Server) -> None:
    server.routes["/gz"] = (200, {"Content-Encoding": "gzip"}, gzip.compress(PAGE))
    code, _, err = run("ingest", f"{server.url}/gz")
    assert code == 0, err
    # 100 MB of spaces in ~100 KB: refused at the 5 MB cap, not expanded whole.
    bomb = gzip.compress(b"<p>" + b" " * 100_000_000 + b"</p>", compresslevel=9)
    server.routes["/bomb"] = (200, {"Content-Encoding": "gzip"}, bomb)
    refused_err = run("ingest", f"{server.url}/bomb")[2]
    assert_one_line_error(refused_err, "/bomb", "larger than the 5 MB input limit")


def test_content_type_and_charset_are_kept(server: Server) -> None:
    server.routes["/png"] = (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" * 100)
    refused(f"{server.url}/png", "/png is image/png, not a web page, text, PDF or feed")
    latin = "<html><body><p>Le café de Düsseldorf a rouvert vendredi, dit François.</p>"
    server.routes["/latin"] = (
        200,
        {"Content-Type": "text/html; charset=iso-8859-1"},
        (latin + "</body></html>").encode("latin-1"),
    )
    code, out, err = run("ingest", f"{server.url}/latin")
    assert code == 0, err
    code, out, _ = run("list", "--json")
    [document] = json.loads(out)["documents"]
    code, out, _ = run("show", document["id"], "--json")
    assert "Düsseldorf" in json.loads(out)["text"]


# ---- malformed URLs and messages -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "needles"),
    [
        ("http://127.0.0.1:1/a b", ["http://127.0.0.1:1/a b", "connection refused"]),
        ("http://[::1", ["http://[::1", "not a valid URL"]),
        ("http://127.0.0.1/\x1b]8;;http://evil/\x07x", ["\\x1b]8;;", "not a valid URL"]),
        ("http://exa\x1bmple.com/", ["exa\\x1bmple", "not a valid URL"]),
        ("http://", ["the URL has no host name"]),
        ("http:///etc/passwd", ["the URL has no host name"]),
        ("http://ex ample.com/", ["is not a valid host name"]),
        ("http://127.0.0.1:99999/", ["port 99999 is out of range"]),
        ("http://host:port/", ["not a valid URL"]),
        ("http://\u202eexample.com/", ["\\u202e", "not a valid"]),
    ],
)
def test_malformed_urls_give_one_line(url: str, needles: list[str], connects: list[Any]) -> None:
    err = refused(url, *needles)
    assert "\x1b" not in err and "\u202e" not in err and "\x07" not in err
    assert all(address[0] == "127.0.0.1" for address in connects)


def test_a_password_in_the_url_is_never_shown(make_listener: Callable[..., Listener]) -> None:
    closed = make_listener()
    port = closed.port
    closed.close()
    err = refused(f"http://reader:hunter2@127.0.0.1:{port}/page", "reader:***@", "/page")
    assert "hunter2" not in err
    assert shown_url("https://a:b@c/d?e=f") == "https://a:***@c/d?e=f"
