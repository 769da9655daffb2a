"""Compiled plans, parsed once per process: a compiled version never changes."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=256)
def parse_plan(compiled_code_id: str, workflow_code: str) -> dict[str, Any]:
    """Return the plan of a compiled version (`workflow_compiled_code.workflow_code`)."""
    plan: dict[str, Any] = json.loads(workflow_code)
    return plan
