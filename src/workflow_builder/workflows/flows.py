"""Multi-step workflow operations: export, import and clone.

Each runs inside the request's single transaction, so a failure half-way leaves nothing behind.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow_builder.api.errors import invalid
from workflow_builder.workflows import service
from workflow_builder.workflows.models import (
    ChildWorkflow,
    ChildWorkflowCreate,
    ExportedChild,
    ExportedSchedule,
    ExportedWorkflow,
    Query,
    QueryCreate,
    Schedule,
    ScheduleCreate,
    Signal,
    SignalCreate,
    Workflow,
    WorkflowCreate,
    WorkflowExport,
    WorkflowImport,
    WorkQueue,
    WorkQueueCreate,
)


def export_workflow(*, db_session: Session, workflow_id: UUID) -> WorkflowExport:
    """Return the workflow and everything declared on it as one portable document."""
    workflow = service.get_workflow(db_session=db_session, workflow_id=workflow_id)
    queues = db_session.scalars(
        select(WorkQueue).where(WorkQueue.workflow_id == workflow_id).order_by(WorkQueue.queue_name)
    ).all()
    queue_names = {queue.id: queue.queue_name for queue in queues}
    signals = db_session.scalars(
        select(Signal)
        .where(Signal.workflow_id == workflow_id, Signal.auto_generated.is_(False))
        .order_by(Signal.signal_name)
    )
    queries = db_session.scalars(
        select(Query)
        .where(Query.workflow_id == workflow_id, Query.auto_generated.is_(False))
        .order_by(Query.query_name)
    )
    schedules = db_session.scalars(
        select(Schedule).where(Schedule.workflow_id == workflow_id).order_by(Schedule.created_at)
    )
    children = db_session.scalars(
        select(ChildWorkflow)
        .where(ChildWorkflow.parent_workflow_id == workflow_id)
        .order_by(ChildWorkflow.created_at)
    )
    return WorkflowExport(
        workflow=ExportedWorkflow.model_validate(workflow, from_attributes=True),
        signals=[
            SignalCreate(
                signal_name=s.signal_name, description=s.description, parameters=s.parameters
            )
            for s in signals
        ],
        queries=[
            QueryCreate(
                query_name=q.query_name, description=q.description, return_type=q.return_type
            )
            for q in queries
        ],
        work_queues=[
            WorkQueueCreate(
                queue_name=queue.queue_name,
                description=queue.description,
                max_size=queue.max_size,
                priority=queue.priority,  # type: ignore[arg-type]
                deduplicate=queue.deduplicate,
                work_item_schema=queue.work_item_schema,
            )
            for queue in queues
        ],
        schedules=[
            ExportedSchedule(
                cron_expression=s.cron_expression,
                timezone=s.timezone,
                start_immediately=s.start_immediately,
                max_runs=s.max_runs,
                work_queue_name=queue_names.get(s.work_queue_id) if s.work_queue_id else None,
            )
            for s in schedules
        ],
        child_workflows=[
            ExportedChild(
                child_workflow_name=c.child_workflow_name,
                parent_close_policy=c.parent_close_policy,  # type: ignore[arg-type]
                can_signal_parent=c.can_signal_parent,
                can_query_parent=c.can_query_parent,
                block_until=c.block_until,
            )
            for c in children
        ],
    )


def declare(
    db_session: Session, *, user_id: UUID, workflow_id: UUID, document: WorkflowExport
) -> None:
    """Create the document's signals, queries, work queues, schedules and children."""
    queue_ids: dict[str, UUID] = {}
    for queue in document.work_queues:
        created = service.create_work_queue(
            db_session=db_session, user_id=user_id, workflow_id=workflow_id, data=queue
        )
        queue_ids[queue.queue_name] = created.id
    for signal in document.signals:
        service.create_signal(
            db_session=db_session, user_id=user_id, workflow_id=workflow_id, data=signal
        )
    for query in document.queries:
        service.create_query(
            db_session=db_session, user_id=user_id, workflow_id=workflow_id, data=query
        )
    for index, schedule in enumerate(document.schedules):
        queue_id = None
        if schedule.work_queue_name is not None:
            if schedule.work_queue_name not in queue_ids:
                raise invalid(
                    f"schedules.{index}.work_queue_name",
                    f"no work queue named {schedule.work_queue_name!r} in the document",
                )
            queue_id = queue_ids[schedule.work_queue_name]
        service.create_schedule(
            db_session=db_session,
            user_id=user_id,
            workflow_id=workflow_id,
            data=ScheduleCreate(
                **schedule.model_dump(exclude={"work_queue_name"}), work_queue_id=queue_id
            ),
        )
    for child in document.child_workflows:
        # The child is linked when a workflow with that kebab name is visible here.
        child_id = db_session.execute(
            select(Workflow.id).where(Workflow.kebab_name == child.child_workflow_name)
        ).scalar_one_or_none()
        service.create_child_workflow(
            db_session=db_session,
            user_id=user_id,
            workflow_id=workflow_id,
            data=ChildWorkflowCreate(**child.model_dump(), child_workflow_id=child_id),
        )


def import_workflow(*, db_session: Session, user_id: UUID, document: WorkflowImport) -> Workflow:
    """Create a draft workflow from an exported document, with everything declared on it."""
    exported = document.workflow
    workflow = service.create_workflow(
        db_session=db_session,
        user_id=user_id,
        data=WorkflowCreate(
            kebab_name=document.kebab_name or exported.kebab_name,
            # A new kebab name makes a new workflow, so it takes the new name as well.
            name=document.kebab_name or exported.name,
            display_name=exported.display_name,
            description=exported.description,
            version=exported.version,
            definition=exported.definition,
            project_id=document.project_id,
            max_concurrent_executions=exported.max_concurrent_executions,
            execution_timeout_seconds=exported.execution_timeout_seconds,
        ),
    )
    declare(db_session, user_id=user_id, workflow_id=workflow.id, document=document)
    return workflow


def clone_workflow(
    *,
    db_session: Session,
    user_id: UUID,
    workflow_id: UUID,
    kebab_name: str,
    name: str | None,
    display_name: str | None,
) -> Workflow:
    """Copy a workflow the caller can see into a new private draft they own."""
    source = service.get_workflow(db_session=db_session, workflow_id=workflow_id)
    document = export_workflow(db_session=db_session, workflow_id=workflow_id)
    own = source.created_by == user_id
    workflow = service.create_workflow(
        db_session=db_session,
        user_id=user_id,
        data=WorkflowCreate(
            kebab_name=kebab_name,
            name=name or kebab_name,
            display_name=display_name or f"{source.display_name} (copy)"[:255],
            description=source.description,
            version=source.version,
            definition=source.definition,
            # Another user's project and queue stay theirs; a copy of theirs starts unfiled.
            project_id=source.project_id if own else None,
            task_queue_id=source.task_queue_id if own else None,
            max_concurrent_executions=source.max_concurrent_executions,
            execution_timeout_seconds=source.execution_timeout_seconds,
        ),
    )
    declare(db_session, user_id=user_id, workflow_id=workflow.id, document=document)
    return workflow
