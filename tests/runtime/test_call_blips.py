"""A component call meets a database that blinks: what the product itself reads on the call's
way (the component's input schema, the project's secrets, an agent's prompt and tools) waits for
the database to come back, as the runs' own writes do, instead of failing the call (or, worse,
the run: an error escaping the call ends the engine's workflow).

In process, against a PostgreSQL server of this module's own that the test stops and starts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.activities.fakes import OpenAIServer, Turn, serving
from tests.pgserver import PrivateServer
from tests.runtime.conftest import Peer
from tests.support import create_user
from workflow_builder.db import Database, engine, system_session, user_session
from workflow_builder.runtime import effects
from workflow_builder.runtime.port import Call, RunSpec
from workflow_builder.secrets.service import set_secret

pytestmark = [pytest.mark.slow]


@pytest.fixture
def database(server: PrivateServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A migrated database on the private server, the one this process's runtime uses."""
    from workflow_builder.activities.registry import sync_components
    from workflow_builder.db.migrate import upgrade

    url = server.create_database(f"wfb_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    database = Database(url)
    with system_session(db=database) as session:
        sync_components(session)
    monkeypatch.setattr(engine, "_database", database)
    # Read once per process: start from nothing, as a worker does on its first call.
    effects._validator.cache_clear()
    effects._agent_defaults.cache_clear()
    yield database
    effects._validator.cache_clear()
    effects._agent_defaults.cache_clear()
    database.dispose()


PROMPT = "Summarize {{ text }}"


def _project_call(
    database: Database, component_name: str, config: dict[str, Any], inputs: dict[str, Any]
) -> tuple[RunSpec, Call]:
    """A run of a project with a secret and a prompt of its owner's, and a call of the public
    component `component_name` with `config` and `inputs` ({{prompt}} in `config`: the prompt's
    id)."""
    owner = create_user(database, role="developer")
    with system_session(db=database) as session:
        project_id = session.execute(
            text("insert into projects (name, created_by) values ('p', :u) returning id"),
            {"u": owner},
        ).scalar_one()
        prompt_id = session.execute(
            text(
                """insert into agent_prompts (name, display_name, version, prompt_content,
                                              prompt_variables, created_by, visibility_id)
                   select 'summary', 'Summary', '1', :c, '{"type": "object"}', :u, v.id
                   from component_visibility v where v.name = 'private'
                   returning id"""
            ),
            {"c": PROMPT, "u": owner},
        ).scalar_one()
        component = session.execute(
            text(
                "select id, name, implementation_path from components "
                "where name = :n and created_by is null"
            ),
            {"n": component_name},
        ).one()
    with user_session(owner, db=database) as session:
        set_secret(
            db_session=session, project_id=project_id, name="TOKEN", kind="secret", value="s3cr3t"
        )
    run = RunSpec(
        execution_id=str(uuid.uuid4()),
        workflow_id=str(uuid.uuid4()),
        project_id=str(project_id),
        compiled_code_id=str(uuid.uuid4()),
        inputs={},
        created_by=str(owner),
        parent_execution_id=None,
        parent_close_policy=None,
        task_queue_name=f"q-{uuid.uuid4().hex[:8]}",
        max_concurrent_activities=4,
        plan={},
    )
    if config.get("agent_prompt_id") == "{{prompt}}":
        config = {**config, "agent_prompt_id": str(prompt_id)}
    node = {"id": "a", "type": "activity", "timeout_seconds": 60, "config": config}
    implementation = component.implementation_path
    call = Call(
        node,
        {"id": str(component.id), "name": component.name, "implementation_path": implementation},
        "a",
        "",
        inputs,
    )
    return run, call


def _http_call(database: Database, peer: Peer, key: str) -> tuple[RunSpec, Call]:
    """An http_request call sending the project's secret to the peer."""
    config = {
        "method": "GET",
        "url": f"{peer.url}/count/{key}",
        "headers": {"X-Token": {"$secret": "TOKEN"}},
    }
    return _project_call(database, "http_request", config, {})


def _invoke_in_background(run: RunSpec, call: Call) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["outcome"] = effects.invoke(run, call)
        except BaseException as error:  # what would end the engine's workflow
            result["raised"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def test_a_call_starting_while_the_database_is_down_waits_for_it(
    server: PrivateServer, database: Database, peer: Peer
) -> None:
    key = f"blip-{uuid.uuid4().hex[:8]}"
    run, call = _http_call(database, peer, key)
    server.stop("immediate")
    try:
        thread, result = _invoke_in_background(run, call)
        time.sleep(1.5)
        assert thread.is_alive(), result  # neither failed nor went on without its reads
    finally:
        server.start()
    thread.join(timeout=60)
    assert "raised" not in result, result["raised"]
    outcome = result["outcome"]
    assert outcome["ok"], outcome
    assert outcome["output"]["body"] == {"key": key, "count": 1}
    assert peer.count(key) == 1


def test_a_call_whose_pooled_connections_died_reads_through_fresh_ones(
    server: PrivateServer, database: Database, peer: Peer
) -> None:
    key = f"restart-{uuid.uuid4().hex[:8]}"
    run, call = _http_call(database, peer, key)
    with system_session(db=database) as session:  # a pooled connection, soon dead
        session.execute(text("select 1"))
    server.stop("immediate")
    server.start()
    thread, result = _invoke_in_background(run, call)
    thread.join(timeout=60)
    assert "raised" not in result, result["raised"]
    assert result["outcome"]["ok"], result["outcome"]
    assert peer.count(key) == 1


def test_an_agent_call_starting_while_the_database_is_down_waits_for_it(
    server: PrivateServer, database: Database
) -> None:
    with serving(OpenAIServer()) as model:
        model.script.turns.append(Turn(text="short"))
        config = {
            "model_provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": f"{model.url}/v1",
            "api_key": {"$secret": "TOKEN"},
            "agent_prompt_id": "{{prompt}}",
        }
        run, call = _project_call(database, "llm_agent", config, {"text": "a long text"})
        # The input schema read already: what is left to read is the agent's own.
        effects._validator(call.component["id"], "input_schema")
        server.stop("immediate")
        try:
            thread, result = _invoke_in_background(run, call)
            time.sleep(1.5)
            assert thread.is_alive(), result
        finally:
            server.start()
        thread.join(timeout=60)
        assert "raised" not in result, result["raised"]
        assert result["outcome"]["ok"], result["outcome"]
        assert len(model.received) == 1
