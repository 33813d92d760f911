"""Receiving: `inbox pull`, and `listen` (notification parsing, the ASGI app, the sink)."""
