"""A secret created in the UI and used in an HTTP node's header reaches the service called, and
its value appears on no page: not the project's, the builder's, the run's or the executions'."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, node, sign_up
from tests.e2e.test_runs import wait_until_finished

SECRET_VALUE = "tok-" + uuid.uuid4().hex


@pytest.fixture
def service() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback service that records the headers it gets and answers without them."""
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.append({k.lower(): v for k, v in self.headers.items()})
            payload = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def assert_hidden(page: Page) -> None:
    assert SECRET_VALUE not in page.content(), f"the secret's value shows on {page.url}"


def test_a_secret_made_in_the_ui_goes_into_a_header_and_shows_nowhere(
    live_server: str, page: Page, worker: str, service: tuple[str, list[dict[str, str]]]
) -> None:
    url, received = service
    client = api(live_server, sign_up(page, live_server))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_label("Project name").fill("Shop")
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("link", name="Shop", exact=True).click()
    secrets = page.get_by_role("region", name="Secrets and connections")
    secrets.get_by_label("Name").fill("API_TOKEN")
    secrets.get_by_label("Value").fill(SECRET_VALUE)
    secrets.get_by_role("button", name="Save secret").click()
    expect(secrets.get_by_role("status")).to_contain_text("Saved API_TOKEN")
    assert_hidden(page)
    project_id = page.url.rsplit("/", 1)[1]

    definition = {
        "nodes": [
            {"id": "start", "type": "trigger", "config": {"kind": "manual"}},
            {
                "id": "call",
                "type": "activity",
                "component": {"name": "http_request"},
                "config": {"method": "GET", "url": f"{url}/orders"},
                "position": {"x": 0, "y": 130},
            },
            {"id": "done", "type": "end", "position": {"x": 0, "y": 260}},
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "call"},
            {"id": "e2", "source": "call", "target": "done"},
        ],
    }
    created = client.post(
        "/workflows",
        json={
            "kebab_name": f"orders-{uuid.uuid4().hex[:8]}",
            "definition": definition,
            "project_id": project_id,
        },
    )
    assert created.status_code == 201, created.text
    workflow_id = created.json()["id"]

    page.goto(f"{live_server}/workflows/{workflow_id}")
    node(page, "call").click()
    panel = page.get_by_role("complementary", name="Settings of call")
    headers = panel.get_by_role("group", name="Headers", exact=True)
    headers.get_by_role("button", name="Add to Headers").click()
    headers.get_by_label("Name").fill("X-Token")
    headers.get_by_role("switch", name="Use a secret").check()
    headers.get_by_label("Value").select_option("API_TOKEN")
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_test_id("deploy-message")).to_have_text("Deployed.", timeout=10_000)
    assert_hidden(page)

    started = client.post(f"/workflows/{workflow_id}/executions", json={"inputs": {}})
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    assert wait_until_finished(client, run_id) == "completed"
    assert received[-1]["x-token"] == SECRET_VALUE

    page.goto(f"{live_server}/executions/{run_id}")
    node(page, "call").click()
    steps = page.get_by_role("region", name="Steps of call")
    expect(steps.get_by_label("Step inputs")).to_be_visible()
    assert_hidden(page)
    page.goto(f"{live_server}/executions")
    expect(page.get_by_role("row").filter(has_text=run_id)).to_have_count(1)
    assert_hidden(page)
    page.goto(f"{live_server}/workflows/{workflow_id}")
    node(page, "call").click()
    expect(
        page.get_by_role("complementary", name="Settings of call").get_by_label("Value")
    ).to_have_value("API_TOKEN")
    assert_hidden(page)
