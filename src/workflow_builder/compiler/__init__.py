"""The workflow compiler: definition format, validation and execution plans (no database)."""

from workflow_builder.compiler.analysis import ValidationContext
from workflow_builder.compiler.catalog import (
    ComponentCatalog,
    ComponentSpec,
    InMemoryCatalog,
    builtin_components,
    load_catalog,
)
from workflow_builder.compiler.definition import (
    FORMAT_VERSION,
    WorkflowDefinition,
    definition_json_schema,
    work_queue_query_name,
    work_queue_signal_name,
)
from workflow_builder.compiler.expressions import ExpressionError, parse_expression
from workflow_builder.compiler.plan import (
    INTERPRETER_VERSION,
    PLAN_VERSION,
    CompiledPlan,
    compile_definition,
)
from workflow_builder.compiler.problems import (
    CODES,
    CompilationError,
    Problem,
    ValidationResult,
)
from workflow_builder.compiler.validation import validate

__all__ = [
    "CODES",
    "FORMAT_VERSION",
    "INTERPRETER_VERSION",
    "PLAN_VERSION",
    "CompilationError",
    "CompiledPlan",
    "ComponentCatalog",
    "ComponentSpec",
    "ExpressionError",
    "InMemoryCatalog",
    "Problem",
    "ValidationContext",
    "ValidationResult",
    "WorkflowDefinition",
    "builtin_components",
    "compile_definition",
    "definition_json_schema",
    "load_catalog",
    "parse_expression",
    "validate",
    "work_queue_query_name",
    "work_queue_signal_name",
]
