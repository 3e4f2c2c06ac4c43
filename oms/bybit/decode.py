"""Raw text frame -> a decoded frame, kept here for importers: the one decode path is
``oms.bybit.codec`` (the decoded shapes are ``oms.bybit.frames``); new code imports it
from there."""

from oms.bybit.codec import *  # noqa: F403 - this module is its re-export
from oms.bybit.codec import __all__  # noqa: F401 - the same names
