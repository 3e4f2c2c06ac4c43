"""Where and how the signed REST client (``oms.bybit.rest``) may connect: an opener that
verifies TLS and never follows a redirect (it would carry the signed headers to another
host), and the rule that plain http is for the loopback only unless asked for.

Kept apart from the client so that every signed call (the resync's GETs today, order
entry's POSTs next) goes out under the same rules.
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.request
from urllib.parse import urlsplit

from oms.errors import LocalError

__all__ = ["default_opener", "host_of"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: following one would send the signed headers elsewhere."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


def default_opener() -> urllib.request.OpenerDirector:
    """An opener that verifies TLS (system CAs) and never follows redirects."""
    https = urllib.request.HTTPSHandler(context=ssl.create_default_context())
    return urllib.request.build_opener(https, _NoRedirect())


def host_of(base_url: str, *, allow_insecure_http: bool) -> str:
    """The host of ``base_url``; ``LocalError`` unless it is an http(s) URL, and https
    (plain http only to the loopback, or when ``allow_insecure_http``)."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise LocalError(f"base_url must be an http(s) URL, got {base_url!r}")
    if parts.scheme == "http" and not (allow_insecure_http or _is_loopback(parts.hostname)):
        raise LocalError(f"refusing plain http to {parts.hostname}: use https")
    return parts.hostname


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
