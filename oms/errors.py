"""Every error oms raises, in one tree, named for what went wrong.

``LocalError`` means the caller misused the library (or its configuration is wrong);
``RemoteError`` means the venue (or the wire) sent something we cannot accept;
``StorageError`` is the database; ``AccountFailedError`` is an account that stopped.
The modules that raise them re-export them where they were first defined. The ledger
never raises these out of ``apply_frame``: bad input becomes an outcome and an event.
"""

from __future__ import annotations

from oms.redact import scrub_signatures


def _scrubbed(text: str) -> str:
    return scrub_signatures(text)[0]


class OmsError(Exception):
    """Base of every error oms raises on purpose."""


class LocalError(OmsError):
    """The caller asked for something that cannot be done."""


class AmbiguousSymbolError(LocalError):
    """A position query named a symbol held in more than one category (BTCUSDT spot and
    BTCUSDT linear, say) without ``category=``: it is refused, never summed across them."""


class RemoteError(OmsError):
    """The venue or the wire sent something that cannot be accepted."""


class MalformedFrameError(RemoteError):
    """A frame (or one element of it) is not valid Bybit v5 private-stream data."""

    def __init__(self, reason: str, *, topic: str | None = None, index: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.topic = topic
        self.index = index


class IllegalTransitionError(RemoteError):
    """An order update would break the order lifecycle (for example leave a terminal state)."""


class StorageError(OmsError):
    """The database could not be opened, migrated, read or written."""


class NewerSchemaError(StorageError):
    """The database is at a schema revision this oms does not know: a newer oms wrote it.
    Nothing was read or written: the command refused to start (exit status 2)."""


class AuthError(RemoteError):
    """The venue refused the credentials: bad key or signature, expired request, missing
    permission, IP not whitelisted. Never retried blindly; never carries the secret."""

    def __init__(self, message: str, *, code: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.path = path


class LoginRefusedError(AuthError):
    """The stream's login was refused ``failures`` times in a row; ``ret_msg`` says why.
    Neither the text nor ``ret_msg`` carries a signature-shaped token."""

    def __init__(self, message: str, *, ret_msg: str, failures: int) -> None:
        super().__init__(_scrubbed(message))
        self.ret_msg = _scrubbed(ret_msg)
        self.failures = failures


class SubscribeError(RemoteError):
    """Bybit refused a subscription: resubscribing would fail forever, so the run stops.
    Neither the text nor ``ret_msg`` carries a signature-shaped token."""

    def __init__(self, topics: tuple[str, ...], ret_msg: str) -> None:
        named = ", ".join(repr(t) for t in topics)
        reason = ret_msg or "(no reason)"
        super().__init__(_scrubbed(f"subscription refused for topic(s) {named}: {reason}"))
        self.topics = topics
        self.ret_msg = _scrubbed(ret_msg)


class RestError(RemoteError):
    """A REST call failed: ``code`` is Bybit's retCode (``None`` for HTTP/network)."""

    def __init__(self, code: int | None, message: str, path: str) -> None:
        suffix = f" (retCode {code})" if code is not None else ""
        super().__init__(f"GET {path}: {message}{suffix}")
        self.code = code
        self.message = message
        self.path = path


class RateLimitedError(RestError):
    """Still rate limited after every retry."""


#: Bybit's retCode for a request timestamp outside the receive window.
CLOCK_SKEW = 10002


class ClockSkewError(RestError):
    """Bybit refused the request timestamp (10002): the local clock is off."""

    def __init__(
        self, message: str, path: str, *, server_time_ms: int | None, local_time_ms: int
    ) -> None:
        super().__init__(CLOCK_SKEW, message, path)
        self.server_time_ms = server_time_ms
        self.local_time_ms = local_time_ms
        self.skew_ms = None if server_time_ms is None else local_time_ms - server_time_ms


class MetricsError(LocalError):
    """Metrics were asked for and cannot be served (a configuration problem)."""


class MetricsUnavailableError(MetricsError):
    """Metrics were asked for but ``prometheus-client`` is not installed."""

    def __init__(self) -> None:
        super().__init__("metrics need the prometheus-client package: pip install 'oms[metrics]'")


class StoreUnavailableError(StorageError):
    """A write failed for a reason that may pass (the database is locked, the disk is full,
    the connection was lost, the server restarted). What was received is kept in memory
    and the write is retried until it succeeds or the store-fault deadline passes."""


class AccountFailedError(OmsError):
    """The account stopped on a fault it could not ride out: a store fault that outlasted
    its deadline, a full receive buffer, a write the database refuses for good, or a bug.
    ``oms run`` exits 1 with this reason (a supervisor restarts it; the restart resyncs)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LeaseHeldError(StorageError):
    """Another live process owns the account's lease (see ``oms.store.lease``): this one
    refused to start, nothing was written (exit status 2). ``str()`` is one line naming
    the account and its owner (host, pid, since when, lease epoch, heartbeat age)."""

    def __init__(self, message: str, *, account: str | None = None) -> None:
        super().__init__(message)
        self.account = account


class LeaseLostError(AccountFailedError):
    """The account's lease moved on: another process took the account over (its owner
    stopped renewing, or the lock was taken away). This writer must stop without writing
    anything more; ``oms run`` exits 1 (the new owner carries on)."""
