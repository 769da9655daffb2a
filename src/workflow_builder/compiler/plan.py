"""Compilation: a valid definition becomes a canonical, content-hashed execution plan."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from workflow_builder.compiler.analysis import Analysis, ValidationContext
from workflow_builder.compiler.catalog import ComponentCatalog, ComponentSpec
from workflow_builder.compiler.definition import (
    BODY,
    DEFAULT_WEBHOOK_AUTH,
    DEFAULT_WEBHOOK_RATE_LIMIT,
    WEBHOOK_SETTINGS,
    ActivityNode,
    AgentNode,
    ChildWorkflowNode,
    ForEachNode,
    LoopNode,
    Node,
    RetryPolicy,
    TriggerConfig,
    TriggerNode,
    WorkflowDefinition,
    work_queue_query_name,
    work_queue_signal_name,
)
from workflow_builder.compiler.problems import CompilationError
from workflow_builder.compiler.structure import edge_outcome, node_outcomes
from workflow_builder.compiler.validation import analyze, paused_gc

PLAN_VERSION = 1
INTERPRETER_VERSION = "wfb-interpreter/1"
DEFAULT_RETRY: dict[str, Any] = {
    "initial_interval": 1.0,
    "backoff_coefficient": 2.0,
    "maximum_interval": 100.0,
    "maximum_attempts": 3,
    "non_retryable_error_types": [],
}


@dataclass(frozen=True)
class CompiledPlan:
    """The plan the runtime interprets, plus what goes into workflow_compiled_code."""

    data: dict[str, Any]
    components: tuple[ComponentSpec, ...] = field(default=())

    def to_json(self) -> str:
        """Return the canonical JSON of the plan (sorted keys, no insignificant whitespace)."""
        return self._json

    @cached_property
    def _json(self) -> str:
        # Computed once: a plan is never changed after it is built.
        return canonical_json(self.data)

    @cached_property
    def content_hash(self) -> str:
        """Return the sha256 hex digest of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def activities_json(self) -> str:
        """Return the canonical JSON list of pinned components."""
        return canonical_json([_pinned(c) for c in self.components])

    def requirements(self) -> str:
        """Return the pip requirements of the pinned components, one per line, sorted."""
        packages = sorted({c.package for c in self.components if c.package})
        return "".join(f"{p}\n" for p in packages)

    def runtime_config(self) -> dict[str, Any]:
        """Return the run-wide settings the worker applies (timeouts, retry, concurrency)."""
        settings: dict[str, Any] = self.data["settings"]
        concurrency = {
            n["id"]: n["config"]["concurrency"]
            for n in self.data["nodes"]
            if n["type"] == "for_each"
        }
        return {**settings, "for_each_concurrency": concurrency}

    def compiled_code(self) -> dict[str, Any]:
        """Return the workflow_compiled_code column values for this plan."""
        return {
            "workflow_code": self.to_json(),
            "activities_code": self.activities_json(),
            "worker_code": INTERPRETER_VERSION,
            "requirements": self.requirements(),
            "runtime_config": self.runtime_config(),
        }


def canonical_json(value: Any) -> str:
    """Return JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compile_definition(
    definition: Mapping[str, Any] | str | bytes | WorkflowDefinition,
    catalog: ComponentCatalog,
    context: ValidationContext | None = None,
) -> CompiledPlan:
    """Return the plan of a definition; raise CompilationError when validation finds errors."""
    analysis = analyze(definition, catalog, context)
    result = analysis.problems.result()
    if not result.ok or analysis.definition is None:
        raise CompilationError(result)
    with paused_gc():
        return build_plan(analysis, analysis.definition)


def build_plan(analysis: Analysis, definition: WorkflowDefinition) -> CompiledPlan:
    """Return the plan built from an error-free analysis."""
    settings = definition.settings
    retry = _resolve_retry(DEFAULT_RETRY, settings.retry)
    trigger = next(n for n in analysis.nodes.values() if isinstance(n, TriggerNode))
    components = sorted(
        {spec.ref: spec for spec in analysis.components.values()}.values(), key=lambda c: c.ref
    )
    data = {
        "plan_version": PLAN_VERSION,
        "interpreter": INTERPRETER_VERSION,
        "format_version": definition.format_version,
        "entry": trigger.id,
        "settings": {
            "timeout_seconds": settings.timeout_seconds,
            "activity_timeout_seconds": settings.activity_timeout_seconds,
            "retry": retry,
        },
        "variables": {
            name: {"initial": v.initial, "schema": v.schema_}
            for name, v in definition.variables.items()
        },
        **_declarations(definition),
        "components": {c.ref: _pinned(c) for c in components},
        "nodes": [_plan_node(analysis, node_id, retry) for node_id in analysis.order],
    }
    return CompiledPlan(data=data, components=tuple(components))


def _pinned(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "version": spec.version,
        "type": spec.type,
        "implementation_path": spec.implementation_path,
        "package": spec.package,
    }


def _declarations(definition: WorkflowDefinition) -> dict[str, Any]:
    """Return signals, queries, work queues, schedules and children, with generated names."""
    signals = [{**s.model_dump(mode="json"), "work_queue": None} for s in definition.signals]
    queries = [{**q.model_dump(mode="json"), "work_queue": None} for q in definition.queries]
    for queue in definition.work_queues:
        signals.append(
            {
                "name": work_queue_signal_name(queue.name),
                "description": None,
                "parameters": queue.work_item_schema,
                "work_queue": queue.name,
            }
        )
        queries.append(
            {
                "name": work_queue_query_name(queue.name),
                "description": None,
                "expression": None,
                "return_type": {"type": "array", "items": queue.work_item_schema or {}},
                "work_queue": queue.name,
            }
        )
    schedules = [s.model_dump(mode="json") for s in definition.schedules]
    return {
        "signals": sorted(signals, key=lambda s: str(s["name"])),
        "queries": sorted(queries, key=lambda q: str(q["name"])),
        "work_queues": sorted(
            (q.model_dump(mode="json") for q in definition.work_queues), key=lambda q: q["name"]
        ),
        "schedules": sorted(schedules, key=canonical_json),
        "child_workflows": sorted(
            (
                c.model_dump(mode="json", exclude_none=c.block_until is None)
                for c in definition.child_workflows
            ),
            key=lambda c: c["workflow"],
        ),
    }


def _resolve_retry(base: dict[str, Any], override: RetryPolicy | None) -> dict[str, Any]:
    """Return base with every field the override sets replaced."""
    if override is None:
        return dict(base)
    return {**base, **override.model_dump(exclude_none=True)}


def _plan_node(analysis: Analysis, node_id: str, retry: dict[str, Any]) -> dict[str, Any]:
    node = analysis.nodes[node_id]
    graph = analysis.graph
    assert graph is not None
    successors: dict[str, list[str]] = {outcome: [] for outcome in node_outcomes(node)}
    for edge in graph.out_edges[node_id]:
        successors.setdefault(str(edge_outcome(edge, node)), []).append(edge.target)
    planned: dict[str, Any] = {
        "id": node_id,
        "type": node.type,
        "scope": analysis.scopes.get(node_id),
        "incoming": [
            {"edge": e.id, "source": e.source, "outcome": edge_outcome(e, analysis.nodes[e.source])}
            for e in graph.in_edges[node_id]
        ],
        "successors": {k: sorted(v) for k, v in successors.items()},
        "config": _config(analysis, node),
    }
    if isinstance(node, ActivityNode | AgentNode):
        planned.update(_call(analysis, node, retry))
    elif isinstance(node, ChildWorkflowNode):
        planned["input"] = {"map": dict(node.input)} if node.input is not None else {"map": {}}
        planned["timeout_seconds"] = node.timeout_seconds
    if isinstance(node, ForEachNode | LoopNode):
        planned["body"] = _body(analysis, node)
    return planned


def _config(analysis: Analysis, node: Node) -> dict[str, Any]:
    if isinstance(node, ActivityNode | AgentNode):
        spec = analysis.components[node.id]
        return _with_schema_defaults(node.config, spec.config_schema)
    if isinstance(node, TriggerNode):
        return _trigger_config(node.config)
    if isinstance(node.config, dict):
        return dict(node.config)
    config: dict[str, Any] = node.config.model_dump(mode="json", by_alias=True)
    return config


def _trigger_config(config: TriggerConfig) -> dict[str, Any]:
    """Return a trigger's config; webhook settings (defaults filled) only on webhook triggers,
    so other triggers' plans, and their hashes, are as they were before webhooks existed."""
    planned: dict[str, Any] = config.model_dump(mode="json", exclude=set(WEBHOOK_SETTINGS))
    if config.kind == "webhook":
        planned |= {
            "path": config.path,
            "auth": config.auth or DEFAULT_WEBHOOK_AUTH,
            "secret": config.secret,
            "rate_limit_per_second": config.rate_limit_per_second or DEFAULT_WEBHOOK_RATE_LIMIT,
        }
    return planned


def _with_schema_defaults(config: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Return config with the top-level defaults its schema declares filled in."""
    properties = schema.get("properties")
    filled = dict(config)
    if isinstance(properties, dict):
        for name, prop in properties.items():
            if name not in filled and isinstance(prop, dict) and "default" in prop:
                filled[name] = prop["default"]
    return filled


def _call(
    analysis: Analysis, node: ActivityNode | AgentNode, retry: dict[str, Any]
) -> dict[str, Any]:
    spec = analysis.components[node.id]
    if node.input is not None:
        planned_input: dict[str, Any] = {"map": dict(node.input)}
    else:
        planned_input = {"from": analysis.default_inputs[node.id]}
    timeout = node.timeout_seconds
    settings = analysis.definition.settings if analysis.definition else None
    return {
        "component": spec.ref,
        "input": planned_input,
        "retry": _resolve_retry(retry, node.retry),
        "timeout_seconds": timeout or (settings.activity_timeout_seconds if settings else None),
    }


def _body(analysis: Analysis, node: ForEachNode | LoopNode) -> dict[str, Any]:
    """Return a loop's body: direct members in order, entry nodes, back edges, result."""
    graph = analysis.graph
    assert graph is not None
    members = [n for n in analysis.order if analysis.scopes.get(n) == node.id]
    back_edges = sorted(
        ({"edge": e.id, "source": e.source} for e in graph.back if e.target == node.id),
        key=lambda e: e["edge"],
    )
    entry = sorted(e.target for e in graph.out_edges[node.id] if e.source_handle == BODY)
    result = node.config.result
    if result is None and len(back_edges) == 1:
        result = f'nodes."{back_edges[0]["source"]}".output'
    return {"nodes": members, "entry": entry, "back_edges": back_edges, "result": result}
