"""The app follows the system's dark setting, names each page in the browser tab, and speaks
of run statuses with one vocabulary."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, node, open_new_workflow, screenshot, sign_up
from tests.e2e.test_runs import deploy, start, wait_until_finished

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


def background(page: Page) -> str:
    color: str = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    return color


def test_dark_mode_follows_the_system_setting(live_server: str, page: Page) -> None:
    sign_up(page, live_server)
    light = background(page)
    page.emulate_media(color_scheme="dark")
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    dark = background(page)
    assert light == "rgb(246, 247, 249)" and dark == "rgb(15, 20, 27)"
    open_new_workflow(page, live_server, "Night shift")
    expect(page.locator(".react-flow.dark")).to_be_visible()
    screenshot(page, "dark-mode")


def test_each_page_names_itself_in_the_tab_and_statuses_read_the_same_everywhere(
    live_server: str, page: Page, worker: str
) -> None:
    page.goto(f"{live_server}/signin")
    expect(page).to_have_title("Sign in · Workflow Builder")
    client = api(live_server, sign_up(page, live_server))
    expect(page).to_have_title("Workflows · Workflow Builder")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Executions").click()
    expect(page).to_have_title("Executions · Workflow Builder")

    workflow_id = deploy(client, ONE_STEP, f"titled-{time.monotonic_ns()}", display_name="Titled")
    page.goto(f"{live_server}/workflows/{workflow_id}")
    expect(page).to_have_title("Titled · Builder · Workflow Builder")
    execution_id = start(client, workflow_id)
    assert wait_until_finished(client, execution_id) == "completed"
    page.goto(f"{live_server}/executions/{execution_id}")
    expect(page).to_have_title(re.compile(r"^Run completed · Titled · Workflow Builder$"))
    expect(node(page, "done").get_by_test_id("run-status")).to_have_text("✓ completed")
    expect(page.get_by_role("list", name="Node status legend")).not_to_contain_text("done")
    expect(page.locator("h1 [data-status]")).to_have_text("completed")
