"""oms.adapters: an ``Account`` fed by a socket the caller already owns.

``oms.adapters.pybit.attach(ws, account)`` (extra ``oms[pybit]``) hands a pybit private
``WebSocket``'s frames to the account as received and resyncs it after every connection
pybit makes. The adapters sit with the tools, above the runtime: they use only the
``Account``'s public API (``feed``, ``resync``, ``feed_ended``).
"""
