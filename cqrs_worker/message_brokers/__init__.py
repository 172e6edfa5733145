"""python-cqrs's package path ``cqrs.message_brokers`` (see :mod:`cqrs_worker.compat`).

Our brokers are :mod:`cqrs_worker.brokers`.
"""
