"""Backends by name: each name maps to a ``"module:factory"`` loaded on first use.

The Protocol (:mod:`qa.backends.base`) knows no implementation, and no
implementation imports this module, so there is no cycle: adding a backend is
one module with a factory ``(settings, store) -> Backend`` and one line here.
Loading by name also keeps the offline path from importing ``openai``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from qa.errors import ConfigError

if TYPE_CHECKING:
    from qa.backends.base import Backend
    from qa.config import Settings
    from qa.index.store import Store

BACKENDS: dict[str, str] = {
    # The default: offline, quotes the articles' own sentences.
    "extractive": "qa.backends.offline.answerer:create",
    # Offline, sentences chosen by a learned scorer with a calibrated confidence (issue 13).
    "learned": "qa.backends.offline.learned:create",
    # The anchor every score is measured against: the nearest sentences, never abstains.
    "naive": "qa.backends.offline.naive:create",
    # Any OpenAI-compatible chat completions endpoint, through the official client.
    "openai": "qa.backends.llm.backend:create",
}


def names() -> list[str]:
    """The registered backend names, in the order ``--help`` lists them."""
    return list(BACKENDS)


def check_name(name: str) -> None:
    """Raise :class:`~qa.errors.ConfigError` unless ``name`` is a registered backend."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}", fix=f"use one of: {', '.join(BACKENDS)}")


def load_backend(settings: Settings, store: Store) -> Backend:
    """The backend ``settings.backend`` names, its module imported now."""
    check_name(settings.backend)
    module_name, _, factory_name = BACKENDS[settings.backend].partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    return cast("Backend", factory(settings, store))
