"""Adapters to third-party libraries, each behind its own optional extra."""
