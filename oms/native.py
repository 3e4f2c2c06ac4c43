"""Which modules are compiled to C (mypyc), and the check that none is stale.

The per-frame path, from a frame's core values to its events, is compiled at install
time (``setup.py``): the benchmark's decode+ledger takes about a sixth less time
(10.16 against 8.49 µs a frame, ``bench/README.md``). The sources stay the truth: they
are what mypy, the linters and a reader see, and what runs where nothing was compiled
(``OMS_PURE_PYTHON=1`` at install).

A compiled module shadows its ``.py``: Python imports the extension first. So a source
edited after the build would silently not run. ``check()``, called by ``import oms``,
refuses that: the build records each compiled source's SHA-256 in ``BUILD_RECORD``, and a
compiled module whose source no longer has that hash stops the import with a message
saying how to rebuild. Standard library only (it runs on every ``import oms``).

``python oms/native.py`` prints the compiled modules' source paths (for the Makefile).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
from pathlib import Path
from typing import Final

__all__ = [
    "BUILD_RECORD",
    "COMPILED",
    "StaleBuildError",
    "check",
    "compiled",
    "record",
    "sources",
]

#: The compiled modules, by import name.
COMPILED: Final = (
    "oms.core.batch",
    "oms.core.evicted",
    "oms.core.exact",
    "oms.core.fills",
    "oms.core.holdings",
    "oms.core.ledger",
    "oms.core.memory",
    "oms.core.positions",
    "oms.core.queries",
    "oms.core.settling",
    "oms.core.states",
    "oms.core.update_events",
    "oms.bybit.finishers",
    "oms.bybit.ledger",
)
_PACKAGE: Final = Path(__file__).resolve().parent
#: Written by the build beside this file: compiled module -> SHA-256 of its source.
BUILD_RECORD: Final = _PACKAGE / "native-build.json"


class StaleBuildError(ImportError):
    """A compiled module no longer matches its source (or has no record of it)."""


def _source(module: str) -> Path:
    return _PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")


def _extensions(module: str) -> list[Path]:
    source = _source(module)
    return [
        source.with_suffix(suffix)
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if source.with_suffix(suffix).exists()
    ]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record() -> dict[str, str]:
    """Each compiled module's source hash, as the build writes it to ``BUILD_RECORD``."""
    return {module: _digest(_source(module)) for module in COMPILED}


def sources() -> list[str]:
    """The compiled modules' source paths, relative to the project root (what the build
    compiles and the Makefile watches)."""
    return [str(_source(module).relative_to(_PACKAGE.parent)) for module in COMPILED]


def compiled() -> list[str]:
    """The modules that have a compiled extension beside their source."""
    return [module for module in COMPILED if _extensions(module)]


def check() -> None:
    """Raise ``StaleBuildError`` if a compiled module is not built from its source as it
    is now. Nothing compiled (a pure-Python install) passes."""
    present = compiled()
    if not present:
        return
    try:
        built = json.loads(BUILD_RECORD.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        built = {}
    stale = [m for m in present if not _source(m).exists() or built.get(m) != _digest(_source(m))]
    if stale:
        raise StaleBuildError(
            f"{', '.join(stale)} compiled from an older source: rebuild with "
            "`pip install -e .` (or `make`), or delete the compiled files beside the "
            f"sources ({_extensions(stale[0])[0].name} and the like) to run the sources "
            "as they are"
        )


if __name__ == "__main__":
    print("\n".join(sources()))  # noqa: T201
