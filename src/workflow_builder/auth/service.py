"""Identity services: accounts, sign-in sessions, API keys, users and roles."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from workflow_builder.api.errors import ProblemError, conflict, forbidden, invalid, not_found
from workflow_builder.api.pagination import Page, PageParams, paginate
from workflow_builder.auth.cache import forget_credential, forget_everyone, forget_user
from workflow_builder.auth.models import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    AuthSession,
    AuthUser,
    MeRead,
    MeUpdate,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    SignIn,
    SignInAttempt,
    SignUp,
    SignUpResult,
    TokenPair,
    User,
    UserRead,
    UserRole,
    UserUpdate,
)
from workflow_builder.auth.passwords import weakness
from workflow_builder.auth.security import (
    ACCESS_TOKEN_TTL,
    API_KEY_PREFIX_LENGTH,
    REFRESH_TOKEN_TTL,
    hash_password,
    issue_token,
    needs_rehash,
    new_api_key,
    read_token,
    sha256_hex,
    verify_password,
)
from workflow_builder.db import system_session, user_session

# Failed sign-ins allowed per account and address, and per account from all addresses, within
# the window: the second stops an attacker who spreads guesses over many addresses (at the
# cost that such an attacker can hold the account's sign-in for a window).
MAX_FAILED_SIGN_INS = 5
MAX_FAILED_SIGN_INS_PER_ACCOUNT = 20
SIGN_IN_WINDOW = timedelta(minutes=15)
BAD_CREDENTIALS = "The email or the password is wrong"


@dataclass(frozen=True)
class Client:
    """Where a request comes from, recorded with sessions and sign-in attempts."""

    ip_address: str
    user_agent: str | None


def _start_session(session: Session, *, user_id: UUID, client: Client) -> TokenPair:
    """Record a new sign-in session for `user_id` and return its first tokens."""
    session_id = uuid4()
    refresh_token = issue_token(user_id=user_id, session_id=session_id, token_type="refresh")
    session.add(
        AuthSession(
            id=session_id,
            user_id=user_id,
            refresh_token_hash=sha256_hex(refresh_token),
            user_agent=(client.user_agent or "")[:255] or None,
            ip_address=client.ip_address[:64],
            expires_at=datetime.now(UTC) + REFRESH_TOKEN_TTL,
        )
    )
    return TokenPair(
        access_token=issue_token(user_id=user_id, session_id=session_id, token_type="access"),
        refresh_token=refresh_token,
        expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
    )


def _record_sign_in(session: Session, *, user_id: UUID) -> None:
    now = datetime.now(UTC)
    session.execute(update(AuthUser).where(AuthUser.id == user_id).values(last_sign_in_at=now))
    session.execute(update(User).where(User.id == user_id).values(last_login_at=now))


def _check_strength(password: str, *, email: str, name: str | None) -> None:
    """Raise 422 on `password` unless it is hard enough to guess (auth.passwords)."""
    reason = weakness(password, email=email, name=name)
    if reason is not None:
        raise invalid("password", f"choose a password that is harder to guess: {reason}")


def sign_up(*, data: SignUp, client: Client) -> SignUpResult:
    """Create an account (the first one becomes admin) and return it signed in."""
    email = data.email.lower()
    _check_strength(data.password, email=email, name=data.display_name)
    with system_session() as session:
        taken = session.execute(select(AuthUser.id).where(func.lower(AuthUser.email) == email))
        if taken.first() is not None:
            raise conflict("An account with this email already exists")
        meta = {"display_name": data.display_name} if data.display_name else {}
        account = AuthUser(
            email=email, encrypted_password=hash_password(data.password), raw_user_meta_data=meta
        )
        session.add(account)
        session.flush()
        _record_sign_in(session, user_id=account.id)
        tokens = _start_session(session, user_id=account.id, client=client)
        # The trigger on auth.users created the profile row; read it as it is now.
        user = session.execute(select(User).where(User.id == account.id)).scalar_one()
        return SignUpResult(user=MeRead.model_validate(user), tokens=tokens)


def _sign_in_retry_after(session: Session, *, email: str, client: Client) -> int | None:
    """Seconds until this email may be tried again from this address, or None if it may now:
    too many recent failures from this address, or for this account from all addresses."""
    failures = (
        select(SignInAttempt.ip_address, SignInAttempt.attempted_at)
        .where(
            func.lower(SignInAttempt.email) == email,
            SignInAttempt.succeeded.is_(False),
            SignInAttempt.attempted_at > func.now() - SIGN_IN_WINDOW,
        )
        .order_by(SignInAttempt.attempted_at.desc())
    )
    recent = session.execute(failures.limit(MAX_FAILED_SIGN_INS_PER_ACCOUNT)).all()
    from_here = [row.attempted_at for row in recent if row.ip_address == client.ip_address]
    until: datetime
    if len(recent) >= MAX_FAILED_SIGN_INS_PER_ACCOUNT:
        # The account is held until the oldest of its last allowed failures leaves the window.
        until = recent[-1].attempted_at + SIGN_IN_WINDOW
    elif len(from_here) >= MAX_FAILED_SIGN_INS:
        until = from_here[MAX_FAILED_SIGN_INS - 1] + SIGN_IN_WINDOW
    else:
        return None
    return max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))


def sign_in(*, data: SignIn, client: Client) -> TokenPair:
    """Return tokens for valid credentials; failures are counted and rate-limited."""
    email = data.email.strip().lower()
    tokens: TokenPair | None = None
    # The attempt must be recorded even when the answer is an error, so the transaction
    # finishes before any problem is raised.
    with system_session() as session:
        # Attempts older than the window no longer count; dropping them keeps the table small.
        session.execute(
            delete(SignInAttempt).where(
                func.lower(SignInAttempt.email) == email,
                SignInAttempt.attempted_at < func.now() - SIGN_IN_WINDOW,
            )
        )
        retry_after = _sign_in_retry_after(session, email=email, client=client)
        if retry_after is None:
            account = session.execute(
                select(AuthUser).where(func.lower(AuthUser.email) == email)
            ).scalar_one_or_none()
            valid = verify_password(data.password, account.encrypted_password if account else None)
            session.add(SignInAttempt(email=email, ip_address=client.ip_address, succeeded=valid))
            if valid and account is not None:
                if account.encrypted_password and needs_rehash(account.encrypted_password):
                    account.encrypted_password = hash_password(data.password)
                session.execute(
                    delete(SignInAttempt).where(
                        func.lower(SignInAttempt.email) == email,
                        SignInAttempt.ip_address == client.ip_address,
                        SignInAttempt.succeeded.is_(False),
                    )
                )
                _record_sign_in(session, user_id=account.id)
                tokens = _start_session(session, user_id=account.id, client=client)
    if retry_after is not None:
        raise ProblemError(
            429,
            "rate-limited",
            "Too many failed sign-ins",
            f"Too many failed attempts; try again in {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
        )
    if tokens is None:
        raise ProblemError(401, "invalid-credentials", "Sign-in failed", BAD_CREDENTIALS)
    return tokens


def refresh(*, refresh_token: str) -> TokenPair:
    """Exchange a refresh token for new tokens; a replayed old token ends its session."""
    claims = read_token(refresh_token, expected="refresh")
    if claims is None:
        raise ProblemError(401, "unauthorized", "Not signed in", "The refresh token is invalid")
    tokens: TokenPair | None = None
    with system_session() as session:
        row = session.execute(
            select(AuthSession).where(AuthSession.id == claims.session_id).with_for_update()
        ).scalar_one_or_none()
        now = datetime.now(UTC)
        if row is not None and row.revoked_at is None and row.expires_at > now:
            if row.refresh_token_hash == sha256_hex(refresh_token):
                new_refresh = issue_token(
                    user_id=row.user_id, session_id=row.id, token_type="refresh"
                )
                row.refresh_token_hash = sha256_hex(new_refresh)
                row.refreshed_at = now
                tokens = TokenPair(
                    access_token=issue_token(
                        user_id=row.user_id, session_id=row.id, token_type="access"
                    ),
                    refresh_token=new_refresh,
                    expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
                )
            else:
                # An already rotated token came back: it was copied, so end the session.
                row.revoked_at = now
                forget_credential(row.id, session)
    if tokens is None:
        raise ProblemError(401, "unauthorized", "Not signed in", "The session has ended")
    return tokens


def sign_out(*, user_id: UUID | None, session_id: UUID | None, refresh_token: str | None) -> None:
    """End the session the refresh token belongs to, or else the calling access token's."""
    now = datetime.now(UTC)
    if refresh_token is not None:
        claims = read_token(refresh_token, expected="refresh")
        if claims is None:
            raise ProblemError(401, "unauthorized", "Not signed in", "The refresh token is invalid")
        # Holding a session's refresh token is the authority to end it, so this works even
        # after the access token has expired.
        with system_session() as session:
            session.execute(
                update(AuthSession)
                .where(AuthSession.id == claims.session_id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            forget_credential(claims.session_id, session)
        return
    if user_id is None or session_id is None:
        raise invalid("refresh_token", "send the refresh token, or sign out with an access token")
    with user_session(user_id) as session:
        session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        forget_credential(session_id, session)


def get_me(*, db_session: Session, user_id: UUID) -> MeRead:
    """Return the calling user with their permissions."""
    user = db_session.get(User, user_id)
    if user is None:
        raise not_found("User")
    return MeRead.model_validate(user)


def update_me(
    *, db_session: Session, user_id: UUID, session_id: UUID | None, data: MeUpdate
) -> MeRead:
    """Apply the caller's changes to their own account and return it."""
    user = db_session.get(User, user_id)
    account = db_session.get(AuthUser, user_id)
    if user is None or account is None:
        raise not_found("User")
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.email is not None and data.email.lower() != account.email.lower():
        account.email = data.email.lower()
        forget_user(user_id, db_session)  # the cached caller carries the email
    if data.password is not None:
        if data.current_password is None or not verify_password(
            data.current_password, account.encrypted_password
        ):
            raise invalid("current_password", "the current password is needed and must match")
        _check_strength(data.password, email=data.email or account.email, name=user.display_name)
        account.encrypted_password = hash_password(data.password)
        # A new password ends every other sign-in, in case the old one leaked.
        others = update(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
        )
        if session_id is not None:
            others = others.where(AuthSession.id != session_id)
        db_session.execute(others.values(revoked_at=datetime.now(UTC)))
        forget_user(user_id, db_session)
    db_session.flush()
    db_session.refresh(user)
    return MeRead.model_validate(user)


def list_api_keys(*, db_session: Session, params: PageParams) -> Page[ApiKeyRead]:
    """Return a page of the caller's API keys (RLS shows only one's own)."""
    return paginate(
        db_session,
        select(ApiKey),
        params,
        sortable={"created_at": ApiKey.created_at, "name": ApiKey.name},
        default_sort="-created_at",
        tiebreaker=ApiKey.id,
        read=ApiKeyRead.model_validate,
    )


def create_api_key(*, db_session: Session, user_id: UUID, data: ApiKeyCreate) -> ApiKeyCreated:
    """Create an API key and return it with its secret, which is not stored."""
    if data.expires_at is not None and data.expires_at.tzinfo is None:
        raise invalid("expires_at", "give a time zone (e.g. a trailing Z)")
    if data.expires_at is not None and data.expires_at <= datetime.now(UTC):
        raise invalid("expires_at", "must be in the future")
    key = new_api_key()
    row = ApiKey(
        user_id=user_id,
        name=data.name,
        prefix=key[:API_KEY_PREFIX_LENGTH],
        key_hash=sha256_hex(key),
        expires_at=data.expires_at,
    )
    db_session.add(row)
    db_session.flush()
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": key})


def delete_api_key(*, db_session: Session, api_key_id: UUID) -> None:
    """Revoke (delete) one of the caller's API keys."""
    deleted = db_session.execute(
        delete(ApiKey).where(ApiKey.id == api_key_id).returning(ApiKey.id)
    ).first()
    if deleted is None:
        raise not_found("API key")
    forget_credential(api_key_id, db_session)


def list_users(*, db_session: Session, params: PageParams, q: str | None) -> Page[UserRead]:
    """Return a page of the users the caller may see."""
    statement = select(User)
    if q:
        pattern = f"%{q}%"
        statement = statement.where(User.email.ilike(pattern) | User.display_name.ilike(pattern))
    return paginate(
        db_session,
        statement,
        params,
        sortable={"created_at": User.created_at, "email": User.email},
        default_sort="created_at",
        tiebreaker=User.id,
        read=UserRead.model_validate,
    )


def get_user(*, db_session: Session, user_id: UUID) -> User:
    """Return a user the caller may see."""
    user = db_session.get(User, user_id)
    if user is None:
        raise not_found("User")
    return user


def update_user(*, db_session: Session, user_id: UUID, data: UserUpdate) -> UserRead:
    """Apply an administrator's changes to a user (display name, role)."""
    user = get_user(db_session=db_session, user_id=user_id)
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.role is not None and data.role != user.role:
        role = db_session.execute(
            select(UserRole).where(UserRole.name == data.role)
        ).scalar_one_or_none()
        if role is None:
            raise invalid("role", f"no role is named {data.role!r}")
        if user.role == "admin" and _admin_count(db_session) <= 1:
            raise conflict("The last admin cannot lose the admin role")
        user.role_id = role.id
        user.role_row = role
        forget_user(user_id, db_session)  # the cached caller carries the role's permissions
    db_session.flush()
    db_session.refresh(user)
    return UserRead.model_validate(user)


def _admin_count(db_session: Session) -> int:
    return db_session.execute(
        select(func.count()).select_from(User).join(UserRole).where(UserRole.name == "admin")
    ).scalar_one()


def list_roles(*, db_session: Session) -> list[RoleRead]:
    """Return every role with its permissions."""
    rows = db_session.scalars(select(UserRole).order_by(UserRole.name))
    return [RoleRead.model_validate(row) for row in rows]


def get_role(*, db_session: Session, role_id: UUID) -> UserRole:
    """Return one role."""
    role = db_session.get(UserRole, role_id)
    if role is None:
        raise not_found("Role")
    return role


def create_role(*, db_session: Session, data: RoleCreate) -> RoleRead:
    """Create a role."""
    role = UserRole(name=data.name, description=data.description, permissions=data.permissions)
    db_session.add(role)
    db_session.flush()
    return RoleRead.model_validate(role)


def update_role(*, db_session: Session, role_id: UUID, data: RoleUpdate) -> RoleRead:
    """Change a role's description or permissions."""
    role = get_role(db_session=db_session, role_id=role_id)
    if role.name == "admin" and data.permissions is not None:
        raise forbidden("The admin role's permissions are fixed")
    if data.description is not None:
        role.description = data.description
    if data.permissions is not None:
        role.permissions = data.permissions
        forget_everyone(db_session)
    db_session.flush()
    return RoleRead.model_validate(role)


def delete_role(*, db_session: Session, role_id: UUID) -> None:
    """Delete a role no user holds (a held role answers 409)."""
    role = get_role(db_session=db_session, role_id=role_id)
    if role.name in ("admin", "developer", "viewer"):
        raise conflict(f"The built-in role {role.name!r} cannot be deleted")
    db_session.delete(role)
    db_session.flush()
    forget_everyone(db_session)
