"""Workflow services: the workflow itself, its lifecycle, its nodes and edges, and the
signals, queries, work queues, schedules and child workflows declared on it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from croniter import croniter
from sqlalchemy import Select, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from workflow_builder.api.crud import (
    apply_changes,
    delete_visible,
    get_or_404,
    lock_or_404,
    save,
)
from workflow_builder.api.errors import (
    ProblemError,
    conflict,
    invalid,
)
from workflow_builder.api.pagination import ItemT, Page, PageParams, paginate
from workflow_builder.compiler import (
    ValidationContext,
    validate,
    work_queue_query_name,
    work_queue_signal_name,
)
from workflow_builder.compiler.checks import is_time_zone
from workflow_builder.components.models import (
    ComponentVisibility,
    WorkflowStatus,
)
from workflow_builder.components.service import check_json_schema, visibility_id
from workflow_builder.projects.models import Project, TaskQueue
from workflow_builder.workflows.catalog import RegistryCatalog
from workflow_builder.workflows.definition import EdgeSpec, NodeSpec, extract
from workflow_builder.workflows.models import (
    ChildWorkflow,
    ChildWorkflowCreate,
    ChildWorkflowRead,
    ChildWorkflowUpdate,
    EdgeRead,
    NodeRead,
    Query,
    QueryCreate,
    QueryRead,
    QueryUpdate,
    Schedule,
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
    Signal,
    SignalCreate,
    SignalRead,
    SignalUpdate,
    ValidationReport,
    Workflow,
    WorkflowCreate,
    WorkflowEdge,
    WorkflowNode,
    WorkflowSummary,
    WorkflowUpdate,
    WorkQueue,
    WorkQueueCreate,
    WorkQueueRead,
    WorkQueueUpdate,
)

DEFAULT_TASK_QUEUE = "default"

# The lifecycle: a draft is deployed (active), an active workflow may be paused and resumed,
# and any of them retired (archived). An archived workflow comes back only as a draft, so it is
# reviewed and deployed again rather than silently resuming its schedules.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"active", "archived"}),
    "active": frozenset({"paused", "archived"}),
    "paused": frozenset({"active", "archived"}),
    "archived": frozenset({"draft"}),
}

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


def status_id(db_session: Session, name: str) -> UUID:
    """Return the id of the workflow status called `name`."""
    return db_session.execute(
        select(WorkflowStatus.id).where(WorkflowStatus.name == name)
    ).scalar_one()


def _task_queue_id(
    db_session: Session, *, task_queue_id: UUID | None, project_id: UUID | None
) -> UUID:
    """Return the queue to run on: the given one, else the project's, else 'default'.

    Every queue is readable (workers and the canvas list them), but a workflow may only be
    put on a system queue or on one its owner created: another user's queue is served by
    that user's workers.
    """
    if task_queue_id is not None:
        queue = db_session.get(TaskQueue, task_queue_id)
        if queue is None:
            raise invalid("task_queue_id", "no such task queue")
        if not queue.is_system_queue and queue.created_by != _current_user_id(db_session):
            raise invalid("task_queue_id", "use a system task queue or one of your own")
        return task_queue_id
    if project_id is not None:
        queue_name = db_session.execute(
            select(Project.task_queue_name).where(Project.id == project_id)
        ).scalar_one()
    else:
        queue_name = DEFAULT_TASK_QUEUE
    found = db_session.execute(
        select(TaskQueue.id).where(TaskQueue.name == queue_name)
    ).scalar_one_or_none()
    if found is None:
        raise invalid("task_queue_id", f"the task queue {queue_name!r} does not exist")
    return found


def _current_user_id(db_session: Session) -> UUID | None:
    """The user the transaction runs as (`auth.uid()`)."""
    user_id: UUID | None = db_session.execute(select(func.auth.uid())).scalar_one()
    return user_id


def _check_project(db_session: Session, project_id: UUID | None) -> None:
    if project_id is not None and db_session.get(Project, project_id) is None:
        raise invalid("project_id", "no such project among yours")


def check_transition(current: str, target: str) -> None:
    """Raise 409 unless a workflow may move from `current` to `target`."""
    if target != current and target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        raise conflict(f"A {current} workflow cannot become {target}; allowed: {allowed}")


def bumped(version: str, part: str) -> str:
    """Return `version` with its major, minor or patch number increased (pre-release dropped)."""
    match = _SEMVER.match(version)
    if match is None:
        raise conflict(f"The version {version!r} is not a semantic version")
    major, minor, patch = (int(number) for number in match.groups())
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def get_workflow(*, db_session: Session, workflow_id: UUID) -> Workflow:
    """Return a workflow the caller can see."""
    return get_or_404(db_session, Workflow, workflow_id, "Workflow")


def list_workflows(
    *,
    db_session: Session,
    params: PageParams,
    status: str | None = None,
    visibility: str | None = None,
    project_id: UUID | None = None,
    task_queue_id: UUID | None = None,
    created_by: UUID | None = None,
    kebab_name: str | None = None,
    organization_id: UUID | None = None,
    q: str | None = None,
) -> Page[WorkflowSummary]:
    """Return a page of the workflows the caller can see, filtered."""
    statement: Select[Any] = select(Workflow)
    if status is not None:
        statement = statement.where(
            Workflow.status_id.in_(select(WorkflowStatus.id).where(WorkflowStatus.name == status))
        )
    if visibility is not None:
        statement = statement.where(
            Workflow.visibility_id.in_(
                select(ComponentVisibility.id).where(ComponentVisibility.name == visibility)
            )
        )
    for column, value in (
        (Workflow.project_id, project_id),
        (Workflow.task_queue_id, task_queue_id),
        (Workflow.created_by, created_by),
        (Workflow.kebab_name, kebab_name),
        (Workflow.organization_id, organization_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if q:
        pattern = f"%{q}%"
        statement = statement.where(
            or_(
                Workflow.name.ilike(pattern),
                Workflow.display_name.ilike(pattern),
                Workflow.kebab_name.ilike(pattern),
                Workflow.description.ilike(pattern),
            )
        )
    return paginate(
        db_session,
        statement,
        params,
        sortable={
            "created_at": Workflow.created_at,
            "updated_at": Workflow.updated_at,
            "name": Workflow.name,
            "kebab_name": Workflow.kebab_name,
            "version": Workflow.version,
            "deployed_at": Workflow.deployed_at,
        },
        default_sort="-updated_at",
        tiebreaker=Workflow.id,
        read=WorkflowSummary.model_validate,
    )


def _component_ids(db_session: Session, nodes: list[NodeSpec]) -> dict[int, UUID]:
    """Resolve each node's component (by name, and version when given, else the latest) among
    the components the caller can see, as the compiler does.

    A component that cannot be resolved leaves the node's component_id empty rather than
    refusing the save: autosave must never lose work, and `POST /workflows/{id}/validate`
    reports the unknown component.
    """
    catalog = RegistryCatalog(db_session, _current_user_id(db_session))
    resolved: dict[int, UUID] = {}
    for node in nodes:
        if node.component_name is not None:
            component = catalog.component(node.component_name, node.component_version)
            if component is not None:
                resolved[node.index] = component.id
    return resolved


def sync_graph(
    db_session: Session, *, workflow_id: UUID, nodes: list[NodeSpec], edges: list[EdgeSpec]
) -> None:
    """Replace the workflow's node and edge rows with those of its definition."""
    components = _component_ids(db_session, nodes)
    db_session.execute(delete(WorkflowNode).where(WorkflowNode.workflow_id == workflow_id))
    db_session.execute(delete(WorkflowEdge).where(WorkflowEdge.workflow_id == workflow_id))
    if nodes:
        db_session.execute(
            insert(WorkflowNode),
            [
                {
                    "workflow_id": workflow_id,
                    "node_id": node.node_id,
                    "node_type": node.node_type,
                    "component_id": components.get(node.index),
                    "config": node.config,
                    "position": node.position,
                }
                for node in nodes
            ],
        )
    if edges:
        db_session.execute(
            insert(WorkflowEdge),
            [
                {
                    "workflow_id": workflow_id,
                    "edge_id": edge.edge_id,
                    "source_node_id": edge.source,
                    "target_node_id": edge.target,
                    "label": edge.label,
                    "config": edge.config,
                }
                for edge in edges
            ],
        )


def create_workflow(*, db_session: Session, user_id: UUID, data: WorkflowCreate) -> Workflow:
    """Create a draft workflow owned by the caller, with its node and edge rows."""
    nodes, edges = extract(data.definition)
    _check_project(db_session, data.project_id)
    workflow = Workflow(
        name=data.name or data.kebab_name,
        display_name=data.display_name or data.kebab_name,
        description=data.description,
        kebab_name=data.kebab_name,
        version=data.version,
        definition=data.definition,
        created_by=user_id,
        visibility_id=visibility_id(
            db_session=db_session, visibility=data.visibility, organization_id=data.organization_id
        ),
        organization_id=data.organization_id,
        status_id=status_id(db_session, "draft"),
        project_id=data.project_id,
        task_queue_id=_task_queue_id(
            db_session, task_queue_id=data.task_queue_id, project_id=data.project_id
        ),
    )
    if data.max_concurrent_executions is not None:
        workflow.max_concurrent_executions = data.max_concurrent_executions
    if data.execution_timeout_seconds is not None:
        workflow.execution_timeout_seconds = data.execution_timeout_seconds
    db_session.add(workflow)
    db_session.flush()
    sync_graph(db_session, workflow_id=workflow.id, nodes=nodes, edges=edges)
    return save(db_session, workflow)


def matches(workflow: Workflow, if_match: str) -> bool:
    """Whether an If-Match header names the workflow's current state (ETag or updated_at)."""
    for candidate in (tag.strip().removeprefix("W/") for tag in if_match.split(",")):
        # Proxies may weaken the tag (W/"..."); the value still names the same save.
        if candidate in ("*", workflow.etag):
            return True
        try:
            stamp = datetime.fromisoformat(candidate.strip('"').replace("Z", "+00:00"))
        except ValueError:
            continue
        if stamp.tzinfo is not None and stamp == workflow.updated_at:
            return True
    return False


def update_workflow(
    *, db_session: Session, workflow_id: UUID, data: WorkflowUpdate, if_match: str | None
) -> Workflow:
    """Apply changes to a workflow the caller owns: a new definition rewrites its nodes and
    edges, a new status must be an allowed transition, and a stale If-Match answers 412."""
    workflow = lock_or_404(db_session, Workflow, workflow_id, "Workflow")
    if if_match is not None and not matches(workflow, if_match):
        raise ProblemError(
            412,
            "precondition-failed",
            "The workflow changed since you loaded it",
            f"Current ETag is {workflow.etag}; reload, merge and save again",
            headers={"ETag": workflow.etag},
        )
    changes = data.model_dump(exclude_unset=True)
    for required in (
        "name",
        "display_name",
        "definition",
        "status",
        "visibility",
        "max_concurrent_executions",
        "execution_timeout_seconds",
        "task_queue_id",
    ):
        if required in changes and changes[required] is None:
            raise invalid(required, "cannot be null")
    kebab_name = changes.pop("kebab_name", None)
    if kebab_name is not None and kebab_name != workflow.kebab_name:
        raise conflict(f"kebab_name is immutable: it stays {workflow.kebab_name!r}")
    status = changes.pop("status", None)
    if workflow.status == "archived" and (status is None or status == "archived") and changes:
        raise conflict("An archived workflow is read-only; move it back to draft first")
    if "definition" in changes:
        nodes, edges = extract(changes["definition"])
        sync_graph(db_session, workflow_id=workflow.id, nodes=nodes, edges=edges)
    if "project_id" in changes:
        _check_project(db_session, changes["project_id"])
    if "project_id" in changes or "task_queue_id" in changes:
        # A new project brings its own queue unless a queue is named too.
        changes["task_queue_id"] = _task_queue_id(
            db_session,
            task_queue_id=changes.get("task_queue_id"),
            project_id=changes.get("project_id", workflow.project_id),
        )
    if "visibility" in changes or "organization_id" in changes:
        visibility = changes.pop("visibility", None) or workflow.visibility
        organization_id = changes.pop("organization_id", workflow.organization_id)
        if visibility != "organization" and "organization_id" not in data.model_fields_set:
            organization_id = None
        changes["visibility_id"] = visibility_id(
            db_session=db_session, visibility=visibility, organization_id=organization_id
        )
        changes["organization_id"] = organization_id
    if status is not None and status != workflow.status:
        check_transition(workflow.status, status)
        changes["status_id"] = status_id(db_session, status)
        if status == "active":
            changes["deployed_at"] = datetime.now(UTC)
    apply_changes(workflow, changes)
    return save(db_session, workflow)


def validate_workflow(*, db_session: Session, workflow_id: UUID) -> ValidationReport:
    """Return the compiler's verdict on the workflow's saved definition."""
    workflow = get_workflow(db_session=db_session, workflow_id=workflow_id)
    known = frozenset(db_session.scalars(select(Workflow.kebab_name)))
    result = validate(
        workflow.definition,
        RegistryCatalog(db_session, _current_user_id(db_session)),
        ValidationContext(known_workflows=known),
    )
    return ValidationReport.model_validate(result.to_dict())


def bump_version(*, db_session: Session, workflow_id: UUID, part: str) -> Workflow:
    """Increase the workflow's semantic version."""
    workflow = lock_or_404(db_session, Workflow, workflow_id, "Workflow")
    workflow.version = bumped(workflow.version, part)
    return save(db_session, workflow)


def delete_workflow(*, db_session: Session, workflow_id: UUID) -> None:
    """Delete a workflow the caller owns (one with execution history answers 409)."""
    delete_visible(db_session, Workflow, workflow_id, "Workflow")


def list_nodes(*, db_session: Session, workflow_id: UUID, params: PageParams) -> Page[NodeRead]:
    """Return a page of the workflow's node rows."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    return paginate(
        db_session,
        select(WorkflowNode).where(WorkflowNode.workflow_id == workflow_id),
        params,
        sortable={"node_id": WorkflowNode.node_id, "node_type": WorkflowNode.node_type},
        default_sort="node_id",
        tiebreaker=WorkflowNode.id,
        read=NodeRead.model_validate,
    )


def list_edges(*, db_session: Session, workflow_id: UUID, params: PageParams) -> Page[EdgeRead]:
    """Return a page of the workflow's edge rows."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    return paginate(
        db_session,
        select(WorkflowEdge).where(WorkflowEdge.workflow_id == workflow_id),
        params,
        sortable={"edge_id": WorkflowEdge.edge_id},
        default_sort="edge_id",
        tiebreaker=WorkflowEdge.id,
        read=EdgeRead.model_validate,
    )


DeclarationT = TypeVar("DeclarationT", Signal, Query, WorkQueue, Schedule)


def _owned_row(
    db_session: Session, model: type[DeclarationT], workflow_id: UUID, row_id: UUID, what: str
) -> DeclarationT:
    """Return the `model` row `row_id` of workflow `workflow_id`, or raise 404."""
    row = db_session.get(model, row_id)
    if row is None or row.workflow_id != workflow_id:
        raise ProblemError(404, "not-found", "Not found", f"{what} was not found")
    return row


def _page(
    db_session: Session,
    model: Any,
    workflow_column: Any,
    workflow_id: UUID,
    params: PageParams,
    *,
    name: Any,
    read: Callable[[Any], ItemT],
) -> Page[ItemT]:
    """Return a page of the `model` rows declared on a workflow the caller can see."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    return paginate(
        db_session,
        select(model).where(workflow_column == workflow_id),
        params,
        sortable={"name": name, "created_at": model.created_at},
        default_sort="name",
        tiebreaker=model.id,
        read=read,
    )


def _not_generated(row: Signal | Query, what: str) -> None:
    if row.auto_generated:
        raise conflict(f"This {what} belongs to a work queue; change the work queue instead")


def _not_null(changes: dict[str, Any], *fields: str) -> dict[str, Any]:
    for field in fields:
        if field in changes and changes[field] is None:
            raise invalid(field, "cannot be null")
    return changes


def list_signals(*, db_session: Session, workflow_id: UUID, params: PageParams) -> Page[SignalRead]:
    """Return a page of the workflow's signals, generated ones included."""
    return _page(
        db_session,
        Signal,
        Signal.workflow_id,
        workflow_id,
        params,
        name=Signal.signal_name,
        read=SignalRead.model_validate,
    )


def get_signal(*, db_session: Session, workflow_id: UUID, signal_id: UUID) -> Signal:
    """Return one of the workflow's signals."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    return _owned_row(db_session, Signal, workflow_id, signal_id, "Signal")


def create_signal(
    *, db_session: Session, user_id: UUID, workflow_id: UUID, data: SignalCreate
) -> Signal:
    """Declare a signal on a workflow the caller owns."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    check_json_schema("parameters", data.parameters)
    signal = Signal(
        **data.model_dump(), workflow_id=workflow_id, created_by=user_id, auto_generated=False
    )
    db_session.add(signal)
    return save(db_session, signal)


def update_signal(
    *, db_session: Session, workflow_id: UUID, signal_id: UUID, data: SignalUpdate
) -> Signal:
    """Change a signal the caller declared (not one a work queue generated)."""
    signal = get_signal(db_session=db_session, workflow_id=workflow_id, signal_id=signal_id)
    _not_generated(signal, "signal")
    changes = _not_null(data.model_dump(exclude_unset=True), "signal_name", "parameters")
    if "parameters" in changes:
        check_json_schema("parameters", changes["parameters"])
    apply_changes(signal, changes)
    return save(db_session, signal)


def delete_signal(*, db_session: Session, workflow_id: UUID, signal_id: UUID) -> None:
    """Delete a signal the caller declared (not one a work queue generated)."""
    _not_generated(
        get_signal(db_session=db_session, workflow_id=workflow_id, signal_id=signal_id), "signal"
    )
    delete_visible(db_session, Signal, signal_id, "Signal")


def list_queries(*, db_session: Session, workflow_id: UUID, params: PageParams) -> Page[QueryRead]:
    """Return a page of the workflow's queries, generated ones included."""
    return _page(
        db_session,
        Query,
        Query.workflow_id,
        workflow_id,
        params,
        name=Query.query_name,
        read=QueryRead.model_validate,
    )


def get_query(*, db_session: Session, workflow_id: UUID, query_id: UUID) -> Query:
    """Return one of the workflow's queries."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    return _owned_row(db_session, Query, workflow_id, query_id, "Query")


def create_query(
    *, db_session: Session, user_id: UUID, workflow_id: UUID, data: QueryCreate
) -> Query:
    """Declare a query on a workflow the caller owns."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    check_json_schema("return_type", data.return_type)
    query = Query(
        **data.model_dump(), workflow_id=workflow_id, created_by=user_id, auto_generated=False
    )
    db_session.add(query)
    return save(db_session, query)


def update_query(
    *, db_session: Session, workflow_id: UUID, query_id: UUID, data: QueryUpdate
) -> Query:
    """Change a query the caller declared (not one a work queue generated)."""
    query = get_query(db_session=db_session, workflow_id=workflow_id, query_id=query_id)
    _not_generated(query, "query")
    changes = _not_null(data.model_dump(exclude_unset=True), "query_name", "return_type")
    if "return_type" in changes:
        check_json_schema("return_type", changes["return_type"])
    apply_changes(query, changes)
    return save(db_session, query)


def delete_query(*, db_session: Session, workflow_id: UUID, query_id: UUID) -> None:
    """Delete a query the caller declared (not one a work queue generated)."""
    _not_generated(
        get_query(db_session=db_session, workflow_id=workflow_id, query_id=query_id), "query"
    )
    delete_visible(db_session, Query, query_id, "Query")


def _item_schemas(work_item_schema: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The generated signal's parameters (one item) and query's return type (the items)."""
    item = work_item_schema or {}
    return item, {"type": "array", "items": item}


def list_work_queues(
    *, db_session: Session, workflow_id: UUID, params: PageParams
) -> Page[WorkQueueRead]:
    """Return a page of the workflow's work queues."""
    return _page(
        db_session,
        WorkQueue,
        WorkQueue.workflow_id,
        workflow_id,
        params,
        name=WorkQueue.queue_name,
        read=WorkQueueRead.model_validate,
    )


def get_work_queue(*, db_session: Session, workflow_id: UUID, work_queue_id: UUID) -> WorkQueue:
    """Return one of the workflow's work queues."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    return _owned_row(db_session, WorkQueue, workflow_id, work_queue_id, "Work queue")


def create_work_queue(
    *, db_session: Session, user_id: UUID, workflow_id: UUID, data: WorkQueueCreate
) -> WorkQueue:
    """Create a work queue with its generated signal and query, in one transaction."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    if data.work_item_schema is not None:
        check_json_schema("work_item_schema", data.work_item_schema)
    queue = WorkQueue(
        **data.model_dump(),
        workflow_id=workflow_id,
        created_by=user_id,
        signal_name=work_queue_signal_name(data.queue_name),
        query_name=work_queue_query_name(data.queue_name),
    )
    db_session.add(queue)
    db_session.flush()
    parameters, return_type = _item_schemas(data.work_item_schema)
    db_session.add_all(
        [
            Signal(
                workflow_id=workflow_id,
                signal_name=queue.signal_name,
                description=f"Adds an item to the work queue {data.queue_name}.",
                parameters=parameters,
                auto_generated=True,
                work_queue_id=queue.id,
                created_by=user_id,
            ),
            Query(
                workflow_id=workflow_id,
                query_name=queue.query_name,
                description=f"The items waiting in the work queue {data.queue_name}.",
                return_type=return_type,
                auto_generated=True,
                work_queue_id=queue.id,
                created_by=user_id,
            ),
        ]
    )
    return save(db_session, queue)


def update_work_queue(
    *, db_session: Session, workflow_id: UUID, work_queue_id: UUID, data: WorkQueueUpdate
) -> WorkQueue:
    """Change a work queue; its generated signal and query follow its name and item schema."""
    queue = get_work_queue(
        db_session=db_session, workflow_id=workflow_id, work_queue_id=work_queue_id
    )
    changes = _not_null(
        data.model_dump(exclude_unset=True), "queue_name", "priority", "deduplicate"
    )
    if changes.get("work_item_schema") is not None:
        check_json_schema("work_item_schema", changes["work_item_schema"])
    if "queue_name" in changes:
        changes["signal_name"] = work_queue_signal_name(changes["queue_name"])
        changes["query_name"] = work_queue_query_name(changes["queue_name"])
    apply_changes(queue, changes)
    save(db_session, queue)
    parameters, return_type = _item_schemas(queue.work_item_schema)
    db_session.execute(
        update(Signal)
        .where(Signal.work_queue_id == queue.id, Signal.auto_generated.is_(True))
        .values(signal_name=queue.signal_name, parameters=parameters)
    )
    db_session.execute(
        update(Query)
        .where(Query.work_queue_id == queue.id, Query.auto_generated.is_(True))
        .values(query_name=queue.query_name, return_type=return_type)
    )
    return queue


def delete_work_queue(*, db_session: Session, workflow_id: UUID, work_queue_id: UUID) -> None:
    """Delete a work queue with its generated signal and query."""
    get_work_queue(db_session=db_session, workflow_id=workflow_id, work_queue_id=work_queue_id)
    delete_visible(db_session, WorkQueue, work_queue_id, "Work queue")


def _check_schedule(db_session: Session, workflow_id: UUID, values: dict[str, Any]) -> None:
    if values.get("cron_expression") is not None and not croniter.is_valid(
        values["cron_expression"], second_at_beginning=True
    ):
        raise invalid(
            "cron_expression", f"not a valid cron expression: {values['cron_expression']!r}"
        )
    if values.get("timezone") is not None and not is_time_zone(values["timezone"]):
        raise invalid("timezone", f"not an IANA time zone: {values['timezone'][:60]!r}")
    if values.get("work_queue_id") is not None:
        queue = db_session.get(WorkQueue, values["work_queue_id"])
        if queue is None or queue.workflow_id != workflow_id:
            raise invalid("work_queue_id", "no such work queue on this workflow")


def list_schedules(
    *, db_session: Session, workflow_id: UUID, params: PageParams
) -> Page[ScheduleRead]:
    """Return a page of the workflow's cron schedules."""
    return _page(
        db_session,
        Schedule,
        Schedule.workflow_id,
        workflow_id,
        params,
        name=Schedule.cron_expression,
        read=ScheduleRead.model_validate,
    )


def get_schedule(*, db_session: Session, workflow_id: UUID, schedule_id: UUID) -> Schedule:
    """Return one of the workflow's schedules."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    return _owned_row(db_session, Schedule, workflow_id, schedule_id, "Schedule")


def create_schedule(
    *, db_session: Session, user_id: UUID, workflow_id: UUID, data: ScheduleCreate
) -> Schedule:
    """Add a cron schedule (validated expression and IANA time zone) to a workflow."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    values = data.model_dump()
    _check_schedule(db_session, workflow_id, values)
    schedule = Schedule(**values, workflow_id=workflow_id, created_by=user_id)
    db_session.add(schedule)
    return save(db_session, schedule)


def update_schedule(
    *, db_session: Session, workflow_id: UUID, schedule_id: UUID, data: ScheduleUpdate
) -> Schedule:
    """Change a schedule."""
    schedule = get_schedule(db_session=db_session, workflow_id=workflow_id, schedule_id=schedule_id)
    changes = _not_null(
        data.model_dump(exclude_unset=True), "cron_expression", "timezone", "start_immediately"
    )
    _check_schedule(db_session, workflow_id, changes)
    apply_changes(schedule, changes)
    return save(db_session, schedule)


def delete_schedule(*, db_session: Session, workflow_id: UUID, schedule_id: UUID) -> None:
    """Delete a schedule."""
    get_schedule(db_session=db_session, workflow_id=workflow_id, schedule_id=schedule_id)
    delete_visible(db_session, Schedule, schedule_id, "Schedule")


def _child_target(db_session: Session, values: dict[str, Any]) -> None:
    """Fill in the child's name from the child workflow, which the caller must be able to see."""
    if values.get("child_workflow_id") is not None:
        child = db_session.get(Workflow, values["child_workflow_id"])
        if child is None:
            raise invalid("child_workflow_id", "no such workflow is visible to you")
        if not values.get("child_workflow_name"):
            values["child_workflow_name"] = child.kebab_name


def list_child_workflows(
    *, db_session: Session, workflow_id: UUID, params: PageParams
) -> Page[ChildWorkflowRead]:
    """Return a page of the child workflows the workflow starts."""
    return _page(
        db_session,
        ChildWorkflow,
        ChildWorkflow.parent_workflow_id,
        workflow_id,
        params,
        name=ChildWorkflow.child_workflow_name,
        read=ChildWorkflowRead.model_validate,
    )


def get_child_workflow(*, db_session: Session, workflow_id: UUID, child_id: UUID) -> ChildWorkflow:
    """Return one of the workflow's child workflow definitions."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    child = db_session.get(ChildWorkflow, child_id)
    if child is None or child.parent_workflow_id != workflow_id:
        raise ProblemError(404, "not-found", "Not found", "Child workflow was not found")
    return child


def create_child_workflow(
    *, db_session: Session, user_id: UUID, workflow_id: UUID, data: ChildWorkflowCreate
) -> ChildWorkflow:
    """Declare a child workflow the workflow starts."""
    get_workflow(db_session=db_session, workflow_id=workflow_id)
    values = data.model_dump()
    _child_target(db_session, values)
    if not values.get("child_workflow_name"):
        raise invalid("child_workflow_name", "give the child's name or its child_workflow_id")
    child = ChildWorkflow(**values, parent_workflow_id=workflow_id, created_by=user_id)
    db_session.add(child)
    return save(db_session, child)


def update_child_workflow(
    *, db_session: Session, workflow_id: UUID, child_id: UUID, data: ChildWorkflowUpdate
) -> ChildWorkflow:
    """Change a child workflow definition."""
    child = get_child_workflow(db_session=db_session, workflow_id=workflow_id, child_id=child_id)
    changes = _not_null(
        data.model_dump(exclude_unset=True),
        "child_workflow_name",
        "parent_close_policy",
        "can_signal_parent",
        "can_query_parent",
    )
    _child_target(db_session, changes)
    apply_changes(child, changes)
    return save(db_session, child)


def delete_child_workflow(*, db_session: Session, workflow_id: UUID, child_id: UUID) -> None:
    """Delete a child workflow definition."""
    get_child_workflow(db_session=db_session, workflow_id=workflow_id, child_id=child_id)
    delete_visible(db_session, ChildWorkflow, child_id, "Child workflow")
