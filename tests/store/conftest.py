"""Fixtures of the store suite: every store test runs on SQLite and on PostgreSQL.

``db_url`` is parametrized over both backends and gives each test a fresh, empty
database: a file under ``tmp_path`` on SQLite, a uniquely named database on PostgreSQL
(created through an AUTOCOMMIT connection to the server's ``postgres`` database and dropped
afterwards). The PostgreSQL server is ``OMS_TEST_PG_URL`` when set; otherwise a throwaway
server is started once per session with ``scripts/pg_test_server.py``. A server that
cannot be reached or started fails the tests that need it: it is never a skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import column, create_engine, func, inspect, select, text
from sqlalchemy import table as sql_table
from sqlalchemy.engine import make_url

from oms.core import events as ev
from oms.store.db import normalise_url, open_engine
from oms.store.tables import Base

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CLEAN = DATA / "sample-clean.jsonl.gz"
DIRTY = DATA / "sample-dirty.jsonl.gz"
BACKENDS = ["sqlite", "postgresql"]
SUBPROCESS_TIMEOUT = 120

#: Names of the anomaly events: the only events a repeated frame may cause again.
ANOMALIES = frozenset(
    name
    for name, value in vars(ev).items()
    if isinstance(value, type) and issubclass(value, ev.Anomaly)
)

#: Every table of the public schema (the view ``net_positions`` comes on top).
TABLES = (
    "orders",
    "order_updates",
    "executions",
    "positions",
    "frames",
    "events",
    "replays",
    "leases",
)


def _load_pg_script() -> Any:
    path = ROOT / "scripts" / "pg_test_server.py"
    spec = importlib.util.spec_from_file_location("oms_pg_test_server", path)
    if spec is None or spec.loader is None:
        pytest.fail(f"cannot load {path}", pytrace=False)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PgServer:
    """A reachable PostgreSQL server and an AUTOCOMMIT engine on its ``postgres`` db."""

    def __init__(self, url: str) -> None:
        self.url = make_url(normalise_url(url))
        self.admin: Engine = create_engine(
            self.url.set(database="postgres"), isolation_level="AUTOCOMMIT"
        )

    def create_database(self) -> str:
        name = f"oms_t_{uuid.uuid4().hex[:16]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.url.set(drivername="postgresql", database=name).render_as_string(
            hide_password=False
        )

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    given = os.environ.get("OMS_TEST_PG_URL")
    directory: str | None = None
    script: Any = None
    if given:
        url = given
    else:
        script = _load_pg_script()
        # not under pytest's tmp dir: that one is private to root, the server runs as postgres
        directory = tempfile.mkdtemp(prefix="oms-pg-")
        try:
            url = script.start(directory)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any reason is a failure
            detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else exc
            shutil.rmtree(directory, ignore_errors=True)
            pytest.fail(
                "PostgreSQL is required by the store tests: set OMS_TEST_PG_URL or install "
                f"the server (apt-get install postgresql); scripts/pg_test_server.py failed: "
                f"{detail!r}",
                pytrace=False,
            )
    server = PgServer(url)
    try:
        with server.admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL at {server.url!r} is not reachable: {exc}", pytrace=False)
    yield server
    server.admin.dispose()
    if directory is not None:
        script.stop(directory)
        shutil.rmtree(directory, ignore_errors=True)


class Databases:
    """Fresh empty databases of one backend; all of them are removed at the end."""

    def __init__(self, backend: str, directory: Path, server: PgServer | None) -> None:
        self.backend = backend
        self.directory = directory
        self.server = server
        self.urls: list[str] = []

    def new(self) -> str:
        if self.server is not None:
            url = self.server.create_database()
        else:
            url = f"sqlite:///{self.directory / f'oms-{len(self.urls)}.db'}"
        self.urls.append(url)
        return url

    def drop_all(self) -> None:
        if self.server is not None:
            for url in self.urls:
                self.server.drop_database(url)


def make_databases(request: pytest.FixtureRequest, backend: str, directory: Path) -> Databases:
    server = request.getfixturevalue("pg_server") if backend == "postgresql" else None
    return Databases(backend, directory, server)


_DATABASES = pytest.StashKey[Databases]()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database of the backend in the test's parameter."""
    databases = make_databases(request, request.param, tmp_path)
    request.node.stash[_DATABASES] = databases
    yield databases.new()
    databases.drop_all()


@pytest.fixture
def new_db_url(db_url: str, request: pytest.FixtureRequest) -> Callable[[], str]:
    """Make another fresh database on the same backend as ``db_url``."""
    return request.node.stash[_DATABASES].new


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A separate engine on ``db_url`` for the test's own reads."""
    eng = open_engine(db_url)
    yield eng
    eng.dispose()


# --- helpers ----------------------------------------------------------------------------


def oms_cli(*args: str, timeout: float = SUBPROCESS_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``python -m oms.cli ARGS`` to completion (bounded by ``timeout``)."""
    env = {**os.environ, "COLUMNS": "400", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "oms.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env=env,
    )


def replay(capture: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    done = oms_cli("replay", str(capture), "--db", url, "--json", *extra)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def count(engine: Engine, table: str, account: str | None = None) -> int:
    """Rows of a table or view (of one account)."""
    query = select(func.count()).select_from(sql_table(table))
    if account is not None:
        query = query.where(column("account") == account)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def dec(value: object) -> Decimal | None:
    """A stored decimal as ``Decimal``: text on SQLite, Decimal on PostgreSQL, never float."""
    if value is None:
        return None
    assert isinstance(value, (str, Decimal)), f"a decimal came back as {type(value).__name__}"
    return Decimal(value)


def table_rows(
    engine: Engine, name: str, *, drop: tuple[str, ...] = (), account: str | None = None
) -> list[dict[str, Any]]:
    """Every row of a table through the models' types (decimals as ``Decimal``), in key
    order (ids for the journal-like tables), without the ``drop`` columns."""
    table = Base.metadata.tables[name]
    # only the columns the database has (a downgraded one lacks the later ones)
    present = {c["name"] for c in inspect(engine).get_columns(name)}
    query = select(*(c for c in table.columns if c.name in present and c.name not in drop))
    query = query.order_by(*table.primary_key.columns)
    if account is not None:
        query = query.where(table.c.account == account)
    with engine.connect() as conn:
        found = [dict(r) for r in conn.execute(query).mappings()]
    return [{k: v for k, v in r.items() if k not in drop} for r in found]


def event_rows(engine: Engine, account: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows in id order without their ids and receipt times (which differ between
    two runs of the same frames): type, order_id, symbol and the payload."""
    found = table_rows(engine, "events", drop=("id", "created_at"), account=account)
    for row in found:
        payload = row["payload"]
        assert isinstance(payload, dict), payload
        row["payload"] = {k: v for k, v in payload.items() if k != "received_at"}
    return found


def state_tables(engine: Engine, account: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The state an uninterrupted run must reproduce: orders, executions, positions,
    order_updates (without id and frame_id) and events (see ``event_rows``)."""
    return {
        "orders": table_rows(engine, "orders", account=account),
        "executions": table_rows(engine, "executions", drop=("frame_id",), account=account),
        "positions": table_rows(engine, "positions", account=account),
        "order_updates": table_rows(
            engine, "order_updates", drop=("id", "frame_id"), account=account
        ),
        "events": event_rows(engine, account),
    }
