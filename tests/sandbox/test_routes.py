"""The sandbox's market and account routes, its Bybit-shaped errors and its latency, over
plain HTTP (no client library in between)."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
import urllib.error
import urllib.request
from decimal import Decimal

import pytest

from oms.sandbox import Sandbox
from oms.sim.wire import fmt
from tests.sandbox.client import KEY, SECRET, auth, between_ticks, connect, now_ms, rest_get

INSTRUMENTS = "/v5/market/instruments-info"


def test_instruments_are_the_sandbox_symbols_with_cursor_paging(sandbox):
    url = sandbox.rest_url
    specs = sandbox.exchange.specs
    rows, cursor, pages = [], "", 0
    while True:
        query = "category=linear&limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = rest_get(url, INSTRUMENTS, query, signed=False)
        assert body["retCode"] == 0, body
        rows += body["result"]["list"]
        pages += 1
        if not (cursor := body["result"]["nextPageCursor"]):
            break
    assert pages == math.ceil(len(specs) / 3)
    assert [r["symbol"] for r in rows] == [s.symbol for s in specs]
    for row, spec in zip(rows, specs, strict=True):
        assert (row["status"], row["contractType"], row["settleCoin"]) == (
            "Trading",
            "LinearPerpetual",
            "USDT",
        )
        assert row["baseCoin"] == spec.base_coin
        assert row["lotSizeFilter"]["qtyStep"] == fmt(spec.qty_step)
        assert row["lotSizeFilter"]["minOrderQty"] == fmt(spec.qty_step)
        assert row["priceFilter"]["tickSize"] == fmt(spec.tick)


@pytest.mark.parametrize(
    ("query", "symbols"),
    [
        ("category=linear&symbol=ETHUSDT", ["ETHUSDT"]),
        ("category=linear&baseCoin=BTC", ["BTCUSDT"]),
        ("category=linear&status=PreLaunch", []),
        ("category=inverse", []),
        ("category=option&baseCoin=BTC", []),
        ("category=spot", []),
    ],
)
def test_instrument_filters(sandbox, query, symbols):
    body = rest_get(sandbox.rest_url, INSTRUMENTS, query, signed=False)
    assert [r["symbol"] for r in body["result"]["list"]] == symbols
    assert body["result"]["nextPageCursor"] == ""


@pytest.mark.parametrize("query", ["", "category=futures", "category=linear&limit=1001"])
def test_instruments_refuse_bad_parameters(sandbox, query):
    assert rest_get(sandbox.rest_url, INSTRUMENTS, query, signed=False)["retCode"] == 10001


def test_tickers_carry_the_simulator_prices(sandbox):
    sandbox.step(100)
    body = rest_get(sandbox.rest_url, "/v5/market/tickers", "category=linear", signed=False)
    rows = {r["symbol"]: r for r in body["result"]["list"]}
    assert set(rows) == {s.symbol for s in sandbox.exchange.specs}
    for symbol, row in rows.items():
        last, mark, index = sandbox.exchange.prices(symbol)
        prices = (row["lastPrice"], row["markPrice"], row["indexPrice"])  # tick decimals
        assert tuple(map(Decimal, prices)) == (last, mark, index)


def test_wallet_balance_is_the_wallet_frame_row_with_a_coin_filter(sandbox):
    sandbox.step(200)
    url, path = sandbox.rest_url, "/v5/account/wallet-balance"
    queries = ("", "&coin=USDT,BTC", "&coin=BTC")
    (body, both, btc), row = between_ticks(
        sandbox.exchange, lambda: [rest_get(url, path, f"accountType=UNIFIED{q}") for q in queries]
    )
    assert body["result"]["list"] == [row]
    assert body["result"]["list"][0]["coin"][0]["coin"] == "USDT"
    assert both["result"] == body["result"]
    none = btc["result"]["list"][0]
    assert none["coin"] == []
    assert none["totalEquity"] == body["result"]["list"][0]["totalEquity"]
    for query in ("", "accountType=CONTRACT", "accountType=SPOT"):
        assert rest_get(url, path, query)["retCode"] == 10001


def test_the_key_trades_on_a_unified_account(sandbox):
    api = rest_get(sandbox.rest_url, "/v5/user/query-api")["result"]
    assert (api["readOnly"], api["uta"], api["apiKey"], api["secret"]) == (0, 1, KEY, "")
    assert SECRET not in json.dumps(api)
    info = rest_get(sandbox.rest_url, "/v5/account/info")["result"]
    assert info["unifiedMarginStatus"] == 6
    coins = rest_get(sandbox.rest_url, "/v5/asset/coin/query-info")["result"]["rows"]
    assert {c["coin"] for c in coins} == {"BTC", "ETH", "DOGE", "SOL", "USDT"}
    one = rest_get(sandbox.rest_url, "/v5/asset/coin/query-info", "coin=ETH")["result"]["rows"]
    assert [c["coin"] for c in one] == ["ETH"]


def test_private_account_routes_need_a_signature(sandbox):
    assert rest_get(sandbox.rest_url, "/v5/user/query-api", signed=False)["retCode"] == 10003


@pytest.mark.parametrize("path", ["/v5/market/kline", "/v5/nothing", "/", "/favicon.ico"])
def test_an_unknown_route_is_10017_in_the_envelope(sandbox, path):
    body = rest_get(sandbox.rest_url, path, "category=linear", signed=False)
    assert (body["retCode"], body["retMsg"], body["result"]) == (10017, "Route not found.", {})
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}


def _post(
    url: str, path: str, body: str, *, sign: bool = True, signed_body: str | None = None
) -> tuple[int, str]:
    stamp = str(now_ms())
    origin = f"{stamp}{KEY}5000{body if signed_body is None else signed_body}"
    headers = {"Content-Type": "application/json", "X-BAPI-API-KEY": KEY if sign else ""}
    headers |= {
        "X-BAPI-TIMESTAMP": stamp,
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": hmac.new(SECRET.encode(), origin.encode(), hashlib.sha256).hexdigest(),
    }
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1 only
        url + path, data=body.encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_a_post_route_not_emulated_is_refused_as_for_a_key_without_the_permission(sandbox):
    body = '{"category":"linear","symbol":"BTCUSDT","buyLeverage":"5","sellLeverage":"5"}'
    url, path = sandbox.rest_url, "/v5/position/set-leverage"
    frames = sandbox.stats()["frames"]

    def code(**options: object) -> int:
        status, text = _post(url, options.pop("path", path), body, **options)  # type: ignore[arg-type]
        assert status == 200
        return int(json.loads(text)["retCode"])

    assert code() == 10005
    assert code(sign=False) == 10003
    pybit_spacing = json.dumps(json.loads(body))  # the same dict, another serialisation
    assert code(signed_body=pybit_spacing) == 10004  # the signature covers the raw body
    assert code(path="/v5/order/realtime") == 10017  # a GET route
    assert sandbox.stats()["frames"] == frames


def test_faults_give_403_with_a_text_body_and_10006_with_limit_headers(sandbox):
    sandbox.faults.rest_forbidden = 1
    assert rest_get(sandbox.rest_url, "/v5/market/time", signed=False) == {"httpStatus": 403}
    sandbox.faults.rest_rate_limit = 1
    request = urllib.request.Request(sandbox.rest_url + "/v5/market/time")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body = json.loads(response.read())
        assert body["retCode"] == 10006
        assert response.headers["X-Bapi-Limit-Status"] == "0"
        assert int(response.headers["X-Bapi-Limit-Reset-Timestamp"]) > body["time"]
    assert rest_get(sandbox.rest_url, "/v5/market/time", signed=False)["retCode"] == 0


def test_a_method_other_than_get_or_post_is_http_400(sandbox):
    request = urllib.request.Request(sandbox.rest_url + "/v5/market/time", method="PUT")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    with caught.value as error:
        assert error.code == 400


@pytest.mark.parametrize("latency_ms", [-1.0, math.nan, math.inf])
def test_latency_must_be_finite_and_not_negative(latency_ms):
    with pytest.raises(ValueError, match="latency_ms"):
        Sandbox(KEY, SECRET, latency_ms=latency_ms)


def test_every_answer_waits_at_least_the_latency():
    """A lower bound only (a sleep never ends early), so this cannot flake."""
    with Sandbox(KEY, SECRET, latency_ms=80) as slow:
        start = time.monotonic()
        assert rest_get(slow.rest_url, "/v5/market/time", signed=False)["retCode"] == 0
        assert time.monotonic() - start >= 0.08
        ws = connect(slow.ws_url)
        start = time.monotonic()
        assert auth(ws)["success"] is True
        assert time.monotonic() - start >= 0.08
