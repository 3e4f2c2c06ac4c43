"""The simulator (``oms.sim``): a strict venue, the wire layout of the recorded stream, and
the benchmark's capture built on it (valid and deterministic)."""

from __future__ import annotations

import copy
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from oms import Anomaly, Ledger
from oms.sim import DEFAULT_SYMBOLS, Terms, Venue, VenueError
from tests.conftest import read_lines

D = Decimal
BENCH = Path(__file__).resolve().parents[2] / "bench"


def venue_with_a_position() -> tuple[Venue, str]:
    venue = Venue(DEFAULT_SYMBOLS)
    opener = venue.place(Terms("BTCUSDT", "Buy", D("0.010"), order_type="Market"))
    venue.match(opener.order_id, [(D("0.010"), D(65000))])
    rest = venue.place(Terms("BTCUSDT", "Sell", D("0.005"), price=D("65100")))
    venue.take()
    return venue, rest.order_id


def state(venue: Venue) -> tuple[object, ...]:
    return (copy.deepcopy(venue.truth()), venue.now, dict(venue.stats), venue.take())


@pytest.mark.parametrize(
    "request_",
    [
        lambda v, o: v.match(o, [(D("0.006"), D(65100))]),  # more than is left
        lambda v, o: v.match(o, [(D("0.0005"), D(65100))]),  # off the qty step
        lambda v, o: v.amend(o, price=D("65100")),  # changes nothing
        lambda v, o: v.amend(o, price=D("65100.05")),  # off the tick
        lambda v, o: v.trigger(o),  # not a conditional order
        lambda v, o: v.echo_cancel_race(o),  # not filled
        lambda v, _: v.funding("DOGEUSDT", 0),  # a flat leg pays no funding
        lambda v, _: v.report_position("BTCUSDT", 1),  # one-way: no leg 1
        lambda v, _: v.place(Terms("NOPEUSDT", "Buy", D(1), price=D(1))),
        lambda v, _: v.place(Terms("BTCUSDT", "Buy", D("0.001"))),  # a limit order needs a price
        lambda v, _: v.place(
            Terms("BTCUSDT", "Sell", D("0.001"), order_type="Market", stop_order_type="TakeProfit")
        ),  # TP/SL needs a trigger
        lambda v, _: v.reject(
            Terms("BTCUSDT", "Buy", D("0.001"), D(60000)), reason="x", status="New"
        ),
    ],
)
def test_a_refused_request_raises_and_changes_nothing(request_):
    venue, order_id = venue_with_a_position()
    before = state(venue)
    with pytest.raises(VenueError):
        request_(venue, order_id)
    assert state(venue) == before


def test_a_closed_order_cannot_be_cancelled_twice():
    venue, order_id = venue_with_a_position()
    venue.cancel(order_id)
    venue.take()
    before = state(venue)
    with pytest.raises(VenueError):
        venue.cancel(order_id)
    assert state(venue) == before


def test_closing_the_position_clears_its_tpsl_in_the_same_order_frame():
    venue, order_id = venue_with_a_position()
    tpsl = venue.place(
        Terms("BTCUSDT", "Sell", D("0.004"), order_type="Market", trigger_price=D("66000"),
              stop_order_type="PartialTakeProfit")
    )  # fmt: skip
    closer = venue.place(
        Terms("BTCUSDT", "Sell", D("0.010"), order_type="Market", reduce_only=True),
        announce=False,
    )
    venue.take()
    venue.match(closer.order_id, [(D("0.010"), D(65050))])
    order_frames = [p for p in venue.take() if p.topic == "order"]
    assert len(order_frames) == 1
    reports = {e["orderId"]: e for e in order_frames[0].data}
    assert reports[tpsl.order_id]["orderStatus"] == "Deactivated"
    assert reports[tpsl.order_id]["cancelType"] == "CancelByTpSlTsClear"
    assert reports[closer.order_id]["orderStatus"] == "Filled"
    assert venue.orders[order_id].status == "New"  # not reduce-only: it stays
    assert venue.legs["BTCUSDT", 0].net == 0


def first_keys(lines: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    """Per topic: the envelope's keys and the first element's keys, in order."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for line in lines:
        frame = json.loads(line)
        if frame.get("topic") and frame["topic"] not in found:
            found[frame["topic"]] = (list(frame), list(frame["data"][0]))
    return found


def test_frames_have_the_layout_of_the_recorded_stream(clean_lines):
    venue, order_id = venue_with_a_position()
    venue.match(order_id, [(D("0.002"), D("65100"))])
    frames = [p.text for p in venue.take()]
    assert first_keys(frames) == first_keys(clean_lines)


def _generate():
    sys.path.insert(0, str(BENCH))
    try:
        from generate import generate  # noqa: PLC0415 - bench/ is a script directory

        return generate
    finally:
        sys.path.remove(str(BENCH))


def test_the_benchmark_capture_is_deterministic_valid_and_mixed_like_the_sample():
    generate = _generate()
    capture = generate(4000, 77)
    assert capture.lines == generate(4000, 77).lines
    assert capture.lines != generate(4000, 78).lines
    assert len(capture.lines) == 4000
    ledger = Ledger()
    anomalies = [e for line in capture.lines for e in ledger.apply_frame(line, received_at=0)]
    anomalies += ledger.settle(received_at=0)
    assert [e for e in anomalies if isinstance(e, Anomaly)] == []
    assert ledger.stats["applied"] == 4000
    assert len(ledger.fills()) == capture.elements["execution"]
    shares = {topic: n / 4000 for topic, n in capture.mix.items()}
    assert set(shares) == {"order", "execution", "position"}
    assert 0.40 < shares["order"] < 0.55
    assert 0.20 < shares["execution"] < 0.32
    assert first_keys(capture.lines) == first_keys(read_lines("sample-clean.jsonl.gz"))
