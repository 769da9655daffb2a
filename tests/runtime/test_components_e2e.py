"""Every built-in component and both model providers, end to end: workflows deployed and run
through the API on a real worker process, against local servers speaking HTTP, SMTP,
PostgreSQL and the OpenAI and Anthropic protocols (through their official SDKs), with the
project's secrets resolved inside the calls and masked everywhere the run is recorded."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.activities.fakes import (
    AnthropicServer,
    EchoServer,
    Mailbox,
    OpenAIServer,
    Received,
    Response,
    Turn,
    _json,
    _Server,
    serving,
)
from tests.api.conftest import sign_up
from tests.conftest import DatabaseFactory
from tests.runtime.conftest import Api, Peer, WorkerProcess, call, chain, edge, trigger
from tests.runtime.test_tenant_boundaries import encoded_forms
from tests.support import unique
from workflow_builder.activities.llm_agent import SPEC as LLM_AGENT
from workflow_builder.activities.pricing import cost_usd
from workflow_builder.db import Database, system_session
from workflow_builder.runtime.worker import Worker
from workflow_builder.statistics.service import fold_counters

# The test SMTP server takes AUTH without TLS on purpose: it listens on loopback only.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SECRETS = {
    "LLM_KEY": "sk-e2e-model-key-5b1d",
    "ECHO_TOKEN": "echo-token-7f3a9c",
    "SMTP_PASSWORD": "smtp-password-e2e-91",
}
TRIAGE_SCHEMA = {
    "type": "object",
    "properties": {"priority": {"enum": ["low", "high"]}, "summary": {"type": "string"}},
    "required": ["priority", "summary"],
    "additionalProperties": False,
}
PROMPT = {
    "prompt_content": "Triage the ticket from {{ customer }} ({{ plan }} plan): {{ body }}",
    "prompt_variables": {
        "type": "object",
        "properties": {
            "customer": {"type": "string"},
            "plan": {"enum": ["free", "pro"]},
            "body": {"type": "string"},
        },
        "required": ["customer", "plan", "body"],
    },
}
TICKET = {"customer": "Ada", "plan": "pro", "body": "The export button does nothing."}


class Project:
    """A project with its secrets and one `wfb worker` process serving it."""

    def __init__(self, api: Api, project_id: str) -> None:
        self.api = api
        self.id = project_id

    def run(self, definition: dict[str, Any], inputs: dict[str, Any] | None = None) -> Any:
        return self.api.run(definition, inputs, project_id=self.id)

    def set_secret(self, name: str, value: Any, kind: str = "secret") -> None:
        response = self.api.call(
            "PUT", f"/projects/{self.id}/secrets/{name}", json={"kind": kind, "value": value}
        )
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with Mailbox("mailer", SECRETS["SMTP_PASSWORD"]).serving() as server:
        yield server


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with serving(EchoServer()) as server:
        yield server


@pytest.fixture(scope="module")
def warehouse(database_factory: DatabaseFactory) -> str:
    """A database of the test server holding an `orders` table, for sql_query."""
    url = database_factory.create(migrate=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table orders (id int primary key, customer text, total numeric)")
        conn.execute("insert into orders values (1, 'ada', 12.5), (2, 'bob', 3), (3, 'ada', 7.25)")
    return url


@pytest.fixture(scope="module")
def project(
    client: TestClient, worker: Worker, db: Database, mailbox: Mailbox, warehouse: str
) -> Iterator[Project]:
    api = Api(client, sign_up(client, role="developer"))
    created = api.call("POST", "/projects", 201, json={"name": unique("components")}).json()
    project = Project(api, created["id"])
    for name, value in SECRETS.items():
        project.set_secret(name, value)
    project.set_secret("WAREHOUSE_URL", warehouse)
    project.set_secret("warehouse", {"url": {"$secret": "WAREHOUSE_URL"}}, kind="connection")
    project.set_secret("mail", mailbox.connection({"$secret": "SMTP_PASSWORD"}), "connection")
    serving_worker = WorkerProcess(db, project.id, unique("e2e"))
    serving_worker.wait_registered(timeout=60)
    yield project
    serving_worker.stop(signal.SIGKILL)


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with serving(OpenAIServer()) as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicServer]:
    with serving(AnthropicServer()) as server:
        yield server


def step(run: dict[str, Any], node_id: str) -> dict[str, Any]:
    [found] = [s for s in run["steps"] if s["node_id"] == node_id]
    return dict(found)


def end(output: str) -> dict[str, Any]:
    return {"id": "done", "type": "end", "config": {"output": output}}


def assert_no_secret_in(value: Any) -> None:
    """No secret's plaintext appears anywhere in what the API shows of a run."""
    shown = json.dumps(value)
    for secret in SECRETS.values():
        assert secret not in shown


def create_prompt(api: Api, **fields: Any) -> str:
    body = {"name": unique("triage"), **PROMPT, **fields}
    return str(api.call("POST", "/agent-prompts", 201, json=body).json()["id"])


def statistics(component_id: str, workflow_id: str | None) -> dict[str, Any]:
    with system_session() as session:
        fold_counters(session)
        row = (
            session.execute(
                text(
                    """select execution_count, success_count, failure_count, input_tokens,
                              output_tokens, cost_usd
                       from activity_statistics
                       where component_id = :c and workflow_id is not distinct from :w"""
                ),
                {"c": component_id, "w": workflow_id},
            )
            .mappings()
            .one()
        )
    return dict(row)


# -- activities ------------------------------------------------------------------------------


def test_http_request_calls_a_server_with_a_secret_header_that_the_history_masks(
    project: Project, echo: EchoServer
) -> None:
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "create",
                "type": "activity",
                "component": {"name": "http_request"},
                "config": {
                    "method": "POST",
                    "url": f"{echo.url}/accounts/{{account}}/tickets",
                    "headers": {"Authorization": {"$secret": "ECHO_TOKEN"}},
                    "expected_statuses": [200],
                },
                "input": {
                    "path_params": "{account: input.account}",
                    "json": "{title: input.title}",
                },
            },
            end("nodes.create.output.body"),
        ],
        "edges": chain("start", "create", "done"),
    }
    run = project.run(definition, {"account": "a 1", "title": "Broken export"})

    assert run["status"] == "completed", run
    received = echo.received[-1]
    assert (received.method, received.path) == ("POST", "/accounts/a%201/tickets")
    assert received.body == {"title": "Broken export"}
    assert received.headers["authorization"] == SECRETS["ECHO_TOKEN"]
    created = step(run, "create")
    assert created["status"] == "completed" and created["outputs"]["status"] == 200
    assert run["outputs"]["headers"]["authorization"] == "***"
    assert_no_secret_in(run)


class EncodingServer(_Server):
    """Answers with the Authorization header it got, transformed as a remote service might:
    reversed, base64 (alone and inside a longer value), percent-encoded, hexadecimal."""

    def respond(self, request: Received) -> Response:
        return _json(200, encoded_forms(request.headers.get("authorization", "")))


def test_a_secret_handed_back_encoded_is_masked_in_the_run(project: Project) -> None:
    with serving(EncodingServer()) as remote:
        definition = {
            "nodes": [
                trigger(),
                {
                    "id": "leak",
                    "type": "activity",
                    "component": {"name": "http_request"},
                    "config": {
                        "method": "GET",
                        "url": f"{remote.url}/",
                        "headers": {"Authorization": {"$secret": "ECHO_TOKEN"}},
                    },
                    "input": {},
                },
                end("nodes.leak.output.body"),
            ],
            "edges": chain("start", "leak", "done"),
        }
        run = project.run(definition)

    assert run["status"] == "completed", run
    assert set(run["outputs"]) == set(encoded_forms(SECRETS["ECHO_TOKEN"]))
    shown = json.dumps(run)
    for name, form in encoded_forms(SECRETS["ECHO_TOKEN"]).items():
        assert form not in shown, name
        assert "***" in run["outputs"][name], name


def test_transform_builds_its_output_from_the_run_s_values(project: Project) -> None:
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "totals",
                "type": "activity",
                "component": {"name": "transform"},
                "input": {"count": "length(input.items)", "total": "sum(input.items[].price)"},
            },
            end("nodes.totals.output"),
        ],
        "edges": chain("start", "totals", "done"),
    }
    run = project.run(definition, {"items": [{"price": 2}, {"price": 3.5}]})

    assert run["status"] == "completed", run
    assert run["outputs"] == {"count": 2, "total": 5.5}


def test_python_code_past_its_wall_time_fails_its_step_naming_the_limit(
    project: Project,
) -> None:
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "score",
                "type": "activity",
                "component": {"name": "python_code"},
                "config": {"code": "def main(inputs):\n    return len(inputs['text'].split())\n"},
                "input": {"text": "input.text"},
            },
            {
                "id": "spin",
                "type": "activity",
                "component": {"name": "python_code"},
                "config": {
                    "code": "import time\n\ndef main(inputs):\n    time.sleep(30)\n",
                    "wall_seconds": 1,
                },
                "input": {},
            },
            end("nodes.score.output"),
        ],
        "edges": chain("start", "score", "spin", "done"),
    }
    started = time.monotonic()
    run = project.run(definition, {"text": "three short words"})

    assert time.monotonic() - started < 20
    assert run["status"] == "failed"
    assert step(run, "score")["outputs"] == {"result": 3, "stdout": ""}
    spin = step(run, "spin")
    assert spin["status"] == "failed" and spin["attempts"] == 1  # not retried
    assert "wall_seconds" in spin["error"]
    assert "'spin'" in run["error"] and "ResourceLimitExceeded" in run["error"]


def test_send_email_delivers_through_the_project_s_smtp_connection(
    project: Project, mailbox: Mailbox
) -> None:
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "notify",
                "type": "activity",
                "component": {"name": "send_email"},
                "config": {"connection": "mail", "subject": "Order received"},
                "input": {"to": "[input.email]", "text": "input.message"},
            },
            end("nodes.notify.output"),
        ],
        "edges": chain("start", "notify", "done"),
    }
    address = f"{unique('ann')}@example.test"
    run = project.run(definition, {"email": address, "message": "Thanks, it ships Monday."})

    assert run["status"] == "completed", run
    assert run["outputs"]["accepted"] == [address]
    [envelope] = [e for e in mailbox.envelopes if e.rcpt_tos == [address]]
    assert envelope.mail_from == "robot@example.test"
    message = mailbox.message(mailbox.envelopes.index(envelope))
    assert message["Subject"] == "Order received"
    assert message["Message-ID"] == run["outputs"]["message_id"]
    assert message.get_payload().strip() == "Thanks, it ships Monday."
    assert_no_secret_in(run)


def test_sql_query_binds_parameters_and_its_read_only_default_refuses_a_write(
    project: Project, warehouse: str
) -> None:
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "orders",
                "type": "activity",
                "component": {"name": "sql_query"},
                "config": {
                    "connection": "warehouse",
                    "sql": "select id, total from orders where customer = %(customer)s order by id",
                },
                "input": {"parameters": "{customer: input.customer}"},
            },
            {
                "id": "wipe",
                "type": "activity",
                "component": {"name": "sql_query"},
                "config": {"connection": "warehouse", "sql": "delete from orders"},
                "input": {},
            },
            end("{rows: nodes.orders.output.rows, wipe: nodes.wipe}"),
        ],
        "edges": [*chain("start", "orders", "wipe"), edge("wipe", "done", "error")],
    }
    run = project.run(definition, {"customer": "ada' or 'x' = 'x"})
    assert run["status"] == "completed", run
    assert run["outputs"]["rows"] == []  # the quote is a value, never SQL

    run = project.run(definition, {"customer": "ada"})

    assert run["status"] == "completed", run
    assert run["outputs"]["rows"] == [{"id": 1, "total": 12.5}, {"id": 3, "total": 7.25}]
    assert run["outputs"]["wipe"]["status"] == "failed"
    assert run["outputs"]["wipe"]["output"]["error"]["type"] == "ReadOnlyViolation"
    wipe = step(run, "wipe")
    assert wipe["status"] == "failed" and "read-only" in wipe["error"].lower()
    with psycopg.connect(warehouse) as conn:
        assert conn.execute("select count(*) from orders").fetchone() == (3,)
    assert warehouse not in json.dumps(run)


# -- agents ----------------------------------------------------------------------------------


def agent_node(**config: Any) -> dict[str, Any]:
    return {
        "id": "triage",
        "type": "agent",
        "component": {"name": config.pop("component", "llm_agent")},
        "config": {"api_key": {"$secret": "LLM_KEY"}, **config},
        "input": {"customer": "input.customer", "plan": "input.plan", "body": "input.body"},
    }


def openai_agent(server: OpenAIServer, **config: Any) -> dict[str, Any]:
    return agent_node(
        model_provider="openai", model="gpt-4o-mini", base_url=f"{server.url}/v1", **config
    )


def agent_workflow(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodes": [trigger(), node, end("nodes.triage.output")],
        "edges": chain("start", "triage", "done"),
    }


def test_an_openai_agent_repairs_its_answer_once_and_records_tokens_and_cost(
    project: Project, openai_server: OpenAIServer
) -> None:
    prompt_id = create_prompt(project.api)
    openai_server.script.turns += [
        Turn(text='{"priority": "urgent"}', prompt_tokens=120, completion_tokens=9),
        Turn(
            text='{"priority": "high", "summary": "Export is broken"}',
            prompt_tokens=160,
            completion_tokens=14,
        ),
    ]
    definition = agent_workflow(
        openai_agent(openai_server, agent_prompt_id=prompt_id, output_schema=TRIAGE_SCHEMA)
    )
    workflow_id = project.api.deploy(definition, project_id=project.id)
    run = project.api.wait(project.api.start(workflow_id, TICKET))

    assert run["status"] == "completed", run
    assert run["outputs"] == {"priority": "high", "summary": "Export is broken"}
    first, repair = (r.body for r in openai_server.received)
    assert first["messages"][-1] == {
        "role": "user",
        "content": "Triage the ticket from Ada (pro plan): The export button does nothing.",
    }
    assert "priority" in repair["messages"][-1]["content"]  # the problem is named
    assert openai_server.received[0].headers["authorization"] == f"Bearer {SECRETS['LLM_KEY']}"

    agent = step(run, "triage")
    cost = cost_usd("openai", "gpt-4o-mini", 280, 23)
    assert cost > 0
    assert agent["metrics"]["prompt_tokens"] == 280
    assert agent["metrics"]["completion_tokens"] == 23
    assert agent["metrics"]["llm_calls"] == 2 and agent["metrics"]["tool_calls"] == 0
    assert agent["metrics"]["cost_usd"] == pytest.approx(cost)
    assert agent["metrics"]["latency_ms"] > 0
    rolled = statistics(agent["component_id"], workflow_id)
    assert rolled["execution_count"] == 1 and rolled["success_count"] == 1
    assert (rolled["input_tokens"], rolled["output_tokens"]) == (280, 23)
    assert float(rolled["cost_usd"]) == pytest.approx(cost, abs=1e-6)
    everywhere = statistics(agent["component_id"], None)
    assert everywhere["input_tokens"] >= 280 and everywhere["cost_usd"] >= rolled["cost_usd"]
    assert_no_secret_in(run)


def test_an_anthropic_agent_component_calls_a_tool_that_runs_another_component(
    project: Project, anthropic_server: AnthropicServer, echo: EchoServer
) -> None:
    api = project.api
    component = api.call(
        "POST",
        "/components",
        201,
        json={
            "name": unique("ticket_triage"),
            "type": "agent",
            "implementation_path": LLM_AGENT.implementation_path,
            "agent_prompt_id": create_prompt(api),
            "model_provider": "anthropic",
            "model_name": "claude-3-5-haiku-20241022",
            "output_schema": TRIAGE_SCHEMA,
            "config_schema": {"type": "object"},
        },
    ).json()
    account = unique("acct")
    anthropic_server.script.turns += [
        Turn(
            text="Let me look the account up.",
            tool_calls=[{"name": "lookup_account", "arguments": {"query": {"id": account}}}],
        ),
        Turn(text='{"priority": "low", "summary": "Free plan, known issue"}'),
    ]
    lookup = {
        "name": "lookup_account",
        "component": "http_request",
        "config": {
            "url": f"{echo.url}/accounts",
            "headers": {"X-Api-Key": {"$secret": "ECHO_TOKEN"}},
        },
        "description": "Look an account up by id",
    }
    node = agent_node(component=component["name"], base_url=anthropic_server.url, tools=[lookup])
    run = project.run(agent_workflow(node), TICKET)

    assert run["status"] == "completed", run
    assert run["outputs"] == {"priority": "low", "summary": "Free plan, known issue"}
    [looked_up] = [r for r in echo.received if r.path == f"/accounts?id={account}"]
    assert looked_up.headers["x-api-key"] == SECRETS["ECHO_TOKEN"]
    asked, answered = (r.body for r in anthropic_server.received)
    assert asked["model"] == "claude-3-5-haiku-20241022"
    assert [t["name"] for t in asked["tools"]] == ["lookup_account"]
    assert asked["tools"][0]["description"] == "Look an account up by id"
    assert "priority" in asked["system"]  # the component's output schema is asked for
    [result] = [
        block for block in answered["messages"][-1]["content"] if block["type"] == "tool_result"
    ]
    shown_to_model = json.dumps(result)
    assert account in shown_to_model and "***" in shown_to_model
    assert SECRETS["ECHO_TOKEN"] not in json.dumps(answered)
    # SDK versions differ in the header carrying the key (x-api-key or a bearer token).
    sent = anthropic_server.received[0].headers
    assert SECRETS["LLM_KEY"] in sent.get("x-api-key", "") + sent.get("authorization", "")
    agent = step(run, "triage")
    assert agent["component_id"] == component["id"]
    assert agent["metrics"]["tool_calls"] == 1 and agent["metrics"]["llm_calls"] == 2
    assert agent["metrics"]["prompt_tokens"] == 20
    assert_no_secret_in(run)


def test_a_run_value_that_breaks_the_prompt_s_variables_fails_the_step_before_any_model_call(
    project: Project, openai_server: OpenAIServer
) -> None:
    definition = agent_workflow(
        openai_agent(openai_server, agent_prompt_id=create_prompt(project.api))
    )
    run = project.run(definition, {**TICKET, "plan": "enterprise"})

    assert run["status"] == "failed"
    agent = step(run, "triage")
    assert agent["status"] == "failed" and agent["attempts"] == 1
    assert "/plan" in agent["error"] and "enterprise" in agent["error"]
    assert "PromptVariablesInvalid" in run["error"]
    assert openai_server.received == []


def test_an_agent_may_not_use_a_prompt_or_a_tool_its_owner_cannot_see(
    project: Project, client: TestClient, openai_server: OpenAIServer
) -> None:
    stranger = Api(client, sign_up(client, role="developer"))
    hidden_prompt = create_prompt(stranger, visibility="private")
    run = project.run(
        agent_workflow(openai_agent(openai_server, agent_prompt_id=hidden_prompt)), TICKET
    )
    assert run["status"] == "failed"
    assert "AgentPromptNotFound" in run["error"] and hidden_prompt in run["error"]

    own_prompt = create_prompt(project.api)
    run = project.run(
        agent_workflow(
            openai_agent(openai_server, agent_prompt_id=own_prompt, tools=["llm_agent"])
        ),
        TICKET,
    )
    assert run["status"] == "failed"
    assert "ToolNotAvailable" in run["error"] and "activity components only" in run["error"]
    assert openai_server.received == []


@pytest.mark.slow
def test_an_agent_call_finished_before_a_crash_is_not_paid_for_again(
    project: Project,
    openai_server: OpenAIServer,
    peer: Peer,
    db: Database,
    workers: list[WorkerProcess],
) -> None:
    api = project.api
    crash_project = api.call("POST", "/projects", 201, json={"name": unique("crash")}).json()
    Project(api, crash_project["id"]).set_secret("LLM_KEY", SECRETS["LLM_KEY"])
    openai_server.script.turns.append(Turn(text="Looks urgent.", prompt_tokens=70))
    slow = unique("after-agent")
    definition = {
        "nodes": [
            trigger(),
            openai_agent(openai_server, agent_prompt_id=create_prompt(api)),
            call("wait", f"{peer.url}/slow/{slow}?seconds=4", input={}),
            end("nodes.triage.output"),
        ],
        "edges": chain("start", "triage", "wait", "done"),
    }
    workflow_id = api.deploy(definition, project_id=crash_project["id"])
    first = WorkerProcess(db, crash_project["id"], unique("first"))
    workers.append(first)
    first.wait_registered(timeout=60)
    execution_id = api.start(workflow_id, TICKET)
    deadline = time.monotonic() + 30
    while peer.count(slow) == 0:  # the agent's step is done; the next one is in flight
        assert time.monotonic() < deadline, first.output()
        time.sleep(0.05)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)

    workers.append(WorkerProcess(db, crash_project["id"], unique("second")))
    run = api.wait(execution_id, timeout=60)

    assert run["status"] == "completed", run
    assert run["outputs"] == {"text": "Looks urgent."}
    assert peer.count(slow) == 2  # the step in flight at the kill ran again...
    assert len(openai_server.received) == 1  # ...the finished model call did not
    agent = step(run, "triage")
    assert agent["attempts"] == 1 and agent["metrics"]["prompt_tokens"] == 70
    rolled = statistics(agent["component_id"], workflow_id)
    assert (rolled["execution_count"], rolled["input_tokens"]) == (1, 70)
