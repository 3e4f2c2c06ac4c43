"""The wheel alone is enough: built from the working tree, installed into a new virtual
environment outside the repository, its ``oms`` console script upgrades a database with
the migrations it ships, replays a capture to the exchange's truth (as JSON and into the
database) and runs against the embedded sandbox.

The wheel is built from a copy of the files git would see (tracked and untracked, not
ignored), so the build leaves nothing (``build/``, ``*.egg-info``) in the repository.
The new environment has no pip of its own: the test's pip installs into it with
``--python``, resolving the dependencies from the package registry. Every command runs
from an empty directory with no ``PYTHONPATH``, so only the installed package can be
imported; the test checks that it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest
from alembic.script import ScriptDirectory

import tests.test_replay_truth as replay_truth
from oms import native
from tests.conftest import DATA

if TYPE_CHECKING:
    from collections.abc import Sequence

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
#: Building and installing may download from the registry; the rest is local.
BUILD_TIMEOUT_S = 600
COMMAND_TIMEOUT_S = 120
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
#: Left out of the copy when the checkout is not a git work tree.
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    ".coverage",
    "oms.db*",
)


@dataclass(frozen=True)
class Installed:
    """A virtual environment with only the wheel (and its dependencies) installed."""

    venv: Path
    cwd: Path  # empty: nothing importable from it
    environ: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def oms(self) -> Path:
        return self.venv / "bin" / "oms"


def _inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def _copy_sources(target: Path) -> Path:
    """The files git sees in the working tree (uncommitted edits and new files included)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=COMMAND_TIMEOUT_S,
        )
    except (OSError, subprocess.CalledProcessError):  # no git, or not a work tree
        shutil.copytree(REPO, target, ignore=NOT_SOURCES)
        return target
    for name in listed.stdout.decode("utf-8").split("\0"):
        source = REPO / name
        if name and source.is_file():  # a tracked file deleted in the work tree is gone
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _environ(venv: Path | None = None) -> dict[str, str]:
    """This process's environment less anything that points Python at other code."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "COV_CORE", "CONDA"))
    }
    if venv is not None:
        paths = [p for p in environ.get("PATH", "").split(os.pathsep) if p and not _inside(p, REPO)]
        environ |= {
            "PATH": os.pathsep.join([str(venv / "bin"), *paths]),
            "VIRTUAL_ENV": str(venv),
            "PYTHONNOUSERSITE": "1",
            "PYTHONIOENCODING": "utf-8",
            "COLUMNS": "200",
        }
    return environ


def _check(
    args: Sequence[str | Path], cwd: Path, environ: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
    )
    command = " ".join(str(a) for a in args)
    assert done.returncode == 0, (
        f"`{command}` exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _oms(installed: Installed, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return _check([installed.oms, *args], installed.cwd, installed.environ, COMMAND_TIMEOUT_S + 30)


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
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_sources(tmp_path_factory.mktemp("sources") / "oms")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, sources: Path) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    assert not _inside(out, REPO)
    _check(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", out, sources],
        out,
        _environ(),
        BUILD_TIMEOUT_S,
    )
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Installed:
    base = tmp_path_factory.mktemp("fresh")
    assert not _inside(base, REPO)
    venv, cwd = base / "venv", base / "cwd"
    cwd.mkdir()
    _check([sys.executable, "-m", "venv", "--without-pip", venv], base, _environ(), 120)
    environ = _environ(venv)
    _check(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", wheel],
        base,
        _environ(),
        BUILD_TIMEOUT_S,
    )
    return Installed(venv, cwd, environ)


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
    done = _check([installed.python, "-c", probe], installed.cwd, installed.environ, 60)
    found: dict[str, Any] = json.loads(done.stdout)
    assert _inside(found["oms"], installed.venv), found["oms"]
    assert _inside(found["migrations"], installed.venv), found["migrations"]
    assert _inside(found["ledger"], installed.venv), found["ledger"]
    assert found["ledger"].endswith(".so"), found["ledger"]  # the compiled hot path runs
    assert Path(found["prefix"]).resolve() == installed.venv.resolve()
    assert [p for p in found["path"] if p and _inside(p, REPO)] == []
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
