"""What a running worker and relay show about themselves: metrics, log context and traces.

The worker (:mod:`cqrs_worker.worker`) and the relay (:mod:`cqrs_worker.outbox`)
use this package through small interfaces; nothing here changes what happens
to a message, and a failure in here never fails a delivery.
"""
