"""The statistics page counts test runs of drafts apart: left out of the numbers by default
(saying how many), counted with the others, or alone."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, sign_up
from tests.e2e.test_runs import start, wait_until_finished

HELLO: dict[str, Any] = {
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


def test_test_runs_are_left_out_of_the_statistics_or_counted_on_demand(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = client.post(
        "/workflows",
        json={
            "kebab_name": f"hello-{time.monotonic_ns()}",
            "display_name": "Hello",
            "definition": HELLO,
        },
    ).json()["id"]

    # A test run of the draft, from the builder.
    page.goto(f"{live_server}/workflows/{workflow_id}")
    page.get_by_role("button", name="Test draft").click()
    page.get_by_role("dialog", name="Test run of the draft").get_by_role(
        "button", name="Start test run"
    ).click()
    expect(page.get_by_test_id("test-run-banner")).to_contain_text("completed", timeout=15_000)

    # Two runs of the deployed version.
    assert client.post(f"/workflows/{workflow_id}/deploy").status_code == 200
    runs = [start(client, workflow_id) for _ in range(2)]
    assert [wait_until_finished(client, run) for run in runs] == ["completed"] * 2

    page.goto(f"{live_server}/statistics")
    expect(page.get_by_role("heading", name="Statistics")).to_be_visible()
    expect(page.get_by_test_id("total-runs")).to_have_text("2")
    expect(page.get_by_test_id("test-runs")).to_have_text("1 left out")
    row = page.get_by_role("row").filter(has_text="Hello")
    expect(row.get_by_role("cell").nth(1)).to_have_text("2")
    expect(row).to_contain_text("1 left out")

    page.get_by_label("Test runs", exact=True).select_option(label="Counted with the others")
    expect(page.get_by_test_id("total-runs")).to_have_text("3")
    expect(page.get_by_test_id("test-runs")).to_have_text("1")
    expect(row.get_by_role("cell").nth(1)).to_have_text("3")

    page.get_by_label("Test runs", exact=True).select_option(label="Only test runs")
    expect(page.get_by_test_id("total-runs")).to_have_text("1")
    expect(page.get_by_test_id("test-runs")).to_have_text("1")
    expect(page.get_by_role("img", name="Runs per day: 1 in all")).to_be_visible()
