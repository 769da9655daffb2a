"""The run page: a multi-line error with its failing node linked back to the builder, a
timeline of the steps, a new run with the same inputs; executions found by id and trigger."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, screenshot, sign_up
from tests.e2e.test_runs import deploy, start, wait_until_finished

TWO_LINE_FAILURE: dict[str, Any] = {
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
            "input": {"order": "input.order"},
            "position": {"x": 0, "y": 130},
        },
        {
            "id": "work",
            "type": "activity",
            "component": {"name": "python_code"},
            "config": {
                "code": "def main(inputs):\n"
                "    raise ValueError('the order is incomplete\\nmissing: address')\n"
            },
            "input": {},
            "position": {"x": 0, "y": 260},
        },
        {"id": "finish", "type": "end", "position": {"x": 0, "y": 390}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "shape"},
        {"id": "e2", "source": "shape", "target": "work"},
        {"id": "e3", "source": "work", "target": "finish"},
    ],
}


def test_a_failed_run_explains_itself_and_runs_again_with_its_inputs(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = deploy(client, TWO_LINE_FAILURE, f"two-lines-{time.monotonic_ns()}")
    execution_id = start(client, workflow_id, {"order": "A-7"})
    assert wait_until_finished(client, execution_id) == "failed"
    page.goto(f"{live_server}/executions/{execution_id}")

    error = page.locator("pre.run-error")
    expect(error).to_contain_text("missing: address")
    assert "incomplete\nmissing: address" in error.inner_text()
    expect(page.get_by_text("Failed at")).to_contain_text("work")
    rows = page.get_by_role("figure", name="Timeline of the steps").get_by_test_id("timeline-row")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("start")
    screenshot(page, "run-failed-timeline", full_page=True)

    page.get_by_role("button", name="Run again with these inputs").click()
    expect(page).not_to_have_url(re.compile(execution_id))
    again = page.url.rsplit("/", 1)[1]
    assert client.get(f"/executions/{again}").json()["inputs"] == {"order": "A-7"}
    assert wait_until_finished(client, again) == "failed"

    page.goto(f"{live_server}/executions/{execution_id}")
    page.get_by_role("link", name="open it in the builder").click()
    expect(page).to_have_url(re.compile(f"/workflows/{workflow_id}\\?node=work$"))
    expect(page.get_by_role("complementary", name="Settings of work")).to_be_visible()

    page.goto(f"{live_server}/executions")
    page.get_by_placeholder("Run id…").fill(execution_id[:13])
    table = page.get_by_role("table")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table).to_contain_text(execution_id)
    page.get_by_placeholder("Run id…").fill("")
    page.get_by_label("Trigger").select_option("schedule")
    expect(table).to_contain_text("No runs")
    page.get_by_label("Trigger").select_option("manual")
    expect(table.get_by_role("row").filter(has_text=again)).to_have_count(1)
