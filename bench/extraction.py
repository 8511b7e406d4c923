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

``--half a`` / ``--half b`` score one half of the pages, split by a hash of the URL, so
a change made while looking at one half can be checked on the other.
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
from dataclasses import dataclass, field
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
    name: str
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0
    refused: int = 0
    empty: int = 0
    empty_where_anchor_has_text: int = 0
    seconds: float = 0.0
    pages: int = 0
    per_page: dict[str, dict[str, Any]] = field(default_factory=dict)

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

    def row(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "pages": self.pages,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "refused": self.refused,
            "empty": self.empty,
            "empty_where_anchor_has_text": self.empty_where_anchor_has_text,
            "ms_per_page": round(1000 * self.seconds / max(1, self.pages), 1),
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


def load_pages(folder: Path, half: str, limit: int | None) -> list[tuple[str, bytes, dict[str, Any]]]:
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


def score_page(score: Score, url: str, text: str, entry: dict[str, Any]) -> None:
    flat = SPACES.sub(" ", text)
    found = [snippet in flat for snippet in entry.get("with", [])]
    leaked = [snippet in flat for snippet in entry.get("without", [])]
    score.tp += sum(found)
    score.fn += len(found) - sum(found)
    score.fp += sum(leaked)
    score.tn += len(leaked) - sum(leaked)
    score.per_page[url] = {
        "missed": [s for s, ok in zip(entry.get("with", []), found, strict=True) if not ok],
        "leaked": [s for s, bad in zip(entry.get("without", []), leaked, strict=True) if bad],
    }


def run(
    names: list[str], pages: list[tuple[str, bytes, dict[str, Any]]], dump: Path | None
) -> list[Score]:
    extractors = {name: EXTRACTORS[name]() for name in names}
    scores = {name: Score(name) for name in names}
    anchor_has_text: dict[str, bool] = {}
    for number, (url, data, entry) in enumerate(pages, 1):
        if number % 100 == 0:
            print(f"[extraction] {number}/{len(pages)} pages", file=sys.stderr, flush=True)
        # Each page goes through every extractor in turn, so a busier machine slows all alike.
        for name, extract in extractors.items():
            score = scores[name]
            started = time.perf_counter()
            try:
                text = extract(data)
            except Refused:
                score.refused += 1
                text = ""
            score.seconds += time.perf_counter() - started
            score.pages += 1
            empty = not text.strip()
            score.empty += empty
            if name == "trafilatura":
                anchor_has_text[url] = bool(text.strip())
            score_page(score, url, text, entry)
            score.per_page[url]["empty"] = empty
            if dump is not None:
                target = dump / name / (hashlib.sha1(url.encode()).hexdigest()[:12] + ".txt")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(f"{url}\n\n{text}", encoding="utf-8")
    for name, score in scores.items():
        if name == "trafilatura":
            continue
        score.empty_where_anchor_has_text = sum(
            1
            for url, page in score.per_page.items()
            if anchor_has_text.get(url) and page.get("empty")
        )
    return list(scores.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help=f"path to {ARCHIVE}")
    parser.add_argument(
        "--extractors",
        default="qa,trafilatura",
        help="comma-separated: " + ", ".join(EXTRACTORS) + " (default qa,trafilatura)",
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
        scores = run(names, pages, args.dump)
    rows = [score.row() for score in scores]
    columns = list(rows[0])
    print(f"html-eval, half {args.half}: {len(pages)} pages\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[column]) for column in columns) + " |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "half": args.half,
                    "rows": rows,
                    "pages": {score.name: score.per_page for score in scores},
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
