"""Engine construction and the process-wide database handle."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal
from uuid import UUID

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from workflow_builder.config import Settings, get_settings
from workflow_builder.db.embedded import application_url, start_embedded

DbRole = Literal["authenticated", "anon", "service_role"]

_SET_CLAIMS = text(
    "select set_config('role', :role, true), set_config('request.jwt.claim.sub', :sub, true)"
)


def sqlalchemy_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver named, as SQLAlchemy expects."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]!r}")


def libpq_url(url: str) -> str:
    """Return `url` in the plain form libpq and psycopg accept."""
    return sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


class Database:
    """One PostgreSQL database: an engine and the units of work that run on it."""

    def __init__(
        self, url: str, *, pool_size: int = 20, max_overflow: int = 10, pool_timeout: float = 30
    ) -> None:
        self.url = libpq_url(url)
        # No ping at checkout (a round trip on every unit of work): `unit_of_work` notices a
        # connection the server has closed at its first statement and takes another.
        self.engine: Engine = create_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
        )
        self.pool_capacity = pool_size + max_overflow
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._request_sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._request_sessions, "after_begin", _claims_at_begin)

    @contextmanager
    def unit_of_work(self, role: DbRole, user_id: UUID | None = None) -> Iterator[Session]:
        """Open a transaction running as `role` with `auth.uid()` = `user_id`.

        The role and the claim are transaction-local, so they vanish at commit or
        rollback and a pooled connection never carries them to the next request.
        The transaction commits when the block exits normally and rolls back otherwise.
        """
        claims = {"role": role, "sub": str(user_id) if user_id else ""}
        with self._sessions() as session, _begin(session, claims):
            yield session

    def request_session(self, role: DbRole, user_id: UUID | None = None) -> Session:
        """Return a session whose transaction begins at its first statement (or at
        `begin_request`), running as `role` with `auth.uid()` = `user_id`, like
        `unit_of_work`'s; the caller commits or rolls it back and closes it.

        An API request's transaction begins in the thread that runs its route, so the request
        needs one hand-off to a worker thread, not one to open and another to commit.
        """
        session = self._request_sessions()
        session.info["claims"] = {"role": role, "sub": str(user_id) if user_id else ""}
        return session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _begin(session: Session, claims: Mapping[str, str]) -> SessionTransaction:
    """Begin a transaction on `session` and set its role and claim.

    A pooled connection may have been closed by the server since its last use (a restart, an
    idle timeout); that shows at this first statement, before anything of the caller's ran,
    so the transaction is begun once more on a fresh connection (the pool has already thrown
    away every connection older than the failure).
    """
    for attempt in (1, 2):
        transaction = session.begin()
        try:
            session.execute(_SET_CLAIMS, claims)
            return transaction
        except BaseException as exc:
            transaction.rollback()
            lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
            if attempt == 2 or not lost:
                raise
    raise AssertionError("unreachable")


def _claims_at_begin(session: Session, _transaction: object, connection: object) -> None:
    # Whatever statement begins a request session's transaction, its role and claim are set
    # first, in one statement: nothing in it runs with the pool's login role.
    connection.execute(_SET_CLAIMS, session.info["claims"])  # type: ignore[attr-defined]


def begin_request(session: Session) -> None:
    """Begin the transaction of a session from `request_session` now (its role and claim
    set), on a fresh connection if the pooled one turns out to be closed (as `_begin`)."""
    for attempt in (1, 2):
        try:
            session.connection()
            return
        except DBAPIError as exc:
            session.rollback()
            if attempt == 2 or not exc.connection_invalidated:
                raise


_database: Database | None = None


def database_url(settings: Settings | None = None) -> str:
    """Return the configured DATABASE_URL, starting the embedded server when there is none."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    # The embedded server: its unprivileged login role, never its superuser.
    return application_url(start_embedded(settings.embedded_db_dir))


def owner_database_url(settings: Settings | None = None) -> str:
    """Return the URL migrations run with: WFB_OWNER_DATABASE_URL, else the database's own
    (on the embedded server, its owner)."""
    settings = settings or get_settings()
    if settings.owner_database_url:
        return settings.owner_database_url
    return settings.database_url or start_embedded(settings.embedded_db_dir)


def current_database_url() -> str | None:
    """Return the URL of this process's database, if it has one yet (never starts anything)."""
    if _database is not None:
        return _database.url
    return get_settings().database_url


def get_database() -> Database:
    """Return the process-wide database, connecting on first use."""
    global _database
    if _database is None:
        _database = Database(database_url())
    return _database


def set_database(database: Database | None) -> None:
    """Replace the process-wide database (used by `wfb` start-up and by tests)."""
    global _database
    _database = database
