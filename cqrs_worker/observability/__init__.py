"""Observability: metrics (prometheus-client) for the worker and the relay."""
