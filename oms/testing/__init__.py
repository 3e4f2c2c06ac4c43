"""Hypothesis strategies for Bybit v5 private-stream sessions, the faults of a real link,
and the state a correct consumer must end in: property-test your own consumer of the
stream (or of ``oms`` events) against frames exactly like Bybit's.

Needs hypothesis (``pip install hypothesis``, or ``pip install 'oms[testing]'``); plain
``import oms`` never imports it.

**Lifecycles** (``oms.testing.lifecycles``): one order's whole life by kind, as
``Lifecycle`` (frames, truth, ``order_id``, ``statuses``): ``plain_lifecycle()``,
``partial_fill_lifecycle()``, ``cancel_with_fills_lifecycle()``,
``conditional_lifecycle()`` (Untriggered -> Triggered -> New ..., or -> Deactivated),
``amend_lifecycle()``, ``tpsl_lifecycle()`` (orderLinkId ``""``, TP/SL stopOrderType), and
``lifecycle(kinds=...)`` for any of them.

**Sessions** (``oms.testing.sessions``): ``session()`` draws a whole account session (many
orders interleaved, executions, ``execution.fast`` copies, position reports, funding,
rejects, the cancel-race echo) as the raw text frames Bybit sends; ``session_from_seed``
builds one without hypothesis. ``SimulatedExchange`` scripts a scenario by hand.

**Disorder** (``oms.testing.disorder``): ``disorder(frames, window=w)`` repeats, reorders
(no frame moves more than w places) and, with ``drops=True``, loses frames;
``duplicated``, ``reordered`` and ``dropped`` do one of those each; ``deliveries(n)``
gives the same as a ``Delivery`` of indices (which frames were repeated or lost).
``corrupted(frame)`` and ``garbage()`` give malformed input.

**Poison** (``oms.testing.poison``): values a valid frame may carry only when something
upstream went wrong or someone crafted them (``positionIdx: 3``, ``seq`` beyond 64 bits,
a 30-digit time, ``"²"`` for digits, ``"1e999"``, null, the wrong JSON type, a key
repeated with the poison last). ``poisoned_frames(frame)`` poisons one field of one
element and names it (``Poisoned.index``): exactly that element must be refused and its
siblings applied as if it had not been there (``Poisoned.without_poisoned``);
``poisoned_envelopes(frame)`` poisons the envelope, so nothing of the frame is usable;
``non_text_inputs()`` are objects that are not a frame at all (None, a list, a
number, bytes that are not UTF-8); ``poison_values(rule)`` gives the poison for one rule
of ``FIELD_RULES`` (``RawJSON`` marks a token such as ``NaN`` that ``json.dumps`` cannot
write).

**Models** (``oms.testing.model``): ``ReferenceModel`` (``session.truth``) is the state a
consumer must end in once every frame was delivered, whatever the repeats and order:
each order's final report, every fill once by execId, each leg's newest position report.
``DeliveryModel`` is the state after any delivery, including a lossy one: only what was
delivered, nothing invented. ``venue_snapshot(frames)`` is the REST resync that brings a
lossy ledger back to the truth. ``ledger_differences(ledger, model)`` lists how an
``oms.Ledger`` differs from either model (empty: equal).

Example::

    from hypothesis import given, strategies as st
    from oms import Ledger
    from oms.testing import disorder, ledger_differences, session

    @given(st.data())
    def test_any_delivery_order_ends_in_the_truth(data):
        s = data.draw(session())
        ledger = Ledger()
        for frame in data.draw(disorder(s.frames, window=5)):
            ledger.apply_frame(frame)
        assert ledger_differences(ledger, s.truth) == []
"""

try:
    from oms.testing.compare import ledger_differences
    from oms.testing.corruption import Corruption, corrupted, garbage
    from oms.testing.disorder import (
        Delivery,
        deliveries,
        disorder,
        dropped,
        duplicated,
        reordered,
    )
    from oms.testing.exchange import SimulatedExchange
    from oms.testing.lifecycles import (
        LIFECYCLE_KINDS,
        Lifecycle,
        amend_lifecycle,
        cancel_with_fills_lifecycle,
        conditional_lifecycle,
        lifecycle,
        partial_fill_lifecycle,
        plain_lifecycle,
        tpsl_lifecycle,
    )
    from oms.testing.model import DeliveryModel, ReferenceModel
    from oms.testing.poison import (
        FIELD_RULES,
        Poisoned,
        RawJSON,
        non_text_inputs,
        poison_values,
        poisoned_envelopes,
        poisoned_frames,
    )
    from oms.testing.resync import venue_snapshot
    from oms.testing.sessions import Session, session, session_from_seed
    from oms.testing.symbols import (
        CANCEL_RACE_REASON,
        CATEGORY,
        DEFAULT_SYMBOLS,
        T0,
        TERMINAL_STATUSES,
        TPSL_STOP_ORDER_TYPES,
        SymbolSpec,
    )
    from oms.testing.truth import Expected, FillTruth, LegId, OrderTruth, PositionTruth
except ModuleNotFoundError as exc:  # pragma: no cover - only without hypothesis
    if exc.name != "hypothesis":
        raise
    raise ImportError(
        "oms.testing needs hypothesis: pip install hypothesis (or pip install 'oms[testing]')"
    ) from exc

__all__ = [
    "CANCEL_RACE_REASON",
    "CATEGORY",
    "DEFAULT_SYMBOLS",
    "FIELD_RULES",
    "LIFECYCLE_KINDS",
    "T0",
    "TERMINAL_STATUSES",
    "TPSL_STOP_ORDER_TYPES",
    "Corruption",
    "Delivery",
    "DeliveryModel",
    "Expected",
    "FillTruth",
    "LegId",
    "Lifecycle",
    "OrderTruth",
    "Poisoned",
    "PositionTruth",
    "RawJSON",
    "ReferenceModel",
    "Session",
    "SimulatedExchange",
    "SymbolSpec",
    "amend_lifecycle",
    "cancel_with_fills_lifecycle",
    "conditional_lifecycle",
    "corrupted",
    "deliveries",
    "disorder",
    "dropped",
    "duplicated",
    "garbage",
    "ledger_differences",
    "lifecycle",
    "non_text_inputs",
    "partial_fill_lifecycle",
    "plain_lifecycle",
    "poison_values",
    "poisoned_envelopes",
    "poisoned_frames",
    "reordered",
    "session",
    "session_from_seed",
    "tpsl_lifecycle",
    "venue_snapshot",
]
