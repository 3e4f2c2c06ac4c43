"""Wallets per accountType (persisted, restored, resynced), refused REST rows, and the
resync of every category, on a real database (SQLite file and PostgreSQL: ``db_url``).

The REST side is ``FakeRest``: a ``SnapshotSource`` serving rows made from the real
frames of ``tests/data/real`` (the sandbox's wallet-balance route comes with another
branch); everything else is the real pipeline, store and CLI."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from oms.core import events as ev
from oms.core.ledger import Outcome
from oms.runtime.outbox import read_events_from
from oms.runtime.pipeline import Pipeline
from oms.runtime.resync import RestRows, ResyncScope, fetch_snapshot
from tests.conftest import read_lines
from tests.store.conftest import oms_cli, rows

FRAMES = read_lines("real/frames.jsonl")
OPTION_ORDER = json.loads(FRAMES[6 - 1])  # an option order, Filled
SPOT_ORDER = json.loads(FRAMES[7 - 1])  # a spot order, Cancelled
EXECUTION = json.loads(FRAMES[9 - 1])  # a linear execution
POSITION = json.loads(FRAMES[17 - 1])  # a one-way linear position
WALLET = json.loads(FRAMES[18 - 1])  # UNIFIED


def _wallet_frame(account_type: str, creation: int, equity: str) -> str:
    frame = copy.deepcopy(WALLET)
    frame["creationTime"] = creation
    frame["data"][0].update(accountType=account_type, totalEquity=equity)
    return json.dumps(frame)


class FakeRest:
    """What the resync asks of the REST API, answered from rows given per category, and
    every call recorded."""

    def __init__(self, **rows_by_kind: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows_by_kind
        self.calls: list[tuple[str, str, str | None]] = []

    def _rows(self, kind: str, key: str) -> list[dict[str, Any]]:
        """The rows of ``key`` (a category: each row gets it, as ``RestClient`` copies
        the page's category onto its rows)."""
        found = copy.deepcopy(self.rows.get(kind, {}).get(key, []))
        return found if kind == "wallets" else [{**r, "category": key} for r in found]

    def cancel_retries(self) -> None:
        """Nothing is retried here."""

    def open_orders(
        self, category: str, *, settle_coin: str | None = None, symbol: str | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(("open_orders", category, settle_coin))
        return self._rows("orders", category)

    def recent_closed_orders(
        self, category: str, *, settle_coin: str | None = None, symbol: str | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(("closed_orders", category, settle_coin))
        return []

    def order_by_id(self, category: str, order_id: str) -> dict[str, Any] | None:
        self.calls.append(("order_by_id", category, order_id))
        return None

    def executions(
        self, category: str, *, start_ms: int, end_ms: int | None = None, symbol: str | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(("executions", category, None))
        return self._rows("executions", category)

    def positions(
        self, category: str, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[dict[str, Any]]:
        if category == "spot":
            raise AssertionError("spot has no positions")
        self.calls.append(("positions", category, symbol or settle_coin))
        return [r for r in self._rows("positions", category) if symbol in (None, r["symbol"])]

    def wallet_balance(self, account_type: str) -> list[dict[str, Any]]:
        self.calls.append(("wallet_balance", account_type, None))
        return self._rows("wallets", account_type)


def resync(pipeline: Pipeline, rest: FakeRest, scope: ResyncScope | None = None) -> list[ev.Event]:
    """One resync as the worker runs it; the events it caused."""
    fetched = fetch_snapshot(rest, RestRows(), pipeline, scope or ResyncScope())
    batch = pipeline.reconcile(fetched.snapshot, raw=fetched.raw, wallets=fetched.wallets)
    return batch.events


def _order_row(frame: dict[str, Any], **changes: Any) -> dict[str, Any]:
    row = {**frame["data"][0], **changes}
    del row["category"]  # REST puts it on the page
    return row


# --- wallets per accountType -------------------------------------------------------------


def test_each_account_type_keeps_its_newest_wallet(db_url):
    with Pipeline(db_url) as service:
        assert service.feed(_wallet_frame("UNIFIED", 2000, "10")).outcome is Outcome.APPLIED
        # older than the UNIFIED report, but the first of its accountType: kept
        assert service.feed(_wallet_frame("CONTRACT", 1000, "5")).outcome is Outcome.APPLIED
        assert service.feed(_wallet_frame("UNIFIED", 1500, "9")).outcome is Outcome.STALE
        held = service.ledger.wallet()
        assert (held["UNIFIED"].totalEquity, held["CONTRACT"].totalEquity) == ("10", "5")


def test_wallets_are_stored_exactly_and_restored_with_their_clocks(db_url, engine):
    equity = "123456789012345678901234.123456789012345678"
    with Pipeline(db_url) as service:
        service.feed(_wallet_frame("UNIFIED", 2000, equity))
        service.feed(_wallet_frame("CONTRACT", 1000, "0.10"))
    stored = rows(engine, "SELECT * FROM wallets ORDER BY account_type")
    assert [(r["account_type"], Decimal(str(r["total_equity"]))) for r in stored] == [
        ("CONTRACT", Decimal("0.1")),
        ("UNIFIED", Decimal(equity)),
    ]
    coins = rows(engine, "SELECT * FROM wallet_coins WHERE account_type = 'UNIFIED'")
    assert sorted(c["coin"] for c in coins) == sorted(c["coin"] for c in WALLET["data"][0]["coin"])
    with Pipeline(db_url) as again:
        held = again.ledger.wallet()
        assert Decimal(held["UNIFIED"].totalEquity) == Decimal(equity)
        restored = {c.coin: Decimal(c.walletBalance) for c in held["UNIFIED"].coin}
        sent = {c["coin"]: Decimal(c["walletBalance"]) for c in WALLET["data"][0]["coin"]}
        assert restored == sent  # (coins come back by name)
        assert Decimal(held["CONTRACT"].totalEquity) == Decimal("0.1")
        # the clock came back: an older report is still stale after the restart
        assert again.feed(_wallet_frame("UNIFIED", 1999, "1")).outcome is Outcome.STALE
        assert again.feed(_wallet_frame("UNIFIED", 2001, "2")).outcome is Outcome.APPLIED
    with Pipeline(db_url) as third:
        assert third.ledger.wallet()["UNIFIED"].totalEquity == "2"


def test_a_resync_fetches_every_account_types_wallet_and_stores_it(db_url, engine):
    unified = {**WALLET["data"][0], "totalEquity": "77.5", "totalInitialMargin": None}
    contract = {**WALLET["data"][0], "accountType": "CONTRACT", "totalEquity": "3"}
    rest = FakeRest(wallets={"UNIFIED": [unified], "CONTRACT": [contract]})
    with Pipeline(db_url) as service:
        service.feed(_wallet_frame("CONTRACT", 1000, "1"))  # seen: resynced too
        events = resync(service, rest)
        held = service.ledger.wallet()
        assert (held["UNIFIED"].totalEquity, held["CONTRACT"].totalEquity) == ("77.5", "3")
        assert held["UNIFIED"].totalInitialMargin == ""  # null: empty
    assert {c[1] for c in rest.calls if c[0] == "wallet_balance"} == {"UNIFIED", "CONTRACT"}
    done = [e for e in events if isinstance(e, ev.ResyncCompleted)]
    assert done[-1].refused == 0
    stored = rows(engine, "SELECT account_type, total_equity, total_initial_margin FROM wallets")
    found = {r["account_type"]: r for r in stored}
    assert Decimal(str(found["UNIFIED"]["total_equity"])) == Decimal("77.5")
    assert found["UNIFIED"]["total_initial_margin"] is None  # empty: NULL
    assert Decimal(str(found["CONTRACT"]["total_equity"])) == Decimal(3)


# --- refused rows --------------------------------------------------------------------------


def test_a_rest_row_that_cannot_be_converted_is_announced_and_counted(db_url, engine):
    good = _order_row(OPTION_ORDER, avgPrice=None, triggerPrice=None)  # nulls: empty
    bad = _order_row(OPTION_ORDER, orderId="bad-1", orderLinkId="link-1", qty=None)
    bad_fill = {**EXECUTION["data"][0], "execPrice": "1e999"}
    rest = FakeRest(orders={"option": [good, bad]}, executions={"linear": [bad_fill]})
    with Pipeline(db_url) as service:
        events = resync(service, rest, ResyncScope(categories=("linear", "option")))
        assert service.stored_order(good["orderId"]) is not None  # nothing else lost
        assert service.stored_order("bad-1") is None
    refused = [e for e in events if isinstance(e, ev.RestRowRefused)]
    assert [(e.endpoint, e.order_id, e.order_link_id, e.category) for e in refused] == [
        ("/v5/order/realtime", "bad-1", "link-1", "option"),
        ("/v5/execution/list", bad_fill["orderId"], bad_fill["orderLinkId"], "linear"),
    ]
    assert refused[1].exec_id == bad_fill["execId"]
    assert "qty" in refused[0].reason
    assert "not null" in refused[0].reason
    assert "execPrice" in refused[1].reason
    done = [e for e in events if isinstance(e, ev.ResyncCompleted)]
    assert (done[-1].refused, done[-1].orders_new) == (2, 1)
    outbox = [e for e in read_events_from(engine) if e.type == "RestRowRefused"]
    assert [(e.order_id, e.payload["endpoint"], e.payload["exec_id"]) for e in outbox] == [
        ("bad-1", "/v5/order/realtime", ""),
        (bad_fill["orderId"], "/v5/execution/list", bad_fill["execId"]),
    ]


def test_subscribers_hear_refused_rows_after_their_commit(db_url):
    heard: list[ev.Event] = []
    bad = _order_row(SPOT_ORDER, side=None)
    with Pipeline(db_url) as service:
        service.subscribe(heard.append)
        resync(service, FakeRest(orders={"spot": [bad]}), ResyncScope(categories=("spot",)))
    (refused,) = [e for e in heard if isinstance(e, ev.RestRowRefused)]
    assert (refused.symbol, refused.order_id) == (bad["symbol"], bad["orderId"])
    assert [e.refused for e in heard if isinstance(e, ev.ResyncCompleted)] == [1]


# --- every category --------------------------------------------------------------------------


def test_the_resync_covers_every_category_seen_and_spot_has_no_positions(db_url):
    option = _order_row(OPTION_ORDER)
    spot = _order_row(SPOT_ORDER)
    position = {**POSITION["data"][0]}
    position["avgPrice"] = position.pop("entryPrice")
    rest = FakeRest(orders={"option": [option], "spot": [spot]}, positions={"linear": [position]})
    with Pipeline(db_url) as service:
        service.feed(FRAMES[7 - 1])  # a spot order on the stream: spot is traded
        resync(service, rest, ResyncScope(categories=("linear", "option")))
        assert service.stored_order(option["orderId"]).category == "option"  # type: ignore[union-attr]
        assert service.stored_order(spot["orderId"]).category == "spot"  # type: ignore[union-attr]
        (report,) = service.ledger.position_reports()
        assert (report.category, report.symbol) == ("linear", position["symbol"])
    asked = {(kind, category) for kind, category, _ in rest.calls}
    for category in ("linear", "option", "spot"):
        assert ("open_orders", category) in asked
        assert ("executions", category) in asked
    assert ("positions", "option") in asked
    assert ("positions", "spot") not in asked
    # settle coins scope linear only: the other categories are asked for whole
    coins = {(c, coin) for kind, c, coin in rest.calls if kind == "open_orders"}
    assert coins == {("linear", "USDT"), ("option", None), ("spot", None)}


def test_categories_in_the_store_are_resynced_after_a_restart(db_url):
    with Pipeline(db_url) as service:
        service.feed(FRAMES[7 - 1])  # spot
    linear_only = ResyncScope(categories=("linear",))  # spot comes from the store alone
    rest = FakeRest()
    with Pipeline(db_url, keep_terminal_orders=0) as again:
        resync(again, rest, linear_only)
    assert ("open_orders", "spot", None) in rest.calls
    rest = FakeRest()
    with Pipeline(db_url) as again:
        resync(again, rest, ResyncScope(categories=("linear",), seen_categories=False))
    assert {c for kind, c, _ in rest.calls if kind == "open_orders"} == {"linear"}
    rest = FakeRest()
    with Pipeline(db_url) as again:
        resync(again, rest)  # the default: every category
    assert {c for kind, c, _ in rest.calls if kind == "open_orders"} == {
        "linear",
        "inverse",
        "spot",
        "option",
    }


# --- oms inspect wallet ----------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_inspect_wallet_shows_each_coin_of_each_account_type(db_url, tmp_path):
    with Pipeline(db_url) as service:
        service.feed(_wallet_frame("UNIFIED", 2000, "10.25"))
        service.feed(_wallet_frame("CONTRACT", 1000, "5"))
    done = oms_cli("inspect", "wallet", "--db", db_url)
    assert done.returncode == 0, done.stderr
    coin = WALLET["data"][0]["coin"][0]
    lines = [line for line in done.stdout.splitlines() if coin["coin"] in line]
    assert len(lines) == 2
    assert "UNIFIED" in done.stdout
    assert "CONTRACT" in done.stdout
    assert "10.25" in done.stdout
    shown = 2 * len(WALLET["data"][0]["coin"])
    assert f"wallet ({shown} coins shown)" in done.stdout
