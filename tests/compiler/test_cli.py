"""The `wfb validate` and `wfb compile` commands."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.compiler.support import base, node
from workflow_builder.cli import app

runner = CliRunner()


def write(tmp_path: Path, name: str, content: object) -> Path:
    """Write JSON to a file in tmp_path and return its path."""
    path = tmp_path / name
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def components_file(tmp_path: Path) -> Path:
    """Return a components file with the test workflow's components."""
    from tests.compiler.support import _COMPONENTS

    return write(tmp_path, "components.json", {"components": _COMPONENTS})


def test_validate_accepts_a_valid_definition(tmp_path: Path) -> None:
    definition = write(tmp_path, "flow.json", base())

    result = runner.invoke(
        app, ["validate", str(definition), "--components", str(components_file(tmp_path))]
    )

    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_lists_each_problem_with_its_location_and_fails(tmp_path: Path) -> None:
    broken = base()
    node(broken, "adult")["config"]["expression"] = "nodes.ghost.output"
    definition = write(tmp_path, "flow.json", broken)

    result = runner.invoke(
        app, ["validate", str(definition), "--components", str(components_file(tmp_path))]
    )

    assert result.exit_code == 1
    assert "unknown_node_reference" in result.output
    assert "/nodes/2/config/expression" in result.output
    assert "node adult" in result.output


def test_validate_uses_the_built_in_components_without_a_file(tmp_path: Path) -> None:
    definition = write(tmp_path, "flow.json", base())

    result = runner.invoke(app, ["validate", str(definition)])

    assert result.exit_code == 1
    assert "unknown_component" in result.output


def test_compile_writes_the_canonical_plan(tmp_path: Path) -> None:
    definition = write(tmp_path, "flow.json", base())
    output = tmp_path / "plan.json"

    result = runner.invoke(
        app,
        [
            "compile",
            str(definition),
            "--components",
            str(components_file(tmp_path)),
            "--output",
            str(output),
        ],
    )

    assert result.exit_code == 0, result.output
    plan = json.loads(output.read_text(encoding="utf-8"))
    assert plan["entry"] == "start"
    assert "content hash" in result.output


def test_compile_fails_on_an_invalid_document(tmp_path: Path) -> None:
    definition = tmp_path / "flow.json"
    definition.write_text("{not json", encoding="utf-8")

    result = runner.invoke(app, ["compile", str(definition)])

    assert result.exit_code == 1
    assert "invalid_json" in result.output


def test_an_unreadable_components_file_is_reported(tmp_path: Path) -> None:
    definition = write(tmp_path, "flow.json", base())
    components = tmp_path / "components.json"
    components.write_text("[{}]", encoding="utf-8")

    result = runner.invoke(app, ["validate", str(definition), "--components", str(components)])

    assert result.exit_code == 1
    assert "cannot load components" in result.output


def test_warnings_are_listed_but_do_not_fail(tmp_path: Path) -> None:
    definition = base()
    definition["nodes"] = definition["nodes"][:4]
    definition["edges"] = definition["edges"][:3]
    path = write(tmp_path, "flow.json", definition)

    result = runner.invoke(
        app, ["validate", str(path), "--components", str(components_file(tmp_path))]
    )

    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "no_end_node" in result.output
