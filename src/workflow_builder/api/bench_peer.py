"""The benchmark's peer for `GET /api/v1/executions` (B7): the same listing query, under the
same role and row-level security claims, on the same connection pool, in a minimal FastAPI
endpoint with none of the product's code around it.

Mounted only when the process starts with WFB_BENCH_PEER_ROUTE=1, which the benchmark sets on
its own throw-away API processes. It is never on by default and must never be set on a real
installation: the route takes the user it runs as from the `X-Bench-User` header, with no
authentication at all (B7 measures the product's authentication as part of its own cost).
"""

from __future__ import annotations

import os
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header
from fastapi.responses import Response
from pydantic_core import to_json
from sqlalchemy import text

from workflow_builder.db import get_database

ENV_VAR = "WFB_BENCH_PEER_ROUTE"
PATH = "/bench/peer/executions"

router = APIRouter(include_in_schema=False)


def enabled() -> bool:
    """Whether this process mounts the peer route (WFB_BENCH_PEER_ROUTE=1)."""
    return os.environ.get(ENV_VAR) == "1"


def _listing() -> str:
    # The exact statement the product's listing runs without filters (page and count).
    from workflow_builder.executions.views import _COLUMNS, _VISIBLE

    count = (
        f"select count(*) from (select 1 from workflow_executions where {_VISIBLE} limit :cap) c"
    )
    return (
        f"select {_COLUMNS}, ({count}) as total_count from workflow_executions "
        f"where {_VISIBLE} order by started_at desc, id limit :limit offset :offset"
    )


_CLAIMS = text(
    "select set_config('role', 'authenticated', true), "
    "set_config('request.jwt.claim.sub', :sub, true)"
)
_LISTING = text(_listing())


@router.get(PATH)
def peer_executions(x_bench_user: Annotated[UUID, Header()]) -> Response:
    """The first page of 50 runs the user sees, newest first, with the capped total."""
    with get_database().engine.begin() as conn:
        conn.execute(_CLAIMS, {"sub": str(x_bench_user)})
        rows = [
            dict(row)
            for row in conn.execute(_LISTING, {"limit": 50, "offset": 0, "cap": 1050}).mappings()
        ]
    total = rows[0].pop("total_count") if rows else 0
    for row in rows[1:]:
        del row["total_count"]
    return Response(to_json({"items": rows, "total": total}), media_type="application/json")
