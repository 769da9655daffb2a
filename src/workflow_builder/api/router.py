"""Every domain's routes, mounted under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from workflow_builder.api.deps import one_hop
from workflow_builder.api.errors import PROBLEM_RESPONSES
from workflow_builder.auth import views as auth
from workflow_builder.components import views as components
from workflow_builder.deployments import views as deployments
from workflow_builder.executions import views as executions
from workflow_builder.organizations import views as organizations
from workflow_builder.projects import views as projects
from workflow_builder.secrets.views import secrets_router
from workflow_builder.statistics import views as statistics
from workflow_builder.workflows import views as workflows

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    """Return the /api/v1 router with every domain's routes included."""
    router = APIRouter(prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    for domain_router in (
        auth.auth_router,
        auth.me_router,
        auth.api_keys_router,
        auth.users_router,
        auth.roles_router,
        organizations.router,
        components.lookups_router,
        components.components_router,
        components.prompts_router,
        projects.projects_router,
        projects.task_queues_router,
        secrets_router,
        workflows.router,
        workflows.declarations,
        deployments.router,
        deployments.schemas_router,
        executions.router,
        statistics.router,
    ):
        router.include_router(one_hop(domain_router))
    return router
