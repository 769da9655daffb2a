"""Retries, error handles, timeouts, cancel and retry-from-failure, through the API."""

from __future__ import annotations

import time

from sqlalchemy import text

from tests.runtime.conftest import Api, Peer, call, chain, edge, trigger, waits_for_signal
from tests.support import unique
from workflow_builder.db import system_session
from workflow_builder.statistics.service import fold_counters


def test_a_flaky_call_is_retried_with_backoff_until_it_succeeds(api: Api, peer: Peer) -> None:
    key = unique("flaky")
    definition = {
        "nodes": [
            trigger(),
            call(
                "fetch",
                f"{peer.url}/flaky/{key}?fail=2",
                retry={"maximum_attempts": 4, "initial_interval": 0.1, "backoff_coefficient": 2},
            ),
            {"id": "done", "type": "end", "config": {"output": "nodes.fetch.output.body"}},
        ],
        "edges": chain("start", "fetch", "done"),
    }
    run = api.run(definition)
    assert run["status"] == "completed", run["error"]
    assert run["outputs"] == {"key": key, "count": 3}
    fetch = next(s for s in run["steps"] if s["node_id"] == "fetch")
    assert fetch["attempts"] == 3 and fetch["status"] == "completed"


def test_exhausted_retries_take_the_error_handle_when_wired(api: Api, peer: Peer) -> None:
    key = unique("down")
    definition = {
        "nodes": [
            trigger(),
            call(
                "fetch",
                f"{peer.url}/flaky/{key}?fail=99",
                retry={"maximum_attempts": 2, "initial_interval": 0.1},
            ),
            {"id": "fallback", "type": "end", "config": {"output": "'fallback'"}},
            {"id": "done", "type": "end", "config": {"output": "'ok'"}},
        ],
        "edges": [
            edge("start", "fetch"),
            edge("fetch", "done"),
            edge("fetch", "fallback", "error"),
        ],
    }
    run = api.run(definition)
    assert run["status"] == "completed" and run["outputs"] == "fallback"
    assert peer.count(key) == 2


def test_a_failure_without_error_handle_fails_the_run_naming_the_node(api: Api, peer: Peer) -> None:
    key = unique("broken")
    definition = {
        "nodes": [
            trigger(),
            call("fetch", f"{peer.url}/flaky/{key}?fail=99", retry={"maximum_attempts": 1}),
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "fetch", "done"),
    }
    run = api.run(definition)
    assert run["status"] == "failed"
    assert "node 'fetch' failed" in run["error"] and "503" in run["error"]


def test_non_retryable_error_types_fail_at_once(api: Api, peer: Peer) -> None:
    key = unique("fatal")
    definition = {
        "nodes": [
            trigger(),
            call(
                "fetch",
                f"{peer.url}/flaky/{key}?fail=99",
                retry={
                    "maximum_attempts": 5,
                    "initial_interval": 0.1,
                    "non_retryable_error_types": ["HttpStatusError"],
                },
            ),
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "fetch", "done"),
    }
    assert api.run(definition)["status"] == "failed"
    assert peer.count(key) == 1


def test_a_response_cannot_feed_a_request_whose_input_refuses_it(api: Api, peer: Peer) -> None:
    definition = {
        "nodes": [
            trigger(),
            call("first", f"{peer.url}/count/{unique('a')}"),
            call("second", f"{peer.url}/count/{unique('b')}"),
        ],
        "edges": chain("start", "first", "second"),
    }
    workflow_id = api.create_workflow(definition)
    problem = api.call("POST", f"/workflows/{workflow_id}/deploy", 422).json()
    [error] = problem["errors"]
    assert "[incompatible_schemas] node second" in error["message"]
    assert "'status'" in error["message"]


def test_a_node_timeout_fails_the_call(api: Api, peer: Peer) -> None:
    definition = {
        "nodes": [
            trigger(),
            call(
                "slow",
                f"{peer.url}/slow/{unique('t')}?seconds=3",
                timeout_seconds=1,
                retry={"maximum_attempts": 1},
            ),
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "slow", "done"),
    }
    started = time.monotonic()
    run = api.run(definition)
    assert run["status"] == "failed" and "ActivityTimeout" in run["error"]
    assert time.monotonic() - started < 3


def test_a_run_past_the_workflow_timeout_fails(api: Api) -> None:
    definition = waits_for_signal("never")
    workflow_id = api.deploy(definition, execution_timeout_seconds=2)
    run = api.wait(api.start(workflow_id), timeout=20)
    assert run["status"] == "failed", run
    assert "timeout" in run["error"]


def test_a_waiting_run_can_be_canceled(api: Api) -> None:
    definition = waits_for_signal("never")
    execution_id = api.start(api.deploy(definition))
    api.wait_for_step(execution_id, "wait", "waiting")
    canceled = api.call("POST", f"/executions/{execution_id}/cancel", 200).json()
    assert canceled["status"] == "canceled"
    api.call("POST", f"/executions/{execution_id}/cancel", 409)
    time.sleep(0.5)
    assert api.execution(execution_id)["status"] == "canceled"
    with system_session() as session:  # a canceled run counts as finished on its version
        fold_counters(session)
        finished = session.execute(
            text("select finished_count from workflow_compiled_code where id = :v"),
            {"v": canceled["compiled_code_id"]},
        ).scalar_one()
    assert finished == 1


def test_retry_reruns_from_the_failed_node_reusing_completed_steps(api: Api, peer: Peer) -> None:
    first, flaky = unique("once"), unique("flaky")
    definition = {
        "nodes": [
            trigger(),
            call("before", f"{peer.url}/count/{first}"),
            call(
                "fragile",
                f"{peer.url}/flaky/{flaky}?fail=1",
                input={},
                retry={"maximum_attempts": 1},
            ),
            {
                "id": "done",
                "type": "end",
                "config": {
                    "output": "[nodes.before.output.body.count, nodes.fragile.output.body.count]"
                },
            },
        ],
        "edges": chain("start", "before", "fragile", "done"),
    }
    execution_id = api.start(api.deploy(definition))
    assert api.wait(execution_id)["status"] == "failed"
    api.call("POST", f"/executions/{execution_id}/retry", 200)
    run = api.wait(execution_id)
    assert run["status"] == "completed", run["error"]
    assert run["outputs"] == [1, 2]
    assert peer.count(first) == 1  # the completed step was reused, not repeated
    api.call("POST", f"/executions/{execution_id}/retry", 409)
