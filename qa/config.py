"""Settings: one frozen object built from defaults, environment variables and CLI options.

Precedence is option > environment variable > default.  Secrets (the API key)
are kept out of ``repr`` so they cannot leak into logs or error messages.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from qa.errors import ConfigError

DEFAULT_COLLECTION = "default"


def qa_version() -> str:
    """The installed qa distribution's version (pyproject.toml's)."""
    from importlib import metadata

    try:
        return metadata.version("qa")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a number", fix=f"set {name} to a number or unset it"
        ) from None


def _env_optional_float(name: str) -> float | None:
    raw = os.environ.get(name)
    return None if raw is None or raw == "" else _env_float(name, 0.0)


def _env_int(name: str, default: int) -> int:
    return int(_env_float(name, default))


@dataclass(frozen=True)
class Settings:
    home: Path
    collection: str = DEFAULT_COLLECTION
    chroma_url: str = ""
    # Team mode: sent to the Chroma server (or the proxy in front of it) on every request.
    chroma_token: str = field(default="", repr=False)
    # "authorization" (Authorization: Bearer TOKEN) or "x-chroma-token".
    chroma_auth_header: str = "authorization"
    # Seconds one request to the Chroma server may take.
    chroma_timeout: float = 30.0
    # A CA bundle to verify an https Chroma URL with (a private CA, a self-signed proxy).
    chroma_ca: str = ""
    chunk_tokens: int = 200
    backend: str = "extractive"
    model: str = "gpt-4o-mini"
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    temperature: float = 0.0
    timeout: float = 60.0
    max_retries: int = 2
    max_context_tokens: int = 6000
    use_cache: bool = True
    # Inputs larger than this are refused before they are read whole.
    max_input_bytes: int = 5 * 1024 * 1024
    url_timeout: float = 20.0
    # Feeds: how many entries are fetched at once, and the least time between the starts
    # of two requests to one host (politeness; most sites ask for about a second).
    fetch_concurrency: int = 4
    host_delay: float = 1.0
    # How long a writer waits for another qa process writing the same store.
    lock_timeout: float = 600.0
    # The offline engine abstains below this confidence (0-1); None: the trained threshold.
    min_confidence: float | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        home = os.environ.get("QA_HOME") or platformdirs.user_data_dir("qa", appauthor=False)
        settings = cls(
            home=Path(home).expanduser(),
            collection=os.environ.get("QA_COLLECTION") or DEFAULT_COLLECTION,
            chroma_url=os.environ.get("QA_CHROMA_URL", ""),
            # Chroma's own client variable is honoured when qa's is not set.
            chroma_token=os.environ.get("QA_CHROMA_TOKEN")
            or os.environ.get("CHROMA_CLIENT_AUTH_CREDENTIALS", ""),
            chroma_auth_header=os.environ.get("QA_CHROMA_AUTH_HEADER") or "authorization",
            chroma_timeout=_env_float("QA_CHROMA_TIMEOUT", 30.0),
            chroma_ca=os.environ.get("QA_CHROMA_CA", ""),
            chunk_tokens=_env_int("QA_CHUNK_TOKENS", 200),
            backend=os.environ.get("QA_BACKEND") or "extractive",
            model=os.environ.get("QA_MODEL") or "gpt-4o-mini",
            base_url=os.environ.get("OPENAI_BASE_URL", ""),
            api_key=os.environ.get("OPENAI_API_KEY", ""),
            temperature=_env_float("QA_TEMPERATURE", 0.0),
            timeout=_env_float("QA_TIMEOUT", 60.0),
            max_retries=_env_int("QA_MAX_RETRIES", 2),
            max_context_tokens=_env_int("QA_MAX_CONTEXT_TOKENS", 6000),
            max_input_bytes=int(_env_float("QA_MAX_INPUT_MB", 5.0) * 1024 * 1024),
            url_timeout=_env_float("QA_URL_TIMEOUT", 20.0),
            fetch_concurrency=_env_int("QA_FETCH_CONCURRENCY", 4),
            host_delay=_env_float("QA_HOST_DELAY", 1.0),
            lock_timeout=_env_float("QA_LOCK_TIMEOUT", 600.0),
            min_confidence=_env_optional_float("QA_MIN_CONFIDENCE"),
        )
        return settings.with_options(**overrides)

    def with_options(self, **overrides: Any) -> Settings:
        """Apply the options that were given (``None`` means "not given")."""
        given = {name: value for name, value in overrides.items() if value is not None}
        if "home" in given:
            given["home"] = Path(given["home"]).expanduser()
        settings = replace(self, **given)
        settings.validate()
        return settings

    def _validate_chroma_url(self) -> None:
        parts = urlsplit(self.chroma_url)
        # The URL is shown in messages; a secret in it would be shown too.
        if "@" in parts.netloc or parts.query:
            raise ConfigError(
                "the Chroma URL carries credentials or a query",
                fix="give only http(s)://HOST:PORT, and the token in QA_CHROMA_TOKEN",
            )
        try:
            valid = parts.port is not None or parts.hostname is not None
        except ValueError:
            valid = False
        if not re.match(r"^https?://[^/\s]+", self.chroma_url) or not valid:
            shown = self.chroma_url if len(self.chroma_url) <= 80 else self.chroma_url[:80] + "..."
            raise ConfigError(
                f"invalid Chroma URL {shown!r}",
                fix="use http://HOST:PORT, e.g. http://127.0.0.1:8000",
            )

    def validate(self) -> None:
        # The backend name is checked by qa.backends.registry, which owns the list of
        # backends; config sits below the backends layer and cannot import it.
        if not self.backend:
            raise ConfigError("no backend named", fix="set QA_BACKEND or --backend")
        if not self.collection or not all(ch.isalnum() or ch in "-_." for ch in self.collection):
            raise ConfigError(
                f"invalid collection name {self.collection!r}",
                fix="use letters, digits, '-', '_' or '.'",
            )
        if not 3 <= len(self.collection) <= 60:
            raise ConfigError(
                f"invalid collection name {self.collection!r}", fix="use 3 to 60 characters"
            )
        if self.max_input_bytes < 1024:
            raise ConfigError(
                f"input size limit {self.max_input_bytes} bytes is too small",
                fix="set QA_MAX_INPUT_MB (or --max-mb) to 0.001 or more",
            )
        if self.url_timeout <= 0 or self.lock_timeout < 0:
            raise ConfigError(
                "QA_URL_TIMEOUT must be positive and QA_LOCK_TIMEOUT not negative",
                fix="set them to a number of seconds",
            )
        if self.fetch_concurrency < 1 or self.host_delay < 0:
            raise ConfigError(
                "QA_FETCH_CONCURRENCY must be 1 or more and QA_HOST_DELAY not negative",
                fix="set them to a number of requests and of seconds",
            )
        if self.chroma_url:
            self._validate_chroma_url()
        if self.chroma_auth_header.lower() not in ("authorization", "x-chroma-token"):
            raise ConfigError(
                f"QA_CHROMA_AUTH_HEADER={self.chroma_auth_header!r} is not a header qa sends",
                fix="use authorization (Bearer token) or x-chroma-token",
            )
        if self.chroma_ca and not Path(self.chroma_ca).expanduser().is_file():
            raise ConfigError(
                f"QA_CHROMA_CA={self.chroma_ca!r} is not a file",
                fix="give the path of a PEM file of CA certificates, or unset it",
            )
        if self.chroma_timeout <= 0:
            raise ConfigError(
                "QA_CHROMA_TIMEOUT must be positive", fix="set it to a number of seconds"
            )
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(
                f"minimum confidence {self.min_confidence} is not between 0 and 1",
                fix="set QA_MIN_CONFIDENCE (or --min-confidence) to a number from 0 to 1",
            )
        if self.chunk_tokens < 16:
            raise ConfigError(
                f"chunk size {self.chunk_tokens} tokens is too small", fix="use 16 or more"
            )
