"""`oms replay` run as a real process: the installed console script and ``python -m oms.cli``."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA

REAL_FRAMES = DATA / "real" / "frames.jsonl"
CLEAN = DATA / "sample-clean.jsonl.gz"
DIRTY = DATA / "sample-dirty.jsonl.gz"
TIMEOUT = 120


def _script() -> str:
    beside = Path(sys.executable).parent / "oms"
    found = str(beside) if beside.is_file() else shutil.which("oms")
    assert found is not None, "the `oms` console script is not installed"
    return found


COMMANDS = {
    "module": [sys.executable, "-m", "oms.cli"],
    "script": [_script()],
}

ORDER_KEYS = {
    "order_id",
    "order_link_id",
    "category",
    "symbol",
    "side",
    "position_idx",
    "status",
    "order_type",
    "stop_order_type",
    "qty",
    "price",
    "cum_exec_qty",
    "cum_exec_value",
    "cum_exec_fee",
    "leaves_qty",
    "avg_price",
    "created_time",
    "updated_time",
}
EXECUTION_KEYS = {
    "exec_id",
    "order_id",
    "symbol",
    "side",
    "exec_type",
    "exec_qty",
    "exec_price",
    "exec_fee",
    "exec_time",
    "seq",
}
POSITION_KEYS = {"category", "symbol", "position_idx", "side", "size", "net_qty"}
STATS_KEYS = {
    "frames",
    "applied",
    "duplicate",
    "stale",
    "illegal",
    "malformed",
    "control",
    "ignored",
}
OUTCOMES = STATS_KEYS - {"frames"}

ORDER_DECIMALS = ("price", "cum_exec_value", "cum_exec_fee", "leaves_qty", "avg_price")


def run(
    *args: str, command: str = "module", stdin: str | bytes | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    done = subprocess.run(
        [*COMMANDS[command], *args],
        input=data,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        env=env,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8"),
        done.stderr.decode("utf-8"),
    )


def _no_float(text: str) -> Any:
    raise AssertionError(f"a JSON float in the output: {text}")


def replay_json(
    capture: str | Path, command: str = "module", stdin: str | bytes | None = None
) -> dict[str, Any]:
    done = run("replay", str(capture), "--json", command=command, stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.endswith("\n")
    assert done.stdout.count("\n") == 1  # one JSON object on one line
    return json.loads(done.stdout, parse_float=_no_float)


def check_stats(stats: dict[str, int]) -> None:
    assert set(stats) == STATS_KEYS
    assert all(type(v) is int and v >= 0 for v in stats.values())
    assert stats["frames"] == sum(stats[k] for k in OUTCOMES)


def check_decimals(row: dict[str, Any], optional: tuple[str, ...], required: tuple[str, ...]):
    """Decimal fields are exact JSON strings (never numbers); optional ones may be null."""
    for key in optional + required:
        value = row[key]
        assert value is None or isinstance(value, str), (key, value)
        if value is not None:
            Decimal(value)
    for key in required:
        assert isinstance(row[key], str), (key, row[key])


def check_ints(row: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert type(row[key]) is int, (key, row[key])


def check_shape(doc: dict[str, Any]) -> None:
    """Exactly the documented keys, decimals as JSON strings, ints as ints."""
    assert list(doc) == ["orders", "executions", "positions", "stats"]
    for row in doc["orders"]:
        assert set(row) == ORDER_KEYS
        check_decimals(row, ORDER_DECIMALS, ("qty", "cum_exec_qty"))
        check_ints(row, "position_idx", "created_time", "updated_time")
    for row in doc["executions"]:
        assert set(row) == EXECUTION_KEYS
        check_decimals(row, ("exec_fee",), ("exec_qty", "exec_price"))
        check_ints(row, "exec_time")
        assert row["seq"] is None or type(row["seq"]) is int
    for row in doc["positions"]:
        assert set(row) == POSITION_KEYS
        check_decimals(row, (), ("size", "net_qty"))
        check_ints(row, "position_idx")
        assert row["side"] in ("Buy", "Sell", "")
    check_stats(doc["stats"])


def gzip_copy(source: Path, target: Path) -> Path:
    with gzip.open(target, "wt", encoding="utf-8", newline="") as handle:
        handle.write(source.read_text(encoding="utf-8"))
    return target


# --- the JSON document ------------------------------------------------------------------


@pytest.mark.parametrize("command", list(COMMANDS))
def test_json_has_exactly_the_documented_keys(command):
    doc = replay_json(REAL_FRAMES, command=command)
    check_shape(doc)
    assert len(doc["orders"]) == 2
    assert len(doc["executions"]) == 7
    assert len(doc["positions"]) == 2
    assert doc["stats"]["frames"] == 19


def test_json_values_of_the_real_frames():
    doc = replay_json(REAL_FRAMES)
    orders = {o["symbol"]: o for o in doc["orders"]}
    option = orders["ETH-30DEC22-1400-C"]
    assert option["status"] == "Filled"
    assert option["side"] == "Sell"
    assert option["leaves_qty"] is None  # leavesQty "" on the wire
    assert Decimal(option["avg_price"]) == Decimal(75)
    assert Decimal(option["cum_exec_fee"]) == Decimal("0.358635")
    spot = orders["DOGEUSDT"]
    assert spot["status"] == "Cancelled"
    assert spot["avg_price"] is None  # nothing filled
    assert Decimal(spot["cum_exec_qty"]) == 0
    assert Decimal(spot["leaves_qty"]) == Decimal("10.0")
    assert spot["created_time"] == 1703605141261

    executions = doc["executions"]
    assert [e["exec_time"] for e in executions] == sorted(e["exec_time"] for e in executions)
    by_id = {e["exec_id"]: e for e in executions}
    assert len(by_id) == len(executions)
    funding = by_id["d93e7b3c-8319-4c3e-9d2f-1d3c8a369d56"]
    assert funding["exec_type"] == "Funding"
    assert Decimal(funding["exec_fee"]) == Decimal("-8.0758617716")
    fast = by_id["3510f361-0add-5c7b-a2e7-9679810944fc"]
    assert fast["exec_type"] == "Trade"
    assert fast["exec_fee"] is None  # execution.fast has no fee
    assert fast["seq"] == 34771365464

    assert doc["positions"] == [
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "position_idx": 2,
            "side": "",
            "size": "0",
            "net_qty": "0",
        },
        {
            "category": "linear",
            "symbol": "DGBUSDT",
            "position_idx": 0,
            "side": "Sell",
            "size": "2000",
            "net_qty": "-2000",
        },
    ]
    assert doc["stats"] == {
        "frames": 19,
        "applied": 13,
        "duplicate": 1,
        "stale": 0,
        "illegal": 0,
        "malformed": 0,
        "control": 5,
        "ignored": 0,
    }


def _order_line(order_id: str, **fields: Any) -> str:
    element = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderId": order_id,
        "orderLinkId": "",
        "side": "Buy",
        "positionIdx": 0,
        "orderStatus": "New",
        "orderType": "Limit",
        "stopOrderType": "",
        "qty": "1",
        "price": "100",
        "triggerPrice": "",
        "cumExecQty": "0",
        "cumExecValue": "0",
        "cumExecFee": "0",
        "leavesQty": "1",
        "avgPrice": "",
        "createdTime": "1000",
        "updatedTime": "1000",
        **fields,
    }
    return json.dumps({"id": order_id, "topic": "order", "creationTime": 1, "data": [element]})


def test_avg_price_is_null_until_something_fills(tmp_path):
    capture = tmp_path / "orders.jsonl"
    capture.write_text(
        "\n".join(
            [
                _order_line("unfilled-blank", avgPrice=""),
                _order_line("unfilled-zero", avgPrice="0", createdTime="1001"),
                _order_line(
                    "filled",
                    orderStatus="Filled",
                    cumExecQty="1",
                    leavesQty="0",
                    avgPrice="99.5",
                    createdTime="1002",
                ),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    doc = replay_json(capture)
    check_shape(doc)
    avg = {o["order_id"]: o["avg_price"] for o in doc["orders"]}
    assert avg == {"unfilled-blank": None, "unfilled-zero": None, "filled": "99.5"}
    assert [o["order_id"] for o in doc["orders"]] == ["unfilled-blank", "unfilled-zero", "filled"]


@pytest.mark.parametrize("text", ["0.00000001", "123456789.123456789", "1E+2", "0.10"])
def test_json_decimals_keep_their_value(tmp_path, text):
    capture = tmp_path / "exact.jsonl"
    capture.write_text(_order_line("o", qty=text, price=text, leavesQty=text) + "\n")
    (order,) = replay_json(capture)["orders"]
    for key in ("qty", "price", "leaves_qty"):
        assert isinstance(order[key], str)
        assert Decimal(order[key]) == Decimal(text)


@pytest.mark.parametrize("text", ["0.00000001", "0.00000973", "123456789.123456789", "0.10"])
def test_json_decimals_are_the_exact_wire_text(tmp_path, text):
    """README: "Decimals are JSON strings holding the exact wire text"."""
    capture = tmp_path / "exact.jsonl"
    capture.write_text(_order_line("o", qty=text, price=text, leavesQty=text) + "\n")
    (order,) = replay_json(capture)["orders"]
    assert (order["qty"], order["price"], order["leaves_qty"]) == (text, text, text)


# --- inputs -----------------------------------------------------------------------------


def test_stdin_dash_reads_the_capture():
    from_file = replay_json(REAL_FRAMES)
    from_stdin = replay_json("-", stdin=REAL_FRAMES.read_text(encoding="utf-8"))
    assert from_stdin == from_file


def test_stdin_dash_via_the_script():
    doc = replay_json("-", command="script", stdin=REAL_FRAMES.read_text(encoding="utf-8"))
    check_shape(doc)
    assert doc["stats"]["frames"] == 19


@pytest.mark.parametrize("command", list(COMMANDS))
def test_bundled_gz_capture(command):
    doc = replay_json(CLEAN, command=command)
    check_shape(doc)
    stats = doc["stats"]
    assert stats["frames"] == 3000
    assert stats["malformed"] == 0
    assert stats["illegal"] == 0
    assert stats["applied"] > 0
    assert doc["orders"]
    assert doc["executions"]
    assert doc["positions"]


def test_gz_written_here_equals_plain_text(tmp_path):
    packed = gzip_copy(REAL_FRAMES, tmp_path / "frames.jsonl.gz")
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert replay_json(packed) == replay_json(REAL_FRAMES)


def test_plain_text_capture_with_crlf_and_blank_lines(tmp_path):
    lines = REAL_FRAMES.read_text(encoding="utf-8").splitlines()
    capture = tmp_path / "capture.txt"
    capture.write_bytes(("\r\n".join(["", *lines[:10], "", "", *lines[10:]]) + "\r\n").encode())
    doc = replay_json(capture)
    assert doc == replay_json(REAL_FRAMES)
    assert doc["stats"]["frames"] == 19  # blank lines are not frames


def test_empty_capture(tmp_path):
    capture = tmp_path / "empty.jsonl"
    capture.write_text("")
    doc = replay_json(capture)
    check_shape(doc)
    assert doc["orders"] == doc["executions"] == doc["positions"] == []
    assert doc["stats"] == dict.fromkeys(STATS_KEYS, 0)


def test_dirty_capture_stats_add_up():
    doc = replay_json(DIRTY)
    check_shape(doc)
    stats = doc["stats"]
    assert stats["malformed"] > 0
    assert stats["duplicate"] > 0
    assert stats["control"] > 0
    assert stats["ignored"] > 0


# --- garbage and errors -----------------------------------------------------------------

GARBAGE = [
    "this is not json",
    '{"topic":"order","id":"x","creationTime":1,"data":[{"category":"lin',
    "[]",
    "42",
    "null",
    '{"topic":"order","data":null}',
    '{"topic":"order","data":[{"orderId":"x"}]}',
    "<html>502 Bad Gateway</html>",
]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_garbage_lines_are_counted_and_the_replay_goes_on(tmp_path, command):
    good = REAL_FRAMES.read_text(encoding="utf-8").splitlines()
    mixed = [good[0], *GARBAGE[:4], *good[1:10], *GARBAGE[4:], *good[10:]]
    capture = tmp_path / "dirty.jsonl"
    capture.write_text("\n".join(mixed) + "\n", encoding="utf-8")
    doc = replay_json(capture, command=command)
    check_shape(doc)
    assert doc["stats"]["malformed"] == len(GARBAGE)
    assert doc["stats"]["frames"] == len(good) + len(GARBAGE)
    clean = replay_json(REAL_FRAMES)
    assert doc["orders"] == clean["orders"]
    assert doc["executions"] == clean["executions"]
    assert doc["positions"] == clean["positions"]


@pytest.mark.parametrize("via", ["file", "stdin", "gz"])
def test_binary_garbage_line_is_counted_as_malformed(tmp_path, via):
    good = REAL_FRAMES.read_bytes().splitlines()
    data = b"\n".join([*good[:6], b"\xff\xfe\x00garbage\x80", *good[6:]]) + b"\n"
    capture = tmp_path / ("binary.jsonl.gz" if via == "gz" else "binary.jsonl")
    capture.write_bytes(gzip.compress(data) if via == "gz" else data)
    if via == "stdin":
        done = run("replay", "-", "--json", stdin=data)
    else:
        done = run("replay", str(capture), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    check_shape(doc)
    assert doc["stats"]["malformed"] == 1
    assert doc["stats"]["frames"] == len(good) + 1
    assert doc["orders"] == replay_json(REAL_FRAMES)["orders"]


def test_verbose_logs_anomalies_on_stderr(tmp_path):
    capture = tmp_path / "dirty.jsonl"
    capture.write_text("not json\n" + REAL_FRAMES.read_text(encoding="utf-8"), encoding="utf-8")
    done = run("-v", "replay", str(capture), "--json")
    assert done.returncode == 0
    assert "MalformedFrame" in done.stderr
    assert "not JSON" in done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["stats"]["malformed"] == 1


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("json_flag", [True, False], ids=["json", "tables"])
def test_missing_file_exits_non_zero_with_a_clear_message(tmp_path, command, json_flag):
    missing = tmp_path / "no-such-capture.jsonl"
    args = ["replay", str(missing), *(["--json"] if json_flag else [])]
    done = run(*args, command=command)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert str(missing) in done.stderr
    assert "not found" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: p, id="directory"),
        pytest.param(
            lambda p: (p / "fake.jsonl.gz").write_text("not gzip") and p / "fake.jsonl.gz",
            id="not-gzip",
        ),
        pytest.param(
            lambda p: (
                (p / "cut.jsonl.gz").write_bytes(gzip.compress(b'{"op":"pong"}\n' * 50)[:30])
                and p / "cut.jsonl.gz"
            ),
            id="truncated-gzip",
        ),
    ],
)
def test_unreadable_capture_exits_non_zero_without_traceback(tmp_path, make):
    target = make(tmp_path)
    done = run("replay", str(target), "--json")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert str(target) in done.stderr
    assert done.stdout == ""


def test_usage_errors_exit_non_zero():
    assert run().returncode != 0
    assert run("replay").returncode != 0
    assert run("frobnicate").returncode != 0
    helped = run("replay", "--help")
    assert helped.returncode == 0
    assert "--json" in helped.stdout


# --- tables -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", list(COMMANDS))
def test_tables_without_json(command):
    done = run("replay", str(REAL_FRAMES), command=command)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Orders (2)" in out
    assert "Positions (2 legs)" in out
    assert "Frames" in out
    for symbol in ("DOGEUSDT", "DGBUSDT", "BTCUSDT"):
        assert symbol in out
    assert "-2000" in out
    assert "7 executions booked" in out
    assert not out.lstrip().startswith("{")
    assert "\x1b[" not in out  # no terminal escapes when not on a terminal


def test_tables_of_the_bundled_gz_capture():
    done = run("replay", str(CLEAN))
    assert done.returncode == 0, done.stderr
    for word in ("Orders", "Positions", "BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"):
        assert word in done.stdout
