"""Secrets stay secret: nothing reachable through ``repr``, ``str``, ``dataclasses.asdict``/
``astuple``/``replace``, ``vars``, ``copy``/``deepcopy`` or ``pickle`` of ``Secret``,
``Credentials`` or ``StreamSettings`` shows the secret (pickling refuses), and
``scrub_signatures`` masks signature-shaped tokens (exactly 64 hex digits) in venue text,
which the stream's errors and the REST client's error texts rely on (the stream's side
against a real WebSocket venue is in ``test_stream_liveness.py``)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import logging
import pickle
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.bybit.rest import AuthError, RestError
from oms.bybit.signing import Credentials, Secret
from oms.bybit.stream import LoginRefusedError, StreamSettings, SubscribeError
from oms.errors import RemoteError
from oms.redact import SIGNATURE_MASK, scrub_signatures
from tests.bybit.test_rest import SECRET as REST_SECRET
from tests.bybit.test_rest import FakeBybit as RestBybit
from tests.bybit.test_rest import Reply, make_client, ret

SECRET = "s3cr3t-value-never-to-be-shown"  # noqa: S105 - a made-up test secret
KEY = "AbCd1234567890"
SIGNATURE = hmac.new(SECRET.encode(), b"GET/realtime1700000010000", hashlib.sha256).hexdigest()
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def strings_in(value: object, seen: set[int] | None = None) -> list[str]:
    """Every str reachable from ``value`` through containers and instance attributes
    (``__dict__`` or slots), except inside a ``Secret``: its slot is the secret, on
    purpose, and only ``reveal()`` hands it out."""
    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, Secret):
        return []
    seen.add(id(value))
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        items: list[object] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        slots = [name for klass in type(value).__mro__ for name in getattr(klass, "__slots__", ())]
        items = list(getattr(value, "__dict__", {}).values())
        items += [getattr(value, name) for name in slots if hasattr(value, name)]
    return [text for item in items for text in strings_in(item, seen)]


def assert_hidden(value: object) -> None:
    """Neither the repr, nor the str, nor any str held anywhere in the value (but in a
    ``Secret``) shows the secret."""
    assert SECRET not in repr(value)
    assert SECRET not in str(value)
    assert not any(SECRET in text for text in strings_in(value))


def settings(**overrides: Any) -> StreamSettings:
    return StreamSettings(**{"url": "testnet", "api_key": KEY, "api_secret": SECRET, **overrides})


# -- Secret ------------------------------------------------------------------------------


def test_a_secret_is_not_a_dataclass_so_asdict_cannot_open_it():
    assert not dataclasses.is_dataclass(Secret)
    with pytest.raises(TypeError):
        dataclasses.asdict(Secret(SECRET))  # type: ignore[call-overload]


@pytest.mark.parametrize("make_copy", [copy.copy, copy.deepcopy])
def test_copies_of_a_secret_stay_masked_and_usable(make_copy):
    secret = Secret(SECRET)
    copied = make_copy(secret)
    assert isinstance(copied, Secret)
    assert repr(copied) == "Secret('***')"
    assert copied.reveal() == SECRET
    assert copied == secret
    nested = make_copy({"creds": [secret]})
    assert nested["creds"][0] is secret


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickling_a_secret_is_refused_without_showing_it(protocol):
    with pytest.raises(TypeError, match="cannot be pickled") as info:
        pickle.dumps(Secret(SECRET), protocol=protocol)
    assert SECRET not in str(info.value)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps({"nested": [Secret(SECRET)]}, protocol=protocol)


def test_a_secret_has_no_dict_and_no_state_to_hand_out():
    secret = Secret(SECRET)
    with pytest.raises(TypeError):
        vars(secret)
    assert not hasattr(secret, "__dict__")
    with pytest.raises(TypeError, match="cannot be pickled"):
        secret.__getstate__()
    with pytest.raises(AttributeError, match="immutable"):
        secret._value = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del secret._value
    with pytest.raises(AttributeError, match="immutable"):
        secret.extra = 1  # type: ignore[attr-defined]
    assert secret.reveal() == SECRET


def test_a_secret_wraps_only_a_str_and_never_names_the_value():
    with pytest.raises(TypeError, match="wraps a str, not a bytes") as info:
        Secret(SECRET.encode())  # type: ignore[arg-type]
    assert SECRET not in str(info.value)


# -- Credentials -------------------------------------------------------------------------


def test_asdict_and_astuple_of_credentials_keep_the_secret_masked():
    creds = Credentials(KEY, Secret(SECRET))
    as_dict = dataclasses.asdict(creds)
    assert as_dict == {"api_key": KEY, "api_secret": Secret(SECRET)}
    assert isinstance(as_dict["api_secret"], Secret)
    assert repr(as_dict) == f"{{'api_key': {KEY!r}, 'api_secret': Secret('***')}}"
    as_tuple = dataclasses.astuple(creds)
    assert as_tuple == (KEY, Secret(SECRET))
    assert repr(as_tuple) == f"({KEY!r}, Secret('***'))"
    for value in (creds, as_dict, as_tuple):
        assert_hidden(value)


def test_replace_of_credentials_wraps_a_plain_str_too():
    creds = dataclasses.replace(Credentials(KEY, Secret("old")), api_secret=SECRET)
    assert isinstance(creds.api_secret, Secret)
    assert creds.api_secret.reveal() == SECRET
    assert_hidden(creds)


@pytest.mark.parametrize("make_copy", [copy.copy, copy.deepcopy])
def test_copies_of_credentials_stay_masked(make_copy):
    creds = Credentials(KEY, Secret(SECRET))
    copied = make_copy(creds)
    assert copied == creds
    assert isinstance(copied.api_secret, Secret)
    assert copied.api_secret.reveal() == SECRET
    assert_hidden(copied)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickling_credentials_is_refused_without_showing_them(protocol):
    with pytest.raises(TypeError, match="Credentials cannot be pickled") as info:
        pickle.dumps(Credentials(KEY, Secret(SECRET)), protocol=protocol)
    assert SECRET not in str(info.value)
    assert KEY not in str(info.value)


def test_credentials_have_no_dict_and_their_state_is_masked():
    creds = Credentials(KEY, Secret(SECRET))
    with pytest.raises(TypeError):
        vars(creds)
    assert SECRET not in repr(creds.__getstate__())


# -- StreamSettings ----------------------------------------------------------------------


def test_stream_settings_hold_a_secret_in_the_field_and_the_property():
    plain = settings()
    assert isinstance(plain.api_secret, Secret)
    assert isinstance(plain.secret, Secret)
    assert plain.secret.reveal() == SECRET
    assert not any(isinstance(v, str) and SECRET in v for v in vars(plain).values())
    assert_hidden(plain)
    assert_hidden(vars(plain))


def test_asdict_and_astuple_of_stream_settings_keep_the_secret_masked():
    value = settings()
    as_dict = dataclasses.asdict(value)
    assert isinstance(as_dict["api_secret"], Secret)
    assert as_dict["api_secret"].reveal() == SECRET
    as_tuple = dataclasses.astuple(value)
    assert Secret(SECRET) in as_tuple
    assert not any(isinstance(item, str) and SECRET in item for item in as_tuple)
    for shown in (as_dict, as_tuple):
        assert_hidden(shown)
        assert "Secret('***')" in repr(shown)


def test_any_revealable_secret_is_wrapped_so_asdict_cannot_open_it():
    @dataclasses.dataclass
    class Vault:  # a dataclass on purpose: asdict would recurse into it
        value: str

        def reveal(self) -> str:
            return self.value

    vaulted = settings(api_secret=Vault(SECRET))
    assert isinstance(vaulted.api_secret, Secret)
    assert vaulted.secret.reveal() == SECRET
    assert_hidden(dataclasses.asdict(vaulted))
    assert_hidden(dataclasses.astuple(vaulted))
    assert_hidden(vaulted)


@pytest.mark.parametrize("make_copy", [copy.copy, copy.deepcopy])
def test_copies_of_stream_settings_stay_masked(make_copy):
    value = settings()
    copied = make_copy(value)
    assert copied == value
    assert isinstance(copied.api_secret, Secret)
    assert copied.secret.reveal() == SECRET
    assert_hidden(copied)


def test_replace_of_stream_settings_keeps_the_secret_wrapped():
    changed = dataclasses.replace(settings(), ping_interval_s=5.0)
    assert changed.ping_interval_s == 5.0
    assert isinstance(changed.api_secret, Secret)
    assert changed.secret.reveal() == SECRET
    assert_hidden(changed)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickling_stream_settings_is_refused_without_showing_them(protocol):
    with pytest.raises(TypeError, match="StreamSettings cannot be pickled") as info:
        pickle.dumps(settings(), protocol=protocol)
    assert SECRET not in str(info.value)


# -- scrub_signatures --------------------------------------------------------------------


def test_scrub_masks_a_real_signature_and_counts_it():
    text = f'{{"success":false,"ret_msg":"bad args [\\"{KEY}\\",1700000010000,\\"{SIGNATURE}\\"]"}}'
    scrubbed, count = scrub_signatures(text)
    assert count == 1
    assert SIGNATURE not in scrubbed
    assert scrubbed == text.replace(SIGNATURE, SIGNATURE_MASK)
    assert KEY in scrubbed  # only signatures: the key is the caller's business


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a" * 63, 0),
        ("a" * 64, 1),
        ("a" * 65, 0),
        ("F" * 64, 1),  # uppercase
        ("0123456789ABCDEFabcdef" * 2 + "0" * 20, 1),  # mixed case, 64 in all
        ("x" + "b" * 64 + "y", 1),  # bounded by letters that are not hex
        ("g" + "1" * 64 + "_", 1),
        ("0x" + "c" * 64, 1),
        ("c" * 64 + "0" * 64, 0),  # a run of 128 is not a signature
        ("d" * 64 + " " + "e" * 64, 2),
        ("d" * 64 + "," + "e" * 63, 1),
        ("", 0),
        ("no hex here at all", 0),
        ("a" + "é" + "a" * 64 + "é", 1),
    ],
)
def test_scrub_masks_exactly_64_hex_digits_bounded_by_non_hex(text, count):
    scrubbed, found = scrub_signatures(text)
    assert found == count
    assert scrubbed.count(SIGNATURE_MASK) == count
    if count == 0:
        assert scrubbed == text


def test_the_mask_itself_is_not_a_signature_and_scrubbing_is_idempotent():
    assert not re.search(r"[0-9a-fA-F]{2}", SIGNATURE_MASK.strip("<>").replace("e", ""))
    once, _ = scrub_signatures(f"{SIGNATURE} and {SIGNATURE.upper()}")
    assert once == f"{SIGNATURE_MASK} and {SIGNATURE_MASK}"
    assert scrub_signatures(once) == (once, 0)


@given(st.lists(st.sampled_from(["a" * 64, "F" * 64, "0" * 63, "1" * 65, " ", "x", "é", "9"])))
def test_no_signature_shaped_token_survives_scrubbing(parts):
    scrubbed, _ = scrub_signatures("".join(parts))
    assert not re.search(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])", scrubbed)
    assert scrub_signatures(scrubbed) == (scrubbed, 0)


# -- errors that carry venue text --------------------------------------------------------


def test_stream_errors_scrub_what_the_venue_said():
    echoed = f"error:verify signature fail, args [{KEY}, 1700000010000, {SIGNATURE}]"
    login = LoginRefusedError(f"refused: {echoed!r}", ret_msg=echoed, failures=3)
    subscribe = SubscribeError(("order", SIGNATURE), f"error:handler not found {SIGNATURE}")
    for error in (login, subscribe):
        for text in (str(error), repr(error), error.ret_msg, *map(str, error.args)):
            assert SIGNATURE not in text
        assert SIGNATURE_MASK in str(error)
        assert SIGNATURE_MASK in error.ret_msg
    assert login.failures == 3
    assert "verify signature fail" in login.ret_msg


def test_rest_error_texts_scrub_echoed_signatures(caplog):
    """The venue echoes the signature of an *earlier* attempt (the client's own scrubber knew
    only the current one), one that the excerpt would cut in half, and one in a retMsg."""
    caplog.set_level(logging.DEBUG)
    bybit = RestBybit()
    bybit.thread.start()
    try:
        client = make_client(bybit, [], max_retries=2)
        seen = bybit.signatures
        bybit.script(
            "/v5/x",
            Reply(500, b"upstream down"),
            lambda _: Reply(500, f"upstream said sign={seen()[0]}".encode()),
            lambda _: Reply(503, ("x" * 150 + seen()[1]).encode()),  # straddles the cut at 160
        )
        bybit.script("/v5/y", lambda _: ret(10001, f"params error: sign {seen()[2]} mismatch"))
        bybit.script("/v5/z", lambda _: Reply(401, f"unauthorized {seen()[4].upper()}".encode()))
        errors: list[RemoteError] = []
        for path in ("/v5/x", "/v5/y", "/v5/z"):
            with pytest.raises(RemoteError) as info:
                # a query of its own per path: the signature covers the query, not the
                # path, so two calls in one millisecond would otherwise sign alike
                client.get(path, {"category": "linear", "probe": path})
            errors.append(info.value)
    finally:
        bybit.server.shutdown()
        bybit.server.server_close()
        bybit.thread.join(timeout=5)
    assert [type(e) for e in errors] == [RestError, RestError, AuthError]
    signatures = [s for s in bybit.signatures() if s]
    assert len(signatures) == 5
    texts = [caplog.text, *map(str, errors), *map(repr, errors)]
    for text in texts:
        for signature in signatures:
            assert signature not in text
            assert signature.upper() not in text
            assert signature[:10] not in text  # not even the half the excerpt would have cut
        assert REST_SECRET not in text
    assert "upstream said sign=<signature>" in caplog.text  # the retry warning, masked
    assert str(errors[0]).endswith("x" * 150 + "<signature")  # cut after masking, at 160
    assert "params error: sign <signature> mismatch" in str(errors[1])
    assert "unauthorized <signature>" in str(errors[2])
