"""Routes for projects and task queues."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from workflow_builder.api.deps import CurrentUser, DbSession, require
from workflow_builder.api.errors import forbidden
from workflow_builder.api.pagination import Page, Paging
from workflow_builder.projects import service
from workflow_builder.projects.models import (
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    TaskQueueCreate,
    TaskQueueRead,
    TaskQueueUpdate,
)
from workflow_builder.statistics.service import fold_counters

projects_router = APIRouter(prefix="/projects", tags=["projects"])
task_queues_router = APIRouter(prefix="/task-queues", tags=["task queues"])

ReadProjects = Annotated[CurrentUser, require("projects:read")]
WriteProjects = Annotated[CurrentUser, require("projects:write")]
ReadQueues = Annotated[CurrentUser, require("task_queues:read")]
WriteQueues = Annotated[CurrentUser, require("task_queues:write")]
SYSTEM_QUEUES = "task_queues:system"


def _require_system(user: CurrentUser) -> None:
    if not user.can(SYSTEM_QUEUES):
        raise forbidden(
            f"System task queues need the permission '{SYSTEM_QUEUES}'", permission=SYSTEM_QUEUES
        )


@task_queues_router.get("")
def list_task_queues(
    db_session: DbSession,
    paging: Paging,
    user: ReadQueues,
    is_system_queue: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[TaskQueueRead]:
    """Every task queue: system queues and the users' own."""
    return service.list_task_queues(
        db_session=db_session, params=paging, is_system_queue=is_system_queue, q=q
    )


@task_queues_router.post("", status_code=status.HTTP_201_CREATED)
def create_task_queue(
    data: TaskQueueCreate, db_session: DbSession, user: WriteQueues
) -> TaskQueueRead:
    """Create a task queue; only administrators create system queues."""
    if data.is_system_queue:
        _require_system(user)
    queue = service.create_task_queue(db_session=db_session, user_id=user.id, data=data)
    return TaskQueueRead.model_validate(queue)


@task_queues_router.get("/{task_queue_id}")
def read_task_queue(task_queue_id: UUID, db_session: DbSession, user: ReadQueues) -> TaskQueueRead:
    """One task queue."""
    queue = service.get_task_queue(db_session=db_session, task_queue_id=task_queue_id)
    return TaskQueueRead.model_validate(queue)


@task_queues_router.patch("/{task_queue_id}")
def update_task_queue(
    task_queue_id: UUID, data: TaskQueueUpdate, db_session: DbSession, user: WriteQueues
) -> TaskQueueRead:
    """Change a task queue the caller owns (system queues: administrators)."""
    if service.get_task_queue(db_session=db_session, task_queue_id=task_queue_id).is_system_queue:
        _require_system(user)
    queue = service.update_task_queue(db_session=db_session, task_queue_id=task_queue_id, data=data)
    return TaskQueueRead.model_validate(queue)


@task_queues_router.delete("/{task_queue_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_task_queue(task_queue_id: UUID, db_session: DbSession, user: WriteQueues) -> Response:
    """Delete a task queue no workflow uses."""
    if service.get_task_queue(db_session=db_session, task_queue_id=task_queue_id).is_system_queue:
        _require_system(user)
    service.delete_task_queue(db_session=db_session, task_queue_id=task_queue_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@projects_router.get("")
def list_projects(
    db_session: DbSession,
    paging: Paging,
    user: ReadProjects,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[ProjectRead]:
    """The caller's projects with their statistics."""
    fold_counters(db_session)
    return service.list_projects(db_session=db_session, params=paging, is_active=is_active, q=q)


@projects_router.post("", status_code=status.HTTP_201_CREATED)
def create_project(data: ProjectCreate, db_session: DbSession, user: WriteProjects) -> ProjectRead:
    """Create a project; its task queue ('<user id>-<project id>') is created with it."""
    project = service.create_project(db_session=db_session, user_id=user.id, data=data)
    return ProjectRead.model_validate(project)


@projects_router.get("/{project_id}")
def read_project(project_id: UUID, db_session: DbSession, user: ReadProjects) -> ProjectRead:
    """One project with its statistics."""
    fold_counters(db_session)
    return ProjectRead.model_validate(
        service.get_project(db_session=db_session, project_id=project_id)
    )


@projects_router.patch("/{project_id}")
def update_project(
    project_id: UUID, data: ProjectUpdate, db_session: DbSession, user: WriteProjects
) -> ProjectRead:
    """Rename, describe, activate or deactivate a project."""
    fold_counters(db_session)
    project = service.update_project(db_session=db_session, project_id=project_id, data=data)
    return ProjectRead.model_validate(project)


@projects_router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_project(project_id: UUID, db_session: DbSession, user: WriteProjects) -> Response:
    """Delete a project that has no workflows left."""
    service.delete_project(db_session=db_session, project_id=project_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
