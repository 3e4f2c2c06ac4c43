"""The private stream (``/v5/private``): login, subscriptions, ping, and the account's
frames to every authenticated connection subscribed to their topic, in emission order.

Control messages follow the wire spec: auth (HMAC of ``"GET/realtime" + expires``;
"Params Error" when expired, "Request not authorized" for a bad key or signature),
subscribe/unsubscribe acks ("error:handler not found" for unknown topics), ``ping`` ->
``pong``. Nothing is replayed to a connection that was not there (resync over REST).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from oms.clock import now_ms as wall_ms

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from oms.sandbox.connection import Client
    from oms.sandbox.model import Push

__all__ = ["PATH", "TOPICS", "PrivateSocket"]

PATH: Final = "/v5/private"
_CATS: Final = ("spot", "linear", "inverse", "option")
#: all-in-one topic -> its categorised variants
_CATEGORISED: Final = {
    "order": frozenset(f"order.{c}" for c in _CATS),
    "execution": frozenset(f"execution.{c}" for c in _CATS),
    "execution.fast": frozenset(f"execution.fast.{c}" for c in _CATS),
    "position": frozenset(f"position.{c}" for c in ("linear", "inverse", "option")),
}
#: every private topic a subscription may name (data flows on the categories traded)
TOPICS: Final = frozenset(
    {"wallet", "greeks", "dcp.future", "dcp.spot", "dcp.option", *_CATEGORISED}
).union(*_CATEGORISED.values())


class PrivateSocket:
    """The private stream's side of a connection. ``check_login(args)`` is the reason a
    login is refused ("Params Error", "Request not authorized") or None."""

    def __init__(self, check_login: Callable[[object], str | None]) -> None:
        self.check_login = check_login

    def broadcast(self, push: Push, clients: Iterable[Client]) -> None:
        """Queue a pushed frame to every authenticated client subscribed to it (on the
        loop)."""
        names = push.names()
        for client in clients:
            if client.ws.kind is not self or not client.authed:
                continue
            for name in names:
                if name in client.topics and (text := push.render(name)) is not None:
                    client.send(text, is_data=True)

    def on_message(self, client: Client, message: str | bytes) -> None:
        try:
            request = json.loads(message)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            request = None
        if not isinstance(request, dict):
            _reply(client, {}, {"success": False, "ret_msg": "Params Error", "op": ""})
            return
        op = request.get("op")
        if op == "ping":
            _reply(client, request, {"op": "pong", "args": [str(wall_ms())]})
        elif op == "auth":
            reason = self.check_login(request.get("args"))
            if reason is None:
                client.authed = True
            _reply(client, request, {"success": reason is None, "ret_msg": reason or "", "op": op})
        elif op in ("subscribe", "unsubscribe"):
            _subscribe(client, request, str(op))
        else:
            body = {"success": False, "ret_msg": f"error:invalid op {op!r}", "op": op}
            _reply(client, request, body)


def _reply(client: Client, request: dict[str, Any], body: dict[str, Any]) -> None:
    reply = {"req_id": request["req_id"]} if "req_id" in request else {}
    reply.update(body)
    reply["conn_id"] = client.conn_id
    client.send(json.dumps(reply, separators=(",", ":")))


def _subscribe(client: Client, request: dict[str, Any], op: str) -> None:
    topics = request.get("args")
    reason = ""
    if not client.authed:
        reason = "Request not authorized"
    elif not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
        reason = "Params Error"
    elif any(t not in TOPICS for t in topics):
        reason = "error:handler not found"
    elif any(base in topics and cats & set(topics) for base, cats in _CATEGORISED.items()):
        reason = "error:all-in-one and categorised topics cannot be in one request"
    elif op == "subscribe":
        client.topics.update(topics)
    else:
        client.topics.difference_update(topics)
    _reply(client, request, {"success": not reason, "ret_msg": reason, "op": op})
