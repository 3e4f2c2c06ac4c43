"""The wheel alone is enough: built from the working tree, installed into a new virtual
environment outside the repository, its ``oms`` console script upgrades a database with
the migrations it ships, replays a capture to the exchange's truth (as JSON and into the
database) and runs against the embedded sandbox.

How the wheel and its environment are made (in the background, while the rest of the
suite runs): ``tests.packaging.wheelhouse``. Every command runs
from an empty directory with no ``PYTHONPATH``, so only the installed package can be
imported; the test checks that it was.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import zipfile
from contextlib import closing
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest
from alembic.script import ScriptDirectory

import tests.test_replay_truth as replay_truth
from oms import native
from tests.conftest import DATA
from tests.packaging.wheelhouse import COMMAND_TIMEOUT_S, REPO, Installed, check, inside

if TYPE_CHECKING:
    import subprocess

    from tests.packaging.wheelhouse import Build

pytestmark = pytest.mark.slow

#: The wheel's Python tag (cp311 here): the hot path is compiled for this interpreter.
TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"
SANDBOX_SECONDS = 8
TABLES = {
    "alembic_version",
    "events",
    "executions",
    "frames",
    "order_updates",
    "orders",
    "positions",
    "replays",
}


def _oms(installed: Installed, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return check([installed.oms, *args], installed.cwd, installed.environ, COMMAND_TIMEOUT_S + 30)


def _rows(db: Path, sql: str) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql).fetchall()


def _tables(db: Path) -> set[str]:
    return {r["name"] for r in _rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def _revision(db: Path) -> list[str]:
    return [r["version_num"] for r in _rows(db, "SELECT version_num FROM alembic_version")]


def _dec(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


@pytest.fixture(scope="module")
def head() -> str:
    """The newest migration in the repository: the one the wheel must bring a database to."""
    heads = ScriptDirectory(str(REPO / "alembic")).get_heads()
    assert len(heads) == 1, heads
    return heads[0]


@pytest.fixture(scope="module")
def sources(build: Build) -> Path:
    return build.sources()


@pytest.fixture(scope="module")
def wheel(build: Build) -> Path:
    built = build.wheel()
    assert not inside(built, REPO)
    return built


@pytest.fixture(scope="module")
def installed(build: Build) -> Installed:
    return build.installed()


@pytest.fixture
def database(installed: Installed, tmp_path: Path) -> Path:
    """A new SQLite file brought to the head revision by ``oms db upgrade``."""
    db = tmp_path / "x.db"
    _oms(installed, "db", "upgrade", "--db", f"sqlite:///{db}")
    return db


# --- what the wheel holds ----------------------------------------------------------------


def test_wheel_holds_the_package_its_marker_and_migrations(wheel, sources):
    # a platform wheel: the hot path compiled (oms.native), its build record beside it
    assert wheel.name.startswith(f"oms-0.1.0-{TAG}-{TAG}-"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = {PurePosixPath(n) for n in archive.namelist()}
    for module in native.COMPILED:
        stem = PurePosixPath(*module.split("."))
        found = [n for n in names if n.parent == stem.parent and n.name.startswith(stem.name)]
        assert any(n.name.startswith(f"{stem.name}.cpython-") for n in found), module
    assert PurePosixPath("oms/native-build.json") in names
    with zipfile.ZipFile(wheel) as archive:
        (dist_info,) = {n.parts[0] for n in names if n.parts[0].endswith(".dist-info")}
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode("utf-8")

    # nothing but the package: no tests/, alembic/, bench/ or scripts/ at the top level
    assert {n.parts[0] for n in names} == {"oms", dist_info}
    assert PurePosixPath("oms/py.typed") in names
    assert "oms = oms.cli:main" in entry_points

    # every module of the source tree (a subpackage left out of pyproject.toml shows here)
    modules = {
        PurePosixPath(p.relative_to(sources).as_posix()) for p in (sources / "oms").rglob("*.py")
    }
    assert modules, "no modules in the copied sources"
    assert modules <= names, sorted(map(str, modules - names))

    # the repository's alembic/ as oms/migrations, with every revision
    migrations = PurePosixPath("oms/migrations")
    for name in ("env.py", "script.py.mako"):
        assert migrations / name in names, name
    revisions = {p.name for p in (sources / "alembic" / "versions").glob("*.py")}
    assert revisions, "no migrations in the copied sources"
    shipped = {n.name for n in names if n.parent == migrations / "versions" and n.suffix == ".py"}
    assert shipped == revisions


# --- the installed package ----------------------------------------------------------------


def test_only_the_installed_wheel_is_imported(installed, wheel):
    assert installed.oms.is_file()
    probe = (
        "import json, sys, importlib.metadata as md, oms, oms.store.db as db, oms.core.ledger;"
        "print(json.dumps({'oms': oms.__file__, 'migrations': db.migrations_location(),"
        "'ledger': oms.core.ledger.__file__,"
        "'path': sys.path, 'prefix': sys.prefix,"
        "'direct_url': md.distribution('oms').read_text('direct_url.json')}))"
    )
    done = check([installed.python, "-c", probe], installed.cwd, installed.environ, 60)
    found: dict[str, Any] = json.loads(done.stdout)
    assert inside(found["oms"], installed.venv), found["oms"]
    assert inside(found["migrations"], installed.venv), found["migrations"]
    assert inside(found["ledger"], installed.venv), found["ledger"]
    assert found["ledger"].endswith(".so"), found["ledger"]  # the compiled hot path runs
    assert Path(found["prefix"]).resolve() == installed.venv.resolve()
    assert [p for p in found["path"] if p and inside(p, REPO)] == []
    origin = json.loads(found["direct_url"])
    assert origin["url"].endswith(wheel.name)  # installed from the wheel, not editable
    assert "dir_info" not in origin


def test_db_upgrade_creates_the_schema(installed, database, head):
    assert TABLES - _tables(database) == set()  # missing tables
    assert _revision(database) == [head]
    done = _oms(installed, "db", "current", "--db", f"sqlite:///{database}")
    assert done.stdout.split()[0] == head


@pytest.mark.parametrize("capture", ["sample-clean.jsonl.gz", "sample-dirty.jsonl.gz"])
def test_replay_json_matches_the_truth(installed, truth, capture):
    doc = json.loads(_oms(installed, "replay", DATA / capture, "--json").stdout)
    replay_truth.test_every_order_matches_truth(doc, truth)
    replay_truth.test_every_execution_matches_truth(doc, truth)
    replay_truth.test_every_position_matches_truth(doc, truth)
    replay_truth.test_stats_account_for_every_frame(doc)


def test_replay_into_the_upgraded_database(installed, database, head, truth):
    _oms(installed, "replay", DATA / "sample-dirty.jsonl.gz", "--db", f"sqlite:///{database}")
    assert _revision(database) == [head]

    orders = {r["order_id"]: r for r in _rows(database, "SELECT * FROM orders")}
    assert set(orders) == set(truth["orders"])
    for order_id, want in truth["orders"].items():
        row = orders[order_id]
        assert row["status"] == want["status"], order_id
        assert _dec(row["cum_exec_qty"]) == _dec(want["cumExecQty"]), order_id
        assert _dec(row["leaves_qty"]) == _dec(want["leavesQty"]), order_id
        assert _dec(row["avg_price"]) == _dec(want["avgPrice"]), order_id

    exec_ids = [r["exec_id"] for r in _rows(database, "SELECT exec_id FROM executions")]
    assert sorted(exec_ids) == truth["exec_ids"]

    legs = {
        f"{r['symbol']}:{r['position_idx']}": r for r in _rows(database, "SELECT * FROM positions")
    }
    assert set(legs) == set(truth["positions"])
    for key, want in truth["positions"].items():
        assert _dec(legs[key]["net_qty"]) == Decimal(want["signedSize"]), key


def test_run_against_the_sandbox(installed, tmp_path, head):
    db = tmp_path / "run.db"
    done = _oms(
        installed, "run", "--env", "sandbox", "--db", db, "--duration", str(SANDBOX_SECONDS)
    )
    # exit 0 already means the database equals the sandbox's truth; the summary says so
    assert "database equals the sandbox's truth" in done.stdout
    assert TABLES - _tables(db) == set()
    assert _revision(db) == [head]
    assert _rows(db, "SELECT COUNT(*) AS n FROM orders")[0]["n"] > 0
    assert _rows(db, "SELECT COUNT(*) AS n FROM executions")[0]["n"] > 0
    assert list(installed.cwd.iterdir()) == []  # wrote nothing where it was run
