"""The agent process: inputs, station, outbox, sender and printer wired together.

Threads: one per input (each only reads its device and queues scans), the sender, the
printer. The main thread takes scans one at a time: station → local commit → feedback, so the
order of scans is the order of events and nothing is acknowledged before it is durable.

A CSSD step's scan asks for an API call: the scan (and its call, marked ``calling``) is
committed first, then the call is made on the main thread, and its answer, the final verdict,
any label and the station's state are committed together before the station says anything.
Calls a killed agent left without an answer are reported at the next start, not made again.
"""

from __future__ import annotations

import logging
import queue
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType

from scanner_agent.api import CssdClient
from scanner_agent.config import AgentConfig, ConfigError, StationMode
from scanner_agent.feedback import Feedback
from scanner_agent.inputs import Scan, ScanSource, build_source
from scanner_agent.outbox import Outbox
from scanner_agent.stations import (
    CallResult,
    Outcome,
    Reaction,
    Station,
    StationState,
    Verdict,
)
from scanner_agent.sync import Sender

__all__ = ["Agent"]

log = logging.getLogger(__name__)
_GROUP_COMMIT = 64


class Agent:
    """One running agent; ``run`` blocks until stopped (SIGTERM, SIGINT or ``stop``)."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        feedback: Feedback | None = None,
        sources: Sequence[ScanSource] | None = None,
    ) -> None:
        self.config = config
        self.feedback = feedback or Feedback(config.language)
        self.station = Station(config)
        problem = self.station.check()
        if problem is not None:
            raise ConfigError(problem)
        self.token = config.token()
        self.sources = (
            list(sources)
            if sources is not None
            else [build_source(spec, self.feedback.status) for spec in config.inputs]
        )
        self.stop = threading.Event()
        self.scans: queue.Queue[Scan] = queue.Queue()
        self.latencies: list[float] = []  # seconds from a frame's arrival to its commit
        self.send_wake = threading.Event()
        self.print_wake = threading.Event()

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()

    def _jobs_dir(self) -> Path:
        printer = self.config.printer
        if printer is not None and printer.jobs is not None:
            return printer.jobs
        return self.config.outbox.parent / "print-jobs"

    def _start(self, name: str, target: object, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        return thread

    def stats(self) -> dict[str, float]:
        """Scan-to-local-commit latency so far: count, p50, p99 and max in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return {"scans": 0}

        def at(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

        return {"scans": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}

    def run(self, *, until_drained: bool = False) -> int:
        """Serve scans until stopped; with ``until_drained``, also stop once inputs have ended
        and every event has its answer. Returns the process exit code."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._signal)
            signal.signal(signal.SIGINT, self._signal)
        outbox = Outbox(self.config.outbox, checkpoints=False)  # the sender checkpoints
        state = outbox.state() or self.station.initial()
        interrupted = outbox.interrupted_prints()
        if interrupted:
            self.feedback.problem(
                f"{interrupted} print job(s) were being sent when the agent stopped: "
                "check the printer (handoff label jobs)"
            )
        for call in outbox.interrupted_calls():
            self.feedback.problem(
                f"interrupted: {call.action} ({call.method} /api/v1{call.path}, badge "
                f"{call.badge}, scanned {call.scanned_at}) — the agent stopped before the "
                "server answered; it may have been recorded: check on the server before "
                "scanning again"
            )
        api = (
            CssdClient(self.config, self.token)
            if self.config.station.mode == StationMode.CSSD
            else None
        )
        sender = Sender(
            self.config,
            Outbox(self.config.outbox),
            token=self.token,
            wake=self.send_wake,
            on_batch=self.feedback.batch,
            on_problem=self.feedback.problem,
        )
        threads = [self._start("sender", sender.run, self.stop)]
        if self.config.printer is not None:
            from scanner_agent.printing import PrintWorker  # labels' drawing code: slow import

            worker = PrintWorker(
                Outbox(self.config.outbox),
                self.config.printer,
                self.config.media(),
                self.config.language,
                self._jobs_dir(),
                wake=self.print_wake,
                on_problem=self.feedback.problem,
                on_printed=self.feedback.status,
            )
            threads.append(self._start("printer", worker.run, self.stop))
        readers = [
            self._start(f"input-{source.name}", source.run, self.scans.put, self.stop)
            for source in self.sources
        ]
        self.feedback.status(
            f"station {self.config.station.mode.value} at {self.config.site}; "
            f"outbox {self.config.outbox}; "
            + "; ".join(source.describe() for source in self.sources)
        )
        try:
            while not self.stop.is_set():
                try:
                    scan = self.scans.get(timeout=0.2)
                except queue.Empty:
                    if until_drained and self._drained(readers, outbox):
                        break
                    continue
                # Scans that arrived together share one commit; each is answered after it.
                batch = [scan]
                while len(batch) < _GROUP_COMMIT:
                    try:
                        batch.append(self.scans.get_nowait())
                    except queue.Empty:
                        break
                state = self._serve(batch, state, outbox, api)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=5)
            if api is not None:
                api.close()
            outbox.close()
        return 0

    def _no_room(self) -> str | None:
        """Why scans cannot be kept safely now (the outbox's disk nearly full), or None."""
        minimum = self.config.min_free_mb
        try:
            free = shutil.disk_usage(self.config.outbox.parent).free / 2**20
        except OSError as error:
            return f"cannot check the outbox's disk: {error.strerror or error}"
        if free >= minimum:
            return None
        return (
            f"disk nearly full ({free:.0f} MB free, {minimum} MB needed): "
            f"scan NOT recorded — free space on {self.config.outbox.parent}, then scan again"
        )

    def _refuse_all(self, batch: list[Scan], why: str) -> None:
        """Refuse scans loudly without writing anything (there is no safe place to)."""
        self.feedback.problem(why)
        for scan in batch:
            self.feedback.scan(Reaction(Verdict.REFUSED, why, scan.text))

    def _serve(
        self, batch: list[Scan], state: StationState, outbox: Outbox, api: CssdClient | None
    ) -> StationState:
        """Handle scans that came together: one commit for all, except that a scan asking the
        server is committed (with those before it), asked, and settled on its own. With the
        disk nearly full, every scan is refused out loud: a scan the station acknowledged
        but could not keep would be lost."""
        why = self._no_room()
        if why is not None:
            self._refuse_all(batch, why)
            return state
        try:
            return self._handle(batch, state, outbox, api)
        except sqlite3.OperationalError as error:
            if "full" not in str(error).lower():
                raise
            # SQLite rolled the transaction back: nothing of these scans was kept.
            self._refuse_all(batch, f"disk full: scan NOT recorded ({error}); free space")
            return outbox.state() or state

    def _handle(
        self, batch: list[Scan], state: StationState, outbox: Outbox, api: CssdClient | None
    ) -> StationState:
        handled: list[tuple[Scan, Reaction]] = []
        for scan in batch:
            before = state
            reaction = self.station.handle(state, scan)
            if reaction.call is None:
                handled.append((scan, reaction))
                state = reaction.state
                continue
            # Until the answer is kept, the station stands as if the call was cut off.
            cut_off = self.station.settle(before, scan, reaction, CallResult(Outcome.INTERRUPTED))
            handled.append((scan, replace(reaction, state=cut_off.state)))
            asked = self._commit(handled, outbox, show=handled[:-1])
            handled = []
            if api is None:  # not a CSSD station: cannot happen, but never leave it calling
                result = CallResult(Outcome.UNREACHABLE, error="no CSSD client")
            else:
                result = api.call(reaction.call)
            final = self.station.settle(before, scan, reaction, result)
            outbox.settle_call(asked, result, final)
            if final.prints:
                self.print_wake.set()
            self.feedback.scan(final)
            state = final.state
        if handled:
            self._commit(handled, outbox, show=handled)
        return state

    def _commit(
        self,
        handled: list[tuple[Scan, Reaction]],
        outbox: Outbox,
        *,
        show: list[tuple[Scan, Reaction]],
    ) -> int:
        """Commit scans, say what became of those in ``show``; return the last one's number."""
        numbers = outbox.record_many(handled)
        committed = time.perf_counter()
        self.latencies.extend(committed - scan.monotonic for scan, _ in handled)
        if any(reaction.events for _, reaction in handled):
            self.send_wake.set()
        if any(reaction.prints for _, reaction in handled):
            self.print_wake.set()
        for _, reaction in show:
            self.feedback.scan(reaction)
        return numbers[-1]

    def _drained(self, readers: list[threading.Thread], outbox: Outbox) -> bool:
        if any(thread.is_alive() for thread in readers) or not self.scans.empty():
            return False
        if outbox.pending_count():
            return False
        time.sleep(0.1)  # let the printer take what the last scans asked for
        return True
