"""Secrets (issue 13 review): the API secret and the signatures clients send never appear
in the sandbox's log (at DEBUG), its answers (a refused signature included) or the
reprs of its objects, over REST, the private stream and the trade socket."""

from __future__ import annotations

import json
import logging

from tests.sandbox.client import SECRET, connect, now_ms, recv_json, ws_signature
from tests.sandbox.entry_client import limit_order, post_raw, sign, trade, trade_socket


def test_no_secret_or_signature_in_logs_answers_or_reprs(sandbox, caplog):
    answers: list[object] = []
    signatures: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for secret in (SECRET, "a-wrong-secret"):  # a good and a refused signature
            body = json.dumps(limit_order(sandbox, f"secret-{len(answers)}"))
            stamp = str(now_ms())
            signatures.append(sign(body, stamp, secret=secret))
            answers.append(post_raw(sandbox.rest_url, "/v5/order/create", body, secret=secret))
        for url in (sandbox.ws_url, sandbox.trade_url):
            for secret in (SECRET, "a-wrong-secret"):
                ws = connect(url)
                expires = now_ms() + 10_000
                signatures.append(ws_signature(expires, secret))
                ws.send(
                    json.dumps({"op": "auth", "args": ["sandbox-key", expires, signatures[-1]]})
                )
                answers.append(recv_json(ws))
        ws = trade_socket(sandbox)
        answers.append(trade(ws, "order.create", [limit_order(sandbox, "secret-ws")]))
    seen = [json.dumps(a, default=str) for a in answers] + [r.getMessage() for r in caplog.records]
    seen += [repr(sandbox), repr(sandbox.exchange), repr(sandbox.faults)]
    seen.append(repr(sandbox._rest))
    for text in seen:
        assert SECRET not in text
        for signature in signatures:  # not even a part (websockets logs a frame's tail)
            assert signature[:16] not in text
            assert signature[-16:] not in text
