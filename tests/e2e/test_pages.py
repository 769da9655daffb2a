"""The workflows list and the API keys page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, screenshot, sign_up


def test_api_key_secret_is_shown_once_then_listed_and_revoked(live_server: str, page: Page) -> None:
    sign_up(page, live_server, name="Kay")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill("ci-deploy")
    page.get_by_role("button", name="Create key").click()

    secret = page.get_by_test_id("api-key-secret").inner_text()
    screenshot(page, "api-keys")
    assert len(secret) > 20
    row = page.get_by_role("row").filter(has_text="ci-deploy")
    expect(row).to_be_visible()
    expect(row).not_to_contain_text(secret)
    assert httpx_status(live_server, secret) == 200

    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("api-key-secret")).to_be_hidden()
    page.reload()
    expect(row).to_be_visible()
    expect(page.get_by_text(secret)).to_have_count(0)

    row.get_by_role("button", name="Revoke ci-deploy").click()
    dialog = page.get_by_role("dialog", name="Revoke API key")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    assert httpx_status(live_server, secret) == 401


def httpx_status(live_server: str, key: str) -> int:
    import httpx

    return httpx.get(live_server + "/api/v1/me", headers={"X-API-Key": key}).status_code


@pytest.mark.expected_http_errors(409)
def test_workflows_list_filters_and_refuses_a_taken_kebab_name(
    live_server: str, page: Page
) -> None:
    token = sign_up(page, live_server, name="Wes")
    client = api(live_server, token)
    for kebab, display in [("invoice-sync", "Invoice sync"), ("lead-scoring", "Lead scoring")]:
        response = client.post("/workflows", json={"kebab_name": kebab, "display_name": display})
        assert response.status_code == 201, response.text
    workflow_id = client.get("/workflows", params={"kebab_name": "lead-scoring"}).json()["items"][
        0
    ]["id"]
    etag = client.get(f"/workflows/{workflow_id}").headers["ETag"]
    client.patch(
        f"/workflows/{workflow_id}", json={"status": "active"}, headers={"If-Match": etag}
    ).raise_for_status()
    page.reload()

    rows = page.get_by_role("row")
    expect(rows.filter(has_text="Invoice sync")).to_be_visible()
    chip = rows.filter(has_text="Lead scoring").locator("[data-status=active]")
    expect(chip).to_have_css("color", "rgb(22, 163, 74)")
    screenshot(page, "workflows-list")

    page.get_by_label("Search workflows").fill("invoice")
    expect(rows.filter(has_text="Lead scoring")).to_have_count(0)
    expect(rows.filter(has_text="Invoice sync")).to_be_visible()
    page.get_by_label("Search workflows").fill("")
    page.get_by_label("Status").select_option("active")
    expect(rows.filter(has_text="Invoice sync")).to_have_count(0)
    expect(rows.filter(has_text="Lead scoring")).to_be_visible()

    page.get_by_role("button", name="New workflow").click()
    dialog = page.get_by_role("dialog", name="New workflow")
    expect(dialog.get_by_label("Display name")).to_be_focused()
    for _ in range(8):
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('dialog[open]')")
    dialog.get_by_label("Display name").fill("Invoice sync")
    dialog.get_by_role("button", name="Create workflow").click()
    expect(dialog.get_by_text("already exists")).to_be_visible()
    expect(dialog.get_by_label("Kebab name")).to_have_attribute("aria-invalid", "true")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.get_by_label("Status").select_option("")
    page.get_by_role("button", name="Delete Invoice sync").click()
    page.get_by_role("dialog", name="Delete workflow").get_by_role("button", name="Delete").click()
    expect(rows.filter(has_text="Invoice sync")).to_have_count(0)
    expect(rows.filter(has_text="Lead scoring")).to_be_visible()
    assert client.get("/workflows", params={"kebab_name": "invoice-sync"}).json()["total"] == 0


def test_new_workflows_go_into_the_chosen_project(live_server: str, page: Page) -> None:
    token = sign_up(page, live_server, name="Pia")
    client = api(live_server, token)
    loose = client.post("/workflows", json={"kebab_name": "loose-end", "display_name": "Loose"})
    assert loose.status_code == 201, loose.text

    switcher = page.get_by_label("Project", exact=True)
    switcher.select_option("__new")
    dialog = page.get_by_role("dialog", name="New project")
    dialog.get_by_label("Name").fill("Billing")
    dialog.get_by_role("button", name="Create project").click()
    expect(dialog).to_be_hidden()
    expect(switcher.locator("option:checked")).to_have_text("Billing")
    expect(page.get_by_text("In project Billing.")).to_be_visible()
    expect(page.get_by_text("Loose")).to_have_count(0)

    page.get_by_role("button", name="New workflow").click()
    dialog = page.get_by_role("dialog", name="New workflow")
    dialog.get_by_label("Display name").fill("Dunning")
    dialog.get_by_role("button", name="Create workflow").click()
    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
    project = client.get("/projects").json()["items"][0]
    created = client.get(f"/workflows/{page.url.rsplit('/', 1)[1]}").json()
    assert project["name"] == "Billing"
    assert created["project_id"] == project["id"]


def test_a_component_created_on_its_page_is_listed(live_server: str, page: Page) -> None:
    sign_up(page, live_server, name="Cy")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Components").click()
    page.get_by_role("button", name="New component").click()
    dialog = page.get_by_role("dialog", name="New component")
    dialog.get_by_label("Name", exact=True).fill("bad name")
    expect(dialog.get_by_text("Use letters, digits")).to_be_visible()
    dialog.get_by_label("Name", exact=True).fill("fetch-invoice")
    dialog.get_by_label("Display name").fill("Fetch invoice")
    dialog.get_by_label("Config schema").fill('{"type": "object", "properties": {}}')
    dialog.get_by_role("button", name="Create component").click()
    expect(dialog).to_be_hidden()
    row = page.get_by_role("row").filter(has_text="Fetch invoice")
    expect(row).to_contain_text("activity")
    screenshot(page, "components")


def test_workflows_created_under_an_organization_are_shared_with_it(
    live_server: str, page: Page
) -> None:
    token = sign_up(page, live_server, name="Ola")
    client = api(live_server, token)
    created = client.post("/organizations", json={"name": "Acme Ops"})
    assert created.status_code == 201, created.text
    organization = created.json()
    mine = client.post("/workflows", json={"kebab_name": "my-own", "display_name": "My own"})
    assert mine.status_code == 201, mine.text
    page.reload()

    page.get_by_label("Organization").select_option(label="Acme Ops")
    expect(page.get_by_text("No workflows yet")).to_be_visible()
    page.get_by_role("button", name="New workflow").click()
    dialog = page.get_by_role("dialog", name="New workflow")
    dialog.get_by_label("Display name").fill("Shared intake")
    dialog.get_by_role("button", name="Create workflow").click()
    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
    shared = client.get(f"/workflows/{page.url.rsplit('/', 1)[1]}").json()
    assert shared["visibility"] == "organization"
    assert shared["organization_id"] == organization["id"]

    page.get_by_role("link", name="← Workflows").click()
    expect(page.get_by_role("link", name="Shared intake")).to_be_visible()
    expect(page.get_by_role("link", name="My own")).to_have_count(0)


@pytest.mark.expected_http_errors(422)
def test_an_agent_prompt_is_written_and_previewed_by_the_server(
    live_server: str, page: Page
) -> None:
    sign_up(page, live_server)
    page.get_by_role("link", name="Agent prompts").click()
    page.get_by_role("link", name="New prompt").click()
    page.get_by_label("Name", exact=True).fill("refund-reply")
    page.get_by_label("Display name").fill("Refund reply")
    page.get_by_label("Template").fill(
        "Dear {{ customer }},\n{% for item in items %}- {{ item | upper }}\n{% endfor %}"
    )
    page.get_by_label("Variables schema (JSON Schema)").fill(
        '{"type": "object", "required": ["customer"], "properties": {'
        '"customer": {"type": "string"}, "items": {"type": "array"}}}'
    )
    page.get_by_label("Recommended models").fill("gpt-4o-mini, claude-3-5-haiku-20241022")
    page.get_by_label("Sample variables (JSON)").fill(
        '{"customer": "Ada", "items": ["tea", "cake"]}'
    )
    page.get_by_role("button", name="Save and preview").click()
    expect(page.get_by_test_id("prompt-preview")).to_have_text("Dear Ada,\n- TEA\n- CAKE\n")
    expect(page).to_have_url(re.compile(r"/agent-prompts/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("prompt-save-state")).to_have_text("Saved")

    # The variables are checked against the schema on the server; the refusal names the field.
    page.get_by_label("Sample variables (JSON)").fill('{"items": []}')
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_test_id("preview-error")).to_contain_text("'customer' is a required")
    page.get_by_label("Sample variables (JSON)").fill('{"customer": "Grace", "items": ["pie"]}')
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_test_id("prompt-preview")).to_have_text("Dear Grace,\n- PIE\n")
    screenshot(page, "prompt-editor")

    page.get_by_role("link", name="All agent prompts").click()
    expect(page.get_by_role("link", name="Refund reply")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Refund reply")
    expect(row).to_contain_text("gpt-4o-mini, claude-3-5-haiku-20241022")
