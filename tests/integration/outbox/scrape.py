"""Reading a relay's ``/metrics`` in tests: samples by name and labels."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from cqrs_worker.worker.health import probe
from tests.support.net import LOOPBACK

__all__ = ["Scrape", "scrape"]


class Scrape(dict[str, float]):
    """``{"name{label=value}": value}``, plus each family's HELP in :attr:`helps`."""

    helps: dict[str, str]

    def get_value(self, name: str, **labels: str) -> float | None:
        key = name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}")
        return self.get(key) if labels else self.get(name)


async def scrape(port: int) -> Scrape:
    status, body = await asyncio.to_thread(probe, LOOPBACK, port, "/metrics", timeout=5)
    assert status == 200, body
    samples = Scrape()
    samples.helps = {}
    for family in text_string_to_metric_families(body):
        samples.helps[family.name] = family.documentation
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples
