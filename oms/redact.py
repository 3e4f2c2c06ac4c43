"""Masking signature-shaped tokens out of venue text: the lowest layer, so that the
errors, the codec and the store all use the one rule.

A venue may echo the login arguments or a signed request in its replies; whatever oms
logs, raises or stores of such text goes through ``scrub_signatures`` first.
"""

from __future__ import annotations

import re
from typing import Final

#: What :func:`scrub_signatures` puts where a signature-shaped token was.
SIGNATURE_MASK: Final = "<signature>"
#: A run of exactly 64 hex digits (an HMAC-SHA256 in hex), not part of a longer run.
_SIGNATURE_RE: Final = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")


def scrub_signatures(text: str) -> tuple[str, int]:
    """``text`` with every signature-shaped token masked, and how many there were.

    A token is a run of exactly 64 hex digits (either case) with no hex digit on either
    side: what an HMAC-SHA256 signature looks like. Use it on any venue text that may echo
    a login or a signed request (``ret_msg``, a whole reply, a close reason, an HTTP body)
    before logging, raising or storing it. Longer or shorter runs are left alone.

    >>> scrub_signatures("args: ['k', 1700000000000, '" + "ab" * 32 + "']")
    ("args: ['k', 1700000000000, '<signature>']", 1)
    >>> scrub_signatures("nothing here: " + "a" * 63)[1]
    0
    """
    return _SIGNATURE_RE.subn(SIGNATURE_MASK, text)
