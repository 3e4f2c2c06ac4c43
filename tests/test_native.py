"""The compiled hot path (``oms.native``, ``setup.py``): what is compiled is what the tests
and the benchmark run, a stale build is refused loudly, and the sources run interpreted
give exactly what the compiled modules give.

In CI the modules must be compiled (``make test`` installs with ``setup.py``); a
pure-Python install (``OMS_PURE_PYTHON=1``) is told apart by the missing build record, and
then only the tests that need the compiled build say why they do not apply."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from oms import native
from tests.conftest import DATA

if TYPE_CHECKING:
    from collections.abc import Iterable

ROOT = Path(__file__).resolve().parents[1]
PURE = os.environ.get("OMS_PURE_PYTHON", "") not in ("", "0")


def test_every_listed_module_is_compiled_and_its_record_matches():
    if PURE:
        assert native.compiled() == []
        return
    assert native.compiled() == list(native.COMPILED)
    for name in native.COMPILED:
        module = importlib.import_module(name)
        assert Path(module.__file__ or "").suffix == ".so", name  # the extension runs
    built = json.loads(native.BUILD_RECORD.read_text(encoding="utf-8"))
    assert built == native.record()
    native.check()  # and the check agrees


def test_a_source_changed_after_the_build_stops_the_import(tmp_path, monkeypatch):
    if PURE:
        pytest.skip("a pure-Python install has nothing compiled to be stale")
    record = native.record()
    record["oms.core.ledger"] = hashlib.sha256(b"an older ledger.py").hexdigest()
    stale = tmp_path / "native-build.json"
    stale.write_text(json.dumps(record), encoding="utf-8")
    monkeypatch.setattr(native, "BUILD_RECORD", stale)
    with pytest.raises(native.StaleBuildError, match=r"oms\.core\.ledger compiled from an older"):
        native.check()
    assert issubclass(native.StaleBuildError, ImportError)


def test_a_missing_build_record_is_a_stale_build(tmp_path, monkeypatch):
    if PURE:
        pytest.skip("a pure-Python install has no build record to lose")
    monkeypatch.setattr(native, "BUILD_RECORD", tmp_path / "absent.json")
    with pytest.raises(native.StaleBuildError, match=r"rebuild with `pip install -e \.`"):
        native.check()


def test_nothing_compiled_passes_the_check(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_extensions", lambda _module: [])
    monkeypatch.setattr(native, "BUILD_RECORD", tmp_path / "absent.json")
    native.check()
    assert native.compiled() == []


def test_the_makefile_reinstalls_when_a_compiled_source_changes():
    listed = subprocess.run(
        [sys.executable, str(ROOT / "oms" / "native.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    assert listed == [f"{name.replace('.', '/')}.py" for name in native.COMPILED]
    assert all((ROOT / path).is_file() for path in listed)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "NATIVE_SOURCES := $(shell $(PYTHON) oms/native.py)" in makefile
    assert "$(STAMP): pyproject.toml setup.py mypyc.ini oms/native.py $(NATIVE_SOURCES)" in makefile


def _sources_only(destination: Path) -> Path:
    """A copy of the ``oms`` package without its compiled files: the sources, as a
    pure-Python install has them."""

    def ignored(_folder: str, names: Iterable[str]) -> list[str]:
        return [n for n in names if n.endswith(".so") or n in ("native-build.json", "__pycache__")]

    shutil.copytree(ROOT / "oms", destination / "oms", ignore=ignored)
    return destination


#: Replays a capture through a Ledger and prints what it did, one line a frame, and its
#: final state: run once on the compiled modules, once on the sources.
_REPLAY = """
import gzip, sys
import oms.core.ledger, oms.bybit.ledger
from oms import Ledger
print(oms.core.ledger.__file__.endswith(".py"), oms.bybit.ledger.__file__.endswith(".py"))
ledger = Ledger()
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as lines:
    for at, line in enumerate(lines):
        print([repr(e) for e in ledger.apply_frame(line.rstrip("\\n"), received_at=at)])
print([repr(e) for e in ledger.settle(received_at=10**9)])
print(ledger.stats)
print([repr(o) for o in ledger.orders()])
print([repr(f) for f in ledger.fills()])
print([repr(r) for r in ledger.position_reports()])
print(sorted((repr(k), repr(leg.derived_net)) for k, leg in ledger.legs().items()))
"""


def _replay(capture: Path, *, path: Path | None) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if path is not None:
        environment["PYTHONPATH"] = str(path)
    done = subprocess.run(
        [sys.executable, "-c", _REPLAY, str(capture)],
        capture_output=True,
        text=True,
        check=False,
        cwd=path or ROOT,
        env=environment,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


@pytest.mark.parametrize("capture", ["sample-dirty.jsonl.gz", "sample-clean.jsonl.gz"])
def test_the_sources_interpreted_do_exactly_what_the_compiled_modules_do(capture, tmp_path):
    path = DATA / capture
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        assert sum(1 for _ in lines) > 100  # a real session, not a handful of frames
    compiled = _replay(path, path=None)
    interpreted = _replay(path, path=_sources_only(tmp_path))
    assert compiled[0] == ("False False" if not PURE else "True True")
    assert interpreted[0] == "True True"
    assert compiled[1:] == interpreted[1:]
    assert any("FillBooked" in line for line in compiled)  # it did book fills
