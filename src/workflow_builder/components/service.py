"""Component registry services: lookups, components, agent prompts and prompt rendering."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from workflow_builder.activities.templating import TemplateLimitExceeded, render, templates
from workflow_builder.api.crud import apply_changes, delete_visible, get_or_404, save
from workflow_builder.api.errors import (
    ProblemError,
    field_error,
    invalid,
    validation_problem,
)
from workflow_builder.api.pagination import Page, PageParams, paginate
from workflow_builder.compiler.schemas import schema_issues, schema_validator
from workflow_builder.components.models import (
    AgentPrompt,
    AgentPromptCreate,
    AgentPromptRead,
    AgentPromptUpdate,
    Component,
    ComponentCreate,
    ComponentRead,
    ComponentType,
    ComponentTypeRead,
    ComponentUpdate,
    ComponentVisibility,
    LookupRead,
    TagMatch,
    WorkflowStatus,
    WorkflowStatusRead,
)

SCHEMA_FIELDS = ("config_schema", "input_schema", "output_schema")


def list_component_types(*, db_session: Session) -> list[ComponentTypeRead]:
    """Return every component type."""
    rows = db_session.scalars(select(ComponentType).order_by(ComponentType.name))
    return [ComponentTypeRead.model_validate(row) for row in rows]


def list_visibilities(*, db_session: Session) -> list[LookupRead]:
    """Return every visibility level."""
    rows = db_session.scalars(select(ComponentVisibility).order_by(ComponentVisibility.name))
    return [LookupRead.model_validate(row) for row in rows]


def list_workflow_statuses(*, db_session: Session) -> list[WorkflowStatusRead]:
    """Return every workflow status."""
    rows = db_session.scalars(select(WorkflowStatus).order_by(WorkflowStatus.name))
    return [WorkflowStatusRead.model_validate(row) for row in rows]


def visibility_id(*, db_session: Session, visibility: str, organization_id: UUID | None) -> UUID:
    """Return the id of `visibility`, checking that an organization goes with it exactly when
    it is 'organization'."""
    if visibility == "organization" and organization_id is None:
        raise invalid("organization_id", "required when visibility is 'organization'")
    if visibility != "organization" and organization_id is not None:
        raise invalid("organization_id", "only allowed when visibility is 'organization'")
    found = db_session.execute(
        select(ComponentVisibility.id).where(ComponentVisibility.name == visibility)
    ).scalar_one_or_none()
    if found is None:
        raise invalid("visibility", f"no visibility is named {visibility!r}")
    return found


def check_json_schema(field: str, schema: Any) -> None:
    """Raise 422 naming `field` and the place inside the schema unless `schema` can be saved:
    valid Draft 2020-12, patterns RE2 runs, references that resolve without fetching anything."""
    issues = schema_issues(schema)
    if issues:
        raise validation_problem(
            [
                field_error(["body", *field.split("."), *issue.path], issue.message)
                for issue in issues
            ]
        )


def _shared_changes(
    db_session: Session, row: Component | AgentPrompt, changes: dict[str, Any]
) -> dict[str, Any]:
    """Turn `visibility`/`organization_id` in `changes` into the columns they set."""
    if "visibility" not in changes and "organization_id" not in changes:
        return changes
    organization_given = "organization_id" in changes
    visibility = changes.pop("visibility", None) or row.visibility
    organization_id = changes.pop("organization_id", row.organization_id)
    # Leaving 'organization' drops the organization, unless one is named (which is refused).
    if visibility != "organization" and not organization_given:
        organization_id = None
    changes["visibility_id"] = visibility_id(
        db_session=db_session, visibility=visibility, organization_id=organization_id
    )
    changes["organization_id"] = organization_id
    return changes


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """Drop the fields left empty, so the columns take their defaults."""
    return {name: value for name, value in values.items() if value is not None}


def _component_type_id(db_session: Session, name: str) -> UUID:
    found = db_session.execute(
        select(ComponentType.id).where(ComponentType.name == name)
    ).scalar_one_or_none()
    if found is None:
        raise invalid("type", f"no component type is named {name!r}")
    return found


def get_component(*, db_session: Session, component_id: UUID) -> Component:
    """Return a component the caller can see."""
    return get_or_404(db_session, Component, component_id, "Component")


def list_components(
    *,
    db_session: Session,
    params: PageParams,
    type: str | None = None,
    visibility: str | None = None,
    deprecated: bool | None = None,
    tags: list[str] | None = None,
    tag_match: TagMatch = "any",
    capabilities: list[str] | None = None,
    q: str | None = None,
    name: str | None = None,
    organization_id: UUID | None = None,
) -> Page[ComponentRead]:
    """Return a page of the components the caller can see, filtered."""
    statement: Select[Any] = select(Component)
    if type is not None:
        statement = statement.join(ComponentType).where(ComponentType.name == type)
    if visibility is not None:
        statement = statement.join(
            ComponentVisibility, Component.visibility_id == ComponentVisibility.id
        ).where(ComponentVisibility.name == visibility)
    if deprecated is not None:
        statement = statement.where(Component.deprecated.is_(deprecated))
    if tags:
        statement = statement.where(
            Component.tags.overlap(tags) if tag_match == "any" else Component.tags.contains(tags)
        )
    if capabilities:
        statement = statement.where(Component.capabilities.contains(capabilities))
    if name is not None:
        statement = statement.where(Component.name == name)
    if organization_id is not None:
        statement = statement.where(Component.organization_id == organization_id)
    if q:
        pattern = f"%{q}%"
        statement = statement.where(
            or_(
                Component.name.ilike(pattern),
                Component.display_name.ilike(pattern),
                Component.description.ilike(pattern),
            )
        )
    return paginate(
        db_session,
        statement,
        params,
        sortable={
            "created_at": Component.created_at,
            "updated_at": Component.updated_at,
            "name": Component.name,
            "version": Component.version,
        },
        default_sort="name",
        tiebreaker=Component.id,
        read=ComponentRead.model_validate,
    )


def create_component(*, db_session: Session, user_id: UUID, data: ComponentCreate) -> Component:
    """Create a component owned by the caller."""
    values = _given(data.model_dump(exclude={"type", "visibility", "organization_id"}))
    for field in SCHEMA_FIELDS:
        if values.get(field) is not None:
            check_json_schema(field, values[field])
    values.setdefault("display_name", data.name)
    if values.get("config_schema") is None:
        values["config_schema"] = {}
    for list_field in ("tags", "capabilities"):
        if values.get(list_field) is None:
            values[list_field] = []
    if values.get("deprecated") is None:
        values["deprecated"] = False
    component = Component(
        **values,
        component_type_id=_component_type_id(db_session, data.type),
        visibility_id=visibility_id(
            db_session=db_session, visibility=data.visibility, organization_id=data.organization_id
        ),
        organization_id=data.organization_id,
        created_by=user_id,
    )
    db_session.add(component)
    return save(db_session, component)


def update_component(
    *, db_session: Session, component_id: UUID, data: ComponentUpdate
) -> Component:
    """Apply changes to a component the caller owns."""
    component = get_component(db_session=db_session, component_id=component_id)
    changes = data.model_dump(exclude_unset=True)
    for field in SCHEMA_FIELDS:
        if changes.get(field) is not None:
            check_json_schema(field, changes[field])
    for required in ("display_name", "config_schema", "tags", "capabilities", "deprecated"):
        if required in changes and changes[required] is None:
            raise invalid(required, "cannot be null")
    apply_changes(component, _shared_changes(db_session, component, changes))
    return save(db_session, component)


def delete_component(*, db_session: Session, component_id: UUID) -> None:
    """Delete a component the caller owns."""
    delete_visible(db_session, Component, component_id, "Component")


def get_agent_prompt(*, db_session: Session, agent_prompt_id: UUID) -> AgentPrompt:
    """Return an agent prompt the caller can see."""
    return get_or_404(db_session, AgentPrompt, agent_prompt_id, "Agent prompt")


def _check_prompt(values: dict[str, Any]) -> None:
    if values.get("prompt_variables") is not None:
        variables = values["prompt_variables"]
        check_json_schema("prompt_variables", variables)
        if variables.get("type", "object") != "object":
            raise invalid("prompt_variables", "must be a JSON Schema of type 'object'")
    if values.get("prompt_content") is not None:
        try:
            templates.parse(values["prompt_content"])
        except TemplateSyntaxError as exc:
            raise invalid("prompt_content", f"line {exc.lineno}: {exc.message}") from None


def list_agent_prompts(
    *,
    db_session: Session,
    params: PageParams,
    visibility: str | None = None,
    deprecated: bool | None = None,
    tags: list[str] | None = None,
    capabilities: list[str] | None = None,
    q: str | None = None,
) -> Page[AgentPromptRead]:
    """Return a page of the agent prompts the caller can see, filtered."""
    statement: Select[Any] = select(AgentPrompt)
    if visibility is not None:
        statement = statement.join(
            ComponentVisibility, AgentPrompt.visibility_id == ComponentVisibility.id
        ).where(ComponentVisibility.name == visibility)
    if deprecated is not None:
        statement = statement.where(AgentPrompt.deprecated.is_(deprecated))
    if tags:
        statement = statement.where(AgentPrompt.tags.overlap(tags))
    if capabilities:
        statement = statement.where(AgentPrompt.capabilities.contains(capabilities))
    if q:
        pattern = f"%{q}%"
        statement = statement.where(
            or_(AgentPrompt.name.ilike(pattern), AgentPrompt.display_name.ilike(pattern))
        )
    return paginate(
        db_session,
        statement,
        params,
        sortable={
            "created_at": AgentPrompt.created_at,
            "updated_at": AgentPrompt.updated_at,
            "name": AgentPrompt.name,
        },
        default_sort="name",
        tiebreaker=AgentPrompt.id,
        read=AgentPromptRead.model_validate,
    )


def create_agent_prompt(
    *, db_session: Session, user_id: UUID, data: AgentPromptCreate
) -> AgentPrompt:
    """Create an agent prompt owned by the caller."""
    values = _given(data.model_dump(exclude={"visibility", "organization_id"}))
    _check_prompt(values)
    values.setdefault("display_name", data.name)
    defaults: dict[str, Any] = {
        "prompt_variables": {},
        "capabilities": [],
        "tags": [],
        "recommended_models": [],
        "deprecated": False,
    }
    for field, default in defaults.items():
        if values.get(field) is None:
            values[field] = default
    prompt = AgentPrompt(
        **values,
        visibility_id=visibility_id(
            db_session=db_session, visibility=data.visibility, organization_id=data.organization_id
        ),
        organization_id=data.organization_id,
        created_by=user_id,
    )
    db_session.add(prompt)
    return save(db_session, prompt)


def update_agent_prompt(
    *, db_session: Session, agent_prompt_id: UUID, data: AgentPromptUpdate
) -> AgentPrompt:
    """Apply changes to an agent prompt the caller owns."""
    prompt = get_agent_prompt(db_session=db_session, agent_prompt_id=agent_prompt_id)
    changes = data.model_dump(exclude_unset=True)
    for required in (
        "display_name",
        "prompt_content",
        "prompt_variables",
        "capabilities",
        "tags",
        "recommended_models",
        "deprecated",
    ):
        if required in changes and changes[required] is None:
            raise invalid(required, "cannot be null")
    _check_prompt(changes)
    apply_changes(prompt, _shared_changes(db_session, prompt, changes))
    return save(db_session, prompt)


def delete_agent_prompt(*, db_session: Session, agent_prompt_id: UUID) -> None:
    """Delete an agent prompt the caller owns."""
    delete_visible(db_session, AgentPrompt, agent_prompt_id, "Agent prompt")


def render_agent_prompt(
    *, db_session: Session, agent_prompt_id: UUID, variables: dict[str, Any]
) -> str:
    """Return the prompt filled with `variables`, after checking them against its schema."""
    prompt = get_agent_prompt(db_session=db_session, agent_prompt_id=agent_prompt_id)
    validator = schema_validator(prompt.prompt_variables or {"type": "object"})
    try:
        problems = sorted(validator.iter_errors(variables), key=lambda e: str(e.absolute_path))
    except Exception as exc:  # e.g. a $ref that resolves nowhere: the stored schema is at fault
        raise ProblemError(
            422, "invalid-schema", "The prompt's variable schema cannot be used", str(exc)
        ) from None
    if problems:
        raise validation_problem(
            [
                field_error(["body", "variables", *error.absolute_path], error.message)
                for error in problems
            ]
        )
    try:
        return render(prompt.prompt_content, variables)
    except TemplateLimitExceeded as exc:
        raise ProblemError(
            422,
            "template-limit",
            "The template went over a limit",
            f"Rendering stopped: {exc.message}",
            limit=exc.limit,
        ) from None
    except UndefinedError as exc:
        raise invalid("variables", f"the template needs a value: {exc.message}") from None
    except SecurityError as exc:
        raise ProblemError(422, "template", "The template is not allowed", str(exc)) from None
    except Exception as exc:  # the template is user input: any failure is the caller's to fix
        raise ProblemError(422, "template", "The template failed", str(exc)) from None
