"""Real parts for the agent's tests: a pty scanner, a TCP capture printer, an agent process."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[2]
SCAN_LINE = re.compile(r"^\d\d:\d\d:\d\d (✓|\+|→|←|⚙|↺|✗) (\S+)")


class PtyScanner:
    """A serial scanner: the test writes framed codes into the master side of a pty.

    The test keeps the slave side open too, so the pty lives while the agent is killed and
    restarted (the agent opens it by path, like /dev/ttyACM0).
    """

    OPEN: ClassVar[list[PtyScanner]] = []

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        PtyScanner.OPEN.append(self)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class CapturePrinter:
    """A network printer on 127.0.0.1: every connection's bytes become one job."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.jobs: queue.Queue[bytes] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}?timeout=5"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                chunks = []
                while data := conn.recv(65536):
                    chunks.append(data)
            self.jobs.put(b"".join(chunks))

    def job(self, timeout: float = 10.0) -> bytes:
        return self.jobs.get(timeout=timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the thread
        self.sock.close()


def write_config(path: Path, **values: Any) -> Path:
    """Write an agent TOML file from keyword values (tables as dicts, arrays of tables as lists)."""

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    top, tables = [], []
    for key, value in values.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "".join(f"{k} = {scalar(v)}\n" for k, v in value.items()))
        elif isinstance(value, list):
            for entry in value:
                tables.append(
                    f"[[{key}]]\n" + "".join(f"{k} = {scalar(v)}\n" for k, v in entry.items())
                )
        else:
            top.append(f"{key} = {scalar(value)}\n")
    path.write_text("".join(top) + "\n" + "\n".join(tables), encoding="utf-8")
    return path


class AgentProcess:
    """``python -m scanner_agent run`` as a child process, its console lines collected.

    Every started process is remembered in ``RUNNING`` so the tests' fixture can kill any
    that a failing test left behind (one would otherwise read the next test's pty).
    """

    RUNNING: ClassVar[list[AgentProcess]] = []

    def __init__(self, config: Path, *args: str) -> None:
        self.config = config
        self.args = args
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scanner_agent",
                "run",
                "--config",
                str(self.config),
                *self.args,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._pump, args=(self.process,), daemon=True).start()
        AgentProcess.RUNNING.append(self)
        return self

    def seen(self, pattern: str) -> bool:
        """Whether any console line so far matches ``pattern``."""
        wanted = re.compile(pattern)
        return any(wanted.search(line) for line in self.log)

    def _pump(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.append(line)
            self.lines.put(line)
        self.lines.put("")  # EOF marker

    def wait_seen(self, pattern: str, timeout: float = 30.0) -> None:
        """Wait until some console line (in any order) matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while not self.seen(pattern):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no line matching {pattern!r}; log tail: {self.log[-15:]}")
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"agent exited ({self.process.returncode}): {self.log[-15:]}")
            time.sleep(0.02)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        """The next console line matching ``pattern`` (a regex); fail after ``timeout``."""
        wanted = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line matching {pattern!r}; log tail: {self.log[-15:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line == "" and self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"agent exited ({self.process.returncode}): {self.log[-15:]}")
            if wanted.search(line):
                return line

    def next_scan_line(self, timeout: float) -> str | None:
        """The next per-scan console line, or None if none came in time."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line == "":
                return None
            if SCAN_LINE.match(line):
                return line
        return None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=timeout)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)


def answer_to(
    agent: AgentProcess, scanner: PtyScanner, code: str, timeout: float = 15.0
) -> tuple[str, str]:
    """Scan ``code`` and wait for the station's line about it: (its mark, the whole line).
    Lines about other codes (stale ones) are skipped."""
    scanner.send(code.encode() + b"\r")
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        line = agent.next_scan_line(left)
        if line is None:
            break
        match = SCAN_LINE.match(line)
        if match and match.group(2) == code:
            return match.group(1), line
    raise AssertionError(f"no answer for {code}; log:\n" + "\n".join(agent.log[-30:]))
