"""Shared fixtures: every test runs with HOME, QA_HOME and caches in temporary folders,
and with a guard that fails any network connection beyond loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Imported below before pytest loads it as a plugin: let pytest rewrite its asserts anyway.
pytest.register_assert_rewrite("tests.helpers")

from qa.config import Settings  # noqa: E402
from tests.helpers import SEED, NetworkBlocked  # noqa: E402

# The fixtures shared by test modules (servers, documents) live in tests/helpers.py.
pytest_plugins = ["tests.helpers"]


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    # Unix sockets are local by definition.
    return isinstance(address, str | bytes)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    for name, value in {
        "HOME": home,
        "QA_HOME": tmp_path / "qa-home",
        "TIKTOKEN_CACHE_DIR": tmp_path / "tiktoken-cache",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_DATA_HOME": home / ".local" / "share",
        "HF_HOME": home / ".cache" / "huggingface",
    }.items():
        monkeypatch.setenv(name, str(value))
    for name in (
        "QA_COLLECTION",
        "QA_BACKEND",
        "QA_MODEL",
        "QA_CHROMA_URL",
        "QA_CHROMA_TOKEN",
        "QA_CHROMA_AUTH_HEADER",
        "QA_CHROMA_TIMEOUT",
        "QA_CHROMA_CA",
        "CHROMA_CLIENT_AUTH_CREDENTIALS",
        "QA_CHUNK_TOKENS",
        "QA_MAX_CONTEXT_TOKENS",
        "QA_TEMPERATURE",
        "QA_TIMEOUT",
        "QA_MAX_RETRIES",
        "QA_MAX_INPUT_MB",
        "QA_URL_TIMEOUT",
        "QA_FETCH_CONCURRENCY",
        "QA_HOST_DELAY",
        "QA_LOCK_TIMEOUT",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise NetworkBlocked(f"test tried to open a network connection to {address!r}")
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise NetworkBlocked(f"test tried to open a network connection to {address!r}")
        return real_connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost", "127.0.0.1", "::1", b"localhost"):
            try:
                if not ipaddress.ip_address(str(host)).is_loopback:
                    raise NetworkBlocked(f"test tried to resolve {host!r}")
            except ValueError:
                raise NetworkBlocked(f"test tried to resolve {host!r}") from None
        return real_getaddrinfo(host, *args, **kwargs)

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield tmp_path


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")
