"""python-cqrs's package path ``cqrs.adapters``: ``kafka`` (see :mod:`cqrs_worker.compat`)."""
