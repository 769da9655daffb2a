"""Component calls: what a node's call does, whichever engine records it.

`invoke` runs one attempt of a component call: it checks the inputs against the component's
input schema, resolves the project's secrets on first use, takes one of the task queue's
activity slots, runs the implementation on a thread of its own (so the node's timeout can stop
waiting for it) and masks the secrets the call read in what it returns. Recording the attempt
(its history row, statistics and checkpoint) is the engine adapter's part.

What the product reads on a call's way (the component's schemas, the project's secrets, an
agent's prompt and tools) are idempotent reads: a transient database error there is waited
out (`aio.retrying`), as the runs' own writes are. It is neither the call's failure, which
would spend one of its attempts, nor, escaping the call, the end of the run.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from functools import lru_cache
from typing import Any
from uuid import UUID

import jsonschema
from sqlalchemy import RowMapping, text

from workflow_builder.activities import llm_agent
from workflow_builder.activities.contract import ActivityContext, ActivityError, Tool
from workflow_builder.activities.registry import load_implementation
from workflow_builder.compiler.schemas import schema_validator
from workflow_builder.db import system_session, user_session
from workflow_builder.runtime.aio import retrying
from workflow_builder.runtime.port import Call, Outcome, RunSpec
from workflow_builder.runtime.slots import MAX_HELD_PER_PROCESS, activity_slot
from workflow_builder.secrets.redaction import redact
from workflow_builder.secrets.service import ProjectSecretResolver, stored_secrets
from workflow_builder.telemetry import metrics as telemetry
from workflow_builder.workflows.catalog import RegistryCatalog

# Component calls run on these threads so that a node's timeout can stop waiting for them.
_call_pool = ThreadPoolExecutor(max_workers=MAX_HELD_PER_PROCESS, thread_name_prefix="wfb-activity")


def _run_control() -> Any:
    from workflow_builder.runtime.service import RUN_CONTROL

    return RUN_CONTROL


def invoke(run: RunSpec, call: Call) -> Outcome:
    """Run one attempt of a component call (on the calling thread, which it may leave waiting
    for the call's timeout); never raises for the call's own failure.

    Returns {"ok": True, "output": ...} or {"ok": False, "error": {"type", "message",
    "retryable"}}, with "metrics" when the component recorded any. Outputs and errors are
    masked for the project's secrets the call read.
    """
    node = call.node
    secrets = _secrets(UUID(run.project_id)) if run.project_id else None
    metrics: dict[str, float] = {}
    context = ActivityContext(
        execution_id=run.execution_id,
        workflow_id=run.workflow_id,
        node_id=node["id"],
        attempt=call.attempt,
        project_id=run.project_id,
        timeout_seconds=node.get("timeout_seconds"),
        secrets=secrets,
        record_metric=_adder(metrics),
        runs=_run_control(),
    )
    conceal = _concealer(secrets)
    started = time.perf_counter()
    result: Outcome = conceal(_invoke(run, call, context, conceal))
    telemetry.step_finished(
        component=str(call.component.get("name") or "unknown"),
        ok=bool(result.get("ok")),
        seconds=time.perf_counter() - started,
    )
    if metrics:
        result["metrics"] = metrics
    return result


def _secrets(project_id: UUID) -> ProjectSecretResolver:
    """Return a resolver reading the project's secrets (as the system) on first use."""
    return ProjectSecretResolver(
        project_id,
        load=lambda: retrying(lambda: stored_secrets(project_id), "reading a project's secrets"),
    )


def _concealer(secrets: ProjectSecretResolver | None) -> Callable[[Any], Any]:
    """Return what masks the project's secrets in a value: those the call read (nothing to mask
    without a project, or before any was read)."""
    if secrets is None:
        return lambda value: value
    return lambda value: redact(value, secrets) if secrets.read_any else value


def _adder(metrics: dict[str, float]) -> Callable[[str, float], None]:
    """Return a metric recorder summing each name's values into `metrics`."""

    def add(name: str, value: float) -> None:
        metrics[name] = metrics.get(name, 0) + value

    return add


@lru_cache(maxsize=1024)
def _validator(component_id: str, column: str) -> jsonschema.Draft202012Validator | None:
    """Return the validator of a component's input or config schema, read once per process."""
    assert column in ("input_schema", "config_schema")

    def read() -> Any:
        with system_session() as session:
            return session.execute(
                text(f"select {column} from components where id = :c"), {"c": component_id}
            ).scalar()

    schema = retrying(read, "reading a component's schema")
    return schema_validator(schema) if schema else None


def _schema_problems(component: Mapping[str, Any], column: str, value: Any) -> str | None:
    validator = _validator(component["id"], column) if component.get("id") else None
    if validator is None:
        return None
    problems = [
        f"/{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(value or {})
    ]
    return "; ".join(problems[:5]) or None


def _invoke(
    run: RunSpec, call: Call, context: ActivityContext, conceal: Callable[[Any], Any]
) -> Outcome:
    node, component, inputs = call.node, call.component, call.inputs
    problems = _schema_problems(component, "input_schema", inputs)
    if problems:
        return _failure(
            "InvalidInput", f"the input does not match the component's: {problems}", False
        )
    try:
        config: Mapping[str, Any] = node.get("config") or {}
        if component.get("implementation_path") == llm_agent.SPEC.implementation_path:
            config = _agent_setup(run, component, config)
            tools = retrying(
                lambda: _tools(run, config, context, conceal), "reading an agent's tools"
            )
            context = replace(context, tools=tools)
        implementation = load_implementation(component["implementation_path"])
        with activity_slot(
            run.task_queue_name, run.max_concurrent_activities, context.timeout_seconds
        ):
            # In the caller's context: the node's trace span goes on with the call.
            future = _call_pool.submit(
                contextvars.copy_context().run, implementation, config, inputs or {}, context
            )
            output = future.result(timeout=context.timeout_seconds)
        json.dumps(output, default=str)
        return {"ok": True, "output": output}
    except FutureTimeout:
        return _failure(
            "ActivityTimeout", f"the call did not finish within {context.timeout_seconds} s", True
        )
    except ActivityError as exc:
        return _failure(exc.error_type, exc.message, exc.retryable)
    except Exception as exc:  # an implementation's own bug is the node's failure, not the run's
        return _failure(type(exc).__name__, str(exc) or type(exc).__name__, True)


def _failure(error_type: str, message: str, retryable: bool) -> Outcome:
    return {"ok": False, "error": {"type": error_type, "message": message, "retryable": retryable}}


# -- agents ---------------------------------------------------------------------------------

_PROMPT_COLUMNS = "p.id, p.name, p.version, p.prompt_content, p.prompt_variables"


def _prompt(row: RowMapping) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "version": row["version"],
        "prompt_content": row["prompt_content"],
        "prompt_variables": row["prompt_variables"] or {"type": "object"},
    }


@lru_cache(maxsize=1024)
def _agent_defaults(component_id: str) -> dict[str, Any]:
    """Return an agent component's defaults: its prompt row, provider, model and output schema.

    Read once per process, as the system: the prompt a component names is part of the
    component, whoever may see the prompt row itself.
    """
    with system_session() as session:
        row = (
            session.execute(
                text(
                    f"""select c.model_provider, c.model_name, c.output_schema,
                               c.agent_prompt_id, {_PROMPT_COLUMNS}
                        from components c left join agent_prompts p on p.id = c.agent_prompt_id
                        where c.id = :c"""
                ),
                {"c": component_id},
            )
            .mappings()
            .one()
        )
    return {
        "prompt": _prompt(row) if row["agent_prompt_id"] else None,
        "model_provider": row["model_provider"],
        "model_name": row["model_name"],
        "output_schema": row["output_schema"],
    }


def _visible_prompt(prompt_id: str, owner: str) -> dict[str, Any] | None:
    """Return an agent_prompts row as the run's owner sees it now (None: absent or hidden)."""
    with user_session(UUID(owner)) as session:
        row = (
            session.execute(
                text(f"select {_PROMPT_COLUMNS} from agent_prompts p where p.id = :p"),
                {"p": prompt_id},
            )
            .mappings()
            .first()
        )
    return _prompt(row) if row else None


def _owner(run: RunSpec, what: str) -> str:
    owner = run.created_by
    if owner is None:
        raise ActivityError(
            f"{what} is looked up as the run's owner, and this run has none",
            error_type="NoRunOwner",
            retryable=False,
        )
    return owner


def _agent_setup(
    run: RunSpec, component: Mapping[str, Any], node_config: Mapping[str, Any]
) -> dict[str, Any]:
    """`_agent_config`, read again through transient database errors."""
    return retrying(lambda: _agent_config(run, component, node_config), "reading an agent's prompt")


def _agent_config(
    run: RunSpec, component: Mapping[str, Any], node_config: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the llm_agent config of a node: the component's defaults under the node's config,
    with the prompt row the node or its component names loaded into `prompt`."""
    defaults = _agent_defaults(component["id"]) if component.get("id") else {}
    prompt = defaults.get("prompt")
    prompt_id = node_config.get("agent_prompt_id")
    if prompt_id and "prompt" not in node_config:
        try:
            prompt = _visible_prompt(str(UUID(str(prompt_id))), _owner(run, "agent_prompt_id"))
        except ValueError:
            prompt = None
        if prompt is None:
            raise ActivityError(
                f"config.agent_prompt_id: no agent prompt {prompt_id} visible to the run's owner",
                error_type="AgentPromptNotFound",
                retryable=False,
            )
    return llm_agent.agent_config(
        node_config,
        prompt=prompt,
        model_provider=defaults.get("model_provider"),
        model_name=defaults.get("model_name"),
        output_schema=defaults.get("output_schema"),
    )


def _tools(
    run: RunSpec,
    config: Mapping[str, Any],
    context: ActivityContext,
    conceal: Callable[[Any], Any],
) -> dict[str, Tool]:
    """Return the tools an agent node asks for, each running its component through the same
    checks as a node's call.

    A tool names a component the run's owner can see (public, their organization's or their
    own; their own version first, then the newest), of type `activity`.
    """
    requested = llm_agent.requested_tools(config)
    if not requested:
        return {}
    owner = UUID(_owner(run, "an agent's tools"))
    tools: dict[str, Tool] = {}
    with user_session(owner) as session:
        catalog = RegistryCatalog(session, owner)
        for wanted in requested:
            row = catalog.component(wanted.component, None)
            where = f"config.tools: tool {wanted.name!r}"
            if row is None:
                raise ActivityError(
                    f"{where}: no component {wanted.component!r} visible to the run's owner",
                    error_type="ToolNotAvailable",
                    retryable=False,
                )
            if row.type != "activity" or not row.implementation_path:
                raise ActivityError(
                    f"{where}: component {wanted.component!r} is of type {row.type!r}; "
                    "an agent may call activity components only",
                    error_type="ToolNotAvailable",
                    retryable=False,
                )
            tool_component = {"id": str(row.id), "implementation_path": row.implementation_path}
            problems = _schema_problems(tool_component, "config_schema", wanted.config)
            if problems:
                raise ActivityError(
                    f"{where}: its config does not match component "
                    f"{wanted.component!r}'s: {problems}",
                    error_type="InvalidConfig",
                    retryable=False,
                )
            tools[wanted.name] = Tool(
                name=wanted.name,
                description=wanted.description or row.description or row.display_name,
                input_schema=row.input_schema or {"type": "object"},
                call=_tool_call(tool_component, wanted, context, conceal),
            )
    return tools


def _tool_call(
    component: Mapping[str, Any],
    wanted: llm_agent.RequestedTool,
    context: ActivityContext,
    conceal: Callable[[Any], Any],
) -> Callable[[Mapping[str, Any]], Any]:
    """Return a tool's `call`: the component run with the model's arguments, inside the agent's
    step (and its activity slot), its output and errors redacted before the model sees them."""
    prefix = f"tools.{wanted.name}."
    tool_context = replace(
        context,
        tools={},
        record_metric=lambda name, value: context.record_metric(prefix + name, value),
    )

    def call(arguments: Mapping[str, Any]) -> Any:
        problems = _schema_problems(component, "input_schema", arguments)
        try:
            if problems:
                raise ActivityError(
                    f"the arguments do not match the component's input: {problems}",
                    error_type="InvalidInput",
                    retryable=False,
                )
            implementation = load_implementation(component["implementation_path"])
            output = implementation(wanted.config, arguments, tool_context)
            json.dumps(output, default=str)
        except ActivityError as exc:
            raise ActivityError(
                conceal(exc.message), error_type=exc.error_type, retryable=exc.retryable
            ) from None
        except Exception as exc:  # the tool's own bug goes back to the model as its error
            message = conceal(str(exc) or type(exc).__name__)
            raise ActivityError(message, error_type=type(exc).__name__) from None
        return conceal(output)

    return call
