"""The ``handoff`` command line: serve, migrate, verify, add users and devices, load the demo."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from scanner_agent.cli import agent_app
from server.config import Settings, get_settings
from server.db import build_engine, build_sessionmaker, session_scope
from server.enums import Role
from server.errors import HandoffError
from server.label_cli import label_app
from server.simulation.cli import simulate_command

app = typer.Typer(
    help="Handoff: chain of custody for a county medical consortium.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="People who log in.", no_args_is_help=True)
device_app = typer.Typer(help="Edge agents.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(device_app, name="device")
app.add_typer(label_app, name="label")
app.add_typer(agent_app, name="agent")

console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as error:
        first = error.errors()[0]
        err.print(f"[red]configuration error:[/red] {first['msg']}")
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@contextmanager
def _unit_of_work(settings: Settings) -> Iterator[Session]:
    engine = build_engine(settings.database_url)
    try:
        with session_scope(build_sessionmaker(engine)) as session:
            yield session
    except HandoffError as error:
        raise _fail(error.detail) from None
    except OperationalError as error:
        raise _fail(f"cannot use the database: {str(error.orig).strip().splitlines()[0]}") from None
    finally:
        engine.dispose()


def _guarded(action: Callable[[], T]) -> T:
    try:
        return action()
    except OperationalError as error:
        raise _fail(f"cannot use the database: {str(error.orig).strip().splitlines()[0]}") from None


# uvicorn's workers share one listening socket, and libuv (under uvloop) accepts every
# connection waiting when it wakes: devices that connect together all land on one worker,
# which then serves them one batch at a time while the others idle. One accept per wake
# lets the other workers take their share (bench.ingest: both workers busy in 9 of 10 runs
# with this, about half without).
WORKER_ENVIRONMENT = {"UV_TCP_SINGLE_ACCEPT": "1"}


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes")] = False,
) -> None:
    """Run the tracking server."""
    import uvicorn

    settings = _settings()
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    uvicorn.run(
        "server.app:app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        reload=reload,
        log_level="info",
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the schema migrations."""
    from server.migrate import upgrade

    settings = _settings()
    _guarded(lambda: upgrade(settings.database_url, revision))
    console.print(f"database at [bold]{revision}[/bold]")


@app.command()
def verify(
    projections: Annotated[bool, typer.Option(help="Also rebuild every item's state")] = True,
) -> None:
    """Check the custody ledger's hash chain; exits 1 and names the first broken link."""
    from server.custody.service import verify_ledger

    settings = _settings()
    with _unit_of_work(settings) as session:
        report = verify_ledger(session, projections=projections)
    if report.first_broken:
        broken = report.first_broken
        err.print(f"[red]BROKEN[/red] at position {broken.position}: {broken.problem}")
        if broken.event_id:
            err.print(f"  event {broken.event_id}")
    for mismatch in report.projection_mismatches:
        err.print(
            f"[red]projection[/red] {mismatch.barcode}.{mismatch.field}: stored {mismatch.stored}, "
            f"ledger says {mismatch.rebuilt}"
        )
    if not report.ok:
        raise typer.Exit(1)
    console.print(
        f"[green]ledger intact[/green]: {report.events_checked} events, "
        f"{report.items_checked} items checked in {report.seconds:.2f} s"
    )


@app.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="Where to write the backup")],
    force: Annotated[bool, typer.Option(help="Replace FILE if it exists")] = False,
) -> None:
    """Back up the whole database to FILE (SQLite: a copy; PostgreSQL: pg_dump -Fc)."""
    from server.backup import BackupError, backup

    settings = _settings()
    try:
        outcome = backup(
            settings.database_url, file, say=_progress, force=force, pg_bin=settings.pg_bin
        )
    except BackupError as error:
        raise _fail(str(error)) from None
    console.print(
        f"[green]backed up[/green] to {outcome.path} ({outcome.size:,} bytes, "
        f"schema {outcome.revision or 'none'})"
    )


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="A file written by handoff backup")],
    force: Annotated[
        bool, typer.Option(help="Replace everything in a database that is not empty")
    ] = False,
) -> None:
    """Restore FILE into the database, which must be empty (or pass --force). Stop the server
    first; run `handoff db upgrade` and `handoff verify` after."""
    from server.backup import BackupError, restore

    settings = _settings()
    try:
        outcome = restore(
            settings.database_url, file, say=_progress, force=force, pg_bin=settings.pg_bin
        )
    except BackupError as error:
        raise _fail(str(error)) from None
    console.print(
        f"[green]restored[/green] {outcome.path} (schema {outcome.revision or 'none'}); "
        "run `handoff db upgrade` if this version is newer, then `handoff verify`"
    )


def _progress(line: str) -> None:
    err.print(f"[dim]{line}[/dim]", highlight=False)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Option(help="Full name")],
    role: Annotated[Role, typer.Option(help="Role")],
    username: Annotated[str | None, typer.Option(help="Login name")] = None,
    site: Annotated[str | None, typer.Option(help="Home site code")] = None,
    password: Annotated[
        str | None, typer.Option(help="Password (prompted if a username is given)")
    ] = None,
) -> None:
    """Add a person; prints their badge ID."""
    from server.people.schemas import PersonCreate
    from server.people.service import create_person

    if username and password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        data = PersonCreate(
            name=name, role=role, username=username, password=password, home_site=site
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise _fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    with _unit_of_work(_settings()) as session:
        person = create_person(session, None, data)
        badge = person.badge
    console.print(f"added {name} ({role}) badge [bold]{badge}[/bold]")


@device_app.command("add")
def device_add(
    name: Annotated[str, typer.Option(help="What and where the agent is")],
    site: Annotated[str, typer.Option(help="Site code")],
) -> None:
    """Register an edge agent; prints its token once (only a hash is stored)."""
    from server.devices.schemas import DeviceCreate
    from server.devices.service import create_device

    try:
        data = DeviceCreate(name=name, site=site)
    except ValidationError as error:
        raise _fail(error.errors()[0]["msg"]) from None
    with _unit_of_work(_settings()) as session:
        device, token = create_device(session, None, data)
        barcode = device.barcode
    console.print(f"device [bold]{barcode}[/bold] at {site}")
    console.print("token (shown once, store it in the agent's config):")
    print(token)


@device_app.command("rotate")
def device_rotate(
    barcode: Annotated[str, typer.Argument(help="The device's barcode (DV…)")],
) -> None:
    """Give a device a new token; its old token is refused at once. Prints the new one once."""
    from server.devices.service import rotate_token
    from server.lookup import device_by_barcode

    with _unit_of_work(_settings()) as session:
        device = device_by_barcode(session, barcode)
        token = rotate_token(session, None, device)
        barcode = device.barcode
    console.print(f"device [bold]{barcode}[/bold]: the old token no longer works")
    console.print("new token (shown once, store it in the agent's config):")
    print(token)


@app.command()
def demo(
    day: Annotated[
        str | None, typer.Option(help="Date of the demo day, YYYY-MM-DD (default today)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    force: Annotated[bool, typer.Option(help="Load even if the database has data")] = False,
) -> None:
    """Load the demo county (migrates first) into the configured database."""
    from server.demo import load_demo
    from server.migrate import upgrade

    settings = _settings()
    try:
        the_day = date.fromisoformat(day) if day else None
    except ValueError:
        raise _fail(f"--day must be YYYY-MM-DD, not {day!r}") from None
    _guarded(lambda: upgrade(settings.database_url))
    with _unit_of_work(settings) as session:
        summary = load_demo(
            session, settings, day=the_day, seed=seed, force=force, progress=console.print
        )
    console.print(summary)


@app.command("plan")
def plan_day(
    date_: Annotated[str, typer.Option("--date", help="Day to plan, YYYY-MM-DD")],
    time_limit: Annotated[float, typer.Option(min=0.1, max=300, help="Seconds of search")] = 10.0,
    seed: Annotated[int, typer.Option(min=0, help="Search seed")] = 0,
    html: Annotated[str | None, typer.Option(help="Also write the printable sheets here")] = None,
) -> None:
    """Plan the couriers' runs for a day, create the trips and print the route sheets."""
    from server.plans.cli import plan_command

    try:
        day = date.fromisoformat(date_)
    except ValueError:
        raise _fail(f"--date must be YYYY-MM-DD, not {date_!r}") from None
    settings = _settings()
    try:
        text = _guarded(lambda: plan_command(settings, day, time_limit, seed, html, _progress))
    except HandoffError as error:
        raise _fail(error.detail) from None
    typer.echo(text)


app.command("simulate")(simulate_command)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
