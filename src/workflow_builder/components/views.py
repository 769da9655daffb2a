"""Routes for lookups, components and agent prompts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from workflow_builder.api.deps import Caller, CurrentUser, DbSession, require
from workflow_builder.api.pagination import Page, Paging
from workflow_builder.components import service
from workflow_builder.components.models import (
    AgentPromptCreate,
    AgentPromptRead,
    AgentPromptUpdate,
    ComponentCreate,
    ComponentRead,
    ComponentTypeRead,
    ComponentUpdate,
    LookupRead,
    RenderRequest,
    RenderResult,
    TagMatch,
    VisibilityName,
    WorkflowStatusRead,
)

lookups_router = APIRouter(tags=["lookups"])
components_router = APIRouter(prefix="/components", tags=["components"])
prompts_router = APIRouter(prefix="/agent-prompts", tags=["agent prompts"])

ReadComponents = Annotated[CurrentUser, require("components:read")]
WriteComponents = Annotated[CurrentUser, require("components:write")]
ReadPrompts = Annotated[CurrentUser, require("agent_prompts:read")]
WritePrompts = Annotated[CurrentUser, require("agent_prompts:write")]
TagList = Annotated[list[str] | None, Query(max_length=50)]


@lookups_router.get("/component-types")
def list_component_types(db_session: DbSession, user: Caller) -> list[ComponentTypeRead]:
    """The kinds of component: activity, agent, signal, trigger."""
    return service.list_component_types(db_session=db_session)


@lookups_router.get("/component-visibility")
def list_visibilities(db_session: DbSession, user: Caller) -> list[LookupRead]:
    """The visibility levels: public, private, organization."""
    return service.list_visibilities(db_session=db_session)


@lookups_router.get("/workflow-statuses")
def list_workflow_statuses(db_session: DbSession, user: Caller) -> list[WorkflowStatusRead]:
    """The workflow statuses: draft, active, paused, archived."""
    return service.list_workflow_statuses(db_session=db_session)


@components_router.get("")
def list_components(
    db_session: DbSession,
    paging: Paging,
    user: ReadComponents,
    type: Annotated[str | None, Query(max_length=50)] = None,
    visibility: VisibilityName | None = None,
    deprecated: bool | None = None,
    tags: TagList = None,
    tag_match: Annotated[TagMatch, Query(description="Match any or all of `tags`.")] = "any",
    capabilities: Annotated[
        list[str] | None, Query(max_length=50, description="Components having all of these.")
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="Searches names.")] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    organization_id: UUID | None = None,
) -> Page[ComponentRead]:
    """Components the caller can see: their own, public ones and their organizations'."""
    return service.list_components(
        db_session=db_session,
        params=paging,
        type=type,
        visibility=visibility,
        deprecated=deprecated,
        tags=tags,
        tag_match=tag_match,
        capabilities=capabilities,
        q=q,
        name=name,
        organization_id=organization_id,
    )


@components_router.post("", status_code=status.HTTP_201_CREATED)
def create_component(
    data: ComponentCreate, db_session: DbSession, user: WriteComponents
) -> ComponentRead:
    """Register a component. Its schemas must be valid JSON Schema (Draft 2020-12)."""
    component = service.create_component(db_session=db_session, user_id=user.id, data=data)
    return ComponentRead.model_validate(component)


@components_router.get("/{component_id}")
def read_component(
    component_id: UUID, db_session: DbSession, user: ReadComponents
) -> ComponentRead:
    """One component."""
    component = service.get_component(db_session=db_session, component_id=component_id)
    return ComponentRead.model_validate(component)


@components_router.patch("/{component_id}")
def update_component(
    component_id: UUID, data: ComponentUpdate, db_session: DbSession, user: WriteComponents
) -> ComponentRead:
    """Change a component the caller owns."""
    component = service.update_component(
        db_session=db_session, component_id=component_id, data=data
    )
    return ComponentRead.model_validate(component)


@components_router.delete("/{component_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_component(component_id: UUID, db_session: DbSession, user: WriteComponents) -> Response:
    """Delete a component the caller owns."""
    service.delete_component(db_session=db_session, component_id=component_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@prompts_router.get("")
def list_agent_prompts(
    db_session: DbSession,
    paging: Paging,
    user: ReadPrompts,
    visibility: VisibilityName | None = None,
    deprecated: bool | None = None,
    tags: TagList = None,
    capabilities: TagList = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[AgentPromptRead]:
    """Agent prompts the caller can see."""
    return service.list_agent_prompts(
        db_session=db_session,
        params=paging,
        visibility=visibility,
        deprecated=deprecated,
        tags=tags,
        capabilities=capabilities,
        q=q,
    )


@prompts_router.post("", status_code=status.HTTP_201_CREATED)
def create_agent_prompt(
    data: AgentPromptCreate, db_session: DbSession, user: WritePrompts
) -> AgentPromptRead:
    """Create an agent prompt template."""
    prompt = service.create_agent_prompt(db_session=db_session, user_id=user.id, data=data)
    return AgentPromptRead.model_validate(prompt)


@prompts_router.get("/{agent_prompt_id}")
def read_agent_prompt(
    agent_prompt_id: UUID, db_session: DbSession, user: ReadPrompts
) -> AgentPromptRead:
    """One agent prompt."""
    prompt = service.get_agent_prompt(db_session=db_session, agent_prompt_id=agent_prompt_id)
    return AgentPromptRead.model_validate(prompt)


@prompts_router.patch("/{agent_prompt_id}")
def update_agent_prompt(
    agent_prompt_id: UUID, data: AgentPromptUpdate, db_session: DbSession, user: WritePrompts
) -> AgentPromptRead:
    """Change an agent prompt the caller owns."""
    prompt = service.update_agent_prompt(
        db_session=db_session, agent_prompt_id=agent_prompt_id, data=data
    )
    return AgentPromptRead.model_validate(prompt)


@prompts_router.delete("/{agent_prompt_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_agent_prompt(
    agent_prompt_id: UUID, db_session: DbSession, user: WritePrompts
) -> Response:
    """Delete an agent prompt the caller owns."""
    service.delete_agent_prompt(db_session=db_session, agent_prompt_id=agent_prompt_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@prompts_router.post("/{agent_prompt_id}/render")
def render_agent_prompt(
    agent_prompt_id: UUID, data: RenderRequest, db_session: DbSession, user: ReadPrompts
) -> RenderResult:
    """Fill the prompt's variables (checked against `prompt_variables`) in a sandbox."""
    content = service.render_agent_prompt(
        db_session=db_session, agent_prompt_id=agent_prompt_id, variables=data.variables
    )
    return RenderResult(content=content)
