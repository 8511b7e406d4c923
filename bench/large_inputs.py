"""Bounded cost on large inputs: ``python bench/large_inputs.py`` (see bench/README.md).

Each input is ingested by ``qa.ingestion.pipeline.ingest`` in a child process (peak RSS from
the kernel), with its embedder recording every text it embeds; the recorded texts are then
replayed through the raw embedder alone, in another child.  The promise measured:

* peak RSS of the ingest at most ``MAX_RSS_MB``;
* the ingest's time, less what the raw embedder takes on the same texts, at most
  ``MAX_OVERHEAD_S``: cleaning, splitting, chunking and storing stay linear.

Inputs, all within the default 5 MB limit, written to a temporary folder:

* ``tiny-paragraphs.txt``: 100,000 one-line paragraphs of a few words (1.1 MB);
* ``tiny-paragraphs.html``: the same as ``<p>`` elements of one page (1.7 MB);
* ``single-line.txt``: 4.9 MB of words on one line, no sentence end anywhere;
* ``too-many-paragraphs.txt`` (``--all``): 4.5 MB of tiny paragraphs, over qa's
  100,000-sentence limit for one document: refused quickly, in bounded memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import log, run_child

MAX_RSS_MB = 700
MAX_OVERHEAD_S = 30.0
SINGLE_LINE_BYTES = 4_900_000


def write_inputs(folder: Path, *, everything: bool) -> dict[str, Path]:
    inputs = {
        "tiny-paragraphs.txt": "".join(f"Line {n} is short.\n\n" for n in range(100_000)),
        "tiny-paragraphs.html": "<!doctype html><html><body><article>"
        + "".join(f"<p>Line {n} is short.</p>" for n in range(100_000))
        + "</article></body></html>",
        "single-line.txt": "".join(f"word{n % 997} " for n in range(SINGLE_LINE_BYTES // 7))[
            :SINGLE_LINE_BYTES
        ],
    }
    if everything:
        inputs["too-many-paragraphs.txt"] = "".join(f"Line {n}.\n\n" for n in range(450_000))
    paths = {}
    for name, text in inputs.items():
        # Each in its own folder: qa ingests a folder, and one input per run.
        path = folder / name.replace(".", "-") / name
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


def measure(name: str, path: Path, work: Path) -> dict[str, Any]:
    home, record = work / f"home-{name}", work / f"record-{name}.jsonl"
    log(f"ingest {name} ({path.stat().st_size / 1e6:.1f} MB)")
    ingested = run_child(
        "ingest-qa", {"corpus": str(path.parent), "home": str(home), "record": str(record)}
    )
    log(f"raw embedder on the texts of {name}")
    raw = run_child("embed-raw", {"record": str(record), "batched": False})
    wall = float(ingested.payload["wall_s"])
    embed = float(raw.payload["embed_s"])
    row = {
        "input": name,
        "mb": round(path.stat().st_size / 1e6, 2),
        "statuses": ingested.payload["statuses"],
        "embedded_texts": ingested.payload["embedded_texts"],
        "ingest_s": round(wall, 1),
        "raw_embed_s": round(embed, 1),
        "ingest_less_raw_embed_s": round(wall - embed, 1),
        "peak_rss_mb": round(ingested.peak_rss_mb),
        "stages_s": {k: round(v, 2) for k, v in ingested.payload["stages_s"].items()},
    }
    row["ok"] = row["peak_rss_mb"] <= MAX_RSS_MB and row["ingest_less_raw_embed_s"] <= (
        MAX_OVERHEAD_S
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also the 4.5 MB over-limit input")
    parser.add_argument("--only", help="comma-separated input names")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qa-large-inputs-") as tmp:
        work = Path(tmp)
        paths = write_inputs(work, everything=args.all)
        wanted = set(args.only.split(",")) if args.only else set(paths)
        rows = [measure(name, path, work) for name, path in paths.items() if name in wanted]
    columns = [column for column in rows[0] if column != "stages_s"]
    print(f"Large inputs: peak RSS <= {MAX_RSS_MB} MB, ingest - raw embed <= {MAX_OVERHEAD_S} s\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[column]) for column in columns) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
