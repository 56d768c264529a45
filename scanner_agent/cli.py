"""``handoff agent``: run the scanner agent, or check this PC's devices and server link."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scanner_agent.config import ConfigError, load_config

__all__ = ["agent_app"]

agent_app = typer.Typer(help="The scanner agent at a site's PC.", no_args_is_help=True)
_err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The agent's TOML file", show_default=True)
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@agent_app.command()
def run(
    config: ConfigOption = Path("/etc/handoff/agent.toml"),
    until_drained: Annotated[
        bool, typer.Option(help="Stop once the inputs have ended and every event is answered")
    ] = False,
    stats: Annotated[
        Path | None, typer.Option(help="Write scan-to-commit latency figures here (JSON) at exit")
    ] = None,
) -> None:
    """Read the scanners and serve the station until stopped (SIGTERM)."""
    from scanner_agent.runner import Agent

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        loaded = load_config(config)
        agent = Agent(loaded)
        code = agent.run(until_drained=until_drained)
        if stats is not None:
            stats.write_text(json.dumps(agent.stats()), encoding="utf-8")
    except ConfigError as error:
        raise _fail(str(error)) from None
    except OSError as error:
        raise _fail(f"cannot start: {error}", 1) from None
    except sqlite3.Error as error:
        raise _fail(f"the outbox {loaded.outbox} cannot be used: {error}", 1) from None
    raise typer.Exit(code)


@agent_app.command()
def doctor(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Also check this agent's settings")
    ] = None,
) -> None:
    """List serial ports, input devices, cameras and printers; test the server connection."""
    from scanner_agent.doctor import run_doctor

    try:
        loaded = load_config(config) if config is not None else None
    except ConfigError as error:
        raise _fail(str(error)) from None
    raise typer.Exit(run_doctor(loaded))
