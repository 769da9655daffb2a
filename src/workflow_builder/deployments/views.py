"""Routes: compile, versions, activate, deploy, undeploy; the definition format's schema."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter

from workflow_builder.api.deps import CurrentUser, DbSession, require
from workflow_builder.compiler import definition_json_schema
from workflow_builder.deployments import service
from workflow_builder.deployments.models import (
    CompileResult,
    DeploymentState,
    DeployResult,
    NodeTrialRequest,
    NodeTrialResult,
    VersionDetail,
    VersionRead,
)
from workflow_builder.statistics.service import fold_counters

router = APIRouter(prefix="/workflows/{workflow_id}", tags=["deployments"])
schemas_router = APIRouter(prefix="/schemas", tags=["schemas"])

Reader = Annotated[CurrentUser, require("workflows:read")]
Writer = Annotated[CurrentUser, require("workflows:write")]


@router.post("/compile")
def compile_workflow(workflow_id: UUID, db_session: DbSession, user: Writer) -> CompileResult:
    """Compile the saved definition into a version (the same one when nothing changed)."""
    version, created, warnings = service.compile_workflow(
        db_session=db_session, workflow_id=workflow_id, user_id=user.id
    )
    return CompileResult(version=version, created=created, warnings=warnings)


@router.get("/deployment")
def deployment_state(workflow_id: UUID, db_session: DbSession, user: Reader) -> DeploymentState:
    """Say which version is deployed and whether the saved draft differs from it."""
    return service.deployment_state(db_session=db_session, workflow_id=workflow_id, user_id=user.id)


@router.post("/nodes/{node_id}/try")
def try_node(
    workflow_id: UUID,
    node_id: str,
    db_session: DbSession,
    user: Writer,
    sample: NodeTrialRequest | None = None,
) -> NodeTrialResult:
    """Call one activity or agent node of the saved draft once, without deploying: its input
    mapping is evaluated against the sample data (or the pinned data), and the call goes
    through the same checks, secrets, slots and sandbox as a run's; nothing is recorded."""
    return service.try_node(
        db_session=db_session,
        workflow_id=workflow_id,
        node_id=node_id,
        user_id=user.id,
        sample=sample or NodeTrialRequest(),
    )


@router.get("/versions")
def list_versions(workflow_id: UUID, db_session: DbSession, user: Reader) -> list[VersionRead]:
    """List the compiled versions, newest first; exactly one is active."""
    fold_counters(db_session)
    return service.list_versions(db_session=db_session, workflow_id=workflow_id)


@router.get("/versions/{version_id}")
def get_version(
    workflow_id: UUID, version_id: UUID, db_session: DbSession, user: Reader
) -> VersionDetail:
    """Return a compiled version with its execution plan."""
    fold_counters(db_session)
    return service.get_version(
        db_session=db_session, workflow_id=workflow_id, version_id=version_id
    )


@router.post("/versions/{version_id}/activate")
def activate_version(
    workflow_id: UUID, version_id: UUID, db_session: DbSession, user: Writer
) -> VersionRead:
    """Make this version the one new runs use (roll back or forward); runs in flight keep theirs."""
    fold_counters(db_session)
    return service.activate_version(
        db_session=db_session, workflow_id=workflow_id, version_id=version_id
    )


@router.post("/deploy")
def deploy(workflow_id: UUID, db_session: DbSession, user: Writer) -> DeployResult:
    """Compile if needed, activate, and serve the workflow: status active, schedules on."""
    return service.deploy(db_session=db_session, workflow_id=workflow_id, user_id=user.id)


@router.post("/undeploy")
def undeploy(workflow_id: UUID, db_session: DbSession, user: Writer) -> DeployResult:
    """Stop serving the workflow (back to draft); runs in flight finish on their version."""
    return service.undeploy(db_session=db_session, workflow_id=workflow_id)


@schemas_router.get("/workflow-definition")
def workflow_definition_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of the workflow definition format."""
    return definition_json_schema()
