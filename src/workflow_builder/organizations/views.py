"""Routes for organizations and their members."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from workflow_builder.api.deps import CurrentUser, DbSession, require
from workflow_builder.api.pagination import Page, Paging
from workflow_builder.organizations import service
from workflow_builder.organizations.models import (
    MemberAdd,
    MemberRead,
    MemberUpdate,
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
)

router = APIRouter(prefix="/organizations", tags=["organizations"])

Reader = Annotated[CurrentUser, require("organizations:read")]
Writer = Annotated[CurrentUser, require("organizations:write")]


@router.get("")
def list_organizations(
    db_session: DbSession,
    paging: Paging,
    user: Reader,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[OrganizationRead]:
    """The organizations the caller belongs to."""
    return service.list_organizations(db_session=db_session, params=paging, q=q)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_organization(
    data: OrganizationCreate, db_session: DbSession, user: Writer
) -> OrganizationRead:
    """Create an organization; the caller becomes its owner."""
    organization = service.create_organization(db_session=db_session, user_id=user.id, data=data)
    return OrganizationRead.model_validate(organization)


@router.get("/{organization_id}")
def read_organization(
    organization_id: UUID, db_session: DbSession, user: Reader
) -> OrganizationRead:
    """One organization the caller belongs to."""
    organization = service.get_organization(db_session=db_session, organization_id=organization_id)
    return OrganizationRead.model_validate(organization)


@router.patch("/{organization_id}")
def update_organization(
    organization_id: UUID, data: OrganizationUpdate, db_session: DbSession, user: Writer
) -> OrganizationRead:
    """Rename or describe an organization (owners and admins)."""
    organization = service.update_organization(
        db_session=db_session, organization_id=organization_id, data=data
    )
    return OrganizationRead.model_validate(organization)


@router.delete("/{organization_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_organization(organization_id: UUID, db_session: DbSession, user: Writer) -> Response:
    """Delete an organization (owners); rows shared with it become private."""
    service.delete_organization(db_session=db_session, organization_id=organization_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{organization_id}/members")
def list_members(
    organization_id: UUID, db_session: DbSession, paging: Paging, user: Reader
) -> Page[MemberRead]:
    """The organization's members and their roles."""
    return service.list_members(
        db_session=db_session, organization_id=organization_id, params=paging
    )


@router.post("/{organization_id}/members", status_code=status.HTTP_201_CREATED)
def add_member(
    organization_id: UUID, data: MemberAdd, db_session: DbSession, user: Writer
) -> MemberRead:
    """Add a user by id or email (owners and admins)."""
    return service.add_member(db_session=db_session, organization_id=organization_id, data=data)


@router.patch("/{organization_id}/members/{user_id}")
def change_member_role(
    organization_id: UUID, user_id: UUID, data: MemberUpdate, db_session: DbSession, user: Writer
) -> MemberRead:
    """Change a member's role (owners and admins); one owner always remains."""
    return service.change_member_role(
        db_session=db_session, organization_id=organization_id, user_id=user_id, role=data.role
    )


@router.delete("/{organization_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(
    organization_id: UUID, user_id: UUID, db_session: DbSession, user: Reader
) -> Response:
    """Remove a member (owners and admins), or leave the organization oneself."""
    service.remove_member(db_session=db_session, organization_id=organization_id, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
