"""`wfb components ...`: the code-defined component registry from the command line."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

components_app = typer.Typer(help="List and register the components defined in code.")
console = Console()


@components_app.command("list")
def list_components() -> None:
    """List the built-in and installed third-party components (from code, not the database)."""
    from workflow_builder.activities.registry import discover_components

    discovery = discover_components()
    table = Table("name", "version", "type", "implementation")
    for spec in discovery.components:
        table.add_row(spec.name, spec.version, spec.component_type, spec.implementation_path)
    console.print(table)
    for error in discovery.errors:
        console.print(f"[red]skipped[/red] {error}")


@components_app.command("sync")
def sync() -> None:
    """Write the built-in and installed components to the database as public components."""
    from workflow_builder.activities.registry import sync_components
    from workflow_builder.db import Database, set_database, system_session
    from workflow_builder.db.engine import database_url

    set_database(Database(database_url()))
    with system_session() as session:
        report = sync_components(session)
    for label, style, names in (
        ("added", "green", report.added),
        ("updated", "yellow", report.updated),
        ("deprecated", "magenta", report.deprecated),
    ):
        for name in names:
            console.print(f"[{style}]{label}[/{style}] {name}")
    console.print(
        f"{len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.deprecated)} deprecated"
    )
    for error in report.errors:
        console.print(f"[red]skipped[/red] {error}")
    if report.errors:
        raise typer.Exit(1)
