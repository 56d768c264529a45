"""``handoff label …`` through Typer's runner: files, printing, previews and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from labels.identity import Kind, make_id
from server.label_cli import label_app
from tests.labels.label_support import capture_server, refusing_port, zbar_texts

PACK = make_id(Kind.PACK, "4JWTR283")
BOX = make_id(Kind.SPECIMEN_BOX, "FREFMCT6")
SET = make_id(Kind.INSTRUMENT_SET, "3F0XVCDK")
BADGE = make_id(Kind.PERSON, "RR0PE8QT")
LOAD = make_id(Kind.CYCLE, "7JZ3XA00")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HANDOFF_PRINTER", raising=False)
    monkeypatch.setenv("HANDOFF_PRINT_JOBS", str(tmp_path / "jobs"))
    return CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["pack", PACK],
        ["box", BOX, "--count", "12", "--temperature", "ambient"],
        ["set", SET, "--name", "口腔器械包", "--count", "14"],
        ["badge", BADGE, "--name", "王芳", "--lang", "en"],
        ["load", LOAD, "--pack", f"{PACK}=换药包", "--pack", make_id(Kind.PACK, "0MH0ZXCN")],
    ],
    ids=lambda a: a[0],
)
@pytest.mark.parametrize("native", [False, True], ids=["raster", "native"])
def test_each_command_writes_a_png_that_scans(
    run: CliRunner, tmp_path: Path, args: list[str], native: bool
) -> None:
    out = tmp_path / "label.png"
    extra = ["--native"] if native else []
    result = run.invoke(label_app, [*args, "--width", "58", *extra, "--out", str(out)])
    assert result.exit_code == 0, result.output
    image = Image.open(out)
    assert image.width == 384
    assert zbar_texts(image) == [args[1]]


def test_pdf_and_job_file_and_preview(run: CliRunner, tmp_path: Path) -> None:
    assert run.invoke(label_app, ["pack", PACK, "--out", "pack.pdf"]).exit_code == 0
    assert (tmp_path / "pack.pdf").read_bytes().startswith(b"%PDF")
    assert run.invoke(label_app, ["load", LOAD, "--out", "load.pdf"]).exit_code == 0
    result = run.invoke(label_app, ["box", BOX, "--native", "--qr", "--out", "box.bin"])
    assert result.exit_code == 0, result.output
    result = run.invoke(label_app, ["preview", "box.bin", "--out", "box.png"])
    assert result.exit_code == 0, result.output
    assert f"{BOX}, {BOX}" in result.output  # the native barcode and the native QR
    assert zbar_texts(Image.open(tmp_path / "box.png"), qr=True) == [BOX, BOX]


def test_print_to_a_network_printer_and_list_jobs(run: CliRunner) -> None:
    with capture_server() as printer:
        result = run.invoke(label_app, ["set", SET, "--printer", printer.url])
        job = printer.received()
    assert result.exit_code == 0, result.output
    assert "sent to tcp://127.0.0.1" in result.output
    assert job.startswith(b"\x1b@")
    listing = run.invoke(label_app, ["jobs"])
    assert listing.exit_code == 0
    assert "sent" in listing.output and f"SetTag {SET}" in listing.output


def test_offline_printer_reports_the_job_and_resend_sends_it(run: CliRunner) -> None:
    with refusing_port() as port:
        result = run.invoke(label_app, ["badge", BADGE, "--printer", f"tcp://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert "offline or unreachable: connection refused" in result.output
    assert "Traceback" not in result.output
    job_id = result.output.split("handoff label resend ")[1].split()[0]
    with capture_server() as printer:
        again = run.invoke(label_app, ["resend", job_id, "--printer", printer.url])
        assert printer.received().startswith(b"\x1b@")
    assert again.exit_code == 0, again.output
    assert f"job {job_id} sent" in again.output and "attempt 2" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pack", "PK123", "--out", "x.png"], "a Handoff ID has exactly 11"),
        (["pack", BOX, "--out", "x.png"], "expected a pack"),
        (["pack", PACK], "give either --printer URL or --out"),
        (["pack", PACK, "--out", "x.gif"], "use a .png, .pdf or .bin"),
        (["pack", PACK, "--printer", "ftp://printer"], "unknown scheme 'ftp'"),
        (["pack", PACK, "--sterilized", "tomorrow", "--out", "x.png"], "YYYY-MM-DD"),
        (["pack", PACK, "--expires", "2000-01-01", "--out", "x.png"], "No such option"),
        (["pack", PACK, "--packaging", "textile", "--out", "x.png"], "storage condition"),
        (["box", BOX, "--sealed-at", "noon", "--out", "x.png"], "YYYY-MM-DD HH:MM"),
        (["set", SET, "--out", "/nonexistent/dir/x.png"], "cannot write"),
        (["resend", "20261122-093012-a1b2c3"], "no print job"),
        (["preview", "missing.bin", "--out", "x.png"], "cannot read missing.bin"),
    ],
)
def test_bad_input_gives_one_clear_message(run: CliRunner, args: list[str], message: str) -> None:
    result = run.invoke(label_app, args)
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_preview_rejects_what_is_not_escpos(run: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "photo.bin").write_bytes(b"\x07\x07")
    result = run.invoke(label_app, ["preview", "photo.bin", "--out", "x.png"])
    assert result.exit_code == 1
    assert "photo.bin: byte 0: control byte 0x07 is not supported" in result.output
