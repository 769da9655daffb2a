"""Routes for workflows and the signals, queries, work queues, schedules and child workflows
declared on them."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response, status

from workflow_builder.api.deps import CurrentUser, DbSession, require
from workflow_builder.api.pagination import Page, Paging
from workflow_builder.components.models import VisibilityName
from workflow_builder.workflows import documents, flows, service
from workflow_builder.workflows.documents import DocumentApplied, WorkflowCheck
from workflow_builder.workflows.models import (
    ChildWorkflowCreate,
    ChildWorkflowRead,
    ChildWorkflowUpdate,
    EdgeRead,
    NodeRead,
    QueryCreate,
    QueryRead,
    QueryUpdate,
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
    SignalCreate,
    SignalRead,
    SignalUpdate,
    StatusName,
    ValidationReport,
    VersionBump,
    Workflow,
    WorkflowClone,
    WorkflowCreate,
    WorkflowExport,
    WorkflowImport,
    WorkflowRead,
    WorkflowSummary,
    WorkflowUpdate,
    WorkQueueCreate,
    WorkQueueRead,
    WorkQueueUpdate,
)

router = APIRouter(prefix="/workflows", tags=["workflows"])
declarations = APIRouter(prefix="/workflows/{workflow_id}", tags=["workflow declarations"])

Reader = Annotated[CurrentUser, require("workflows:read")]
Writer = Annotated[CurrentUser, require("workflows:write")]
NO_CONTENT = status.HTTP_204_NO_CONTENT
CREATED = status.HTTP_201_CREATED
PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: {"description": "If-Match does not name the current state"}
}


def _read(workflow: Workflow, response: Response) -> WorkflowRead:
    response.headers["ETag"] = workflow.etag
    return WorkflowRead.model_validate(workflow)


@router.get("")
def list_workflows(
    db_session: DbSession,
    paging: Paging,
    user: Reader,
    status: StatusName | None = None,
    visibility: VisibilityName | None = None,
    project_id: UUID | None = None,
    task_queue_id: UUID | None = None,
    created_by: UUID | None = None,
    kebab_name: Annotated[str | None, Query(max_length=255)] = None,
    organization_id: UUID | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[WorkflowSummary]:
    """Workflows the caller can see (without their definitions)."""
    return service.list_workflows(
        db_session=db_session,
        params=paging,
        status=status,
        visibility=visibility,
        project_id=project_id,
        task_queue_id=task_queue_id,
        created_by=created_by,
        kebab_name=kebab_name,
        organization_id=organization_id,
        q=q,
    )


@router.post("", status_code=CREATED)
def create_workflow(
    data: WorkflowCreate, response: Response, db_session: DbSession, user: Writer
) -> WorkflowRead:
    """Create a draft workflow; its definition's nodes and edges are stored as rows too."""
    workflow = service.create_workflow(db_session=db_session, user_id=user.id, data=data)
    return _read(workflow, response)


@router.post("/import", status_code=CREATED)
def import_workflow(
    document: WorkflowImport, response: Response, db_session: DbSession, user: Writer
) -> WorkflowRead:
    """Create a draft workflow from an exported document."""
    workflow = flows.import_workflow(db_session=db_session, user_id=user.id, document=document)
    return _read(workflow, response)


@router.get("/{workflow_id}")
def read_workflow(
    workflow_id: UUID, response: Response, db_session: DbSession, user: Reader
) -> WorkflowRead:
    """One workflow with its definition; the ETag header is what If-Match expects."""
    return _read(service.get_workflow(db_session=db_session, workflow_id=workflow_id), response)


@router.patch("/{workflow_id}", responses=PRECONDITION)
def update_workflow(
    workflow_id: UUID,
    data: WorkflowUpdate,
    response: Response,
    db_session: DbSession,
    user: Writer,
    if_match: Annotated[
        str | None,
        Header(
            max_length=200,
            description="The ETag (or updated_at) the change is based on; 412 when stale.",
        ),
    ] = None,
) -> WorkflowRead:
    """Change a workflow: its definition (nodes and edges follow), status or settings."""
    workflow = service.update_workflow(
        db_session=db_session, workflow_id=workflow_id, data=data, if_match=if_match
    )
    return _read(workflow, response)


@router.delete("/{workflow_id}", status_code=NO_CONTENT)
def delete_workflow(workflow_id: UUID, db_session: DbSession, user: Writer) -> Response:
    """Delete a workflow with everything declared on it."""
    service.delete_workflow(db_session=db_session, workflow_id=workflow_id)
    return Response(status_code=NO_CONTENT)


@router.post("/{workflow_id}/version")
def bump_version(
    workflow_id: UUID, data: VersionBump, response: Response, db_session: DbSession, user: Writer
) -> WorkflowRead:
    """Increase the major, minor or patch number of the workflow's version."""
    workflow = service.bump_version(db_session=db_session, workflow_id=workflow_id, part=data.bump)
    return _read(workflow, response)


@router.post("/{workflow_id}/clone", status_code=CREATED)
def clone_workflow(
    workflow_id: UUID, data: WorkflowClone, response: Response, db_session: DbSession, user: Writer
) -> WorkflowRead:
    """Copy a workflow the caller can see into a new private draft under a new kebab name."""
    workflow = flows.clone_workflow(
        db_session=db_session,
        user_id=user.id,
        workflow_id=workflow_id,
        kebab_name=data.kebab_name,
        name=data.name,
        display_name=data.display_name,
    )
    return _read(workflow, response)


@router.get("/{workflow_id}/export")
def export_workflow(workflow_id: UUID, db_session: DbSession, user: Reader) -> WorkflowExport:
    """The workflow and everything declared on it, as a document /workflows/import accepts."""
    return flows.export_workflow(db_session=db_session, workflow_id=workflow_id)


@router.post("/validate")
def validate_document(
    document: WorkflowCheck, db_session: DbSession, user: Writer
) -> ValidationReport:
    """Check an exported document without saving it: the definition (pointers into the
    document), the declarations, and what the database would refuse on import or update."""
    return documents.check_document(db_session=db_session, user_id=user.id, document=document)


@router.put("/{workflow_id}/export")
def apply_document(
    workflow_id: UUID, document: WorkflowExport, db_session: DbSession, user: Writer
) -> DocumentApplied:
    """Make the workflow match an exported document (the inverse of GET .../export); nothing is
    written when it already does (outcome 'unchanged')."""
    outcome = documents.apply_document(
        db_session=db_session, user_id=user.id, workflow_id=workflow_id, document=document
    )
    return documents.read_applied(db_session=db_session, workflow_id=workflow_id, outcome=outcome)


@router.post("/{workflow_id}/validate")
def validate_workflow(workflow_id: UUID, db_session: DbSession, user: Reader) -> ValidationReport:
    """Check the saved definition with the compiler against the components you can see."""
    return service.validate_workflow(db_session=db_session, workflow_id=workflow_id)


@router.get("/{workflow_id}/nodes")
def list_nodes(
    workflow_id: UUID, db_session: DbSession, paging: Paging, user: Reader
) -> Page[NodeRead]:
    """The node rows kept in sync with the definition."""
    return service.list_nodes(db_session=db_session, workflow_id=workflow_id, params=paging)


@router.get("/{workflow_id}/edges")
def list_edges(
    workflow_id: UUID, db_session: DbSession, paging: Paging, user: Reader
) -> Page[EdgeRead]:
    """The edge rows kept in sync with the definition."""
    return service.list_edges(db_session=db_session, workflow_id=workflow_id, params=paging)


@declarations.get("/signals")
def list_signals(
    workflow_id: UUID, db_session: DbSession, paging: Paging, user: Reader
) -> Page[SignalRead]:
    """The workflow's signals, including those its work queues generated."""
    return service.list_signals(db_session=db_session, workflow_id=workflow_id, params=paging)


@declarations.post("/signals", status_code=CREATED)
def create_signal(
    workflow_id: UUID, data: SignalCreate, db_session: DbSession, user: Writer
) -> SignalRead:
    """Declare a signal (names are unique per workflow)."""
    signal = service.create_signal(
        db_session=db_session, user_id=user.id, workflow_id=workflow_id, data=data
    )
    return SignalRead.model_validate(signal)


@declarations.get("/signals/{signal_id}")
def read_signal(
    workflow_id: UUID, signal_id: UUID, db_session: DbSession, user: Reader
) -> SignalRead:
    """One signal."""
    signal = service.get_signal(db_session=db_session, workflow_id=workflow_id, signal_id=signal_id)
    return SignalRead.model_validate(signal)


@declarations.patch("/signals/{signal_id}")
def update_signal(
    workflow_id: UUID, signal_id: UUID, data: SignalUpdate, db_session: DbSession, user: Writer
) -> SignalRead:
    """Change a signal (not one a work queue generated)."""
    signal = service.update_signal(
        db_session=db_session, workflow_id=workflow_id, signal_id=signal_id, data=data
    )
    return SignalRead.model_validate(signal)


@declarations.delete("/signals/{signal_id}", status_code=NO_CONTENT)
def delete_signal(
    workflow_id: UUID, signal_id: UUID, db_session: DbSession, user: Writer
) -> Response:
    """Delete a signal (not one a work queue generated)."""
    service.delete_signal(db_session=db_session, workflow_id=workflow_id, signal_id=signal_id)
    return Response(status_code=NO_CONTENT)


@declarations.get("/queries")
def list_queries(
    workflow_id: UUID, db_session: DbSession, paging: Paging, user: Reader
) -> Page[QueryRead]:
    """The workflow's queries, including those its work queues generated."""
    return service.list_queries(db_session=db_session, workflow_id=workflow_id, params=paging)


@declarations.post("/queries", status_code=CREATED)
def create_query(
    workflow_id: UUID, data: QueryCreate, db_session: DbSession, user: Writer
) -> QueryRead:
    """Declare a query (names are unique per workflow)."""
    query = service.create_query(
        db_session=db_session, user_id=user.id, workflow_id=workflow_id, data=data
    )
    return QueryRead.model_validate(query)


@declarations.get("/queries/{query_id}")
def read_query(workflow_id: UUID, query_id: UUID, db_session: DbSession, user: Reader) -> QueryRead:
    """One query."""
    query = service.get_query(db_session=db_session, workflow_id=workflow_id, query_id=query_id)
    return QueryRead.model_validate(query)


@declarations.patch("/queries/{query_id}")
def update_query(
    workflow_id: UUID, query_id: UUID, data: QueryUpdate, db_session: DbSession, user: Writer
) -> QueryRead:
    """Change a query (not one a work queue generated)."""
    query = service.update_query(
        db_session=db_session, workflow_id=workflow_id, query_id=query_id, data=data
    )
    return QueryRead.model_validate(query)


@declarations.delete("/queries/{query_id}", status_code=NO_CONTENT)
def delete_query(
    workflow_id: UUID, query_id: UUID, db_session: DbSession, user: Writer
) -> Response:
    """Delete a query (not one a work queue generated)."""
    service.delete_query(db_session=db_session, workflow_id=workflow_id, query_id=query_id)
    return Response(status_code=NO_CONTENT)


@declarations.get("/work-queues")
def list_work_queues(
    workflow_id: UUID, db_session: DbSession, paging: Paging, user: Reader
) -> Page[WorkQueueRead]:
    """The workflow's work queues."""
    return service.list_work_queues(db_session=db_session, workflow_id=workflow_id, params=paging)


@declarations.post("/work-queues", status_code=CREATED)
def create_work_queue(
    workflow_id: UUID, data: WorkQueueCreate, db_session: DbSession, user: Writer
) -> WorkQueueRead:
    """Create a work queue, with its '<queue>_add' signal and '<queue>_items' query."""
    queue = service.create_work_queue(
        db_session=db_session, user_id=user.id, workflow_id=workflow_id, data=data
    )
    return WorkQueueRead.model_validate(queue)


@declarations.get("/work-queues/{work_queue_id}")
def read_work_queue(
    workflow_id: UUID, work_queue_id: UUID, db_session: DbSession, user: Reader
) -> WorkQueueRead:
    """One work queue."""
    queue = service.get_work_queue(
        db_session=db_session, workflow_id=workflow_id, work_queue_id=work_queue_id
    )
    return WorkQueueRead.model_validate(queue)


@declarations.patch("/work-queues/{work_queue_id}")
def update_work_queue(
    workflow_id: UUID,
    work_queue_id: UUID,
    data: WorkQueueUpdate,
    db_session: DbSession,
    user: Writer,
) -> WorkQueueRead:
    """Change a work queue; its signal and query are renamed with it."""
    queue = service.update_work_queue(
        db_session=db_session, workflow_id=workflow_id, work_queue_id=work_queue_id, data=data
    )
    return WorkQueueRead.model_validate(queue)


@declarations.delete("/work-queues/{work_queue_id}", status_code=NO_CONTENT)
def delete_work_queue(
    workflow_id: UUID, work_queue_id: UUID, db_session: DbSession, user: Writer
) -> Response:
    """Delete a work queue with its generated signal and query."""
    service.delete_work_queue(
        db_session=db_session, workflow_id=workflow_id, work_queue_id=work_queue_id
    )
    return Response(status_code=NO_CONTENT)


@declarations.get("/schedules")
def list_schedules(
    workflow_id: UUID, db_session: DbSession, paging: Paging, user: Reader
) -> Page[ScheduleRead]:
    """The workflow's cron schedules."""
    return service.list_schedules(db_session=db_session, workflow_id=workflow_id, params=paging)


@declarations.post("/schedules", status_code=CREATED)
def create_schedule(
    workflow_id: UUID, data: ScheduleCreate, db_session: DbSession, user: Writer
) -> ScheduleRead:
    """Add a cron schedule in an IANA time zone."""
    schedule = service.create_schedule(
        db_session=db_session, user_id=user.id, workflow_id=workflow_id, data=data
    )
    return ScheduleRead.model_validate(schedule)


@declarations.get("/schedules/{schedule_id}")
def read_schedule(
    workflow_id: UUID, schedule_id: UUID, db_session: DbSession, user: Reader
) -> ScheduleRead:
    """One schedule."""
    schedule = service.get_schedule(
        db_session=db_session, workflow_id=workflow_id, schedule_id=schedule_id
    )
    return ScheduleRead.model_validate(schedule)


@declarations.patch("/schedules/{schedule_id}")
def update_schedule(
    workflow_id: UUID, schedule_id: UUID, data: ScheduleUpdate, db_session: DbSession, user: Writer
) -> ScheduleRead:
    """Change a schedule."""
    schedule = service.update_schedule(
        db_session=db_session, workflow_id=workflow_id, schedule_id=schedule_id, data=data
    )
    return ScheduleRead.model_validate(schedule)


@declarations.delete("/schedules/{schedule_id}", status_code=NO_CONTENT)
def delete_schedule(
    workflow_id: UUID, schedule_id: UUID, db_session: DbSession, user: Writer
) -> Response:
    """Delete a schedule."""
    service.delete_schedule(db_session=db_session, workflow_id=workflow_id, schedule_id=schedule_id)
    return Response(status_code=NO_CONTENT)


@declarations.get("/child-workflows")
def list_child_workflows(
    workflow_id: UUID, db_session: DbSession, paging: Paging, user: Reader
) -> Page[ChildWorkflowRead]:
    """The child workflows the workflow starts."""
    return service.list_child_workflows(
        db_session=db_session, workflow_id=workflow_id, params=paging
    )


@declarations.post("/child-workflows", status_code=CREATED)
def create_child_workflow(
    workflow_id: UUID, data: ChildWorkflowCreate, db_session: DbSession, user: Writer
) -> ChildWorkflowRead:
    """Declare a child workflow and what happens to it when the parent closes."""
    child = service.create_child_workflow(
        db_session=db_session, user_id=user.id, workflow_id=workflow_id, data=data
    )
    return ChildWorkflowRead.model_validate(child)


@declarations.get("/child-workflows/{child_id}")
def read_child_workflow(
    workflow_id: UUID, child_id: UUID, db_session: DbSession, user: Reader
) -> ChildWorkflowRead:
    """One child workflow definition."""
    child = service.get_child_workflow(
        db_session=db_session, workflow_id=workflow_id, child_id=child_id
    )
    return ChildWorkflowRead.model_validate(child)


@declarations.patch("/child-workflows/{child_id}")
def update_child_workflow(
    workflow_id: UUID,
    child_id: UUID,
    data: ChildWorkflowUpdate,
    db_session: DbSession,
    user: Writer,
) -> ChildWorkflowRead:
    """Change a child workflow definition."""
    child = service.update_child_workflow(
        db_session=db_session, workflow_id=workflow_id, child_id=child_id, data=data
    )
    return ChildWorkflowRead.model_validate(child)


@declarations.delete("/child-workflows/{child_id}", status_code=NO_CONTENT)
def delete_child_workflow(
    workflow_id: UUID, child_id: UUID, db_session: DbSession, user: Writer
) -> Response:
    """Delete a child workflow definition."""
    service.delete_child_workflow(db_session=db_session, workflow_id=workflow_id, child_id=child_id)
    return Response(status_code=NO_CONTENT)
