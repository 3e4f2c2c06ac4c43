"""A throwaway PostgreSQL server for the test suite, run as the ``postgres`` user.

    python scripts/pg_test_server.py start DIR [PORT]   # prints the database URL
    python scripts/pg_test_server.py stop DIR

Uses Debian's server binaries (package ``postgresql``). The server refuses to run as
root, so when this runs as root every server command goes through ``runuser -u postgres``.
It listens on 127.0.0.1 only, with trust authentication, and lives entirely in DIR.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER = "postgres"
DATABASE = "oms_test"


def _bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"PostgreSQL server binary {name!r} not found: apt-get install postgresql")
    return path


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", USER, "--", *args]
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(directory: str, port: int | None = None) -> str:
    port = port or free_port()
    data = Path(directory) / "data"
    Path(directory).mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(directory, USER)
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            _as_postgres(
                [_bin("initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} "
        f"-c unix_socket_directories={directory} -c fsync=off"
    )
    subprocess.run(
        _as_postgres(
            [
                _bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                f"{directory}/log",
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=90,
    )
    subprocess.run(
        _as_postgres(
            [
                _bin("createdb") if shutil.which("createdb") is None else "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                USER,
                DATABASE,
            ]
        ),
        check=False,
        capture_output=True,
        timeout=60,
    )
    return f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}"


def stop(directory: str) -> None:
    data = Path(directory) / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(
            _as_postgres([_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
            timeout=60,
        )


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("start", "stop"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "start":
        print(start(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None))
    else:
        stop(sys.argv[2])
