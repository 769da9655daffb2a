"""Tenant input cannot stall the API: schema patterns run in linear time (RE2), and prompt
templates stop as soon as their output, value, loop, call or time budget is spent, each with a
422 naming the limit.

The catastrophic pattern below takes Python's backtracking engine about 10 s at 27 characters
and 1.8 times as long for each further one; the inputs here are far longer, so an answer at
all (within the generous bound) shows that the pattern did not backtrack."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.api.conftest import assert_problem
from tests.runtime.conftest import Api, chain, transform
from tests.runtime.test_webhooks import api_key, post
from tests.support import unique

EVIL = "^(a+)+$"
SLOW_INPUT = "a" * 40 + "!"
GENEROUS_SECONDS = 20.0


def guarded(call: Any) -> Any:
    started = time.monotonic()
    response = call()
    assert time.monotonic() - started < GENEROUS_SECONDS
    return response


def definition(input_schema: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "trigger", "config": {"input_schema": input_schema, **config}},
            transform("echo", {"value": "input"}),
            {"id": "done", "type": "end", "config": {"output": "nodes.echo.output"}},
        ],
        "edges": chain("start", "echo", "done"),
    }


def test_a_catastrophic_pattern_answers_at_once_on_run_start(api: Api) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": EVIL}},
        "patternProperties": {EVIL: {"type": "integer"}},
    }
    workflow_id = api.deploy(definition(schema))
    response = guarded(
        lambda: api.call(
            "POST",
            f"/workflows/{workflow_id}/executions",
            json={"inputs": {"name": SLOW_INPUT, SLOW_INPUT: 1}},
        )
    )
    body = assert_problem(response, 422)
    assert {e["pointer"] for e in body["errors"]} == {"/name"}
    assert api.wait(api.start(workflow_id, {"name": "aaaa", "aaa": 2}))["status"] == "completed"


def test_a_catastrophic_pattern_answers_at_once_on_a_webhook(api: Api, client: Any) -> None:
    path = unique("hook")
    schema = {"type": "object", "properties": {"name": {"pattern": EVIL}}}
    api.deploy(definition(schema, kind="webhook", path=path))
    response = guarded(lambda: post(client, path, {"name": SLOW_INPUT}, key=api_key(api)))
    assert {e["pointer"] for e in assert_problem(response, 422)["errors"]} == {"/name"}


def test_a_catastrophic_pattern_answers_at_once_in_prompt_preview_and_validation(
    api: Api,
) -> None:
    prompt = api.call(
        "POST",
        "/agent-prompts",
        201,
        json={
            "name": unique("p"),
            "prompt_content": "{{ name }}",
            "prompt_variables": {"type": "object", "properties": {"name": {"pattern": EVIL}}},
        },
    ).json()
    response = guarded(
        lambda: api.call(
            "POST",
            f"/agent-prompts/{prompt['id']}/render",
            json={"variables": {"name": SLOW_INPUT}},
        )
    )
    assert {e["pointer"] for e in assert_problem(response, 422)["errors"]} == {"/variables/name"}

    workflow = definition({"type": "object"})
    workflow["variables"] = {"v": {"initial": SLOW_INPUT, "schema": {"pattern": EVIL}}}
    workflow_id = api.create_workflow(workflow)
    report = guarded(lambda: api.call("POST", f"/workflows/{workflow_id}/validate", 200)).json()
    assert [(e["code"], e["pointer"]) for e in report["errors"]] == [
        ("invalid_variable_initial", "/variables/v/initial")
    ]


@pytest.mark.parametrize(
    ("where", "schema", "pointer"),
    [
        ("pattern", {"pattern": "^(?=a)a$"}, "/pattern"),
        ("back-reference", {"properties": {"x": {"pattern": "(a)\\1"}}}, "/properties/x/pattern"),
        ("patternProperties", {"patternProperties": {"(?<!x)y": {}}}, "/patternProperties"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_when_saved(
    api: Api, where: str, schema: dict[str, Any], pointer: str
) -> None:
    response = api.call(
        "POST",
        "/components",
        json={"name": unique("c"), "type": "activity", "input_schema": schema},
    )
    errors = assert_problem(response, 422)["errors"]
    assert errors[0]["pointer"] == f"/input_schema{pointer}"
    assert "RE2" in errors[0]["message"]
    workflow = api.call(
        "POST", "/workflows", json={"kebab_name": unique("wf"), "definition": definition(schema)}
    )
    located = {e["pointer"] for e in assert_problem(workflow, 422)["errors"]}
    assert located <= {
        f"/definition/nodes/0/config/input_schema{pointer}",
        f"/definition/nodes/0/config/input_schema{pointer}/(?<!x)y",
    }
    assert located


BOMBS = {
    "loop": [
        # the preview that built 60 MB before answering
        "{% for i in range(100000) %}{{ 'x' * 600 }}{% endfor %}",
        "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
    ],
    "output": [
        "{% for i in range(10000) %}{{ 'x' * 600 }}{% endfor %}",
        "{% macro m() %}{% for i in range(9000) %}{{ 'x' * 999999 }}{% endfor %}{% endmacro %}"
        "{{ m() | length }}",
        "{% set b %}{% for i in range(9000) %}{{ 'y' * 999999 }}{% endfor %}{% endset %}{{ 1 }}",
    ],
    "value": [
        "{{ 'x' | center(1000000000) }}",
        "{{ 'x'.ljust(1000000000) }}",
        "{{ ('x' * 999999) | replace('x', 'x' * 999999) }}",
        "{{ range(9000) | join('x' * 999999) }}",
        "{{ '%1000000000d' % 1 }}",
        "{{ '{:>1000000000}'.format(1) }}",
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "{{ [1] | batch(1000000000, 0) | list | length }}",
    ],
}


@pytest.mark.parametrize(
    ("limit", "template"), [(limit, t) for limit, ts in BOMBS.items() for t in ts]
)
def test_a_prompt_preview_stops_at_its_budget_and_names_the_limit(
    api: Api, limit: str, template: str
) -> None:
    prompt = api.call(
        "POST",
        "/agent-prompts",
        201,
        json={"name": unique("p"), "prompt_content": template, "prompt_variables": {}},
    ).json()
    response = guarded(
        lambda: api.call("POST", f"/agent-prompts/{prompt['id']}/render", json={"variables": {}})
    )
    body = assert_problem(response, 422, "template-limit")
    assert body["limit"] == limit


def test_exponential_macro_recursion_stops_at_the_call_or_time_budget(api: Api) -> None:
    template = (
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}"
    )
    prompt = api.call(
        "POST",
        "/agent-prompts",
        201,
        json={"name": unique("p"), "prompt_content": template, "prompt_variables": {}},
    ).json()
    response = guarded(
        lambda: api.call("POST", f"/agent-prompts/{prompt['id']}/render", json={"variables": {}})
    )
    assert assert_problem(response, 422, "template-limit")["limit"] in ("calls", "time")


def test_ordinary_prompts_still_render(api: Api) -> None:
    template = (
        "{% macro item(x) %}- {{ x | upper }}{% endmacro %}"
        "{% for x in items %}{{ item(x) }}{% if not loop.last %}\n{% endif %}{% endfor %}"
        " ({{ items | join(', ') }}; {{ '%05d' % 42 }}; {{ 5000000000 | filesizeformat }})"
    )
    prompt = api.call(
        "POST",
        "/agent-prompts",
        201,
        json={"name": unique("p"), "prompt_content": template, "prompt_variables": {}},
    ).json()
    response = api.call(
        "POST", f"/agent-prompts/{prompt['id']}/render", json={"variables": {"items": ["a", "b"]}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"] == "- A\n- B (a, b; 00042; 5.0 GB)"
