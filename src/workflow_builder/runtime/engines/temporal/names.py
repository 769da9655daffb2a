"""Names the workflows, activities and the client agree on (sandbox-safe: no I/O)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

RUN_WORKFLOW = "wfb_run"
TICK_WORKFLOW = "wfb_tick"

LOAD = "wfb_load"
CALL = "wfb_call"
RECORD = "wfb_record"
CREATE_CHILD = "wfb_create_child"
CLOSE = "wfb_close"
TICK = "wfb_tick_start"

# The patch (`workflow.patched`) under which a run loads and closes itself with local activities
# (in the worker running its workflow task, no activity task of their own). Runs started before
# it replay their regular activities.
LOCAL_BOOKKEEPING = "wfb-local-bookkeeping-1"

# What a run's workflow is started with: its execution id and the version of the workflow code
# it started under. Version 2 (a dict) loads and closes itself with local activities without
# asking `workflow.patched` (no patch marker, no search-attribute upsert in its history), and
# arms its execution-timeout timer only when it first waits on something other than a call (a
# call is bounded by the deadline itself, as its activity's schedule-to-close timeout), so a run
# of calls alone has no timer. Runs started with a bare execution id (before version 2) replay
# as they ran.
RUN_VERSION = 2


def run_argument(execution_id: str) -> dict[str, object]:
    """Return the argument a new run's workflow is started with."""
    return {"execution_id": execution_id, "version": RUN_VERSION}


# The update that adds a work item and answers whether it was accepted.
ADD_ITEM = "wfb_add_item"

# A call's activity heartbeats this often, so a worker that dies mid-call is noticed within
# HEARTBEAT_TIMEOUT_SECONDS and the call retried elsewhere by its retry policy.
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TIMEOUT_SECONDS = 10.0

SCHEDULED_START = "TemporalScheduledStartTime"


def workflow_id(execution_id: str) -> str:
    """Return the Temporal workflow id of a run: its execution id."""
    return execution_id


def schedule_id(row_id: str) -> str:
    """Return the Temporal schedule id of a workflow_scheduled_workflows row."""
    return f"wfb-schedule-{row_id}"


def dedupe_key(declared: dict[str, Any], item: Any) -> str | None:
    """Return an item's deduplication key when its queue deduplicates (None otherwise)."""
    if not declared.get("deduplicate"):
        return None
    return hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()


def tick_of(info: Any, search_attributes: Any) -> str:
    """Return the scheduled time of a schedule's tick (ISO 8601), the tick's identity."""
    for pair in search_attributes:
        if pair.key.name == SCHEDULED_START:
            scheduled: datetime = pair.value
            return scheduled.isoformat()
    return str(info.start_time.isoformat())
