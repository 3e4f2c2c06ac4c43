"""Fixtures: a started sandbox per test, always stopped; client sockets always closed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from oms.sandbox import Faults, Sandbox
from tests.sandbox.client import KEY, OPENED, SECRET

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPENED:
        ws = OPENED.pop()
        ws.close(timeout=1)
        ws.shutdown()  # close() skips the socket when the server ended the connection


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def sandbox(faults: Faults) -> Iterator[Sandbox]:
    with Sandbox(KEY, SECRET, seed=11, faults=faults) as running:
        yield running
