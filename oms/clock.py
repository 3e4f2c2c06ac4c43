"""The one wall clock: receipt times and deadlines in epoch milliseconds."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return time.time_ns() // 1_000_000
