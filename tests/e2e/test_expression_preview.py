"""Expression fields preview their value as you type: evaluated in the browser against the
workflow's pinned data or, without any, the data of its last run; completions offer the keys
that data holds."""

from __future__ import annotations

import json
import time
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import api, node, screenshot, sign_up
from tests.e2e.test_runs import deploy, start, wait_until_finished
from tests.e2e.test_try_it import GREETING


def editor(scope: Locator, label: str) -> Locator:
    return scope.get_by_role("textbox", name=label, exact=True)


def retype(page: Page, field: Locator, text: str) -> None:
    """Replace an expression editor's text by typing, as a person would."""
    field.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Backspace")
    page.keyboard.type(text)


def preview_of(field_group: Locator) -> Locator:
    return field_group.get_by_test_id("expression-preview")


def test_the_preview_follows_the_typing_against_pinned_data(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    definition: dict[str, Any] = json.loads(json.dumps(GREETING))
    definition["pinned_data"] = {
        "start": {"name": "Ada"},
        "shape": {"name": "Ada", "greeting": "hello", "tags": ["a", "b"]},
    }
    workflow_id = client.post(
        "/workflows", json={"kebab_name": f"pinned-{time.monotonic_ns()}", "definition": definition}
    ).json()["id"]
    page.goto(f"{live_server}/workflows/{workflow_id}")

    node(page, "shout").click()
    panel = page.get_by_role("complementary", name="Settings of shout")
    row = panel.get_by_role("group", name="Input 1")
    preview = preview_of(row)
    expect(preview).to_contain_text("pinned data")
    expect(preview).to_contain_text('"greeting": "hello"')

    # Keys of the pinned output are offered, though the transform declares no output schema.
    field = editor(row, "Expression")
    retype(page, field, "nodes.shape.output.gr")
    choice = page.locator(".cm-tooltip-autocomplete [role=option]").filter(has_text="greeting")
    expect(choice).to_be_visible()
    choice.click()
    expect(field).to_have_text("nodes.shape.output.greeting")
    expect(preview).to_contain_text('"hello"')

    page.keyboard.type(" == 'hello'")
    expect(preview).to_contain_text("true")
    retype(page, field, "length(nodes.shape.output.tags)")
    expect(preview).to_contain_text("2")
    screenshot(page, "expression-preview")

    # Not yet an expression: the error says why and no stale value stays.
    retype(page, field, "nodes.shape.output.")
    expect(row.locator(".field-error")).to_contain_text("ends too early")
    expect(preview).to_have_count(0)
    # A path with nothing there says so instead of a bare null.
    retype(page, field, "nodes.shape.output.missing")
    expect(preview).to_contain_text("null")
    expect(preview).to_contain_text("nothing there")
    # An evaluation error is shown in plain words.
    retype(page, field, "length(`1`)")
    expect(preview).to_contain_text("Cannot evaluate")


def test_the_preview_reads_the_last_run_without_pinned_data(
    live_server: str, page: Page, worker: str
) -> None:
    client = api(live_server, sign_up(page, live_server))
    workflow_id = deploy(client, GREETING, f"last-run-{time.monotonic_ns()}")
    run_id = start(client, workflow_id, {"name": "Grace"})
    assert wait_until_finished(client, run_id) == "completed"

    page.goto(f"{live_server}/workflows/{workflow_id}")
    node(page, "shape").click()
    panel = page.get_by_role("complementary", name="Settings of shape")
    row = panel.get_by_role("group", name="Input 1")
    preview = preview_of(row)
    expect(preview).to_contain_text("last run")
    expect(preview).to_contain_text('"Grace"')

    # A configuration expression (the end node's output) previews the same way.
    node(page, "done").click()
    panel = page.get_by_role("complementary", name="Settings of done")
    output = panel.locator('[data-field="config-done-output"]')
    retype(page, editor(panel, "Output"), "nodes.shout.output")
    expect(preview_of(output)).to_contain_text('"HELLO GRACE"')
