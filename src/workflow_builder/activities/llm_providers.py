"""The two chat protocols the `llm_agent` speaks, through the providers' official SDKs.

`openai` is any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, LiteLLM:
set `base_url`); `anthropic` is the Anthropic messages API. Both are reduced to one shape, a
`Conversation` that is asked for the next `Reply` and told the tool results, so the agent's
loop does not care which protocol is underneath. Both SDKs connect through the egress policy
(`workflow_builder.egress`), whatever `base_url` names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from workflow_builder.activities.contract import ActivityError
from workflow_builder.egress import EgressRefused, egress_refusal, http_client2

_RETRYABLE_STATUSES = {408, 409, 429}


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it (`name` is the wire name, safe for every provider)."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asked for; `arguments` is None when they were not valid JSON."""

    id: str
    name: str
    arguments: dict[str, Any] | None


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gave back, as text for the model."""

    call: ToolCall
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Reply:
    """One model answer: its text, the tools it wants called, and the tokens it took."""

    text: str
    tool_calls: Sequence[ToolCall]
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ChatRequest:
    """Everything fixed for one agent step's conversation."""

    model: str
    system: str
    prompt: str
    tools: Sequence[ToolSpec]
    json_schema: Mapping[str, Any] | None
    max_tokens: int
    temperature: float | None
    timeout_seconds: float
    api_key: str | None
    base_url: str | None
    json_mode: str = "json_schema"


class Conversation(Protocol):
    """A conversation with a model, grown turn by turn."""

    def ask(self) -> Reply:
        """Send the conversation so far; return the model's reply."""
        ...

    def add_reply(self, reply: Reply) -> None:
        """Append the model's reply (needed before answering its tool calls)."""
        ...

    def add_tool_results(self, results: Sequence[ToolResult]) -> None:
        """Append the results of the tool calls of the last reply."""
        ...

    def add_user(self, text: str) -> None:
        """Append a user message."""
        ...


def _provider_error(exc: Exception, provider: str) -> ActivityError:
    refused = egress_refusal(exc)
    if refused is not None:
        return refused.activity_error("llm_agent")
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return ActivityError(
            f"The {provider} API answered {status}: {exc}",
            error_type="LlmProviderError",
            retryable=status >= 500 or status in _RETRYABLE_STATUSES,
            details={"status": status, "provider": provider},
        )
    return ActivityError(
        f"Cannot reach the {provider} API: {exc}",
        error_type="LlmConnectionError",
        details={"provider": provider},
    )


def _without_meta(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return the schema without `$schema`/`$id`, which some servers reject in tool schemas."""
    return {key: value for key, value in schema.items() if key not in ("$schema", "$id")}


def _arguments(raw: str | None) -> dict[str, Any] | None:
    try:
        parsed = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


class OpenAIConversation:
    """A chat-completions conversation (OpenAI or any compatible server)."""

    def __init__(self, request: ChatRequest) -> None:
        import openai  # on first use: the SDKs took most of a worker's start-up to import

        self.request = request
        # Retries belong to the node's retry policy, not to the SDK, so they are counted there.
        self.client = openai.OpenAI(
            # Self-hosted servers usually need no key, but the SDK insists on one.
            api_key=request.api_key or "not-needed",
            base_url=request.base_url,
            max_retries=0,
            timeout=request.timeout_seconds,
            http_client=http_client2(),
        )
        self.messages: list[dict[str, Any]] = []
        if request.system:
            self.messages.append({"role": "system", "content": request.system})
        self.messages.append({"role": "user", "content": request.prompt})

    def _response_format(self) -> dict[str, Any] | None:
        if self.request.json_schema is None:
            return None
        if self.request.json_mode == "json_object":
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": _without_meta(self.request.json_schema)},
        }

    def ask(self) -> Reply:
        """Send the conversation so far; return the model's reply."""
        options: dict[str, Any] = {"max_tokens": self.request.max_tokens}
        if self.request.temperature is not None:
            options["temperature"] = self.request.temperature
        if self.request.tools:
            options["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": _without_meta(tool.input_schema),
                    },
                }
                for tool in self.request.tools
            ]
        response_format = self._response_format()
        if response_format is not None:
            options["response_format"] = response_format
        import openai

        try:
            completion = self.client.chat.completions.create(
                model=self.request.model,
                messages=self.messages,  # type: ignore[arg-type]
                **options,
            )
        except (openai.APIError, EgressRefused) as exc:
            raise _provider_error(exc, "openai") from None
        if not completion.choices:
            raise ActivityError("The model returned no choices", error_type="LlmProviderError")
        message = completion.choices[0].message
        calls = [
            ToolCall(call.id, call.function.name, _arguments(call.function.arguments))
            for call in message.tool_calls or []
            if call.type == "function"
        ]
        usage = completion.usage
        return Reply(
            text=message.content or "",
            tool_calls=calls,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    def add_reply(self, reply: Reply) -> None:
        """Append the model's reply (needed before answering its tool calls)."""
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in reply.tool_calls
            ]
        self.messages.append(message)

    def add_tool_results(self, results: Sequence[ToolResult]) -> None:
        """Append the results of the tool calls of the last reply."""
        for result in results:
            self.messages.append(
                {"role": "tool", "tool_call_id": result.call.id, "content": result.content}
            )

    def add_user(self, text: str) -> None:
        """Append a user message."""
        self.messages.append({"role": "user", "content": text})


class AnthropicConversation:
    """An Anthropic messages-API conversation."""

    def __init__(self, request: ChatRequest) -> None:
        import anthropic  # on first use, as openai above

        self.request = request
        self.client = anthropic.Anthropic(
            api_key=request.api_key,
            base_url=request.base_url,
            max_retries=0,
            timeout=request.timeout_seconds,
            http_client=http_client2(),
        )
        self.messages: list[dict[str, Any]] = [{"role": "user", "content": request.prompt}]

    def ask(self) -> Reply:
        """Send the conversation so far; return the model's reply."""
        options: dict[str, Any] = {}
        if self.request.system:
            options["system"] = self.request.system
        if self.request.temperature is not None:
            options["temperature"] = self.request.temperature
        if self.request.tools:
            options["tools"] = [
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": {"type": "object", **_without_meta(tool.input_schema)},
                }
                for tool in self.request.tools
            ]
        import anthropic

        try:
            message = self.client.messages.create(
                model=self.request.model,
                max_tokens=self.request.max_tokens,
                messages=self.messages,  # type: ignore[arg-type]
                **options,
            )
        except (anthropic.APIError, EgressRefused) as exc:
            raise _provider_error(exc, "anthropic") from None
        texts = [block.text for block in message.content if block.type == "text"]
        calls = [
            ToolCall(block.id, block.name, block.input if isinstance(block.input, dict) else None)
            for block in message.content
            if block.type == "tool_use"
        ]
        return Reply(
            text="".join(texts),
            tool_calls=calls,
            prompt_tokens=message.usage.input_tokens,
            completion_tokens=message.usage.output_tokens,
        )

    def add_reply(self, reply: Reply) -> None:
        """Append the model's reply (needed before answering its tool calls)."""
        blocks: list[dict[str, Any]] = []
        if reply.text:
            blocks.append({"type": "text", "text": reply.text})
        blocks.extend(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments or {}}
            for call in reply.tool_calls
        )
        self.messages.append({"role": "assistant", "content": blocks})

    def add_tool_results(self, results: Sequence[ToolResult]) -> None:
        """Append the results of the tool calls of the last reply."""
        self.messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": result.call.id,
                        "content": result.content,
                        "is_error": result.is_error,
                    }
                    for result in results
                ],
            }
        )

    def add_user(self, text: str) -> None:
        """Append a user message."""
        self.messages.append({"role": "user", "content": text})


PROVIDERS: dict[str, type[OpenAIConversation] | type[AnthropicConversation]] = {
    "openai": OpenAIConversation,
    "anthropic": AnthropicConversation,
}


def start_conversation(provider: str, request: ChatRequest) -> Conversation:
    """Return a new conversation with `provider`'s protocol."""
    return PROVIDERS[provider](request)
