"""Shared fixtures: repository paths and an offline guard."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "spec"
EXAMPLES = SPEC / "examples"
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any test that opens a network connection (tests never touch the network)."""

    real_connect = socket.socket.connect

    def guard(self: socket.socket, address: object) -> None:
        # Unix sockets are local IPC (multiprocessing's forkserver), and loopback reaches
        # only servers the tests started themselves (DICOM gateway, Orthanc, Dask): neither
        # is the network.
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)  # type: ignore[arg-type]
        if isinstance(address, tuple) and str(address[0]) in _LOOPBACK:
            return real_connect(self, address)
        raise AssertionError("tests must not use the network")

    monkeypatch.setattr(socket.socket, "connect", guard)
    yield


@pytest.fixture
def repo() -> Path:
    return REPO
