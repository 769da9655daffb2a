"""Many requests at once against a small connection pool: every one is answered."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import anyio
import anyio.to_thread
import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from tests.api.conftest import ApiUser
from workflow_builder.api.deps import Principal, RequestGate, get_session
from workflow_builder.db import Database, get_database, set_database


async def _burst(app: FastAPI, headers: dict[str, str], requests: int) -> list[int]:
    # Fewer threads than requests, more requests than connections: the shape of a busy server.
    anyio.to_thread.current_default_thread_limiter().total_tokens = 8
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answers = await asyncio.gather(
            *(client.get("/api/v1/executions", headers=headers) for _ in range(requests))
        )
    return [answer.status_code for answer in answers]


def test_a_burst_larger_than_the_pool_and_the_threads_is_served(
    app: FastAPI, alice: ApiUser
) -> None:
    # Each request holds its transaction across three worker threads. Ungated, the burst
    # fills every thread with requests waiting for a connection while the requests holding the
    # connections wait for a thread, and all of them time out with 503.
    working = get_database()
    small = Database(working.url, pool_size=3, max_overflow=0, pool_timeout=3)
    set_database(small)
    try:
        codes = asyncio.run(_burst(app, alice.headers, 60))
    finally:
        set_database(working)
        small.dispose()
    assert codes == [200] * 60


def test_the_gate_leaves_part_of_the_pool_to_single_step_work(db: Database) -> None:
    assert asyncio.run(_size_of(db)) == 20  # of the default pool's 30 connections
    small = Database(db.url, pool_size=1, max_overflow=0)
    try:
        assert asyncio.run(_size_of(small)) == 1
    finally:
        small.dispose()


async def _size_of(database: Database) -> int:
    return RequestGate.of(database).size


def test_a_pooled_connection_the_server_closed_is_replaced(
    db: Database, owner_conn: psycopg.Connection[Any]
) -> None:
    small = Database(db.url, pool_size=1, max_overflow=0)
    try:
        with small.unit_of_work("service_role") as session:
            pid = session.execute(text("select pg_backend_pid()")).scalar_one()
        owner_conn.execute("select pg_terminate_backend(%s)", (pid,))
        user = UUID(int=7)
        with small.unit_of_work("authenticated", user) as session:
            row = session.execute(text("select pg_backend_pid(), current_user, auth.uid()")).one()
        assert row[0] != pid
        assert row[1:] == ("authenticated", user)
    finally:
        small.dispose()


def test_a_cancelled_request_ends_its_transaction(db: Database, alice: ApiUser) -> None:
    # A client that goes away cancels its request; the transaction must still end and give its
    # connection back, or the pool shrinks by one with every such request.
    small = Database(db.url, pool_size=2, max_overflow=0)
    opened = anyio.Event()

    async def request() -> None:
        async with asynccontextmanager(get_session)(Principal(alice.id)) as session:
            await run_in_threadpool(session.execute, text("select 1"))
            opened.set()
            await anyio.sleep(30)

    async def cancel_mid_request() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(request)
            await opened.wait()
            assert small.engine.pool.checkedout() == 1
            tasks.cancel_scope.cancel()

    working = get_database()
    set_database(small)
    try:
        anyio.run(cancel_mid_request)
        assert small.engine.pool.checkedout() == 0
    finally:
        set_database(working)
        small.dispose()
