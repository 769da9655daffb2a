"""Steps the browser tests share: signing up through the UI, calling the API as that user."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import SCREENSHOTS

PASSWORD = "correct horse battery"


def unique_email(name: str) -> str:
    return f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"


def sign_up(page: Page, live_server: str, name: str = "Ada", email: str | None = None) -> str:
    """Create an account through the sign-up form; return the user's access token."""
    email = email or unique_email(name)
    page.goto(live_server + "/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    token: str = page.evaluate("JSON.parse(localStorage.getItem('wfb.tokens')).access_token")
    return token


def api(live_server: str, token: str) -> httpx.Client:
    """An API client authenticated as the signed-in user."""
    return httpx.Client(
        base_url=live_server + "/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def create_component(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/components", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def screenshot(page: Page, name: str, full_page: bool = False) -> None:
    """Save the page as docs/screenshots/<name>.png, the README's pictures, when the run asks
    for them with WFB_SCREENSHOTS=1; otherwise do nothing, so a test run leaves the tree as it
    was (the pictures differ in every run: names, ids and times)."""
    if os.environ.get("WFB_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


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
