"""``handoff simulate``: the command line of the county-day simulation (thin)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import OperationalError

from server.config import Settings, get_settings
from server.errors import HandoffError

__all__ = ["simulate_command"]

console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as error:
        raise _fail(f"configuration error: {error.errors()[0]['msg']}", 2) from None


def simulate_command(
    speed: Annotated[float, typer.Option(help="Times real speed (20: a minute in 3 s)")] = 20.0,
    minutes: Annotated[float, typer.Option(help="How much of the day, from 07:50")] = 60.0,
    workers: Annotated[
        int | None, typer.Option(help="Start `handoff serve --workers W` (default 2)")
    ] = None,
    server_url: Annotated[
        str | None, typer.Option(help="Use this running server instead of starting one")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="The county's database (default HANDOFF_DATABASE_URL)")
    ] = None,
    clinics: Annotated[int | None, typer.Option(help="Only the first N townships")] = None,
    volume: Annotated[int, typer.Option(help="Boxes per courier visit: 1-3 times this")] = 1,
    boxes: Annotated[int, typer.Option(help="Give each clinic at least this many boxes")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed of the day")] = 1,
    tokens: Annotated[Path, typer.Option(help="The demo's device tokens")] = Path(
        "var/demo-device-tokens.txt"
    ),
    work_dir: Annotated[
        Path | None, typer.Option(help="Agents' configs, outboxes and logs (default: temporary)")
    ] = None,
    progress: Annotated[float, typer.Option(help="Seconds between progress lines")] = 10.0,
    max_rss_growth_mb: Annotated[
        float | None, typer.Option(help="Fail if server memory grows more over the 2nd half")
    ] = None,
    admin: Annotated[str, typer.Option(help="Administrator login (for verify)")] = "admin",
    admin_password: Annotated[str, typer.Option(envvar="HANDOFF_SIMULATE_PASSWORD")] = (
        "handoff-demo"
    ),
) -> None:
    """Play a county day through real scanner agents and the API at N times real speed."""
    import tempfile

    from server.simulation.county import prepare_county
    from server.simulation.day import plan_day
    from server.simulation.run import Options, SimulationError, reachable
    from server.simulation.run import simulate as run_simulation

    problems = [
        ("--speed must be more than 0", speed <= 0 or speed > 10_000),
        ("--minutes must be between 0 and 1440", not 0 < minutes <= 1440),
        ("--workers must be between 1 and 64", workers is not None and not 1 <= workers <= 64),
        ("--workers starts a server: not with --server-url", workers and server_url),
        ("--clinics must be at least 1", clinics is not None and clinics < 1),
        ("--volume must be between 1 and 50", not 1 <= volume <= 50),
        ("--boxes must be between 0 and 500", not 0 <= boxes <= 500),
        ("--progress must be more than 0", progress <= 0),
        ("--server-url must start with http:// or https://",
         server_url and not server_url.startswith(("http://", "https://"))),
    ]  # fmt: skip
    for message, wrong in problems:
        if wrong:
            raise _fail(message, 2)
    if server_url is not None:
        try:
            reachable(server_url.rstrip("/"))
        except SimulationError as error:
            raise _fail(str(error)) from None
    settings = _settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    try:
        county, device_tokens = prepare_county(
            settings, tokens, clinics=clinics, boxes=boxes, progress=console.print
        )
        schedule = plan_day(county, minutes, seed, volume)
    except OperationalError as error:
        first = str(error.orig).strip().splitlines()[0]
        raise _fail(f"cannot use the database: {first}") from None
    except HandoffError as error:
        raise _fail(error.detail) from None
    except (FileNotFoundError, ValueError) as error:
        raise _fail(str(error)) from None
    console.print(
        f"{minutes:g} minutes of the day at {speed:g}×: {len(schedule.stations)} stations, "
        f"{schedule.scans} scans, {schedule.events} events expected, "
        f"about {schedule.last_at().total_seconds() / speed:.0f} s"
    )
    with tempfile.TemporaryDirectory(prefix="handoff-simulate-") as scratch:
        options = Options(
            speed=speed,
            server_url=server_url,
            database_url=settings.database_url,
            workers=workers or 2,
            admin=(admin, admin_password),
            work_dir=work_dir or Path(scratch),
            progress_seconds=progress,
            max_rss_growth_mb=max_rss_growth_mb,
        )
        try:
            report = run_simulation(schedule, device_tokens, options, console.print)
        except SimulationError as error:
            raise _fail(str(error)) from None
    for line in report.lines():
        console.print(line)
    if report.failures:
        raise _fail("; ".join(report.failures))
    console.print("[green]simulation passed[/green]")
