"""The commands stay small: what ``oms --help`` and each command import, and what
``oms replay --db`` prints (a bounded summary by default, every row with ``--full``, the
ledger's own document with ``--json``) without reloading the account to print it."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.bybit.ledger import Ledger
from oms.cli import replay, stored, views
from oms.cli.capture import open_capture
from oms.cli.main import main, parse
from oms.core.events import Anomaly
from oms.core.ledger import DEFAULT_KEEP_TERMINAL_ORDERS
from oms.runtime.pipeline import Pipeline
from oms.store.faults import DEFAULT_STORE_FAULT_DEADLINE_S
from oms.store.lease import DEFAULT_LEASE_TTL_S
from oms.store.repository import Repository
from tests.conftest import DATA

REAL_FRAMES = DATA / "real" / "frames.jsonl"
CLEAN = DATA / "sample-clean.jsonl.gz"
DIRTY = DATA / "sample-dirty.jsonl.gz"
#: What a start-up that only parses arguments must not load.
HEAVY = frozenset({"sqlalchemy", "alembic", "pydantic", "pydantic_core", "websocket", "psycopg"})
STORE = frozenset({"sqlalchemy", "alembic", "psycopg"})
TIMEOUT = 120


def imported(*args: str) -> set[str]:
    """The top-level packages ``python -m oms.cli ARGS`` imports (``-X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oms.cli", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert lines, "no -X importtime report"
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines}


# --- start-up ---------------------------------------------------------------------------


def test_help_loads_no_store_codec_socket_or_rich():
    names = imported("--help")
    assert "argparse" in names
    assert not names & (HEAVY | {"rich"})


@pytest.mark.parametrize("command", ["inspect", "events", "db", "status"])
def test_a_command_help_without_stored_defaults_loads_nothing_heavy(command):
    assert not imported(command, "--help") & (HEAVY | {"rich"})


def test_an_in_memory_replay_loads_no_store_and_no_rich_for_json():
    names = imported("replay", str(REAL_FRAMES), "--json")
    assert "pydantic_core" in names  # the codec is what it uses
    assert not names & (STORE | {"rich", "websocket"})


def test_defaults_that_live_with_the_code_still_show_and_apply(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"ended orders kept in memory (default {DEFAULT_KEEP_TERMINAL_ORDERS})" in shown
    assert f"(default {DEFAULT_LEASE_TTL_S}; every writer" in shown
    assert f"exit status 1 (default {DEFAULT_STORE_FAULT_DEADLINE_S})" in shown
    args = parse(["replay", "x.jsonl", "--db", "x.db"])
    assert args.keep_orders == DEFAULT_KEEP_TERMINAL_ORDERS
    assert args.lease_ttl == DEFAULT_LEASE_TTL_S
    assert args.store_fault_deadline == DEFAULT_STORE_FAULT_DEADLINE_S
    given = parse(["run", "--env", "demo", "--db", "x.db", "--keep-orders", "7"])
    assert given.keep_orders == 7


# --- oms replay --json ------------------------------------------------------------------


def _ledger_of(capture) -> tuple[Ledger, Counter[str]]:
    ledger, anomalies = Ledger(), Counter[str]()
    with open_capture(str(capture)) as (handle, _):
        for line in handle:
            if text := line.rstrip("\r\n"):
                anomalies.update(
                    type(e).__name__ for e in ledger.apply_frame(text) if isinstance(e, Anomaly)
                )
    return ledger, anomalies


@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_the_streamed_document_is_json_dumps_of_the_state(monkeypatch, chunk):
    monkeypatch.setattr(views, "_CHUNK", chunk)
    ledger, _ = _ledger_of(DIRTY)
    out = io.StringIO()
    views.write_document(out, *views.ledger_rows(ledger), ledger.stats)
    expected = json.dumps(views.state_document(ledger), separators=(",", ":")) + "\n"
    assert out.getvalue() == expected


def test_the_streamed_document_of_an_empty_state():
    out, ledger = io.StringIO(), Ledger()
    views.write_document(out, *views.ledger_rows(ledger), ledger.stats)
    assert json.loads(out.getvalue()) == views.state_document(ledger)
    assert out.getvalue().startswith('{"orders":[],"executions":[],"positions":[],"stats":{')


def test_replay_db_json_is_the_document_of_the_reloaded_account(tmp_path, capsys):
    db = str(tmp_path / "oms.db")
    assert main(["replay", str(DIRTY), "--db", db, "--json"]) == 0
    printed = capsys.readouterr().out
    with Pipeline(db, keep_terminal_orders=None, take_lease=False) as full:
        reloaded = views.state_document(full.ledger)
    assert printed == json.dumps(reloaded, separators=(",", ":")) + "\n"


# --- oms replay --db: summary and --full ------------------------------------------------


def _replay_db(tmp_path, capsys, *extra: str, name: str = "oms.db") -> tuple[str, str]:
    db = str(tmp_path / name)
    assert main(["replay", str(DIRTY), "--db", db, *extra]) == 0
    return db, capsys.readouterr().out


def test_replay_db_prints_a_bounded_summary(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(stored, "OPEN_SHOWN", 2)
    ledger, anomalies = _ledger_of(DIRTY)
    document = views.state_document(ledger)
    orders = document["orders"]
    open_orders = [o for o in orders if o["status"] in ("New", "PartiallyFilled", "Untriggered")]
    assert len(open_orders) > 2
    _, out = _replay_db(tmp_path, capsys)
    lines = out.splitlines()
    assert len(lines) < 100 < len(orders)  # bounded, not one line per order
    assert f"Open orders ({len(open_orders)} of {len(orders)}, oldest first)" in out
    assert f"... and {len(open_orders) - 2} more open orders" in out
    shown = [o["order_id"] for o in orders if o["order_id"] in out]
    assert shown == [o["order_id"] for o in open_orders[:2]]  # the two oldest, nothing else
    assert f"Orders ({len(orders)}) by status" in out
    assert f"Positions ({len(document['positions'])} legs)" in out
    assert f"{len(document['executions'])} executions booked" in out
    assert "Anomalies by kind" in out
    assert "oms inspect --db URL" in out
    with stored.StoredAccount(str(tmp_path / "oms.db"), "default") as account:
        summary = account.summary()
    assert summary.anomalies == dict(sorted(anomalies.items()))
    assert summary.orders_by_status == dict(sorted(Counter(o["status"] for o in orders).items()))
    assert summary.stats == ledger.stats


def test_replay_db_summary_option_is_the_default(tmp_path, capsys):
    _, default = _replay_db(tmp_path, capsys, name="a.db")
    _, summary = _replay_db(tmp_path, capsys, "--summary", name="b.db")
    assert summary == default


def test_replay_db_full_lists_every_order_and_fill(tmp_path, capsys):
    db, out = _replay_db(tmp_path, capsys, "--full")
    with stored.StoredAccount(db, "default") as account:
        orders = list(account.orders())
        fills = list(account.executions())
    lines = out.splitlines()
    assert lines[0] == f"Orders ({len(orders)})"
    listed = lines[2 : 2 + len(orders)]
    assert [line.split()[0] for line in listed] == [o["order_id"] for o in orders]
    start = 2 + len(orders)
    assert lines[start] == f"Executions ({len(fills)})"
    listed = lines[start + 2 : start + 2 + len(fills)]
    assert [line.split()[0] for line in listed] == [f["exec_id"] for f in fills]
    assert f"{len(fills)} executions booked" in out


@pytest.mark.parametrize("shown", ["summary", "full", "json"])
def test_printing_a_stored_account_never_loads_it_whole(tmp_path, capsys, monkeypatch, shown):
    db, _ = _replay_db(tmp_path, capsys)

    def whole(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the whole account was loaded to print it")

    monkeypatch.setattr(Repository, "load_orders", whole)
    monkeypatch.setattr(Repository, "load_fills", whole)
    monkeypatch.setattr(Pipeline, "__init__", whole)
    args = argparse.Namespace(
        db=db, account="default", json=shown == "json", full=shown == "full", summary=False
    )
    replay._print_stored(args)
    assert "executions" in capsys.readouterr().out


@given(
    st.decimals(allow_nan=True, allow_infinity=True)
    | st.builds(
        Decimal,
        st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{0,30})?([eE][-+]?[0-9]{1,3})?", fullmatch=True),
    )
)
def test_dec_is_format_f(value):
    assert views.dec(value) == format(value, "f")
    assert views.dec(None) is None


_VALUES = st.none() | st.booleans() | st.integers() | st.text()


@given(st.lists(st.dictionaries(st.text(), _VALUES, max_size=4), max_size=4))
def test_encoded_rows_are_json_dumps_whatever_the_text(rows):
    # pydantic-core writes most of the document; the text must be json's to the byte
    assert views.encode_rows(rows) == json.dumps(rows, separators=(",", ":"))
