"""Summary quality of the offline engine beside its anchors, measured in one run.

    python bench/summaries.py                       # eval/ and the two summaries-untuned sets
    python bench/summaries.py --before 0bad104      # also the engine as it was at a commit
    python bench/summaries.py --before f7a2cc3 --before 0bad104   # several commits
    python bench/summaries.py --sentences 5 DATASET...

For each dataset with summary gold it runs ``qa eval``'s own scorer over three
summarisers and prints one Markdown table row each: the engine as it is now; the
engine's summariser as it was at each ``--before`` (its ``summariser.py`` read from git
and run on the same documents, vectors and embedder); and lead-N, the first N
sentences of each article that make a claim (not the headline or dateline), the
naive anchor of news summarisation. Columns: key-fact coverage, party coverage,
share of summaries naming every party, leakage, summary_fragments (qa.text.fluency)
and mean words.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.backends.offline.answerer import ExtractiveBackend  # noqa: E402
from qa.backends.offline.readable import Readable  # noqa: E402
from qa.eval.runner import evaluate  # noqa: E402
from qa.index.embed import MiniLMEmbedder  # noqa: E402
from qa.types import Document, Draft, DraftClaim, Hit, SentenceRef, TextSink  # noqa: E402

COLUMNS = (
    ("summary_key_fact_coverage", "key facts"),
    ("summary_party_coverage", "party coverage"),
    ("summary_all_parties", "all parties"),
    ("summary_leakage", "leakage"),
    ("summary_fragments", "fragments"),
    ("summary_words_mean", "words"),
)


class LeadBackend:
    """Lead-N: the first N sentences that make a claim, each its own cited claim."""

    name = "lead-n"

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None = None,
    ) -> Draft:
        return Draft(claims=[], abstained=True)

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        claims = []
        for document in documents:
            for sentence in document.sentences:
                words = sentence.text.split()
                if sentence.text == document.title or sum(w[:1].islower() for w in words) < 2:
                    continue
                claims.append(DraftClaim(sentence.text, [SentenceRef(document.id, sentence.index)]))
                if len(claims) == sentences:
                    return Draft(claims=claims)
        return Draft(claims=claims)


class BeforeBackend(ExtractiveBackend):
    """The offline engine with the summariser of an earlier commit."""

    name = "extractive-before"

    def __init__(self, module: ModuleType) -> None:
        super().__init__(MiniLMEmbedder())
        self.module = module

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        readable = Readable.of(documents)
        views = readable.documents
        ordered = [views[d.id] for d in documents if views[d.id].sentences]
        draft = self.module.summarize(
            ordered,
            sentences,
            lambda document: readable.vectors(document, self.store, self.embedder),
            self.embedder.embed,
        )
        return readable.restore(draft)


def load_summariser(revision: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:qa/backends/offline/summariser.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"summariser_{revision}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"summariser_{revision}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being made.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", type=Path)
    parser.add_argument(
        "--before",
        action="append",
        default=[],
        help="git revision of the summariser to compare with (may be given several times)",
    )
    parser.add_argument("--sentences", type=int, default=5)
    args = parser.parse_args()
    datasets = args.datasets or [
        ROOT / "eval",
        ROOT / "eval" / "summaries-untuned",
        ROOT / "eval" / "summaries-untuned-2",
    ]
    rows: list[tuple[str, str, dict[str, float]]] = []
    for dataset in datasets:
        label = str(dataset.relative_to(ROOT)) if dataset.is_relative_to(ROOT) else str(dataset)
        runs: list[tuple[str, object]] = [("engine now", None)]
        for revision in args.before:
            runs.append((f"engine at {revision}", BeforeBackend(load_summariser(revision))))
        runs.append((f"lead-{args.sentences}", LeadBackend()))
        for name, backend in runs:
            report = evaluate(
                dataset,
                backend=backend,  # type: ignore[arg-type]
                summary_sentences=args.sentences,
            )
            rows.append((label, name, report.metrics))
            print(f"{label}: {name} done", file=sys.stderr)
    print("| set | summariser | " + " | ".join(title for _, title in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for label, name, metrics in rows:
        cells = [
            f"{metrics[key]:.1f}" if key.endswith("words_mean") else f"{metrics[key]:.3f}"
            for key, _ in COLUMNS
        ]
        print(f"| {label} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
