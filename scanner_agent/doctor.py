"""``handoff agent doctor``: what this PC has, and whether the configured parts answer."""

from __future__ import annotations

import glob
import os
import socket
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape
from serial.tools import list_ports

from labels.printers import BadPrinterUrl, parse_printer_url
from scanner_agent.config import AgentConfig, ConfigError, HidInput, SerialInput
from scanner_agent.inputs.hid import evdev_available

__all__ = ["run_doctor"]


class _Report:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.failures = 0

    def heading(self, text: str) -> None:
        self.console.print(f"[bold]{escape(text)}[/bold]")

    def line(self, text: str) -> None:
        self.console.print(f"  {escape(text)}", highlight=False)

    def ok(self, text: str) -> None:
        self.console.print(f"  [green]ok[/green]   {escape(text)}", highlight=False)

    def bad(self, text: str) -> None:
        self.failures += 1
        self.console.print(f"  [red]FAIL[/red] {escape(text)}", highlight=False)


def _serial(report: _Report) -> None:
    report.heading("Serial ports")
    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    for port in ports:
        usb = f" USB {port.vid:04x}:{port.pid:04x}" if port.vid is not None else ""
        report.line(f"{port.device}{usb} {port.description or ''}".rstrip())
    for link in sorted(glob.glob("/dev/serial/by-id/*")):
        report.line(f"{link} -> {os.path.realpath(link)}")
    if not ports:
        report.line("(none)")


def _hid(report: _Report) -> None:
    report.heading("Input devices (keyboard wedge)")
    if not evdev_available():
        report.line("evdev is not installed (pip install 'handoff[hid]', Linux only)")
        return
    import evdev

    paths = sorted(evdev.list_devices())
    for path in paths:
        try:
            device = evdev.InputDevice(path)
        except OSError as error:
            report.line(f"{path}: {error.strerror}")
            continue
        info = device.info
        report.line(f"{path} USB {info.vendor:04x}:{info.product:04x} {device.name}")
        device.close()
    if not paths:
        report.line("(none, or no permission: the agent's user needs the 'input' group)")


def _cameras(report: _Report) -> None:
    report.heading("Cameras")
    devices = sorted(glob.glob("/dev/video*"))
    for path in devices:
        report.line(path)
    if not devices:
        report.line("(none)")


def _printer(report: _Report, config: AgentConfig | None) -> None:
    report.heading("Printers")
    for path in sorted(glob.glob("/dev/usb/lp*")):
        report.line(f"{path} (USB printer class device)")
    if config is None or config.printer is None:
        report.line("(no printer configured)")
        return
    try:
        url = parse_printer_url(config.printer.url)
    except BadPrinterUrl as error:
        report.bad(str(error))
        return
    if url.scheme == "tcp":
        try:
            with socket.create_connection((url.host, url.port), timeout=3):
                report.ok(f"printer {url.describe()} accepts connections")
        except OSError as error:
            report.bad(f"printer {url.describe()}: {error.strerror or error}")
    elif url.scheme in ("serial", "file"):
        if os.access(url.path, os.W_OK) or (
            url.scheme == "file" and os.access(Path(url.path).parent, os.W_OK)
        ):
            report.ok(f"printer {url.describe()} is writable")
        else:
            report.bad(f"printer {url.describe()} is missing or not writable by this user")
    else:
        report.line(f"printer {url.describe()}: USB printers are checked when printing")


def _inputs(report: _Report, config: AgentConfig) -> None:
    report.heading("Configured inputs")
    for spec in config.inputs:
        if isinstance(spec, SerialInput):
            path = spec.port
            if spec.usb is not None:
                from scanner_agent.inputs.serial_port import find_by_usb

                path = find_by_usb(spec.usb)
            if path is None:
                report.bad(f"{spec.name}: no serial port with USB ID {spec.usb}")
            elif os.access(path, os.R_OK | os.W_OK):
                report.ok(f"{spec.name}: {path}")
            else:
                report.bad(f"{spec.name}: {path} missing or not readable (group 'dialout'?)")
        elif isinstance(spec, HidInput):
            if spec.device is not None and not os.access(spec.device, os.R_OK):
                report.bad(f"{spec.name}: {spec.device} missing or not readable (group 'input'?)")
            elif not evdev_available():
                report.bad(f"{spec.name}: evdev is not installed")
            else:
                report.ok(f"{spec.name}: {spec.device or spec.usb}")
        else:
            report.line(f"{spec.name}: {spec.kind}")


def _server(report: _Report, config: AgentConfig) -> None:
    report.heading("Server")
    try:
        token = config.token()
    except ConfigError as error:
        report.bad(str(error))
        return
    try:
        response = httpx.post(
            f"{config.server_url}/api/v1/events",
            json={"events": []},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx.HTTPError as error:
        report.bad(f"{config.server_url}: unreachable ({type(error).__name__}: {error})")
        return
    if response.status_code == 200:
        report.ok(f"{config.server_url} accepts this device's token")
    elif response.status_code in (401, 403):
        report.bad(f"{config.server_url} refuses the device token ({response.status_code})")
    else:
        report.bad(f"{config.server_url} answered {response.status_code}")


def _outbox(report: _Report, config: AgentConfig) -> None:
    report.heading("Outbox")
    folder = config.outbox.parent
    if folder.is_dir() and os.access(folder, os.W_OK):
        report.ok(f"{config.outbox} (folder writable)")
    elif not folder.exists():
        report.line(f"{folder} will be created")
    else:
        report.bad(f"{folder} is not writable by this user")


def run_doctor(config: AgentConfig | None, console: Console | None = None) -> int:
    """Print the report; return 1 if a configured part does not work, else 0."""
    report = _Report(console or Console(soft_wrap=True))
    _serial(report)
    _hid(report)
    _cameras(report)
    _printer(report, config)
    if config is not None:
        _inputs(report, config)
        _outbox(report, config)
        _server(report, config)
    return 1 if report.failures else 0
