"""The layering as behaviour: what importing a module really loads, in a fresh interpreter.

``lint-imports`` (run by ``make test``) checks the import statements against the contracts
in ``pyproject.toml``; these tests check what Python actually loads, which also catches
an eager import hidden behind a function call at import time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import oms

ROOT = Path(__file__).resolve().parent.parent
CORE = sorted(p.stem for p in (ROOT / "oms" / "core").glob("*.py") if p.stem != "__init__")
SIM = sorted(p.stem for p in (ROOT / "oms" / "sim").glob("*.py") if p.stem != "__init__")
HEAVY = ("sqlalchemy", "alembic", "pydantic", "pydantic_core", "websocket", "psycopg", "rich")


#: What ``import oms`` loads: the package and its stdlib-only check of the compiled hot path
#: (``oms.native``).
BASE = {"oms", "oms.native"}


def loaded_by(statement: str) -> list[str]:
    """The non-stdlib top-level modules (and oms modules) loaded by ``statement``."""
    code = (
        "import json, sys\n"
        f"{statement}\n"
        "names = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names)\n"
        "print(json.dumps(names))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    last = out.stdout.splitlines()[-1]  # what the statement printed comes before
    # oms._compiled__mypyc is the C code of the compiled modules (oms.native), not a
    # dependency of its own: it loads with them.
    dropped = ("_", "__", "oms._compiled__mypyc")
    return [m for m in json.loads(last) if not m.startswith(dropped)]


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_loads_the_standard_library_only(module: str) -> None:
    """...and the one error tree (oms.errors, which masks signatures with oms.redact)."""
    loaded = loaded_by(f"import oms.core.{module}")
    allowed = (*BASE, "oms.core", "oms.errors", "oms.redact")
    assert [m for m in loaded if m not in allowed and not m.startswith("oms.core.")] == []


@pytest.mark.parametrize("module", SIM)
def test_a_simulator_module_loads_the_standard_library_only(module: str) -> None:
    loaded = loaded_by(f"import oms.sim.{module}")
    # oms.native: the stdlib-only staleness check every ``import oms`` runs
    assert [m for m in loaded if m not in BASE and not m.startswith("oms.sim")] == []


def test_import_oms_is_lazy_and_every_public_name_resolves() -> None:
    assert loaded_by("import oms") == sorted(BASE)
    # Every name of the public API resolves to the object its home module defines.
    code = "import oms; [getattr(oms, name) for name in oms.__all__]"
    loaded = loaded_by(code)
    assert "sqlalchemy" in loaded  # the names really were imported (Account needs the store)
    for name in oms.__all__:
        assert getattr(oms, name) is not None
    assert sorted(dir(oms)) == sorted(oms.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = oms.nonexistent  # type: ignore[attr-defined]


def test_the_ledger_alone_needs_no_database_socket_or_pydantic_models() -> None:
    loaded = {m.split(".")[0] for m in loaded_by("from oms import Ledger; Ledger()")}
    # pydantic itself (its models) only for a wallet or control frame: pydantic-core decodes
    assert loaded.isdisjoint({"sqlalchemy", "alembic", "psycopg", "websocket", "rich", "pydantic"})


def test_oms_help_loads_none_of_the_heavy_libraries() -> None:
    loaded = {
        m.split(".")[0]
        for m in loaded_by(
            "import sys\nsys.argv = ['oms', '--help']\nfrom oms.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass"
        )
    }
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
