"""Routes for a project's secrets: names and kinds go out, values only come in."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response, status

from workflow_builder.api.deps import CurrentUser, DbSession, require
from workflow_builder.projects.service import get_project
from workflow_builder.secrets import service
from workflow_builder.secrets.models import SecretName, SecretRead, SecretWrite

secrets_router = APIRouter(prefix="/projects/{project_id}/secrets", tags=["secrets"])

ReadProjects = Annotated[CurrentUser, require("projects:read")]
WriteProjects = Annotated[CurrentUser, require("projects:write")]
NameParam = Annotated[SecretName, Path(description="The secret's name.")]


@secrets_router.get("")
def list_secrets(project_id: UUID, db_session: DbSession, user: ReadProjects) -> list[SecretRead]:
    """The names and kinds of the project's secrets and connections (never their values)."""
    get_project(db_session=db_session, project_id=project_id)
    return service.list_secrets(db_session=db_session, project_id=project_id)


@secrets_router.get("/{name}")
def read_secret(
    project_id: UUID, name: NameParam, db_session: DbSession, user: ReadProjects
) -> SecretRead:
    """One secret's name and kind (never its value)."""
    get_project(db_session=db_session, project_id=project_id)
    return service.get_secret(db_session=db_session, project_id=project_id, name=name)


@secrets_router.put(
    "/{name}",
    responses={201: {"model": SecretRead, "description": "Created"}},
)
def put_secret(
    project_id: UUID,
    name: NameParam,
    data: SecretWrite,
    db_session: DbSession,
    user: WriteProjects,
    response: Response,
) -> SecretRead:
    """Create or replace a secret; nodes refer to it as {"$secret": "<name>"}."""
    get_project(db_session=db_session, project_id=project_id)
    secret, created = service.set_secret(
        db_session=db_session, project_id=project_id, name=name, kind=data.kind, value=data.value
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return secret


@secrets_router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_secret(
    project_id: UUID, name: NameParam, db_session: DbSession, user: WriteProjects
) -> Response:
    """Delete a secret; nodes still referring to it fail with SecretNotFound."""
    get_project(db_session=db_session, project_id=project_id)
    service.delete_secret(db_session=db_session, project_id=project_id, name=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
