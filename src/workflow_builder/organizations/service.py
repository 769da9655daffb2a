"""Organization services; who may do what is decided by the row-level-security policies
(owners and admins manage members, only owners delete the organization)."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from workflow_builder.api.crud import apply_changes, delete_visible, get_or_404, save
from workflow_builder.api.errors import forbidden, invalid, not_found
from workflow_builder.api.pagination import Page, PageParams, paginate
from workflow_builder.auth.models import AuthUser
from workflow_builder.db import system_session
from workflow_builder.organizations.models import (
    MemberAdd,
    MemberRead,
    Organization,
    OrganizationCreate,
    OrganizationMember,
    OrganizationRead,
    OrganizationUpdate,
)


def slugify(name: str) -> str:
    """Return a slug made from `name` (lowercase words joined by dashes)."""
    slug = "-".join(re.findall(r"[a-z0-9]+", name.lower()))[:100].strip("-")
    return slug or "organization"


def _checked_now(db_session: Session) -> None:
    """Check the keep-an-owner rule at once, so breaking it is this request's error."""
    db_session.execute(text("set constraints public.organization_members_last_owner immediate"))


def get_organization(*, db_session: Session, organization_id: UUID) -> Organization:
    """Return an organization the caller belongs to."""
    return get_or_404(db_session, Organization, organization_id, "Organization")


def list_organizations(
    *, db_session: Session, params: PageParams, q: str | None
) -> Page[OrganizationRead]:
    """Return a page of the organizations the caller belongs to."""
    statement = select(Organization)
    if q:
        statement = statement.where(Organization.name.ilike(f"%{q}%"))
    return paginate(
        db_session,
        statement,
        params,
        sortable={
            "created_at": Organization.created_at,
            "name": Organization.name,
            "slug": Organization.slug,
        },
        default_sort="name",
        tiebreaker=Organization.id,
        read=OrganizationRead.model_validate,
    )


def create_organization(
    *, db_session: Session, user_id: UUID, data: OrganizationCreate
) -> Organization:
    """Create an organization; the database makes the caller its owner."""
    organization = Organization(
        name=data.name,
        slug=data.slug or slugify(data.name),
        description=data.description,
        created_by=user_id,
    )
    db_session.add(organization)
    return save(db_session, organization)


def update_organization(
    *, db_session: Session, organization_id: UUID, data: OrganizationUpdate
) -> Organization:
    """Change an organization (its owners and admins)."""
    organization = get_organization(db_session=db_session, organization_id=organization_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for required in ("name", "slug"):
        if required in changes and changes[required] is None:
            raise invalid(required, "cannot be null")
    apply_changes(organization, changes)
    return save(db_session, organization)


def delete_organization(*, db_session: Session, organization_id: UUID) -> None:
    """Delete an organization (its owners); what was shared with it becomes private."""
    delete_visible(db_session, Organization, organization_id, "Organization")


def list_members(
    *, db_session: Session, organization_id: UUID, params: PageParams
) -> Page[MemberRead]:
    """Return a page of the organization's members."""
    get_organization(db_session=db_session, organization_id=organization_id)
    return paginate(
        db_session,
        select(OrganizationMember).where(OrganizationMember.organization_id == organization_id),
        params,
        sortable={"created_at": OrganizationMember.created_at, "role": OrganizationMember.role},
        default_sort="created_at",
        tiebreaker=OrganizationMember.id,
        read=MemberRead.model_validate,
    )


def _user_id_for_email(email: str) -> UUID:
    # Users cannot see accounts outside their organizations, so turning an invitee's email
    # into an id is a system lookup; it reveals only the id, and the membership row itself is
    # still written under the caller's row-level security.
    with system_session() as session:
        found = session.execute(
            select(AuthUser.id).where(func.lower(AuthUser.email) == email.lower())
        ).scalar_one_or_none()
    if found is None:
        raise not_found("An account with that email")
    return found


def add_member(*, db_session: Session, organization_id: UUID, data: MemberAdd) -> MemberRead:
    """Add a user to the organization (its owners and admins)."""
    get_organization(db_session=db_session, organization_id=organization_id)
    user_id = data.user_id or _user_id_for_email(data.email or "")
    member = OrganizationMember(organization_id=organization_id, user_id=user_id, role=data.role)
    db_session.add(member)
    db_session.flush()
    return MemberRead.model_validate(save(db_session, member))


def _member(db_session: Session, organization_id: UUID, user_id: UUID) -> OrganizationMember:
    get_organization(db_session=db_session, organization_id=organization_id)
    member = db_session.execute(
        select(OrganizationMember).where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.user_id == user_id,
        )
    ).scalar_one_or_none()
    if member is None:
        raise not_found("Member")
    return member


def change_member_role(
    *, db_session: Session, organization_id: UUID, user_id: UUID, role: str
) -> MemberRead:
    """Give a member another role; an organization keeps at least one owner."""
    _member(db_session, organization_id, user_id)
    _checked_now(db_session)
    changed = db_session.execute(
        update(OrganizationMember)
        .where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.user_id == user_id,
        )
        .values(role=role)
        .returning(OrganizationMember.id)
    ).first()
    if changed is None:
        raise forbidden("Only the organization's owners and admins change roles")
    db_session.expire_all()
    return MemberRead.model_validate(_member(db_session, organization_id, user_id))


def remove_member(*, db_session: Session, organization_id: UUID, user_id: UUID) -> None:
    """Remove a member (owners and admins remove anyone; members may leave)."""
    _member(db_session, organization_id, user_id)
    _checked_now(db_session)
    removed = db_session.execute(
        delete(OrganizationMember)
        .where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.user_id == user_id,
        )
        .returning(OrganizationMember.id)
    ).first()
    if removed is None:
        raise forbidden("Only the organization's owners and admins remove other members")
