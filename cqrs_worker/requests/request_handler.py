"""python-cqrs's module path ``cqrs.requests.request_handler`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.requests import RequestHandler

__all__ = ["RequestHandler"]
