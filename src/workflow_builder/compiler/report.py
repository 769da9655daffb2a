"""Command-line reporting for `wfb validate` and `wfb compile`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from workflow_builder.compiler.catalog import InMemoryCatalog, load_catalog
from workflow_builder.compiler.plan import build_plan
from workflow_builder.compiler.problems import Problem, ValidationResult
from workflow_builder.compiler.validation import analyze, validate


def print_problems(console: Console, result: ValidationResult) -> None:
    """Print every problem: severity, code and location, then the message indented."""
    for problem in [*result.errors, *result.warnings]:
        style = "red" if problem.severity == "error" else "yellow"
        console.print(
            f"[{style}]{problem.severity}[/{style}] [bold]{problem.code}[/bold] "
            f"at {_location(problem)}",
            highlight=False,
        )
        console.print(f"    {problem.message}", highlight=False, markup=False)


def _location(problem: Problem) -> str:
    owner = ""
    if problem.node_id is not None:
        owner = f" (node {problem.node_id})"
    elif problem.edge_id is not None:
        owner = f" (edge {problem.edge_id})"
    return f"{problem.pointer or '/'}{owner}"


def _summary(result: ValidationResult) -> str:
    return f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"


def _print_result(console: Console, path: Path, result: ValidationResult) -> None:
    print_problems(console, result)
    colour = "green" if result.ok else "red"
    verdict = "valid" if result.ok else "invalid"
    console.print(f"[{colour}]{path}: {verdict}[/{colour}] ({_summary(result)})")


def _catalog(console: Console, components: Path | None) -> InMemoryCatalog | None:
    """Return the catalog, or None after printing why the components file is unusable."""
    try:
        return load_catalog(components)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        console.print(f"[red]cannot load components from {components}:[/red] {exc!r}")
        return None


def run_validate(console: Console, path: Path, components: Path | None) -> int:
    """Print the validation of a definition file; return the exit code (1 on errors)."""
    catalog = _catalog(console, components)
    if catalog is None:
        return 1
    result = validate(path.read_bytes(), catalog)
    _print_result(console, path, result)
    return 0 if result.ok else 1


def run_compile(console: Console, path: Path, components: Path | None, output: Path | None) -> int:
    """Compile a definition file, write or print the plan; return the exit code (1 on errors)."""
    catalog = _catalog(console, components)
    if catalog is None:
        return 1
    analysis = analyze(path.read_bytes(), catalog)
    result = analysis.problems.result()
    if not result.ok or analysis.definition is None:
        _print_result(console, path, result)
        return 1
    print_problems(console, result)
    plan = build_plan(analysis, analysis.definition)
    if output is None:
        console.print_json(plan.to_json())
    else:
        output.write_text(plan.to_json() + "\n", encoding="utf-8")
        console.print(f"[green]{path}: compiled[/green] to {output}")
    console.print(f"content hash: {plan.content_hash}")
    return 0
