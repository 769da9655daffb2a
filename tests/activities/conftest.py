"""Fixtures for the component tests: a call context with in-memory secrets, local servers."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.activities.fakes import AnthropicServer, EchoServer, OpenAIServer, serving
from workflow_builder.activities.contract import ActivityContext, ActivityError, Tool
from workflow_builder.secrets.references import resolve_secret_refs

# A fixed key, so tests never create the generated one in the user's data directory.
os.environ.setdefault("WFB_ENCRYPTION_KEY", "test-encryption-key-for-project-secrets")


@dataclass
class MemorySecrets:
    """A project's secrets and connections held in memory (a SecretResolver)."""

    secrets: dict[str, str] = field(default_factory=dict)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def secret(self, name: str) -> str:
        if name not in self.secrets:
            raise ActivityError(f"no secret {name!r}", error_type="SecretNotFound", retryable=False)
        return self.secrets[name]

    def connection(self, name: str) -> Mapping[str, Any]:
        if name not in self.connections:
            raise ActivityError(
                f"no connection {name!r}", error_type="ConnectionNotFound", retryable=False
            )
        resolved: Mapping[str, Any] = resolve_secret_refs(self.connections[name], self)
        return resolved


@dataclass
class Call:
    """What a test passes as `context`, and the metrics the implementation recorded."""

    secrets: MemorySecrets = field(default_factory=MemorySecrets)
    tools: dict[str, Tool] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def context(self) -> ActivityContext:
        return ActivityContext(
            execution_id="execution-1",
            workflow_id="workflow-1",
            node_id="node-1",
            attempt=1,
            project_id="project-1",
            secrets=self.secrets,
            record_metric=self.metrics.__setitem__,
            tools=self.tools,
        )


@pytest.fixture
def call() -> Call:
    return Call()


@pytest.fixture(scope="session")
def echo_server() -> Iterator[EchoServer]:
    with serving(EchoServer()) as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with serving(OpenAIServer()) as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicServer]:
    with serving(AnthropicServer()) as server:
        yield server
