"""Running workflows from the browser, with a real worker process: a run's nodes turn done on
its canvas, a signal sent from the run page resumes a waiting run, the statistics page charts
the runs, and the workers page shows the live worker."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import (
    api,
    connect,
    drop,
    error_badge,
    node,
    open_new_workflow,
    screenshot,
    sign_up,
)

TERMINAL = ("completed", "failed", "canceled")

APPROVAL = {
    "signals": [
        {
            "name": "approve",
            "description": "A person approves the refund.",
            "parameters": {
                "type": "object",
                "required": ["approved_by"],
                "properties": {"approved_by": {"type": "string", "title": "Approved by"}},
            },
        }
    ],
    "work_queues": [
        {
            "name": "refunds",
            "work_item_schema": {
                "type": "object",
                "properties": {"order": {"type": "string", "title": "Order"}},
            },
        }
    ],
    "variables": {"stage": {"initial": "new", "schema": {"type": "string"}}},
    "queries": [{"name": "stage", "expression": "vars.stage"}],
    "nodes": [
        {
            "id": "start",
            "type": "trigger",
            "config": {"kind": "manual"},
            "position": {"x": 0, "y": 0},
        },
        {
            "id": "mark",
            "type": "set_variable",
            "config": {"variable": "stage", "value": "'waiting for approval'"},
            "position": {"x": 0, "y": 130},
        },
        {
            "id": "approval",
            "type": "wait_for_signal",
            "config": {"signal": "approve", "timeout_seconds": 600},
            "position": {"x": 0, "y": 260},
        },
        {
            "id": "approved",
            "type": "end",
            "config": {"output": "nodes.approval.output.payload"},
            "position": {"x": -140, "y": 400},
        },
        {"id": "expired", "type": "end", "position": {"x": 140, "y": 400}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "mark"},
        {"id": "e2", "source": "mark", "target": "approval"},
        {"id": "e3", "source": "approval", "source_handle": "received", "target": "approved"},
        {"id": "e4", "source": "approval", "source_handle": "timed_out", "target": "expired"},
    ],
}

SHAPE = {
    "nodes": [
        {
            "id": "start",
            "type": "trigger",
            "config": {"kind": "manual"},
            "position": {"x": 0, "y": 0},
        },
        {
            "id": "shape",
            "type": "activity",
            "component": {"name": "transform"},
            "position": {"x": 0, "y": 130},
        },
        {
            "id": "count",
            "type": "activity",
            "component": {"name": "python_code"},
            "config": {"code": "def main(inputs):\n    return len(inputs)\n"},
            "input": {},
            "position": {"x": 0, "y": 260},
        },
        {"id": "finish", "type": "end", "position": {"x": 0, "y": 390}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "shape"},
        {"id": "e2", "source": "shape", "target": "count"},
        {"id": "e3", "source": "count", "target": "finish"},
    ],
}


def run_status(page: Page, node_id: str) -> Locator:
    """The node's body, which carries its status in the run (`data-run-status`)."""
    return node(page, node_id).locator("[data-run-status]")


def deploy(client: httpx.Client, definition: dict[str, Any], kebab_name: str, **fields: Any) -> str:
    created = client.post(
        "/workflows", json={"kebab_name": kebab_name, "definition": definition, **fields}
    )
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    deployed = client.post(f"/workflows/{workflow_id}/deploy")
    assert deployed.status_code == 200, deployed.text
    return workflow_id


def start(client: httpx.Client, workflow_id: str, inputs: dict[str, Any] | None = None) -> str:
    response = client.post(f"/workflows/{workflow_id}/executions", json={"inputs": inputs or {}})
    assert response.status_code == 201, response.text
    execution_id: str = response.json()["id"]
    return execution_id


def wait_until_finished(client: httpx.Client, execution_id: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status: str = client.get(f"/executions/{execution_id}").json()["status"]
        if status in TERMINAL:
            return status
        assert time.monotonic() < deadline, f"run {execution_id} still {status}"
        time.sleep(0.1)


def test_build_with_a_condition_deploy_run_and_watch_every_node_turn_done(
    live_server: str, page: Page, worker: str
) -> None:
    sign_up(page, live_server)
    open_new_workflow(page, live_server, "Refund check")
    drop(page, "palette-transform", 300, 200)
    drop(page, "palette-condition", 300, 340)
    drop(page, "palette-end", 300, 480)
    connect(page, "trigger_1", "next", "activity_1")
    connect(page, "activity_1", "next", "condition_1")
    connect(page, "condition_1", "true", "end_1")
    connect(page, "condition_1", "false", "end_1")
    expect(page.locator(".react-flow__edge")).to_have_count(4)

    # The condition has no expression: the canvas flags it; the side panel fixes it.
    expect(error_badge(page, "condition_1")).to_be_visible()
    node(page, "condition_1").click()
    panel = page.get_by_role("complementary", name="Settings of condition_1")
    panel.get_by_label("Expression").fill("input.amount > `100`")
    expect(error_badge(page, "condition_1")).to_have_count(0, timeout=10_000)

    # The trigger's input schema gives the Run button its form.
    node(page, "trigger_1").click()
    trigger = page.get_by_role("complementary", name="Settings of trigger_1")
    trigger.get_by_role("button", name="Edit as JSON Schema").click()
    trigger.get_by_label("Input schema (JSON Schema)").fill(
        '{"type": "object", "required": ["amount"],'
        ' "properties": {"amount": {"type": "number", "title": "Amount"}}}'
    )
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)

    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_test_id("deploy-message")).to_have_text("Deployed.")
    page.get_by_role("button", name="Run").click()
    dialog = page.get_by_role("dialog", name="Start a run")
    dialog.get_by_label("Amount").fill("250")
    dialog.get_by_role("button", name="Start run").click()
    dialog.get_by_role("link", name="Watch this run").click()

    expect(page.get_by_role("heading", name="Run")).to_be_visible()
    for node_id in ("trigger_1", "activity_1", "condition_1", "end_1"):
        expect(run_status(page, node_id)).to_have_attribute(
            "data-run-status", "completed", timeout=15_000
        )
        expect(node(page, node_id).get_by_test_id("run-status")).to_have_text("✓ completed")
    expect(page.locator("h1 [data-status]")).to_have_text("completed")

    # A node's step: its inputs, outputs, attempts and times, opened from the canvas.
    node(page, "condition_1").click()
    steps = page.get_by_role("region", name="Steps of condition_1")
    expect(steps.get_by_label("Step outputs")).to_contain_text('"result": true')
    expect(steps.get_by_text("Attempts")).to_be_visible()
    node(page, "activity_1").click()
    expect(
        page.get_by_role("region", name="Steps of activity_1").get_by_label("Step inputs")
    ).to_contain_text('"amount": 250')
    screenshot(page, "execution-detail")
    # Keyboard: a focused node opens with Enter.
    # The click left the clicked node focused once its selection settled; then move the focus.
    expect(node(page, "activity_1")).to_be_focused()
    expect(node(page, "activity_1")).to_have_class(re.compile(r"\bselected\b"))
    page.wait_for_timeout(300)
    node(page, "end_1").focus()
    expect(node(page, "end_1")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("region", name="Steps of end_1")).to_be_visible()


@pytest.mark.expected_http_errors(422)
def test_a_signal_sent_from_the_run_page_resumes_the_waiting_run(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    execution_id = start(client, deploy(client, APPROVAL, f"refund-{time.monotonic_ns()}"))
    page.goto(f"{live_server}/executions/{execution_id}")

    expect(run_status(page, "approval")).to_have_attribute(
        "data-run-status", "waiting", timeout=15_000
    )
    expect(node(page, "approval").get_by_test_id("run-status")).to_have_text("‖ waiting")
    expect(run_status(page, "mark")).to_have_attribute("data-run-status", "completed")
    expect(run_status(page, "approved")).to_have_attribute("data-run-status", "not-run")

    # A query answers from the waiting run's state.
    page.get_by_label("Query", exact=True).select_option("stage")
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_role("status", name="Query answer")).to_contain_text(
        '"waiting for approval"'
    )

    # An item for the run's work queue, from a form generated from the item schema.
    page.get_by_label("Order").fill("A-17")
    page.get_by_role("button", name="Add item").click()
    expect(page.get_by_text("Item added; 1 waiting in refunds.")).to_be_visible()
    page.get_by_label("Query", exact=True).select_option("refunds_items")
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_role("status", name="Query answer")).to_contain_text('"A-17"')

    # The payload form comes from the signal's schema; the server's refusal names the field.
    expect(page.get_by_label("Signal", exact=True)).to_have_value("approve")
    page.get_by_role("button", name="Send signal").click()
    expect(page.get_by_test_id("signal-error")).to_contain_text("'approved_by' is a required")
    expect(run_status(page, "approval")).to_have_attribute("data-run-status", "waiting")
    screenshot(page, "execution-waiting")

    page.get_by_label("Approved by").fill("Grace")
    page.get_by_role("button", name="Send signal").click()
    expect(page.get_by_text("Signal approve sent.")).to_be_visible()
    expect(run_status(page, "approval")).to_have_attribute(
        "data-run-status", "completed", timeout=15_000
    )
    expect(run_status(page, "approved")).to_have_attribute("data-run-status", "completed")
    expect(page.locator("h1 [data-status]")).to_have_text("completed")
    expect(page.get_by_label("Run outputs")).to_contain_text('"approved_by": "Grace"')


@pytest.mark.expected_http_errors(409)
def test_cancel_from_the_run_page_and_the_refusal_to_signal_a_closed_run(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    execution_id = start(client, deploy(client, APPROVAL, f"cancel-{time.monotonic_ns()}"))
    page.goto(f"{live_server}/executions/{execution_id}")
    expect(run_status(page, "approval")).to_have_attribute(
        "data-run-status", "waiting", timeout=15_000
    )
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("h1 [data-status]")).to_have_text("canceled", timeout=15_000)
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    page.get_by_label("Approved by").fill("Grace")
    page.get_by_role("button", name="Send signal").click()
    expect(page.get_by_test_id("signal-error")).to_be_visible()


def test_the_statistics_page_charts_the_runs_just_made(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = deploy(
        client,
        SHAPE,
        f"shape-{time.monotonic_ns()}",
        name="shape-orders",
        display_name="Shape orders",
    )
    runs = [start(client, workflow_id, {"n": n}) for n in range(3)]
    assert [wait_until_finished(client, run) for run in runs] == ["completed"] * 3
    # A run still waiting for its signal: counted, in progress, not in the success rate.
    waiting = deploy(client, APPROVAL, f"approve-{time.monotonic_ns()}", display_name="Approve")
    start(client, waiting)

    # A component's metrics show on its step.
    page.goto(f"{live_server}/executions/{runs[0]}")
    node(page, "count").click()
    metrics = page.get_by_role("region", name="Steps of count").get_by_label("Step metrics")
    expect(metrics).to_contain_text("duration ms")

    page.get_by_role("link", name="Executions", exact=True).click()
    page.get_by_label("Workflow", exact=True).select_option(label="Shape orders")
    expect(page.get_by_role("row").filter(has_text="Shape orders")).to_have_count(3)
    expect(page.get_by_role("row").filter(has_text="Approve")).to_have_count(0)

    page.get_by_role("link", name="Statistics").click()
    expect(page.get_by_role("heading", name="Statistics")).to_be_visible()
    expect(page.get_by_test_id("total-runs")).to_have_text("4")
    expect(page.get_by_test_id("in-progress")).to_have_text("1")
    expect(page.get_by_test_id("success-rate")).to_have_text("100%")
    expect(page.locator('[data-testid="runs-bucket"][data-total="4"]')).to_have_count(1)
    expect(page.get_by_test_id("success-chart")).to_contain_text("Shape orders")
    expect(page.get_by_test_id("component-chart")).to_contain_text("avg of 3")
    expect(page.get_by_role("row").filter(has_text="Shape orders")).to_contain_text("100%")
    screenshot(page, "statistics")
    page.get_by_label("Window", exact=True).select_option("24h")
    expect(page.get_by_role("img", name="Runs per hour: 4 in all")).to_be_visible()
    page.get_by_label("Workflow", exact=True).select_option(label="Shape orders")
    expect(page.get_by_role("img", name="Runs per hour: 3 in all")).to_be_visible()
    expect(page.get_by_test_id("in-progress")).to_have_text("0")


def test_the_workers_page_shows_the_live_worker(live_server: str, page: Page, worker: str) -> None:
    client = api(live_server, sign_up(page, live_server))
    project = client.post("/projects", json={"name": f"ops-{time.monotonic_ns()}"})
    assert project.status_code == 201, project.text
    page.goto(f"{live_server}/task-queues")
    row = page.get_by_test_id("workers").get_by_role("row").filter(has_text=worker)
    expect(row).to_have_count(1, timeout=10_000)
    expect(row.get_by_test_id("worker-state")).to_have_text("● live")
    expect(row).to_contain_text(project.json()["task_queue_name"])
    expect(row).to_contain_text(project.json()["name"])
    expect(row).to_contain_text(" s ago")
    screenshot(page, "workers")


FLAGGED = {
    "nodes": [
        {
            "id": "start",
            "type": "trigger",
            "config": {"kind": "manual", "input_schema": {"type": "object"}},
            "position": {"x": 0, "y": 0},
        },
        {
            "id": "check",
            "type": "activity",
            "component": {"name": "python_code"},
            "config": {
                # The code runs in a sandbox that sees nothing of the test's files: the clock
                # is what the first attempt and the retry see differently.
                "code": "import time\n\ndef main(inputs):\n"
                "    if time.time() < inputs['ready_at']:\n"
                "        raise RuntimeError('the flag is not set')\n"
                "    return 'ok'\n"
            },
            "input": {"ready_at": "input.ready_at"},
            "retry": {"maximum_attempts": 1},
            "position": {"x": 0, "y": 130},
        },
        {"id": "finish", "type": "end", "position": {"x": 0, "y": 260}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "check"},
        {"id": "e2", "source": "check", "target": "finish"},
    ],
}


def test_a_failed_run_shows_its_error_and_is_retried_from_the_run_page(
    live_server: str, page: Page, worker: str
) -> None:
    ready_at = time.time() + 10
    client = api(live_server, sign_up(page, live_server))
    workflow_id = deploy(client, FLAGGED, f"flagged-{time.monotonic_ns()}")
    execution_id = start(client, workflow_id, {"ready_at": ready_at})
    page.goto(f"{live_server}/executions/{execution_id}")

    expect(run_status(page, "check")).to_have_attribute("data-run-status", "failed", timeout=15_000)
    expect(node(page, "check").get_by_test_id("run-status")).to_have_text("✕ failed")
    expect(run_status(page, "finish")).to_have_attribute("data-run-status", "not-run")
    expect(page.locator("h1 [data-status]")).to_have_text("failed")
    node(page, "check").click()
    expect(page.get_by_role("region", name="Steps of check")).to_contain_text("the flag is not set")

    time.sleep(max(0.0, ready_at - time.time()) + 0.1)
    page.get_by_role("button", name="Retry from the failed node").click()
    expect(run_status(page, "finish")).to_have_attribute(
        "data-run-status", "completed", timeout=15_000
    )
    expect(run_status(page, "check")).to_have_attribute("data-run-status", "completed")
    expect(page.locator("h1 [data-status]")).to_have_text("completed")
