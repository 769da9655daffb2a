"""The `wfb` command line."""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from workflow_builder.activities.cli import components_app
from workflow_builder.client.commands import register as register_client_commands
from workflow_builder.config import get_settings

if TYPE_CHECKING:
    import subprocess

    import uvicorn

app = typer.Typer(help="Workflow Builder: design workflows visually and run them durably.")
db_app = typer.Typer(help="Inspect and migrate the database schema.")
app.add_typer(db_app, name="db")
app.add_typer(components_app, name="components")
register_client_commands(app)
console = Console()
log = logging.getLogger("workflow_builder")


def _prepare_database(migrate: bool, **pool: int) -> str:
    """Resolve the database (starting the embedded one if needed), migrate it, return its URL.

    `pool` overrides the general pool's sizes (`pool_size`, `max_overflow`) of `Database`.
    """
    from workflow_builder.db import Database, set_database
    from workflow_builder.db.engine import database_url, owner_database_url
    from workflow_builder.db.migrate import current_revision, upgrade

    settings = get_settings()
    if not settings.database_url:
        console.print(
            f"[dim]No DATABASE_URL: using the embedded PostgreSQL in "
            f"{settings.embedded_db_dir}[/dim]"
        )
    if migrate:
        with console.status("Migrating the schema"):
            upgrade(owner_database_url(settings))
    with console.status("Connecting to the database"):
        url = database_url(settings)
    if not migrate and current_revision(url) is None:
        _say_error(RuntimeError("The database has no schema yet: run `wfb db upgrade` first"))
        raise typer.Exit(1)
    set_database(Database(url, **pool))
    # Every process registers the built-in components, so an API or a worker started on its
    # own never finds the catalogue empty (the sync takes a lock and writes only what changed).
    from workflow_builder.activities.registry import sync_components
    from workflow_builder.db import system_session

    with console.status("Registering components"), system_session() as session:
        sync_components(session)
    return url


def _freeze_startup_objects() -> None:
    """Exempt everything allocated so far (modules, the app, the engine) from garbage collection.

    Those objects live as long as the process, yet every full collection walked all of them:
    in an API process serving 100 requests/s, full collections paused every thread for
    65-266 ms (the listing's p99 at 200 requests/s went from 15 ms to 260-390 ms in the
    windows they fell in). Frozen, a full collection walks only what requests left behind
    (10-16 ms).
    """
    gc.freeze()


def server_config(application: Any, host: str, port: int) -> uvicorn.Config:
    """Return the HTTP server's configuration for `application` (what `wfb api` and `wfb up`
    serve). Forwarding headers are left to the app, which reads them only from the proxies in
    WFB_TRUSTED_PROXIES (api.proxies): uvicorn's own handling trusts loopback."""

    import uvicorn

    # log_config None: the server logs through the logging `_configure_logging` sets up.
    return uvicorn.Config(application, host=host, port=port, log_config=None, proxy_headers=False)


def _configure_logging() -> None:
    """Log at WFB_LOG_LEVEL; the libraries underneath (migrations, the engine, the embedded
    database, the web server's start-up) only say something when it is a warning, unless the
    level asked for is debug. Trace when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    import warnings

    from workflow_builder.telemetry import tracing

    tracing.configure()

    settings = get_settings()
    level = settings.log_level.upper()
    if settings.log_format == "json":
        from workflow_builder.telemetry.logs import json_handler

        handler = json_handler()
        logging.basicConfig(level=level, handlers=[handler])
        # The engine logs through a handler of its own unless its logger already has one.
        engine_logger = logging.getLogger("dbos")
        engine_logger.addHandler(handler)
        engine_logger.propagate = False
        console.quiet = True  # every line out is a JSON object: what it said is logged instead
    else:
        logging.basicConfig(level=level)
    if level != "DEBUG":
        for chatty in ("alembic", "dbos", "pgserver", "uvicorn.error"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
        # The embedded database asks for a runtime directory it does not need.
        warnings.filterwarnings("ignore", module="platformdirs")


def _serve(host: str | None, port: int | None) -> None:
    import threading

    import uvicorn

    from workflow_builder.api.app import create_app

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    application = create_app()
    _freeze_startup_objects()
    server = uvicorn.Server(server_config(application, host, port))

    def announce() -> None:
        # Once the port really accepts connections, not before.
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            console.print(f"Open [bold]http://{host}:{port}[/bold]  (API docs at /docs)")
            if console.quiet:
                log.info("serving http://%s:%d", host, port)

    threading.Thread(target=announce, name="wfb-announce", daemon=True).start()
    server.run()


def _say_error(error: Exception) -> None:
    """Tell the operator why the process stops: on the terminal, or as a log line in JSON."""
    console.print(f"[red]{error}[/red]", soft_wrap=True)
    if console.quiet:
        log.error("%s", error)


def _interrupt_on_sigterm() -> None:
    """Make SIGTERM (what systemd, `docker stop` and Kubernetes send) stop the process the way
    Ctrl-C does, as KeyboardInterrupt, so whatever was started is stopped. While serving, the
    web server takes both signals to finish the requests in flight, then raises them again."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (WFB_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (WFB_PORT).")] = None,
) -> None:
    """Start everything: database (embedded without DATABASE_URL), worker, API and web app."""
    from workflow_builder.db.embedded import stop_embedded
    from workflow_builder.runtime.engines import EngineUnavailable
    from workflow_builder.runtime.worker import Worker

    _configure_logging()
    _interrupt_on_sigterm()
    code = 0
    # Everything `up` starts is pushed here as it starts, and stopped in reverse order.
    with contextlib.ExitStack() as started:
        started.callback(stop_embedded)
        try:
            _prepare_database(migrate=True)
            temporal = _start_bundled_temporal()
            if temporal is not None:
                from workflow_builder.runtime.engines.temporal import server

                started.callback(server.stop, temporal)
            worker = Worker()
            with console.status("Starting the in-process worker"):
                worker.start()
            started.callback(worker.stop, get_settings().worker_drain_seconds)
            _serve(host, port)
        except KeyboardInterrupt:
            pass
        except EngineUnavailable as exc:
            _say_error(exc)
            code = 1
    _exit_leaving_waiting_runs(code)


def _start_bundled_temporal() -> subprocess.Popen[bytes] | None:
    """With `WFB_ENGINE=temporal` and no `TEMPORAL_ADDRESS`: start the bundled Temporal dev
    server (state in the data directory, Web UI on WFB_TEMPORAL_UI_PORT) and wait for it."""
    settings = get_settings()
    if settings.engine != "temporal" or settings.temporal_address is not None:
        return None
    from workflow_builder.runtime.engines.temporal import server

    try:
        with console.status("Starting the bundled Temporal server"):
            process = server.start(settings)
    except server.ServerUnavailable as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"Temporal Web UI at [bold]{settings.temporal_web_ui()}[/bold]")
    return process


@app.command()
def worker(
    project: Annotated[
        list[str] | None,
        typer.Option("--project", help="Serve only this project (repeatable). Default: all."),
    ] = None,
    drain_seconds: Annotated[
        float, typer.Option(help="On SIGTERM, how long running steps may take to finish.")
    ] = 30.0,
) -> None:
    """Run a worker: executes the runs of its projects' task queues until SIGTERM or Ctrl-C."""
    import threading
    from uuid import UUID

    from workflow_builder.runtime.engines import EngineUnavailable
    from workflow_builder.runtime.worker import Worker

    _configure_logging()
    _interrupt_on_sigterm()
    try:
        projects = [UUID(p) for p in project or []]
    except ValueError as exc:
        raise typer.BadParameter(f"--project takes a project id: {exc}") from None
    # A worker's runs write through the runtime's own pool and the engine's; its general pool
    # serves heartbeats and the odd lookup, so it stays small and several workers fit the
    # server's connection limit (see docs/runtime.md).
    _prepare_database(migrate=False, pool_size=4, max_overflow=4)
    settings = get_settings()
    if settings.metrics_port:
        from workflow_builder.telemetry.metrics import serve

        try:
            serve(settings.metrics_port, settings.metrics_host)
        except OSError as exc:
            _say_error(
                RuntimeError(
                    f"WFB_METRICS_PORT: cannot listen on "
                    f"{settings.metrics_host}:{settings.metrics_port}: {exc}"
                )
            )
            raise typer.Exit(2) from None
    running = Worker(projects or None)  # no --project: every project
    # From here SIGTERM and Ctrl-C mean "drain and stop", even while the worker is starting:
    # one that arrives once it has registered (and may already run runs) must hand its runs
    # over, not abort. Asked twice before the start is done, it gives up at once.
    stop = threading.Event()
    started = threading.Event()

    def _on_stop(*_: object) -> None:
        if stop.is_set() and not started.is_set():
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_stop)
    try:
        running.start()
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except EngineUnavailable as exc:
        _say_error(exc)
        raise typer.Exit(1) from None
    _freeze_startup_objects()
    console.print(f"Worker [bold]{running.worker_id}[/bold] running; Ctrl-C or SIGTERM stops it")
    if console.quiet:
        log.info("worker %s running", running.worker_id)
    started.set()
    stop.wait()
    with console.status("Draining"):
        running.stop(drain_seconds)
    _exit_leaving_waiting_runs()


def _exit_leaving_waiting_runs(code: int = 0) -> None:
    """Stop the embedded database if this process started it, and exit now: threads of runs
    still waiting (for a signal, a timer) would hold the process open for as long as they wait.
    Their state is durable; another worker resumes them."""
    import os
    import sys

    from workflow_builder.db.embedded import stop_embedded
    from workflow_builder.telemetry import tracing

    stop_embedded()
    tracing.flush()  # the spans still waiting for their batch
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (WFB_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (WFB_PORT).")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
) -> None:
    """Serve the API alone (run several of these behind a load balancer at scale)."""
    from workflow_builder.db.embedded import stop_embedded

    _configure_logging()
    _interrupt_on_sigterm()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            _prepare_database(migrate=migrate)
            _serve(host, port)
    finally:
        stop_embedded()
    _exit_leaving_waiting_runs()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from workflow_builder.db.engine import owner_database_url
    from workflow_builder.db.migrate import current_revision, upgrade

    url = owner_database_url()
    upgrade(url, revision)
    console.print(f"Database at revision [bold]{current_revision(url)}[/bold]")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' empties it.")] = "-1",
) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    from workflow_builder.db.engine import owner_database_url
    from workflow_builder.db.migrate import current_revision, downgrade

    url = owner_database_url()
    downgrade(url, revision)
    console.print(f"Database at revision [bold]{current_revision(url) or 'base (empty)'}[/bold]")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at and the newest one available."""
    from workflow_builder.db.engine import database_url
    from workflow_builder.db.migrate import current_revision, head_revision

    current = current_revision(database_url())
    head = head_revision()
    state = "up to date" if current == head else "behind: run `wfb db upgrade`"
    console.print(f"current: {current or 'base (empty)'}  head: {head}  ({state})")


@app.command()
def version() -> None:
    """Print the version."""
    import workflow_builder

    console.print(workflow_builder.__version__)


@app.command("validate")
def validate_definition(
    file: Annotated[Path, typer.Argument(help="Workflow definition JSON file.", exists=True)],
    components: Annotated[
        Path | None,
        typer.Option(help="Components JSON file (adds to the built-in ones).", dir_okay=False),
    ] = None,
) -> None:
    """Validate a workflow definition: list every problem with its location."""
    from workflow_builder.compiler.report import run_validate

    raise typer.Exit(run_validate(console, file, components))


@app.command("compile")
def compile_workflow(
    file: Annotated[Path, typer.Argument(help="Workflow definition JSON file.", exists=True)],
    components: Annotated[
        Path | None,
        typer.Option(help="Components JSON file (adds to the built-in ones).", dir_okay=False),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write the plan JSON here instead of printing it.")
    ] = None,
) -> None:
    """Compile a workflow definition into its execution plan (exit code 1 on errors)."""
    from workflow_builder.compiler.report import run_compile

    raise typer.Exit(run_compile(console, file, components, output))
