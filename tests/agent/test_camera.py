"""The camera input on a real OpenCV capture (an image sequence stands in for the camera)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from labels.identity import Kind, make_id
from labels.layouts import RECEIPT_58, BoxLabel, Language, render
from scanner_agent.config import CameraInput
from scanner_agent.inputs.base import Scan
from scanner_agent.inputs.camera import CameraScanner, Debouncer

BOX_A, BOX_B = make_id(Kind.SPECIMEN_BOX, "0000000A"), make_id(Kind.SPECIMEN_BOX, "0000000B")


def _frame(box: str | None) -> Image.Image:
    frame = Image.new("L", (640, 480), 200)
    if box is not None:
        label = render(
            BoxLabel(box, "T01", "LAB", "2-8°C", "S-1", datetime(2026, 12, 2, tzinfo=UTC), 3),
            RECEIPT_58,
            Language.EN,
        ).convert("L")
        label.thumbnail((600, 460))
        frame.paste(label, (20, 10))
    return frame


def test_debouncer_passes_a_code_once_per_appearance() -> None:
    debounce = Debouncer(seconds=1.0)
    assert debounce.seen(["A", "A"], 0.0) == ["A"]
    assert debounce.seen(["A"], 0.5) == []
    assert debounce.seen(["A", "B"], 1.2) == ["B"]  # A was seen 0.7 s ago: still the same
    assert debounce.seen([], 2.0) == []
    assert debounce.seen(["A"], 3.5) == ["A"]  # away for more than a second: a new scan


def test_camera_reads_each_label_once_while_it_is_held_up(tmp_path: Path) -> None:
    sequence = [BOX_A] * 6 + [None] * 2 + [BOX_B] * 3 + [BOX_A] * 2
    for index, box in enumerate(sequence):
        _frame(box).save(tmp_path / f"frame_{index:03d}.png")
    scanner = CameraScanner(
        CameraInput(
            kind="camera", source=str(tmp_path / "frame_%03d.png"), debounce_seconds=60, fps=100
        )
    )
    scans: list[Scan] = []
    scanner.run(scans.append, threading.Event())  # returns at the end of the file
    assert [scan.text for scan in scans] == [BOX_A, BOX_B]
    assert np.all([scan.source == "camera" for scan in scans])


def test_a_missing_camera_is_retried_until_stopped() -> None:
    stop = threading.Event()
    scanner = CameraScanner(CameraInput(kind="camera", source="/dev/video99"))
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    scans: list[Scan] = []
    scanner.run(scans.append, stop)
    assert scans == [] and stop.is_set()
