"""consumers/observability/: the Prometheus alert rules and the Grafana dashboard are
well-formed, their PromQL parses, and they use only the metric names the workers and
relays export.

METRICS below is the one list of those names (docs: README.md, "Metrics"). It is
written down here for now; the end-to-end observability suite checks the same names
against what real worker and relay processes serve at /metrics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import promql_parser
import pytest
import yaml

from tests.consumers.manifests import ROOT

OBSERVABILITY = ROOT / "consumers" / "observability"

#: Every metric family a worker or a relay exports, and its type.
METRICS: dict[str, str] = {
    # worker
    "cqrs_worker_messages_received_total": "counter",
    "cqrs_worker_messages_total": "counter",
    "cqrs_worker_dead_letters_total": "counter",
    "cqrs_worker_retries_total": "counter",
    "cqrs_worker_handler_duration_seconds": "histogram",
    "cqrs_worker_in_flight": "gauge",
    "cqrs_worker_queued": "gauge",
    "cqrs_worker_oldest_in_flight_seconds": "gauge",
    "cqrs_worker_consumer_lag": "gauge",
    "cqrs_worker_commit_age_seconds": "gauge",
    "cqrs_worker_rebalances_total": "counter",
    "cqrs_worker_rabbitmq_unacked": "gauge",
    "cqrs_worker_rabbitmq_redelivered_total": "counter",
    "cqrs_worker_ready": "gauge",
    # relay
    "cqrs_worker_outbox_pending_rows": "gauge",
    "cqrs_worker_outbox_oldest_pending_age_seconds": "gauge",
    "cqrs_worker_outbox_failed_rows": "gauge",
    "cqrs_worker_outbox_published_total": "counter",
    "cqrs_worker_outbox_publish_failures_total": "counter",
    "cqrs_worker_outbox_publish_duration_seconds": "histogram",
    "cqrs_worker_outbox_claim_duration_seconds": "histogram",
    "cqrs_worker_relay_ready": "gauge",
    # sagas (served by the worker that runs them)
    "cqrs_worker_sagas": "gauge",
    "cqrs_worker_saga_step_duration_seconds": "histogram",
}
#: The series names prometheus-client exposes per family type.
SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}

#: Grafana's variables, replaced by something PromQL accepts before parsing.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$worker": ".*",
    "$relay": ".*",
}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
SEVERITIES = {"warning", "critical"}


def _series_names() -> dict[str, str]:
    """Series name -> family, for every series a family exposes."""
    return {
        family + suffix: family for family, kind in METRICS.items() for suffix in SUFFIXES[kind]
    }


def _rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (OBSERVABILITY / "prometheus-rules.yaml").read_text(encoding="utf-8")
    )
    return loaded


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _rules()["groups"] for rule in group["rules"]]


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (OBSERVABILITY / "grafana-dashboard.json").read_text(encoding="utf-8")
    )
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _grafana_expr(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def _selectors(expr: str) -> list[str | None]:
    """The metric name of every vector selector in ``expr`` (which must parse)."""
    names: list[str | None] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.append(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def _expressions() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every query of the rules and the dashboard."""
    for rule in _alerts():
        yield f"rule {rule['alert']}", rule["expr"]
    for panel in _panels():
        for target in panel["targets"]:
            yield f"panel {panel['title']!r} {target['refId']}", _grafana_expr(target["expr"])
    for variable in _dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
            assert match, f"variable {variable['name']}: {query!r}"
            yield f"variable {variable['name']}", match[1]


def referenced_metrics() -> dict[str, set[str]]:
    """Series name -> where it is used, across both files."""
    used: dict[str, set[str]] = {}
    for where, expr in _expressions():
        for name in _selectors(expr):
            used.setdefault(str(name), set()).add(where)
    return used


# -- the names -------------------------------------------------------------------------------------


def test_every_referenced_metric_is_exported() -> None:
    used = referenced_metrics()
    unknown = {name: sorted(where) for name, where in used.items() if name not in _series_names()}
    assert unknown == {}


def test_the_extraction_sees_a_name_that_is_not_exported() -> None:
    names = _selectors('sum(rate(cqrs_worker_handled_total{job="x"}[5m])) / on() cqrs_worker_ready')
    assert names == ["cqrs_worker_handled_total", "cqrs_worker_ready"]
    assert "cqrs_worker_handled_total" not in _series_names()


def test_the_dashboard_shows_every_exported_family() -> None:
    series = _series_names()
    shown = {
        series[str(name)]
        for where, expr in _expressions()
        if where.startswith("panel")
        for name in _selectors(expr)
    }
    assert set(METRICS) - shown == set()


@pytest.mark.parametrize(
    ("concern", "family"),
    [
        ("lag growing", "cqrs_worker_consumer_lag"),
        ("dead letters", "cqrs_worker_dead_letters_total"),
        ("oldest pending outbox row", "cqrs_worker_outbox_oldest_pending_age_seconds"),
        ("worker not ready", "cqrs_worker_ready"),
        ("relay not ready", "cqrs_worker_relay_ready"),
        ("stuck handler", "cqrs_worker_oldest_in_flight_seconds"),
        ("failed sagas", "cqrs_worker_sagas"),
    ],
)
def test_an_alert_covers(concern: str, family: str) -> None:
    assert any(family in _selectors(rule["expr"]) for rule in _alerts()), concern


# -- the rules file --------------------------------------------------------------------------------


def test_rules_file_structure() -> None:
    rules = _rules()
    assert set(rules) == {"groups"}
    groups = rules["groups"]
    group_names = [group["name"] for group in groups]
    assert len(group_names) == len(set(group_names)), "group names repeat"
    for group in groups:
        assert set(group) <= {"name", "interval", "rules"}
        assert group["rules"], group["name"]
    names = [rule["alert"] for rule in _alerts()]
    assert len(names) == len(set(names)), "alert names repeat"


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: str(rule["alert"]))
def test_alert_rule(rule: dict[str, Any]) -> None:
    assert set(rule) <= RULE_KEYS
    assert re.fullmatch(r"CqrsWorker[A-Z][A-Za-z]+", rule["alert"])
    promql_parser.parse(rule["expr"])  # raises ValueError on a bad expression
    if "for" in rule:
        assert promql_parser.parse_duration(rule["for"]).total_seconds() > 0
    assert rule["labels"]["severity"] in SEVERITIES
    assert {"summary", "description"} <= set(rule["annotations"])
    # Every {{ $labels.x }} must survive the expression's aggregation.
    kept = {
        label.strip()
        for group in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", rule["expr"])
        for label in group.split(",")
    }
    for text in rule["annotations"].values():
        for label in re.findall(r"\$labels\.(\w+)", text):
            assert label in kept, f"{rule['alert']}: $labels.{label} is aggregated away"


def test_a_malformed_expression_is_refused() -> None:
    with pytest.raises(ValueError, match="parenthes"):
        promql_parser.parse("sum(rate(cqrs_worker_ready[5m])")
    with pytest.raises(ValueError, match="unknown function"):
        promql_parser.parse("rates(cqrs_worker_retries_total[5m])")


# -- the dashboard ---------------------------------------------------------------------------------


def test_dashboard_structure() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"]
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "worker", "relay"} <= variables
    taken: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])
        }
        assert not cells & taken, f"panel {panel['title']!r} overlaps another"
        taken |= cells


@pytest.mark.parametrize("panel", _panels(), ids=lambda panel: str(panel["title"]))
def test_dashboard_panel(panel: dict[str, Any]) -> None:
    assert panel["type"] in {"timeseries", "stat", "gauge", "table", "bargauge", "state-timeline"}
    assert panel["title"]
    assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert panel["targets"], "a panel without a query"
    refs = [target["refId"] for target in panel["targets"]]
    assert len(refs) == len(set(refs))
    for target in panel["targets"]:
        assert None not in _selectors(_grafana_expr(target["expr"])), "a selector without a name"
