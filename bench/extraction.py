"""Score qa's HTML extraction on trafilatura's evaluation set, next to trafilatura alone.

``python bench/extraction.py`` (see bench/README.md, "Extraction").

The data is the 990-page set in ``../shared/html-eval/`` (``trafilatura-evalset.tar.gz``,
unpacked into a temporary folder; the pages belong to their publishers and are never
copied into this repository). Scoring is trafilatura's own snippet method: runs of
whitespace in the extracted text collapse to one space; a "with" snippet found
(case-sensitive substring) is a true positive, missing a false negative; a "without"
snippet found is a false positive, absent a true negative; precision, recall and F1 over
all snippets of all pages.

Each extractor is given the page's bytes, as ``qa ingest page.html`` reads them:

* ``qa``: ``decode_bytes`` then ``clean_article`` (the stored text, what citations quote);
* ``qa-fallback``: ``decode_bytes`` then qa's own hand-written parser (the extractor qa
  had before it used trafilatura, and now falls back to);
* ``trafilatura``: ``trafilatura.extract(page_bytes)`` with its defaults, the anchor.

The table gives every extractor on all pages and on each half of them (split by a hash
of the URL): qa's additions to trafilatura were developed looking at half ``a`` only and
checked on half ``b``.  ``--half a`` / ``--half b`` run one half alone.  Costs are CPU
milliseconds per page (what a busy shared machine changes least) and wall-clock ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA_CANDIDATES = (
    REPO.parent / "shared" / "html-eval",
    REPO.parents[1] / "shared" / "html-eval",
    Path("/work/shared/html-eval"),
)
ARCHIVE = "trafilatura-evalset.tar.gz"
SPACES = re.compile(r"\s+")


class Refused(Exception):
    """The extractor refused the page (qa: an InputError)."""


Extractor = Callable[[bytes], str]


def qa_extractor() -> Extractor:
    from qa.errors import InputError
    from qa.ingestion.pipeline import clean_article
    from qa.ingestion.sources import RawArticle, decode_bytes

    def extract(data: bytes) -> str:
        try:
            text = decode_bytes(data, "page")
        except InputError as error:
            raise Refused(str(error)) from None
        return clean_article(RawArticle("page", "html", text)).text

    return extract


def qa_fallback_extractor() -> Extractor:
    from qa.errors import InputError
    from qa.ingestion.clean import extract_html_fallback
    from qa.ingestion.sources import decode_bytes

    def extract(data: bytes) -> str:
        try:
            text = decode_bytes(data, "page")
        except InputError as error:
            raise Refused(str(error)) from None
        return extract_html_fallback(text).text

    return extract


def trafilatura_extractor() -> Extractor:
    import trafilatura

    def extract(data: bytes) -> str:
        return trafilatura.extract(data) or ""

    return extract


EXTRACTORS: dict[str, Callable[[], Extractor]] = {
    "qa": qa_extractor,
    "qa-fallback": qa_fallback_extractor,
    "trafilatura": trafilatura_extractor,
}


@dataclass
class Score:
    """Snippet counts and costs of one extractor over a set of pages."""

    name: str
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0
    refused: int = 0
    empty: int = 0
    empty_where_anchor_has_text: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    pages: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, page: dict[str, Any]) -> None:
        for name in ("tp", "fn", "fp", "tn", "refused", "empty", "cpu_s", "wall_s"):
            setattr(self, name, getattr(self, name) + page[name])
        self.empty_where_anchor_has_text += page["empty"] and page["anchor_has_text"]
        self.pages += 1

    def row(self, half: str) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "half": half,
            "pages": self.pages,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "refused": self.refused,
            "empty": self.empty,
            "empty_where_trafilatura_has_text": self.empty_where_anchor_has_text,
            "cpu_ms_per_page": round(1000 * self.cpu_s / max(1, self.pages), 1),
            "wall_ms_per_page": round(1000 * self.wall_s / max(1, self.pages), 1),
        }


def find_archive(given: Path | None) -> Path:
    candidates = [given] if given else [folder / ARCHIVE for folder in DATA_CANDIDATES]
    for candidate in candidates:
        if candidate and candidate.is_file():
            return candidate
    raise SystemExit(
        f"cannot find {ARCHIVE}; give it with --data (looked in "
        + ", ".join(str(c) for c in candidates if c)
        + ")"
    )


def in_half(url: str, half: str) -> bool:
    if half == "all":
        return True
    bit = hashlib.sha1(url.encode("utf-8")).digest()[0] & 1
    return bit == (0 if half == "a" else 1)


Page = tuple[str, bytes, dict[str, Any]]


def load_pages(folder: Path, half: str, limit: int | None) -> list[Page]:
    spec = json.loads((folder / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for url, entry in spec.items():
        if not in_half(url, half):
            continue
        for sub in ("eval", "cache"):
            path = folder / sub / entry["file"]
            if path.is_file():
                pages.append((url, path.read_bytes(), entry))
                break
    return pages[:limit] if limit else pages


def score_page(text: str, entry: dict[str, Any]) -> dict[str, Any]:
    flat = SPACES.sub(" ", text)
    wanted, unwanted = entry.get("with", []), entry.get("without", [])
    missed = [snippet for snippet in wanted if snippet not in flat]
    leaked = [snippet for snippet in unwanted if snippet in flat]
    return {
        "tp": len(wanted) - len(missed),
        "fn": len(missed),
        "fp": len(leaked),
        "tn": len(unwanted) - len(leaked),
        "missed": missed,
        "leaked": leaked,
    }


def run(names: list[str], pages: list[Page], dump: Path | None) -> dict[str, dict[str, Any]]:
    """Every page through every extractor: per extractor, per URL, the page's record."""
    extractors = {name: EXTRACTORS[name]() for name in names}
    results: dict[str, dict[str, Any]] = {name: {} for name in names}
    for number, (url, data, entry) in enumerate(pages, 1):
        if number % 100 == 0:
            print(f"[extraction] {number}/{len(pages)} pages", file=sys.stderr, flush=True)
        # Each page goes through every extractor in turn, so a busier machine slows all alike.
        for name, extract in extractors.items():
            refused = False
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                text = extract(data)
            except Refused:
                refused, text = True, ""
            record = score_page(text, entry)
            record.update(
                refused=int(refused),
                empty=int(not text.strip()),
                cpu_s=time.process_time() - cpu,
                wall_s=time.perf_counter() - wall,
                half="a" if in_half(url, "a") else "b",
            )
            results[name][url] = record
            if dump is not None:
                target = dump / name / (hashlib.sha1(url.encode()).hexdigest()[:12] + ".txt")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(f"{url}\n\n{text}", encoding="utf-8")
    anchor = results.get("trafilatura", {})
    for records in results.values():
        for url, record in records.items():
            record["anchor_has_text"] = int(not anchor[url]["empty"]) if url in anchor else 0
    return results


def table(results: dict[str, dict[str, Any]], halves: list[str]) -> list[dict[str, Any]]:
    rows = []
    for half in halves:
        for name, records in results.items():
            score = Score(name)
            for record in records.values():
                if half == "all" or record["half"] == half:
                    score.add(record)
            rows.append(score.row(half))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help=f"path to {ARCHIVE}")
    parser.add_argument(
        "--extractors",
        default="qa,qa-fallback,trafilatura",
        help="comma-separated, from: " + ", ".join(EXTRACTORS) + " (default: all three)",
    )
    parser.add_argument("--half", choices=["all", "a", "b"], default="all")
    parser.add_argument("--limit", type=int, help="only the first N pages (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the table and per-page misses here")
    parser.add_argument("--dump", type=Path, help="write every extracted text under this folder")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.extractors.split(",") if name.strip()]
    unknown = [name for name in names if name not in EXTRACTORS]
    if unknown:
        parser.error(f"unknown extractor(s) {unknown}; choose from {list(EXTRACTORS)}")
    archive = find_archive(args.data)
    with tempfile.TemporaryDirectory(prefix="qa-html-eval-") as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        pages = load_pages(Path(tmp), args.half, args.limit)
        snippets = sum(len(e.get("with", [])) + len(e.get("without", [])) for _, _, e in pages)
        print(
            f"[extraction] {len(pages)} pages, {snippets} snippets (half {args.half})",
            file=sys.stderr,
        )
        results = run(names, pages, args.dump)
    rows = table(results, ["all", "a", "b"] if args.half == "all" else [args.half])
    columns = list(rows[0])
    print(f"html-eval ({ARCHIVE}): {len(pages)} pages, {snippets} snippets\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[column]) for column in columns) + " |")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "pages": results}, ensure_ascii=False, indent=1),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
