"""The durable local outbox: SQLite in WAL mode with ``synchronous=FULL``.

One transaction per scan stores the scan as it arrived (with what became of it), the events
it produced, the labels it asked for and the station's next state; only after that commit
does the station say "OK". The sender reads pending events in order and writes back the
server's answer for each; nothing is ever deleted, so the outbox is also the station's log.

A CSSD step's API call is kept in ``calls``: stored ``calling`` with its scan, before it is
made; then, in one transaction, the server's answer (or why there is none), the scan's final
verdict, the labels it prints and the station's state. A call still ``calling`` when the agent
starts was cut off by a stop: it becomes ``interrupted`` and is reported, never made again.

Transactions are explicit (``BEGIN IMMEDIATE`` … ``COMMIT`` on a connection in autocommit
mode), so a reader never sees half of a scan.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner_agent.inputs.base import Scan
from scanner_agent.stations import CallResult, PrintRequest, Reaction, StationState

__all__ = ["Answer", "Interrupted", "Outbox", "Pending", "PrintRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    text TEXT NOT NULL,
    typed INTEGER NOT NULL,
    problem TEXT,
    scanned_at TEXT NOT NULL,
    verdict TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    scan_seq INTEGER NOT NULL REFERENCES scans(seq),
    item TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    code TEXT,
    reason TEXT,
    reason_zh TEXT,
    position INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events(seq) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS prints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_seq INTEGER NOT NULL REFERENCES scans(seq),
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    facts TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    job_id TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS prints_pending ON prints(seq) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_seq INTEGER NOT NULL REFERENCES scans(seq),
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT,
    badge TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'calling',
    http_status INTEGER,
    answer TEXT,
    message TEXT,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS calls_open ON calls(seq) WHERE status = 'calling';
CREATE TABLE IF NOT EXISTS station (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    """An event waiting to be sent: its outbox position, ID and the exact JSON to send."""

    seq: int
    event_id: str
    item: str
    type: str
    body: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The server's answer for one event."""

    seq: int
    status: str
    code: str | None = None
    reason: str | None = None
    reason_zh: str | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A CSSD call the agent stopped in the middle of: it may or may not have been recorded."""

    seq: int
    method: str
    path: str
    badge: str
    action: str
    scanned_at: str


@dataclass(frozen=True, slots=True)
class PrintRow:
    """A print request waiting for the printer."""

    seq: int
    kind: str
    description: str
    facts: dict[str, Any]


class Outbox:
    """One connection to the outbox file (make one per thread)."""

    def __init__(self, path: Path, *, checkpoints: bool = True) -> None:
        """Open (and create) the outbox. ``checkpoints=False`` leaves copying the WAL into the
        database to other connections (the sender's), keeping that work off the scan path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Each Outbox is used by one thread, but may be made in another before it starts.
        self._conn = sqlite3.connect(
            path, isolation_level=None, timeout=30.0, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        if not checkpoints:
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._lock = threading.Lock()
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- the station side -------------------------------------------------------------------
    def state(self) -> StationState | None:
        """The station's state as last committed, or None on a fresh outbox."""
        row = self._conn.execute("SELECT state FROM station WHERE id = 1").fetchone()
        return StationState.from_json(json.loads(row[0])) if row else None

    def record(self, scan: Scan, reaction: Reaction) -> int:
        """Store one scan with everything it led to, durably; return the scan's number."""
        return self.record_many([(scan, reaction)])[0]

    def record_many(self, handled: Sequence[tuple[Scan, Reaction]]) -> list[int]:
        """Store scans that came together in one durable commit (one fsync for all)."""
        with self._transaction() as conn:
            numbers = [self._insert(conn, scan, reaction) for scan, reaction in handled]
            conn.execute(
                "INSERT INTO station (id, state) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                (json.dumps(handled[-1][1].state.to_json(), ensure_ascii=False),),
            )
        return numbers

    def _insert(self, conn: sqlite3.Connection, scan: Scan, reaction: Reaction) -> int:
        cursor = conn.execute(
            "INSERT INTO scans (source, text, typed, problem, scanned_at, verdict, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                scan.source,
                scan.text,
                int(scan.typed),
                scan.problem,
                scan.at.isoformat(),
                reaction.verdict.value,
                reaction.message,
            ),
        )
        scan_seq = int(cursor.lastrowid or 0)
        if reaction.events:
            conn.executemany(
                "INSERT INTO events (event_id, scan_seq, item, type, body) VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        event["event_id"],
                        scan_seq,
                        event["item"],
                        event["type"],
                        json.dumps(event, ensure_ascii=False, separators=(",", ":")),
                    )
                    for event in reaction.events
                ],
            )
        if reaction.prints:
            conn.executemany(
                "INSERT INTO prints (scan_seq, kind, description, facts) VALUES (?, ?, ?, ?)",
                [_print_row(scan_seq, request) for request in reaction.prints],
            )
        if reaction.call is not None:
            call = reaction.call
            conn.execute(
                "INSERT INTO calls (scan_seq, method, path, body, badge, action) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    scan_seq,
                    call.method,
                    call.path,
                    None if call.body is None else json.dumps(call.body, ensure_ascii=False),
                    call.badge,
                    call.action,
                ),
            )
        return scan_seq

    # -- CSSD calls -------------------------------------------------------------------------
    def settle_call(self, scan_seq: int, result: CallResult, final: Reaction) -> None:
        """Keep the answer to a scan's call with all it led to (verdict, prints, state)."""
        now = datetime.now(UTC).isoformat()
        answer = None if result.answer is None else json.dumps(result.answer, ensure_ascii=False)
        with self._transaction() as conn:
            conn.execute(
                "UPDATE calls SET status = ?, http_status = ?, answer = ?, message = ?, "
                "answered_at = ? WHERE scan_seq = ? AND status = 'calling'",
                (result.outcome.value, result.status, answer, final.message, now, scan_seq),
            )
            conn.execute(
                "UPDATE scans SET verdict = ?, message = ? WHERE seq = ?",
                (final.verdict.value, final.message, scan_seq),
            )
            if final.prints:
                conn.executemany(
                    "INSERT INTO prints (scan_seq, kind, description, facts) VALUES (?, ?, ?, ?)",
                    [_print_row(scan_seq, request) for request in final.prints],
                )
            conn.execute(
                "UPDATE station SET state = ? WHERE id = 1",
                (json.dumps(final.state.to_json(), ensure_ascii=False),),
            )

    def interrupted_calls(self) -> list[Interrupted]:
        """Calls a previous run made without keeping their answer: marked ``interrupted``."""
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT c.seq, c.method, c.path, c.badge, c.action, s.scanned_at, s.seq "
                "FROM calls c JOIN scans s ON s.seq = c.scan_seq "
                "WHERE c.status = 'calling' ORDER BY c.seq"
            ).fetchall()
            message = "the agent stopped before the server answered"
            conn.executemany(
                "UPDATE calls SET status = 'interrupted', message = ? WHERE seq = ?",
                [(message, row[0]) for row in rows],
            )
            conn.executemany(
                "UPDATE scans SET verdict = 'refused', message = ? WHERE seq = ?",
                [(f"{row[4]}: {message}", row[6]) for row in rows],
            )
        return [Interrupted(*row[:6]) for row in rows]

    def calls(self) -> list[dict[str, Any]]:
        """Every CSSD call with its outcome and the server's answer, oldest first."""
        cursor = self._conn.execute(
            "SELECT seq, scan_seq, method, path, body, badge, action, status, http_status, "
            "answer, message FROM calls ORDER BY seq"
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor]
        for row in rows:
            for key in ("body", "answer"):
                row[key] = None if row[key] is None else json.loads(row[key])
        return rows

    # -- the sender side --------------------------------------------------------------------
    def pending(self, limit: int) -> list[Pending]:
        """The oldest unsent events, in the order they were recorded."""
        rows = self._conn.execute(
            "SELECT seq, event_id, item, type, body FROM events WHERE status = 'pending' "
            "ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [Pending(*row) for row in rows]

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the database file, without waiting for readers."""
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def pending_count(self) -> int:
        return int(self._conn.execute(
            "SELECT count(*) FROM events WHERE status = 'pending'"
        ).fetchone()[0])  # fmt: skip

    def answer(self, answers: Sequence[Answer], *, tried: Sequence[int] = ()) -> None:
        """Keep the server's answers; count an attempt on the events in ``tried``."""
        now = datetime.now(UTC).isoformat()
        with self._transaction() as conn:
            if tried:
                conn.executemany(
                    "UPDATE events SET attempts = attempts + 1 WHERE seq = ?",
                    [(seq,) for seq in tried],
                )
            conn.executemany(
                "UPDATE events SET status = ?, code = ?, reason = ?, reason_zh = ?, "
                "position = ?, answered_at = ? WHERE seq = ?",
                [
                    (a.status, a.code, a.reason, a.reason_zh, a.position, now, a.seq)
                    for a in answers
                ],
            )

    def counts(self) -> dict[str, int]:
        """Events by status (pending, accepted, duplicate, flagged, rejected)."""
        rows = self._conn.execute("SELECT status, count(*) FROM events GROUP BY status")
        return {str(status): int(n) for status, n in rows}

    def events(self) -> list[dict[str, Any]]:
        """Every event with its answer, oldest first (for reports and tests)."""
        cursor = self._conn.execute(
            "SELECT seq, event_id, item, type, status, code, reason, position FROM events "
            "ORDER BY seq"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def scans(self) -> list[dict[str, Any]]:
        """Every scan as it arrived, with its verdict, oldest first."""
        cursor = self._conn.execute(
            "SELECT seq, source, text, typed, problem, scanned_at, verdict, message FROM scans "
            "ORDER BY seq"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    # -- the printer side -------------------------------------------------------------------
    def claim_print(self) -> PrintRow | None:
        """Take the oldest pending print request (marked ``sending`` until it is settled)."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT seq, kind, description, facts FROM prints WHERE status = 'pending' "
                "ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE prints SET status = 'sending' WHERE seq = ?", (row[0],))
        return PrintRow(row[0], row[1], row[2], json.loads(row[3]))

    def settle_print(self, seq: int, status: str, job_id: str | None, error: str | None) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE prints SET status = ?, job_id = ?, error = ? WHERE seq = ?",
                (status, job_id, error, seq),
            )

    def interrupted_prints(self) -> int:
        """Requests a previous run was sending when it stopped: marked ``unconfirmed``.

        They may have printed; a person decides (``labels.printers.PrintJobs.resend``).
        """
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE prints SET status = 'unconfirmed', error = 'the agent stopped while "
                "printing' WHERE status = 'sending'"
            )
        return cursor.rowcount

    def prints(self) -> list[dict[str, Any]]:
        cursor = self._conn.execute(
            "SELECT seq, kind, description, status, job_id, error FROM prints ORDER BY seq"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]


def _print_row(scan_seq: int, request: PrintRequest) -> tuple[int, str, str, str]:
    return (
        scan_seq,
        request.kind,
        request.description,
        json.dumps(request.facts, ensure_ascii=False),
    )
