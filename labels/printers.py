"""Send ESC/POS jobs to printers named by URL, and keep a record of every job.

    tcp://host[:9100]                 network printer (raw TCP, port 9100 by default)
    serial:///dev/ttyUSB0?baud=9600   serial printer (also bytesize, parity, stopbits, flow)
    usb://0416:5011                   USB printer by vendor:product ID (hex)
    file:///dev/usb/lp0               a device file, or a plain file (overwritten by each job)

tcp, serial and usb take ``timeout`` (seconds); tcp and serial also ``confirm=status``, which
asks the printer for its status (DLE EOT 1) after the job and counts the job as sent only if
it answers.

A job is sent once. If it fails before any byte can have reached the printer it is ``failed``;
if it fails while or after writing, or a requested confirmation does not come, it is
``unconfirmed``: something may have printed, so a person decides. Either way the caller gets a
PrinterError carrying the job ID, and only ``PrintJobs.resend(job_id)`` sends it again.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import secrets
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Final, Literal
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "BadPrinterUrl",
    "JobStatus",
    "PrintJob",
    "PrintJobs",
    "PrintUnconfirmed",
    "PrinterError",
    "PrinterNotFound",
    "PrinterOffline",
    "PrinterUrl",
    "UnknownJob",
    "deliver",
    "parse_printer_url",
]

Scheme = Literal["tcp", "serial", "usb", "file"]
Flow = Literal["none", "xonxoff", "dsrdtr"]
_SCHEMES: Final = ("tcp", "serial", "usb", "file")
_DEFAULT_TIMEOUT: Final = 10.0
_STATUS_REQUEST: Final = b"\x10\x04\x01"  # DLE EOT 1: transmit printer status
_JOB_ID: Final = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
_QUERY_KEYS: Final[dict[str, frozenset[str]]] = {
    "tcp": frozenset({"timeout", "confirm"}),
    "serial": frozenset({"baud", "bytesize", "parity", "stopbits", "flow", "timeout", "confirm"}),
    "usb": frozenset({"timeout", "in_ep", "out_ep"}),
    "file": frozenset(),
}


class PrinterError(Exception):
    """A printing problem with a stable ``code`` for logs and the agent's reports."""

    code: ClassVar[str] = "printer_error"

    def __init__(self, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job_id = job_id

    def __str__(self) -> str:
        if self.job_id:
            return f"{self.message} (job {self.job_id})"
        return self.message


class BadPrinterUrl(PrinterError):
    """The printer setting is not a usable printer URL."""

    code = "bad_printer_url"


class PrinterNotFound(PrinterError):
    """No such device: serial port, USB device or file path missing or not openable."""

    code = "printer_not_found"


class PrinterOffline(PrinterError):
    """A network printer that does not accept a connection."""

    code = "printer_offline"


class PrintUnconfirmed(PrinterError):
    """The job may or may not have printed: writing failed midway or confirmation was missing."""

    code = "print_unconfirmed"


class UnknownJob(PrinterError):
    """No job with that ID is recorded."""

    code = "unknown_job"


@dataclass(frozen=True, slots=True)
class PrinterUrl:
    """A parsed printer URL; ``text`` is the URL as given."""

    text: str
    scheme: Scheme
    host: str = ""
    port: int = 9100
    path: str = ""
    baud: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    flow: Flow = "none"
    vendor_id: int = 0
    product_id: int = 0
    in_ep: int = 0x82
    out_ep: int = 0x01
    timeout: float = _DEFAULT_TIMEOUT
    confirm: bool = False

    def describe(self) -> str:
        """Name the printer for people: host:port, device path or USB IDs."""
        if self.scheme == "tcp":
            return f"{self.host}:{self.port}"
        if self.scheme == "usb":
            return f"USB {self.vendor_id:04x}:{self.product_id:04x}"
        return self.path


def _bad(url: str, problem: str) -> BadPrinterUrl:
    return BadPrinterUrl(f"printer URL {url!r}: {problem}")


def _number(url: str, key: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(int(raw, 0)) if key in ("in_ep", "out_ep") else float(raw)
    except ValueError:
        raise _bad(url, f"{key}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise _bad(url, f"{key}={raw} is outside {low:g}-{high:g}")
    return value


def parse_printer_url(text: str) -> PrinterUrl:
    """Parse a printer URL, or raise BadPrinterUrl naming what is wrong with it."""
    url = text.strip()
    if "://" not in url:
        raise _bad(url, "expected scheme://…, one of " + ", ".join(f"{s}://" for s in _SCHEMES))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise _bad(url, f"unknown scheme {scheme!r}; use one of {', '.join(_SCHEMES)}")
    if parts.fragment:
        raise _bad(url, "a printer URL has no #fragment")
    query: dict[str, str] = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True, strict_parsing=False).items():
        if key not in _QUERY_KEYS[scheme]:
            allowed = ", ".join(sorted(_QUERY_KEYS[scheme]))
            raise _bad(url, f"unknown option {key!r} for {scheme}:// (allowed: {allowed})")
        if len(values) != 1:
            raise _bad(url, f"option {key!r} is given more than once")
        query[key] = values[0]
    options: dict[str, Any] = {}
    if "timeout" in query:
        options["timeout"] = _number(url, "timeout", query["timeout"], 0.1, 600)
    if "confirm" in query:
        if query["confirm"] != "status":
            raise _bad(url, f"confirm={query['confirm']!r}: the only confirmation is 'status'")
        options["confirm"] = True

    if scheme == "tcp":
        host = parts.hostname or ""
        if not host:
            raise _bad(url, "a network printer needs a host, e.g. tcp://192.168.1.50:9100")
        if parts.path not in ("", "/"):
            raise _bad(url, "a network printer URL has no path")
        try:
            port = parts.port or 9100
        except ValueError:
            raise _bad(url, "the port must be a number 1-65535") from None
        return PrinterUrl(url, "tcp", host=host, port=port, **options)

    if scheme == "serial":
        if parts.netloc or not parts.path.startswith("/"):
            raise _bad(url, "a serial printer needs a device path, e.g. serial:///dev/ttyUSB0")
        for key, low, high in (("baud", 50, 4_000_000), ("bytesize", 5, 8), ("stopbits", 1, 2)):
            if key in query:
                options[key] = int(_number(url, key, query[key], low, high))
        if "parity" in query:
            parity = query["parity"].upper()
            if parity not in ("N", "E", "O", "M", "S"):
                raise _bad(url, f"parity={query['parity']!r}: use N, E, O, M or S")
            options["parity"] = parity
        if "flow" in query:
            if query["flow"] not in ("none", "xonxoff", "dsrdtr"):
                raise _bad(url, f"flow={query['flow']!r}: use none, xonxoff or dsrdtr")
            options["flow"] = query["flow"]
        return PrinterUrl(url, "serial", path=parts.path, **options)

    if scheme == "usb":
        match = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", parts.netloc)
        if match is None or parts.path not in ("", "/"):
            raise _bad(url, "a USB printer is usb://VID:PID with 4 hex digits each, e.g. 0416:5011")
        for key in ("in_ep", "out_ep"):
            if key in query:
                options[key] = int(_number(url, key, query[key], 0, 255))
        vendor, product = int(match.group(1), 16), int(match.group(2), 16)
        return PrinterUrl(url, "usb", vendor_id=vendor, product_id=product, **options)

    if parts.netloc or not parts.path.startswith("/"):
        raise _bad(url, "a file printer needs an absolute path: file:///path/to/file")
    return PrinterUrl(url, "file", path=parts.path, **options)


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for candidate in (base / "handoff" / "escpos", Path(tempfile.gettempdir()) / "handoff-escpos"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    raise PrinterError("no writable cache directory for python-escpos's capabilities")


@cache
def _escpos() -> ModuleType:
    """Import python-escpos once, with its side effects contained.

    On import it parses its capabilities file (0.4 s) unless a pickle directory is set, and
    without one it leaves a new temporary directory per process; it also prints to stdout and
    calls logging.basicConfig(), which would configure the host application's root logger.
    """
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(_cache_dir()))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with contextlib.redirect_stdout(io.StringIO()):
        import escpos.printer
    root.handlers[:] = handlers
    root.setLevel(level)
    module: ModuleType = escpos.printer
    return module


def _open(url: PrinterUrl) -> Any:
    printers = _escpos()
    if url.scheme == "tcp":
        printer = printers.Network(url.host, port=url.port, timeout=url.timeout)
    elif url.scheme == "serial":
        printer = printers.Serial(
            devfile=url.path,
            baudrate=url.baud,
            bytesize=url.bytesize,
            parity=url.parity,
            stopbits=url.stopbits,
            timeout=url.timeout,
            xonxoff=url.flow == "xonxoff",
            dsrdtr=url.flow == "dsrdtr",
        )
    elif url.scheme == "usb":
        printer = printers.Usb(
            url.vendor_id,
            url.product_id,
            timeout=int(url.timeout * 1000),
            in_ep=url.in_ep,
            out_ep=url.out_ep,
        )
    else:
        printer = printers.File(devfile=url.path)
    try:
        printer.open()
    except Exception as error:
        # python-escpos raises DeviceNotFoundError for every kind of open failure, and pyusb
        # raises NoBackendError (a ValueError) when libusb is absent; all mean "not printed".
        detail = _root_cause(error)
        if url.scheme == "tcp":
            raise PrinterOffline(
                f"printer {url.describe()} is offline or unreachable: {detail}"
            ) from None
        if url.scheme == "usb":
            # python-escpos reports "no such device" as an AssertionError; other causes
            # (permissions, no libusb backend) are worth showing.
            cause = "" if "not found" in detail else f": {detail}"
            if "No backend" in detail:
                cause = ": USB printing needs libusb (Debian package libusb-1.0-0)"
            raise PrinterNotFound(
                f"{url.describe()} is not connected, or this user may not use it{cause}"
            ) from None
        raise PrinterNotFound(f"printer {url.describe()} cannot be opened: {detail}") from None
    if url.scheme == "serial":
        printer.device.write_timeout = url.timeout
    return printer


def _root_cause(error: BaseException) -> str:
    """Return the innermost reason of a chained error, on one line."""
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return " ".join(str(error).split()) or type(error).__name__


def deliver(url: PrinterUrl | str, data: bytes) -> None:
    """Send ``data`` to the printer once; raise a PrinterError if it is not known to be sent."""
    target = parse_printer_url(url) if isinstance(url, str) else url
    printer = _open(target)
    try:
        try:
            printer._raw(data)
        except Exception as error:
            # OSError, serial.SerialException or usb.core.USBError, depending on the transport;
            # any of them may come after part of the job has already printed.
            raise PrintUnconfirmed(
                f"sending to {target.describe()} broke off ({_root_cause(error)}); check the "
                "printer before sending again"
            ) from None
        if target.confirm:
            try:
                printer._raw(_STATUS_REQUEST)
                answer = printer._read()
            except Exception as error:
                answer = b""
                reason = _root_cause(error)
            else:
                reason = "no answer"
            if not answer:
                raise PrintUnconfirmed(
                    f"{target.describe()} took the job but did not answer the status request "
                    f"({reason}); check the printer before sending again"
                )
    finally:
        # The outcome is decided above; a close that fails cannot unsend what was written.
        with contextlib.suppress(Exception):
            printer.close()


class JobStatus(StrEnum):
    """Outcome of a job's latest attempt."""

    SENT = "sent"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class PrintJob:
    """The record of one print job; its bytes are kept beside it for a deliberate resend."""

    job_id: str
    printer: str
    description: str
    size: int
    created_at: datetime
    updated_at: datetime
    attempts: int
    status: JobStatus
    error_code: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["created_at"] = self.created_at.isoformat()
        record["updated_at"] = self.updated_at.isoformat()
        record["status"] = self.status.value
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> PrintJob:
        return cls(
            job_id=str(record["job_id"]),
            printer=str(record["printer"]),
            description=str(record["description"]),
            size=int(record["size"]),
            created_at=datetime.fromisoformat(record["created_at"]),
            updated_at=datetime.fromisoformat(record["updated_at"]),
            attempts=int(record["attempts"]),
            status=JobStatus(record["status"]),
            error_code=record.get("error_code"),
            error=record.get("error"),
        )


class PrintJobs:
    """Print jobs recorded in a directory: ``<job_id>.bin`` (the bytes) and ``<job_id>.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def submit(self, printer: str, data: bytes, description: str = "") -> PrintJob:
        """Record a new job and send it once; raise PrinterError (with ``job_id``) on failure."""
        url = parse_printer_url(printer)
        now = datetime.now(UTC)
        job = PrintJob(
            job_id=f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
            printer=url.text,
            description=description,
            size=len(data),
            created_at=now,
            updated_at=now,
            attempts=0,
            status=JobStatus.FAILED,
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.directory / f"{job.job_id}.bin", data)
        return self._attempt(job, url, data)

    def resend(self, job_id: str, printer: str | None = None) -> PrintJob:
        """Send a recorded job again, on purpose, to its printer or to ``printer``."""
        job = self.get(job_id)
        url = parse_printer_url(printer or job.printer)
        return self._attempt(replace(job, printer=url.text), url, self.payload(job_id))

    def get(self, job_id: str) -> PrintJob:
        """Return the record of ``job_id``, or raise UnknownJob."""
        path = self._path(job_id, ".json")
        try:
            return PrintJob.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise UnknownJob(f"no print job {job_id!r} in {self.directory}") from None

    def payload(self, job_id: str) -> bytes:
        """Return the bytes of ``job_id``."""
        try:
            return self._path(job_id, ".bin").read_bytes()
        except FileNotFoundError:
            raise UnknownJob(f"no print job {job_id!r} in {self.directory}") from None

    def all(self) -> list[PrintJob]:
        """Return every recorded job, oldest first."""
        if not self.directory.is_dir():
            return []
        names = sorted(p.stem for p in self.directory.glob("*.json") if _JOB_ID.match(p.stem))
        return [self.get(name) for name in names]

    def _path(self, job_id: str, suffix: str) -> Path:
        if not _JOB_ID.match(job_id):
            raise UnknownJob(f"{job_id!r} is not a print job ID (like 20261122-093012-a1b2c3)")
        return self.directory / f"{job_id}{suffix}"

    def _attempt(self, job: PrintJob, url: PrinterUrl, data: bytes) -> PrintJob:
        attempts = job.attempts + 1
        try:
            deliver(url, data)
        except PrinterError as error:
            status = (
                JobStatus.UNCONFIRMED if isinstance(error, PrintUnconfirmed) else JobStatus.FAILED
            )
            self._save(
                replace(
                    job,
                    attempts=attempts,
                    status=status,
                    updated_at=datetime.now(UTC),
                    error_code=error.code,
                    error=error.message,
                )
            )
            error.job_id = job.job_id
            raise
        done = replace(
            job,
            attempts=attempts,
            status=JobStatus.SENT,
            updated_at=datetime.now(UTC),
            error_code=None,
            error=None,
        )
        self._save(done)
        return done

    def _save(self, job: PrintJob) -> None:
        text = json.dumps(job.to_json(), ensure_ascii=False, indent=2)
        _write_atomic(self.directory / f"{job.job_id}.json", text.encode("utf-8"))


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
