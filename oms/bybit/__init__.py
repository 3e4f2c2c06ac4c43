"""The Bybit v5 adapter: wire models, decoding and translation into core updates."""
