"""Raw text frame -> a decoded frame, kept here for importers: the one decode path is
``oms.bybit.codec`` (the decoded shapes are ``oms.bybit.frames``); new code imports it
from there."""

from oms.bybit.codec import decode, decode_element, decode_exactly, describe
from oms.bybit.frames import (
    OTHER_PRIVATE_TOPICS,
    TOPICS,
    ControlFrame,
    ControlKind,
    DataFrame,
    Decoded,
    IgnoredFrame,
    Kind,
    Text,
    as_text,
    excerpt,
    valid_unicode,
)

__all__ = [
    "OTHER_PRIVATE_TOPICS",
    "TOPICS",
    "ControlFrame",
    "ControlKind",
    "DataFrame",
    "Decoded",
    "IgnoredFrame",
    "Kind",
    "Text",
    "as_text",
    "decode",
    "decode_element",
    "decode_exactly",
    "describe",
    "excerpt",
    "valid_unicode",
]
