"""The Grafana dashboard shipped in docs/ queries only metrics the product exposes, and the
operations guide documents every one of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

from workflow_builder.telemetry import metrics

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _exposed() -> set[str]:
    names = {m.name for m in REGISTRY.collect() if m.name.startswith("wfb_")}
    names |= set(metrics.DATABASE_GAUGES)
    return names


def _base(name: str) -> str:
    return re.sub(r"_(bucket|count|sum|total)$", "", name)


def test_the_dashboard_queries_only_exposed_metrics() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    queried = {
        _base(name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"wfb_[a-z_]+", target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    assert queried <= _exposed(), queried - _exposed()


def test_every_metric_is_documented() -> None:
    guide = (DOCS / "operations.md").read_text()
    documented = {_base(name) for name in re.findall(r"`(wfb_[a-z_]+)`", guide)}
    assert _exposed() <= documented, _exposed() - documented
