"""What ``Pipeline`` does when a write fails: keep the group and retry, or fail for good.

A write that fails for a reason that may pass (``oms.store.faults.is_transient``: locked,
disk full, connection lost) keeps the staged group and raises ``StoreUnavailableError``;
``commit_pending`` retries it with capped backoff until the write succeeds or the
store-fault deadline passes, while ``fault`` says since when and why. Anything else (a
deadline passed, a write the database refuses for good, a lost lease) fails the service:
``failure`` holds the reason, and every later call raises it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from oms.clock import now_ms
from oms.errors import AccountFailedError, LeaseLostError, StoreUnavailableError
from oms.store.faults import RETRY_DELAY_S, StoreFault, describe, is_transient

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.errors import OmsError

log = logging.getLogger("oms.runtime.pipeline")


class WriteFaults:
    """``Pipeline``'s store-fault handling (a mixin: ``Pipeline`` provides the parts below)."""

    account: str

    def __init__(self, store_fault_deadline_s: float) -> None:
        #: A store fault lasting longer than this (seconds) fails the service.
        self.store_fault_deadline_s = store_fault_deadline_s
        #: The write fault in progress, if any (what ``health()`` reports as degraded).
        self.fault: StoreFault | None = None
        #: Why the service stopped for good, if it did; every later call raises it.
        self.failure: AccountFailedError | None = None

    def flush(self) -> None:
        """Commit everything staged (``Pipeline.flush``)."""
        raise NotImplementedError

    @property
    def staged_frames(self) -> int:
        """Frames not yet committed (``Pipeline.staged_frames``)."""
        raise NotImplementedError

    def _drop_connection(self) -> None:
        """Forget a connection a fault may have broken (``Pipeline._drop_connection``)."""
        raise NotImplementedError

    def _write_failed(self, exc: BaseException, began: float) -> OmsError:
        """Classify a failed write: kept for a retry, or the service fails. A fault
        dates from when its first failing write began (SQLite's busy wait included)."""
        self._drop_connection()
        if isinstance(exc, LeaseLostError):  # another process owns the account now
            return self.fail(exc.reason)
        if not is_transient(exc):
            log.error("store: the database refused a write", exc_info=exc)
            return self.fail(f"the database refused a write for good: {describe(exc)}")
        error = describe(exc)
        fault = self.fault
        if fault is None:
            waited_ms = int((time.monotonic() - began) * 1000)
            self.fault = StoreFault(since_ms=now_ms() - waited_ms, since=began, error=error)
            kept = self.staged_frames
            log.warning(
                "store: cannot write (%s); keeping %d frames and retrying for up to %g s",
                error,
                kept,
                self.store_fault_deadline_s,
            )
        else:
            fault.attempts += 1
            fault.error = error
            log.info("store: still cannot write (attempt %d): %s", fault.attempts, error)
        return StoreUnavailableError(f"cannot write to the database: {error}")

    def _wrote_again(self) -> None:
        """A write succeeded: the fault in progress, if any, is over."""
        if self.fault is not None:
            log.warning(
                "store: writing again after %.1f s and %d failed attempts",
                (time.monotonic() - self.fault.since),
                self.fault.attempts,
            )
            self.fault = None

    def commit_pending(self, *, abort: Callable[[], str | None] | None = None) -> None:
        """Write what is staged, retrying with capped backoff while the fault lasts.

        Fails the service (``AccountFailedError``) when the fault outlasts
        ``store_fault_deadline_s`` (checked before every attempt; an attempt itself may
        wait up to SQLite's busy timeout), or when ``abort()`` returns a reason to stop."""
        delay = RETRY_DELAY_S[0]
        while True:
            self._check_deadline(abort)
            try:
                self.flush()
            except StoreUnavailableError:
                fault = self.fault
                waited = 0.0 if fault is None else time.monotonic() - fault.since
                time.sleep(min(delay, max(self.store_fault_deadline_s - waited, 0.0)))
                delay = min(delay * 2, RETRY_DELAY_S[1])
            else:
                return

    def _check_deadline(self, abort: Callable[[], str | None] | None) -> None:
        fault = self.fault
        if fault is None:
            return
        waited = time.monotonic() - fault.since
        if waited >= self.store_fault_deadline_s:
            raise self.fail(
                f"the database stayed unwritable for {waited:.0f} s (store-fault deadline "
                f"{self.store_fault_deadline_s:g} s): {fault.error}"
            )
        reason = abort() if abort is not None else None
        if reason is not None:
            raise self.fail(f"{reason} while the database was unwritable: {fault.error}")

    def fail(self, reason: str) -> AccountFailedError:
        """Stop the service for good with ``reason`` (every later call raises it); the
        first reason stays. Returns the failure, for the caller to raise."""
        if self.failure is None:
            self.failure = AccountFailedError(reason)
            log.error("account %s failed: %s", self.account, reason)
        return self.failure

    def _check_usable(self) -> None:
        if self.failure is not None:
            raise self.failure
