"""Route: `POST /hooks/{path}` starts a run of the webhook's workflow with the JSON body as input.

The route is asynchronous: database work runs on the thread pool for the moment it takes, and a
caller waiting for the result (`?wait=` or `Prefer: wait=`) holds neither a thread nor a
connection between polls of the run's status.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from workflow_builder.api.deps import unauthorized
from workflow_builder.api.errors import (
    PROBLEM_RESPONSES,
    ProblemError,
    field_error,
    not_found,
    overloaded,
    validation_problem,
)
from workflow_builder.api.router import API_PREFIX
from workflow_builder.auth.security import is_api_key
from workflow_builder.runtime import service as runtime
from workflow_builder.webhooks import service
from workflow_builder.webhooks.ratelimit import RateLimiter, retry_after

router = APIRouter(tags=["webhooks"], responses=PROBLEM_RESPONSES)

MAX_WAIT_SECONDS = 60.0
_FIRST_POLL_SECONDS = 0.02
_MAX_POLL_SECONDS = 0.5
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)

limiter = RateLimiter()


def _no_hook(path: str) -> ProblemError:
    return not_found(f"The webhook /hooks/{path}")


def _json_type(content_type: str | None) -> bool:
    if not content_type:
        return True  # many senders leave it out; the body must still be JSON
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _inputs(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Return the run input a request's body holds: a JSON object (empty body: {})."""
    if not _json_type(content_type):
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"The body must be JSON (Content-Type: application/json), not {content_type}",
        )
    if not body.strip():
        return {}
    try:
        value = json.loads(body, parse_constant=_not_json)
    except ValueError as exc:
        raise ProblemError(
            400, "bad-request", "Malformed request", f"The body is not valid JSON: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise validation_problem(
            [
                field_error(
                    ["body"],
                    f"The body must be a JSON object (the run's input), not {_kind(value)}",
                )
            ]
        )
    return value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _wait_seconds(wait: float | None, prefer: str | None) -> float:
    if wait is None and prefer:
        found = _PREFER_WAIT.search(prefer)
        wait = float(found.group(1)) if found else None
    return min(wait or 0.0, MAX_WAIT_SECONDS)


def _credential(
    hook: service.Hook,
    *,
    body: bytes,
    api_key: str | None,
    authorization: str | None,
    signed: str | None,
    timestamp: str | None,
) -> str | None:
    """Check a signed hook's signature (returning None: the run starts as the workflow's
    owner), or return the API key an api_key hook's caller sent (checked when the run starts)."""
    if hook.auth == "hmac":
        try:
            service.verify_signature(
                hook, signed=signed, timestamp=timestamp, body=body, now=time.time()
            )
        except service.SignatureRefused as refused:
            raise ProblemError(401, "unauthorized", "Bad signature", str(refused)) from None
        return None
    key = api_key
    if key is None and authorization and authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    if not key or not is_api_key(key):
        raise unauthorized(
            "This webhook takes an API key: send 'X-API-Key: <key>' or "
            "'Authorization: Bearer <key>'"
        )
    return key


async def _start(
    hook: service.Hook, api_key: str | None, inputs: dict[str, Any], idempotency_key: str | None
) -> tuple[UUID, bool]:
    try:
        return await run_in_threadpool(
            service.start_run,
            hook,
            api_key=api_key,
            inputs=inputs,
            idempotency_key=idempotency_key,
        )
    except service.UnknownApiKey as unknown:
        raise unauthorized(str(unknown)) from None
    except (runtime.NotFound, runtime.ExecutionRefused):
        # The caller cannot see the workflow, or it was paused or undeployed since the lookup.
        raise _no_hook(hook.path) from None
    except runtime.Overloaded as busy:
        raise overloaded(str(busy), busy.retry_after) from None
    except runtime.InvalidPayload as invalid:
        raise validation_problem(
            [
                field_error(["body", *[p for p in pointer.split("/") if p]], message)
                for pointer, message in invalid.errors
            ]
        ) from None


async def _wait(execution_id: UUID, seconds: float) -> service.RunState:
    """Poll the run's status with backoff until it ends or `seconds` pass."""
    deadline = time.monotonic() + seconds
    pause = _FIRST_POLL_SECONDS
    while True:
        state = await run_in_threadpool(service.run_state, execution_id)
        left = deadline - time.monotonic()
        if state.finished or left <= 0:
            return state
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, _MAX_POLL_SECONDS)


def _answer(state: service.RunState, *, created: bool, waited: bool) -> JSONResponse:
    """200 with the run's outputs when the caller waited and the run ended in time; otherwise
    202 with its current status (also for a replay of a run that ended meanwhile: the status
    code answers the request, not the moment it arrived)."""
    status_url = f"{API_PREFIX}/executions/{state.execution_id}"
    body: dict[str, Any] = {
        "execution_id": str(state.execution_id),
        "status": state.status,
        "status_url": status_url,
    }
    ended = waited and state.finished
    if ended:
        body |= {"outputs": state.outputs, "error": state.error}
    headers = {"Location": status_url}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=200 if ended else 202, headers=headers)


@router.post(
    "/hooks/{path:path}",
    status_code=202,
    responses={
        200: {"description": "The run ended within the wait: its status, outputs and error."},
        202: {"description": "The run is started: its id, status and where to follow it."},
        415: {"description": "The body is not JSON."},
        429: {"description": "The webhook's rate limit is reached (see Retry-After)."},
    },
)
async def receive(
    path: str,
    request: Request,
    wait: Annotated[
        float | None,
        Query(
            ge=0,
            description=f"Seconds to wait for the run's result (at most {MAX_WAIT_SECONDS:g}).",
        ),
    ] = None,
    prefer: Annotated[str | None, Header(description="'wait=<seconds>', like ?wait=.")] = None,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=255, description="Repeat a request with the same key: one run only."),
    ] = None,
    x_api_key: Annotated[str | None, Header(description="An API key (auth api_key).")] = None,
    authorization: Annotated[str | None, Header(description="'Bearer <API key>'.")] = None,
    x_wfb_signature: Annotated[
        str | None, Header(description="'sha256=<hex>' (auth hmac).")
    ] = None,
    x_wfb_timestamp: Annotated[
        str | None, Header(description="Unix seconds the signature covers (auth hmac).")
    ] = None,
) -> JSONResponse:
    """Start a run of the deployed workflow whose webhook trigger answers on `path`, with the
    JSON body as its input; answer at once, or with its result when asked to wait."""
    if not service.is_webhook_path(path):
        raise _no_hook(path)
    found, hook = service.cached_hook(path)
    if not found:
        hook = await run_in_threadpool(service.load_hook, path)
    if hook is None:
        raise _no_hook(path)
    body = await request.body()
    api_key = _credential(
        hook,
        body=body,
        api_key=x_api_key,
        authorization=authorization,
        signed=x_wfb_signature,
        timestamp=x_wfb_timestamp,
    )
    delay = limiter.acquire(hook.id, hook.rate_limit_per_second)
    if delay:
        raise ProblemError(
            429,
            "rate-limited",
            "Too many requests",
            f"The webhook /hooks/{path} starts at most {hook.rate_limit_per_second} "
            f"run{'s' if hook.rate_limit_per_second > 1 else ''} per second; retry after "
            "the Retry-After delay",
            headers={"Retry-After": retry_after(delay)},
        )
    inputs = _inputs(body, request.headers.get("content-type"))
    if hook.auth == "hmac" and x_wfb_signature:
        # A signed request is accepted once: a replay (within the timestamp's tolerance) is
        # answered with the run the first one started. The unsigned Idempotency-Key header
        # could be changed by whoever replays it, so the signature is the key.
        idempotency_key = service.replay_key(x_wfb_signature)
    try:
        execution_id, created = await _start(hook, api_key, inputs, idempotency_key)
    except ProblemError as refused:
        if refused.status in (401, 404):  # not a caller who may run it: not counted
            limiter.refund(hook.id)
        raise
    seconds = _wait_seconds(wait, prefer)
    if seconds > 0:
        state = await _wait(execution_id, seconds)
    elif created:
        state = service.RunState(execution_id, "pending")
    else:
        state = await run_in_threadpool(service.run_state, execution_id)
    return _answer(state, created=created, waited=seconds > 0)
