"""python-cqrs's package path ``cqrs.adapters``: ``kafka``, ``circuit_breaker``.

See :mod:`cqrs_worker.compat`.
"""
