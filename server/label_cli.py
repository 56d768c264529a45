"""``handoff label …``: print labels to ESC/POS printers or write them as PNG, PDF or job files.

Every print is recorded as a job under ``--jobs-dir``; a job that failed or may not have
printed is reported with its ID and is sent again only by ``handoff label resend JOB_ID``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from labels.escpos_jobs import Route, label_job
from labels.escpos_render import EscposError, Printout, interpret
from labels.fonts import FontMissing
from labels.layouts import (
    A4_LABEL,
    A4_PAGE,
    RECEIPT_58,
    RECEIPT_80,
    BoxLabel,
    Label,
    LabelError,
    Language,
    LoadItem,
    LoadSheet,
    Media,
    PackLabel,
    SetTag,
    StaffBadge,
    render,
)
from labels.pdf import labels_pdf, pages_pdf
from labels.printers import JobStatus, PrinterError, PrintJobs
from labels.symbols import SymbolError
from server.config import get_settings
from server.cssd.rules import ExpiryError, Material, StorageCondition, last_valid_day
from server.custody.messages import render as render_message

label_app = typer.Typer(
    help="Labels: print to an ESC/POS printer (--printer URL) or write PNG/PDF/ESC-POS (--out).",
    no_args_is_help=True,
)

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


class Paper(StrEnum):
    """Roll width of the ESC/POS printer."""

    MM58 = "58"
    MM80 = "80"


_MEDIA = {Paper.MM58: RECEIPT_58, Paper.MM80: RECEIPT_80}

Lang = Annotated[Language, typer.Option("--lang", help="Language of captions")]
Width = Annotated[Paper, typer.Option("--width", help="Roll width in mm (ESC/POS and PNG)")]
PrinterOpt = Annotated[
    str | None,
    typer.Option(
        "--printer",
        envvar="HANDOFF_PRINTER",
        help="tcp://host:9100, serial:///dev/ttyUSB0?baud=9600, usb://VID:PID or file:///path",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Write FILE.png (what prints), FILE.pdf (A4 sheet) or FILE.bin (ESC/POS)"
    ),
]
NativeOpt = Annotated[
    bool,
    typer.Option(
        "--native/--raster",
        help="Printer fonts, barcode and QR commands, or one exact bitmap (default)",
    ),
]
QrOpt = Annotated[bool, typer.Option("--qr/--no-qr", help="Add a QR code of the ID")]
JobsDir = Annotated[
    Path,
    typer.Option("--jobs-dir", envvar="HANDOFF_PRINT_JOBS", help="Where print jobs are recorded"),
]
DEFAULT_JOBS_DIR = Path("var/print-jobs")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _guarded(action: Callable[[], T]) -> T:
    """Run ``action``, turning the library's expected errors into one message and exit 1."""
    try:
        return action()
    except PrinterError as error:
        hint = ""
        if error.job_id:
            hint = f"\nre-send it on purpose with: handoff label resend {error.job_id}"
        raise _fail(f"{error}{hint}") from None
    except (LabelError, SymbolError, FontMissing, EscposError) as error:
        raise _fail(str(error)) from None
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        raise _fail(f"cannot write{where}: {error.strerror or error}") from None


def _day(text: str | None, option: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None


def _moment(text: str | None, option: str) -> datetime:
    if text is None:
        return datetime.now().astimezone()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option} must be a time YYYY-MM-DD HH:MM, not {text!r}") from None


def _build(factory: Callable[[], Label]) -> Label:
    try:
        return factory()
    except LabelError as error:
        raise _fail(str(error)) from None


def _output(
    label: Label,
    *,
    language: Language,
    width: Paper,
    printer: str | None,
    out: Path | None,
    native: bool,
    qr: bool,
    jobs_dir: Path,
) -> None:
    if (printer is None) == (out is None):
        raise _fail("give either --printer URL or --out FILE.png|.pdf|.bin")
    media: Media = _MEDIA[width]
    route = Route.NATIVE if native else Route.RASTER
    if out is None:
        assert printer is not None
        job = _guarded(lambda: label_job(label, media, language, route=route, qr=qr))
        ident = _label_id(label)
        record = _guarded(
            lambda: PrintJobs(jobs_dir).submit(printer, job, f"{type(label).__name__} {ident}")
        )
        console.print(
            f"job [bold]{record.job_id}[/bold] {record.status.value} to "
            f"{escape(record.printer)} ({record.size} bytes)",
            highlight=False,
        )
        return
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        if isinstance(label, LoadSheet):
            data = _guarded(lambda: pages_pdf(render(label, A4_PAGE, language, qr=qr)))
        else:
            data = _guarded(lambda: labels_pdf([render(label, A4_LABEL, language, qr=qr)]))
        _guarded(lambda: out.write_bytes(data))
    elif suffix == ".png":
        if native:
            job = _guarded(lambda: label_job(label, media, language, route=route, qr=qr))
            image = _guarded(lambda: interpret(job, media.width_dots).image)
        else:
            image = _guarded(lambda: render(label, media, language, qr=qr))
        _guarded(lambda: image.save(out, dpi=(media.dpi, media.dpi)))
    elif suffix == ".bin":
        job = _guarded(lambda: label_job(label, media, language, route=route, qr=qr))
        _guarded(lambda: out.write_bytes(job))
    else:
        raise _fail(f"--out {out}: use a .png, .pdf or .bin file name")
    console.print(f"wrote {escape(str(out))}", highlight=False)


def _label_id(label: Label) -> str:
    match label:
        case PackLabel():
            return label.pack_id
        case BoxLabel():
            return label.box_id
        case SetTag():
            return label.set_id
        case StaffBadge():
            return label.badge_id
        case LoadSheet():
            return label.load_id
    raise TypeError(type(label).__name__)


def _placeholder(language: Language, zh: str, en: str) -> str:
    return zh if language == Language.ZH else en


@label_app.command()
def pack(
    pack_id: Annotated[str, typer.Argument(help="Pack ID (PK…)")],
    set_name: Annotated[str | None, typer.Option(help="Instrument set name")] = None,
    packer: Annotated[str, typer.Option(help="Who packed it")] = "-",
    sterilizer: Annotated[str, typer.Option(help="Sterilizer")] = "-",
    load: Annotated[str, typer.Option(help="Load (cycle) number")] = "-",
    sterilized: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD (default: today in the consortium's zone)")
    ] = None,
    destination: Annotated[str, typer.Option(help="Site the pack goes to")] = "-",
    packaging: Annotated[
        Material, typer.Option(help="Packaging material; the expiry follows from it")
    ] = Material.nonwoven,
    storage: Annotated[
        StorageCondition | None, typer.Option(help="Storage condition (textile packs only)")
    ] = None,
    lang: Lang = Language.ZH,
    width: Width = Paper.MM80,
    printer: PrinterOpt = None,
    out: OutOpt = None,
    native: NativeOpt = False,
    qr: QrOpt = False,
    jobs_dir: JobsDir = DEFAULT_JOBS_DIR,
) -> None:
    """Sterile pack label."""
    # The expiry is never typed in: it follows from the packaging (WS 310.2 §5.9.5).
    made = _day(sterilized, "--sterilized", datetime.now(get_settings().zone).date())
    try:
        expiry = last_valid_day(made, packaging, storage)
    except ExpiryError as error:
        raise _fail(render_message(error.flag, "en")) from None
    name = set_name or _placeholder(lang, "器械包", "Instrument set")
    label = _build(
        lambda: PackLabel(
            pack_id, name, packer, sterilizer, load, made, expiry, destination, packaging.value
        )
    )
    _output(
        label,
        language=lang,
        width=width,
        printer=printer,
        out=out,
        native=native,
        qr=qr,
        jobs_dir=jobs_dir,
    )


@label_app.command()
def box(
    box_id: Annotated[str, typer.Argument(help="Specimen box ID (BX…)")],
    origin: Annotated[str, typer.Option(help="Clinic that sealed the box")] = "-",
    destination: Annotated[str, typer.Option(help="Centre it goes to")] = "-",
    temperature: Annotated[str, typer.Option(help="ambient, 2-8C, frozen or free text")] = "2-8C",
    seal: Annotated[str, typer.Option(help="Seal number")] = "-",
    sealed_at: Annotated[str | None, typer.Option(help="YYYY-MM-DD HH:MM (default now)")] = None,
    count: Annotated[int, typer.Option(min=0, help="Number of specimens")] = 0,
    lang: Lang = Language.ZH,
    width: Width = Paper.MM80,
    printer: PrinterOpt = None,
    out: OutOpt = None,
    native: NativeOpt = False,
    qr: QrOpt = False,
    jobs_dir: JobsDir = DEFAULT_JOBS_DIR,
) -> None:
    """Specimen box label."""
    moment = _moment(sealed_at, "--sealed-at")
    label = _build(lambda: BoxLabel(box_id, origin, destination, temperature, seal, moment, count))
    _output(
        label,
        language=lang,
        width=width,
        printer=printer,
        out=out,
        native=native,
        qr=qr,
        jobs_dir=jobs_dir,
    )


@label_app.command("set")
def set_tag(
    set_id: Annotated[str, typer.Argument(help="Instrument set ID (TR…)")],
    name: Annotated[str | None, typer.Option(help="Set name")] = None,
    owner: Annotated[str, typer.Option(help="Site that owns the set")] = "-",
    count: Annotated[int | None, typer.Option(min=1, help="Number of instruments")] = None,
    lang: Lang = Language.ZH,
    width: Width = Paper.MM80,
    printer: PrinterOpt = None,
    out: OutOpt = None,
    native: NativeOpt = False,
    qr: QrOpt = False,
    jobs_dir: JobsDir = DEFAULT_JOBS_DIR,
) -> None:
    """Instrument set tag."""
    title = name or _placeholder(lang, "器械包", "Instrument set")
    label = _build(lambda: SetTag(set_id, title, owner, count))
    _output(
        label,
        language=lang,
        width=width,
        printer=printer,
        out=out,
        native=native,
        qr=qr,
        jobs_dir=jobs_dir,
    )


@label_app.command()
def badge(
    badge_id: Annotated[str, typer.Argument(help="Badge ID (BD…)")],
    name: Annotated[str, typer.Option(help="Full name")] = "-",
    role: Annotated[str, typer.Option(help="Role or job title")] = "-",
    site: Annotated[str, typer.Option(help="Site")] = "-",
    lang: Lang = Language.ZH,
    width: Width = Paper.MM80,
    printer: PrinterOpt = None,
    out: OutOpt = None,
    native: NativeOpt = False,
    qr: QrOpt = False,
    jobs_dir: JobsDir = DEFAULT_JOBS_DIR,
) -> None:
    """Staff badge."""
    label = _build(lambda: StaffBadge(badge_id, name, role, site))
    _output(
        label,
        language=lang,
        width=width,
        printer=printer,
        out=out,
        native=native,
        qr=qr,
        jobs_dir=jobs_dir,
    )


@label_app.command()
def load(
    load_id: Annotated[str, typer.Argument(help="Load (cycle) ID (CY…)")],
    pack: Annotated[
        list[str] | None, typer.Option(help="PACK_ID or PACK_ID=set name; repeat for each pack")
    ] = None,
    sterilizer: Annotated[str, typer.Option(help="Sterilizer")] = "-",
    program: Annotated[str, typer.Option(help="Cycle program")] = "-",
    started: Annotated[str | None, typer.Option(help="YYYY-MM-DD HH:MM (default now)")] = None,
    operator: Annotated[str, typer.Option(help="Who loaded it")] = "-",
    lang: Lang = Language.ZH,
    width: Width = Paper.MM80,
    printer: PrinterOpt = None,
    out: OutOpt = None,
    native: NativeOpt = False,
    qr: QrOpt = False,
    jobs_dir: JobsDir = DEFAULT_JOBS_DIR,
) -> None:
    """Sterilizer load sheet."""
    moment = _moment(started, "--started")
    default_name = _placeholder(lang, "器械包", "Instrument set")

    def items() -> tuple[LoadItem, ...]:
        parts = [entry.partition("=") for entry in pack or []]
        return tuple(
            LoadItem(ident.strip(), name.strip() or default_name) for ident, _, name in parts
        )

    label = _build(lambda: LoadSheet(load_id, sterilizer, program, moment, operator, items()))
    _output(
        label,
        language=lang,
        width=width,
        printer=printer,
        out=out,
        native=native,
        qr=qr,
        jobs_dir=jobs_dir,
    )


@label_app.command()
def preview(
    job_file: Annotated[Path, typer.Argument(help="ESC/POS bytes, e.g. a captured job")],
    out: Annotated[Path, typer.Option("--out", help="PNG to write")],
    width: Width = Paper.MM80,
) -> None:
    """Render an ESC/POS job to the image a printer would print."""
    if out.suffix.lower() != ".png":
        raise _fail(f"--out {out}: the preview is written as a .png")
    try:
        data = job_file.read_bytes()
    except OSError as error:
        raise _fail(f"cannot read {job_file}: {error.strerror or error}") from None
    media = _MEDIA[width]

    def run() -> Printout:
        try:
            return interpret(data, media.width_dots)
        except EscposError as error:
            raise _fail(f"{job_file}: {error}") from None

    printout = _guarded(run)
    _guarded(lambda: printout.image.save(out, dpi=(media.dpi, media.dpi)))
    symbols = ", ".join(printout.barcodes + printout.qr_codes) or "no native symbols"
    console.print(
        f"wrote {escape(str(out))} ({printout.image.height} dots long; {escape(symbols)})",
        highlight=False,
    )


@label_app.command()
def jobs(jobs_dir: JobsDir = DEFAULT_JOBS_DIR) -> None:
    """List recorded print jobs, oldest first."""
    records = _guarded(lambda: PrintJobs(jobs_dir).all())
    if not records:
        console.print(f"no print jobs in {jobs_dir}", highlight=False)
        return
    for job in records:
        colour = "green" if job.status == JobStatus.SENT else "red"
        line = (
            f"{job.job_id}  [{colour}]{job.status.value:<11}[/{colour}] {job.attempts}×  "
            f"{escape(job.printer)}  {escape(job.description)}"
        )
        if job.error:
            line += f"\n    {escape(job.error)}"
        console.print(line, highlight=False)


@label_app.command()
def resend(
    job_id: Annotated[str, typer.Argument(help="Job ID from the print or `handoff label jobs`")],
    printer: Annotated[
        str | None, typer.Option("--printer", help="Another printer URL (default: the job's)")
    ] = None,
    jobs_dir: JobsDir = DEFAULT_JOBS_DIR,
) -> None:
    """Send a recorded job again, on purpose."""
    record = _guarded(lambda: PrintJobs(jobs_dir).resend(job_id, printer))
    console.print(
        f"job [bold]{record.job_id}[/bold] {record.status.value} to "
        f"{escape(record.printer)} (attempt {record.attempts})",
        highlight=False,
    )
