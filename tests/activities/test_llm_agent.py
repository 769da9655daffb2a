"""llm_agent through the real openai and anthropic SDKs, against local protocol servers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from tests.activities.conftest import Call
from tests.activities.fakes import AnthropicServer, OpenAIServer, Turn
from workflow_builder.activities.contract import ActivityError, Tool
from workflow_builder.activities.llm_agent import (
    OUTPUT_SCHEMA,
    RequestedTool,
    agent_config,
    requested_tools,
    run,
)

PROMPT = {
    "name": "summarize",
    "version": "1.0.0",
    "prompt_content": "Summarize the ticket from {{ customer }}: {{ body }}",
    "prompt_variables": {
        "type": "object",
        "properties": {"customer": {"type": "string"}, "body": {"type": "string"}},
        "required": ["customer", "body"],
    },
}
INPUTS = {"customer": "Ada", "body": "The export button does nothing."}
TRIAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "priority": {"enum": ["low", "high"]},
        "summary": {"type": "string"},
    },
    "required": ["priority", "summary"],
    "additionalProperties": False,
}


def _openai(server: OpenAIServer, **config: Any) -> dict[str, Any]:
    return {
        "model_provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": f"{server.url}/v1",
        "api_key": {"$secret": "LLM_KEY"},
        "prompt": PROMPT,
        **config,
    }


def _anthropic(server: AnthropicServer, **config: Any) -> dict[str, Any]:
    return {
        "model_provider": "anthropic",
        "model": "claude-3-5-haiku-20241022",
        "base_url": server.url,
        "api_key": {"$secret": "LLM_KEY"},
        "prompt": PROMPT,
        **config,
    }


@pytest.fixture
def agent_call(call: Call) -> Call:
    call.secrets.secrets["LLM_KEY"] = "sk-test-key-0001"
    return call


def _weather_tool(calls: list[Mapping[str, Any]]) -> Tool:
    def lookup(arguments: Mapping[str, Any]) -> Any:
        calls.append(arguments)
        if arguments["city"] == "Atlantis":
            raise ActivityError("no such city", error_type="HttpStatusError", retryable=False)
        return {"city": arguments["city"], "celsius": 21}

    return Tool(
        name="weather.lookup",
        description="Current weather for a city.",
        input_schema={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        call=lookup,
    )


def test_openai_renders_the_prompt_and_returns_the_text(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    openai_server.script.turns = [Turn(text="Export is broken.", prompt_tokens=1000)]
    output = run(_openai(openai_server, system="Be brief."), INPUTS, agent_call.context)

    assert output == {"text": "Export is broken."}
    request = openai_server.received[0]
    assert request.headers["authorization"] == "Bearer sk-test-key-0001"
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": "Summarize the ticket from Ada: The export button does nothing.",
        },
    ]
    assert "response_format" not in request.body


def test_usage_latency_and_cost_are_recorded(openai_server: OpenAIServer, agent_call: Call) -> None:
    openai_server.script.turns = [
        Turn(text="ok", prompt_tokens=1_000_000, completion_tokens=500_000)
    ]
    run(_openai(openai_server), INPUTS, agent_call.context)
    metrics = agent_call.metrics
    assert metrics["prompt_tokens"] == 1_000_000
    assert metrics["completion_tokens"] == 500_000
    assert metrics["cost_usd"] == pytest.approx(0.15 + 0.30)
    assert metrics["latency_ms"] > 0
    assert metrics["llm_calls"] == 1


def test_an_unknown_model_costs_nothing_and_warns(
    openai_server: OpenAIServer, agent_call: Call, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.script.turns = [Turn(text="ok")]
    with caplog.at_level(logging.WARNING):
        run(_openai(openai_server, model="llama3.1:8b-local-test"), INPUTS, agent_call.context)
    assert agent_call.metrics["cost_usd"] == 0
    assert "llama3.1:8b-local-test" in caplog.text


def test_prompt_variables_are_validated_before_any_call(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    with pytest.raises(ActivityError) as caught:
        run(_openai(openai_server), {"customer": "Ada"}, agent_call.context)
    assert caught.value.error_type == "PromptVariablesInvalid"
    assert not caught.value.retryable
    assert openai_server.received == []


def test_the_template_runs_sandboxed(openai_server: OpenAIServer, agent_call: Call) -> None:
    prompt = {"prompt_content": "{{ body.__class__.__mro__[1].__subclasses__() }}"}
    with pytest.raises(ActivityError) as caught:
        run(_openai(openai_server, prompt=prompt), INPUTS, agent_call.context)
    assert caught.value.error_type == "PromptRenderError"


@pytest.mark.parametrize("template", ["{{ 'x' * 10**9 }}", "{{ 2 ** 100000 }}"])
def test_the_template_cannot_exhaust_the_worker(
    openai_server: OpenAIServer, agent_call: Call, template: str
) -> None:
    prompt = {"prompt_content": template}
    with pytest.raises(ActivityError) as caught:
        run(_openai(openai_server, prompt=prompt), INPUTS, agent_call.context)
    assert caught.value.error_type == "PromptRenderError"
    assert "limited" in caught.value.message or "longer than" in caught.value.message
    assert openai_server.received == []


def test_structured_output_is_requested_and_validated(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    openai_server.script.turns = [Turn(text='{"priority": "high", "summary": "Export broken"}')]
    config = _openai(openai_server, output_schema=TRIAGE_SCHEMA)
    output = run(config, INPUTS, agent_call.context)
    assert output == {"priority": "high", "summary": "Export broken"}
    body = openai_server.received[0].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == TRIAGE_SCHEMA


def test_an_invalid_answer_gets_one_repair_call_with_the_errors(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    openai_server.script.turns = [
        Turn(text='{"priority": "urgent"}'),
        Turn(text='```json\n{"priority": "low", "summary": "fixed"}\n```'),
    ]
    output = run(_openai(openai_server, output_schema=TRIAGE_SCHEMA), INPUTS, agent_call.context)
    assert output == {"priority": "low", "summary": "fixed"}
    repair = openai_server.received[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"priority": "urgent"}'}
    assert "'urgent' is not one of" in repair[-1]["content"]
    assert "'summary' is a required property" in repair[-1]["content"]
    assert agent_call.metrics["llm_calls"] == 2


def test_a_second_invalid_answer_fails_as_structured_output_invalid(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    openai_server.script.turns = [Turn(text="not json"), Turn(text='{"priority": "low"}')]
    with pytest.raises(ActivityError) as caught:
        run(_openai(openai_server, output_schema=TRIAGE_SCHEMA), INPUTS, agent_call.context)
    assert caught.value.error_type == "StructuredOutputInvalid"
    assert caught.value.details["errors"] == ["/: 'summary' is a required property"]
    assert agent_call.metrics["llm_calls"] == 2


def test_openai_tool_calls_run_the_offered_components(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    seen: list[Mapping[str, Any]] = []
    agent_call.tools["weather.lookup"] = _weather_tool(seen)
    openai_server.script.turns = [
        Turn(
            tool_calls=[
                {"name": "weather_lookup", "arguments": {"city": "Oslo"}},
                {"name": "weather_lookup", "arguments": {"city": "Atlantis"}},
            ]
        ),
        Turn(text="Oslo is 21 °C; Atlantis is unknown."),
    ]
    config = _openai(openai_server, tools=["weather.lookup"])
    output = run(config, INPUTS, agent_call.context)

    assert output == {"text": "Oslo is 21 °C; Atlantis is unknown."}
    assert seen == [{"city": "Oslo"}, {"city": "Atlantis"}]
    first, second = (request.body for request in openai_server.received)
    assert first["tools"][0]["function"]["name"] == "weather_lookup"
    assert first["tools"][0]["function"]["parameters"]["required"] == ["city"]
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_messages == [
        {"role": "tool", "tool_call_id": "call_0", "content": '{"city": "Oslo", "celsius": 21}'},
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": "HttpStatusError: no such city",
        },
    ]
    assert agent_call.metrics["tool_calls"] == 2


def test_tool_arguments_are_checked_before_the_tool_runs(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    seen: list[Mapping[str, Any]] = []
    agent_call.tools["weather.lookup"] = _weather_tool(seen)
    openai_server.script.turns = [
        Turn(tool_calls=[{"name": "weather_lookup", "arguments": {"town": "Oslo"}}]),
        Turn(text="sorry"),
    ]
    run(_openai(openai_server, tools=["weather.lookup"]), INPUTS, agent_call.context)
    assert seen == []
    tool_message = openai_server.received[1].body["messages"][-1]
    assert "'city' is a required property" in tool_message["content"]


def test_a_tool_the_node_is_not_offered_fails_before_any_call(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    with pytest.raises(ActivityError) as caught:
        run(_openai(openai_server, tools=["send_email"]), INPUTS, agent_call.context)
    assert caught.value.error_type == "ToolNotAvailable"
    assert openai_server.received == []


def test_a_model_that_never_stops_calling_tools_is_cut_off(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    agent_call.tools["weather.lookup"] = _weather_tool([])
    loop = Turn(tool_calls=[{"name": "weather_lookup", "arguments": {"city": "Oslo"}}])
    openai_server.script.turns = [loop, loop, loop]
    config = _openai(openai_server, tools=["weather.lookup"], max_tool_rounds=2)
    with pytest.raises(ActivityError) as caught:
        run(config, INPUTS, agent_call.context)
    assert caught.value.error_type == "ToolRoundsExceeded"


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (401, False)])
def test_provider_errors_are_retryable_only_when_transient(
    openai_server: OpenAIServer, agent_call: Call, status: int, retryable: bool
) -> None:
    openai_server.script.turns = [Turn(error_status=status)]
    with pytest.raises(ActivityError) as caught:
        run(_openai(openai_server), INPUTS, agent_call.context)
    assert caught.value.error_type == "LlmProviderError"
    assert caught.value.retryable is retryable
    assert len(openai_server.received) == 1


def test_anthropic_renders_the_prompt_and_returns_the_text(
    anthropic_server: AnthropicServer, agent_call: Call
) -> None:
    anthropic_server.script.turns = [Turn(text="Export is broken.", prompt_tokens=2_000_000)]
    output = run(_anthropic(anthropic_server, system="Be brief."), INPUTS, agent_call.context)

    assert output == {"text": "Export is broken."}
    request = anthropic_server.received[0]
    # SDK versions differ in the header carrying the key (x-api-key or a bearer token).
    sent = request.headers.get("x-api-key", "") + request.headers.get("authorization", "")
    assert "sk-test-key-0001" in sent
    assert request.body["system"] == "Be brief."
    assert request.body["messages"] == [
        {
            "role": "user",
            "content": "Summarize the ticket from Ada: The export button does nothing.",
        }
    ]
    assert agent_call.metrics["cost_usd"] == pytest.approx(1.6 + 5 * 4 / 1_000_000)


def test_anthropic_tool_use_blocks_run_the_offered_components(
    anthropic_server: AnthropicServer, agent_call: Call
) -> None:
    seen: list[Mapping[str, Any]] = []
    agent_call.tools["weather.lookup"] = _weather_tool(seen)
    anthropic_server.script.turns = [
        Turn(
            text="Let me check.",
            tool_calls=[{"name": "weather_lookup", "arguments": {"city": "Oslo"}}],
        ),
        Turn(text='{"priority": "low", "summary": "21 °C in Oslo"}'),
    ]
    config = _anthropic(anthropic_server, tools=["weather.lookup"], output_schema=TRIAGE_SCHEMA)
    output = run(config, INPUTS, agent_call.context)

    assert output == {"priority": "low", "summary": "21 °C in Oslo"}
    assert seen == [{"city": "Oslo"}]
    first, second = (request.body for request in anthropic_server.received)
    assert first["tools"][0]["name"] == "weather_lookup"
    assert "JSON Schema" in first["system"]
    assert second["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": "toolu_0",
                "name": "weather_lookup",
                "input": {"city": "Oslo"},
            },
        ],
    }
    assert second["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_0",
                "content": '{"city": "Oslo", "celsius": 21}',
                "is_error": False,
            }
        ],
    }


def test_anthropic_overloaded_is_retryable(
    anthropic_server: AnthropicServer, agent_call: Call
) -> None:
    anthropic_server.script.turns = [Turn(error_status=529)]
    with pytest.raises(ActivityError) as caught:
        run(_anthropic(anthropic_server), INPUTS, agent_call.context)
    assert caught.value.error_type == "LlmProviderError"
    assert caught.value.retryable


def test_agent_config_fills_the_component_defaults_under_the_node_config() -> None:
    config = agent_config(
        {"model": "gpt-4o", "tools": ["x"]},
        prompt=PROMPT,
        model_provider="openai",
        model_name="gpt-4o-mini",
        output_schema=TRIAGE_SCHEMA,
    )
    assert config == {
        "prompt": PROMPT,
        "model_provider": "openai",
        "model": "gpt-4o",
        "output_schema": TRIAGE_SCHEMA,
        "tools": ["x"],
    }


def test_agent_config_ignores_the_builtin_generic_output_schema() -> None:
    config = agent_config(
        {}, prompt=PROMPT, model_provider="anthropic", model_name="m", output_schema=OUTPUT_SCHEMA
    )
    assert "output_schema" not in config


def test_requested_tools_name_a_component_with_or_without_a_fixed_config() -> None:
    config = {
        "tools": [
            "weather.lookup",
            {
                "name": "crm_search",
                "component": "http_request",
                "config": {"url": "https://crm.test/search"},
                "description": "Search the CRM.",
            },
        ]
    }
    assert requested_tools(config) == [
        RequestedTool(name="weather.lookup", component="weather.lookup", config={}),
        RequestedTool(
            name="crm_search",
            component="http_request",
            config={"url": "https://crm.test/search"},
            description="Search the CRM.",
        ),
    ]


def test_a_tool_with_a_fixed_config_is_offered_under_its_own_name(
    openai_server: OpenAIServer, agent_call: Call
) -> None:
    agent_call.tools["city_weather"] = _weather_tool([])
    openai_server.script.turns = [Turn(text="no tools needed")]
    tool = {"name": "city_weather", "component": "weather.lookup", "config": {"units": "C"}}
    run(_openai(openai_server, tools=[tool]), INPUTS, agent_call.context)
    assert openai_server.received[0].body["tools"][0]["function"]["name"] == "city_weather"
