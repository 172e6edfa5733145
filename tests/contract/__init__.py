"""Broker semantics, tested once: every scenario runs on every transport."""
