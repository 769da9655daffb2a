"""One error model for the whole API: RFC 9457 problem details (`application/problem+json`).

Every failure a client can cause becomes a problem with a stable `type`, never a 500: request
validation, missing rows, permissions, and the database's own verdicts (unique, foreign key and
check violations, row-level security) are all translated here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://workflow-builder.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger(__name__)


class ProblemFieldError(BaseModel):
    """One invalid field of a request."""

    loc: list[str | int] = Field(description="Where the error is: ['body', 'field', ...].")
    pointer: str | None = Field(
        default=None, description="JSON Pointer into the request body, when the error is there."
    )
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    type: str = Field(examples=[PROBLEM_BASE + "validation"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None
    permission: str | None = Field(default=None, description="The permission that is missing.")
    limit: str | None = Field(
        default=None,
        description="The limit that was hit (template rendering: output, value, "
        "loop, calls, time).",
    )


class ProblemError(Exception):
    """Raised anywhere to answer with a problem document."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        *,
        errors: Sequence[ProblemFieldError] | None = None,
        headers: dict[str, str] | None = None,
        permission: str | None = None,
        limit: str | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = headers
        self.permission = permission
        self.limit = limit


def not_found(what: str) -> ProblemError:
    """Return the problem for a row that does not exist or that the caller cannot see."""
    return ProblemError(404, "not-found", "Not found", f"{what} was not found")


def overloaded(detail: str, retry_after: int) -> ProblemError:
    """Return the problem for work refused until the backlog drains (429, with Retry-After)."""
    return ProblemError(
        429, "overloaded", "Too busy", detail, headers={"Retry-After": str(retry_after)}
    )


def forbidden(detail: str, *, permission: str | None = None) -> ProblemError:
    """Return the problem for an action the caller may not take."""
    return ProblemError(403, "forbidden", "Forbidden", detail, permission=permission)


def conflict(detail: str) -> ProblemError:
    """Return the problem for a request that clashes with the current state."""
    return ProblemError(409, "conflict", "Conflict", detail)


def invalid(field: str, message: str, *, location: str = "body") -> ProblemError:
    """Return a validation problem about one field of the request."""
    return validation_problem([field_error([location, *field.split(".")], message)])


def field_error(loc: Sequence[str | int], message: str) -> ProblemFieldError:
    """Return a field error whose pointer is derived from its location in the body."""
    items = list(loc)
    pointer = None
    if items and items[0] == "body":
        pointer = "/" + "/".join(
            str(part).replace("~", "~0").replace("/", "~1") for part in items[1:]
        )
    return ProblemFieldError(loc=items, pointer=pointer, message=message)


def validation_problem(errors: Sequence[ProblemFieldError]) -> ProblemError:
    """Return the 422 problem listing `errors`."""
    fields = ", ".join(e.pointer or ".".join(map(str, e.loc)) for e in errors)
    return ProblemError(
        422, "validation", "The request is not valid", f"Invalid: {fields}", errors=errors
    )


def problem_response(problem: ProblemError, request: Request) -> JSONResponse:
    """Render `problem` as problem+json."""
    body = Problem(
        type=PROBLEM_BASE + problem.kind,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request.url.path,
        errors=problem.errors,
        permission=problem.permission,
        limit=problem.limit,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


# Under row-level security PostgreSQL leaves out which values clashed, so the constraint
# names say it instead.
UNIQUE_MESSAGES = {
    "workflows_kebab_name_key": "A workflow with this kebab_name already exists",
    "workflows_name_version_created_by_key": (
        "You already have a workflow with this name and version"
    ),
    "components_name_version_created_by_key": (
        "You already have a component with this name and version"
    ),
    "agent_prompts_name_version_created_by_key": (
        "You already have an agent prompt with this name and version"
    ),
    "projects_created_by_name_key": "You already have a project with this name",
    "task_queues_name_key": "A task queue with this name already exists",
    "organizations_slug_key": "An organization with this slug already exists",
    "organization_members_organization_id_user_id_key": "The user is already a member",
    "api_keys_user_id_name_key": "You already have an API key with this name",
    "user_roles_name_key": "A role with this name already exists",
    "users_email_key": "An account with this email already exists",
    "users_email_lower_key": "An account with this email already exists",
    "workflow_signals_workflow_id_signal_name_key": (
        "The workflow already has a signal with this name"
    ),
    "workflow_queries_workflow_id_query_name_key": (
        "The workflow already has a query with this name"
    ),
    "workflow_work_queues_workflow_id_queue_name_key": (
        "The workflow already has a work queue with this name"
    ),
    "workflow_work_queues_workflow_id_signal_name_key": (
        "The workflow already has a work queue whose signal has this name"
    ),
    "workflow_work_queues_workflow_id_query_name_key": (
        "The workflow already has a work queue whose query has this name"
    ),
}


def from_database_error(exc: DBAPIError) -> ProblemError | None:
    """Return the problem a client should see for a PostgreSQL error, or None if it is ours."""
    orig: Any = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or ""
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    message = getattr(diag, "message_primary", None) or str(orig).splitlines()[0]
    if sqlstate == "23505":
        detail = UNIQUE_MESSAGES.get(constraint or "") or getattr(diag, "message_detail", None)
        return ProblemError(
            409, "conflict", "Already exists", f"{detail or message} ({constraint})"
        )
    if sqlstate == "23503":
        if message.startswith("update or delete"):
            return conflict(f"Still referenced by other rows: {message}")
        return ProblemError(422, "reference", "Unknown reference", message)
    if sqlstate == "23001":
        return conflict(f"Still referenced by other rows: {message}")
    if sqlstate.startswith("23"):
        suffix = f" ({constraint})" if constraint else ""
        return ProblemError(422, "constraint", "Constraint violated", f"{message}{suffix}")
    if sqlstate == "42501":
        return forbidden(message)
    if sqlstate.startswith("22") or (isinstance(exc, DataError) and not sqlstate):
        # (no state: the driver refused the value before sending it, e.g. a NUL in text)
        return ProblemError(422, "invalid-value", "Invalid value", message)
    if sqlstate in ("40001", "40P01"):
        return ProblemError(409, "retry", "Concurrent update", "Try the request again")
    if (
        sqlstate in UNAVAILABLE_STATES
        or sqlstate.startswith("08")
        or (isinstance(exc, OperationalError) and not sqlstate)
    ):
        return unavailable(f"The database cannot take the request now: {message}")
    return None


# too_many_connections, cannot_connect_now, admin/crash shutdown (class 08 is connection errors)
UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})


def unavailable(detail: str, retry_after: int = 1) -> ProblemError:
    """A 503 for a database (or an engine) that refuses or drops connections: the caller
    should retry after `retry_after` seconds."""
    return ProblemError(
        503,
        "unavailable",
        "Service unavailable",
        detail,
        headers={"Retry-After": str(retry_after)},
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [field_error(err["loc"], err["msg"]) for err in exc.errors()]
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            malformed = ProblemError(
                400, "bad-request", "Malformed request", "The body is not valid JSON", errors=errors
            )
            return problem_response(malformed, request)
        return problem_response(validation_problem(errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {
            400: "bad-request",
            401: "unauthorized",
            404: "not-found",
            405: "method-not-allowed",
        }
        problem = ProblemError(
            exc.status_code,
            kinds.get(exc.status_code, "http"),
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )
        return problem_response(problem, request)

    @app.exception_handler(DBAPIError)
    async def on_database(request: Request, exc: DBAPIError) -> JSONResponse:
        problem = from_database_error(exc)
        if problem is None:
            log.exception("database error on %s %s", request.method, request.url.path)
            problem = ProblemError(500, "internal", "Internal error", "The database failed")
        return problem_response(problem, request)

    @app.exception_handler(PoolTimeoutError)
    async def on_pool_timeout(request: Request, exc: PoolTimeoutError) -> JSONResponse:
        detail = "Every database connection is busy; try again in a moment"
        return problem_response(unavailable(detail), request)

    @app.exception_handler(StaleDataError)
    async def on_stale(request: Request, exc: StaleDataError) -> JSONResponse:
        # An UPDATE that matched no row: the row is visible (it was loaded) but the
        # row-level-security policy does not let this caller change it.
        return problem_response(forbidden("You may read this resource but not change it"), request)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = ProblemError(500, "internal", "Internal error", "An unexpected error occurred")
        return problem_response(problem, request)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": description}
    for status, description in (
        (400, "Malformed request"),
        (401, "Not signed in"),
        (403, "Missing permission"),
        (404, "Not found"),
        (409, "Conflict"),
        (422, "Invalid request"),
        (503, "The database is unavailable; retry after the given delay"),
    )
}
