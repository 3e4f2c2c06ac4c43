"""Signing: exact pre-sign strings and HMACs recomputed here with hashlib/hmac; secrets
never shown by repr, str, f-strings or exception text."""

from __future__ import annotations

import doctest
import hashlib
import hmac
from decimal import Decimal

import pytest

import oms.bybit.signing
from oms.bybit.signing import (
    Credentials,
    Secret,
    query_string,
    rest_headers,
    rest_presign,
    ws_auth_args,
    ws_presign,
)
from oms.errors import LocalError

# The values of Bybit's v5 guide (docs/v5/guide.mdx) plus a fixed secret of our own.
TIMESTAMP = 1658384314791
API_KEY = "XXXXXXXXXX"
RECV_WINDOW = 5000
QUERY = "category=option&symbol=BTC-29JUL22-25000-C"
SECRET = "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"  # noqa: S105 - a made-up test secret


def _hmac(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def test_rest_presign_is_timestamp_key_window_query():
    presign = rest_presign(
        API_KEY, timestamp_ms=TIMESTAMP, recv_window_ms=RECV_WINDOW, payload=QUERY
    )
    assert presign == "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"


def test_rest_headers_carry_the_hmac_of_the_presign_string():
    headers = rest_headers(
        API_KEY, Secret(SECRET), timestamp_ms=TIMESTAMP, recv_window_ms=RECV_WINDOW, payload=QUERY
    )
    expected = _hmac(SECRET, "1658384314791XXXXXXXXXX5000" + QUERY)
    assert headers == {
        "X-BAPI-API-KEY": API_KEY,
        "X-BAPI-TIMESTAMP": "1658384314791",
        "X-BAPI-SIGN": expected,
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN-TYPE": "2",
    }
    assert expected == expected.lower()
    assert len(expected) == 64


def test_rest_headers_accept_a_plain_str_secret_with_the_same_result():
    plain = rest_headers(
        API_KEY, SECRET, timestamp_ms=TIMESTAMP, recv_window_ms=RECV_WINDOW, payload=QUERY
    )
    wrapped = rest_headers(
        API_KEY, Secret(SECRET), timestamp_ms=TIMESTAMP, recv_window_ms=RECV_WINDOW, payload=QUERY
    )
    assert plain == wrapped


def test_rest_headers_of_an_empty_query():
    headers = rest_headers(
        API_KEY, Secret(SECRET), timestamp_ms=TIMESTAMP, recv_window_ms=RECV_WINDOW, payload=""
    )
    assert headers["X-BAPI-SIGN"] == _hmac(SECRET, "1658384314791XXXXXXXXXX5000")


def test_ws_auth_args_default_expiry_is_ten_seconds():
    now = 1_662_350_390_000
    key, expires, signature = ws_auth_args("my-key", Secret(SECRET), now_ms=now)
    assert key == "my-key"
    assert expires == now + 10_000
    assert type(expires) is int
    assert ws_presign(expires) == "GET/realtime1662350400000"
    assert signature == _hmac(SECRET, "GET/realtime1662350400000")


def test_ws_auth_args_custom_expiry_and_refusal_of_non_positive():
    _, expires, signature = ws_auth_args("k", SECRET, now_ms=1000, expiry_ms=1)
    assert expires == 1001
    assert signature == _hmac(SECRET, "GET/realtime1001")
    with pytest.raises(LocalError, match="expiry_ms"):
        ws_auth_args("k", SECRET, now_ms=1000, expiry_ms=0)


def test_query_string_sorted_none_skipped_and_encoded():
    params = {
        "symbol": "BTC-29JUL22-25000-C",
        "category": "option",
        "cursor": None,
        "limit": 50,
        "flag": False,
        "price": Decimal("1E+2"),
        "note": "a b&c=d/é",
    }
    assert query_string(params) == (
        "category=option&flag=false&limit=50&note=a%20b%26c%3Dd%2F%C3%A9"
        "&price=100&symbol=BTC-29JUL22-25000-C"
    )
    assert query_string({"category": "option", "symbol": "BTC-29JUL22-25000-C"}) == QUERY
    assert query_string({}) == ""


def test_query_string_keeps_an_already_encoded_cursor_opaque():
    cursor = "page_args%3Dfd4300ae%26symbol%3D6%26"
    assert query_string({"cursor": cursor}) == "cursor=page_args%253Dfd4300ae%2526symbol%253D6%2526"


def test_query_string_refuses_floats():
    with pytest.raises(LocalError, match="float"):
        query_string({"qty": 0.1})


def test_secret_never_shows_itself():
    secret = Secret(SECRET)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % (secret,)):  # noqa: UP031
        assert text == "Secret('***')"
    assert secret.reveal() == SECRET
    assert SECRET not in repr([secret, {"s": secret}])
    assert Secret(SECRET) == secret
    assert Secret("other") != secret
    assert hash(Secret(SECRET)) == hash(secret)
    assert not Secret("")
    with pytest.raises(AttributeError):
        secret._value = "x"  # type: ignore[misc]


def test_secret_does_not_leak_through_exceptions():
    secret = Secret(SECRET)
    error = ValueError(f"failed with {secret}", secret)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)


def test_credentials_repr_masks_the_key_and_the_secret():
    creds = Credentials("AbCd1234567890", Secret(SECRET))
    text = repr(creds)
    assert text == "Credentials(api_key='AbCd…', api_secret=Secret('***'))"
    assert str(creds) == text
    assert f"{creds}" == text
    assert "1234567890" not in text
    assert SECRET not in text


def test_credentials_wrap_a_plain_string_secret():
    creds = Credentials("AbCd1234567890", SECRET)  # type: ignore[arg-type]
    assert isinstance(creds.api_secret, Secret)
    assert SECRET not in repr(creds)


def test_credentials_of_a_short_key_show_nothing_of_it():
    assert "abc" not in repr(Credentials("abc", Secret("s")))


def test_credentials_from_env():
    creds = Credentials.from_env({"BYBIT_API_KEY": "AbCd1234567890", "BYBIT_API_SECRET": SECRET})
    assert creds.api_key == "AbCd1234567890"
    assert creds.api_secret.reveal() == SECRET


def test_credentials_from_os_environ(monkeypatch):
    monkeypatch.setenv("BYBIT_API_KEY", "AbCd1234567890")
    monkeypatch.setenv("BYBIT_API_SECRET", SECRET)
    assert Credentials.from_env().api_secret == Secret(SECRET)


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({}, ["BYBIT_API_KEY", "BYBIT_API_SECRET"]),
        ({"BYBIT_API_KEY": "AbCd1234567890"}, ["BYBIT_API_SECRET"]),
        ({"BYBIT_API_SECRET": SECRET}, ["BYBIT_API_KEY"]),
        ({"BYBIT_API_KEY": "  ", "BYBIT_API_SECRET": SECRET}, ["BYBIT_API_KEY"]),
    ],
)
def test_credentials_from_env_names_the_missing_variables_never_values(environ, missing):
    with pytest.raises(LocalError) as info:
        Credentials.from_env(environ)
    message = str(info.value)
    assert f"set the environment variable(s) {' and '.join(missing)}" in message
    assert SECRET not in message
    assert "AbCd1234567890" not in message


def test_module_doctests():
    assert doctest.testmod(oms.bybit.signing).failed == 0
