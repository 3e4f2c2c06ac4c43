"""Fixtures for the real-client tests: a sandbox that traded (seeded) and then stopped,
and real ccxt / pybit HTTP clients whose only change is the URL they call."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ccxt
import pytest
from pybit.unified_trading import HTTP

from oms.sandbox import Faults, Sandbox
from tests.sandbox.client import KEY, SECRET, wait_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: seeded actions the sandbox runs before the clients look (then it stops trading)
STEPS = 400


@pytest.fixture(scope="module")
def traded() -> Iterator[Sandbox]:
    """A sandbox that traded ``STEPS`` seeded actions, then a while by itself in the
    background, and is now still."""
    with Sandbox(KEY, SECRET, seed=21) as sandbox:
        sandbox.step(STEPS)
        sandbox.start_trading(200)
        wait_for(lambda: sandbox.stats()["steps"] >= STEPS + 40, what="background trading")
        sandbox.stop_trading()
        yield sandbox


@pytest.fixture
def faulty() -> Iterator[Sandbox]:
    """A fresh sandbox whose faults a test may switch on."""
    with Sandbox(KEY, SECRET, seed=22, faults=Faults()) as sandbox:
        sandbox.step(50)
        yield sandbox


def ccxt_for(url: str, key: str = KEY, secret: str = SECRET) -> ccxt.bybit:
    """Real ccxt bybit with every ``urls["api"]`` entry pointed at ``url``; nothing else
    changed."""
    exchange = ccxt.bybit({"apiKey": key, "secret": secret, "timeout": 10_000})
    exchange.urls["api"] = dict.fromkeys(exchange.urls["api"], url)
    return exchange


def pybit_http_for(url: str, key: str = KEY, secret: str = SECRET) -> HTTP:
    """Real pybit HTTP whose ``endpoint`` (the base URL it builds from domain and tld) is
    ``url``; nothing else changed."""
    session = HTTP(api_key=key, api_secret=secret, timeout=10)
    session.endpoint = url
    return session


@pytest.fixture
def make_ccxt() -> Callable[..., ccxt.bybit]:
    return ccxt_for
