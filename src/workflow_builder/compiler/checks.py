"""Checks of declarations and of each node on its own (components, config, names), and warnings."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from jsonschema import Draft202012Validator

from workflow_builder.compiler.analysis import Analysis, ValidationContext
from workflow_builder.compiler.catalog import ComponentCatalog, ComponentSpec
from workflow_builder.compiler.definition import (
    WEBHOOK_PATH_MAX_LENGTH,
    WEBHOOK_PATH_PATTERN,
    WEBHOOK_SETTINGS,
    ActivityNode,
    AgentNode,
    ChildWorkflowNode,
    ConditionNode,
    DelayNode,
    EndNode,
    LoopNode,
    Node,
    SetVariableNode,
    SwitchNode,
    TriggerNode,
    WaitForSignalNode,
    WorkflowDefinition,
    WorkQueueNode,
    work_queue_query_name,
    work_queue_signal_name,
)
from workflow_builder.compiler.problems import Problems, plain_config_error, pointer, shorten
from workflow_builder.compiler.schemas import (
    schema_issues,
    schema_problem,
    schema_validator,
)
from workflow_builder.compiler.structure import (
    edge_outcome,
    node_outcomes,
)

# -- declarations ----------------------------------------------------------------------------


def check_declarations(analysis: Analysis, definition: WorkflowDefinition) -> None:
    """Record problems with names, schedules, variables and declared schemas."""
    problems = analysis.problems
    _check_names(problems, definition)
    for i, schedule in enumerate(definition.schedules):
        _check_cron(problems, schedule.cron, pointer("schedules", i, "cron"), None)
        _check_timezone(problems, schedule.timezone, pointer("schedules", i, "timezone"), None)
    for name, variable in definition.variables.items():
        where = pointer("variables", name)
        if variable.schema_ is not None and _check_schema(
            problems, variable.schema_, f"{where}/schema", None
        ):
            errors = list(schema_validator(variable.schema_).iter_errors(variable.initial))
            if errors:
                problems.error(
                    "invalid_variable_initial",
                    f"Initial value of {name!r} does not match its schema: {errors[0].message}.",
                    f"{where}/initial",
                )
    for i, signal in enumerate(definition.signals):
        if signal.parameters is not None:
            _check_schema(problems, signal.parameters, pointer("signals", i, "parameters"), None)
    for i, query in enumerate(definition.queries):
        if query.return_type is not None:
            _check_schema(problems, query.return_type, pointer("queries", i, "return_type"), None)
    for i, queue in enumerate(definition.work_queues):
        if queue.work_item_schema is not None:
            where = pointer("work_queues", i, "work_item_schema")
            _check_schema(problems, queue.work_item_schema, where, None)


def _check_names(problems: Problems, definition: WorkflowDefinition) -> None:
    """Check that signal, query and work-queue names (including generated ones) are unique."""
    signals: dict[str, str] = {}
    queries: dict[str, str] = {}
    queues: dict[str, str] = {}
    for i, queue in enumerate(definition.work_queues):
        where = pointer("work_queues", i, "name")
        _claim(problems, queues, queue.name, where, "work queue")
        _claim(problems, signals, work_queue_signal_name(queue.name), where, "signal")
        _claim(problems, queries, work_queue_query_name(queue.name), where, "query")
    for i, signal in enumerate(definition.signals):
        _claim(problems, signals, signal.name, pointer("signals", i, "name"), "signal")
    for i, query in enumerate(definition.queries):
        _claim(problems, queries, query.name, pointer("queries", i, "name"), "query")


def _claim(problems: Problems, taken: dict[str, str], name: str, where: str, kind: str) -> None:
    if name in taken:
        problems.error(
            "name_collision",
            f"The {kind} name {name!r} is already used at {taken[name]}; expected a unique name "
            "(work queue <q> also takes signal <q>_add and query <q>_items).",
            where,
        )
    else:
        taken[name] = where


def _check_cron(problems: Problems, cron: str, where: str, node_id: str | None) -> None:
    if not croniter.is_valid(cron, second_at_beginning=True):
        problems.error(
            "invalid_cron",
            f"{cron!r} is not a cron expression; expected five fields (or six, seconds first), "
            "e.g. '0 9 * * MON-FRI'.",
            where,
            node_id=node_id,
        )


# The longest IANA name has 32 characters; schedules store the name in a varchar(50).
MAX_TIME_ZONE_LENGTH = 50


def is_time_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows (without ever opening a file
    named after a long or odd string)."""
    if len(name) > MAX_TIME_ZONE_LENGTH:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _check_timezone(problems: Problems, name: str, where: str, node_id: str | None) -> None:
    if not is_time_zone(name):
        problems.error(
            "invalid_timezone",
            f"{shorten(name)!r} is not an IANA time zone; expected a name like 'Europe/Paris' "
            "or 'UTC'.",
            where,
            node_id=node_id,
        )


def _check_schema(problems: Problems, schema: Any, where: str, node_id: str | None) -> bool:
    """Record an error for each reason the value cannot be used as a JSON Schema (invalid,
    a pattern RE2 cannot run, a reference that resolves nowhere); return whether it can."""
    issues = schema_issues(schema)
    for issue in issues:
        problems.error(
            "invalid_json_schema",
            f"The JSON Schema cannot be used: {issue.message}.",
            where + issue.pointer,
            node_id=node_id,
        )
    return not issues


# -- per-node checks -------------------------------------------------------------------------


def check_node(
    analysis: Analysis,
    definition: WorkflowDefinition,
    node: Node,
    catalog: ComponentCatalog,
    context: ValidationContext,
) -> None:
    """Record problems of one node taken on its own (component, config, names it uses)."""
    where = analysis.node_pointer(node.id)
    if isinstance(node, TriggerNode):
        _check_trigger(analysis, definition, node, where)
    elif isinstance(node, ActivityNode | AgentNode):
        _check_component(analysis, node, catalog, where)
    elif isinstance(node, SwitchNode):
        _check_cases(analysis.problems, node, where)
    elif isinstance(node, LoopNode):
        _check_loop_bound(analysis.problems, node, where)
    elif isinstance(node, DelayNode):
        _check_delay(analysis.problems, node, where)
    elif isinstance(node, WaitForSignalNode):
        _check_signal_declared(analysis, definition, node.config.signal, where, node.id)
    elif isinstance(node, WorkQueueNode):
        _check_queue_declared(analysis.problems, definition, node, where)
    elif isinstance(node, SetVariableNode):
        _check_variable_declared(analysis.problems, definition, node, where)
    elif isinstance(node, ChildWorkflowNode):
        _check_child(analysis, definition, node, context, where)


def _check_cases(problems: Problems, node: SwitchNode, where: str) -> None:
    names = [case.name for case in node.config.cases]
    for i, name in enumerate(names):
        if name == "default" or name in names[:i]:
            problems.error(
                "duplicate_case",
                f"Case name {name!r} is taken; expected unique names other than 'default'.",
                f"{where}/config/cases/{i}/name",
                node_id=node.id,
            )


def _check_loop_bound(problems: Problems, node: LoopNode, where: str) -> None:
    if node.config.max_iterations is None:
        problems.error(
            "loop_missing_max_iterations",
            f"Loop {node.id!r} needs config.max_iterations (a positive integer) to bound it.",
            f"{where}/config/max_iterations",
            node_id=node.id,
        )


def _check_delay(problems: Problems, node: DelayNode, where: str) -> None:
    if (node.config.seconds is None) == (node.config.until is None):
        problems.error(
            "invalid_delay",
            f"Delay {node.id!r} needs exactly one of config.seconds and config.until.",
            f"{where}/config",
            node_id=node.id,
        )


def _check_queue_declared(
    problems: Problems, definition: WorkflowDefinition, node: WorkQueueNode, where: str
) -> None:
    if node.config.queue not in {q.name for q in definition.work_queues}:
        problems.error(
            "unknown_work_queue",
            f"Work queue {node.config.queue!r} is not declared in work_queues.",
            f"{where}/config/queue",
            node_id=node.id,
        )


def _check_variable_declared(
    problems: Problems, definition: WorkflowDefinition, node: SetVariableNode, where: str
) -> None:
    if node.config.variable not in definition.variables:
        problems.error(
            "unknown_variable",
            f"Variable {node.config.variable!r} is not declared in variables.",
            f"{where}/config/variable",
            node_id=node.id,
        )


def _check_trigger(
    analysis: Analysis, definition: WorkflowDefinition, node: TriggerNode, where: str
) -> None:
    problems, config = analysis.problems, node.config
    _check_schema(problems, config.input_schema, f"{where}/config/input_schema", node.id)
    if config.kind == "schedule":
        if config.cron is None:
            problems.error(
                "incomplete_trigger",
                "A schedule trigger needs config.cron.",
                f"{where}/config/cron",
                node_id=node.id,
            )
        else:
            _check_cron(problems, config.cron, f"{where}/config/cron", node.id)
        _check_timezone(problems, config.timezone, f"{where}/config/timezone", node.id)
    if config.kind == "signal":
        if config.signal is None:
            problems.error(
                "incomplete_trigger",
                "A signal trigger needs config.signal.",
                f"{where}/config/signal",
                node_id=node.id,
            )
        else:
            _check_signal_declared(analysis, definition, config.signal, where, node.id)
    _check_webhook(problems, node, where)


_WEBHOOK_PATH = re.compile(WEBHOOK_PATH_PATTERN)


def _check_webhook(problems: Problems, node: TriggerNode, where: str) -> None:
    """Check a webhook trigger's settings, and that other triggers carry none."""
    config = node.config
    if config.kind != "webhook":
        for name in WEBHOOK_SETTINGS:
            if getattr(config, name) is not None:
                problems.error(
                    "unexpected_webhook_setting",
                    f"config.{name} applies to webhook triggers only; this trigger is "
                    f"{config.kind!r}: remove it or set kind to 'webhook'.",
                    f"{where}/config/{name}",
                    node_id=node.id,
                )
        return
    path = config.path
    if path is not None and (
        len(path) > WEBHOOK_PATH_MAX_LENGTH or not _WEBHOOK_PATH.fullmatch(path)
    ):
        problems.error(
            "invalid_webhook_path",
            f"Webhook path {path!r} is not valid; expected at most {WEBHOOK_PATH_MAX_LENGTH} "
            "characters of lowercase segments (a-z, 0-9, _ and -) joined by '/', starting with "
            "a letter or digit, e.g. 'orders/created'.",
            f"{where}/config/path",
            node_id=node.id,
        )
    if config.auth == "hmac" and config.secret is None:
        problems.error(
            "incomplete_trigger",
            "A webhook trigger with auth 'hmac' needs config.secret, the name of the project "
            "secret its callers sign with.",
            f"{where}/config/secret",
            node_id=node.id,
        )
    if config.auth != "hmac" and config.secret is not None:
        problems.error(
            "unexpected_webhook_setting",
            "config.secret is only used by webhooks with auth 'hmac'; this one authenticates "
            "callers by API key: remove the secret or set auth to 'hmac'.",
            f"{where}/config/secret",
            node_id=node.id,
        )


def _check_signal_declared(
    analysis: Analysis, definition: WorkflowDefinition, signal: str, where: str, node_id: str
) -> None:
    declared = {s.name for s in definition.signals}
    if signal not in declared:
        analysis.problems.error(
            "undeclared_signal",
            f"Signal {signal!r} is not declared; expected one of: "
            f"{', '.join(sorted(declared)) or '(no signals declared)'}.",
            f"{where}/config/signal",
            node_id=node_id,
        )


def _check_child(
    analysis: Analysis,
    definition: WorkflowDefinition,
    node: ChildWorkflowNode,
    context: ValidationContext,
    where: str,
) -> None:
    name = node.config.workflow
    known = context.known_workflows
    if known is not None and name not in known:
        analysis.problems.error(
            "unknown_child_workflow",
            f"No workflow named {name!r} is available to start as a child.",
            f"{where}/config/workflow",
            node_id=node.id,
        )
    if name not in {c.workflow for c in definition.child_workflows}:
        analysis.problems.warning(
            "undeclared_child_workflow",
            f"Child workflow {name!r} is not declared in child_workflows.",
            f"{where}/config/workflow",
            node_id=node.id,
        )


def _check_component(
    analysis: Analysis, node: ActivityNode | AgentNode, catalog: ComponentCatalog, where: str
) -> None:
    problems, ref = analysis.problems, node.component
    spec = catalog.resolve(ref.name, ref.version)
    if spec is None:
        versions = list(catalog.versions(ref.name))
        if versions:
            problems.error(
                "unknown_component_version",
                f"Component {ref.name!r} has no version {ref.version!r}; "
                f"available: {', '.join(versions)}.",
                f"{where}/component/version",
                node_id=node.id,
            )
        else:
            problems.error(
                "unknown_component",
                f"No component named {ref.name!r} in the catalog.",
                f"{where}/component/name",
                node_id=node.id,
            )
        return
    analysis.components[node.id] = spec
    if spec.type != node.type:
        problems.error(
            "component_type_mismatch",
            f"Component {spec.ref} is an {spec.type}; a {node.type} node needs a {node.type}.",
            f"{where}/component",
            node_id=node.id,
        )
    if spec.deprecated:
        problems.warning(
            "deprecated_component",
            f"Component {spec.ref} is deprecated; move to a newer version.",
            f"{where}/component",
            node_id=node.id,
        )
    validator = _config_validator(spec)
    if validator is None:
        problems.error(
            "invalid_json_schema",
            f"The config_schema of component {spec.ref} is not a valid JSON Schema "
            f"(Draft 2020-12): {schema_problem(spec.config_schema)}; fix the component.",
            f"{where}/component",
            node_id=node.id,
        )
        return
    for error in validator.iter_errors(node.config):
        path = "".join(pointer(p) for p in error.absolute_path)
        problems.error(
            "invalid_config",
            f"{node.id}: {plain_config_error(error)}.",
            f"{where}/config{path}",
            node_id=node.id,
        )


_validators: dict[str, Draft202012Validator] = {}


def _config_validator(spec: ComponentSpec) -> Draft202012Validator | None:
    """Return a (cached) validator of a component's config, or None if its schema is invalid."""
    cached = _validators.get(spec.id)
    if cached is not None and cached.schema == spec.config_schema:
        return cached
    if schema_problem(spec.config_schema) is not None:
        return None
    validator = schema_validator(spec.config_schema)
    _validators[spec.id] = validator
    return validator


# -- warnings --------------------------------------------------------------------------------


def check_warnings(analysis: Analysis, definition: WorkflowDefinition) -> None:
    """Record warnings: unwired condition and switch handles, no end node."""
    graph = analysis.graph
    if graph is None:
        return
    for node_id, node in analysis.nodes.items():
        if node_id in analysis.opaque_nodes:
            continue
        wired = {edge_outcome(e, node) for e in graph.out_edges[node_id]}
        wired |= {edge_outcome(e, node) for e in graph.back if e.source == node_id}
        if isinstance(node, ConditionNode):
            for outcome in ("true", "false"):
                if outcome not in wired:
                    analysis.problems.warning(
                        "condition_outcome_unwired",
                        f"Condition {node_id!r} has no edge from its {outcome!r} handle; that "
                        "branch ends there.",
                        analysis.node_pointer(node_id),
                        node_id=node_id,
                    )
        elif isinstance(node, SwitchNode):
            for outcome in node_outcomes(node):
                if outcome not in wired:
                    analysis.problems.warning(
                        "switch_case_unwired",
                        f"Switch {node_id!r} has no edge from its {outcome!r} handle.",
                        analysis.node_pointer(node_id),
                        node_id=node_id,
                    )
    if analysis.nodes and not any(isinstance(n, EndNode) for n in analysis.nodes.values()):
        analysis.problems.warning(
            "no_end_node",
            "No end node: runs complete with a null output when every branch is done.",
            "/nodes",
        )
