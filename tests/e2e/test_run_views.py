"""The run page's graph of a long workflow: it follows the node a run waits at, and fits the whole
graph once the run is over; the executions list narrows runs to a date range."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import api, node, sign_up
from tests.e2e.test_runs import deploy, start, wait_until_finished

STEPS = 10


def long_chain() -> dict[str, Any]:
    """A trigger, ten quick steps one under another, then a wait for `go` far down the page."""
    ids = ["start", *[f"step_{i}" for i in range(1, STEPS + 1)], "hold", "done"]
    nodes: list[dict[str, Any]] = [
        {
            "id": "start",
            "type": "trigger",
            "config": {"kind": "manual"},
            "position": {"x": 0, "y": 0},
        }
    ]
    for i in range(1, STEPS + 1):
        nodes.append(
            {
                "id": f"step_{i}",
                "type": "activity",
                "component": {"name": "transform"},
                "input": {"n": f"`{i}`"},
                "position": {"x": 0, "y": 130 * i},
            }
        )
    nodes += [
        {
            "id": "hold",
            "type": "wait_for_signal",
            "config": {"signal": "go", "timeout_seconds": 600},
            "position": {"x": 0, "y": 130 * (STEPS + 1)},
        },
        {"id": "done", "type": "end", "position": {"x": 0, "y": 130 * (STEPS + 2)}},
    ]
    edges = [
        {
            "id": f"e{i}",
            "source": a,
            "target": b,
            **({"source_handle": "received"} if a == "hold" else {}),
        }
        for i, (a, b) in enumerate(pairwise(ids))
    ]
    return {"signals": [{"name": "go"}], "nodes": nodes, "edges": edges}


def inside(page: Page, item: Locator) -> bool:
    canvas = page.locator(".react-flow").bounding_box()
    box = item.bounding_box()
    assert canvas is not None and box is not None
    return (
        box["x"] >= canvas["x"] - 1
        and box["y"] >= canvas["y"] - 1
        and box["x"] + box["width"] <= canvas["x"] + canvas["width"] + 1
        and box["y"] + box["height"] <= canvas["y"] + canvas["height"] + 1
    )


def test_the_run_graph_follows_the_waiting_node_then_fits_the_whole_run(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = deploy(client, long_chain(), f"long-{time.monotonic_ns()}")
    run = start(client, workflow_id)
    deadline = time.monotonic() + 30
    while not any(
        s["node_id"] == "hold" and s["status"] == "waiting"
        for s in client.get(f"/executions/{run}").json()["steps"]
    ):
        assert time.monotonic() < deadline, "the run never reached its wait"
        time.sleep(0.2)

    page.goto(f"{live_server}/executions/{run}")
    hold = node(page, "hold")
    expect(hold.locator("[data-run-status]")).to_have_attribute("data-run-status", "waiting")
    expect(page.get_by_label("Follow the running node")).to_be_checked()
    # The graph is too tall to fit whole at a readable size: the view moves (in a short
    # animation) to the waiting node, and the trigger leaves it.
    deadline = time.monotonic() + 5
    while not (inside(page, hold) and not inside(page, node(page, "start"))):
        assert time.monotonic() < deadline, "the view does not follow the waiting node"
        time.sleep(0.1)

    sent = client.post(f"/executions/{run}/signals/go", json={})
    assert sent.status_code == 202, sent.text
    assert wait_until_finished(client, run) == "completed"
    page.reload()
    expect(node(page, "done").locator("[data-run-status]")).to_have_attribute(
        "data-run-status", "completed"
    )
    # A finished run shows its whole graph.
    deadline = time.monotonic() + 5
    while not (inside(page, node(page, "start")) and inside(page, node(page, "done"))):
        assert time.monotonic() < deadline, "the finished run's graph does not fit the view"
        time.sleep(0.1)


ONE_STEP = {
    "nodes": [
        {
            "id": "start",
            "type": "trigger",
            "config": {"kind": "manual"},
            "position": {"x": 0, "y": 0},
        },
        {"id": "done", "type": "end", "position": {"x": 0, "y": 130}},
    ],
    "edges": [{"id": "e1", "source": "start", "target": "done"}],
}


def test_the_executions_list_narrows_runs_to_a_date_range(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = deploy(client, ONE_STEP, f"dated-{time.monotonic_ns()}")
    run = start(client, workflow_id)
    assert wait_until_finished(client, run) == "completed"

    page.goto(f"{live_server}/executions")
    table = page.get_by_role("table")
    row = table.get_by_role("row").filter(has_text=run)
    expect(row).to_have_count(1)
    today, tomorrow, yesterday = page.evaluate(
        """() => [0, 1, -1].map((days) =>
            new Date(Date.now() + days * 86400000).toLocaleDateString('en-CA'))"""
    )
    page.get_by_label("From", exact=True).fill(tomorrow)
    expect(table).to_contain_text("No runs")
    page.get_by_label("From", exact=True).fill(today)
    expect(row).to_have_count(1)
    # "To" includes its own day.
    page.get_by_label("To", exact=True).fill(today)
    expect(row).to_have_count(1)
    page.get_by_label("From", exact=True).fill("")
    page.get_by_label("To", exact=True).fill(yesterday)
    expect(table).to_contain_text("No runs")
