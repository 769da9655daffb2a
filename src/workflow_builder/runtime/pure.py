"""Pure components (`transform`: no side effects, no secrets) run in the workflow code itself,
with no call of their own to record: a replay runs them again."""

from __future__ import annotations

import importlib
import json
from typing import Any

from workflow_builder.activities.contract import ActivityContext, ActivityError
from workflow_builder.runtime.port import Call, Outcome, RunSpec


def run_pure(run: RunSpec, call: Call) -> Outcome:
    """Run a pure component's implementation on the workflow's own thread."""
    module, _, name = call.component["implementation_path"].partition(":")
    implementation: Any = getattr(importlib.import_module(module), name)
    context = ActivityContext(
        execution_id=run.execution_id,
        workflow_id=run.workflow_id,
        node_id=call.node["id"],
        attempt=1,
        project_id=run.project_id,
    )
    try:
        output = implementation(call.node.get("config") or {}, call.inputs or {}, context)
        json.dumps(output, default=str)
    except ActivityError as exc:
        return {
            "ok": False,
            "error": {"type": exc.error_type, "message": exc.message, "retryable": False},
        }
    except Exception as exc:
        message = str(exc) or type(exc).__name__
        return {
            "ok": False,
            "error": {"type": type(exc).__name__, "message": message, "retryable": False},
        }
    return {"ok": True, "output": output}
