"""The one error family of qa: each error says what failed, on which input, and the fix.

The CLI prints ``str(error)`` as a single line on stderr and exits with
``error.exit_code``; the message must never contain a secret.
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error qa raises on purpose."""

    exit_code = 1

    def __init__(self, what: str, *, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}; {fix}" if fix else what)


class InputError(QAError):
    """A file, URL or text the user gave cannot be read as an article."""

    exit_code = 2


class NotIngestedError(QAError):
    """The collection holds no documents yet."""


class UnknownDocumentError(QAError):
    """A document id that is not in the collection."""


class EmbedderMismatchError(QAError):
    """The collection was built with another embedding model."""


class StoreError(QAError):
    """The on-disk store or Chroma server cannot be used."""


class ConfigError(QAError):
    """A setting or option has a value qa cannot use."""

    exit_code = 2


class BackendError(QAError):
    """An answering backend (an LLM server) failed."""


class PromptError(QAError):
    """A prompt template is missing or was filled without all its variables."""


class EvalError(QAError):
    """An eval dataset is malformed."""
