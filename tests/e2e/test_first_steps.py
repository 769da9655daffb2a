"""A newcomer's first minutes: a new workflow starts with its trigger and offers the first step;
templates start runnable workflows; lists say when they are loading."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, node, open_new_workflow, screenshot, sign_up
from tests.e2e.test_runs import wait_until_finished


def test_a_new_workflow_starts_with_a_trigger_and_offers_the_first_step(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = open_new_workflow(page, live_server, "First steps")
    expect(node(page, "trigger_1")).to_be_visible()
    expect(page.get_by_test_id("problems-summary")).not_to_contain_text("missing_trigger")
    first = page.get_by_test_id("first-step")
    expect(first).to_contain_text("Add the first step")
    screenshot(page, "first-step")
    first.get_by_role("button", name="Transform").click()
    expect(node(page, "activity_1")).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    expect(first).to_have_count(0)
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    saved = client.get(f"/workflows/{workflow_id}").json()["definition"]
    assert [n["id"] for n in saved["nodes"]] == ["trigger_1", "activity_1"]
    assert [(e["source"], e["target"]) for e in saved["edges"]] == [("trigger_1", "activity_1")]


def create_from_template(page: Page, live_server: str, title: str) -> str:
    page.goto(f"{live_server}/workflows")
    page.get_by_role("button", name="New workflow").click()
    dialog = page.get_by_role("dialog", name="New workflow")
    dialog.get_by_label("Display name").fill(f"{title} {time.monotonic_ns()}")
    dialog.get_by_label("Start from").select_option(label=f"Template: {title}")
    expect(dialog.get_by_test_id("template-description")).not_to_be_empty()
    dialog.get_by_role("button", name="Create workflow").click()
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")
    expect(page.get_by_test_id("problems-summary")).to_have_text(
        "0 errors, 0 warnings", timeout=10_000
    )
    return page.url.rsplit("/", 1)[1]


def deploy_in_the_builder(page: Page) -> None:
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_test_id("deploy-message")).to_have_text("Deployed.", timeout=10_000)


def start(client: httpx.Client, workflow_id: str, inputs: dict[str, Any]) -> str:
    response = client.post(f"/workflows/{workflow_id}/executions", json={"inputs": inputs})
    assert response.status_code == 201, response.text
    execution_id: str = response.json()["id"]
    return execution_id


def wait_for_step(client: httpx.Client, execution_id: str, node_id: str, status: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        steps = client.get(f"/executions/{execution_id}").json()["steps"]
        if any(s["node_id"] == node_id and s["status"] == status for s in steps):
            return
        assert time.monotonic() < deadline, f"{node_id} never {status}: {steps}"
        time.sleep(0.2)


def test_every_template_deploys_and_the_self_contained_ones_run_to_completion(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))

    # Templates that need an outside service (the web, an SMTP server, a model provider)
    # deploy as they are; their runs need what the gallery says they need.
    for title in ("Fetch, shape and decide", "Scheduled report by e-mail", "AI agent with a tool"):
        create_from_template(page, live_server, title)
        deploy_in_the_builder(page)

    fan_out = create_from_template(page, live_server, "Fan-out and join")
    deploy_in_the_builder(page)
    run = start(client, fan_out, {})
    assert wait_until_finished(client, run) == "completed"
    outputs = client.get(f"/executions/{run}").json()["outputs"]
    assert [r["region"] for r in outputs["regions"]] == ["north", "south", "west"]

    approval = create_from_template(page, live_server, "Human approval")
    deploy_in_the_builder(page)
    run = start(client, approval, {"request": "a new laptop"})
    wait_for_step(client, run, "approval", "waiting")
    sent = client.post(f"/executions/{run}/signals/approve", json={"approved": True, "by": "Kim"})
    assert sent.status_code == 202, sent.text
    assert wait_until_finished(client, run) == "completed"
    assert client.get(f"/executions/{run}").json()["outputs"] == {
        "approved": True,
        "request": "a new laptop",
    }

    queue = create_from_template(page, live_server, "Work-queue consumer")
    deploy_in_the_builder(page)
    run = start(client, queue, {})
    wait_for_step(client, run, "next_order", "waiting")
    added = client.post(
        f"/executions/{run}/work-queues/orders/items", json={"item": {"order": "A-1"}}
    )
    assert added.status_code == 201, added.text
    assert wait_until_finished(client, run) == "completed"
    assert client.get(f"/executions/{run}").json()["outputs"] == {"order": "A-1", "handled": True}


def test_a_list_says_it_is_loading_until_its_rows_arrive(live_server: str, page: Page) -> None:
    sign_up(page, live_server)
    held: list[Any] = []
    page.route("**/api/v1/executions?*", lambda route: held.append(route))
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Executions", exact=True
    ).click()
    loading = page.get_by_role("status").filter(has_text="Loading runs…")
    expect(loading).to_be_visible()
    expect(page.get_by_text("No runs yet.")).to_have_count(0)
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/executions?*")
    expect(loading).to_have_count(0)
    expect(page.get_by_text("No runs yet.", exact=False)).to_be_visible()
