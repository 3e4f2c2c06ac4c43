"""``start_thread``: the one way oms starts a background thread.

The thread runs in a copy of the caller's ``contextvars`` context, so what the caller bound
there (the log context of ``oms.runtime.logs``: account and connection) is what the
thread's log lines carry, whichever layer starts it.
"""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def start_thread(target: Callable[[], object], *, name: str) -> threading.Thread:
    """Start a daemon thread that runs ``target`` in a copy of the caller's context."""
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(target,), name=name, daemon=True
    )
    thread.start()
    return thread
