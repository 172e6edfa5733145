"""One health endpoint for ``run --workers N``: :class:`ChildHealth`.

The supervisor serves ``/livez``, ``/readyz`` and ``/metrics`` on
``HEALTH_PORT``, so probes and scrapes keep one port whatever N is; child
``n`` serves its own on ``HEALTH_PORT + 1 + n``, which the supervisor polls
(every ``interval`` seconds) and sums up:

* ``/livez`` -- 503 when a child answers 503 on its own /livez (wedged) or
  does not answer within ``timeout`` although it runs; a child being
  restarted or still starting (nothing listening yet) is no liveness failure:
  the supervisor is seeing to it.
* ``/readyz`` -- 200 only when every child answers 200 on its /readyz.
* ``/metrics`` -- every child's families, each sample with a ``worker``
  label (the child's number), in one exposition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = ["ChildHealth"]

logger = logging.getLogger(__name__)

_PATHS = ("/livez", "/readyz", "/metrics")
_ALL_INTERFACES = ("", "0.0.0.0", "::")
_WORKER_LABEL = "worker"


@dataclass
class _Answer:
    status: int | None  # None: nothing listening
    body: str


class ChildHealth:
    """Polls each child's endpoints; ``live``/``ready``/``metrics`` serve the supervisor's.

    ``ports`` maps a child's number to its health port; ``running(n)`` says
    whether child ``n``'s process is up (not between a crash and its restart).
    """

    def __init__(
        self,
        *,
        host: str,
        ports: Mapping[int, int],
        running: Callable[[int], bool],
        interval: float = 1.0,
        timeout: float = 2.0,
    ) -> None:
        self._host = "127.0.0.1" if host in _ALL_INTERFACES else host
        self._ports = dict(ports)
        self._running = running
        self._interval = interval
        self._timeout = timeout
        self._answers: dict[tuple[int, str], _Answer] = {}

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await self.poll()
            await asyncio.sleep(self._interval)

    async def poll(self) -> None:
        """Ask every running child once, at the same time."""
        children = [n for n in self._ports if self._running(n)]
        for n in set(self._ports) - set(children):
            for path in _PATHS:
                self._answers.pop((n, path), None)
        pairs = [(n, path) for n in children for path in _PATHS]
        answers = await asyncio.gather(*(self._get(self._ports[n], path) for n, path in pairs))
        self._answers.update(zip(pairs, answers, strict=True))

    def live(self) -> str | None:
        problems = []
        for n in self._ports:
            answer = self._answers.get((n, "/livez"))
            if answer is not None and answer.status not in (None, 200):
                problems.append(f"worker process {n}: {answer.body.strip() or answer.status}")
        return "; ".join(problems) or None

    def ready(self) -> str | None:
        problems = []
        for n in self._ports:
            answer = self._answers.get((n, "/readyz"))
            if answer is None or answer.status is None:
                problems.append(f"worker process {n}: starting")
            elif answer.status != 200:
                problems.append(f"worker process {n}: {answer.body.strip() or answer.status}")
        return "; ".join(problems) or None

    def metrics(self) -> tuple[bytes, str]:
        families: dict[str, Metric] = {}
        for n in self._ports:
            answer = self._answers.get((n, "/metrics"))
            if answer is None or answer.status != 200:
                continue
            for family in text_string_to_metric_families(answer.body):
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                label = {_WORKER_LABEL: str(n)}
                merged.samples.extend(
                    Sample(s.name, {**s.labels, **label}, s.value, s.timestamp, s.exemplar)
                    for s in family.samples
                )
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(list(families.values())))
        return generate_latest(registry), CONTENT_TYPE_LATEST

    async def _get(self, port: int, path: str) -> _Answer:
        """One GET; a timeout is an answer (503), a refused connection is none."""
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_connection(self._host, port)
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n\r\n".encode())
                await writer.drain()
                data = await reader.read()
        except TimeoutError:
            return _Answer(503, f"no answer within {self._timeout:g}s")
        except OSError:
            return _Answer(None, "")
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        head, _, body = data.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return _Answer(None, "")
        return _Answer(status, body.decode("utf-8", "replace"))


class _Families:
    """A collector that yields parsed families as they are."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families
