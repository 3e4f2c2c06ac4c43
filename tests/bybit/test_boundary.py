"""The wire boundary, rule by rule, on copies of the real frames of ``tests/data/real``:
positionIdx in {0, 1, 2}; seq a signed 64-bit integer; times at most 14 ASCII digits (the
envelope's creationTime too); decimal text within 24 digits before the point and 18
after; null refused where a value is required, and read as "" where a field may be empty;
input that is not text refused; the last of two equal keys wins. Every refusal is a
``MalformedFrame`` naming the element and the field, on both paths (one pass and element
by element), and the REST rows follow the same rules."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

import pydantic_core
import pytest

from oms import Ledger, MalformedFrame, MalformedFrameError, Outcome
from oms.bybit import codec
from oms.bybit.decode import decode, excerpt
from oms.bybit.messages import MAX_MILLIS, MILLIS_RULE, SEQ_MAX, SEQ_MIN
from oms.bybit.rest import fill_from_rest, order_from_rest, position_from_rest
from oms.core.positions import LegKey
from tests.bybit.general_ledger import GeneralLedger
from tests.conftest import read_lines

if TYPE_CHECKING:
    from oms.bybit.ledger import FrameResult

FRAMES = read_lines("real/frames.jsonl")
SPOT_ORDER = FRAMES[6 - 1]  # line 6: an option order, Filled
EXECUTION = FRAMES[9 - 1]  # a linear execution with a seq
FAST = FRAMES[15 - 1]  # execution.fast
POSITION = FRAMES[17 - 1]  # a one-way linear position, positionIdx 0
HEDGE_POSITION = FRAMES[16 - 1]  # a flat hedge-mode leg, positionIdx 2
WALLET = FRAMES[18 - 1]


def copy(line: str, *, envelope: dict[str, Any] | None = None, **element: Any) -> str:
    """``line`` with its first element's fields (and envelope keys) replaced."""
    tree = json.loads(line)
    tree["data"][0] = {**tree["data"][0], **element}
    tree.update(envelope or {})
    return json.dumps(tree, separators=(",", ":"), ensure_ascii=False)


def both(text: Any, *history: str) -> tuple[FrameResult, Ledger]:
    """``text`` through the usual ledger and one that goes element by element, after
    ``history``: the same result on both (then the usual one's)."""
    fast, general = Ledger(), GeneralLedger()
    for i, line in enumerate(history):
        fast.feed(line, received_at=i)
        general.feed(line, received_at=i)
    got, want = fast.feed(text, received_at=99), general.feed(text, received_at=99)
    assert (got.outcome, [repr(e) for e in got.events]) == (
        want.outcome,
        [repr(e) for e in want.events],
    )
    assert [repr(r) for r in fast.position_reports()] == [
        repr(r) for r in general.position_reports()
    ]
    assert [repr(o) for o in fast.orders()] == [repr(o) for o in general.orders()]
    assert [repr(f) for f in fast.fills()] == [repr(f) for f in general.fills()]
    return got, fast


def refused(text: Any, field: str, *history: str) -> tuple[MalformedFrame, Ledger]:
    """``text`` is refused (on both paths) by its first element's ``field``."""
    result, ledger = both(text, *history)
    assert result.outcome is Outcome.MALFORMED
    (event,) = [e for e in result.events if isinstance(e, MalformedFrame)]
    assert event.index == 0
    assert event.reason.startswith(f"{field}: "), event.reason
    return event, ledger


def accepted(text: Any, *history: str) -> Ledger:
    result, ledger = both(text, *history)
    assert result.outcome is Outcome.APPLIED, result.events
    return ledger


def test_the_real_frames_used_here_are_what_the_tests_say():
    assert json.loads(POSITION)["data"][0]["positionIdx"] == 0
    assert json.loads(HEDGE_POSITION)["data"][0]["positionIdx"] == 2
    assert json.loads(EXECUTION)["data"][0]["seq"] == 4688002127
    for line in (SPOT_ORDER, EXECUTION, FAST, POSITION, HEDGE_POSITION, WALLET):
        accepted(line)


# --- positionIdx --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [3, -1, 2**31, 2**31 - 1, 2**63, 10**30, "1", 1.0, True, None])
@pytest.mark.parametrize("line", [POSITION, SPOT_ORDER], ids=["position", "order"])
def test_position_idx_outside_0_1_2_is_refused_and_makes_no_leg(line, value):
    _, ledger = refused(copy(line, positionIdx=value), "positionIdx")
    assert ledger.legs() == {}
    assert ledger.orders() == []


@pytest.mark.parametrize("value", [0, 1, 2])
def test_position_idx_0_1_2_are_the_legs(value):
    ledger = accepted(copy(POSITION, positionIdx=value))
    assert [key.position_idx for key in ledger.legs()] == [value]


def test_a_poisoned_leg_among_good_ones_makes_no_phantom_leg():
    tree = json.loads(POSITION)
    good = tree["data"][0]
    tree["data"] = [{**good, "positionIdx": 3}, good]
    text = json.dumps(tree)
    result, ledger = both(text)
    assert result.outcome is Outcome.MALFORMED
    assert [e.index for e in result.events if isinstance(e, MalformedFrame)] == [0]
    assert list(ledger.legs()) == [LegKey("linear", good["symbol"], 0)]


# --- seq ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [SEQ_MAX + 1, SEQ_MIN - 1, 10**30, "5", 5.0, True, None, []])
def test_a_position_seq_outside_64_bits_or_not_an_integer_is_refused(value):
    refused(copy(POSITION, seq=value), "seq")


@pytest.mark.parametrize("value", [SEQ_MAX + 1, SEQ_MIN - 1, 10**30, "5", 5.0, False])
@pytest.mark.parametrize("line", [EXECUTION, FAST], ids=["execution", "fast"])
def test_an_execution_seq_outside_64_bits_or_not_an_integer_is_refused(line, value):
    refused(copy(line, seq=value), "seq")


@pytest.mark.parametrize("value", [SEQ_MAX, SEQ_MIN, -1, 0])
def test_seq_takes_every_signed_64_bit_integer(value):
    ledger = accepted(copy(POSITION, seq=value))
    assert [r.seq for r in ledger.position_reports()] == [value]


def test_an_execution_seq_may_be_null_or_missing():
    assert accepted(copy(EXECUTION, seq=None)).fills()[0].seq is None
    tree = json.loads(EXECUTION)
    del tree["data"][0]["seq"]
    assert accepted(json.dumps(tree)).fills()[0].seq is None


def test_a_copy_with_a_huge_seq_does_not_freeze_the_leg():
    """The attack: a copy "newer" than everything after it. Refused, the leg goes on."""
    size = json.loads(POSITION)["data"][0]["size"]
    poisoned = copy(POSITION, seq=10**30, size="999")
    later = copy(POSITION, seq=204960166473, size="0.5", updatedTime="1746518134999")
    _, ledger = refused(poisoned, "seq", POSITION)
    assert ledger.position_reports()[0].size == Decimal(size)
    assert ledger.feed(later, received_at=100).outcome is Outcome.APPLIED
    assert ledger.position_reports()[0].size == Decimal("0.5")


# --- times --------------------------------------------------------------------------------

_BAD_TIMES = [
    "1" * 30,
    "1" * 15,
    str(MAX_MILLIS + 1),
    MAX_MILLIS + 1,
    10**30,
    -1,
    "-1",
    "\u00b2",  # superscript two: str.isdigit() says True
    "167236426245\u00b2",
    "\u0661\u0666\u0667",  # Arabic-Indic digits
    "\uff11\uff16\uff17",  # fullwidth digits
    " 1672364262457",
    "1672364262457 ",
    "+1672364262457",
    "1_672_364_262_457",
    "1672364262457.0",
    "1e12",
    1672364262457.0,
    True,
    [],
    {},
]


@pytest.mark.parametrize("value", _BAD_TIMES)
@pytest.mark.parametrize(
    ("line", "field"),
    [
        (SPOT_ORDER, "updatedTime"),
        (SPOT_ORDER, "createdTime"),
        (EXECUTION, "execTime"),
        (FAST, "execTime"),
        (POSITION, "updatedTime"),
    ],
)
def test_a_time_that_is_not_at_most_14_ascii_digits_is_refused(line, field, value):
    event, _ = refused(copy(line, **{field: value}), field)
    assert MILLIS_RULE in event.reason


@pytest.mark.parametrize(
    ("value", "millis"),
    [("99999999999999", MAX_MILLIS), (MAX_MILLIS, MAX_MILLIS), ("0", 0), (0, 0), ("", 0)],
)
def test_a_time_of_at_most_14_ascii_digits_is_taken(value, millis):
    ledger = accepted(copy(SPOT_ORDER, updatedTime=value))
    assert ledger.orders()[0].updated_time == millis


def test_leading_zeros_are_ascii_digits_too():
    ledger = accepted(copy(SPOT_ORDER, updatedTime="00001672364262457"[-14:]))
    assert ledger.orders()[0].updated_time == int("00001672364262457"[-14:])


def test_a_copy_with_a_far_future_time_does_not_freeze_the_order():
    poisoned = copy(SPOT_ORDER, updatedTime="9" * 30, orderStatus="Cancelled")
    _, ledger = refused(poisoned, "updatedTime")
    assert ledger.orders() == []
    assert ledger.feed(SPOT_ORDER, received_at=100).outcome is Outcome.APPLIED


@pytest.mark.parametrize(
    "value", ["\u00b2", "1" * 15, MAX_MILLIS + 1, -1, "", " 1", "1.0", 1.5, True, None, [], {}]
)
@pytest.mark.parametrize(
    "line", [SPOT_ORDER, POSITION, WALLET], ids=["order", "position", "wallet"]
)
def test_a_creation_time_that_is_not_at_most_14_ascii_digits_refuses_the_frame(line, value):
    text = copy(line, envelope={"creationTime": value})
    result, ledger = both(text)
    assert result.outcome is Outcome.MALFORMED
    (event,) = result.events
    assert isinstance(event, MalformedFrame)
    assert event.index is None
    assert event.reason.startswith("creationTime: ")
    assert MILLIS_RULE in event.reason
    assert (ledger.orders(), ledger.legs(), ledger.wallet()) == ([], {}, {})


@pytest.mark.parametrize("value", ["1672364262474", 1672364262474, MAX_MILLIS, 0])
def test_a_creation_time_of_at_most_14_ascii_digits_is_taken(value):
    accepted(copy(SPOT_ORDER, envelope={"creationTime": value}))


# --- decimals -----------------------------------------------------------------------------

_TAKEN_NUMBERS = [
    "9" * 24,
    "0." + "0" * 17 + "1",
    "9" * 24 + "." + "9" * 18,
    "." + "9" * 18,
    "1e99",
    "9" * 24 + "." + "9" * 18 + "E-99",
    "0.10",
    "1E+2",
]
_REFUSED_NUMBERS = [
    "9" * 25,
    "0." + "0" * 18 + "1",
    "." + "9" * 19,
    "1e100",
    "1e-100",
    "1E+999",
    "1e",
    "NaN",
    "Infinity",
    "\u00b2",
    "1\u0661",
    "\uff11",
    " 1",
    "+1",
    "1_0",
    1.5,
    7,
    True,
]


@pytest.mark.parametrize("value", _TAKEN_NUMBERS)
def test_decimal_text_within_24_digits_before_and_18_after_the_point_is_taken(value):
    ledger = accepted(copy(SPOT_ORDER, price=value))
    assert ledger.orders()[0].price == Decimal(value)
    assert ledger.orders()[0].price.as_tuple() == Decimal(value).as_tuple()


@pytest.mark.parametrize("value", _REFUSED_NUMBERS)
@pytest.mark.parametrize(
    ("line", "field"),
    [
        (SPOT_ORDER, "price"),
        (SPOT_ORDER, "qty"),
        (SPOT_ORDER, "cumExecQty"),
        (EXECUTION, "execQty"),
        (EXECUTION, "execFee"),
        (FAST, "execPrice"),
        (POSITION, "size"),
        (POSITION, "unrealisedPnl"),
    ],
)
def test_other_decimal_text_is_refused(line, field, value):
    refused(copy(line, **{field: value}), field)


def test_a_wallet_number_out_of_bounds_refuses_its_account():
    tree = json.loads(WALLET)
    tree["data"][0]["totalEquity"] = "9" * 25
    result, ledger = both(json.dumps(tree))
    assert result.outcome is Outcome.MALFORMED
    assert [e.index for e in result.events if isinstance(e, MalformedFrame)] == [0]
    assert ledger.wallet() == {}


# --- null ---------------------------------------------------------------------------------

_MUST_HOLD_A_VALUE = {
    "order": (
        SPOT_ORDER,
        ["symbol", "orderId", "side", "positionIdx", "orderStatus", "qty", "cumExecQty",
         "reduceOnly"],
    ),
    "execution": (
        EXECUTION,
        ["symbol", "execId", "side", "execType", "execQty", "execPrice"],
    ),
    "position": (POSITION, ["symbol", "positionIdx", "size", "seq"]),
}  # fmt: skip


@pytest.mark.parametrize(
    ("line", "field"),
    [(line, field) for line, fields in _MUST_HOLD_A_VALUE.values() for field in fields],
)
def test_null_in_a_field_that_must_hold_a_value_is_malformed(line, field):
    event, _ = refused(copy(line, **{field: None}), field)
    assert "not null (got None)" in event.reason


_MAY_BE_EMPTY = {
    "order": (
        SPOT_ORDER,
        ["category", "orderLinkId", "orderType", "stopOrderType", "price", "triggerPrice",
         "cumExecValue", "cumExecFee", "leavesQty", "avgPrice", "timeInForce", "createType",
         "cancelType", "rejectReason", "createdTime", "updatedTime"],
    ),
    "execution": (
        EXECUTION,
        ["category", "orderId", "orderLinkId", "execValue", "execFee", "feeRate",
         "closedSize", "leavesQty", "execTime"],
    ),
    "fast": (FAST, ["category", "orderId", "orderLinkId", "execTime"]),
    "position": (
        POSITION,
        ["category", "entryPrice", "markPrice", "unrealisedPnl", "cumRealisedPnl",
         "updatedTime"],
    ),
}  # fmt: skip


def _core(ledger: Ledger) -> tuple[object, ...]:
    return (ledger.orders(), ledger.fills(), ledger.position_reports())


@pytest.mark.parametrize(
    ("line", "field"),
    [(line, field) for line, fields in _MAY_BE_EMPTY.values() for field in fields],
)
def test_null_in_a_field_that_may_be_empty_is_empty(line, field):
    """On both paths, ``null`` does exactly what ``""`` does (the fast path refuses the
    frame, and the element-by-element path reads the null as "")."""
    as_null = accepted(copy(line, **{field: None}))
    as_empty = accepted(copy(line, **{field: ""}))
    assert _core(as_null) == _core(as_empty)


def test_null_is_empty_in_a_flat_position_side():
    tree = json.loads(POSITION)
    tree["data"][0].update(side=None, size="0")
    report = accepted(json.dumps(tree)).position_reports()[0]
    assert (report.side, report.size) == (None, Decimal(0))


def test_a_null_side_with_a_size_is_still_refused_saying_why():
    event, _ = refused(copy(POSITION, side=None), "size")
    assert "empty side" in event.reason


def test_null_numbers_in_a_wallet_are_empty_and_a_null_coin_name_is_refused():
    tree = json.loads(WALLET)
    account = tree["data"][0]
    account["totalInitialMargin"] = None
    account["coin"][0]["locked"] = None
    wallet = accepted(json.dumps(tree)).wallet()[account["accountType"]]
    assert (wallet.totalInitialMargin, wallet.coin[0].locked) == ("", "")
    account["coin"][0]["coin"] = None
    result, ledger = both(json.dumps(tree))
    assert result.outcome is Outcome.MALFORMED
    assert "coin.0.coin" in result.events[0].reason  # type: ignore[attr-defined]
    assert ledger.wallet() == {}


@pytest.mark.parametrize("field", ["id", "topic", "data"])
def test_null_in_the_envelope_refuses_the_frame(field):
    result, _ = both(copy(SPOT_ORDER, envelope={field: None}))
    assert result.outcome is Outcome.MALFORMED
    assert result.events[0].reason  # type: ignore[attr-defined]


def test_null_is_the_unknown_value_of_is_maker_and_an_executions_seq():
    fill = accepted(copy(EXECUTION, isMaker=None, seq=None)).fills()[0]
    assert (fill.is_maker, fill.seq) == (None, None)


# --- strict JSON types --------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, "true", "false", "", 1.0])
@pytest.mark.parametrize(("line", "field"), [(SPOT_ORDER, "reduceOnly"), (EXECUTION, "isMaker")])
def test_a_bool_field_takes_only_json_booleans(line, field, value):
    refused(copy(line, **{field: value}), field)


# --- input that is not text ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        [json.loads(POSITION)],  # a parsed frame in a list: not a frame
        5,
        None,
        [],
        1.5,
        Decimal(1),
        ("x",),
        object(),
    ],
    ids=lambda v: type(v).__name__,
)
def test_input_that_is_not_text_is_a_malformed_frame_naming_its_type(value):
    for method in ("apply_frame", "feed", "ingest"):
        ledger = Ledger()
        got = getattr(ledger, method)(value, received_at=1)
        events = got if method == "apply_frame" else got.events
        (event,) = events
        assert isinstance(event, MalformedFrame)
        assert event.reason.startswith(f"not text but {type(value).__name__}")
        assert event.index is None
        assert event.excerpt  # a bounded repr of what it got
        assert len(event.excerpt) <= 123
        assert ledger.stats["malformed"] == ledger.stats["frames"] == 1
    with pytest.raises(MalformedFrameError, match="not text"):
        decode(value)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_bytearray_and_memoryview_are_text(wrap):
    ledger = accepted(wrap(POSITION.encode()))
    assert ledger.position_reports() == accepted(POSITION).position_reports()


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_that_are_not_utf8_are_malformed(wrap):
    raw = POSITION.encode().replace(b"linear", b"lin\xffear")
    result, _ = both(wrap(raw))
    assert result.outcome is Outcome.MALFORMED
    assert result.events[0].reason.startswith("not JSON")  # type: ignore[attr-defined]


def test_an_excerpt_of_anything_is_short_and_printable():
    assert "..." in excerpt({"a": "x" * 10_000})
    assert len(excerpt({"a": "x" * 10_000})) <= 123
    assert len(excerpt(list(range(100_000)))) <= 123
    assert excerpt(bytearray(b"\xff" * 1000)).startswith("\ufffd")
    assert len(excerpt(memoryview(b"x" * 1000))) == 123
    assert excerpt(b"\xe2\x82\xac" * 200) == "\u20ac" * 120 + "..."
    assert excerpt("ab") == "ab"


# --- duplicate keys: the last one wins ----------------------------------------------------


def test_json_parsers_let_the_last_of_two_equal_keys_win():
    """The documented choice rests on this: both parsers keep the last value."""
    text = '{"a":1,"a":2}'
    assert pydantic_core.from_json(text) == json.loads(text) == {"a": 2}


def _repeated(line: str, key: str, first: object, last: object) -> str:
    held = f'"{key}":{json.dumps(json.loads(line)["data"][0][key])}'
    assert held in line
    return line.replace(held, f'"{key}":{json.dumps(first)},"{key}":{json.dumps(last)}', 1)


def test_a_repeated_key_takes_its_last_value_on_both_paths():
    ledger = accepted(_repeated(POSITION, "positionIdx", 3, 1))
    assert [key.position_idx for key in ledger.legs()] == [1]
    refused(_repeated(POSITION, "positionIdx", 1, 3), "positionIdx")
    refused(_repeated(POSITION, "seq", 5, 10**30), "seq")
    accepted(_repeated(POSITION, "seq", 10**30, 5))
    refused(_repeated(SPOT_ORDER, "updatedTime", "1672364262457", "\u00b2"), "updatedTime")
    accepted(_repeated(SPOT_ORDER, "updatedTime", "\u00b2", "1672364262457"))


def test_a_repeated_envelope_key_takes_its_last_value_on_both_paths():
    good = '"creationTime":1672364262474'
    assert good in SPOT_ORDER
    accepted(SPOT_ORDER.replace(good, '"creationTime":"\u00b2",' + good, 1))
    result, _ = both(SPOT_ORDER.replace(good, good + ',"creationTime":"\u00b2"', 1))
    assert result.outcome is Outcome.MALFORMED


# --- the one-pass path applies the same rules ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        copy(POSITION, positionIdx=3),
        copy(POSITION, seq=2**63),
        copy(SPOT_ORDER, updatedTime="\u00b2"),
        copy(SPOT_ORDER, createdTime=" 1"),
        copy(EXECUTION, execTime="1" * 15),
        copy(SPOT_ORDER, qty="9" * 25),
        copy(SPOT_ORDER, reduceOnly=1),
        copy(SPOT_ORDER, envelope={"creationTime": "\u00b2"}),
    ],
)
def test_the_one_pass_validator_refuses_what_the_models_refuse(text):
    with pytest.raises(ValueError, match="validation error"):
        codec.FRAMES.validate_json(text)


# --- REST rows follow the same rules ------------------------------------------------------


def _rest_order(**changes: Any) -> dict[str, Any]:
    return {**json.loads(SPOT_ORDER)["data"][0], **changes}


def _rest_execution(**changes: Any) -> dict[str, Any]:
    return {**json.loads(EXECUTION)["data"][0], **changes}


def _rest_position(**changes: Any) -> dict[str, Any]:
    row = json.loads(POSITION)["data"][0]
    row["avgPrice"] = row.pop("entryPrice")  # REST's name
    return {**row, **changes}


@pytest.mark.parametrize(
    ("convert", "row", "field"),
    [
        (order_from_rest, _rest_order(positionIdx=3), "positionIdx"),
        (order_from_rest, _rest_order(updatedTime="1" * 30), "updatedTime"),
        (order_from_rest, _rest_order(createdTime="\u00b2"), "createdTime"),
        (order_from_rest, _rest_order(qty="9" * 25), "qty"),
        (order_from_rest, _rest_order(reduceOnly="false"), "reduceOnly"),
        (order_from_rest, _rest_order(orderId=None), "orderId"),
        (order_from_rest, _rest_order(orderStatus=None), "orderStatus"),
        (fill_from_rest, _rest_execution(seq=2**63), "seq"),
        (fill_from_rest, _rest_execution(execTime=10**14), "execTime"),
        (fill_from_rest, _rest_execution(isMaker=0), "isMaker"),
        (position_from_rest, _rest_position(positionIdx=2**31), "positionIdx"),
        (position_from_rest, _rest_position(seq=-(2**63) - 1), "seq"),
        (position_from_rest, _rest_position(seq=None), "seq"),
        (position_from_rest, _rest_position(size=None), "size"),
        (position_from_rest, _rest_position(avgPrice="1e100"), "entryPrice"),
    ],
)
def test_rest_rows_follow_the_wire_rules(convert, row, field):
    with pytest.raises(MalformedFrameError) as info:
        convert(row, category="linear")
    assert f"row: {field}: " in info.value.reason


def test_a_rest_row_without_a_category_takes_the_pages():
    assert order_from_rest(_rest_order(category=""), category="spot").category == "spot"
    assert order_from_rest(_rest_order(category=None), category="spot").category == "spot"
    row = _rest_order()
    del row["category"]
    assert order_from_rest(row, category="spot").category == "spot"


def test_a_rest_position_takes_avg_price_only_for_a_missing_or_empty_entry_price():
    assert position_from_rest(_rest_position(), category="linear").entry_price == Decimal(
        json.loads(POSITION)["data"][0]["entryPrice"]
    )
    given = position_from_rest(_rest_position(entryPrice="5"), category="linear")
    assert given.entry_price == Decimal(5)
    empty = position_from_rest(_rest_position(entryPrice="", avgPrice="7"), category="linear")
    assert empty.entry_price == Decimal(7)
    null = position_from_rest(_rest_position(entryPrice=None, avgPrice="7"), category="linear")
    assert null.entry_price == Decimal(7)
    flat = position_from_rest(_rest_position(avgPrice=None), category="linear")
    assert flat.entry_price is None


def test_rest_rows_at_the_bounds_are_taken():
    order = order_from_rest(_rest_order(positionIdx=2, updatedTime=str(MAX_MILLIS)))
    assert (order.position_idx, order.updated_time) == (2, MAX_MILLIS)
    assert fill_from_rest(_rest_execution(seq=SEQ_MAX)).seq == SEQ_MAX
    assert position_from_rest(_rest_position(seq=SEQ_MIN), category="linear").seq == SEQ_MIN


# --- sums stay exact ----------------------------------------------------------------------------


def test_sums_of_numbers_at_the_bounds_stay_exact_and_never_raise():
    """The bounds keep every ledger sum exact in oms.core.exact's context (400 digits):
    the largest and the smallest step, booked to one leg and one order."""
    big, tiny = "9" * 24 + "." + "9" * 18 + "e99", "0." + "0" * 17 + "1E-99"
    tree = json.loads(EXECUTION)
    element = tree["data"][0]
    tree["data"] = [
        {**element, "execId": f"e-{i}", "execQty": qty, "side": side}
        for i, (qty, side) in enumerate([(big, "Buy"), (tiny, "Buy"), (big, "Sell"), (tiny, "Buy")])
    ]
    ledger = Ledger()
    ledger.feed(
        copy(SPOT_ORDER, orderId=element["orderId"], category="linear", symbol=element["symbol"]),
        received_at=1,
    )
    result = ledger.feed(json.dumps(tree), received_at=2)
    assert result.outcome is Outcome.APPLIED
    with localcontext(prec=400) as exact:  # wide enough for the exact sum
        want = exact.add(exact.multiply(2, Decimal(big)), exact.multiply(2, Decimal(tiny)))
    assert ledger.booked_qty(element["orderId"]) == want
    assert ledger.derived_position(element["symbol"]) == 2 * Decimal(tiny)
