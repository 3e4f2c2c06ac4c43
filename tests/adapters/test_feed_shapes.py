"""What a frame may be: its text (str, UTF-8 bytes) or the mapping a client parsed it
into (pybit's dict). A mapping is decoded from its compact JSON under the very rules of
text and journaled so, flagged ``parsed``; anything else is a ``MalformedFrame``."""

from __future__ import annotations

import copy
import json
import sqlite3
from decimal import Decimal

import pytest

from oms import Account
from oms.bybit.frames import ParsedFrame, parsed_frame
from oms.bybit.ledger import Ledger
from oms.core.events import MalformedFrame
from oms.errors import MalformedFrameError
from tests.conftest import read_lines

REAL = [
    line
    for name in ("real/frames.jsonl", "real/frames_fixtures_edited.jsonl")
    for line in read_lines(name)
    if '"topic"' in line
]
ORDER = next(line for line in REAL if '"topic":"order"' in line.replace(" ", ""))


def state(ledger: Ledger) -> tuple[object, ...]:
    legs = {key: (leg.report, leg.derived_net) for key, leg in ledger.legs().items()}
    return (ledger.orders(), ledger.fills(), legs, ledger.wallet(), ledger.stats)


@pytest.mark.parametrize("method", ["apply_frame", "feed", "ingest"])
def test_a_parsed_frame_does_exactly_what_its_text_does(method):
    as_text, as_bytes, as_dict = Ledger(), Ledger(), Ledger()
    for line in REAL:
        results = [
            getattr(ledger, method)(frame, received_at=1)
            for ledger, frame in (
                (as_text, line),
                (as_bytes, line.encode()),
                (as_dict, json.loads(line)),
            )
        ]
        if method != "apply_frame":
            assert len({r.outcome for r in results}) == 1, line
    assert state(as_text) == state(as_bytes) == state(as_dict)
    assert as_text.stats["applied"] > 10


def test_a_float_where_bybit_sends_a_decimal_string_is_refused_never_rounded():
    frame = json.loads(ORDER)
    frame["data"][0]["qty"] = 0.1  # pybit's json.loads never makes this: Bybit sends "0.1"
    ledger = Ledger()
    result = ledger.feed(frame, received_at=1)
    (event,) = [e for e in result.events if isinstance(e, MalformedFrame)]
    assert event.index == 0
    assert "qty" in event.reason
    assert ledger.orders() == []
    frame["data"][0]["qty"] = "0.1"
    ledger.feed(frame, received_at=2)
    (order,) = ledger.orders()
    assert order.qty == Decimal("0.1")


def test_a_float_time_is_refused_too():
    frame = json.loads(ORDER)
    frame["creationTime"] = float(frame["creationTime"])
    result = Ledger().feed(frame, received_at=1)
    assert result.outcome.value == "malformed"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "not text but NoneType"),
        ([json.loads(ORDER)], "not text but list"),
        (5, "not text but int"),
        (1.5, "not text but float"),
        (b"\xff\xfe{", "not JSON"),
        ({"topic": "order", "data": [{"qty": Decimal(1)}]}, "not JSON"),
        ({"topic": "order", "data": [float("nan")]}, "not JSON"),
        ({}, "neither 'topic' nor 'op'"),
    ],
    ids=["none", "list", "int", "float", "not-utf8", "decimal-inside", "nan", "empty-dict"],
)
def test_anything_else_is_a_malformed_frame_with_its_reason(value, reason):
    for method in ("apply_frame", "feed"):
        ledger = Ledger()
        got = getattr(ledger, method)(value, received_at=1)
        events = got if method == "apply_frame" else got.events
        (event,) = events
        assert isinstance(event, MalformedFrame)
        assert reason.lower() in event.reason.lower(), event.reason
        assert ledger.stats["malformed"] == ledger.stats["frames"] == 1
        ledger.feed(ORDER, received_at=2)  # and the stream goes on
        assert len(ledger.orders()) == 1


def test_a_self_referencing_mapping_is_refused():
    frame: dict[str, object] = {"topic": "order"}
    frame["data"] = [frame]
    with pytest.raises(MalformedFrameError, match="not JSON"):
        parsed_frame(frame)
    assert Ledger().feed(frame, received_at=1).outcome.value == "malformed"


def test_the_compact_json_keeps_non_ascii_text_as_it_is():
    text = parsed_frame({"topic": "order", "note": "ü€"})
    assert isinstance(text, ParsedFrame)
    assert text == '{"topic":"order","note":"ü€"}'


def _journal(db: str) -> list[tuple[str, str, int, str | None]]:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        return conn.execute("SELECT raw, outcome, parsed, error FROM frames ORDER BY id").fetchall()


def test_the_journal_flags_parsed_frames_and_replays_to_the_same_state(tmp_path):
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    mixed = [json.loads(line) if i % 2 else line for i, line in enumerate(REAL)]
    with Account(first) as account:
        for frame in mixed:
            account.feed(frame)
        account.feed(None)
        account.feed({"topic": "order", "data": [{"qty": Decimal(1)}]})
        account.feed(b"\xff")
        assert account.drain()
        held = (account.open_orders(), account.fills(), account.positions())
    journal = _journal(first)
    assert len(journal) == len(REAL) + 3
    for (raw, _, parsed, _), frame in zip(journal, mixed, strict=False):
        if isinstance(frame, dict):
            assert parsed == 1
            assert raw == json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        else:
            assert (parsed, raw) == (0, frame)
    (none, decimal, garbage) = journal[-3:]
    assert none[1:3] == ("malformed", 0)
    assert none[0].startswith("<not text: NoneType>")
    # a mapping that is not JSON: journaled as its repr, so not flagged as compact JSON
    assert decimal[1:3] == ("malformed", 0)
    assert decimal[0].startswith("<not text: dict>")
    assert "not JSON" in (decimal[3] or "")
    assert garbage[1:3] == ("malformed", 0)
    # Replaying the journal's text (what `oms replay` of an export would do) rebuilds it.
    with Account(second) as replayed:
        for raw, *_ in journal[:-3]:
            replayed.feed(raw)
        assert replayed.drain()
        assert (replayed.open_orders(), replayed.fills(), replayed.positions()) == held


def test_the_account_takes_the_mapping_as_it_was_when_fed(tmp_path):
    frame = json.loads(ORDER)
    kept = copy.deepcopy(frame)
    with Account(f"sqlite:///{tmp_path / 'oms.db'}") as account:
        account.feed(frame)
        frame["data"].clear()  # the caller reuses its dict at once
        assert account.drain()
        assert account.order(kept["data"][0]["orderId"]) is not None
