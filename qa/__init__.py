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
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.answer import ask
    from qa.config import Settings
    from qa.errors import QAError
    from qa.evaluate import EvalReport, evaluate
    from qa.ingest import ingest
    from qa.library import forget, list_documents, show
    from qa.summarize import summarize
    from qa.types import Answer, Citation, Claim, Document, IngestReport, Summary

_HOMES = {
    "Answer": "qa.types",
    "Citation": "qa.types",
    "Claim": "qa.types",
    "Document": "qa.types",
    "EvalReport": "qa.evaluate",
    "IngestReport": "qa.types",
    "QAError": "qa.errors",
    "Settings": "qa.config",
    "Summary": "qa.types",
    "ask": "qa.answer",
    "evaluate": "qa.evaluate",
    "forget": "qa.library",
    "ingest": "qa.ingest",
    "list_documents": "qa.library",
    "show": "qa.library",
    "summarize": "qa.summarize",
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


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing qa.ingest would set qa.ingest to the module; the API name means the function.
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
