"""qa: answer questions about news articles, and summarise them, with verified citations.

Library API::

    from qa import ingest, ask, summarize
    ingest(["article.txt"])
    answer = ask("What caveats did Russia raise?")
    print(answer.text, answer.citations)

Names are imported on first use, so ``qa --help`` starts without loading
numpy, the store or the embedding model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.api import ask, forget, list_documents, show, summarize
    from qa.config import Settings
    from qa.errors import QAError
    from qa.eval.report import EvalReport
    from qa.eval.runner import evaluate
    from qa.ingestion.pipeline import ingest
    from qa.types import Answer, Citation, Claim, Document, IngestReport, Summary

_HOMES = {
    "Answer": "qa.types",
    "Citation": "qa.types",
    "Claim": "qa.types",
    "Document": "qa.types",
    "EvalReport": "qa.eval.report",
    "IngestReport": "qa.types",
    "QAError": "qa.errors",
    "Settings": "qa.config",
    "Summary": "qa.types",
    "ask": "qa.api",
    "evaluate": "qa.eval.runner",
    "forget": "qa.api",
    "ingest": "qa.ingestion.pipeline",
    "list_documents": "qa.api",
    "show": "qa.api",
    "summarize": "qa.api",
}
__all__ = [
    "Answer",
    "Citation",
    "Claim",
    "Document",
    "EvalReport",
    "IngestReport",
    "QAError",
    "Settings",
    "Summary",
    "ask",
    "evaluate",
    "forget",
    "ingest",
    "list_documents",
    "show",
    "summarize",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'qa' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
