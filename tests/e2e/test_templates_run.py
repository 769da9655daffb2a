"""The templates that call outside services run to completion too, once pointed at them: here the
web, the SMTP server and the model provider are loopback stand-ins, set up the way the gallery
says (a project connection `mail`, a project secret `LLM_KEY`) and chosen through the forms."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.activities.fakes import Mailbox
from tests.e2e.helpers import api, node, sign_up
from tests.e2e.test_first_steps import create_from_template, deploy_in_the_builder, start
from tests.e2e.test_node_forms import EchoServer, Loopback
from tests.e2e.test_runs import wait_until_finished


@pytest.fixture
def stand_ins() -> Iterator[Loopback]:
    echo = EchoServer()
    with Mailbox("robot", "mail-" + uuid.uuid4().hex[:8]).serving() as mailbox:
        yield Loopback(echo, mailbox)
    echo.close()


def test_the_templates_that_need_outside_services_run_to_completion(
    live_server: str, page: Page, worker: str, stand_ins: Loopback
) -> None:
    client = api(live_server, sign_up(page, live_server))
    project = client.post("/projects", json={"name": f"templates-{uuid.uuid4().hex[:6]}"}).json()
    secrets = {
        "SMTP_PASSWORD": {"kind": "secret", "value": stand_ins.mailbox.password},
        "mail": {
            "kind": "connection",
            "value": stand_ins.mailbox.connection({"$secret": "SMTP_PASSWORD"}),
        },
        "LLM_KEY": {"kind": "secret", "value": "sk-template"},
    }
    for name, body in secrets.items():
        stored = client.put(f"/projects/{project['id']}/secrets/{name}", json=body)
        assert stored.status_code in (200, 201), stored.text
    page.reload()
    page.get_by_label("Project", exact=True).select_option(label=project["name"])

    # Fetch, shape and decide: the URL pointed at a service of ours through the form.
    fetch = create_from_template(page, live_server, "Fetch, shape and decide")
    node(page, "fetch").click()
    panel = page.get_by_role("complementary", name="Settings of fetch")
    panel.get_by_label("URL", exact=True).fill(f"{stand_ins.echo.url}/status")
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    deploy_in_the_builder(page)
    run = start(client, fetch, {})
    assert wait_until_finished(client, run, timeout=30) == "completed"
    detail = client.get(f"/executions/{run}").json()
    assert detail["outputs"]["status"] == 200
    assert {s["node_id"] for s in detail["steps"]} >= {"fetch", "shape", "ok", "fetched"}

    # Scheduled report by e-mail: the `mail` connection of the project sends it.
    report = create_from_template(page, live_server, "Scheduled report by e-mail")
    deploy_in_the_builder(page)
    run = start(client, report, {})
    assert wait_until_finished(client, run, timeout=30) == "completed"
    sent = stand_ins.mailbox.message()
    assert (sent["Subject"], sent["To"]) == ("Daily report", "team@example.com")
    assert "Good morning" in sent.get_payload()

    # AI agent with a tool: the provider's base URL set in the form, the key from LLM_KEY.
    agent = create_from_template(page, live_server, "AI agent with a tool")
    node(page, "agent").click()
    panel = page.get_by_role("complementary", name="Settings of agent")
    for raw in ("Option 1", "Unsupported", "is not of type"):
        expect(panel).not_to_contain_text(raw)
    # Its tool, a component with fixed settings, shows as such in the form.
    tools = panel.get_by_role("group", name="Tools", exact=True)
    expect(tools.get_by_label("Name", exact=True)).to_have_value("country_facts")
    expect(tools.get_by_label("Component", exact=True)).to_have_value("http_request")
    expect(tools).to_contain_text("restcountries.com")
    panel.get_by_label("Base URL").fill(f"{stand_ins.echo.url}/v1")
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    deploy_in_the_builder(page)
    run = start(client, agent, {"question": "what is a join?"})
    status = wait_until_finished(client, run, timeout=30)
    assert status == "completed", client.get(f"/executions/{run}").json()["error"]
    assert client.get(f"/executions/{run}").json()["outputs"]["text"] == (
        "echo: Answer briefly: what is a join?"
    )
    request = stand_ins.echo.received[-1]
    assert request["headers"]["authorization"] == "Bearer sk-template"
