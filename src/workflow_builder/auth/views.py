"""Routes for sign-up/sign-in, the current user, API keys, users and roles."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from workflow_builder.api.deps import Caller, CurrentUser, DbSession, OptionalPrincipal, require
from workflow_builder.api.pagination import Page, Paging
from workflow_builder.auth import service
from workflow_builder.auth.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    MeRead,
    MeUpdate,
    RefreshRequest,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    SignIn,
    SignOutRequest,
    SignUp,
    SignUpResult,
    TokenPair,
    UserRead,
    UserUpdate,
)

auth_router = APIRouter(prefix="/auth", tags=["auth"])
me_router = APIRouter(prefix="/me", tags=["auth"])
api_keys_router = APIRouter(prefix="/api-keys", tags=["api keys"])
users_router = APIRouter(prefix="/users", tags=["users"])
roles_router = APIRouter(prefix="/roles", tags=["roles"])

ManageUsers = Annotated[CurrentUser, require("users:manage")]
ManageRoles = Annotated[CurrentUser, require("roles:manage")]


def _client(request: Request) -> service.Client:
    host = request.client.host if request.client else "unknown"
    return service.Client(ip_address=host, user_agent=request.headers.get("user-agent"))


@auth_router.post("/signup", status_code=status.HTTP_201_CREATED)
def sign_up(data: SignUp, request: Request) -> SignUpResult:
    """Create an account and sign it in. The first account becomes an admin."""
    return service.sign_up(data=data, client=_client(request))


@auth_router.post("/signin", responses={429: {"description": "Too many failed attempts"}})
def sign_in(data: SignIn, request: Request) -> TokenPair:
    """Exchange an email and password for an access token and a refresh token."""
    return service.sign_in(data=data, client=_client(request))


@auth_router.post("/refresh")
def refresh(data: RefreshRequest) -> TokenPair:
    """Exchange a refresh token for new tokens (the old refresh token stops working)."""
    return service.refresh(refresh_token=data.refresh_token)


@auth_router.post("/signout", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(data: SignOutRequest, principal: OptionalPrincipal) -> Response:
    """End a sign-in session (the refresh token's, else the access token's): its access and
    refresh tokens stop working."""
    service.sign_out(
        user_id=principal.user_id if principal else None,
        session_id=principal.session_id if principal else None,
        refresh_token=data.refresh_token,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get("")
def read_me(user: Caller, db_session: DbSession) -> MeRead:
    """The calling user, their role and permissions."""
    return service.get_me(db_session=db_session, user_id=user.id)


@me_router.patch("")
def update_me(data: MeUpdate, user: Caller, db_session: DbSession) -> MeRead:
    """Change one's display name, email or password (the current password is required)."""
    return service.update_me(
        db_session=db_session, user_id=user.id, session_id=user.session_id, data=data
    )


@api_keys_router.get("")
def list_api_keys(
    db_session: DbSession, paging: Paging, user: Annotated[CurrentUser, require("api_keys:write")]
) -> Page[ApiKeyRead]:
    """The caller's API keys (never their secrets)."""
    return service.list_api_keys(db_session=db_session, params=paging)


@api_keys_router.post("", status_code=status.HTTP_201_CREATED)
def create_api_key(
    data: ApiKeyCreate,
    db_session: DbSession,
    user: Annotated[CurrentUser, require("api_keys:write")],
) -> ApiKeyCreated:
    """Create an API key. The response holds the key itself, which is never shown again."""
    return service.create_api_key(db_session=db_session, user_id=user.id, data=data)


@api_keys_router.delete("/{api_key_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_api_key(
    api_key_id: UUID,
    db_session: DbSession,
    user: Annotated[CurrentUser, require("api_keys:write")],
) -> Response:
    """Revoke an API key."""
    service.delete_api_key(db_session=db_session, api_key_id=api_key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.get("")
def list_users(
    db_session: DbSession,
    paging: Paging,
    user: ManageUsers,
    q: Annotated[str | None, Query(max_length=200, description="Matches email or name.")] = None,
) -> Page[UserRead]:
    """Every user (administrators only)."""
    return service.list_users(db_session=db_session, params=paging, q=q)


@users_router.get("/{user_id}")
def read_user(user_id: UUID, db_session: DbSession, user: ManageUsers) -> UserRead:
    """One user (administrators only)."""
    return UserRead.model_validate(service.get_user(db_session=db_session, user_id=user_id))


@users_router.patch("/{user_id}")
def update_user(
    user_id: UUID, data: UserUpdate, db_session: DbSession, user: ManageUsers
) -> UserRead:
    """Change a user's display name or role (administrators only)."""
    return service.update_user(db_session=db_session, user_id=user_id, data=data)


@roles_router.get("")
def list_roles(db_session: DbSession, user: Caller) -> list[RoleRead]:
    """Every role and the permissions it grants."""
    return service.list_roles(db_session=db_session)


@roles_router.get("/{role_id}")
def read_role(role_id: UUID, db_session: DbSession, user: Caller) -> RoleRead:
    """One role."""
    return RoleRead.model_validate(service.get_role(db_session=db_session, role_id=role_id))


@roles_router.post("", status_code=status.HTTP_201_CREATED)
def create_role(data: RoleCreate, db_session: DbSession, user: ManageRoles) -> RoleRead:
    """Create a role (administrators only)."""
    return service.create_role(db_session=db_session, data=data)


@roles_router.patch("/{role_id}")
def update_role(
    role_id: UUID, data: RoleUpdate, db_session: DbSession, user: ManageRoles
) -> RoleRead:
    """Change a role's permissions (administrators only)."""
    return service.update_role(db_session=db_session, role_id=role_id, data=data)


@roles_router.delete("/{role_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_role(role_id: UUID, db_session: DbSession, user: ManageRoles) -> Response:
    """Delete a role no user holds (administrators only)."""
    service.delete_role(db_session=db_session, role_id=role_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
