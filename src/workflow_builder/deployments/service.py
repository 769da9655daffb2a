"""Compiling definitions into stored versions, activating them, deploying workflows.

Everything runs in the caller's session, so only a workflow's owner can compile, activate or
deploy it (row-level security on workflow_compiled_code and workflows decides).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflow_builder.activities.registry import pure_implementations
from workflow_builder.api.errors import (
    ProblemError,
    conflict,
    field_error,
    not_found,
    validation_problem,
)
from workflow_builder.compiler import (
    CompilationError,
    ValidationContext,
    compile_definition,
    validate,
    work_queue_query_name,
    work_queue_signal_name,
)
from workflow_builder.deployments.models import (
    DeploymentState,
    DeployResult,
    NodeTrialRequest,
    NodeTrialResult,
    VersionDetail,
    VersionRead,
)
from workflow_builder.runtime import service as runtime
from workflow_builder.runtime import trials
from workflow_builder.runtime.schedules import register_schedules, unregister_schedules
from workflow_builder.runtime.service import RUN_WORKFLOW
from workflow_builder.webhooks.service import forget_hooks
from workflow_builder.workflows.catalog import RegistryCatalog
from workflow_builder.workflows.models import Workflow
from workflow_builder.workflows.service import check_transition, get_workflow, status_id

_VERSION_COLUMNS = """id, workflow_id, version, content_hash, is_active, compiled_at, compiled_by,
  worker_code as interpreter, requirements, runtime_config, execution_count,
  avg_execution_duration_ms, last_executed_at"""


def _version(row: Any) -> VersionRead:
    return VersionRead.model_validate(dict(row._mapping))


def compile_problem(error: CompilationError) -> ProblemError:
    """Return the 422 problem listing every compiler error with its node, edge and pointer."""
    errors = [
        field_error(
            ["body", "definition", *[p for p in (problem.pointer or "").split("/") if p]],
            f"[{problem.code}] "
            + (f"node {problem.node_id}: " if problem.node_id else "")
            + (f"edge {problem.edge_id}: " if problem.edge_id else "")
            + problem.message,
        )
        for problem in error.result.errors
    ]
    problem = ProblemError(
        422,
        "compilation",
        "The workflow does not compile",
        f"{len(errors)} error(s) in the definition",
        errors=errors,
    )
    return problem


def compile_workflow(
    *, db_session: Session, workflow_id: UUID, user_id: UUID, activate: bool = True
) -> tuple[VersionRead, bool, list[dict[str, Any]]]:
    """Compile the workflow's definition; return its version (the existing one when nothing
    changed), whether it is new, and the warnings. A new version becomes the active one unless
    `activate` is false (a version for a test run of the draft)."""
    workflow = get_workflow(db_session=db_session, workflow_id=workflow_id)
    # One compile of a workflow at a time: two at once would both insert the same version.
    db_session.execute(
        text("select 1 from workflows where id = :w for no key update"), {"w": workflow_id}
    )
    known = frozenset(db_session.scalars(select(Workflow.kebab_name)))
    catalog = RegistryCatalog(db_session, user_id)
    context = ValidationContext(known_workflows=known)
    result = validate(workflow.definition, catalog, context)
    if not result.ok:
        raise compile_problem(CompilationError(result))
    plan = compile_definition(workflow.definition, catalog, context)
    warnings: list[dict[str, Any]] = result.to_dict()["warnings"]
    existing = db_session.execute(
        text(
            f"select {_VERSION_COLUMNS} from workflow_compiled_code "
            "where workflow_id = :w and content_hash = :h"
        ),
        {"w": workflow_id, "h": plan.content_hash},
    ).first()
    if existing is not None:
        return _version(existing), False, warnings
    code = plan.compiled_code()
    if activate:
        db_session.execute(
            text("update workflow_compiled_code set is_active = false where workflow_id = :w"),
            {"w": workflow_id},
        )
    row = db_session.execute(
        text(
            f"""insert into workflow_compiled_code (workflow_id, version, workflow_code,
                  activities_code, worker_code, requirements, runtime_config, compiled_by,
                  is_active, content_hash)
                values (:w, :version, :workflow_code, :activities_code, :worker_code,
                  :requirements, cast(:runtime_config as jsonb), :user, :active, :h)
                returning {_VERSION_COLUMNS}"""
        ),
        {
            "w": workflow_id,
            "version": workflow.version,
            "workflow_code": code["workflow_code"],
            "activities_code": code["activities_code"],
            "worker_code": code["worker_code"],
            "requirements": code["requirements"],
            "runtime_config": json.dumps(code["runtime_config"]),
            "user": user_id,
            "active": activate,
            "h": plan.content_hash,
        },
    ).one()
    return _version(row), True, warnings


def draft_hash(*, db_session: Session, workflow: Workflow, user_id: UUID) -> str | None:
    """Return the content hash the saved definition compiles to, or None when it does not."""
    known = frozenset(db_session.scalars(select(Workflow.kebab_name)))
    catalog = RegistryCatalog(db_session, user_id)
    context = ValidationContext(known_workflows=known)
    if not validate(workflow.definition, catalog, context).ok:
        return None
    return compile_definition(workflow.definition, catalog, context).content_hash


def deployment_state(*, db_session: Session, workflow_id: UUID, user_id: UUID) -> DeploymentState:
    """Return the deployed version and whether the saved draft differs from it."""
    workflow = get_workflow(db_session=db_session, workflow_id=workflow_id)
    draft = draft_hash(db_session=db_session, workflow=workflow, user_id=user_id)
    deployed = None
    if workflow.status in ("active", "paused"):
        row = db_session.execute(
            text(
                f"select {_VERSION_COLUMNS} from workflow_compiled_code "
                "where workflow_id = :w and is_active"
            ),
            {"w": workflow_id},
        ).first()
        deployed = _version(row) if row is not None else None
    return DeploymentState(
        workflow_id=workflow_id,
        status=workflow.status,
        deployed_version=deployed,
        draft_hash=draft,
        draft_compiles=draft is not None,
        changed=deployed is not None and deployed.content_hash != draft,
    )


def draft_plan(*, db_session: Session, workflow: Workflow, user_id: UUID) -> dict[str, Any]:
    """Return the plan the saved definition compiles to (422 listing its problems if none)."""
    known = frozenset(db_session.scalars(select(Workflow.kebab_name)))
    catalog = RegistryCatalog(db_session, user_id)
    context = ValidationContext(known_workflows=known)
    result = validate(workflow.definition, catalog, context)
    if not result.ok:
        raise compile_problem(CompilationError(result))
    return compile_definition(workflow.definition, catalog, context).data


def try_node(
    *,
    db_session: Session,
    workflow_id: UUID,
    node_id: str,
    user_id: UUID,
    sample: NodeTrialRequest,
) -> NodeTrialResult:
    """Call one activity or agent node of the saved draft once, with sample data (what the
    request leaves out comes from the definition's pinned data); record nothing."""
    workflow = get_workflow(db_session=db_session, workflow_id=workflow_id)
    plan = draft_plan(db_session=db_session, workflow=workflow, user_id=user_id)
    node = next((n for n in plan["nodes"] if n["id"] == node_id), None)
    if node is None:
        raise not_found(f"Node {node_id!r}")
    if node["type"] not in trials.CALL_NODE_TYPES:
        raise validation_problem(
            [
                field_error(
                    ["path", "node_id"],
                    f"Node {node_id!r} is a {node['type']} node; only activity and agent nodes "
                    "call a component that can be tried on its own",
                )
            ]
        )
    pinned: dict[str, Any] = workflow.definition.get("pinned_data") or {}
    entry = plan["entry"]
    data = trials.SampleData(
        input=sample.input if sample.input is not None else pinned.get(entry, {}),
        nodes={**{k: v for k, v in pinned.items() if k != entry}, **(sample.nodes or {})},
        vars=sample.vars
        if sample.vars is not None
        else {name: v.get("initial") for name, v in plan.get("variables", {}).items()},
    )
    queue = workflow.task_queue
    try:
        trial = trials.run_node(
            plan=plan,
            node_id=node_id,
            sample=data,
            workflow_id=str(workflow_id),
            project_id=str(workflow.project_id) if workflow.project_id else None,
            user_id=str(user_id),
            task_queue_name=queue.name,
            max_concurrent_activities=queue.max_concurrent_activities,
            pure_implementations=pure_implementations(),
        )
    except trials.TrialInputError as bad:
        index = next(
            i
            for i, n in enumerate(workflow.definition.get("nodes", []))
            if isinstance(n, dict) and n.get("id") == node_id
        )
        raise validation_problem(
            [
                field_error(
                    ["body", "definition", "nodes", index, *bad.field.split("/")],
                    f"node {node_id}: cannot evaluate {bad.message} against the sample data",
                )
            ]
        ) from None
    outcome = trial.outcome
    return NodeTrialResult(
        node_id=node_id,
        inputs=trial.inputs,
        ok=bool(outcome.get("ok")),
        output=outcome.get("output"),
        error=dict(outcome["error"]) if outcome.get("error") else None,
        duration_ms=trial.duration_ms,
    )


def list_versions(*, db_session: Session, workflow_id: UUID) -> list[VersionRead]:
    """Return the workflow's compiled versions, newest first."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    rows = db_session.execute(
        text(
            f"select {_VERSION_COLUMNS} from workflow_compiled_code where workflow_id = :w "
            "order by compiled_at desc, id"
        ),
        {"w": workflow_id},
    )
    return [_version(row) for row in rows]


def get_version(*, db_session: Session, workflow_id: UUID, version_id: UUID) -> VersionDetail:
    """Return one compiled version with its plan and pinned components."""
    row = db_session.execute(
        text(
            f"select {_VERSION_COLUMNS}, workflow_code, activities_code "
            "from workflow_compiled_code where workflow_id = :w and id = :v"
        ),
        {"w": workflow_id, "v": version_id},
    ).first()
    if row is None:
        raise not_found("Compiled version")
    values = dict(row._mapping)
    return VersionDetail.model_validate(
        {
            **values,
            "plan": json.loads(values.pop("workflow_code")),
            "components": json.loads(values.pop("activities_code") or "[]"),
        }
    )


def activate_version(*, db_session: Session, workflow_id: UUID, version_id: UUID) -> VersionRead:
    """Make a compiled version the one new runs use (a rollback when it is an older one)."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    exists = db_session.execute(
        text("select 1 from workflow_compiled_code where workflow_id = :w and id = :v"),
        {"w": workflow_id, "v": version_id},
    ).first()
    if exists is None:
        raise not_found("Compiled version")
    db_session.execute(
        text(
            "update workflow_compiled_code set is_active = false where workflow_id = :w "
            "and is_active and id <> :v"
        ),
        {"w": workflow_id, "v": version_id},
    )
    row = db_session.execute(
        text(
            f"update workflow_compiled_code set is_active = true where id = :v "
            f"returning {_VERSION_COLUMNS}"
        ),
        {"v": version_id},
    ).one()
    return _version(row)


def _sync_declared_schedules(
    db_session: Session, workflow_id: UUID, user_id: UUID, plan: dict[str, Any]
) -> None:
    """Give every schedule the definition declares (and a schedule trigger) its row."""
    declared = [
        (
            s["cron"],
            s.get("timezone") or "UTC",
            s.get("start_immediately", False),
            s.get("max_runs"),
        )
        for s in plan.get("schedules", [])
    ]
    for node in plan["nodes"]:
        config = node.get("config") or {}
        if node["type"] == "trigger" and config.get("kind") == "schedule" and config.get("cron"):
            declared.append((config["cron"], config.get("timezone") or "UTC", False, None))
    for cron, timezone, immediately, max_runs in declared:
        db_session.execute(
            text(
                """insert into workflow_scheduled_workflows (workflow_id, cron_expression, timezone,
                     start_immediately, max_runs, created_by)
                   select :w, cast(:cron as varchar), cast(:tz as varchar), :now, :max, :u
                   where not exists (select 1 from workflow_scheduled_workflows
                                     where workflow_id = :w
                                       and cron_expression = cast(:cron as varchar)
                                       and timezone = cast(:tz as varchar))"""
            ),
            {
                "w": workflow_id,
                "cron": cron,
                "tz": timezone,
                "now": immediately,
                "max": max_runs,
                "u": user_id,
            },
        )


def _sync_declarations(
    db_session: Session, workflow_id: UUID, user_id: UUID, plan: dict[str, Any]
) -> None:
    """Give the signals, queries and work queues the definition declares their rows (the
    definition is what runs; rows added through the API for undeclared names are kept)."""
    params = {"w": workflow_id, "u": user_id}
    for queue in plan.get("work_queues", []):
        db_session.execute(
            text(
                """insert into workflow_work_queues (workflow_id, queue_name, description,
                     signal_name, query_name, max_size, priority, deduplicate, work_item_schema,
                     created_by)
                   values (:w, :name, :description, :signal, :query, :max_size, :priority,
                     :dedupe, cast(:schema as jsonb), :u)
                   on conflict (workflow_id, queue_name) do update set
                     max_size = excluded.max_size, priority = excluded.priority,
                     deduplicate = excluded.deduplicate,
                     work_item_schema = excluded.work_item_schema"""
            ),
            {
                **params,
                "name": queue["name"],
                "description": queue.get("description"),
                "signal": work_queue_signal_name(queue["name"]),
                "query": work_queue_query_name(queue["name"]),
                "max_size": queue.get("max_size"),
                "priority": queue.get("priority", "fifo"),
                "dedupe": queue.get("deduplicate", False),
                "schema": json.dumps(queue.get("work_item_schema")),
            },
        )
    handlers = (
        ("workflow_signals", "signal_name", "parameters", plan.get("signals", [])),
        ("workflow_queries", "query_name", "return_type", plan.get("queries", [])),
    )
    for table, name_column, schema_column, declared in handlers:
        for item in declared:
            db_session.execute(
                text(
                    f"""insert into {table} (workflow_id, {name_column}, description,
                          {schema_column}, auto_generated, work_queue_id, created_by)
                        values (:w, :name, :description, cast(:schema as jsonb), :auto,
                          (select id from workflow_work_queues
                           where workflow_id = :w and queue_name = :q), :u)
                        on conflict (workflow_id, {name_column}) do update set
                          {schema_column} = excluded.{schema_column},
                          description = excluded.description"""
                ),
                {
                    **params,
                    "name": item["name"],
                    "description": item.get("description"),
                    "schema": json.dumps(item.get(schema_column) or {}),
                    "auto": bool(item.get("work_queue")),
                    "q": item.get("work_queue"),
                },
            )


def _sync_child_declarations(
    db_session: Session, workflow_id: UUID, user_id: UUID, plan: dict[str, Any]
) -> None:
    """Give each child workflow the definition declares its row (rows already there, with
    their permissions set through the API, are kept as they are; a `block_until` the
    definition declares replaces theirs)."""
    for child in plan.get("child_workflows", []):
        block_until = json.dumps(child["block_until"]) if child.get("block_until") else None
        db_session.execute(
            text(
                """insert into workflow_child_workflows (parent_workflow_id, child_workflow_id,
                     child_workflow_name, parent_close_policy, can_signal_parent,
                     can_query_parent, block_until, created_by)
                   select :w, (select id from workflows where kebab_name = :name), :name,
                     :policy, :signal, :query, cast(:block as jsonb), :u
                   where not exists (
                     select 1 from workflow_child_workflows
                     where parent_workflow_id = :w and child_workflow_name = :name)"""
            ),
            {
                "w": workflow_id,
                "u": user_id,
                "name": child["workflow"],
                "policy": child.get("parent_close_policy", "terminate"),
                "signal": child.get("can_signal_parent", False),
                "query": child.get("can_query_parent", False),
                "block": block_until,
            },
        )
        if block_until is not None:
            db_session.execute(
                text(
                    """update workflow_child_workflows set block_until = cast(:block as jsonb)
                       where parent_workflow_id = :w and child_workflow_name = :name"""
                ),
                {"w": workflow_id, "name": child["workflow"], "block": block_until},
            )


def _trigger(workflow: Workflow, plan: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Return the trigger's index in the saved definition and its planned config."""
    config: dict[str, Any] = next(n["config"] for n in plan["nodes"] if n["type"] == "trigger")
    nodes = workflow.definition.get("nodes", [])
    index = next(
        (i for i, n in enumerate(nodes) if isinstance(n, dict) and n.get("type") == "trigger"), 0
    )
    return index, config


def _forget_hooks_on_commit(db_session: Session) -> None:
    """Clear this process's webhook lookups once the transaction commits."""
    event.listen(db_session, "after_commit", lambda _session: forget_hooks(), once=True)


def _sync_webhook(db_session: Session, workflow: Workflow, plan: dict[str, Any]) -> str | None:
    """Give a webhook trigger its active webhook_triggers row (path, auth, secret, rate limit);
    remove the row when the trigger is not a webhook. Return the path, if any."""
    _forget_hooks_on_commit(db_session)
    index, config = _trigger(workflow, plan)
    if config.get("kind") != "webhook":
        db_session.execute(
            text("delete from webhook_triggers where workflow_id = :w"), {"w": workflow.id}
        )
        return None
    path = config.get("path") or workflow.kebab_name
    secret = config.get("secret")
    if config.get("auth") == "hmac":
        _check_webhook_secret(db_session, workflow, index, secret)
    try:
        with db_session.begin_nested():
            db_session.execute(
                text(
                    """insert into webhook_triggers (workflow_id, path, auth, secret_name,
                         rate_limit_per_second, is_active)
                       values (:w, :path, :auth, :secret, :rate, true)
                       on conflict (workflow_id) do update set path = excluded.path,
                         auth = excluded.auth, secret_name = excluded.secret_name,
                         rate_limit_per_second = excluded.rate_limit_per_second,
                         is_active = true"""
                ),
                {
                    "w": workflow.id,
                    "path": path,
                    "auth": config.get("auth") or "api_key",
                    "secret": secret,
                    "rate": config.get("rate_limit_per_second") or 100,
                },
            )
    except IntegrityError as exc:
        if "webhook_triggers_path_key" not in str(exc.orig):
            raise
        raise conflict(
            f"The webhook path {path!r} is taken by another workflow; set another "
            f"config.path on the trigger (/definition/nodes/{index}/config/path)"
        ) from None
    return str(path)


def _check_webhook_secret(
    db_session: Session, workflow: Workflow, index: int, secret: str | None
) -> None:
    """Refuse an hmac webhook whose secret is not a secret of the workflow's project."""
    where: list[str | int] = ["body", "definition", "nodes", index, "config", "secret"]
    if workflow.project_id is None:
        raise validation_problem(
            [
                field_error(
                    where,
                    "An hmac webhook signs with a project secret: put the workflow in a "
                    "project that has the secret, or use auth 'api_key'",
                )
            ]
        )
    exists = db_session.execute(
        text(
            "select 1 from project_secrets where project_id = :p and name = :n and kind = 'secret'"
        ),
        {"p": workflow.project_id, "n": secret},
    ).first()
    if exists is None:
        raise validation_problem(
            [
                field_error(
                    where,
                    f"The project has no secret named {secret!r}; create it (PUT "
                    f"/api/v1/projects/{workflow.project_id}/secrets/{secret}) and deploy again",
                )
            ]
        )


def deploy(*, db_session: Session, workflow_id: UUID, user_id: UUID) -> DeployResult:
    """Compile if needed, activate that version, set the workflow active, and start serving it:
    its task queue's engine queues and its cron schedules."""
    workflow = get_workflow(db_session=db_session, workflow_id=workflow_id)
    check_transition(workflow.status, "active")
    version, _, _ = compile_workflow(
        db_session=db_session, workflow_id=workflow_id, user_id=user_id
    )
    if not version.is_active:
        version = activate_version(
            db_session=db_session, workflow_id=workflow_id, version_id=version.id
        )
    deployed_at = datetime.now(UTC)
    db_session.execute(
        text(
            """update workflows set status_id = :s, deployed_at = :at, engine_workflow_id = :id,
                 engine_workflow_type = :type where id = :w"""
        ),
        {
            "s": status_id(db_session, "active"),
            "at": deployed_at,
            "w": workflow_id,
            "id": f"wfb:{workflow.kebab_name}",
            "type": RUN_WORKFLOW,
        },
    )
    plan = get_version(db_session=db_session, workflow_id=workflow_id, version_id=version.id).plan
    _sync_declared_schedules(db_session, workflow_id, user_id, plan)
    _sync_declarations(db_session, workflow_id, user_id, plan)
    _sync_child_declarations(db_session, workflow_id, user_id, plan)
    webhook_path = _sync_webhook(db_session, workflow, plan)
    queue = workflow.task_queue
    runtime.ensure_queues(queue.name, queue.max_concurrent_workflows)
    schedules = register_schedules(db_session, workflow_id=workflow_id, queue_name=queue.name)
    return DeployResult(
        workflow_id=workflow_id,
        status="active",
        deployed_at=deployed_at,
        engine_workflow_id=f"wfb:{workflow.kebab_name}",
        engine_workflow_type=RUN_WORKFLOW,
        task_queue=queue.name,
        version=version,
        schedules=schedules,
        webhook_path=webhook_path,
    )


def undeploy(*, db_session: Session, workflow_id: UUID) -> DeployResult:
    """Stop serving a workflow: back to draft, schedules removed; runs in flight finish on the
    version they started with."""
    workflow = get_workflow(db_session=db_session, workflow_id=workflow_id)
    if workflow.status not in ("active", "paused"):
        raise conflict(f"A {workflow.status} workflow is not deployed")
    unregister_schedules(db_session, workflow_id=workflow_id)
    _forget_hooks_on_commit(db_session)
    db_session.execute(
        text("update webhook_triggers set is_active = false where workflow_id = :w"),
        {"w": workflow_id},
    )
    db_session.execute(
        text("update workflows set status_id = :s, deployed_at = null where id = :w"),
        {"s": status_id(db_session, "draft"), "w": workflow_id},
    )
    return DeployResult(
        workflow_id=workflow_id,
        status="draft",
        deployed_at=None,
        engine_workflow_id=workflow.engine_workflow_id,
        engine_workflow_type=workflow.engine_workflow_type,
        task_queue=workflow.task_queue.name,
        version=None,
        schedules=0,
    )
