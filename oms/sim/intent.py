"""``Intent``: one ``order/create`` request read and checked field by field, before any
rule of the instrument or the account (``oms.sim.rules``) is applied.

What a field means follows Bybit's create-order page: ``price`` only for Limit, market
orders are IOC, ``triggerPrice`` makes a conditional order, ``takeProfit``/``stopLoss``
attach TP/SL (Full mode, market TP/SL: the modes the sandbox emulates), the slippage
tolerance only on market orders, ``marketUnit`` only on spot market orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from oms.sim.fields import PARAMS, Refused, flag, integer, link_id, number, text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from oms.sim.records import Order
    from oms.sim.specs import SymbolSpec
    from oms.sim.venue import TpSl

__all__ = ["Amend", "Intent", "read_amend", "read_create"]

SIDES: Final = ("Buy", "Sell")
ORDER_TYPES: Final = ("Market", "Limit")
TIME_IN_FORCE: Final = ("GTC", "IOC", "FOK", "PostOnly", "RPI")
TRIGGER_BY: Final = ("LastPrice", "MarkPrice", "IndexPrice")
#: slippageTolerance bounds per slippageToleranceType
_SLIPPAGE: Final = {
    "TickSize": (Decimal(1), Decimal(10000)),
    "Percent": (Decimal("0.01"), Decimal(10)),
}


@dataclass(frozen=True, slots=True)
class Intent:
    """What a create request asks for (fields in Bybit's names, read)."""

    side: str
    order_type: str
    qty: Decimal
    price: Decimal | None
    tif: str
    link_id: str
    position_idx: int
    reduce_only: bool
    close_on_trigger: bool
    trigger_price: Decimal | None
    #: 0 when not given
    trigger_direction: int
    trigger_by: str
    take_profit: Decimal | None
    stop_loss: Decimal | None
    tp_trigger_by: str
    sl_trigger_by: str
    #: (slippageToleranceType, slippageTolerance), or None
    slippage: tuple[str, Decimal] | None
    #: spot market orders: baseCoin or quoteCoin (a market buy is by value by default)
    market_unit: str

    @property
    def market(self) -> bool:
        return self.order_type == "Market"


def read_create(spec: SymbolSpec, request: Mapping[str, object]) -> Intent:
    """The request's fields, each checked (10001 names the field at fault)."""
    side = text(request, "side", allowed=SIDES)
    order_type = text(request, "orderType", allowed=ORDER_TYPES)
    qty = number(request, "qty")
    if not side or not order_type or qty is None:
        raise Refused(PARAMS, "params error: side, orderType and qty are required")
    price = number(request, "price") if order_type == "Limit" else None
    if order_type == "Limit" and price is None:
        raise Refused(PARAMS, "params error: price is required for a Limit order")
    tif = "IOC" if order_type == "Market" else text(
        request, "timeInForce", default="GTC", allowed=TIME_IN_FORCE
    )  # fmt: skip
    if tif == "RPI":
        raise Refused(170355 if spec.category == "spot" else 110119, "RPI orders not allowed")
    spot = spec.category == "spot"
    conditional = number(request, "triggerPrice") is not None
    if spot and (conditional or text(request, "orderFilter") not in ("", "Order")):
        raise Refused(PARAMS, "params error: the sandbox's spot pairs take plain orders only")
    intent = Intent(
        side=side, order_type=order_type, qty=qty, price=price, tif=tif,
        link_id=link_id(request),
        position_idx=0 if spot else integer(request, "positionIdx", default=0, allowed=(0, 1, 2)),
        reduce_only=not spot and flag(request, "reduceOnly"),
        close_on_trigger=not spot and flag(request, "closeOnTrigger"),
        trigger_price=number(request, "triggerPrice"),
        trigger_direction=integer(request, "triggerDirection", default=0, allowed=(0, 1, 2)),
        trigger_by=text(request, "triggerBy", default="LastPrice", allowed=TRIGGER_BY),
        take_profit=number(request, "takeProfit"), stop_loss=number(request, "stopLoss"),
        tp_trigger_by=text(request, "tpTriggerBy", default="LastPrice", allowed=TRIGGER_BY),
        sl_trigger_by=text(request, "slTriggerBy", default="LastPrice", allowed=TRIGGER_BY),
        slippage=_slippage(request, order_type), market_unit=_market_unit(spec, request, side),
    )  # fmt: skip
    _check_tpsl_fields(spec, request, intent)
    return intent


def _slippage(request: Mapping[str, object], order_type: str) -> tuple[str, Decimal] | None:
    kind = text(request, "slippageToleranceType", allowed=tuple(_SLIPPAGE))
    value = number(request, "slippageTolerance")
    if not kind and value is None:
        return None
    if order_type != "Market" or not kind or value is None:
        raise Refused(
            PARAMS, "params error: slippage tolerance is for market orders, type and value"
        )
    low, high = _SLIPPAGE[kind]
    whole = kind == "TickSize" and value != value.to_integral_value()
    if not low <= value <= high or whole or value != value.quantize(Decimal("0.01")):
        raise Refused(PARAMS, f"params error: slippageTolerance {value} out of range for {kind}")
    return kind, value


def _market_unit(spec: SymbolSpec, request: Mapping[str, object], side: str) -> str:
    unit = text(request, "marketUnit", allowed=("baseCoin", "quoteCoin"))
    if spec.category != "spot":
        return ""
    return unit or ("quoteCoin" if side == "Buy" else "baseCoin")


def _check_tpsl_fields(spec: SymbolSpec, request: Mapping[str, object], intent: Intent) -> None:
    """TP/SL in the one form the sandbox emulates: Full mode, market TP/SL, on an order
    that may open (not reduce-only), not on spot or conditional orders."""
    if intent.take_profit is None and intent.stop_loss is None:
        return
    if spec.category == "spot":
        raise Refused(PARAMS, "params error: the sandbox's spot orders take no TP/SL")
    if intent.reduce_only:
        raise Refused(PARAMS, "params error: TP/SL cannot be set on a reduce-only order")
    if intent.trigger_price is not None:
        raise Refused(110057, "Conditional order or limit order contains TP/SL related params")
    mode = text(request, "tpslMode", default="Full", allowed=("Full", "Partial"))
    kinds = (
        text(request, "tpOrderType", default="Market"),
        text(request, "slOrderType", default="Market"),
    )
    if mode != "Full" or kinds != ("Market", "Market"):
        raise Refused(
            PARAMS, "params error: the sandbox emulates tpslMode Full with market TP/SL only"
        )


@dataclass(frozen=True, slots=True)
class Amend:
    """What an amend changes (None: unchanged)."""

    qty: Decimal | None
    price: Decimal | None
    trigger: Decimal | None
    trigger_by: str | None
    tpsl: TpSl | None


def read_amend(o: Order, request: Mapping[str, object]) -> Amend:
    """The fields an amend changes; a value equal to the order's is no change, and an
    amend that changes nothing is refused with 34040. A market order's price is ignored
    (it has none to amend); a trigger price is amended only before the trigger."""
    qty, price = number(request, "qty"), number(request, "price")
    trigger = number(request, "triggerPrice")
    trigger_by = text(request, "triggerBy", allowed=TRIGGER_BY) or None
    if o.order_type == "Market":
        price = None
    if (trigger is not None or trigger_by) and o.status != "Untriggered":
        raise Refused(PARAMS, "params error: triggerPrice is amended before the trigger only")
    change = Amend(
        qty=None if qty == o.qty else qty, price=None if price == o.price else price,
        trigger=None if trigger == o.trigger else trigger,
        trigger_by=None if trigger_by == (o.trigger_by or "LastPrice") else trigger_by,
        tpsl=_amended_tpsl(o, request),
    )  # fmt: skip
    if change == Amend(None, None, None, None, None):
        raise Refused(34040, "order not modified")
    return change


def _amended_tpsl(o: Order, request: Mapping[str, object]) -> TpSl | None:
    """The order's TP/SL after the amend ("0" removes one), None when unchanged."""
    tp, sl = number(request, "takeProfit"), number(request, "stopLoss")
    tp_by = text(request, "tpTriggerBy", allowed=TRIGGER_BY)
    sl_by = text(request, "slTriggerBy", allowed=TRIGGER_BY)
    if tp is None and sl is None and not tp_by and not sl_by:
        return None
    if o.category == "spot" or o.reduce_only or o.stop_type:
        raise Refused(PARAMS, "params error: only a plain derivatives order carries TP/SL")
    tp = o.take_profit if tp is None else tp
    sl = o.stop_loss if sl is None else sl
    tp_by = (tp_by or o.tp_trigger_by or "LastPrice") if tp else ""
    sl_by = (sl_by or o.sl_trigger_by or "LastPrice") if sl else ""
    new = (tp, sl, tp_by, sl_by)
    return None if new == (o.take_profit, o.stop_loss, o.tp_trigger_by, o.sl_trigger_by) else new
