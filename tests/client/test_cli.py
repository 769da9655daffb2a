"""The client commands against a running server: an API process and a worker process on a
migrated database, driven only through `wfb` subprocesses that speak HTTP with an API key."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DatabaseFactory
from tests.runtime.conftest import chain, transform, trigger, waits_for_signal
from tests.runtime.stack import ROOT, WFB, HttpApi, Stack
from tests.support import unique

pytestmark = pytest.mark.slow


class FactoryServer:
    """The test server's databases, as the stack asks for them."""

    def __init__(self, factory: DatabaseFactory) -> None:
        self.factory = factory

    def create_database(self, name: str) -> str:
        return self.factory.create(migrate=False)


@pytest.fixture(scope="module")
def stack(database_factory: DatabaseFactory) -> Iterator[Stack]:
    running = Stack(FactoryServer(database_factory))  # type: ignore[arg-type]
    running.start_worker()
    yield running
    running.close()


class User:
    """A developer with an API key, and the `wfb` client logged in as them."""

    def __init__(self, stack: Stack, config_dir: Path) -> None:
        self.http: HttpApi = stack.sign_up()
        self.key = self.http.call("POST", "/api-keys", 201, json={"name": "cli"}).json()["key"]
        self.url = stack.base_url
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("WFB_URL", "WFB_API_KEY", "WFB_PROFILE")
        }
        self.env["WFB_CONFIG_DIR"] = str(config_dir)

    def wfb(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [WFB, *args],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def login(self) -> None:
        done = self.wfb("login", "--url", self.url, "--api-key", self.key)
        assert done.returncode == 0, done.stderr


@pytest.fixture
def user(stack: Stack, tmp_path: Path) -> User:
    signed_in = User(stack, tmp_path / "config")
    signed_in.login()
    return signed_in


def greeter(kebab: str, word: str = "hello") -> dict[str, Any]:
    definition = {
        "nodes": [
            trigger({"type": "object", "properties": {"name": {"type": "string"}}}),
            transform("greet", {"greeting": f"join(' ', ['{word}', input.name])"}),
            {
                "id": "done",
                "type": "end",
                "config": {"output": "{text: nodes.greet.output.greeting}"},
            },
        ],
        "edges": chain("start", "greet", "done"),
    }
    return {"kebab_name": kebab, "display_name": kebab, "definition": definition}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_login_stores_a_profile_only_its_owner_can_read(user: User) -> None:
    path = Path(user.env["WFB_CONFIG_DIR"]) / "profiles.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["default"] == {"url": user.url, "api_key": user.key}


def test_pull_edit_push_deploy_and_run_entirely_through_the_cli(user: User, tmp_path: Path) -> None:
    kebab = unique("greeter")
    user.http.call("POST", "/workflows", 201, json=greeter(kebab))
    folder = tmp_path / "flows"

    pulled = user.wfb("workflows", "pull", str(folder))
    assert pulled.returncode == 0, pulled.stderr
    path = folder / f"{kebab}.json"
    text = path.read_text()
    assert text.replace("'hello'", "'hi'") != text
    path.write_text(text.replace("'hello'", "'hi'"))

    pushed = user.wfb("workflows", "push", str(folder), "--deploy")
    assert pushed.returncode == 0, pushed.stderr
    assert f"{kebab}.json: updated" in pushed.stdout
    assert "deployed version" in pushed.stdout

    ran = user.wfb("run", kebab, "--input", '{"name": "ada"}', "--wait", "--timeout", "60")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"text": "hi ada"}
    # A progress line per node, on stderr.
    for node in ("start", "greet", "done"):
        assert any(line.split()[:2] == [node, "completed"] for line in ran.stderr.splitlines()), (
            ran.stderr
        )


def test_a_pull_pushed_back_unedited_changes_nothing(user: User, tmp_path: Path) -> None:
    kebab = unique("roundtrip")
    workflow_id = user.http.call("POST", "/workflows", 201, json=greeter(kebab)).json()["id"]
    user.http.call("POST", f"/workflows/{workflow_id}/signals", 201, json={"signal_name": "nudge"})
    user.http.call("POST", f"/workflows/{workflow_id}/deploy", 200)
    before = user.http.call("GET", f"/workflows/{workflow_id}", 200)
    versions = user.http.call("GET", f"/workflows/{workflow_id}/versions", 200).json()
    folder = tmp_path / "flows"
    assert user.wfb("workflows", "pull", str(folder)).returncode == 0
    first = (folder / f"{kebab}.json").read_text()

    pushed = user.wfb("workflows", "push", str(folder), "--deploy")

    assert pushed.returncode == 0, pushed.stderr
    assert f"{kebab}.json: unchanged" in pushed.stdout
    assert "updated" not in pushed.stdout and "deployed" not in pushed.stdout
    after = user.http.call("GET", f"/workflows/{workflow_id}", 200)
    assert after.headers["ETag"] == before.headers["ETag"]
    assert user.http.call("GET", f"/workflows/{workflow_id}/versions", 200).json() == versions
    again = user.wfb("workflows", "pull", str(folder))
    assert f"{kebab}.json: unchanged" in again.stdout
    assert (folder / f"{kebab}.json").read_text() == first


def test_a_push_with_one_broken_file_changes_nothing_and_names_file_and_node(
    user: User, tmp_path: Path
) -> None:
    good, bad = unique("good"), unique("bad")
    for kebab in (good, bad):
        user.http.call("POST", "/workflows", 201, json=greeter(kebab))
    folder = tmp_path / "flows"
    assert user.wfb("workflows", "pull", str(folder)).returncode == 0
    exported = {k: (folder / f"{k}.json").read_text() for k in (good, bad)}
    (folder / f"{good}.json").write_text(exported[good].replace("'hello'", "'hey'"))
    broken = json.loads(exported[bad])
    broken["workflow"]["definition"]["nodes"][1]["component"]["name"] = "no-such-component"
    (folder / f"{bad}.json").write_text(json.dumps(broken))
    new = greeter(unique("new"))
    (folder / "new.json").write_text(json.dumps({"workflow": {**new, "name": new["kebab_name"]}}))

    pushed = user.wfb("workflows", "push", str(folder), "--deploy")

    assert pushed.returncode == 1, pushed.stdout
    assert f"{bad}.json: node 'greet'" in pushed.stderr
    assert "unknown_component" in pushed.stderr
    assert "nothing was changed" in pushed.stderr
    assert good not in pushed.stderr
    for kebab in (good, bad):
        document = user.wfb("workflows", "pull", str(tmp_path / "again"))
        assert document.returncode == 0
        assert (tmp_path / "again" / f"{kebab}.json").read_text() == exported[kebab]
    listing = user.http.call("GET", "/workflows", 200, params={"kebab_name": new["kebab_name"]})
    assert listing.json()["items"] == []


def test_a_file_that_is_not_json_is_named_and_nothing_changes(user: User, tmp_path: Path) -> None:
    kebab = unique("kept")
    user.http.call("POST", "/workflows", 201, json=greeter(kebab))
    folder = tmp_path / "flows"
    assert user.wfb("workflows", "pull", str(folder)).returncode == 0
    path = folder / f"{kebab}.json"
    original = path.read_text()
    path.write_text(original.replace("'hello'", "'yo'"))
    (folder / "torn.json").write_text('{"workflow": ')

    pushed = user.wfb("workflows", "push", str(folder))

    assert pushed.returncode == 1
    assert "torn.json: not JSON" in pushed.stderr
    assert user.wfb("workflows", "pull", str(tmp_path / "again")).returncode == 0
    assert (tmp_path / "again" / f"{kebab}.json").read_text() == original


def test_a_failed_run_exits_1_with_its_error(user: User) -> None:
    kebab = unique("failing")
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "call",
                "type": "activity",
                "component": {"name": "http_request"},
                "config": {"method": "GET", "url": f"http://127.0.0.1:{closed_port()}/"},
                "retry": {"maximum_attempts": 1},
            },
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "call", "done"),
    }
    body = {"kebab_name": kebab, "display_name": kebab, "definition": definition}
    workflow_id = user.http.call("POST", "/workflows", 201, json=body).json()["id"]
    user.http.call("POST", f"/workflows/{workflow_id}/deploy", 200)

    ran = user.wfb("run", kebab, "--wait", "--timeout", "60")

    assert ran.returncode == 1, (ran.stdout, ran.stderr)
    assert "failed" in ran.stderr
    assert ran.stdout == ""


def test_signal_show_cancel_and_a_wait_that_times_out(user: User) -> None:
    kebab = unique("waiter")
    body = {"kebab_name": kebab, "display_name": kebab, "definition": waits_for_signal("go")}
    workflow_id = user.http.call("POST", "/workflows", 201, json=body).json()["id"]
    user.http.call("POST", f"/workflows/{workflow_id}/deploy", 200)

    timed_out = user.wfb("run", kebab, "--wait", "--timeout", "1")
    assert timed_out.returncode == 1
    assert "still" in timed_out.stderr

    started = user.wfb("run", kebab)
    assert started.returncode == 0, started.stderr
    execution_id = started.stdout.strip()
    user.http.wait_for_step(execution_id, "wait", "waiting")
    signalled = user.wfb("executions", "signal", execution_id, "go", "--payload", "{}")
    assert signalled.returncode == 0, signalled.stderr
    assert user.http.wait(execution_id)["status"] == "completed"
    shown = user.wfb("executions", "show", execution_id, "--json")
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["status"] == "completed"
    listed = user.wfb("executions", "list", "--workflow", kebab, "--json")
    assert {run["id"] for run in json.loads(listed.stdout)} >= {execution_id}

    other = user.wfb("run", kebab).stdout.strip()
    canceled = user.wfb("executions", "cancel", other)
    assert canceled.returncode == 0, canceled.stderr
    assert user.http.wait(other)["status"] == "canceled"


def test_usage_errors_are_one_line_and_exit_2(user: User, tmp_path: Path) -> None:
    unknown = user.wfb("run", "no-such-workflow")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: No workflow named 'no-such-workflow' is visible to you"

    bad_input = user.wfb("run", "whatever", "--input", "{not json")
    assert bad_input.returncode == 2
    assert "--input is not JSON" in bad_input.stderr

    bad_key = user.wfb("executions", "list", env={"WFB_API_KEY": "wfb_not-a-real-key"})
    assert bad_key.returncode == 2
    assert "refused the API key" in bad_key.stderr
    assert len(bad_key.stderr.strip().splitlines()) == 1

    no_profile = user.wfb("executions", "list", env={"WFB_CONFIG_DIR": str(tmp_path / "empty")})
    assert no_profile.returncode == 2
    assert "wfb login" in no_profile.stderr

    unreachable = user.wfb(
        "executions", "list", env={"WFB_URL": f"http://127.0.0.1:{closed_port()}"}
    )
    assert unreachable.returncode == 3
    assert "Cannot reach the server" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1


def test_query_answers_from_the_live_run(user: User) -> None:
    kebab = unique("staged")
    definition = {
        "variables": {"stage": {"initial": "new", "schema": {"type": "string"}}},
        "signals": [{"name": "go"}],
        "queries": [{"name": "stage", "expression": "vars.stage"}],
        "nodes": [
            trigger(),
            {
                "id": "mark",
                "type": "set_variable",
                "config": {"variable": "stage", "value": "'waiting'"},
            },
            {"id": "wait", "type": "wait_for_signal", "config": {"signal": "go"}},
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "mark", "wait", "done"),
    }
    body = {"kebab_name": kebab, "display_name": kebab, "definition": definition}
    workflow_id = user.http.call("POST", "/workflows", 201, json=body).json()["id"]
    user.http.call("POST", f"/workflows/{workflow_id}/deploy", 200)
    execution_id = user.wfb("run", kebab).stdout.strip()
    user.http.wait_for_step(execution_id, "wait", "waiting")

    answered = user.wfb("executions", "query", execution_id, "stage")

    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout) == "waiting"
    assert user.wfb("executions", "cancel", execution_id).returncode == 0


def test_retry_resumes_a_failed_run_once_its_peer_answers(user: User) -> None:
    port = closed_port()
    kebab = unique("retried")
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "call",
                "type": "activity",
                "component": {"name": "http_request"},
                "config": {"method": "GET", "url": f"http://127.0.0.1:{port}/"},
                "retry": {"maximum_attempts": 1},
            },
            {"id": "done", "type": "end", "config": {"output": "nodes.call.output.status"}},
        ],
        "edges": chain("start", "call", "done"),
    }
    body = {"kebab_name": kebab, "display_name": kebab, "definition": definition}
    workflow_id = user.http.call("POST", "/workflows", 201, json=body).json()["id"]
    user.http.call("POST", f"/workflows/{workflow_id}/deploy", 200)
    execution_id = user.wfb("run", kebab).stdout.strip()
    assert user.http.wait(execution_id)["status"] == "failed"

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    peer = ThreadingHTTPServer(("127.0.0.1", port), Ok)
    threading.Thread(target=peer.serve_forever, daemon=True).start()
    try:
        retried = user.wfb("executions", "retry", execution_id, "--wait")
    finally:
        peer.shutdown()
        peer.server_close()

    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout) == 200


def test_a_pulled_file_names_a_secret_and_never_holds_its_value(user: User, tmp_path: Path) -> None:
    project = user.http.call("POST", "/projects", 201, json={"name": unique("p")}).json()
    value = f"token-{unique('v')}"
    user.http.call(
        "PUT", f"/projects/{project['id']}/secrets/API_TOKEN", 201, json={"value": value}
    )
    kebab = unique("secretive")
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "call",
                "type": "activity",
                "component": {"name": "http_request"},
                "config": {
                    "method": "GET",
                    "url": "http://127.0.0.1:9/",
                    "headers": {"Authorization": {"$secret": "API_TOKEN"}},
                },
            },
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "call", "done"),
    }
    body = {
        "kebab_name": kebab,
        "display_name": kebab,
        "definition": definition,
        "project_id": project["id"],
    }
    user.http.call("POST", "/workflows", 201, json=body)

    pulled = user.wfb("workflows", "pull", str(tmp_path), "--project", project["id"])

    assert pulled.returncode == 0, pulled.stderr
    text = (tmp_path / f"{kebab}.json").read_text()
    assert '"$secret": "API_TOKEN"' in text
    assert value not in text
    assert user.key not in text


def test_a_push_creates_a_parent_and_its_new_child_together(user: User, tmp_path: Path) -> None:
    parent, child = unique("parent"), unique("child")
    child_definition = {
        "nodes": [trigger(), {"id": "done", "type": "end"}],
        "edges": chain("start", "done"),
    }
    parent_definition = {
        "child_workflows": [{"workflow": child}],
        "nodes": [
            trigger(),
            {"id": "kid", "type": "child_workflow", "config": {"workflow": child}},
            {"id": "done", "type": "end", "config": {"output": "nodes.kid.status"}},
        ],
        "edges": chain("start", "kid", "done"),
    }
    folder = tmp_path / "flows"
    folder.mkdir()
    # The parent's file comes first by name; the child must still be created before it.
    for name, kebab, definition, extra in (
        (
            "a.json",
            parent,
            parent_definition,
            {"child_workflows": [{"child_workflow_name": child}]},
        ),
        ("b.json", child, child_definition, {}),
    ):
        document = {
            "workflow": {
                "name": kebab,
                "display_name": kebab,
                "kebab_name": kebab,
                "definition": definition,
            },
            **extra,
        }
        (folder / name).write_text(json.dumps(document))

    pushed = user.wfb("workflows", "push", str(folder), "--deploy")

    assert pushed.returncode == 0, pushed.stderr
    assert "a.json: created" in pushed.stdout and "b.json: created" in pushed.stdout
    parent_id = user.http.call("GET", "/workflows", 200, params={"kebab_name": parent}).json()
    child_id = user.http.call("GET", "/workflows", 200, params={"kebab_name": child}).json()
    declared = user.http.call(
        "GET", f"/workflows/{parent_id['items'][0]['id']}/child-workflows", 200
    ).json()["items"]
    assert [d["child_workflow_id"] for d in declared] == [child_id["items"][0]["id"]]
    ran = user.wfb("run", parent, "--wait", "--timeout", "60")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == "completed"
