"""The hooks through which the private stream (``oms.bybit.stream``) tells its owner
about its connections, and the stream's default when given none. Apart from the socket
code: an owner (the runtime's log context and metrics) implements them without it.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ConnectionHooks", "NoHooks"]


class ConnectionHooks(Protocol):
    """What the stream tells its owner about connections, on the stream thread. The codec
    knows no logging context or metrics registry: the runtime passes hooks that feed them.
    Both must be cheap and must not raise."""

    def named(self, label: str) -> None:
        """The current connection is now called ``label``: ``c<n>``, then Bybit's conn_id."""

    def connected(self, number: int) -> None:
        """The stream opened its ``number``-th connection (2 and up: a reconnect)."""


class NoHooks:
    """The hooks of a stream given none: it tells nobody."""

    def named(self, label: str) -> None:
        """Nothing."""

    def connected(self, number: int) -> None:
        """Nothing."""
