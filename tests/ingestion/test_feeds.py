"""RSS and Atom feeds through the real CLI, against a real HTTP server on 127.0.0.1.

Each entry's article is fetched like a URL (same size and time limits); a failing
entry is one ``error:`` line and the rest go in; a second run fetches nothing it has
stored already; requests to one host are spaced, and only so many run at once.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

from qa.config import Settings
from qa.ingestion.feeds import HostGate
from qa.ingestion.pipeline import ingest
from tests.helpers import run

ARTICLES = {
    "/news/dam": (
        "Dam opens on the river",
        [
            "The new dam on the river opened on Tuesday after six years of building work.",
            "Engineers said it will supply power to 200,000 homes in the region.",
        ],
    ),
    "/news/bridge": (
        "Bridge closes for repairs",
        [
            "The old bridge closed on Wednesday for repairs that will take three months.",
            "Drivers were told to use the ferry, which will run every twenty minutes.",
        ],
    ),
    "/news/school": (
        "School gets a new roof",
        [
            "The village school reopened on Thursday under a new roof paid for by parents.",
            "The headteacher thanked the builders, who worked through the summer holidays.",
        ],
    ),
}


def page(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    return (
        f"<!doctype html><html lang='en'><head><title>{title}</title>"
        f"<meta property='og:site_name' content='Valley Times'></head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def rss(base: str, entries: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed: (title, link, RFC 822 date) per entry."""
    items = "".join(
        f"<item><title>{title}</title><link>{link}</link><pubDate>{date}</pubDate>"
        f"<author>desk@valley.example (Sam Reporter)</author></item>"
        for title, link, date in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>Valley Times: top stories</title><link>{base}/</link>"
        f"<language>en-gb</language>{items}</channel></rss>"
    ).encode()


@dataclass
class FeedServer:
    url: str
    requests: list[tuple[str, float]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    delay: float = 0.0
    feed: bytes = b""
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.requests.append((self.path, time.monotonic()))
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
            try:
                time.sleep(state.delay)
                self.answer()
            finally:
                with state.lock:
                    state.in_flight -= 1

        def answer(self) -> None:
            if self.path == "/feed.xml":
                self.reply(200, "application/rss+xml", state.feed)
            elif self.path in ARTICLES:
                self.reply(200, "text/html; charset=utf-8", page(*ARTICLES[self.path]))
            elif self.path == "/news/huge":
                self.reply(200, "text/html", b"<html><body><p>" + b"word " * 40_000 + b"</p>")
            else:
                self.reply(404, "text/plain", b"not here")

        def reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    state.feed = rss(
        state.url,
        [
            ("Dam opens", f"{state.url}/news/dam", "Fri, 14 Mar 2025 09:30:00 GMT"),
            ("Gone", f"{state.url}/news/gone", "Fri, 14 Mar 2025 08:00:00 GMT"),
            ("Bridge closes", f"{state.url}/news/bridge", "Thu, 13 Mar 2025 18:00:00 GMT"),
            ("Too big", f"{state.url}/news/huge", "Thu, 13 Mar 2025 12:00:00 GMT"),
            ("School roof", f"{state.url}/news/school", "Wed, 12 Mar 2025 07:15:00 GMT"),
        ],
    )
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def quick_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_HOST_DELAY", "0.01")


def stored() -> list[dict[str, object]]:
    code, out, _ = run("list", "--json")
    assert code == 0
    documents: list[dict[str, object]] = json.loads(out)["documents"]
    return documents


def test_a_feed_ingests_each_entry_and_reports_the_failures(feed_server: FeedServer) -> None:
    code, _out, err = run("ingest", f"{feed_server.url}/feed.xml", "--max-mb", "0.1")
    assert code == 3, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, err
    assert any("/news/gone" in line and "HTTP 404" in line for line in errors)
    assert any("/news/huge" in line and "larger than" in line for line in errors)
    assert "3 added, 0 updated, 0 unchanged, 2 failed" in err
    assert "Traceback" not in err
    documents = {str(document["title"]): document for document in stored()}
    assert set(documents) == {title for title, _ in ARTICLES.values()}
    dam = documents["Dam opens on the river"]
    # The entry's date and author, the page's outlet name, the entry's link.
    assert dam["published"] == "2025-03-14"
    assert dam["author"] == "Sam Reporter"
    assert dam["site"] == "Valley Times"
    assert dam["url"] == dam["source"] == f"{feed_server.url}/news/dam"
    assert dam["language"] == "en"


def test_a_second_run_adds_nothing_and_refetches_nothing_stored(feed_server: FeedServer) -> None:
    run("ingest", f"{feed_server.url}/feed.xml", "--max-mb", "0.1")
    feed_server.requests.clear()
    code, _, err = run("ingest", f"{feed_server.url}/feed.xml", "--max-mb", "0.1")
    assert code == 3, err
    assert "0 added, 0 updated, 3 unchanged, 2 failed" in err
    assert len(stored()) == 3
    fetched = sorted(path for path, _ in feed_server.requests)
    assert fetched == ["/feed.xml", "/news/gone", "/news/huge"]


def test_an_entry_updated_since_it_was_stored_is_fetched_again(
    feed_server: FeedServer,
) -> None:
    run("ingest", f"{feed_server.url}/feed.xml", "--max-mb", "0.1")
    feed_server.feed = feed_server.feed.replace(
        b"Fri, 14 Mar 2025 09:30:00 GMT", b"Fri, 14 Mar 2042 09:30:00 GMT"
    )
    feed_server.requests.clear()
    code, _, err = run("ingest", f"{feed_server.url}/feed.xml", "--max-mb", "0.1")
    assert code == 3
    assert "/news/dam" in [path for path, _ in feed_server.requests]
    # Same content: the content hash says unchanged.
    assert "0 added, 0 updated, 3 unchanged" in err


def test_limit_takes_the_first_entries(feed_server: FeedServer) -> None:
    code, _, err = run("ingest", f"{feed_server.url}/feed.xml", "--limit", "2")
    assert code == 3, err
    assert "1 added, 0 updated, 0 unchanged, 1 failed" in err
    assert [document["title"] for document in stored()] == ["Dam opens on the river"]
    code, _, err = run("ingest", f"{feed_server.url}/feed.xml", "--limit", "0")
    assert code == 2


def test_fetching_is_bounded_and_spaced_per_host(
    feed_server: FeedServer, settings: Settings
) -> None:
    feed_server.delay = 0.3
    spaced = ingest(
        [f"{feed_server.url}/feed.xml"],
        settings=settings.with_options(host_delay=0.2, fetch_concurrency=2, max_input_bytes=10**5),
    )
    assert spaced.count("added") == 3
    (feed_at,) = [at for path, at in feed_server.requests if path == "/feed.xml"]
    starts = sorted(at for path, at in feed_server.requests if path.startswith("/news/"))
    assert len(starts) == 5
    # Requests to one host start at least the delay apart.  No article request can start
    # before the feed's reply (the server notes a request, then waits 0.3 s), and the k-th
    # starts k delays after the first.  Only lower bounds are asserted: the server notes a
    # request when its thread gets to it, which a loaded machine delays by a varying amount,
    # so gaps between noted times can be shorter than the delay.  Without the gate two
    # requests would arrive at once, 0.3 s after the feed.
    for k, at in enumerate(starts):
        assert at >= feed_at + 0.3 + k * 0.2 - 0.01, (k, at - feed_at)
    assert feed_server.most_in_flight <= 2


def test_the_host_gate_spaces_starts_to_one_host_and_not_across_hosts() -> None:
    gate = HostGate(0.1)
    began = time.monotonic()
    started: list[tuple[str, float]] = []

    def fetch(url: str) -> None:
        gate.wait(url)
        started.append((urlparse(url).hostname or "", time.monotonic()))

    urls = [f"http://{host}/{n}" for n in range(4) for host in ("a.example", "b.example")]
    threads = [threading.Thread(target=fetch, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for host in ("a.example", "b.example"):
        times = sorted(at for name, at in started if name == host)
        # Lower bounds only (see above): the k-th start to a host waits k delays.
        assert all(at >= began + k * 0.1 for k, at in enumerate(times))
    # Hosts do not wait for each other: with a long delay, a first request to another host
    # still goes at once (5 s is far beyond any scheduling lag).
    slow = HostGate(5.0)
    slow.wait("http://a.example/1")
    before = time.monotonic()
    slow.wait("http://b.example/1")
    assert time.monotonic() - before < 2.5


def test_an_atom_file_with_content_and_no_links_is_ingested(tmp_path: Path) -> None:
    atom = tmp_path / "notes.atom"
    atom.write_text(
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>Parish notes</title>'
        "<entry><title>Fete raises money</title><updated>2024-07-01T10:00:00Z</updated>"
        "<author><name>Joan Clerk</name></author>"
        '<content type="html">&lt;p&gt;The summer fete raised 2,000 pounds for the church '
        "roof, the organisers said on Monday.&lt;/p&gt;</content></entry></feed>",
        encoding="utf-8",
    )
    code, _, err = run("ingest", str(atom))
    assert code == 0, err
    [document] = stored()
    assert document["title"] == "Fete raises money"
    assert (document["site"], document["author"]) == ("Parish notes", "Joan Clerk")
    assert document["published"] == "2024-07-01"


def test_a_broken_feed_is_one_line(tmp_path: Path) -> None:
    feed = tmp_path / "broken.rss"
    feed.write_text("<rss><channel><title>x</title></channel></rss>", encoding="utf-8")
    code, _, err = run("ingest", str(feed))
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "feed with no entries" in lines[0]
    not_a_feed = tmp_path / "data.xml"
    not_a_feed.write_text("<?xml version='1.0'?><sitemap/>", encoding="utf-8")
    code, _, err = run("ingest", str(not_a_feed))
    assert code == 2 and "not an RSS or Atom feed" in err
