"""The client commands: `wfb login`, `wfb workflows …`, `wfb run`, `wfb executions …`.

They talk to a running server over HTTP with an API key, like any other client; cli.py only
registers them. Progress goes to stderr, results to stdout, so `wfb run … --wait > out.json`
keeps just the run's output.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from workflow_builder.client.http import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Api,
    ClientError,
)
from workflow_builder.client.profile import DEFAULT_PROFILE, Profile, ProfileError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

workflows_app = typer.Typer(help="Workflows as files: pull them into a folder, push them back.")
executions_app = typer.Typer(
    help="Inspect and steer runs: list, show, cancel, retry, signal, query."
)

TERMINAL = ("completed", "failed", "canceled")
STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "canceled": "yellow",
    "running": "cyan",
    "pending": "dim",
    "waiting": "magenta",
}
ProfileOption = Annotated[
    str | None, typer.Option("--profile", help="Profile to use (WFB_PROFILE; default 'default').")
]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


@contextmanager
def _api(profile: str | None) -> Iterator[Api]:
    """The API of the chosen profile; every ClientError becomes one line and its exit code."""
    from workflow_builder.client.profile import load_profile

    try:
        api = Api(load_profile(profile))
    except ProfileError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    try:
        yield api
    except ClientError as exc:
        raise _fail(str(exc), exc.exit_code) from None
    finally:
        api.close()


def _json_argument(value: str | None, what: str) -> Any:
    """Parse a JSON argument, or the JSON file named by '@path'."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text()
        except OSError as exc:
            raise _fail(f"{what}: cannot read {value[1:]}: {exc.strerror}", EXIT_USAGE) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"{what} is not JSON: {exc.msg} (column {exc.colno})", EXIT_USAGE) from None


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def login(
    url: Annotated[str, typer.Option(help="The server's address, e.g. http://127.0.0.1:8000.")],
    api_key: Annotated[
        str,
        typer.Option(
            help="An API key (the web app's API keys page, or POST /api/v1/api-keys).",
            prompt=True,
            hide_input=True,
        ),
    ],
    profile: ProfileOption = None,
) -> None:
    """Check a server address and API key, then store them as a profile (file mode 0600)."""
    from workflow_builder.client.profile import save_profile

    name = profile or DEFAULT_PROFILE
    chosen = Profile(url=url.rstrip("/"), api_key=api_key)
    api = Api(chosen)
    try:
        me = api.get("/me")
    except ClientError as exc:
        raise _fail(str(exc), exc.exit_code) from None
    finally:
        api.close()
    path = save_profile(name, chosen)
    out.print(
        f"Logged in to [bold]{escape(chosen.url)}[/bold] as {escape(str(me.get('email')))} "
        f"(profile {name!r}, stored in {path})"
    )


@workflows_app.command("list")
def list_workflows(
    profile: ProfileOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the workflows you can see."""
    with _api(profile) as api:
        items = api.pages("/workflows", sort="kebab_name")
    if as_json:
        _print_json(items)
        return
    table = Table("kebab name", "status", "version", "id")
    for item in items:
        table.add_row(item["kebab_name"], item["status"], item["version"], item["id"])
    out.print(table)


@workflows_app.command("pull")
def pull(
    directory: Annotated[Path, typer.Argument(help="Folder to write the files to.")],
    project: Annotated[str | None, typer.Option(help="Only this project's workflows.")] = None,
    profile: ProfileOption = None,
) -> None:
    """Write each of your workflows to DIR/<kebab-name>.json (the export format: secrets appear
    only as {"$secret": NAME} references)."""
    from workflow_builder.client.files import pull as pull_files

    with _api(profile) as api:
        done = pull_files(api, directory, project_id=project)
    for path, outcome in done:
        out.print(f"{path.name}: {outcome}")
    written = sum(outcome == "written" for _, outcome in done)
    out.print(f"{len(done)} workflows in {directory} ({written} written)")


@workflows_app.command("push")
def push(
    directory: Annotated[
        Path, typer.Argument(help="Folder of workflow files.", exists=True, file_okay=False)
    ],
    deploy: Annotated[bool, typer.Option(help="Deploy the workflows that changed.")] = False,
    project: Annotated[
        str | None, typer.Option(help="Project of the workflows this push creates.")
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Create or update a workflow per file. Every file is checked first; when any is invalid,
    every problem is printed and nothing changes."""
    from workflow_builder.client.files import push as push_files

    with _api(profile) as api:
        report = push_files(api, directory, project_id=project, deploy=deploy)
    if report.problems:
        for problem in report.problems:
            err.print(escape(problem.line()))
        files = len({problem.file for problem in report.problems})
        raise _fail(
            f"{len(report.problems)} problem(s) in {files} file(s); nothing was changed",
            EXIT_FAILED,
        )
    for name, outcome, detail in report.results:
        line = f"{name}: {outcome} (sha256 {detail['content_hash'][:12]})"
        deployed = detail.get("deployed")
        if deployed:
            version = (deployed.get("version") or {}).get("version")
            line += f", deployed version {version}"
        out.print(escape(line))


def _progress(api: Api, execution_id: str, timeout: float | None) -> dict[str, Any]:
    """Poll the run until it ends, printing a line each time a node changes state."""
    shown: dict[tuple[str, str], str] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.1
    while True:
        run: dict[str, Any] = api.get(f"/executions/{execution_id}")
        for step in run.get("steps", []):
            key = (step["node_id"], step["iteration"])
            if shown.get(key) == step["status"]:
                continue
            shown[key] = step["status"]
            label = step["node_id"] + (f" [{step['iteration']}]" if step["iteration"] else "")
            style = STATUS_STYLE.get(step["status"], "white")
            took = f"  {step['duration_ms']} ms" if step.get("duration_ms") is not None else ""
            tail = f"  {step['error']}" if step.get("error") else ""
            err.print(
                f"  {escape(label):<28} [{style}]{step['status']}[/{style}]{took}{escape(tail)}"
            )
        if run["status"] in TERMINAL:
            return run
        if deadline is not None and time.monotonic() >= deadline:
            raise _fail(
                f"Run {execution_id} still {run['status']} after {timeout:g} s "
                "(it goes on; `wfb executions show` follows it)",
                EXIT_FAILED,
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def _finish(run: dict[str, Any]) -> None:
    """Print the outcome (output to stdout) and exit 0 only when the run completed."""
    status = run["status"]
    style = STATUS_STYLE.get(status, "white")
    took = f" in {run['duration_ms']} ms" if run.get("duration_ms") is not None else ""
    err.print(f"Run {run['id']} [{style}]{status}[/{style}]{took}")
    if status == "completed":
        _print_json(run.get("outputs"))
        raise typer.Exit(EXIT_OK)
    if run.get("error"):
        err.print(f"[red]{escape(str(run['error']))}[/red]")
    raise typer.Exit(EXIT_FAILED)


def run(
    workflow: Annotated[str, typer.Argument(help="The workflow's kebab name or id.")],
    input_: Annotated[
        str | None,
        typer.Option("--input", "-i", help="The run's inputs: JSON, or @file with JSON."),
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Follow the run, print each node's progress and the output.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(help="With --wait: give up waiting after this many seconds.")
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Start a run of a deployed workflow. Exit code 0 when it completed (or, without --wait,
    started), 1 when it failed, was canceled or --timeout passed, 2 on usage errors."""
    inputs = _json_argument(input_, "--input")
    if inputs is not None and not isinstance(inputs, dict):
        raise _fail("--input must be a JSON object", EXIT_USAGE)
    with _api(profile) as api:
        target = api.workflow(workflow)
        started = api.post(f"/workflows/{target['id']}/executions", json={"inputs": inputs or {}})
        if not wait:
            out.print(started["id"])
            return
        err.print(f"Run {started['id']} of {escape(target['kebab_name'])}")
        finished = _progress(api, started["id"], timeout)
    _finish(finished)


def _execution_table(items: list[dict[str, Any]]) -> Table:
    table = Table("id", "workflow", "status", "trigger", "started", "ms")
    for item in items:
        style = STATUS_STYLE.get(item["status"], "white")
        table.add_row(
            item["id"],
            item["workflow_id"],
            f"[{style}]{item['status']}[/{style}]",
            item["trigger_kind"],
            item["started_at"][:19],
            str(item["duration_ms"] if item["duration_ms"] is not None else ""),
        )
    return table


@executions_app.command("list")
def list_executions(
    workflow: Annotated[str | None, typer.Option(help="Kebab name or id of a workflow.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, running, completed, ...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    profile: ProfileOption = None,
) -> None:
    """List runs, newest first."""
    with _api(profile) as api:
        params: dict[str, Any] = {"limit": limit}
        if workflow:
            params["workflow_id"] = api.workflow(workflow)["id"]
        if status:
            params["status"] = status
        page = api.get("/executions", params=params)
    if as_json:
        _print_json(page["items"])
        return
    out.print(_execution_table(page["items"]))


def _execution(api: Api, execution_id: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = api.get(f"/executions/{execution_id}")
    except ClientError as exc:
        if exc.status in (404, 422):
            raise ClientError(
                f"No run with id {execution_id} is visible to you", EXIT_USAGE
            ) from None
        raise
    return found


@executions_app.command("show")
def show(
    execution_id: Annotated[str, typer.Argument(help="The run's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    profile: ProfileOption = None,
) -> None:
    """Show a run: status, each node's status and time, output or error."""
    with _api(profile) as api:
        found = _execution(api, execution_id)
    if as_json:
        _print_json(found)
        return
    style = STATUS_STYLE.get(found["status"], "white")
    out.print(f"Run {found['id']}  [{style}]{found['status']}[/{style}]  ({found['trigger_kind']})")
    table = Table("node", "iteration", "status", "attempts", "ms", "error")
    for step in found["steps"]:
        table.add_row(
            step["node_id"],
            step["iteration"],
            step["status"],
            str(step["attempts"]),
            str(step["duration_ms"] if step["duration_ms"] is not None else ""),
            escape(step["error"] or ""),
        )
    out.print(table)
    if found.get("error"):
        out.print(f"[red]error:[/red] {escape(found['error'])}")
    if found["status"] == "completed":
        _print_json(found.get("outputs"))


def _act(
    profile: str | None, execution_id: str, action: Callable[[Api], Any], then: str | None = None
) -> Any:
    with _api(profile) as api:
        _execution(api, execution_id)
        result = action(api)
        if then == "wait":
            result = _progress(api, execution_id, None)
    return result


@executions_app.command("cancel")
def cancel(
    execution_id: Annotated[str, typer.Argument(help="The run's id.")],
    profile: ProfileOption = None,
) -> None:
    """Cancel a pending or running run."""
    result = _act(profile, execution_id, lambda api: api.post(f"/executions/{execution_id}/cancel"))
    out.print(f"Run {execution_id}: {result['status']}")


@executions_app.command("retry")
def retry(
    execution_id: Annotated[str, typer.Argument(help="The run's id.")],
    wait: Annotated[bool, typer.Option(help="Follow the run until it ends.")] = False,
    profile: ProfileOption = None,
) -> None:
    """Re-run a failed run from its failed node."""
    result = _act(
        profile,
        execution_id,
        lambda api: api.post(f"/executions/{execution_id}/retry"),
        "wait" if wait else None,
    )
    if wait:
        _finish(result)
    out.print(f"Run {execution_id}: {result['status']}")


@executions_app.command("signal")
def signal(
    execution_id: Annotated[str, typer.Argument(help="The run's id.")],
    name: Annotated[str, typer.Argument(help="The signal's name.")],
    payload: Annotated[
        str | None, typer.Option(help="The signal's payload: JSON, or @file with JSON.")
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Send a signal to a run."""
    body = _json_argument(payload, "--payload")
    _act(
        profile,
        execution_id,
        lambda api: api.post(f"/executions/{execution_id}/signals/{name}", json=body),
    )
    out.print(f"Signal {name!r} accepted by run {execution_id}")


@executions_app.command("query")
def query(
    execution_id: Annotated[str, typer.Argument(help="The run's id.")],
    name: Annotated[str, typer.Argument(help="The query's name.")],
    profile: ProfileOption = None,
) -> None:
    """Ask a run a query; prints the answer as JSON."""
    answer = _act(
        profile, execution_id, lambda api: api.get(f"/executions/{execution_id}/queries/{name}")
    )
    _print_json(answer["result"])


def register(app: typer.Typer) -> None:
    """Add the client commands to the `wfb` application."""
    app.command("login")(login)
    app.command("run")(run)
    app.add_typer(workflows_app, name="workflows")
    app.add_typer(executions_app, name="executions")
