"""The WebSocket trade endpoint (``/v5/trade``): order entry over a socket, as Bybit
serves it.

- ``auth``: ``args`` = [key, expires, signature] signed as on the private stream; the
  answer in the retCode form ``{"retCode":0,"retMsg":"OK","op":"auth","connId":...}``;
  20001 repeat auth, 10004 bad key or signature, 10001 param error (bad shape, expired).
  ``reqId`` is echoed when sent.
- ``ping`` -> ``{"retCode":0,"retMsg":"OK","op":"pong","data":["<ms>"],"connId":...}``.
- ``order.create``, ``order.amend``, ``order.cancel`` (``args`` exactly one object, the
  REST body) and ``order.create-batch``, ``order.amend-batch``, ``order.cancel-batch``
  (``args`` = [{"category", "request": [...]}]): the same routes, rules and rate budgets
  as REST (``oms.sandbox.entry_routes``). The answer: ``reqId`` (when sent),
  ``retCode``, ``retMsg``, ``op``, ``data`` (the REST ``result``), ``retExtInfo``,
  ``header`` (``X-Bapi-Limit``, ``X-Bapi-Limit-Status``, ``X-Bapi-Limit-Reset-Timestamp``,
  ``Traceid``, ``Timenow``) and ``connId``.
- Refused, not executed: a request before ``auth`` (10004 "Request not authorized":
  Bybit does not document this case; the sandbox refuses it in the auth code and keeps
  the connection), ``reqId`` not a string of at most 36 characters (10001), a ``reqId``
  this account used before (20006; remembered for the last 100 000 requests, over every
  connection), ``header.X-BAPI-TIMESTAMP`` missing (10001; a string or an integer, as is
  ``X-BAPI-RECV-WINDOW``, default 5000) or outside ``[server - recvWindow, server + 1000)``
  (10002, REST's text), ``args`` not exactly one object (10001), an unknown op or a
  category the sandbox does not trade (10404).
- Faults (``oms.sandbox.faults``): 10006 and 10019 answers (with and without the order
  placed), no answer, the connection cut before or after the request ran.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from oms.sandbox.connection import login_refusal
from oms.sandbox.entry_routes import Outcome
from oms.sandbox.rest import decode_body, recv_window_message

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Collection

    from oms.sandbox.connection import Client
    from oms.sandbox.entry_routes import EntryRoutes
    from oms.sandbox.faults import Faults

__all__ = ["OPS", "PATH", "TradeSocket"]

log = logging.getLogger(__name__)

PATH: Final = "/v5/trade"
#: op -> the order-entry route it runs
OPS: Final = {
    "order.create": "order/create",
    "order.amend": "order/amend",
    "order.cancel": "order/cancel",
    "order.create-batch": "order/create-batch",
    "order.amend-batch": "order/amend-batch",
    "order.cancel-batch": "order/cancel-batch",
}
RESTARTING: Final = (
    10019,
    (
        "ws trade service is restarting, do not accept new request, but the request in the "
        "process is not affected. You can build new connection to be routed to normal service"
    ),
)
_KEPT_REQ_IDS: Final = 100_000
_MAX_REQ_ID: Final = 36
_DEFAULT_RECV_WINDOW: Final = 5000


class TradeSocket:
    """The trade endpoint's side of a connection (see the module docstring)."""

    def __init__(
        self,
        entry: EntryRoutes,
        faults: Faults,
        *,
        api_key: str,
        secret: bytes,
        categories: Collection[str],
        now: Callable[[], int],
        rng: random.Random,
    ) -> None:
        self.entry, self.faults = entry, faults
        self._api_key, self._secret = api_key, secret
        self.categories, self.now, self._rng = categories, now, rng
        self._req_ids: set[str] = set()
        self._req_order: deque[str] = deque()

    def on_message(self, client: Client, message: str | bytes) -> None:
        try:
            request = decode_body(message)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self._reply(client, {}, {"retCode": 10001, "retMsg": "Params Error", "op": ""})
            return
        op = request.get("op")
        if op == "ping":
            body = {"retCode": 0, "retMsg": "OK", "op": "pong", "data": [str(self.now())]}
            self._reply(client, request, body)
        elif op == "auth":
            self._auth(client, request)
        elif isinstance(op, str) and op in OPS:
            self._order(client, request, op)
        else:
            self._answer(client, request, op, Outcome(10404, f"op type is not found: {op!r}"))

    def _auth(self, client: Client, request: dict[str, Any]) -> None:
        code, message = 0, "OK"
        if client.authed:
            code, message = 20001, "Repeat auth"
        else:
            reason = login_refusal(request.get("args"), self._api_key, self._secret, self.faults)
            if reason == "params":
                code, message = 10001, "Params Error"
            elif reason == "sign":
                code, message = 10004, "Invalid sign"
            client.authed = reason is None
        self._reply(client, request, {"retCode": code, "retMsg": message, "op": "auth"})

    def _order(self, client: Client, request: dict[str, Any], op: str) -> None:
        route = OPS[op]
        refusal = self._refusal(client, request)
        if refusal is not None:
            self._answer(client, request, op, Outcome(*refusal), route)
            return
        body = request["args"][0]
        fault = self.faults.take_entry_fault(transport="ws")
        if fault == "cut_before":
            client.cut()
            return
        if fault == "rate_limit":
            outcome = Outcome(10006, "Too many visits!")
        elif fault == "restart_before":
            outcome = Outcome(*RESTARTING)
        else:
            outcome = self._run(route, body)
        if fault == "restart_after":
            outcome = Outcome(*RESTARTING)
        if fault == "cut_after":
            client.cut()
        elif fault != "ack_lost":
            self._answer(client, request, op, outcome, route, spent=fault == "rate_limit")

    def _refusal(self, client: Client, request: dict[str, Any]) -> tuple[int, str] | None:
        """Why an order op is refused before it runs (checked in Bybit's likely order:
        login, reqId, timestamp, args, category), or None."""
        if not client.authed:
            return 10004, "Request not authorized"
        early = self._req_id_refusal(request) or self._timestamp_refusal(request.get("header"))
        if early is not None:
            return early
        args = request.get("args")
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            return 10001, "params error: args must hold exactly one object"
        category = args[0].get("category")
        if not isinstance(category, str) or category not in self.categories:
            return 10404, f"category is not correct/supported: {category!r}"
        return None

    def _req_id_refusal(self, request: dict[str, Any]) -> tuple[int, str] | None:
        if "reqId" not in request:
            return None
        req_id = request["reqId"]
        if not isinstance(req_id, str) or len(req_id) > _MAX_REQ_ID:
            return 10001, f"reqId must be a string of at most {_MAX_REQ_ID} characters"
        if not self._remember(req_id):
            return 20006, "reqId is duplicated"
        return None

    def _remember(self, req_id: str) -> bool:
        """Note a reqId; False when it was used before."""
        if req_id in self._req_ids:
            return False
        self._req_ids.add(req_id)
        self._req_order.append(req_id)
        if len(self._req_order) > _KEPT_REQ_IDS:
            self._req_ids.discard(self._req_order.popleft())
        return True

    def _timestamp_refusal(self, header: object) -> tuple[int, str] | None:
        if not isinstance(header, dict):
            return 10001, "params error: header with X-BAPI-TIMESTAMP is required"
        stamp = _integer(header.get("X-BAPI-TIMESTAMP"))
        if stamp is None:
            return 10001, "params error: header X-BAPI-TIMESTAMP is required, in ms"
        window = _integer(header.get("X-BAPI-RECV-WINDOW", _DEFAULT_RECV_WINDOW))
        if window is None:
            return 10001, "params error: header X-BAPI-RECV-WINDOW must be a number of ms"
        server = self.now()
        if not server - window <= stamp < server + 1000:
            return 10002, recv_window_message(stamp, server, window)
        return None

    def _run(self, route: str, body: dict[str, object]) -> Outcome:
        try:
            return self.entry.call(route, body)
        except Exception:  # a sandbox bug: loud in the log, a server error to the client
            log.exception("sandbox trade socket failed on %s", route)
            return Outcome(10016, "Server error.")

    def _answer(
        self,
        client: Client,
        request: dict[str, Any],
        op: object,
        outcome: Outcome,
        route: str | None = None,
        *,
        spent: bool = False,
    ) -> None:
        body: dict[str, Any] = {
            "retCode": outcome.code, "retMsg": outcome.message, "op": op,
            "data": outcome.result, "retExtInfo": outcome.ext,
        }  # fmt: skip
        if route is not None:
            body["header"] = self._header(route, request, outcome, spent=spent)
        self._reply(client, request, body)

    def _header(
        self, route: str, request: dict[str, Any], outcome: Outcome, *, spent: bool
    ) -> dict[str, str]:
        grant = outcome.grant
        if grant is None:  # refused before it was counted: the budget as it is
            args = request.get("args")
            first = args[0] if isinstance(args, list) and args else None
            category = first.get("category") if isinstance(first, dict) else None
            grant = self.entry.limits.peek(route, category if isinstance(category, str) else "")
        limits = grant.headers()
        if spent:  # the rate-limit fault: nothing left for a second
            now = self.now()
            limits["X-Bapi-Limit-Status"] = "0"
            limits["X-Bapi-Limit-Reset-Timestamp"] = str(now + 1000)
        trace = f"{self._rng.getrandbits(128):032x}"
        return limits | {"Traceid": trace, "Timenow": str(self.now())}

    def _reply(self, client: Client, request: dict[str, Any], body: dict[str, Any]) -> None:
        reply = {"reqId": request["reqId"]} if "reqId" in request else {}
        reply.update(body)
        reply["connId"] = client.conn_id
        client.send(json.dumps(reply, separators=(",", ":")))


def _integer(value: object) -> int | None:
    """A header number: an int, or a string of digits; None otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
