"""Honest deploys: the builder says when the draft differs from what runs, ships the changes
in one click, and the versions panel compares and rolls back; a failed run is retried on the
version deployed since."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, screenshot, sign_up
from tests.e2e.test_runs import deploy, start, wait_until_finished

BRANCH = {
    "nodes": [
        {
            "id": "start",
            "type": "trigger",
            "config": {"kind": "manual"},
            "position": {"x": 0, "y": 0},
        },
        {
            "id": "check",
            "type": "condition",
            "config": {"expression": "`true`"},
            "position": {"x": 0, "y": 130},
        },
        {
            "id": "yes",
            "type": "end",
            "config": {"output": "'yes'"},
            "position": {"x": -140, "y": 260},
        },
        {"id": "no", "type": "end", "config": {"output": "'no'"}, "position": {"x": 140, "y": 260}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "check"},
        {"id": "e2", "source": "check", "source_handle": "true", "target": "yes"},
        {"id": "e3", "source": "check", "source_handle": "false", "target": "no"},
    ],
}


def ended_at(client: httpx.Client, execution_id: str) -> str:
    """The end node the run finished at."""
    steps: list[dict[str, Any]] = client.get(f"/executions/{execution_id}").json()["steps"]
    [end] = [
        s["node_id"] for s in steps if s["node_id"] in ("yes", "no") and s["status"] == "completed"
    ]
    return end


def run_now(client: httpx.Client, workflow_id: str) -> str:
    execution_id = start(client, workflow_id)
    assert wait_until_finished(client, execution_id) == "completed"
    return ended_at(client, execution_id)


def test_an_edit_to_a_deployed_workflow_is_shown_deployed_and_rolled_back(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = deploy(client, BRANCH, f"branch-{time.monotonic_ns()}")
    page.goto(f"{live_server}/workflows/{workflow_id}")
    state = page.get_by_test_id("deploy-state")
    expect(state).to_have_text("Deployed version is current")
    expect(page.get_by_role("button", name="Deploy changes")).to_have_count(0)

    page.locator('.react-flow__node[data-id="check"]').click()
    panel = page.get_by_role("complementary", name="Settings of check")
    panel.get_by_label("Expression").fill("`false`")
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    expect(state).to_have_text("Changed since deploy", timeout=10_000)
    expect(page.get_by_role("button", name="Run deployed version")).to_be_visible()
    # Until the changes are deployed, runs take the deployed version.
    assert run_now(client, workflow_id) == "yes"

    page.get_by_role("button", name="Deploy changes").click()
    expect(page.get_by_test_id("deploy-message")).to_have_text("Changes deployed.")
    expect(state).to_have_text("Deployed version is current")
    assert run_now(client, workflow_id) == "no"

    page.get_by_role("button", name="Versions").click()
    versions = page.get_by_role("dialog", name="Versions")
    rows = versions.get_by_test_id("version-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("deployed")
    expect(rows.nth(0).get_by_test_id("version-runs")).to_have_text("1")
    expect(rows.nth(1).get_by_test_id("version-runs")).to_have_text("1")
    versions.get_by_label("Compare version 1").check()
    versions.get_by_label("Compare version 2").check()
    versions.get_by_role("button", name="Compare the two selected").click()
    expect(versions.get_by_test_id("diff-summary")).to_have_text("Changed: check")
    expect(versions.locator(".diff-removed")).to_contain_text("`true`")
    expect(versions.locator(".diff-added")).to_contain_text("`false`")
    screenshot(page, "versions-diff")

    rows.nth(1).get_by_role("button", name="Roll back to this").click()
    expect(rows.nth(1)).to_contain_text("deployed")
    versions.get_by_role("button", name="Close").click()
    # The draft is the newer version again, so it now differs from what runs.
    expect(state).to_have_text("Changed since deploy")
    assert run_now(client, workflow_id) == "yes"


FAILS_UNTIL_FIXED = {
    "nodes": [
        {
            "id": "start",
            "type": "trigger",
            "config": {"kind": "manual"},
            "position": {"x": 0, "y": 0},
        },
        {
            "id": "work",
            "type": "activity",
            "component": {"name": "python_code"},
            "config": {"code": "def main(inputs):\n    raise ValueError('not yet')\n"},
            "input": {},
            "position": {"x": 0, "y": 130},
        },
        {"id": "finish", "type": "end", "position": {"x": 0, "y": 260}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "work"},
        {"id": "e2", "source": "work", "target": "finish"},
    ],
}


def test_a_failed_run_is_retried_with_the_version_deployed_since(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = deploy(client, FAILS_UNTIL_FIXED, f"fixable-{time.monotonic_ns()}")
    execution_id = start(client, workflow_id)
    assert wait_until_finished(client, execution_id) == "failed"
    page.goto(f"{live_server}/executions/{execution_id}")
    expect(page.locator("h1 [data-status]")).to_have_text("failed")
    expect(page.get_by_role("button", name="Retry from the failed node")).to_be_visible()
    expect(page.get_by_role("button", name="Retry with the deployed version")).to_have_count(0)

    fixed = {**FAILS_UNTIL_FIXED, "nodes": [dict(n) for n in FAILS_UNTIL_FIXED["nodes"]]}
    fixed["nodes"][1]["config"] = {"code": "def main(inputs):\n    return 'fixed'\n"}
    assert client.patch(f"/workflows/{workflow_id}", json={"definition": fixed}).status_code == 200
    assert client.post(f"/workflows/{workflow_id}/deploy").status_code == 200

    page.reload()
    page.get_by_role("button", name="Retry with the deployed version").click()
    expect(page.locator("h1 [data-status]")).to_have_text("completed", timeout=15_000)
