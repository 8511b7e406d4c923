"""The LLM reply cache on disk, and the output form each endpoint accepted (modes.json).

A reply is stored under ``<folder>/<key[:2]>/<key>.json``, the key a sha256 of the
endpoint, the messages and the request parameters (model, output form, limits), never
the API key; the record holds the text, the model, the form, the usage and the time.
``modes.json`` in the same folder maps "endpoint model" to the output form that worked.
Files are written atomically (a temporary file, then a rename), so a concurrent reader
sees the old file or the new one, never half of one. A disabled cache (``--no-cache``)
reads and writes nothing.

Not handled: what to store (the caller decides, and redacts replies first), eviction or
size limits, locking between writers (the last rename wins; both wrote the same reply), and
which output forms exist (modes are stored as the caller names them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qa.types import Usage

log = logging.getLogger(__name__)

CACHE_VERSION = 1


class ReplyCache:
    """Replies and remembered output forms in ``folder``; nothing read or written if disabled."""

    def __init__(self, folder: Path, *, enabled: bool) -> None:
        self.folder = folder
        self.enabled = enabled

    @staticmethod
    def key(base_url: str, messages: Sequence[Mapping[str, str]], params: Mapping[str, Any]) -> str:
        # The endpoint, model, prompt and parameters, and never the API key.
        payload = {
            "version": CACHE_VERSION,
            "base_url": base_url,
            "messages": messages,
            "params": params,
        }
        data = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def load(self, key: str) -> str | None:
        """The stored reply text, or None (disabled, absent, unreadable or damaged)."""
        if not self.enabled:
            return None
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        text = data.get("text") if isinstance(data, dict) else None
        return text if isinstance(text, str) else None

    def store(self, key: str, *, model: str, mode: str, text: str, usage: Usage) -> None:
        if not self.enabled:
            return
        record = {
            "version": CACHE_VERSION,
            "model": model,
            "mode": mode,
            "text": text,
            "usage": usage.to_dict(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._write_json(self.path(key), record)

    @property
    def modes_file(self) -> Path:
        return self.folder / "modes.json"

    def load_mode(self, endpoint: str) -> str | None:
        """The output form stored for ``endpoint`` ("endpoint model"), unchecked, or None."""
        if not self.enabled:
            return None
        try:
            data = json.loads(self.modes_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        mode = data.get(endpoint) if isinstance(data, dict) else None
        return mode if isinstance(mode, str) else None

    def store_mode(self, endpoint: str, mode: str) -> None:
        if not self.enabled:
            return
        try:
            data = json.loads(self.modes_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        data[endpoint] = mode
        self._write_json(self.modes_file, data)

    def _write_json(self, path: Path, data: Any) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            # Atomic, so a concurrent reader sees the old file or the new one, not half.
            os.replace(partial, path)
        except OSError as error:
            log.warning("could not write cache file %s: %s", path, error)
