"""The builder canvas: from an empty workflow to a saved, valid graph; and save conflicts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import api, create_component, screenshot, sign_up

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


def node(page: Page, node_id: str) -> Locator:
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def handle(page: Page, node_id: str, handle_id: str) -> Locator:
    return node(page, node_id).locator(f'.react-flow__handle[data-handleid="{handle_id}"]')


def drop(page: Page, palette_id: str, x: int, y: int) -> None:
    page.get_by_test_id(palette_id).drag_to(
        page.locator(".react-flow__pane"), target_position={"x": x, "y": y}
    )


def connect(page: Page, source: str, outcome: str, target: str) -> None:
    handle(page, source, outcome).drag_to(handle(page, target, "in"))


def error_badge(page: Page, node_id: str) -> Locator:
    return node(page, node_id).locator('[data-testid="problem-badge"][data-severity="error"]')


def open_new_workflow(page: Page, live_server: str, display_name: str) -> str:
    page.get_by_role("button", name="New workflow").click()
    dialog = page.get_by_role("dialog", name="New workflow")
    dialog.get_by_label("Display name").fill(display_name)
    dialog.get_by_role("button", name="Create workflow").click()
    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


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

    drop(page, "palette-trigger", 300, 60)
    drop(page, "palette-send-email", 300, 220)
    drop(page, "palette-condition", 300, 380)
    for node_id in ("trigger_1", "activity_1", "condition_1"):
        expect(node(page, node_id)).to_be_visible()
    connect(page, "trigger_1", "next", "activity_1")
    connect(page, "activity_1", "next", "condition_1")
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    expect(error_badge(page, "condition_1")).to_be_visible()
    expect(error_badge(page, "activity_1")).to_be_visible()
    screenshot(page, "builder-canvas")

    node(page, "condition_1").click()
    panel = page.get_by_role("complementary", name="Settings of condition_1")
    panel.get_by_label("Expression").fill("input.amount > `100`")
    node(page, "activity_1").click()
    panel = page.get_by_role("complementary", name="Settings of activity_1")
    panel.get_by_label("Sender address").fill("shop@example.com")
    panel.get_by_label("Maximum attempts").fill("3")
    expect(error_badge(page, "condition_1")).to_have_count(0)
    expect(error_badge(page, "activity_1")).to_have_count(0)
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)

    page.reload()
    for node_id in ("trigger_1", "activity_1", "condition_1"):
        expect(node(page, node_id)).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    expect(error_badge(page, "condition_1")).to_have_count(0)

    saved: dict[str, Any] = api(live_server, token).get(f"/workflows/{workflow_id}").json()
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
