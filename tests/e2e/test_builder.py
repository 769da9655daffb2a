"""The builder canvas: from an empty workflow to a saved, valid graph; and save conflicts."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    api,
    connect,
    create_component,
    drop,
    error_badge,
    handle,
    node,
    open_new_workflow,
    screenshot,
    sign_up,
)

SEND_EMAIL = {
    "name": "send-email",
    "display_name": "Send email",
    "type": "activity",
    "description": "Sends one email.",
    "config_schema": {
        "type": "object",
        "required": ["sender"],
        "properties": {"sender": {"type": "string", "title": "Sender address"}},
    },
    "input_schema": {
        "type": "object",
        "properties": {"to": {"type": "string"}, "subject": {"type": "string"}},
    },
    "output_schema": {"type": "object", "properties": {"sent": {"type": "boolean"}}},
}


def test_design_a_workflow_fix_it_and_find_it_saved(live_server: str, page: Page) -> None:
    token = sign_up(page, live_server)
    create_component(api(live_server, token), **SEND_EMAIL)

    page.get_by_role("button", name="New workflow").click()
    dialog = page.get_by_role("dialog", name="New workflow")
    dialog.get_by_label("Display name").fill("Order intake")
    kebab = dialog.get_by_label("Kebab name")
    expect(kebab).to_have_value("order-intake")
    kebab.fill("Order intake")
    expect(dialog.get_by_text("Use lowercase letters only.")).to_be_visible()
    expect(dialog.get_by_role("button", name="Create workflow")).to_be_disabled()
    kebab.fill("order-intake")
    expect(dialog.get_by_text("Use lowercase letters only.")).to_be_hidden()
    dialog.get_by_role("button", name="Create workflow").click()
    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
    workflow_id = page.url.rsplit("/", 1)[1]

    drop(page, "palette-send-email", 300, 220)
    drop(page, "palette-condition", 300, 380)
    for node_id in ("trigger_1", "activity_1", "condition_1"):
        expect(node(page, node_id)).to_be_visible()
    connect(page, "trigger_1", "next", "activity_1")
    connect(page, "activity_1", "next", "condition_1")
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    # The condition has no expression yet: an error on the node, fixed in the side panel.
    expect(error_badge(page, "condition_1")).to_be_visible()
    screenshot(page, "builder-canvas")
    node(page, "condition_1").click()
    panel = page.get_by_role("complementary", name="Settings of condition_1")
    expect(panel.get_by_role("list", name="Problems of this node")).to_be_visible()
    expect(panel.get_by_test_id("readable-references")).to_contain_text(
        "nodes.activity_1.output, nodes.trigger_1.output"
    )
    panel.get_by_label("Expression").fill("input.amount > `100`")
    expect(error_badge(page, "condition_1")).to_have_count(0, timeout=10_000)

    # The component's config_schema requires a sender.
    expect(error_badge(page, "activity_1")).to_be_visible(timeout=10_000)
    node(page, "activity_1").click()
    panel = page.get_by_role("complementary", name="Settings of activity_1")
    panel.get_by_label("Sender address").fill("shop@example.com")
    panel.get_by_label("Maximum attempts").fill("3")
    expect(error_badge(page, "activity_1")).to_have_count(0, timeout=10_000)
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)

    page.reload()
    for node_id in ("trigger_1", "activity_1", "condition_1"):
        expect(node(page, node_id)).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    expect(error_badge(page, "condition_1")).to_have_count(0)

    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_test_id("deploy-message")).to_have_text("Deployed.")
    expect(page.locator("[data-status=active]")).to_be_visible()

    saved: dict[str, Any] = api(live_server, token).get(f"/workflows/{workflow_id}").json()
    assert saved["status"] == "active"

    page.get_by_role("button", name="Run").click()
    run = page.get_by_role("dialog", name="Start a run")
    run.get_by_label("Inputs (JSON)").fill('{"amount": 250}')
    run.get_by_role("button", name="Start run").click()
    expect(run.get_by_role("status")).to_contain_text("Run ")
    run.get_by_role("link", name="See executions").click()
    expect(page.get_by_role("heading", name="Executions")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Order intake")).to_have_count(1)
    screenshot(page, "executions")
    page.get_by_role("link", name="Order intake").click()
    expect(page.get_by_role("heading", name="Run")).to_be_visible()
    expect(page.locator("pre.json").first).to_contain_text('"amount": 250')
    definition = saved["definition"]
    by_id = {n["id"]: n for n in definition["nodes"]}
    assert by_id["condition_1"]["config"] == {"expression": "input.amount > `100`"}
    assert by_id["activity_1"]["component"]["name"] == "send-email"
    assert by_id["activity_1"]["config"] == {"sender": "shop@example.com"}
    assert by_id["activity_1"]["retry"] == {"maximum_attempts": 3}
    assert all(set(n["position"]) == {"x", "y"} for n in definition["nodes"])
    assert {(e["source"], e["source_handle"], e["target"]) for e in definition["edges"]} == {
        ("trigger_1", "next", "activity_1"),
        ("activity_1", "next", "condition_1"),
    }


@pytest.mark.expected_http_errors(412)
def test_a_save_behind_the_pages_back_is_never_overwritten(live_server: str, page: Page) -> None:
    token = sign_up(page, live_server, name="Lin")
    client = api(live_server, token)
    workflow_id = open_new_workflow(page, live_server, "Refunds")
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")

    current = client.get(f"/workflows/{workflow_id}")
    elsewhere = {
        "nodes": [{"id": "start", "type": "trigger", "position": {"x": 0, "y": 0}}],
        "edges": [],
    }
    changed = client.patch(
        f"/workflows/{workflow_id}",
        json={"definition": elsewhere},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text

    page.get_by_test_id("palette-end").click()
    notice = page.get_by_test_id("conflict-notice")
    expect(notice).to_be_visible(timeout=10_000)
    expect(notice).to_contain_text("newer version")
    stored = client.get(f"/workflows/{workflow_id}").json()["definition"]
    assert [n["id"] for n in stored["nodes"]] == ["start"]

    notice.get_by_role("button", name="Reload the saved version").click()
    expect(node(page, "start")).to_be_visible()
    expect(node(page, "end_1")).to_have_count(0)
    expect(page.get_by_test_id("conflict-notice")).to_be_hidden()


BRANCHING = {
    "nodes": [
        {"id": "start", "type": "trigger", "position": {"x": 0, "y": 0}},
        {
            "id": "retry_loop",
            "type": "loop",
            "position": {"x": 0, "y": 150},
            "config": {"until": "vars.done", "max_iterations": 3},
        },
        {
            "id": "mark",
            "type": "set_variable",
            "position": {"x": -250, "y": 300},
            "config": {"variable": "done", "value": "`true`"},
        },
        {
            "id": "route",
            "type": "switch",
            "position": {"x": 250, "y": 300},
            "config": {"cases": [{"name": "approve", "expression": "input.ok"}]},
        },
        {
            "id": "approval",
            "type": "wait_for_signal",
            "position": {"x": 250, "y": 450},
            "config": {"signal": "approved", "timeout_seconds": 60},
        },
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "retry_loop", "source_handle": "next"},
        {"id": "e2", "source": "retry_loop", "target": "mark", "source_handle": "body"},
        {
            "id": "e3",
            "source": "mark",
            "target": "retry_loop",
            "source_handle": "next",
            "target_handle": "back",
        },
        {"id": "e4", "source": "retry_loop", "target": "route", "source_handle": "done"},
        {"id": "e5", "source": "route", "target": "approval", "source_handle": "approve"},
    ],
    "signals": [{"name": "approved"}],
    "variables": {"done": {"initial": False}},
}


def test_branches_shortcuts_and_layout(live_server: str, page: Page) -> None:
    token = sign_up(page, live_server, name="Bo")
    client = api(live_server, token)
    created = client.post(
        "/workflows",
        json={"kebab_name": "approvals", "display_name": "Approvals", "definition": BRANCHING},
    )
    assert created.status_code == 201, created.text
    workflow_id = created.json()["id"]
    page.goto(f"{live_server}/workflows/{workflow_id}")

    for node_id, outcomes in {
        "retry_loop": ["body", "done"],
        "route": ["approve", "default"],
        "approval": ["received", "timed_out"],
        "mark": ["next"],
    }.items():
        for outcome in outcomes:
            expect(handle(page, node_id, outcome)).to_be_attached()
    expect(handle(page, "retry_loop", "back")).to_be_attached()
    expect(page.locator(".react-flow__edge")).to_have_count(5)
    expect(page.get_by_test_id("edge-e5")).to_have_text("approve")

    page.get_by_label("Search the palette").fill("loop")
    palette = page.get_by_role("complementary", name="Palette")
    expect(palette.get_by_role("button")).to_have_count(1)
    expect(palette.get_by_role("button")).to_have_text("Loop")
    page.get_by_label("Search the palette").fill("")

    node(page, "mark").click()
    start = node(page, "mark").bounding_box()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    moved = node(page, "mark").bounding_box()
    assert start and moved and moved["x"] > start["x"]
    page.keyboard.press("Control+z")
    expect(node(page, "mark")).to_have_attribute("style", re.compile(r"translate\("))
    back = node(page, "mark").bounding_box()
    assert back and abs(back["x"] - start["x"]) < 1

    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(node(page, "set_variable_1")).to_be_visible()
    page.keyboard.press("Control+z")
    expect(node(page, "set_variable_1")).to_have_count(0)
    page.keyboard.press("Control+Shift+z")
    expect(node(page, "set_variable_1")).to_be_visible()
    node(page, "set_variable_1").click()
    page.keyboard.press("Delete")
    expect(node(page, "set_variable_1")).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(node(page, "set_variable_1")).to_be_visible()
    page.keyboard.press("Backspace")
    expect(node(page, "set_variable_1")).to_have_count(0)

    # Keyboard only: add a node from the palette, wire an outcome from the side panel.
    page.get_by_test_id("palette-end").focus()
    page.keyboard.press("Enter")
    expect(node(page, "end_1")).to_be_visible()
    node(page, "approval").focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("complementary", name="Settings of approval")
    panel.get_by_label("On received").select_option("end_1")
    expect(page.locator(".react-flow__edge")).to_have_count(6)

    page.locator(".react-flow__pane").click(position={"x": 5, "y": 5})
    workflow_panel = page.get_by_role("complementary", name="Workflow")
    workflow_panel.get_by_label("Payload schema (JSON Schema)").fill(
        '{"type": "object", "required": ["by"]}'
    )
    workflow_panel.get_by_label("Run timeout (s)").fill("600")
    schedules = workflow_panel.get_by_role("group", name="Schedules")
    schedules.get_by_role("button", name="+ Add").click()
    schedules.get_by_label("Cron").fill("0 9 * * 1-5")
    schedules.get_by_label("Run input (JSON)").fill("[1]")
    schedules.get_by_label("Cron").focus()
    expect(schedules.get_by_text("Expected a JSON object.")).to_be_visible()
    schedules.get_by_label("Run input (JSON)").fill('{"report": "weekly"}')
    workflow_panel.get_by_label("Run timeout (s)").focus()

    before = node(page, "end_1").bounding_box()
    page.get_by_role("button", name="Auto-layout").click()
    page.get_by_role("button", name="Zoom to fit").click()
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    assert node(page, "end_1").bounding_box() != before

    definition = client.get(f"/workflows/{workflow_id}").json()["definition"]
    assert {n["id"] for n in definition["nodes"]} == {
        "start",
        "retry_loop",
        "mark",
        "route",
        "approval",
        "end_1",
    }
    edges = {
        (e["source"], e.get("source_handle"), e["target"], e.get("target_handle"))
        for e in definition["edges"]
    }
    assert ("mark", "next", "retry_loop", "back") in edges
    assert ("approval", "received", "end_1", None) in edges
    assert definition["signals"] == [
        {"name": "approved", "parameters": {"type": "object", "required": ["by"]}}
    ]
    assert definition["schedules"] == [{"cron": "0 9 * * 1-5", "input": {"report": "weekly"}}]
    assert definition["settings"] == {"timeout_seconds": 600}
    assert definition["variables"] == {"done": {"initial": False}}

    # Leaving right after an edit still saves it.
    node(page, "route").focus()
    page.keyboard.press("Enter")
    page.get_by_role("complementary", name="Settings of route").get_by_label("Label").fill(
        "Route it"
    )
    page.get_by_role("link", name="← Workflows").click()
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    expect(page.get_by_role("link", name="Approvals")).to_be_visible()

    def route_label() -> str | None:
        stored = client.get(f"/workflows/{workflow_id}").json()["definition"]
        label: str | None = {n["id"]: n.get("label") for n in stored["nodes"]}["route"]
        return label

    deadline = time.monotonic() + 5
    while route_label() != "Route it" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert route_label() == "Route it"


def test_an_edge_from_a_missing_outcome_is_flagged_and_removable(
    live_server: str, page: Page
) -> None:
    token = sign_up(page, live_server, name="Eve")
    definition = {
        "nodes": [
            {"id": "start", "type": "trigger", "position": {"x": 0, "y": 0}},
            {"id": "finish", "type": "end", "position": {"x": 0, "y": 200}},
        ],
        "edges": [
            {"id": "good", "source": "start", "target": "finish", "source_handle": "next"},
            {"id": "stale", "source": "start", "target": "finish", "source_handle": "approve"},
        ],
    }
    created = api(live_server, token).post(
        "/workflows", json={"kebab_name": "stale-edge", "definition": definition}
    )
    assert created.status_code == 201, created.text
    page.goto(f"{live_server}/workflows/{created.json()['id']}")

    expect(error_badge(page, "start")).to_be_visible()
    expect(error_badge(page, "start")).to_have_attribute("title", re.compile("approve"))
    page.get_by_role("complementary", name="Workflow").get_by_role(
        "button", name="Remove edge stale"
    ).click()
    expect(error_badge(page, "start")).to_have_count(0, timeout=10_000)
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")


def test_a_node_of_an_unknown_type_still_shows_with_its_error(live_server: str, page: Page) -> None:
    token = sign_up(page, live_server, name="Uma")
    definition = {
        "nodes": [
            {"id": "start", "type": "trigger", "position": {"x": 0, "y": 0}},
            {"id": "warp", "type": "teleport", "position": {"x": 0, "y": 200}},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "warp"}],
    }
    created = api(live_server, token).post(
        "/workflows", json={"kebab_name": "odd-one", "definition": definition}
    )
    assert created.status_code == 201, created.text
    page.goto(f"{live_server}/workflows/{created.json()['id']}")

    expect(error_badge(page, "warp")).to_be_visible()
    node(page, "warp").click()
    expect(page.get_by_role("complementary", name="Settings of warp")).to_contain_text("teleport")
