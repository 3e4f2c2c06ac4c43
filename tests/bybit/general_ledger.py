"""``GeneralLedger``: a ledger that never takes the one-pass path, for the tests that hold
the one-pass path equal to the element-by-element one.

It holds a ``Ledger`` instead of extending it: ``Ledger`` is a compiled class, which an
interpreted class cannot extend (see ``oms.native``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oms import Ledger

if TYPE_CHECKING:
    from oms.bybit.ledger import FrameResult


class GeneralLedger:
    """A ``Ledger`` whose frames are all decoded element by element (``_ingest_generally``);
    everything else is the held ledger's."""

    def __init__(self, **options: Any) -> None:
        self.ledger = Ledger(**options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ledger, name)

    def apply_frame(self, text: Any, *, received_at: int | None = None) -> list[Any]:
        return self.feed(text, received_at=received_at).events

    def feed(self, text: Any, *, received_at: int | None = None) -> FrameResult:
        return self.ledger._ingest_generally(text, 0 if received_at is None else received_at)
