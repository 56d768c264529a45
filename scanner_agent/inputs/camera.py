"""A camera (or a video file or image sequence) read with OpenCV and decoded by labels.decode.

A label held under the camera is in many frames: ``Debouncer`` passes a code once, and again
only after it has been out of sight for ``debounce_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from scanner_agent.config import CameraInput
from scanner_agent.inputs.base import Emit, Scan, backoff_delays

__all__ = ["CameraScanner", "Debouncer"]

log = logging.getLogger(__name__)


class Debouncer:
    """Let a code through once per appearance; ``seen`` returns the codes that are new."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last_seen: dict[str, float] = {}

    def seen(self, codes: list[str], now: float) -> list[str]:
        new = [
            code
            for code in dict.fromkeys(codes)
            if now - self._last_seen.get(code, float("-inf")) > self.seconds
        ]
        for code in codes:
            self._last_seen[code] = now
        for code, when in list(self._last_seen.items()):
            if now - when > self.seconds:
                del self._last_seen[code]
        return new


class CameraScanner:
    """Grab frames at ``fps``, decode Code 128, emit each label once per appearance."""

    def __init__(
        self, config: CameraInput, *, on_status: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self.on_status = on_status

    def describe(self) -> str:
        return f"camera {self.config.source}"

    def _open(self) -> object:
        import cv2

        source: int | str = (
            int(self.config.source) if self.config.source.isdigit() else (self.config.source)
        )
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            capture.release()
            raise OSError(f"cannot open camera {self.config.source}")
        return capture

    def run(self, emit: Emit, stop: threading.Event) -> None:
        from labels.decode import decode

        delays = backoff_delays()
        debounce = Debouncer(self.config.debounce_seconds)
        complained = False
        while not stop.is_set():
            try:
                capture = self._open()
            except OSError as error:
                if not complained:
                    log.warning("%s: %s; retrying", self.name, error)
                    complained = True
                stop.wait(delays())
                continue
            complained, delays = False, backoff_delays()
            if self.on_status is not None:
                self.on_status(f"{self.name}: reading {self.config.source}")
            period = 1.0 / self.config.fps
            try:
                while not stop.is_set():
                    started = time.monotonic()
                    ok, frame = capture.read()  # type: ignore[attr-defined]
                    if not ok:
                        break  # unplugged, or the end of a file
                    codes = [read.text for read in decode(frame)]
                    for code in debounce.seen(codes, started):
                        emit(Scan(code, self.name))
                    stop.wait(max(0.0, period - (time.monotonic() - started)))
            finally:
                capture.release()  # type: ignore[attr-defined]
            if not self.config.source.isdigit() and not self.config.source.startswith("/dev/"):
                log.info("%s: end of %s", self.name, self.config.source)
                return
