"""The test isolation itself: the network guard and the temporary folders must really hold."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from qa.config import Settings
from qa.errors import ConfigError
from tests.helpers import NetworkBlocked


def test_name_resolution_beyond_loopback_is_blocked() -> None:
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("example.com", 443)


def test_connections_beyond_loopback_are_blocked() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # TEST-NET-1 (RFC 5737): the guard refuses before any packet is sent.
        with pytest.raises(NetworkBlocked):
            sock.connect(("192.0.2.1", 80))
    finally:
        sock.close()


def test_home_and_store_are_temporary(isolated: Path) -> None:
    assert Path(os.environ["HOME"]).is_relative_to(isolated)
    assert Settings.from_env().home.is_relative_to(isolated)


@pytest.mark.parametrize("name", ["a", "has space", "x" * 61])
def test_bad_collection_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(collection=name)
