"""Build oms, with its hot path compiled to C by mypyc.

Everything about the package lives in ``pyproject.toml``; this file only adds the compiled
modules, which ``oms/native.py`` names (the one list: the build, the staleness check at
import and the tests all read it). They are the per-frame path from a raw frame to its
events: the core ledger and what it calls for every element, and ``oms.bybit.ledger``'s
``apply_frame``. The same sources run interpreted where they are not compiled: with
``OMS_PURE_PYTHON=1`` set at install time nothing is compiled, and oms is pure Python
(slower, otherwise the same; the test suite passes either way).

mypyc type-checks what it compiles with its own settings (``--config-file`` below, no
pydantic plugin, imports outside the list read as ``Any``), so the build needs mypy and
nothing else of oms's dependencies.
"""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
NATIVE = runpy.run_path(str(HERE / "oms" / "native.py"))


if os.environ.get("OMS_PURE_PYTHON", "") not in ("", "0"):
    setup()
else:
    from mypyc.build import mypycify

    # The sources' hashes as compiled: ``import oms`` refuses a module whose source has
    # changed since (``oms.native.check``).
    NATIVE["BUILD_RECORD"].write_text(json.dumps(NATIVE["record"](), indent=1) + "\n")
    options = ["--config-file", str(HERE / "mypyc.ini")]
    # group_name: mypyc's shared library goes inside the package (oms/_compiled__mypyc...),
    # not beside it at the top level of site-packages.
    modules = mypycify([*options, *NATIVE["sources"]()], opt_level="3", group_name="oms._compiled")
    setup(ext_modules=modules)
