"""Projects, their secrets and connections, the user's settings, and workflows as files, all
from the UI as a new user would use them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, api, screenshot, sign_up, unique_email

SECRET_VALUE = "s3cr3t-value-never-shown"


def test_a_project_is_created_renamed_and_given_secrets_whose_values_never_show(
    live_server: str, page: Page
) -> None:
    token = sign_up(page, live_server)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Projects", exact=True).click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    page.get_by_label("Project name").fill("Shop")
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("link", name="Shop", exact=True).click()
    expect(page.get_by_role("heading", name="Shop")).to_be_visible()
    expect(page.get_by_role("region", name="Task queue and workers")).to_contain_text("Task queue")

    page.get_by_role("button", name="Rename").click()
    page.get_by_label("New name").fill("Online shop")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("heading", name="Online shop")).to_be_visible()
    expect(
        page.get_by_label("Project", exact=True).locator("option", has_text="Online shop")
    ).to_have_count(1)

    secrets = page.get_by_role("region", name="Secrets and connections")
    expect(secrets).to_contain_text("No secrets yet.")
    secrets.get_by_label("Name").fill("API_TOKEN")
    secrets.get_by_label("Value").fill(SECRET_VALUE)
    secrets.get_by_role("button", name="Save secret").click()
    expect(secrets.get_by_role("status")).to_contain_text("Saved API_TOKEN")
    table = secrets.get_by_role("table", name="Secrets")
    expect(table.get_by_role("row").filter(has_text="API_TOKEN")).to_contain_text("secret")

    secrets.get_by_label("Name").fill("warehouse")
    secrets.get_by_label("Kind").select_option("connection")
    secrets.get_by_label("Value").fill('{"url": {"$secret": "API_TOKEN"}}')
    secrets.get_by_role("button", name="Save secret").click()
    expect(table.get_by_role("row").filter(has_text="warehouse")).to_contain_text("connection")
    screenshot(page, "project-secrets")

    assert SECRET_VALUE not in page.content()
    page.reload()
    expect(table.get_by_role("row")).to_have_count(3)
    assert SECRET_VALUE not in page.content()
    project_id = page.url.rsplit("/", 1)[1]
    listed = api(live_server, token).get(f"/projects/{project_id}/secrets").text
    assert "API_TOKEN" in listed and SECRET_VALUE not in listed

    table.get_by_role("row").filter(has_text="warehouse").get_by_role(
        "button", name="Delete"
    ).click()
    page.get_by_role("dialog", name="Delete this secret?").get_by_role(
        "button", name="Delete secret"
    ).click()
    expect(table.get_by_role("row")).to_have_count(2)


@pytest.mark.expected_http_errors(401, 403, 422)
def test_the_profile_and_password_are_changed_in_settings(live_server: str, page: Page) -> None:
    email = unique_email("Lin")
    sign_up(page, live_server, name="Lin", email=email)
    page.get_by_role("link", name="Lin").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    page.get_by_label("Display name").fill("Lin Chen")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name="Lin Chen")).to_be_visible()

    new_password = "a much longer passphrase"
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Password changed.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(new_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()


def test_a_workflow_is_exported_to_a_file_and_imported_back(
    live_server: str, page: Page, tmp_path: Path
) -> None:
    client = api(live_server, sign_up(page, live_server))
    kebab = f"to-export-{time.monotonic_ns()}"
    definition = {
        "signals": [{"name": "go"}],
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
    created = client.post(
        "/workflows",
        json={"kebab_name": kebab, "display_name": "To export", "definition": definition},
    )
    page.goto(f"{live_server}/workflows/{created.json()['id']}")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    assert download.value.suggested_filename == f"{kebab}.workflow.json"
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["format"].startswith("workflow-builder/workflow@")
    assert exported["workflow"]["definition"]["signals"] == [{"name": "go"}]

    copy = tmp_path / "copy.workflow.json"
    copy.write_text(json.dumps({**exported, "kebab_name": f"{kebab}-copy"}))
    page.goto(f"{live_server}/workflows")
    page.get_by_label("Workflow file to import").set_input_files(str(copy))
    expect(page.get_by_role("heading", name="To export")).to_be_visible()
    expect(page.locator(".builder-kebab")).to_have_text(f"{kebab}-copy")
    expect(page.locator('.react-flow__node[data-id="done"]')).to_be_visible()
