"""Each table's row <-> core-value mapping, once: the ``orders``, ``order_updates``,
``executions``, ``positions`` and ``events`` rows of one account built from core values
(in the driver's form: decimals as canonical text on SQLite, ``Decimal`` on PostgreSQL),
and core values read back from rows (``Order``, ``Fill``, a leg's ``PositionReport``, what
an outbox row announced).
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from oms.core.fills import Fill, FillSource
from oms.core.ledger import ANNOUNCING_EVENTS
from oms.core.orders import Order, Side
from oms.core.positions import LegKey, Opening, PositionReport
from oms.core.states import BY_WIRE_NAME
from oms.store.types import canonical

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Dialect, RowMapping

    from oms.core.events import Event
    from oms.core.ledger import Announced

Row = dict[str, Any]
_SIDES: Final = {s.value: s for s in Side}
#: ``wallets`` column -> the wire key of a wallet report (``oms.bybit.wire.WALLET``)
WALLET_COLUMNS: Final = {
    "total_equity": "totalEquity",
    "total_wallet_balance": "totalWalletBalance",
    "total_available_balance": "totalAvailableBalance",
    "total_initial_margin": "totalInitialMargin",
    "total_maintenance_margin": "totalMaintenanceMargin",
}
#: ``wallet_coins`` column -> the wire key of a coin (``oms.bybit.wire.WALLET_COIN``)
COIN_COLUMNS: Final = {
    "equity": "equity",
    "wallet_balance": "walletBalance",
    "unrealised_pnl": "unrealisedPnl",
    "cum_realised_pnl": "cumRealisedPnl",
    "locked": "locked",
}
#: The ``positions`` columns of a leg's newest report (``Rows._report_columns``).
_REPORT_COLUMNS: Final = (
    "side",
    "size",
    "net_qty",
    "entry_price",
    "mark_price",
    "unrealised_pnl",
    "cum_realised_pnl",
    "seq",
    "updated_time",
)
#: The ``events.type`` of each kind in ``ANNOUNCING_EVENTS``.
ANNOUNCING: Final = tuple(kind.__name__ for kind in ANNOUNCING_EVENTS)


def _json_default(value: object) -> object:
    """JSON for what json cannot write itself: decimals exactly, enums by wire name."""
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot put {type(value).__name__} in an event payload")


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(event: Event) -> tuple[str, ...]:
    kind = type(event)
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(event))
    return names


def event_json(event: Event) -> str:
    """An event's fields as JSON text: decimals as exact strings, enums as wire names."""
    return json.dumps(
        {name: getattr(event, name) for name in _field_names(event)},
        separators=(",", ":"),
        default=_json_default,
    )


class Rows:
    """The rows of one account in one database dialect, built from core values."""

    def __init__(self, dialect: Dialect, account: str) -> None:
        self.account = account
        self._pg = dialect.name == "postgresql"
        self._dec: Callable[[Decimal | None], Any] = (
            (lambda d: d) if self._pg else (lambda d: None if d is None else canonical(d))
        )

    def order_row(self, o: Order) -> Row:
        """The ``orders`` row of an order."""
        dec = self._dec
        return {
            "account": self.account,
            "order_id": o.order_id,
            "order_link_id": o.order_link_id,
            "category": o.category,
            "symbol": o.symbol,
            "side": o.side.value,
            "position_idx": o.position_idx,
            "order_type": o.order_type,
            "stop_order_type": o.stop_order_type,
            "status": o.status.value,
            "qty": dec(o.qty),
            "price": dec(o.price),
            "trigger_price": dec(o.trigger_price),
            "cum_exec_qty": dec(o.cum_exec_qty),
            "cum_exec_value": dec(o.cum_exec_value),
            "cum_exec_fee": dec(o.cum_exec_fee),
            "leaves_qty": dec(o.leaves_qty),
            "avg_price": dec(o.avg_price),
            "reduce_only": o.reduce_only,
            "create_type": o.create_type,
            "cancel_type": o.cancel_type,
            "reject_reason": o.reject_reason,
            "created_time": o.created_time,
            "updated_time": o.updated_time,
        }

    def order_update_row(
        self, previous: str | None, report: Order, outcome: str, frame_id: int | None
    ) -> Row:
        """An ``order_updates`` row."""
        return {
            "account": self.account,
            "order_id": report.order_id,
            "previous_status": previous,
            "status": report.status.value,
            "cum_exec_qty": self._dec(report.cum_exec_qty),
            "updated_time": report.updated_time,
            "frame_id": frame_id,
            "outcome": outcome,
        }

    def execution_row(self, f: Fill, frame_id: int | None) -> Row:
        """The ``executions`` row of a fill."""
        dec = self._dec
        return {
            "account": self.account,
            "exec_id": f.exec_id,
            "order_id": f.order_id,
            "order_link_id": f.order_link_id,
            "category": f.category,
            "symbol": f.symbol,
            "side": f.side.value,
            "exec_type": f.exec_type,
            "exec_qty": dec(f.exec_qty),
            "exec_price": dec(f.exec_price),
            "exec_value": dec(f.exec_value),
            "exec_fee": dec(f.exec_fee),
            "fee_rate": dec(f.fee_rate),
            "is_maker": f.is_maker,
            "closed_size": dec(f.closed_size),
            "exec_time": f.exec_time,
            "seq": f.seq,
            "frame_id": frame_id,
        }

    def position_row(
        self,
        key: LegKey,
        report: PositionReport | None,
        fills_net: Decimal,
        symbol_net: Decimal,
        opening: Opening | None = None,
    ) -> Row:
        """The ``positions`` row of a leg: its newest report (or None), the net derived
        from fills, the exact net of its symbol over all legs, and its opening balance."""
        dec = self._dec
        return {
            "account": self.account,
            "category": key.category,
            "symbol": key.symbol,
            "position_idx": key.position_idx,
            **self._report_columns(report),
            "fills_net_qty": dec(fills_net),
            "symbol_net_qty": dec(symbol_net),
            "opening_net_qty": None if opening is None else dec(opening.net_qty),
            "opening_seq": None if opening is None else opening.seq,
        }

    def _report_columns(self, report: PositionReport | None) -> Row:
        """The ``positions`` columns a leg's newest report fills (NULL without one)."""
        if report is None:
            return dict.fromkeys(_REPORT_COLUMNS)
        dec = self._dec
        return {
            "side": report.side.value if report.side else "",
            "size": dec(report.size),
            "net_qty": dec(report.net_qty),
            "entry_price": dec(report.entry_price),
            "mark_price": dec(report.mark_price),
            "unrealised_pnl": dec(report.unrealised_pnl),
            "cum_realised_pnl": dec(report.cum_realised_pnl),
            "seq": report.seq,
            "updated_time": report.updated_time,
        }

    def _wire_decimal(self, text: str) -> Any:  # noqa: ANN401 - the driver's form
        return self._dec(None if text == "" else Decimal(text))

    def wallet_rows(self, report: dict[str, Any], creation_time: int) -> tuple[Row, list[Row]]:
        """The ``wallets`` row and the ``wallet_coins`` rows of one wallet report given as
        its wire text (``{"accountType": ..., "totalEquity": "1.5", "coin": [...]}``):
        decimals exact, ``""`` as NULL."""
        account_type = report["accountType"]
        wallet: Row = {"account": self.account, "account_type": account_type}
        for column, key in WALLET_COLUMNS.items():
            wallet[column] = self._wire_decimal(report[key])
        wallet["creation_time"] = creation_time
        coins = []
        for coin in report["coin"]:
            row: Row = {"account": self.account, "account_type": account_type}
            row["coin"] = coin["coin"]
            row.update({c: self._wire_decimal(coin[k]) for c, k in COIN_COLUMNS.items()})
            coins.append(row)
        return wallet, coins

    def event_row(self, event: Event) -> Row:
        """An ``events`` (outbox) row."""
        return {
            "account": self.account,
            "type": type(event).__name__,
            "order_id": getattr(event, "order_id", None),
            "symbol": getattr(event, "symbol", None),
            "payload": event_json(event),
            "created_at": event.received_at,
        }


def take_announcement(
    announced: Announced, kind: str, order_id: str | None, payload: dict[str, Any]
) -> None:
    """One outbox row of an ``ANNOUNCING_EVENTS`` kind into ``announced`` (the payload
    holds the event's fields, see ``event_json``)."""
    if kind in ("PositionMismatch", "PositionMismatchResolved"):
        key = LegKey(payload["category"], payload["symbol"], int(payload["position_idx"]))
        announced.mismatch(key, resolved=kind == "PositionMismatchResolved")
    elif kind == "FillForUnknownOrder":
        announced.unknown_order_fills.add(payload["exec_id"])
    elif kind == "CancelRejected" and order_id is not None:
        announced.cancel_races.add(order_id)
    elif kind == "OverFilled" and order_id is not None:
        announced.overfilled.add(order_id)


def order_from_row(r: RowMapping) -> Order:
    return Order(
        order_id=r["order_id"],
        order_link_id=r["order_link_id"],
        category=r["category"],
        symbol=r["symbol"],
        side=_SIDES[r["side"]],
        position_idx=r["position_idx"],
        status=BY_WIRE_NAME[r["status"]],
        order_type=r["order_type"],
        stop_order_type=r["stop_order_type"],
        qty=r["qty"],
        price=r["price"],
        trigger_price=r["trigger_price"],
        cum_exec_qty=r["cum_exec_qty"],
        cum_exec_value=r["cum_exec_value"],
        cum_exec_fee=r["cum_exec_fee"],
        leaves_qty=r["leaves_qty"],
        avg_price=r["avg_price"],
        reduce_only=bool(r["reduce_only"]),
        time_in_force="",
        create_type=r["create_type"],
        cancel_type=r["cancel_type"],
        reject_reason=r["reject_reason"],
        created_time=r["created_time"],
        updated_time=r["updated_time"],
    )


def leg_from_row(r: RowMapping) -> tuple[PositionReport | None, LegKey]:
    """A ``positions`` row as (its newest report or None, the leg's key)."""
    key = LegKey(r["category"], r["symbol"], r["position_idx"])
    report = None
    if r["side"] is not None:
        report = PositionReport(
            category=key.category,
            symbol=key.symbol,
            position_idx=key.position_idx,
            side=_SIDES.get(r["side"]),
            size=r["size"],
            entry_price=r["entry_price"],
            mark_price=r["mark_price"],
            unrealised_pnl=r["unrealised_pnl"],
            cum_realised_pnl=r["cum_realised_pnl"],
            seq=r["seq"],
            updated_time=r["updated_time"],
        )
    return report, key


def opening_from_row(r: RowMapping) -> Opening | None:
    """A ``positions`` row's opening balance, if the leg has one."""
    if r["opening_seq"] is None:
        return None
    return Opening(r["opening_net_qty"], r["opening_seq"])


def fill_from_row(r: RowMapping) -> Fill:
    return Fill(
        exec_id=r["exec_id"],
        order_id=r["order_id"],
        order_link_id=r["order_link_id"],
        category=r["category"],
        symbol=r["symbol"],
        side=_SIDES[r["side"]],
        exec_type=r["exec_type"],
        exec_qty=r["exec_qty"],
        exec_price=r["exec_price"],
        exec_value=r["exec_value"],
        exec_fee=r["exec_fee"],
        fee_rate=r["fee_rate"],
        is_maker=r["is_maker"],
        closed_size=r["closed_size"],
        leaves_qty=None,
        exec_time=r["exec_time"],
        seq=r["seq"],
        # a copy without a fee came from execution.fast and may still be enriched
        source=FillSource.STREAM if r["exec_fee"] is not None else FillSource.FAST,
    )


def _wire_text(value: Decimal | None) -> str:
    return "" if value is None else canonical(value)


def wallet_from_rows(wallet: RowMapping, coins: list[RowMapping]) -> tuple[dict[str, Any], int]:
    """A stored wallet as (its report in wire text, as ``Rows.wallet_rows`` took it: each
    decimal as its canonical text, NULL as ``""``; its creation time)."""
    report: dict[str, Any] = {"accountType": wallet["account_type"]}
    report.update({key: _wire_text(wallet[c]) for c, key in WALLET_COLUMNS.items()})
    report["coin"] = [
        {"coin": coin["coin"], **{key: _wire_text(coin[c]) for c, key in COIN_COLUMNS.items()}}
        for coin in coins
    ]
    return report, int(wallet["creation_time"])
