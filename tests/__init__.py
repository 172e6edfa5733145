"""Test suite for cqrs-worker (a package, so test modules are imported as ``tests.…``)."""
