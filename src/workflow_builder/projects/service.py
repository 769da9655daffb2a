"""Project and task queue services."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from workflow_builder.api.crud import apply_changes, delete_visible, get_or_404, save
from workflow_builder.api.errors import invalid
from workflow_builder.api.pagination import Page, PageParams, paginate
from workflow_builder.projects.models import (
    Project,
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    TaskQueue,
    TaskQueueCreate,
    TaskQueueRead,
    TaskQueueUpdate,
)


def _not_null(changes: dict[str, Any], *fields: str) -> dict[str, Any]:
    for field in fields:
        if field in changes and changes[field] is None:
            raise invalid(field, "cannot be null")
    return changes


def get_task_queue(*, db_session: Session, task_queue_id: UUID) -> TaskQueue:
    """Return a task queue."""
    return get_or_404(db_session, TaskQueue, task_queue_id, "Task queue")


def list_task_queues(
    *, db_session: Session, params: PageParams, is_system_queue: bool | None, q: str | None
) -> Page[TaskQueueRead]:
    """Return a page of task queues."""
    statement: Select[Any] = select(TaskQueue)
    if is_system_queue is not None:
        statement = statement.where(TaskQueue.is_system_queue.is_(is_system_queue))
    if q:
        pattern = f"%{q}%"
        statement = statement.where(
            or_(TaskQueue.name.ilike(pattern), TaskQueue.display_name.ilike(pattern))
        )
    return paginate(
        db_session,
        statement,
        params,
        sortable={"created_at": TaskQueue.created_at, "name": TaskQueue.name},
        default_sort="name",
        tiebreaker=TaskQueue.id,
        read=TaskQueueRead.model_validate,
    )


def create_task_queue(*, db_session: Session, user_id: UUID, data: TaskQueueCreate) -> TaskQueue:
    """Create a task queue."""
    queue = TaskQueue(**data.model_dump(), created_by=user_id)
    db_session.add(queue)
    return save(db_session, queue)


def update_task_queue(
    *, db_session: Session, task_queue_id: UUID, data: TaskQueueUpdate
) -> TaskQueue:
    """Change a task queue."""
    queue = get_task_queue(db_session=db_session, task_queue_id=task_queue_id)
    changes = _not_null(
        data.model_dump(exclude_unset=True), "max_concurrent_workflows", "max_concurrent_activities"
    )
    apply_changes(queue, changes)
    return save(db_session, queue)


def delete_task_queue(*, db_session: Session, task_queue_id: UUID) -> None:
    """Delete a task queue no workflow uses (one in use answers 409)."""
    delete_visible(db_session, TaskQueue, task_queue_id, "Task queue")


def get_project(*, db_session: Session, project_id: UUID) -> Project:
    """Return a project the caller owns."""
    return get_or_404(db_session, Project, project_id, "Project")


def list_projects(
    *, db_session: Session, params: PageParams, is_active: bool | None, q: str | None
) -> Page[ProjectRead]:
    """Return a page of the caller's projects."""
    statement: Select[Any] = select(Project)
    if is_active is not None:
        statement = statement.where(Project.is_active.is_(is_active))
    if q:
        statement = statement.where(Project.name.ilike(f"%{q}%"))
    return paginate(
        db_session,
        statement,
        params,
        sortable={
            "created_at": Project.created_at,
            "updated_at": Project.updated_at,
            "name": Project.name,
            "last_execution_at": Project.last_execution_at,
            "total_workflow_executions": Project.total_workflow_executions,
        },
        default_sort="-created_at",
        tiebreaker=Project.id,
        read=ProjectRead.model_validate,
    )


def create_project(*, db_session: Session, user_id: UUID, data: ProjectCreate) -> Project:
    """Create a project; the database names and creates its task queue."""
    project = Project(**data.model_dump(), created_by=user_id)
    db_session.add(project)
    return save(db_session, project)


def update_project(*, db_session: Session, project_id: UUID, data: ProjectUpdate) -> Project:
    """Change a project the caller owns."""
    project = get_project(db_session=db_session, project_id=project_id)
    apply_changes(project, _not_null(data.model_dump(exclude_unset=True), "name", "is_active"))
    return save(db_session, project)


def delete_project(*, db_session: Session, project_id: UUID) -> None:
    """Delete a project with no workflows (one with workflows answers 409)."""
    delete_visible(db_session, Project, project_id, "Project")
