"""The node panel for every built-in component, used as a newcomer would: drop the node, fill each
field through its form (no JSON typed where a form field exists), map its inputs with the
expression editor's completions, see the workflow saved with no problems, and run it where it
can run on this machine (HTTP against a loopback server, SQL against the test database, the
parent-facing components from a parent workflow)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.activities.fakes import Mailbox
from tests.conftest import DatabaseFactory
from tests.e2e.helpers import api, connect, drop, node, screenshot, sign_up
from workflow_builder.activities.registry import builtin_components, sync_components
from workflow_builder.db import Database, system_session

SECRET_VALUE = "tok-" + uuid.uuid4().hex


class EchoServer:
    """A loopback HTTP server that answers every request with what it received, as JSON."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                seen = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": json.loads(body) if body else None,
                }
                received.append(seen)
                answer: Any = seen
                if self.path.endswith("/chat/completions"):
                    # An OpenAI-compatible model that answers with the prompt it was sent.
                    prompt = seen["body"]["messages"][-1]["content"]
                    answer = {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": seen["body"]["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": f"echo: {prompt}"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
                    }
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Loopback:
    """The servers a test's nodes call, all on loopback."""

    echo: EchoServer
    mailbox: Mailbox


@pytest.fixture
def servers() -> Iterator[Loopback]:
    echo = EchoServer()
    with Mailbox("robot", "mail-" + uuid.uuid4().hex[:8]).serving() as mailbox:
        yield Loopback(echo, mailbox)
    echo.close()


def editor(scope: Locator, label: str) -> Locator:
    """A code or expression editor, found by its label like any input."""
    return scope.get_by_role("textbox", name=label, exact=True)


def type_into(page: Page, field: Locator, text: str) -> None:
    field.click()
    page.keyboard.type(text)


def complete(page: Page, field: Locator, typed: str, option: str) -> None:
    """Type into an expression editor, then pick `option` from its completions."""
    field.click()
    pick(page, typed, option)


def pick(page: Page, typed: str, option: str) -> None:
    """Type at the cursor, then pick `option` from the completions offered."""
    page.keyboard.type(typed)
    choice = page.locator(".cm-tooltip-autocomplete [role=option]").filter(has_text=option).first
    expect(choice).to_be_visible()
    choice.click()


def switch_on_secret(field_group: Locator) -> None:
    field_group.get_by_role("switch", name="Use a secret").check()


def region(panel: Locator, name: str) -> Locator:
    return panel.get_by_role("region", name=name, exact=True)


def setup_project(client: httpx.Client, warehouse_url: str | None = None) -> str:
    """A project with the secrets and connections the forms offer; the `warehouse` connection
    only when a database of its own is given (sql_query refuses the product's)."""
    project = client.post("/projects", json={"name": f"forms-{uuid.uuid4().hex[:6]}"})
    assert project.status_code == 201, project.text
    project_id: str = project.json()["id"]
    secrets: dict[str, dict[str, object]] = {
        "API_TOKEN": {"kind": "secret", "value": SECRET_VALUE},
        "OPENAI_KEY": {"kind": "secret", "value": "sk-test"},
        "mailer": {"kind": "connection", "value": {"host": "127.0.0.1", "port": 2525}},
    }
    if warehouse_url is not None:
        secrets["warehouse"] = {
            "kind": "connection",
            "value": {"url": warehouse_url, "allow_writes": True},
        }
    for name, body in secrets.items():
        stored = client.put(f"/projects/{project_id}/secrets/{name}", json=body)
        assert stored.status_code in (200, 201), stored.text
    return project_id


def open_workflow(page: Page, live_server: str, client: httpx.Client, project_id: str) -> str:
    kebab = f"forms-{uuid.uuid4().hex[:8]}"
    created = client.post(
        "/workflows", json={"kebab_name": kebab, "display_name": kebab, "project_id": project_id}
    )
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    page.goto(f"{live_server}/workflows/{workflow_id}")
    expect(page.locator(".react-flow__pane")).to_be_visible()
    return workflow_id


def add_trigger_with_amount(page: Page) -> None:
    """A manual trigger whose run takes a number `amount`, declared through the field list."""
    drop(page, "palette-trigger", 300, 40)
    node(page, "trigger_1").click()
    panel = page.get_by_role("complementary", name="Settings of trigger_1")
    config = region(panel, "Configuration")
    # A manual trigger shows none of the webhook's, schedule's or signal's settings.
    for other in ("Cron", "Time zone", "Webhook path", "Signal", "Signing secret"):
        expect(config.get_by_label(other, exact=True)).to_have_count(0)
    panel.get_by_role("button", name="+ Add input field").click()
    panel.get_by_label("Field name").fill("amount")
    panel.get_by_label("Type").select_option(label="Number")
    panel.get_by_label("Required").check()


def fill_http_request(page: Page, panel: Locator, servers: Loopback) -> None:
    config = region(panel, "Configuration")
    config.get_by_label("Method").select_option("POST")
    config.get_by_label("URL", exact=True).fill(servers.echo.url + "/orders/{order}")
    headers = config.get_by_role("group", name="Headers", exact=True)
    headers.get_by_role("button", name="Add to Headers").click()
    headers.get_by_label("Name").fill("X-Token")
    switch_on_secret(headers)
    headers.get_by_label("Value").select_option("API_TOKEN")
    query = config.get_by_role("group", name="Query", exact=True)
    query.get_by_role("button", name="Add to Query").click()
    query.get_by_label("Name").fill("source")
    query.get_by_label("Value").fill("builder")
    config.get_by_label("Timeout (seconds)").fill("5")
    statuses = config.get_by_role("group", name="Expected statuses")
    statuses.get_by_role("button", name="Add to Expected statuses").click()
    statuses.get_by_label("Expected statuses 1", exact=True).fill("200")
    config.get_by_label("Follow redirects").uncheck()
    config.get_by_label("Maximum response (bytes)").fill("100000")
    inputs = region(panel, "Input")
    complete(page, editor(inputs, "JSON"), "inp", "input")
    type_into(page, editor(inputs, "Path parameters"), "{order: 'A-17'}")


def check_http_request(saved: dict[str, Any], run: dict[str, Any], servers: Loopback) -> None:
    assert saved["config"] == {
        "method": "POST",
        "url": servers.echo.url + "/orders/{order}",
        "headers": {"X-Token": {"$secret": "API_TOKEN"}},
        "query": {"source": "builder"},
        "timeout_seconds": 5,
        "expected_statuses": [200],
        "follow_redirects": False,
        "max_response_bytes": 100000,
    }
    assert saved["input"] == {"json": "input", "path_params": "{order: 'A-17'}"}
    assert run["status"] == "completed", run.get("error")
    request = servers.echo.received[-1]
    assert request["method"] == "POST"
    assert request["path"] == "/orders/A-17?source=builder"
    assert request["headers"]["x-token"] == SECRET_VALUE
    assert request["body"] == {"amount": 250}


def fill_transform(page: Page, panel: Locator, servers: Loopback) -> None:
    # Transform's output is free JSON: left empty it returns the evaluated input map.
    inputs = region(panel, "Input")
    inputs.get_by_role("button", name="+ Add input").click()
    inputs.get_by_label("Name").fill("doubled")
    complete(page, editor(inputs, "Expression"), "input.am", "amount")
    page.keyboard.type(" > `100`")


def check_transform(saved: dict[str, Any], run: dict[str, Any], servers: Loopback) -> None:
    assert saved["input"] == {"doubled": "input.amount > `100`"}
    assert run["status"] == "completed", run.get("error")
    assert run["outputs"] == {"doubled": True} or run["steps"][-2]["outputs"] == {"doubled": True}


def fill_python_code(page: Page, panel: Locator, servers: Loopback) -> None:
    config = region(panel, "Configuration")
    code = editor(config, "Code")
    code.click()
    # Enter makes new lines (and the editor indents the body after the colon).
    page.keyboard.type("def main(inputs):")
    page.keyboard.press("Enter")
    page.keyboard.type("return {'twice': inputs['amount'] * 2}")
    config.get_by_label("CPU (seconds)").fill("5")
    config.get_by_label("Memory (MB)").fill("256")
    config.get_by_label("Wall (seconds)").fill("20")
    config.get_by_label("Maximum output (bytes)").fill("65536")
    inputs = region(panel, "Input")
    inputs.get_by_role("button", name="+ Add input").click()
    inputs.get_by_label("Name").fill("amount")
    complete(page, editor(inputs, "Expression"), "input.a", "amount")


def check_python_code(saved: dict[str, Any], run: dict[str, Any], servers: Loopback) -> None:
    assert saved["config"]["code"] == (
        "def main(inputs):\n    return {'twice': inputs['amount'] * 2}"
    )
    assert {k: v for k, v in saved["config"].items() if k != "code"} == {
        "cpu_seconds": 5,
        "memory_mb": 256,
        "wall_seconds": 20,
        "max_output_bytes": 65536,
    }
    assert saved["input"] == {"amount": "input.amount"}
    assert run["status"] == "completed", run.get("error")
    step = next(s for s in run["steps"] if s["node_id"] == "activity_1")
    assert step["outputs"]["result"] == {"twice": 500}


def fill_sql_query(page: Page, panel: Locator, servers: Loopback) -> None:
    config = region(panel, "Configuration")
    config.get_by_label("Connection").select_option("warehouse")
    type_into(page, editor(config, "SQL"), "select %(amount)s::int * 2 as twice")
    config.get_by_label("Read only").uncheck()
    config.get_by_label("Maximum rows").fill("10")
    config.get_by_label("Timeout (seconds)").fill("10")
    inputs = region(panel, "Input")
    complete(page, editor(inputs, "Parameters"), "inp", "input")


def check_sql_query(saved: dict[str, Any], run: dict[str, Any], servers: Loopback) -> None:
    assert saved["config"] == {
        "connection": "warehouse",
        "sql": "select %(amount)s::int * 2 as twice",
        "read_only": False,
        "max_rows": 10,
        "timeout_seconds": 10,
    }
    assert saved["input"] == {"parameters": "input"}
    assert run["status"] == "completed", run.get("error")
    step = next(s for s in run["steps"] if s["node_id"] == "activity_1")  # the SQL node
    assert step["outputs"]["rows"] == [{"twice": 500}]


def fill_send_email(page: Page, panel: Locator, servers: Loopback) -> None:
    config = region(panel, "Configuration")
    config.get_by_label("Connection").select_option("mailer")
    config.get_by_label("From").fill("shop@example.com")
    config.get_by_label("Timeout (seconds)").fill("10")
    for field, address in (("To", "ada@example.com"), ("Cc", "bo@example.com")):
        group = config.get_by_role("group", name=field, exact=True)
        group.get_by_role("button", name=f"Add to {field}").click()
        group.get_by_label(f"{field} 1", exact=True).fill(address)
    config.get_by_label("Reply to").fill("help@example.com")
    config.get_by_label("Subject").fill("Your order")
    type_into(page, editor(config, "Text"), "Hello,")
    page.keyboard.press("Enter")
    page.keyboard.type("your order is on its way.")
    inputs = region(panel, "Input")
    type_into(page, editor(inputs, "Subject"), "to_string(")
    pick(page, "input.", "amount")


def check_send_email(saved: dict[str, Any], run: dict[str, Any], servers: Loopback) -> None:
    assert saved["config"] == {
        "connection": "mailer",
        "from": "shop@example.com",
        "timeout_seconds": 10,
        "to": ["ada@example.com"],
        "cc": ["bo@example.com"],
        "reply_to": "help@example.com",
        "subject": "Your order",
        "text": "Hello,\nyour order is on its way.",
    }
    assert saved["input"] == {"subject": "to_string(input.amount)"}
    assert run["status"] == "completed", run.get("error")
    sent = servers.mailbox.message()
    assert (sent["Subject"], sent["From"], sent["To"], sent["Cc"]) == (
        "250",
        "shop@example.com",
        "ada@example.com",
        "bo@example.com",
    )
    assert sent.get_payload().replace("\r\n", "\n").strip() == "Hello,\nyour order is on its way."


def fill_llm_agent(page: Page, panel: Locator, servers: Loopback) -> None:
    config = region(panel, "Configuration")
    config.get_by_label("Model provider").select_option("openai")
    config.get_by_label("Model", exact=True).fill("small-model")
    config.get_by_label("Base URL").fill(servers.echo.url + "/v1")
    config.get_by_label("API key").select_option("OPENAI_KEY")
    prompt = config.get_by_role("group", name="Prompt", exact=True)
    type_into(page, editor(prompt, "Prompt content"), "Summarize the order of {{ amount }}.")
    type_into(page, editor(config, "System"), "You are terse.")
    tools = config.get_by_role("group", name="Tools", exact=True)
    tools.get_by_role("button", name="Add to Tools").click()
    tools.get_by_label("Tools 1", exact=True).select_option("transform")
    # A tool offered under a name of its own, with fixed settings: a group, not JSON.
    tools.get_by_role("button", name="Add one with settings to Tools").click()
    offered = tools.get_by_role("group", name="Tools 2", exact=True)
    offered.get_by_label("Name", exact=True).fill("reshape")
    offered.get_by_label("Component", exact=True).select_option("transform")
    config.get_by_label("Maximum tool rounds").fill("2")
    config.get_by_label("Maximum tokens").fill("200")
    config.get_by_label("Temperature").fill("0.2")
    inputs = region(panel, "Input")
    inputs.get_by_role("button", name="+ Add input").click()
    inputs.get_by_label("Name").fill("amount")
    complete(page, editor(inputs, "Expression"), "input.", "amount")


def check_llm_agent(saved: dict[str, Any], run: dict[str, Any], servers: Loopback) -> None:
    assert saved["config"] == {
        "model_provider": "openai",
        "model": "small-model",
        "base_url": servers.echo.url + "/v1",
        "api_key": {"$secret": "OPENAI_KEY"},
        "prompt": {"prompt_content": "Summarize the order of {{ amount }}."},
        "system": "You are terse.",
        "tools": ["transform", {"name": "reshape", "component": "transform"}],
        "max_tool_rounds": 2,
        "max_tokens": 200,
        "temperature": 0.2,
    }
    assert saved["input"] == {"amount": "input.amount"}
    assert run["status"] == "completed", run.get("error")
    step = next(s for s in run["steps"] if s["node_id"] == "agent_1")
    assert step["outputs"] == {"text": "echo: Summarize the order of 250."}
    request = servers.echo.received[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-test"
    assert request["body"]["messages"][0] == {"role": "system", "content": "You are terse."}
    assert [t["function"]["name"] for t in request["body"]["tools"]] == ["transform", "reshape"]


def fill_signal_parent(page: Page, panel: Locator, servers: Loopback) -> None:
    region(panel, "Configuration").get_by_label("Signal").fill("child_done")
    complete(page, editor(region(panel, "Input"), "Payload"), "nodes.", "trigger_1")
    page.keyboard.type(".output")


def check_signal_parent(saved: dict[str, Any], run: dict[str, Any], servers: Loopback) -> None:
    assert saved["config"] == {"signal": "child_done"}
    assert saved["input"] == {"payload": "nodes.trigger_1.output"}
    assert run["status"] == "completed", run.get("error")
    # The parent received the signal with the child's run input as its payload.
    assert run["parent"]["outputs"] == {"received": True, "payload": {"amount": 250}}


def fill_query_parent(page: Page, panel: Locator, servers: Loopback) -> None:
    region(panel, "Configuration").get_by_label("Query").fill("progress")
    # Its input schema takes nothing: no input section.
    expect(region(panel, "Input")).to_have_count(0)


def check_query_parent(saved: dict[str, Any], run: dict[str, Any], servers: Loopback) -> None:
    assert saved["config"] == {"query": "progress"}
    assert saved["input"] == {}
    assert run["status"] == "completed", run.get("error")
    step = next(s for s in run["steps"] if s["node_id"] == "activity_1")
    assert step["outputs"] == {"result": "halfway", "parent_execution_id": run["parent"]["id"]}
    assert run["parent"]["status"] == "completed"


def run_under_a_parent(
    client: httpx.Client, project_id: str, workflow_id: str, component: str
) -> dict[str, Any]:
    """Run the child (the workflow under test) from a parent that allows it to query and signal
    it; return the child's run, with the parent's under "parent"."""
    child = client.get(f"/workflows/{workflow_id}").json()["kebab_name"]
    waits = component == "signal_parent"
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "trigger", "config": {"kind": "manual"}},
        {
            "id": "kid",
            "type": "child_workflow",
            "config": {"workflow": child, "mode": "execute"},
            "input": {"amount": "`250`"},
        },
        {
            "id": "done",
            "type": "end",
            "config": {"output": "nodes.wait.output" if waits else "nodes.kid.output"},
        },
    ]
    edges = [{"id": "e1", "source": "start", "target": "kid"}]
    if waits:
        nodes.insert(
            2,
            {
                "id": "wait",
                "type": "wait_for_signal",
                "config": {"signal": "child_done", "timeout_seconds": 20},
            },
        )
        edges += [
            {"id": "e2", "source": "kid", "target": "wait"},
            {"id": "e3", "source": "wait", "target": "done"},
        ]
    else:
        edges.append({"id": "e2", "source": "kid", "target": "done"})
    parent = {
        "variables": {"stage": {"initial": "halfway"}},
        "signals": [{"name": "child_done"}],
        "queries": [{"name": "progress", "expression": "vars.stage"}],
        "child_workflows": [
            {"workflow": child, "can_signal_parent": True, "can_query_parent": True}
        ],
        "nodes": nodes,
        "edges": edges,
    }
    created = client.post(
        "/workflows",
        json={
            "kebab_name": f"parent-{uuid.uuid4().hex[:8]}",
            "definition": parent,
            "project_id": project_id,
        },
    )
    assert created.status_code == 201, created.text
    parent_id = created.json()["id"]
    deployed = client.post(f"/workflows/{parent_id}/deploy")
    assert deployed.status_code == 200, deployed.text
    started = client.post(f"/workflows/{parent_id}/executions", json={"inputs": {}})
    assert started.status_code == 201, started.text
    parent_run = wait_for_run(client, started.json()["id"])
    [child_run] = client.get("/executions", params={"workflow_id": workflow_id}).json()["items"]
    run = wait_for_run(client, child_run["id"])
    run["parent"] = parent_run
    return run


Fill = Callable[[Page, Locator, Loopback], None]
Check = Callable[[dict[str, Any], dict[str, Any], Loopback], None]
CASES: dict[str, tuple[Fill, Check, bool]] = {
    "http_request": (fill_http_request, check_http_request, True),
    "transform": (fill_transform, check_transform, True),
    "python_code": (fill_python_code, check_python_code, True),
    "sql_query": (fill_sql_query, check_sql_query, True),
    "send_email": (fill_send_email, check_send_email, True),
    "llm_agent": (fill_llm_agent, check_llm_agent, True),
    "signal_parent": (fill_signal_parent, check_signal_parent, True),
    "query_parent": (fill_query_parent, check_query_parent, True),
}


def test_every_built_in_component_has_a_case() -> None:
    assert {spec.name for spec in builtin_components()} == set(CASES)


def wait_for_run(client: httpx.Client, execution_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        run: dict[str, Any] = client.get(f"/executions/{execution_id}").json()
        if run["status"] in ("completed", "failed", "canceled"):
            return run
        assert time.monotonic() < deadline, f"run still {run['status']}"
        time.sleep(0.2)


@pytest.mark.parametrize("component", list(CASES))
def test_fill_a_built_in_component_through_its_form(
    component: str,
    live_server: str,
    page: Page,
    db: Database,
    servers: Loopback,
    request: pytest.FixtureRequest,
    database_factory: DatabaseFactory,
) -> None:
    fill, check, runs = CASES[component]
    with system_session() as session:
        sync_components(session)
    token = sign_up(page, live_server, name="Forms")
    client = api(live_server, token)
    # A database of its own: sql_query never reaches the product's.
    project_id = setup_project(client, database_factory.create(migrate=False))
    mailer = {
        "kind": "connection",
        "value": servers.mailbox.connection({"$secret": "SMTP_PASSWORD"}),
    }
    password = {"kind": "secret", "value": servers.mailbox.password}
    for name, body in (("mailer", mailer), ("SMTP_PASSWORD", password)):
        stored = client.put(f"/projects/{project_id}/secrets/{name}", json=body)
        assert stored.status_code in (200, 201), stored.text
    workflow_id = open_workflow(page, live_server, client, project_id)

    add_trigger_with_amount(page)
    drop(page, f"palette-{component}", 300, 200)
    drop(page, "palette-end", 300, 360)
    node_id = "agent_1" if component == "llm_agent" else "activity_1"
    connect(page, "trigger_1", "next", node_id)
    connect(page, node_id, "next", "end_1")
    node(page, node_id).click()
    panel = page.get_by_role("complementary", name=f"Settings of {node_id}")

    fill(page, panel, servers)

    # No raw schema words anywhere in the panel, and nothing wider than the panel.
    expect(panel).not_to_contain_text("is not of type")
    expect(panel).not_to_contain_text("config_schema")
    expect(panel).not_to_contain_text("Option 1")
    overflow = page.evaluate(
        "() => { const p = document.querySelector('.side-panel');"
        " return p.scrollWidth - p.clientWidth; }"
    )
    assert overflow <= 0, f"the panel overflows sideways by {overflow}px"

    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    report = client.post(f"/workflows/{workflow_id}/validate").json()
    assert (report["errors"], report["warnings"]) == ([], [])
    expect(page.get_by_test_id("problems-summary")).to_have_text(
        "0 errors, 0 warnings", timeout=10_000
    )
    if component in ("http_request", "python_code"):
        if component == "python_code":
            panel.get_by_role("heading", name="Configuration").scroll_into_view_if_needed()
        screenshot(page, f"node-form-{component.split('_')[0]}")
    definition = client.get(f"/workflows/{workflow_id}").json()["definition"]
    saved = next(n for n in definition["nodes"] if n["id"] == node_id)
    assert saved["component"]["name"] == component

    run: dict[str, Any] = {}
    if runs:
        request.getfixturevalue("worker")
        page.get_by_role("button", name="Deploy").click()
        expect(page.get_by_test_id("deploy-message")).to_have_text("Deployed.")
        if component in ("signal_parent", "query_parent"):
            # These talk to a parent: the run starts from one.
            run = run_under_a_parent(client, project_id, workflow_id, component)
        else:
            started = client.post(
                f"/workflows/{workflow_id}/executions", json={"inputs": {"amount": 250}}
            )
            assert started.status_code == 201, started.text
            run = wait_for_run(client, started.json()["id"])
    check(saved, run, servers)
