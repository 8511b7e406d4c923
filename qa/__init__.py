"""qa: answer questions about news articles, and summarise them, with verified citations.

Library API::

    from qa import ingest, ask, summarize
    ingest(["article.txt"])
    answer = ask("What caveats did Russia raise?")
    print(answer.text, answer.citations)
"""

from qa.answer import ask
from qa.config import Settings
from qa.errors import QAError
from qa.evaluate import EvalReport, evaluate
from qa.ingest import ingest
from qa.library import forget, list_documents, show
from qa.summarize import summarize
from qa.types import Answer, Citation, Claim, Document, IngestReport, Summary

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
