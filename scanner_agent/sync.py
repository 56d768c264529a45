"""Drain the outbox to the server: in order, in batches, with exponential backoff and jitter.

The server's ingest is idempotent on ``event_id``, so a batch that may or may not have arrived
(a timeout, the agent killed mid-request) is simply sent again and comes back ``duplicate``.
If the server rejects an event, it writes nothing of that batch and answers the others
``not_written``: the rejected ones are kept as rejected and the rest go again at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from scanner_agent.config import AgentConfig
from scanner_agent.outbox import Answer, Outbox, Pending

__all__ = ["BatchResult", "Sender", "SyncError", "send_batch"]

log = logging.getLogger(__name__)
_FINAL = frozenset({"accepted", "duplicate", "flagged", "rejected"})


class SyncError(Exception):
    """A batch that did not get per-event answers; ``retry_after`` hints the wait, if any."""

    def __init__(self, message: str, *, permanent: bool = False, malformed: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.malformed = malformed


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The answers to one batch (rejected and final ones) and how many must go again."""

    answers: tuple[Answer, ...]
    pending: tuple[Pending, ...]  # not_written: to send again
    events: tuple[Pending, ...]


def _body(batch: Sequence[Pending]) -> bytes:
    sent_at = json.dumps(datetime.now(UTC).isoformat())
    events = ",".join(p.body for p in batch)
    return f'{{"events":[{events}],"sent_at":{sent_at}}}'.encode()


def _answers(batch: Sequence[Pending], payload: Any) -> BatchResult:
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list) or len(results) != len(batch):
        raise SyncError("the server's answer does not list every event")
    answers: list[Answer] = []
    again: list[Pending] = []
    for pending, result in zip(batch, results, strict=True):
        if result.get("event_id") != pending.event_id:
            raise SyncError("the server answered for other events than were sent")
        status = str(result.get("status"))
        if status in _FINAL:
            answers.append(
                Answer(
                    pending.seq,
                    status,
                    result.get("code"),
                    result.get("reason"),
                    result.get("reason_zh"),
                    result.get("position"),
                )
            )
        else:
            again.append(pending)
    return BatchResult(tuple(answers), tuple(again), tuple(batch))


def send_batch(client: httpx.Client, batch: Sequence[Pending]) -> BatchResult:
    """POST one batch; return the per-event answers or raise SyncError."""
    try:
        response = client.post(
            "/api/v1/events", content=_body(batch), headers={"Content-Type": "application/json"}
        )
    except httpx.HTTPError as error:
        raise SyncError(f"server unreachable: {type(error).__name__}: {error}") from None
    if response.status_code in (200, 422):
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and "results" in payload:
            return _answers(batch, payload)
    detail = response.text[:200].replace("\n", " ")
    if response.status_code in (401, 403):
        raise SyncError(
            f"the server refuses this device ({response.status_code}): {detail}", permanent=True
        )
    if response.status_code == 422:
        raise SyncError(f"the server cannot read the batch: {detail}", malformed=True)
    if response.status_code == 413:
        raise SyncError("batch too large for the server", permanent=False)
    raise SyncError(f"server answered {response.status_code}: {detail}")


class Sender:
    """The drain loop, run in its own thread with its own outbox connection."""

    def __init__(
        self,
        config: AgentConfig,
        outbox: Outbox,
        *,
        token: str,
        wake: threading.Event,
        on_batch: Callable[[BatchResult], None] | None = None,
        on_problem: Callable[[str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.wake = wake
        self.on_batch = on_batch
        self.on_problem = on_problem
        self.batch_size = config.batch_size
        self.client = httpx.Client(
            base_url=config.server_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=config.request_timeout_seconds,
            transport=transport,
        )
        self.failures = 0

    def delay(self) -> float:
        """Exponential backoff with full jitter (half to all of the capped delay)."""
        base = self.config.backoff_seconds * (2 ** min(self.failures - 1, 20))
        capped = min(self.config.backoff_max_seconds, base)
        return float(capped * random.uniform(0.5, 1.0))

    def drain_once(self) -> int:
        """Send one batch; return how many events got a final answer (0: nothing pending)."""
        batch = self.outbox.pending(self.batch_size)
        if not batch:
            return 0
        try:
            result = send_batch(self.client, batch)
        except SyncError as error:
            if not error.malformed:
                raise
            if len(batch) > 1:  # find the unreadable event by halving
                self.batch_size = max(1, len(batch) // 2)
                return 0
            # One event the server cannot even parse: kept, answered rejected, never resent.
            answer = Answer(batch[0].seq, "rejected", "unreadable", error.message)
            result = BatchResult((answer,), (), tuple(batch))
        self.outbox.answer(result.answers, tried=[p.seq for p in batch])
        self.outbox.checkpoint()
        if self.on_batch is not None:
            self.on_batch(result)
        return len(result.answers)

    def run(self, stop: threading.Event) -> None:
        last_problem = ""
        try:
            while not stop.is_set():
                try:
                    done = self.drain_once()
                except (SyncError, sqlite3.Error, ValueError) as error:
                    if not isinstance(error, SyncError):  # a local fault: say so, keep going
                        error = SyncError(f"sender: {type(error).__name__}: {error}")
                    self.failures += 1
                    if "too large" in error.message and self.batch_size > 1:
                        self.batch_size = max(1, self.batch_size // 2)
                    wait = self.delay()
                    if error.message != last_problem and self.on_problem is not None:
                        self.on_problem(f"{error.message}; retrying (next in {wait:.1f} s)")
                    last_problem = error.message
                    with contextlib.suppress(sqlite3.Error):
                        self.outbox.checkpoint()  # offline, the WAL must not grow unbounded
                    stop.wait(wait)
                    continue
                if done and self.batch_size < self.config.batch_size:
                    self.batch_size = min(self.config.batch_size, self.batch_size * 2)
                if self.failures and self.on_problem is not None:
                    self.on_problem("server reachable again")
                self.failures, last_problem = 0, ""
                if done == 0 and self.outbox.pending_count() == 0:
                    self.outbox.checkpoint()  # scans that made no events (refusals) too
                    self.wake.wait(1.0)
                    self.wake.clear()
        finally:
            self.client.close()
