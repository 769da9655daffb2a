"""Routes: start runs, list and inspect them, cancel, retry, signal, query, work-queue items."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Body, Header, Query, status
from sqlalchemy import text

from workflow_builder.api.deps import CurrentUser, DbSession, require
from workflow_builder.api.errors import (
    conflict,
    field_error,
    forbidden,
    not_found,
    overloaded,
    unavailable,
    validation_problem,
)
from workflow_builder.config import get_settings
from workflow_builder.deployments import service as deployments
from workflow_builder.executions.models import (
    ExecutionDetail,
    ExecutionPage,
    ExecutionRead,
    ExecutionStart,
    ExecutionStatus,
    QueryAnswer,
    StepRead,
    WorkerRead,
    WorkItemAdd,
    WorkItemAdded,
)
from workflow_builder.runtime import service as runtime

router = APIRouter(tags=["executions"])

Reader = Annotated[CurrentUser, require("executions:read")]
ProjectReader = Annotated[CurrentUser, require("projects:read")]
Runner = Annotated[CurrentUser, require("workflows:execute")]

_VISIBLE = "workflow_id in (select id from workflows)"
# How many runs past the requested page `total` counts exactly.
COUNT_BEYOND_PAGE = 1000
_COLUMNS = """id, workflow_id, project_id, compiled_code_id, engine_run_id, engine_workflow_id,
  status, trigger_kind, inputs, outputs, error, started_at, completed_at, duration_ms,
  parent_execution_id, created_by, is_test"""


@contextmanager
def _runtime_errors(what: str = "Execution") -> Iterator[None]:
    """Answer the runtime's refusals as problems: 404, 409, 403 or 422 naming the fields."""
    try:
        yield
    except runtime.NotFound as missing:
        raise not_found(str(missing).capitalize() if str(missing) else what) from None
    except runtime.ExecutionRefused as refused:
        raise conflict(str(refused)) from None
    except PermissionError as denied:
        raise forbidden(str(denied)) from None
    except runtime.Overloaded as busy:
        raise overloaded(str(busy), busy.retry_after) from None
    except runtime.EngineUnavailable as away:
        raise unavailable(str(away), away.retry_after) from None
    except runtime.InvalidPayload as invalid:
        raise validation_problem(
            [
                field_error(["body", *[p for p in pointer.split("/") if p]], message)
                for pointer, message in invalid.errors
            ]
        ) from None


def _read(db_session: DbSession, execution_id: UUID) -> ExecutionRead:
    row = (
        db_session.execute(
            text(f"select {_COLUMNS} from workflow_executions where id = :e"), {"e": execution_id}
        )
        .mappings()
        .first()
    )
    if row is None:
        raise not_found("Execution")
    return ExecutionRead.model_validate(dict(row))


@router.post("/workflows/{workflow_id}/executions", status_code=status.HTTP_201_CREATED)
def start_execution(
    workflow_id: UUID,
    db_session: DbSession,
    user: Runner,
    body: ExecutionStart | None = None,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=255, description="Repeat a request with the same key: one run only."),
    ] = None,
) -> ExecutionRead:
    """Start a run of an active workflow with `inputs`; answers at once with its id."""
    with _runtime_errors("Workflow"):
        started = runtime.start_execution(
            user_id=user.id,
            workflow_id=workflow_id,
            inputs=(body or ExecutionStart()).inputs,
            idempotency_key=idempotency_key,
            session=db_session,
        )
    return _read(db_session, started.execution_id)


@router.post("/workflows/{workflow_id}/test-runs", status_code=status.HTTP_201_CREATED)
def start_test_run(
    workflow_id: UUID,
    db_session: DbSession,
    user: Runner,
    body: ExecutionStart | None = None,
) -> ExecutionRead:
    """Run the saved draft without deploying it: compile it (a version that is not activated,
    or the existing one with the same content) and start a test run of that version, marked
    `is_test`. The draft needs no deploy; an archived workflow cannot be tested."""
    version, _, _ = deployments.compile_workflow(
        db_session=db_session, workflow_id=workflow_id, user_id=user.id, activate=False
    )
    with _runtime_errors("Workflow"):
        started = runtime.start_execution(
            user_id=user.id,
            workflow_id=workflow_id,
            inputs=(body or ExecutionStart()).inputs,
            session=db_session,
            test_version_id=version.id,
        )
    return _read(db_session, started.execution_id)


@router.get("/executions")
def list_executions(
    db_session: DbSession,
    user: Reader,
    workflow_id: UUID | None = None,
    project_id: UUID | None = None,
    status_: Annotated[ExecutionStatus | None, Query(alias="status")] = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    is_test: Annotated[
        bool | None, Query(description="true: only test runs of drafts; false: none of them.")
    ] = None,
    trigger_kind: Annotated[
        str | None,
        Query(max_length=50, description="How the runs started: manual, webhook, schedule..."),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=36,
            pattern=r"^[0-9a-fA-F-]+$",
            description="A run id, or the beginning of one.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ExecutionPage:
    """List runs the caller can see, newest first, filtered by workflow, project, status, time.

    `total` is exact up to COUNT_BEYOND_PAGE runs past the page; beyond that it is a lower
    bound and `total_exact` is false (counting every visible run costs a scan of all of them).
    """
    filters = {
        "workflow_id = :workflow_id": workflow_id,
        "project_id = :project_id": project_id,
        "status = :status": status_,
        "started_at >= :started_after": started_after,
        "started_at < :started_before": started_before,
        "is_test = :is_test": is_test,
        "trigger_kind = :trigger_kind": trigger_kind,
        "cast(id as text) like :id_prefix": q,
    }
    # Row-level security keeps only the runs of visible workflows, but as a filter the planner
    # cannot use; naming the visible workflows again lets it use the workflow_id indexes.
    where = " and ".join(
        [_VISIBLE, *[clause for clause, value in filters.items() if value is not None]]
    )
    params: dict[str, Any] = {
        "workflow_id": workflow_id,
        "project_id": project_id,
        "status": status_,
        "started_after": started_after,
        "started_before": started_before,
        "is_test": is_test,
        "trigger_kind": trigger_kind,
        "id_prefix": f"{q.lower()}%" if q else None,
        "limit": limit,
        "offset": offset,
        "cap": offset + limit + COUNT_BEYOND_PAGE,
    }
    # The page and its count in one statement: the count is an uncorrelated subquery, run once.
    count = f"select count(*) from (select 1 from workflow_executions where {where} limit :cap) c"
    rows = (
        db_session.execute(
            text(
                f"""select {_COLUMNS}, ({count}) as total_count from workflow_executions
                where {where} order by started_at desc, id limit :limit offset :offset"""
            ),
            params,
        )
        .mappings()
        .all()
    )
    if rows:
        total = rows[0]["total_count"]
    elif offset == 0:
        total = 0
    else:  # past the last page: count on its own
        total = db_session.execute(text(count), params).scalar_one()
    exact = total < params["cap"]
    return ExecutionPage(
        items=[ExecutionRead.model_validate(dict(row)) for row in rows],
        total=total,
        total_exact=exact,
        limit=limit,
        offset=offset,
    )


@router.get("/executions/{execution_id}")
def get_execution(execution_id: UUID, db_session: DbSession, user: Reader) -> ExecutionDetail:
    """Return a run with each node's status, inputs, outputs, error, attempts, times and
    metrics."""
    execution = _read(db_session, execution_id)
    steps = db_session.execute(
        text(
            """select node_id, iteration, node_type, component_id, status, inputs, outputs, error,
                      attempts, started_at, completed_at, duration_ms, metrics
               from execution_steps where execution_id = :e order by started_at, node_id"""
        ),
        {"e": execution_id},
    ).mappings()
    return ExecutionDetail(
        **execution.model_dump(),
        steps=[StepRead.model_validate(dict(s)) for s in steps],
        engine_url=engine_console_url(execution),
    )


def engine_console_url(execution: ExecutionRead) -> str | None:
    """The run's page in the Temporal Web UI, once Temporal has started it (the execution row
    then holds its Temporal workflow id and run id)."""
    settings = get_settings()
    ui = settings.temporal_web_ui() if settings.engine == "temporal" else None
    workflow_id, run_id = execution.engine_workflow_id, execution.engine_run_id
    if ui is None or workflow_id is None or run_id is None or workflow_id != str(execution.id):
        return None
    namespace = quote(settings.temporal_namespace, safe="")
    run = f"{quote(workflow_id, safe='')}/{quote(run_id, safe='')}"
    return f"{ui}/namespaces/{namespace}/workflows/{run}/history"


@router.post("/executions/{execution_id}/cancel")
def cancel_execution(execution_id: UUID, db_session: DbSession, user: Runner) -> ExecutionRead:
    """Cancel a pending or running run; its children follow their parent-close policy."""
    with _runtime_errors():
        runtime.cancel(db_session, execution_id=execution_id)
    return _read(db_session, execution_id)


@router.post("/executions/{execution_id}/retry")
def retry_execution(
    execution_id: UUID,
    db_session: DbSession,
    user: Runner,
    version: Annotated[
        Literal["original", "deployed"],
        Query(
            description="original: the version the run started with; deployed: the workflow's "
            "active version (nodes both share keep their results)."
        ),
    ] = "original",
) -> ExecutionRead:
    """Re-run a failed run from its failed node, reusing every step completed before it."""
    with _runtime_errors():
        runtime.retry(db_session, execution_id=execution_id, version=version)
    return _read(db_session, execution_id)


@router.post("/executions/{execution_id}/signals/{name}", status_code=status.HTTP_202_ACCEPTED)
def send_signal(
    execution_id: UUID,
    name: str,
    db_session: DbSession,
    user: Runner,
    payload: Annotated[
        Any, Body(description="The signal's payload (its parameters schema).")
    ] = None,
) -> dict[str, str]:
    """Deliver a signal to a run (validated against the signal's parameters)."""
    with _runtime_errors():
        runtime.signal(db_session, execution_id=execution_id, name=name, payload=payload)
    return {"status": "accepted", "signal": name}


@router.get("/executions/{execution_id}/queries/{name}")
def run_query(execution_id: UUID, name: str, db_session: DbSession, user: Reader) -> QueryAnswer:
    """Answer a query from the run's current state, also while it waits."""
    with _runtime_errors():
        result = runtime.query(db_session, execution_id=execution_id, name=name)
    return QueryAnswer(query=name, result=result)


@router.post(
    "/executions/{execution_id}/work-queues/{queue}/items", status_code=status.HTTP_201_CREATED
)
def add_work_item(
    execution_id: UUID, queue: str, body: WorkItemAdd, db_session: DbSession, user: Runner
) -> WorkItemAdded:
    """Add an item to a run's work queue (409 when full; equal items dropped if deduplicating)."""
    with _runtime_errors():
        added = runtime.add_work_item(
            db_session,
            execution_id=execution_id,
            queue=queue,
            item=body.item,
            priority=body.priority,
        )
    return WorkItemAdded.model_validate(added)


@router.get("/executions/{execution_id}/work-queues/{queue}/items")
def list_work_items(
    execution_id: UUID, queue: str, db_session: DbSession, user: Reader
) -> list[dict[str, Any]]:
    """List the items waiting in a run's work queue, in the order they will be taken."""
    with _runtime_errors():
        return runtime.list_work_items(db_session, execution_id=execution_id, queue=queue)


@router.get("/workers", tags=["workers"])
def list_workers(
    db_session: DbSession,
    user: ProjectReader,
    project_id: UUID | None = None,
    status_: Annotated[Literal["running", "stopped", "error"] | None, Query(alias="status")] = None,
) -> list[WorkerRead]:
    """List the workers of the caller's projects, with status and last heartbeat."""
    rows = db_session.execute(
        text(
            """select id, project_id, worker_id, task_queue_name, status, last_heartbeat_at,
                      started_at, stopped_at, error_message
               from workflow_workers
               where (cast(:project as uuid) is null or project_id = :project)
                 and (cast(:status as text) is null or status = :status)
               order by status, last_heartbeat_at desc nulls last"""
        ),
        {"project": project_id, "status": status_},
    ).mappings()
    return [WorkerRead.model_validate(dict(row)) for row in rows]
