"""The wheel the packaging tests install, built in the background.

Building it takes minutes of one core (mypyc type-checks the hot path, then gcc compiles
its C with ``-O3``), then a new virtual environment gets it. Waiting for that in the
first test's fixture left the other core idle for the whole build, so ``conftest.py``
starts a ``Build`` as soon as the session knows a packaging test will run; the rest of the
suite runs meanwhile, and the fixtures wait for what they need. It is the same build as
before, step by step: the copy of the sources git sees, ``pip wheel``, a new venv,
``pip install`` of the wheel.

The wheel is built from a copy of the files git would see (tracked and untracked, not
ignored), so the build leaves nothing (``build/``, ``*.egg-info``) in the repository.
The new environment has no pip of its own: the test's pip installs into it with
``--python``, resolving the dependencies from the package registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

REPO = Path(__file__).resolve().parents[2]
#: Building and installing may download from the registry; the rest is local.
BUILD_TIMEOUT_S = 600
COMMAND_TIMEOUT_S = 120
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


def inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def copy_sources(target: Path) -> Path:
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


def environ_for(venv: Path | None = None) -> dict[str, str]:
    """This process's environment less anything that points Python at other code."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "COV_CORE", "CONDA"))
    }
    if venv is not None:
        paths = [p for p in environ.get("PATH", "").split(os.pathsep) if p and not inside(p, REPO)]
        environ |= {
            "PATH": os.pathsep.join([str(venv / "bin"), *paths]),
            "VIRTUAL_ENV": str(venv),
            "PYTHONNOUSERSITE": "1",
            "PYTHONIOENCODING": "utf-8",
            "COLUMNS": "200",
        }
    return environ


def check(
    args: Sequence[str | Path], cwd: Path, environ: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a command; fail, with the tail of its output, unless it exits 0 and prints no
    traceback."""
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
    _assert_succeeded(args, done)
    return done


def _assert_succeeded(args: Sequence[str | Path], done: subprocess.CompletedProcess[str]) -> None:
    command = " ".join(str(a) for a in args)
    assert done.returncode == 0, (
        f"`{command}` exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    assert "Traceback" not in done.stderr, done.stderr


class BuildError(AssertionError):
    """A step of the build failed (its message says which, with the command's output)."""


class Build:
    """The copied sources, the wheel and its new virtual environment, made by a thread.

    Every command runs in its own process group, so ``stop`` ends a build still running
    (pip's build backend and gcc with it) when the session ends early."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="oms-wheel-test-"))
        assert not inside(self.base, REPO)
        self._lock = threading.Lock()
        self._running: subprocess.Popen[str] | None = None
        self._stopped = False
        self._done = {step: threading.Event() for step in ("sources", "wheel", "installed")}
        self._error: BaseException | None = None
        self._sources: Path | None = None
        self._wheel: Path | None = None
        self._installed: Installed | None = None
        self._thread = threading.Thread(target=self._build, name="wheel-build", daemon=True)
        self._thread.start()

    # --- what the fixtures wait for ---------------------------------------------------------

    def sources(self) -> Path:
        self._wait("sources")
        assert self._sources is not None
        return self._sources

    def wheel(self) -> Path:
        self._wait("wheel")
        assert self._wheel is not None
        return self._wheel

    def installed(self) -> Installed:
        self._wait("installed")
        assert self._installed is not None
        return self._installed

    def _wait(self, step: str) -> None:
        if not self._done[step].wait(2 * BUILD_TIMEOUT_S + COMMAND_TIMEOUT_S):
            raise BuildError(f"the background build did not reach {step!r} in time")
        if self._error is not None:
            raise BuildError(f"the background build failed before {step!r}: {self._error}")

    def stop(self) -> None:
        """End a build still running and remove everything it made."""
        with self._lock:
            self._stopped = True
            running = self._running
        if running is not None and running.poll() is None:
            os.killpg(running.pid, signal.SIGKILL)
        self._thread.join(COMMAND_TIMEOUT_S)
        shutil.rmtree(self.base, ignore_errors=True)

    # --- the thread ---------------------------------------------------------------------------

    def _build(self) -> None:
        try:
            self._sources = copy_sources(self.base / "sources" / "oms")
            self._done["sources"].set()
            self._wheel = self._build_wheel(self._sources)
            self._done["wheel"].set()
            self._installed = self._install(self._wheel)
        except BaseException as exc:  # noqa: BLE001 - handed to whichever fixture waits
            self._error = exc
        finally:
            for done in self._done.values():
                done.set()

    def _build_wheel(self, sources: Path) -> Path:
        out = self.base / "wheelhouse"
        out.mkdir()
        self._run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", out, sources],
            out,
            environ_for(),
        )
        (built,) = out.glob("*.whl")
        return built

    def _install(self, wheel: Path) -> Installed:
        venv, cwd = self.base / "fresh" / "venv", self.base / "fresh" / "cwd"
        cwd.mkdir(parents=True)
        self._run([sys.executable, "-m", "venv", "--without-pip", venv], cwd.parent, environ_for())
        python = venv / "bin" / "python"
        self._run(
            [sys.executable, "-m", "pip", "--python", python, "install", wheel],
            cwd.parent,
            environ_for(),
        )
        return Installed(venv, cwd, environ_for(venv))

    def _run(self, args: Sequence[str | Path], cwd: Path, environ: dict[str, str]) -> None:
        with self._lock:
            if self._stopped:
                raise BuildError("stopped")
            proc = self._running = subprocess.Popen(
                [str(a) for a in args],
                cwd=cwd,
                env=environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
        try:
            stdout, stderr = proc.communicate(timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        _assert_succeeded(args, subprocess.CompletedProcess(args, proc.returncode, stdout, stderr))
