"""transform hands back values the runtime has already evaluated."""

from __future__ import annotations

from tests.activities.conftest import Call
from workflow_builder.activities.transform import run


def test_returns_config_output_when_set(call: Call) -> None:
    output = {"total": 12.5, "names": ["a", "b"]}
    assert run({"output": output}, {"ignored": True}, call.context) == output


def test_returns_the_input_map_without_config_output(call: Call) -> None:
    assert run({}, {"total": 3}, call.context) == {"total": 3}
