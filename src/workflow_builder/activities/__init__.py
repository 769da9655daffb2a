"""Component implementations: what activity and agent nodes actually run."""

from workflow_builder.activities.contract import (
    Activity,
    ActivityContext,
    ActivityError,
    ComponentSpec,
    Tool,
)

__all__ = ["Activity", "ActivityContext", "ActivityError", "ComponentSpec", "Tool"]
