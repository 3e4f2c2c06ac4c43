"""An ``oms.Account`` following the sandbox's account over its private stream while a real
client trades, and the end check: the account's database (loaded as a restart loads it)
equals the sandbox's truth, every order, fill and position."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING

from oms import Account, StreamSettings
from oms.bybit.signing import Credentials, Secret
from oms.sim.wire import fmt
from tests.adapters.conftest import wait_equal
from tests.e2e.conftest import history_in_the_past, wait_for
from tests.sandbox.client import KEY, SECRET

if TYPE_CHECKING:
    from collections.abc import Iterator

    from oms.sandbox import Sandbox

#: background actions a second while the clients trade ("another program on the account")
BACKGROUND_RATE = 20.0


@contextmanager
def followed(sandbox: Sandbox, db: str) -> Iterator[Account]:
    """An account that follows ``sandbox`` (stream, resync) and has resynced once."""
    settings = StreamSettings(
        url=sandbox.ws_url, api_key=KEY, api_secret=SECRET, backoff_initial_s=0.05
    )
    credentials = Credentials(KEY, Secret(SECRET))
    with Account(
        db, stream=settings, rest_url=sandbox.rest_url, credentials=credentials
    ) as account:
        wait_for(lambda: account.health().resyncs >= 1, "the account's first resync")
        yield account


def ends_equal(account: Account, db: str, sandbox: Sandbox) -> None:
    """Stop the background trading; wait until the account equals the truth."""
    sandbox.stop_trading()
    history_in_the_past(sandbox)
    wait_equal(account, db, sandbox)


def away(sandbox: Sandbox, symbol: str, side: str, share: str = "0.05") -> str:
    """A limit price ``share`` away from the last price on the side that rests."""
    spec = sandbox.exchange.spec(symbol)
    assert spec is not None
    last, _, _ = sandbox.exchange.prices(symbol)
    factor = 1 - Decimal(share) if side == "Buy" else 1 + Decimal(share)
    return fmt((last * factor / spec.tick).to_integral_value() * spec.tick)


def by_link(sandbox: Sandbox, link: str) -> dict[str, object]:
    """The truth of the one order with this orderLinkId."""
    [order] = [o for o in sandbox.truth()["orders"].values() if o["orderLinkId"] == link]
    return order
