"""A venue that echoes the login arguments: the journal stores its replies masked and
flagged, never the signature (issue 9). A real WebSocket venue on 127.0.0.1 and a real
SQLite file; the account runs its own stream against it.
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING

from oms import Account, StreamSettings
from oms.redact import SIGNATURE_MASK
from oms.runtime.pipeline import Pipeline
from oms.runtime.staging import SCRUBBED_FLAG
from oms.sandbox import Sandbox
from tests.bybit.test_stream import KEY, SECRET
from tests.bybit.test_stream_liveness import QUICK, ListeningBybit
from tests.test_account import wait_for

if TYPE_CHECKING:
    from pathlib import Path

HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


def journal(db: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT raw, outcome, error FROM frames ORDER BY id").fetchall()
    return [(str(raw), str(outcome), error) for raw, outcome, error in rows]


def test_echoed_login_replies_are_journaled_masked_and_flagged(tmp_path: Path) -> None:
    venue = ListeningBybit(echo_args=True, refuse_auths=1).start()
    db = tmp_path / "oms.db"
    try:
        settings = StreamSettings(url=venue.url, api_key=KEY, api_secret=SECRET, **QUICK)
        # The resync needs a REST venue: the sandbox's, with the same credentials.
        with (
            Sandbox(KEY, SECRET) as sandbox,
            Account(str(db), stream=settings, rest_url=sandbox.rest_url) as account,
        ):
            wait_for(lambda: account.health().resyncs >= 1, "the subscription and resync")
            assert account.drain(30)
        signatures = [args[2] for args in venue.auth_requests]
    finally:
        venue.close()
    assert len(signatures) == 2  # refused once (echoed), then accepted (echoed too)
    rows = journal(db)
    logins = [row for row in rows if '"op":"auth"' in row[0].replace(" ", "")]
    assert len(logins) == 2
    for raw, outcome, error in logins:
        assert outcome == "control"
        assert SIGNATURE_MASK in raw
        assert error == f"{SCRUBBED_FLAG}: 1 signature-shaped token(s) masked"
    everything = "\n".join(f"{raw} {error}" for raw, _, error in rows)
    for signature in signatures:
        assert signature not in everything
    assert SECRET not in everything
    assert HEX64.findall(everything) == []


def test_only_control_frames_are_scrubbed(tmp_path: Path) -> None:
    """A data frame is the exact text, whatever it holds; only control frames (login
    replies) are masked."""
    token = "ab" * 32
    data = (
        '{"topic":"wallet","id":"w","creationTime":1717200000000,"data":[{"accountType":'
        f'"UNIFIED","totalEquity":"1","coin":[],"note":"{token}"}}]}}'
    )
    control = f'{{"success":false,"ret_msg":"bad sign {token}","op":"auth","conn_id":"c"}}'
    with Pipeline(str(tmp_path / "oms.db")) as service:
        service.feed(data)
        service.feed(control)
    (data_raw, _, data_error), (control_raw, outcome, control_error) = journal(tmp_path / "oms.db")
    assert data_raw == data
    assert data_error is None or SCRUBBED_FLAG not in data_error
    assert outcome == "control"
    assert control_raw == control.replace(token, SIGNATURE_MASK)
    assert control_error is not None
    assert control_error.startswith(SCRUBBED_FLAG)
