"""`llm_agent`: one AI-agent step driven by a versioned prompt template.

The prompt (an `agent_prompts` row: `prompt_content`, `prompt_variables`) arrives in
`config.prompt`; the runtime loads it, so this module never touches the database. The node's
input is validated against `prompt_variables` and rendered into the template in a sandbox. The
model is called through the provider's SDK with the API key from a project secret; it may call
the tools the node allows (`config.tools`, offered by the runtime as `context.tools`), and when
`config.output_schema` is set its answer must be JSON valid against it (one repair attempt).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError
from jsonschema import Draft202012Validator

from workflow_builder.activities.contract import (
    ActivityContext,
    ActivityError,
    ComponentSpec,
    Tool,
)
from workflow_builder.activities.llm_providers import (
    PROVIDERS,
    ChatRequest,
    Conversation,
    Reply,
    ToolCall,
    ToolResult,
    ToolSpec,
    start_conversation,
)
from workflow_builder.activities.pricing import cost_usd
from workflow_builder.activities.templating import render
from workflow_builder.compiler.schemas import schema_validator
from workflow_builder.secrets.references import SECRET_REF_SCHEMA, resolve_secret_refs

_WIRE_NAME = re.compile(r"[^A-Za-z0-9_-]")
_FENCED = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_MAX_ERRORS_SHOWN = 10

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "model_provider": {
            "enum": sorted(PROVIDERS),
            "description": "openai: any OpenAI-compatible chat-completions endpoint; "
            "anthropic: the Anthropic messages API.",
        },
        "model": {"type": "string", "minLength": 1},
        "base_url": {
            "type": "string",
            "description": "The endpoint (vLLM, Ollama, LiteLLM...). Default: the provider's.",
        },
        "api_key": SECRET_REF_SCHEMA,
        "agent_prompt_id": {
            "type": "string",
            "format": "uuid",
            "description": "The agent prompt to use; the runtime loads it into `prompt`.",
        },
        "prompt": {
            "type": "object",
            "description": "The agent_prompts row (filled by the runtime).",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "version": {"type": "string"},
                "prompt_content": {"type": "string"},
                "prompt_variables": {"type": "object"},
            },
            "required": ["prompt_content"],
        },
        "system": {"type": "string", "description": "A system message sent before the prompt."},
        "output_schema": {
            "type": "object",
            "description": "JSON Schema (type object) the answer must satisfy; unset: free text.",
        },
        "json_mode": {
            "enum": ["json_schema", "json_object"],
            "default": "json_schema",
            "description": "How to ask an OpenAI-compatible server for JSON.",
        },
        "tools": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"type": "string", "minLength": 1, "description": "A component's name."},
                    {
                        "type": "object",
                        "description": "A component offered under a name, with a fixed config.",
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "component": {"type": "string", "minLength": 1},
                            "config": {"type": "object"},
                            "description": {"type": "string"},
                        },
                        "required": ["name", "component"],
                        "additionalProperties": False,
                    },
                ]
            },
            "uniqueItems": True,
            "description": "The components the agent may call.",
        },
        "max_tool_rounds": {"type": "integer", "minimum": 0, "maximum": 50, "default": 5},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 200_000, "default": 1024},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 3600,
            "default": 120,
        },
    },
    "required": ["model_provider", "model"],
    "anyOf": [{"required": ["prompt"]}, {"required": ["agent_prompt_id"]}],
    "additionalProperties": False,
}

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "description": "The prompt's variables (checked against the prompt's prompt_variables).",
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "description": "{text} for free text; with config.output_schema, the object it describes.",
    "properties": {"text": {"type": "string"}},
}

SPEC = ComponentSpec(
    name="llm_agent",
    display_name="LLM agent",
    description="Ask a language model (OpenAI-compatible or Anthropic) with a prompt template; "
    "optionally with tools and a structured JSON answer.",
    component_type="agent",
    implementation_path="workflow_builder.activities.llm_agent:run",
    config_schema=CONFIG_SCHEMA,
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    tags=("ai", "llm", "agent"),
    capabilities=("network", "secrets", "tools", "structured-output"),
)


@dataclass(frozen=True)
class RequestedTool:
    """A tool a node asks for: offer component `component` to the model as `name`, running it
    with `config` (and `description`, when set, instead of the component's)."""

    name: str
    component: str
    config: Mapping[str, Any]
    description: str | None = None


def requested_tools(config: Mapping[str, Any]) -> list[RequestedTool]:
    """Return the tools a node's config asks for; the runtime offers each in `context.tools`
    under its `name`."""
    requested = []
    for entry in config.get("tools", []):
        if isinstance(entry, str):
            requested.append(RequestedTool(name=entry, component=entry, config={}))
        else:
            requested.append(
                RequestedTool(
                    name=entry["name"],
                    component=entry["component"],
                    config=entry.get("config", {}),
                    description=entry.get("description"),
                )
            )
    return requested


def agent_config(
    node_config: Mapping[str, Any],
    *,
    prompt: Mapping[str, Any] | None,
    model_provider: str | None,
    model_name: str | None,
    output_schema: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Return the config to call `run` with for a node of an agent component.

    The component row supplies the defaults (its prompt row, provider, model, and its output
    schema, unless that is this built-in's generic one); the node's own config wins.
    """
    defaults: dict[str, Any] = {}
    if prompt is not None:
        defaults["prompt"] = dict(prompt)
    if model_provider:
        defaults["model_provider"] = model_provider
    if model_name:
        defaults["model"] = model_name
    if output_schema and dict(output_schema) != OUTPUT_SCHEMA:
        defaults["output_schema"] = dict(output_schema)
    return {**defaults, **node_config}


def _invalid(error_type: str, message: str, **details: Any) -> ActivityError:
    return ActivityError(message, error_type=error_type, retryable=False, details=details)


def _schema_errors(validator: Draft202012Validator, value: Any) -> list[str]:
    errors = sorted(validator.iter_errors(value), key=lambda error: list(error.absolute_path))
    return [
        f"/{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in errors[:_MAX_ERRORS_SHOWN]
    ]


def render_prompt(prompt: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    """Return the prompt template rendered with `values`, after checking them."""
    schema = prompt.get("prompt_variables") or {"type": "object"}
    problems = _schema_errors(schema_validator(schema), dict(values))
    if problems:
        raise _invalid(
            "PromptVariablesInvalid",
            "The input does not match the prompt's variables: " + "; ".join(problems),
            errors=problems,
        )
    try:
        return render(prompt["prompt_content"], values)
    except TemplateError as exc:
        # Undefined names, sandbox violations and syntax errors: the template is user input.
        raise _invalid("PromptRenderError", f"The prompt template failed: {exc}") from None


def _tool_specs(
    names: Sequence[str], offered: Mapping[str, Tool]
) -> tuple[list[ToolSpec], dict[str, Tool]]:
    """Return the tools as the model sees them, and the tool behind each wire name."""
    specs: list[ToolSpec] = []
    by_wire_name: dict[str, Tool] = {}
    for name in names:
        tool = offered.get(name)
        if tool is None:
            raise _invalid(
                "ToolNotAvailable", f"The tool {name!r} is not offered to this node", tool=name
            )
        wire_name = _WIRE_NAME.sub("_", name)[:60]
        while wire_name in by_wire_name:
            wire_name = f"{wire_name[:58]}_{len(by_wire_name)}"
        by_wire_name[wire_name] = tool
        specs.append(ToolSpec(wire_name, tool.description or tool.name, tool.input_schema))
    return specs, by_wire_name


def _call_tool(call: ToolCall, tools: Mapping[str, Tool]) -> ToolResult:
    """Run one tool call; failures go back to the model as error results it can act on."""
    tool = tools.get(call.name)
    if tool is None:
        return ToolResult(call, f"There is no tool named {call.name!r}.", is_error=True)
    if call.arguments is None:
        return ToolResult(call, "The arguments were not a JSON object.", is_error=True)
    problems = _schema_errors(schema_validator(tool.input_schema), call.arguments)
    if problems:
        return ToolResult(call, "Invalid arguments: " + "; ".join(problems), is_error=True)
    try:
        output = tool.call(call.arguments)
    except ActivityError as exc:
        return ToolResult(call, f"{exc.error_type}: {exc.message}", is_error=True)
    return ToolResult(call, json.dumps(output, default=str))


def _parse_json(text: str) -> Any:
    stripped = text.strip()
    fenced = _FENCED.match(stripped)
    return json.loads(fenced.group(1) if fenced else stripped)


def _json_problems(text: str, validator: Draft202012Validator) -> tuple[Any, list[str]]:
    try:
        value = _parse_json(text)
    except json.JSONDecodeError as exc:
        return None, [f"not valid JSON: {exc}"]
    return value, _schema_errors(validator, value)


class _Usage:
    """Token, latency and call totals of one step, recorded once when it ends."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.latency_ms = 0.0
        self.calls = 0
        self.tool_calls = 0

    def ask(self, conversation: Conversation) -> Reply:
        started = time.monotonic()
        try:
            reply = conversation.ask()
        finally:
            self.latency_ms += (time.monotonic() - started) * 1000
            self.calls += 1
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        return reply

    def record(self, context: ActivityContext, provider: str, model: str) -> None:
        context.record_metric("prompt_tokens", float(self.prompt_tokens))
        context.record_metric("completion_tokens", float(self.completion_tokens))
        context.record_metric("latency_ms", self.latency_ms)
        context.record_metric("llm_calls", float(self.calls))
        context.record_metric("tool_calls", float(self.tool_calls))
        context.record_metric(
            "cost_usd", cost_usd(provider, model, self.prompt_tokens, self.completion_tokens)
        )


def _converse(
    conversation: Conversation,
    usage: _Usage,
    tools: Mapping[str, Tool],
    max_rounds: int,
) -> Reply:
    """Ask, run the tools the model calls, and ask again until it answers without tools."""
    reply = usage.ask(conversation)
    for _ in range(max_rounds):
        if not reply.tool_calls:
            return reply
        conversation.add_reply(reply)
        usage.tool_calls += len(reply.tool_calls)
        conversation.add_tool_results([_call_tool(call, tools) for call in reply.tool_calls])
        reply = usage.ask(conversation)
    if reply.tool_calls:
        raise _invalid(
            "ToolRoundsExceeded",
            f"The model still called tools after max_tool_rounds ({max_rounds}) rounds",
        )
    return reply


def _structured(
    conversation: Conversation, usage: _Usage, reply: Reply, schema: Mapping[str, Any]
) -> Any:
    """Return the reply's JSON if valid; else ask once for a repair, then give up."""
    validator = schema_validator(schema)
    value, problems = _json_problems(reply.text, validator)
    if not problems:
        return value
    conversation.add_reply(reply)
    conversation.add_user(
        "Your answer does not satisfy the required JSON Schema:\n- "
        + "\n- ".join(problems)
        + "\nReply again with only the corrected JSON object."
    )
    repaired = usage.ask(conversation)
    value, problems = _json_problems(repaired.text, validator)
    if problems:
        raise ActivityError(
            "The model's answer is not valid against output_schema after one repair: "
            + "; ".join(problems),
            error_type="StructuredOutputInvalid",
            details={"errors": problems, "answer": repaired.text[:2000]},
        )
    return value


def _system_message(config: Mapping[str, Any]) -> str:
    parts = [config.get("system", "")]
    if "output_schema" in config:
        parts.append(
            "Answer with only a JSON object (no prose, no code fence) valid against this "
            "JSON Schema:\n" + json.dumps(config["output_schema"])
        )
    return "\n\n".join(part for part in parts if part)


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Render the prompt, converse with the model (running tools), return its answer."""
    prompt = config.get("prompt")
    if not prompt:
        raise _invalid(
            "AgentPromptMissing",
            "No prompt: the runtime loads config.agent_prompt_id into config.prompt",
        )
    provider, model = config["model_provider"], config["model"]
    specs, tools = _tool_specs([tool.name for tool in requested_tools(config)], context.tools)
    api_key = (
        resolve_secret_refs(config["api_key"], context.secrets) if "api_key" in config else None
    )
    request = ChatRequest(
        model=model,
        system=_system_message(config),
        prompt=render_prompt(prompt, inputs),
        tools=specs,
        json_schema=config.get("output_schema"),
        json_mode=config.get("json_mode", "json_schema"),
        max_tokens=config.get("max_tokens", 1024),
        temperature=config.get("temperature"),
        timeout_seconds=config.get("timeout_seconds", 120),
        api_key=api_key,
        base_url=config.get("base_url"),
    )
    conversation = start_conversation(provider, request)
    usage = _Usage()
    try:
        reply = _converse(conversation, usage, tools, config.get("max_tool_rounds", 5))
        if "output_schema" in config:
            return _structured(conversation, usage, reply, config["output_schema"])
        return {"text": reply.text}
    finally:
        usage.record(context, provider, model)
