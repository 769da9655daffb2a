"""The try-it loop without deploying: a node run alone with sample data, its output pinned and
used by the next node's try, the pins saved with the workflow."""

from __future__ import annotations

import json
import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, node, screenshot, sign_up

GREETING: dict[str, Any] = {
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
            "input": {"name": "input.name", "greeting": "'hello'"},
            "position": {"x": 0, "y": 130},
        },
        {
            "id": "shout",
            "type": "activity",
            "component": {"name": "python_code"},
            "config": {
                "code": "def main(inputs):\n"
                "    return (inputs['shape']['greeting'] + ' ' + inputs['shape']['name']).upper()\n"
            },
            "input": {"shape": "nodes.shape.output"},
            "position": {"x": 0, "y": 260},
        },
        {"id": "done", "type": "end", "position": {"x": 0, "y": 390}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "shape"},
        {"id": "e2", "source": "shape", "target": "shout"},
        {"id": "e3", "source": "shout", "target": "done"},
    ],
}


def test_run_a_node_alone_pin_its_output_and_try_the_next_one(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    created = client.post(
        "/workflows", json={"kebab_name": f"greet-{time.monotonic_ns()}", "definition": GREETING}
    )
    workflow_id = created.json()["id"]
    page.goto(f"{live_server}/workflows/{workflow_id}")

    node(page, "shape").click()
    trial = page.get_by_role("region", name="Try shape")
    trial.get_by_label("Sample data (JSON)").fill(json.dumps({"input": {"name": "Ada"}}))
    trial.get_by_role("button", name="Run this node").click()
    result = trial.get_by_test_id("trial-result")
    expect(result).to_contain_text("Succeeded", timeout=15_000)
    expect(result.get_by_label("Output of the try")).to_contain_text('"name": "Ada"')
    trial.get_by_role("button", name="Pin this output").click()
    expect(trial.get_by_test_id("pinned-note")).to_be_visible()
    trial.get_by_role("button", name="Pin sample data").click()
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)

    node(page, "shout").click()
    trial = page.get_by_role("region", name="Try shout")
    expect(trial.get_by_label("Sample data (JSON)")).to_have_value(
        json.dumps(
            {"input": {"name": "Ada"}, "nodes": {"shape": {"name": "Ada", "greeting": "hello"}}},
            indent=2,
        )
    )
    trial.get_by_role("button", name="Run this node").click()
    expect(trial.get_by_test_id("trial-result")).to_contain_text("HELLO ADA", timeout=15_000)
    trial.get_by_test_id("trial-result").scroll_into_view_if_needed()
    screenshot(page, "try-it")

    # The pins are saved with the workflow; nothing was deployed or run.
    page.reload()
    node(page, "shout").click()
    expect(
        page.get_by_role("region", name="Try shout").get_by_label("Sample data (JSON)")
    ).to_contain_text('"greeting": "hello"')
    saved = client.get(f"/workflows/{workflow_id}").json()
    assert saved["status"] == "draft"
    assert saved["definition"]["pinned_data"] == {
        "start": {"name": "Ada"},
        "shape": {"name": "Ada", "greeting": "hello"},
    }
    assert client.get("/executions", params={"workflow_id": workflow_id}).json()["total"] == 0


def test_a_failing_node_shows_its_error_in_plain_words(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    broken = json.loads(json.dumps(GREETING))
    broken["nodes"][2]["config"]["code"] = (
        "def main(inputs):\n    raise ValueError('no greeting today')\n"
    )
    workflow_id = client.post(
        "/workflows", json={"kebab_name": f"broken-{time.monotonic_ns()}", "definition": broken}
    ).json()["id"]
    page.goto(f"{live_server}/workflows/{workflow_id}")
    node(page, "shout").click()
    trial = page.get_by_role("region", name="Try shout")
    trial.get_by_role("button", name="Run this node").click()
    result = trial.get_by_test_id("trial-result")
    expect(result).to_contain_text("Failed", timeout=15_000)
    expect(result).to_contain_text("no greeting today")


WAITS_FOR_GO: dict[str, Any] = {
    "signals": [{"name": "go"}],
    "nodes": [
        {
            "id": "start",
            "type": "trigger",
            "config": {"kind": "manual"},
            "position": {"x": 0, "y": 0},
        },
        {
            "id": "hold",
            "type": "wait_for_signal",
            "config": {"signal": "go", "timeout_seconds": 600},
            "position": {"x": 0, "y": 130},
        },
        {"id": "done", "type": "end", "position": {"x": -140, "y": 260}},
        {"id": "late", "type": "end", "position": {"x": 140, "y": 260}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "hold"},
        {"id": "e2", "source": "hold", "source_handle": "received", "target": "done"},
        {"id": "e3", "source": "hold", "source_handle": "timed_out", "target": "late"},
    ],
}


def test_a_test_run_of_the_draft_draws_its_live_status_on_the_builder(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = client.post(
        "/workflows", json={"kebab_name": f"hold-{time.monotonic_ns()}", "definition": WAITS_FOR_GO}
    ).json()["id"]
    page.goto(f"{live_server}/workflows/{workflow_id}")
    page.get_by_role("button", name="Test draft").click()
    dialog = page.get_by_role("dialog", name="Test run of the draft")
    dialog.get_by_role("button", name="Start test run").click()
    banner = page.get_by_test_id("test-run-banner")
    expect(banner).to_contain_text("running", timeout=10_000)
    status = node(page, "hold").locator("[data-run-status]")
    expect(status).to_have_attribute("data-run-status", "waiting", timeout=15_000)
    expect(node(page, "start").locator("[data-run-status]")).to_have_attribute(
        "data-run-status", "completed"
    )
    screenshot(page, "test-run")

    [run] = client.get("/executions", params={"workflow_id": workflow_id}).json()["items"]
    assert run["is_test"] is True
    sent = client.post(f"/executions/{run['id']}/signals/go", json={})
    assert sent.status_code == 202, sent.text
    expect(status).to_have_attribute("data-run-status", "completed", timeout=15_000)
    expect(node(page, "done").locator("[data-run-status]")).to_have_attribute(
        "data-run-status", "completed"
    )
    expect(banner).to_contain_text("completed")
    assert client.get(f"/workflows/{workflow_id}").json()["status"] == "draft"

    banner.get_by_role("link", name="Open the run").click()
    expect(page.get_by_text("test run of a draft")).to_be_visible()
    page.goto(f"{live_server}/executions")
    expect(page.get_by_role("row").filter(has_text=run["id"])).to_contain_text("test")
