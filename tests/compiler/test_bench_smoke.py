"""The benchmark harness runs (on the smallest size, without judging timings)."""

from __future__ import annotations

from bench.compile import CATALOG, generate_workflow, measure

from workflow_builder.compiler import validate


def test_generated_workflows_are_valid() -> None:
    assert validate(generate_workflow(10), CATALOG).ok


def test_the_harness_measures_the_smallest_size() -> None:
    row = measure(10, runs=1)

    assert row.nodes == 10
    assert row.median_ms >= 0
