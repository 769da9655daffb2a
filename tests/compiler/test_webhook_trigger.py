"""Webhook trigger settings: what the plan carries, and what the definition schema tells forms."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from tests.compiler.support import Definition, base, catalog, node
from workflow_builder.compiler import compile_definition, definition_json_schema, validate


def webhook(**config: Any) -> Definition:
    definition = base()
    start = node(definition, "start")
    start["config"] = {**start["config"], "kind": "webhook", **config}
    return definition


def trigger_config(definition: Definition) -> dict[str, Any]:
    result = validate(definition, catalog())
    assert result.ok, [p.to_dict() for p in result.errors]
    plan = compile_definition(definition, catalog())
    config: dict[str, Any] = next(n for n in plan.data["nodes"] if n["id"] == "start")["config"]
    return config


def test_a_webhook_trigger_plans_its_settings_with_defaults_filled() -> None:
    config = trigger_config(webhook())

    assert {k: config[k] for k in ("path", "auth", "secret", "rate_limit_per_second")} == {
        "path": None,
        "auth": "api_key",
        "secret": None,
        "rate_limit_per_second": 100,
    }


def test_a_signed_webhook_keeps_its_path_secret_and_limit() -> None:
    config = trigger_config(
        webhook(
            path="orders/created_v2", auth="hmac", secret="shop.hook-key", rate_limit_per_second=7
        )
    )

    assert (config["path"], config["auth"], config["secret"], config["rate_limit_per_second"]) == (
        "orders/created_v2",
        "hmac",
        "shop.hook-key",
        7,
    )


def test_other_triggers_plan_no_webhook_settings() -> None:
    config = trigger_config(base())

    assert set(config) == {"kind", "input_schema", "cron", "timezone", "signal"}


def test_the_webhook_settings_change_the_hash() -> None:
    first = compile_definition(webhook(path="a"), catalog())
    second = compile_definition(webhook(path="b"), catalog())

    assert first.content_hash != second.content_hash


def test_the_definition_schema_describes_the_webhook_settings_for_forms() -> None:
    schema = definition_json_schema()
    trigger = schema["$defs"]["TriggerConfig"]["properties"]

    assert trigger["auth"]["anyOf"][0]["enum"] == ["api_key", "hmac"]
    assert {"path", "secret", "rate_limit_per_second"} <= set(trigger)
    validator = Draft202012Validator(schema)
    assert not list(validator.iter_errors(webhook(path="orders/new", auth="hmac", secret="k")))
    assert list(validator.iter_errors(webhook(path="Orders/New")))
    assert list(validator.iter_errors(webhook(auth="basic")))
