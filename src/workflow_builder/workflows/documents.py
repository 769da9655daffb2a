"""Workflows as files: check an exported document without saving it, and make an existing
workflow match a document (the inverse of export).

`wfb workflows push` checks every file first and writes only when all are valid; each write is
one request, so a workflow is either entirely updated or not at all.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal
from uuid import UUID

from croniter import croniter
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from workflow_builder.api.errors import ProblemError, from_database_error, invalid
from workflow_builder.compiler import ValidationContext, validate
from workflow_builder.compiler.checks import is_time_zone
from workflow_builder.compiler.schemas import schema_issues
from workflow_builder.workflows import flows, service
from workflow_builder.workflows.catalog import RegistryCatalog
from workflow_builder.workflows.models import (
    ChildWorkflow,
    DefinitionProblem,
    KebabName,
    Query,
    Schedule,
    Signal,
    ValidationReport,
    Workflow,
    WorkflowExport,
    WorkflowImport,
    WorkflowRead,
    WorkflowUpdate,
    WorkQueue,
)

Outcome = Literal["created", "updated", "unchanged"]


class WorkflowCheck(WorkflowExport):
    """An exported document to check, and the kebab names of workflows checked with it (a push
    of several files may create a child together with its parent)."""

    known_workflows: list[KebabName] = Field(
        default_factory=list,
        max_length=1000,
        description="Kebab names to treat as existing workflows (for child workflow nodes).",
    )


class DocumentApplied(BaseModel):
    """What a PUT of an exported document did."""

    outcome: Outcome
    content_hash: str = Field(description="SHA-256 of the document in canonical JSON.")
    workflow: WorkflowRead


def content_hash(document: WorkflowExport) -> str:
    """Return the SHA-256 of the document's canonical JSON (sorted keys, no spaces): equal
    documents hash equal, whatever their formatting or defaults spelled out."""
    body = document.model_dump(mode="json")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _problem(
    code: str, message: str, pointer: str, node_id: str | None = None
) -> DefinitionProblem:
    return DefinitionProblem(
        code=code, message=message, pointer=pointer, severity="error", node_id=node_id, edge_id=None
    )


def _declaration_problems(document: WorkflowExport) -> list[DefinitionProblem]:
    """What saving the document's declarations would refuse, located in the document."""
    problems: list[DefinitionProblem] = []
    schemas: list[tuple[str, Any]] = [
        *((f"/signals/{i}/parameters", s.parameters) for i, s in enumerate(document.signals)),
        *((f"/queries/{i}/return_type", q.return_type) for i, q in enumerate(document.queries)),
        *(
            (f"/work_queues/{i}/work_item_schema", q.work_item_schema)
            for i, q in enumerate(document.work_queues)
            if q.work_item_schema is not None
        ),
    ]
    for pointer, schema in schemas:
        for issue in schema_issues(schema):
            inner = "".join(f"/{part}" for part in issue.path)
            problems.append(_problem("invalid_json_schema", issue.message, pointer + inner))
    queues = {queue.queue_name for queue in document.work_queues}
    for index, schedule in enumerate(document.schedules):
        where = f"/schedules/{index}"
        if not croniter.is_valid(schedule.cron_expression):
            problems.append(
                _problem(
                    "invalid_cron",
                    f"not a valid cron expression: {schedule.cron_expression!r}",
                    f"{where}/cron_expression",
                )
            )
        if not is_time_zone(schedule.timezone):
            problems.append(
                _problem(
                    "invalid_timezone",
                    f"not an IANA time zone: {schedule.timezone[:60]!r}",
                    f"{where}/timezone",
                )
            )
        if schedule.work_queue_name is not None and schedule.work_queue_name not in queues:
            problems.append(
                _problem(
                    "invalid_document",
                    f"no work queue named {schedule.work_queue_name!r} in the document",
                    f"{where}/work_queue_name",
                )
            )
    return problems


def _refusal_problems(refusal: ProblemError) -> list[DefinitionProblem]:
    """The problems a refused save reported, as document problems."""
    if refusal.errors:
        return [
            _problem("invalid_document", error.message, error.pointer or "")
            for error in refusal.errors
        ]
    return [_problem("invalid_document", refusal.detail or refusal.title, "")]


def _existing(db_session: Session, kebab_name: str) -> Workflow | None:
    return db_session.scalars(
        select(Workflow).where(Workflow.kebab_name == kebab_name)
    ).one_or_none()


def check_document(
    *, db_session: Session, user_id: UUID, document: WorkflowCheck
) -> ValidationReport:
    """Return every problem saving the document would meet: the compiler's verdict on its
    definition (pointers into the document), its declarations, and a trial save rolled back."""
    exported = document.workflow
    known = frozenset(db_session.scalars(select(Workflow.kebab_name))) | {
        *document.known_workflows,
        exported.kebab_name,
    }
    result = validate(
        exported.definition,
        RegistryCatalog(db_session, user_id),
        ValidationContext(known_workflows=known),
    ).to_dict()
    for problem in (*result["errors"], *result["warnings"]):
        problem["pointer"] = "/workflow/definition" + problem["pointer"]
    report = ValidationReport.model_validate(result)
    report.errors.extend(_declaration_problems(document))
    if not report.errors:
        plain = WorkflowExport.model_validate(document.model_dump(exclude={"known_workflows"}))
        report.errors.extend(_trial_save(db_session, user_id=user_id, document=plain))
    report.valid = not report.errors
    return report


class _TrialDone(Exception):
    """Leaves a trial save's savepoint, which rolls it back."""


def _trial_save(
    db_session: Session, *, user_id: UUID, document: WorkflowExport
) -> list[DefinitionProblem]:
    """Save the document inside a savepoint and roll it back: what the database (uniqueness,
    row-level security, ownership) would refuse, it refuses here."""
    try:
        with db_session.begin_nested():
            current = _existing(db_session, document.workflow.kebab_name)
            if current is None:
                flows.import_workflow(
                    db_session=db_session,
                    user_id=user_id,
                    document=WorkflowImport.model_validate(document.model_dump()),
                )
            else:
                apply_document(
                    db_session=db_session,
                    user_id=user_id,
                    workflow_id=current.id,
                    document=document,
                )
            db_session.flush()
            raise _TrialDone
    except _TrialDone:
        pass
    except ProblemError as refusal:
        return _refusal_problems(refusal)
    except DBAPIError as error:
        translated = from_database_error(error)
        if translated is None:
            raise
        return _refusal_problems(translated)
    finally:
        db_session.expunge_all()
    return []


def _clear_declarations(db_session: Session, workflow_id: UUID) -> None:
    """Delete what is declared on the workflow (work queues take their generated handlers)."""
    db_session.execute(delete(Schedule).where(Schedule.workflow_id == workflow_id))
    db_session.execute(delete(ChildWorkflow).where(ChildWorkflow.parent_workflow_id == workflow_id))
    for model in (Signal, Query):
        db_session.execute(
            delete(model).where(model.workflow_id == workflow_id, model.auto_generated.is_(False))
        )
    db_session.execute(delete(WorkQueue).where(WorkQueue.workflow_id == workflow_id))
    db_session.expunge_all()


def apply_document(
    *, db_session: Session, user_id: UUID, workflow_id: UUID, document: WorkflowExport
) -> Outcome:
    """Make the workflow match the document; return 'unchanged' (nothing written) when it
    already does. Its kebab name must be the workflow's own."""
    current = flows.export_workflow(db_session=db_session, workflow_id=workflow_id)
    if content_hash(current) == content_hash(document):
        return "unchanged"
    wanted = document.workflow
    if wanted.kebab_name != current.workflow.kebab_name:
        raise invalid(
            "workflow.kebab_name",
            f"is {current.workflow.kebab_name!r} for this workflow (kebab names are immutable)",
        )
    if wanted != current.workflow:
        workflow = service.update_workflow(
            db_session=db_session,
            workflow_id=workflow_id,
            data=WorkflowUpdate(
                name=wanted.name,
                display_name=wanted.display_name,
                description=wanted.description,
                definition=wanted.definition,
                max_concurrent_executions=wanted.max_concurrent_executions,
                execution_timeout_seconds=wanted.execution_timeout_seconds,
            ),
            if_match=None,
        )
        if workflow.version != wanted.version:
            workflow.version = wanted.version
            db_session.flush()
    declared = ("signals", "queries", "work_queues", "schedules", "child_workflows")
    if document.model_dump(include=set(declared)) != current.model_dump(include=set(declared)):
        _clear_declarations(db_session, workflow_id)
        flows.declare(db_session, user_id=user_id, workflow_id=workflow_id, document=document)
    return "updated"


def read_applied(*, db_session: Session, workflow_id: UUID, outcome: Outcome) -> DocumentApplied:
    """Return the outcome with the workflow as saved and its document's hash."""
    workflow = service.get_workflow(db_session=db_session, workflow_id=workflow_id)
    document = flows.export_workflow(db_session=db_session, workflow_id=workflow_id)
    return DocumentApplied(
        outcome=outcome,
        content_hash=content_hash(document),
        workflow=WorkflowRead.model_validate(workflow),
    )
