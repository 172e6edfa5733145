"""The in-memory broker and the direct emitter (no network)."""
