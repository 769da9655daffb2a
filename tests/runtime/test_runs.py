"""Runs end to end through the API, on a real worker: every node type and the run lifecycle."""

from __future__ import annotations

from tests.runtime.conftest import Api, chain, transform, trigger


def test_a_chain_of_activities_completes_with_the_end_nodes_output(api: Api) -> None:
    definition = {
        "nodes": [
            trigger(
                {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
            ),
            transform("greet", {"greeting": "join(' ', ['hello', input.name])"}),
            transform("shout", {"loud": "nodes.greet.output.greeting"}),
            {"id": "done", "type": "end", "config": {"output": "{text: nodes.shout.output.loud}"}},
        ],
        "edges": chain("start", "greet", "shout", "done"),
    }
    run = api.run(definition, {"name": "ada"})
    assert run["status"] == "completed", run
    assert run["outputs"] == {"text": "hello ada"}
    statuses = {step["node_id"]: step["status"] for step in run["steps"]}
    assert statuses == {
        "start": "completed",
        "greet": "completed",
        "shout": "completed",
        "done": "completed",
    }
