"""``handoff simulate``: play a county day through real agent processes and the API, sped up.

The day comes from ``server.simulation.day``. This module does the running: it starts the
server (``handoff serve --workers W``) unless one is given, one scanner agent process per
station (``python -m scanner_agent run``, its scanner being its standard input), types each
station's scans into it at the compressed time, sends the steps that are not scans through
``POST /api/v1/events`` with the site's device token, samples the server's memory, and at the
end compares what was scanned with what the server stored and verifies the ledger.
"""

from __future__ import annotations

import heapq
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx

from server.simulation.day import SCAN_GAP, Post, Schedule, StationSpec

__all__ = ["Options", "Report", "SimulationError", "reachable", "simulate"]

ROOT = Path(__file__).resolve().parents[2]
_STARTUP_SECONDS = 90.0


class SimulationError(Exception):
    """A reason the simulation cannot start or go on, in one line."""


@dataclass(frozen=True, slots=True)
class Options:
    speed: float
    server_url: str | None  # None: start ``handoff serve`` against database_url
    database_url: str
    workers: int
    admin: tuple[str, str]  # username, password (verify, registering boxes)
    work_dir: Path
    progress_seconds: float = 10.0
    rss_seconds: float = 2.0
    drain_seconds: float = 120.0
    max_rss_growth_mb: float | None = None


@dataclass
class StationRun:
    spec: StationSpec
    config: Path
    outbox: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    fed: int = 0

    def counts(self) -> dict[str, int]:
        """Events by status and refused scans, read from the agent's outbox (read-only)."""
        if not self.outbox.exists():
            return {}
        try:
            with sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True, timeout=5) as db:
                counts = dict(db.execute("select status, count(*) from events group by status"))
                refused = db.execute("select count(*) from scans where verdict = 'refused'")
                counts["refused_scans"] = int(refused.fetchone()[0])
                return {str(k): int(v) for k, v in counts.items()}
        except sqlite3.Error:
            return {}

    def answers(self, status: str) -> Counter[str]:
        with sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute("select coalesce(code, '?') from events where status = ?", (status,))
            return Counter(str(code) for (code,) in rows)

    def refusals(self) -> list[str]:
        with sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute("select text, message from scans where verdict = 'refused'")
            return [f"{self.spec.name}: {text!r} refused: {message}" for text, message in rows]

    def problems(self) -> list[str]:
        """The agent's own complaints ('!' lines that are not flagged answers; WARNING logs)."""
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(" ", 2)
            complaint = len(parts) == 3 and parts[1] == "!" and " flagged: " not in parts[2]
            if complaint or line.startswith(("WARNING", "ERROR", "Traceback")):
                found.append(f"{self.spec.name}: {line}")
        return found


@dataclass
class Report:
    """What the run did; ``failures`` are the reasons it did not pass."""

    scans_planned: int
    scans_fed: int = 0
    events_expected: int = 0
    events_at_stations: int = 0
    events_stored: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    posts: int = 0
    post_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    verify: dict[str, Any] = field(default_factory=dict)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def rss_growth_mb(self) -> float | None:
        """Median RSS of the last tenth of the samples minus that of the tenth at half-way."""
        if len(self.rss_mb) < 20:
            return None
        values = [mb for _, mb in self.rss_mb]
        tenth = max(1, len(values) // 10)
        middle = len(values) // 2
        return statistics.median(values[-tenth:]) - statistics.median(
            values[middle - tenth // 2 : middle - tenth // 2 + tenth]
        )

    def lines(self) -> list[str]:
        out = [
            f"scans typed at stations: {self.scans_fed} of {self.scans_planned} planned",
            f"events: {self.events_expected} expected, {self.events_at_stations} recorded at "
            f"stations + {self.posts} posted, {self.events_stored} stored by the server",
            "server answers: " + (", ".join(f"{n} {s}" for s, n in sorted(self.answers.items()))
                                  or "none"),
            "flagged: " + (", ".join(f"{n} {c}" for c, n in self.flags.most_common()) or "0"),
            "rejected: " + (", ".join(f"{n} {c}" for c, n in self.rejections.most_common())
                            or "0"),
        ]  # fmt: skip
        if self.verify:
            out.append(
                f"verify: {'intact' if self.verify.get('ok') else 'BROKEN'}, "
                f"{self.verify.get('events_checked')} events, head "
                f"{self.verify.get('head_position')}"
            )
        if self.rss_mb:
            values = [mb for _, mb in self.rss_mb]
            growth = self.rss_growth_mb()
            out.append(
                f"server RSS: {values[0]:.0f} MB at start, {values[len(values) // 2]:.0f} MB "
                f"half-way, {values[-1]:.0f} MB at the end, max {max(values):.0f} MB "
                f"({len(values)} samples)"
                + (f"; growth over the second half {growth:+.1f} MB" if growth is not None else "")
            )
        out.append(f"run time {self.seconds:.0f} s")
        for problem in (self.problems + self.post_errors)[:10]:
            out.append(f"  problem: {problem}")
        return out


# -- the server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(
    options: Options, log: IO[bytes]
) -> Iterator[tuple[str, int | None, Callable[[], None]]]:
    """The server's URL, its process ID (if started here) and a call that waits until it
    answers (raising SimulationError if it cannot be reached)."""
    if options.server_url is not None:
        base = options.server_url.rstrip("/")
        yield base, None, lambda: reachable(base)
        return
    port = _free_port()
    env = {**os.environ, "HANDOFF_DATABASE_URL": options.database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(options.workers)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def ready() -> None:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise SimulationError(
                    f"the server exited with {process.returncode} (see {log.name})"
                )
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SimulationError(f"the server did not start in {_STARTUP_SECONDS:.0f} s")
            time.sleep(0.2)

    try:
        yield base, process.pid, ready
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reachable(base: str) -> None:
    try:
        httpx.get(f"{base}/openapi.json", timeout=10)
    except httpx.TransportError as error:
        raise SimulationError(f"cannot reach the server at {base}: {error}") from None


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (from /proc), in MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# -- the API -----------------------------------------------------------------------------


class Api:
    """The calls the simulation makes itself (as an administrator, or as a site's device)."""

    def __init__(self, base: str, tokens: dict[str, str], admin: tuple[str, str]) -> None:
        self.base = base
        self.tokens = tokens
        self.http = httpx.Client(base_url=f"{base}/api/v1", timeout=60)
        try:
            answer = self.http.post(
                "/auth/token", data={"username": admin[0], "password": admin[1]}
            )
        except httpx.TransportError as error:
            raise SimulationError(f"cannot reach the server at {base}: {error}") from None
        if answer.status_code != 200:
            raise SimulationError(
                f"the server at {base} refuses the administrator {admin[0]!r} "
                f"(HTTP {answer.status_code}): is it serving the demo county?"
            )
        self.admin = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def check_devices(self, sites: set[str]) -> None:
        for site in sorted(sites):
            token = self.tokens.get(site)
            if token is None:
                raise SimulationError(f"no device token for {site} in the token file")
            answer = self.http.post(
                "/events", json={"events": []}, headers={"Authorization": f"Bearer {token}"}
            )
            if answer.status_code != 200:
                raise SimulationError(
                    f"the server refuses {site}'s device token (HTTP {answer.status_code}): "
                    "is the token file from this database?"
                )

    def register_box(self, site: str, description: str) -> str:
        answer = self.http.post(
            "/items",
            json={"kind": "specimen_box", "description": description, "home_site": site},
            headers=self.admin,
        )
        if answer.status_code != 201:
            raise SimulationError(f"cannot register a box at {site}: HTTP {answer.status_code}")
        return str(answer.json()["barcode"])

    def verify(self) -> dict[str, Any]:
        answer = self.http.get("/ledger/verify", headers=self.admin, timeout=600)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def post(self, event: dict[str, Any], site: str) -> dict[str, Any]:
        """Send one event as the site's device, again on a 5xx or a lost answer (3 tries)."""
        headers = {"Authorization": f"Bearer {self.tokens[site]}"}
        for attempt in range(3):
            body = {"events": [event], "sent_at": datetime.now().astimezone().isoformat()}
            try:
                answer = self.http.post("/events", json=body, headers=headers)
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}"
            else:
                if answer.status_code < 500:
                    result: dict[str, Any] = answer.json()
                    if answer.status_code not in (200, 422):
                        raise SimulationError(f"HTTP {answer.status_code}: {answer.text[:200]}")
                    return result
                problem = f"HTTP {answer.status_code}"
            time.sleep(0.5 * 2**attempt)
        raise SimulationError(f"{event['type']} {event['item']}: {problem} three times")

    def close(self) -> None:
        self.http.close()


# -- the stations ------------------------------------------------------------------------


def _toml(values: dict[str, Any]) -> str:
    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        return json.dumps(str(value), ensure_ascii=False)

    top = [f"{k} = {scalar(v)}" for k, v in values.items() if not isinstance(v, dict | list)]
    tables = []
    for key, value in values.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "\n".join(f"{k} = {scalar(v)}" for k, v in value.items()))
        elif isinstance(value, list):
            for entry in value:
                tables.append(
                    f"[[{key}]]\n" + "\n".join(f"{k} = {scalar(v)}" for k, v in entry.items())
                )
    return "\n".join(top) + "\n\n" + "\n\n".join(tables) + "\n"


def _station(spec: StationSpec, base: str, token: str, folder: Path) -> StationRun:
    name = spec.name.replace("/", "-")
    home = folder / name
    home.mkdir(parents=True, exist_ok=True)
    station: dict[str, Any] = {"mode": spec.mode.value, "repeat_seconds": 0}
    if spec.destination:
        station["destination"] = spec.destination
    config = {
        "site": spec.site,
        "server_url": base,
        "device_token": token,
        "outbox": str(home / "outbox.db"),
        "language": "en",
        "backoff_seconds": 0.2,
        "backoff_max_seconds": 5,
        "station": station,
        "inputs": [{"kind": "stdin", "name": "scanner", "typed": False}],
    }
    path = home / "agent.toml"
    path.write_text(_toml(config), encoding="utf-8")
    return StationRun(spec, path, home / "outbox.db", home / "console.log")


def _start_agent(run: StationRun) -> None:
    log = run.log.open("wb")
    run.process = subprocess.Popen(
        [sys.executable, "-m", "scanner_agent", "run", "--config", str(run.config),
         "--until-drained"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"},
    )  # fmt: skip
    log.close()


def _wait_ready(runs: list[StationRun]) -> None:
    """Until every agent has said which station it serves (its inputs are open)."""
    deadline = time.monotonic() + _STARTUP_SECONDS
    waiting = list(runs)
    while waiting:
        for run in list(waiting):
            assert run.process is not None
            if run.process.poll() is not None:
                tail = run.log.read_text(errors="replace").strip().splitlines()[-1:]
                raise SimulationError(
                    f"the agent for {run.spec.name} exited with {run.process.returncode}: "
                    + (tail[0] if tail else "no output")
                )
            if run.log.exists() and "station " in run.log.read_text(errors="replace"):
                waiting.remove(run)
        if waiting and time.monotonic() > deadline:
            raise SimulationError(f"agents not started in time: {waiting[0].spec.name} …")
        time.sleep(0.1)


def _stop_agents(runs: list[StationRun]) -> None:
    for run in runs:
        if run.process is not None and run.process.poll() is None:
            run.process.terminate()
    for run in runs:
        if run.process is not None:
            try:
                run.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()


# -- the run -----------------------------------------------------------------------------


def _event(post: Post, clock: Callable[[timedelta], datetime]) -> dict[str, Any]:
    details: dict[str, Any] = dict(post.details)
    if post.collected is not None:
        details["collected_at"] = clock(post.collected).isoformat()
    return {
        "event_id": str(uuid.uuid4()),
        "type": post.type,
        "item": post.item,
        "actor": post.actor,
        "counterparty": post.counterparty,
        "occurred_at": datetime.now().astimezone().isoformat(),
        "details": details,
    }


def simulate(
    schedule: Schedule,
    tokens: dict[str, str],
    options: Options,
    say: Callable[[str], None] = print,
    *,
    extra_expected: int = 0,
) -> Report:
    """Run ``schedule``; the report says what happened and whether it passed."""
    report = Report(schedule.scans)
    options.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (
        (options.work_dir / "server.log").open("wb") as server_log,
        _server(options, server_log) as (base, pid, server_ready),
    ):
        runs = [
            _station(spec, base, tokens[spec.site], options.work_dir / "stations")
            for spec in schedule.stations
            if spec.site in tokens
        ]
        if len(runs) < len(schedule.stations):
            missing = sorted({s.site for s in schedule.stations} - set(tokens))
            raise SimulationError(f"no device token for {', '.join(missing)} in the token file")
        try:
            if options.server_url is not None:
                server_ready()  # before starting anything
            say(f"starting {len(runs)} agents against {base} …")
            for run in runs:  # they start while the server does: they wait for it
                _start_agent(run)
            server_ready()
            api = Api(base, tokens, options.admin)
            try:
                api.check_devices({spec.site for spec in schedule.stations})
                before = api.verify()
                if not before["ok"]:
                    raise SimulationError("the ledger does not verify before the run")
                _wait_ready(runs)
                _play(schedule, runs, api, options, report, pid, say)
                _stop_agents(runs)
                _settle(runs, report)
                after = api.verify()
            finally:
                api.close()
        finally:
            _stop_agents(runs)
    report.verify = after
    report.events_expected = schedule.events + extra_expected
    report.events_stored = int(after["head_position"]) - int(before["head_position"])
    report.seconds = time.monotonic() - started
    _judge(report, options)
    return report


def _play(
    schedule: Schedule,
    runs: list[StationRun],
    api: Api,
    options: Options,
    report: Report,
    pid: int | None,
    say: Callable[[str], None],
) -> None:
    by_name = {run.spec.name: run for run in runs}
    speed = options.speed
    t0 = time.monotonic()
    wall0 = datetime.now().astimezone()

    def clock(offset: timedelta) -> datetime:  # the real time a day offset is played at
        return wall0 + offset / speed

    timeline: list[tuple[float, int, str, Any]] = []
    for number, episode in enumerate(schedule.episodes):
        for index, line in enumerate(episode.lines):
            at = (episode.at + SCAN_GAP * index).total_seconds() / speed
            timeline.append((at, number * 1000 + index, episode.station, line))
    heapq.heapify(timeline)
    posts: list[Post] = list(schedule.posts)
    stop = threading.Event()
    poster_done = threading.Event()

    def poster() -> None:
        for post in posts:
            wait = t0 + post.at.total_seconds() / speed - time.monotonic()
            if wait > 0 and stop.wait(wait):
                break
            try:
                answer = api.post(_event(post, clock), post.site)
            except SimulationError as error:
                report.post_errors.append(str(error))
                continue
            report.posts += 1
            for result in answer.get("results", []):
                status = str(result.get("status"))
                report.answers[status] += 1
                if status == "flagged":
                    report.flags[str(result.get("code"))] += 1
                elif status == "rejected":
                    report.rejections[str(result.get("code"))] += 1
        poster_done.set()

    def watcher() -> None:
        next_progress = time.monotonic() + options.progress_seconds
        while not stop.is_set():
            if pid is not None:
                report.rss_mb.append((time.monotonic() - t0, _tree_rss_mb(pid)))
            if time.monotonic() >= next_progress:
                next_progress += options.progress_seconds
                say(_progress(runs, report, schedule, (time.monotonic() - t0) * speed))
            stop.wait(options.rss_seconds)

    threads = [
        threading.Thread(target=poster, name="poster", daemon=True),
        threading.Thread(target=watcher, name="watcher", daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        while timeline:
            at, _, station, line = heapq.heappop(timeline)
            wait = t0 + at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            run = by_name[station]
            assert run.process is not None and run.process.stdin is not None
            if run.process.poll() is not None:
                raise SimulationError(f"the agent for {station} stopped ({run.process.returncode})")
            run.process.stdin.write(line.encode() + b"\n")
            run.process.stdin.flush()
            run.fed += 1
            report.scans_fed += 1
        poster_done.wait()
        # End of the input: each agent stops once every event it recorded has an answer.
        for run in runs:
            assert run.process is not None and run.process.stdin is not None
            run.process.stdin.close()
        deadline = time.monotonic() + options.drain_seconds
        for run in runs:
            assert run.process is not None
            try:
                run.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                report.problems.append(f"{run.spec.name}: not drained in {options.drain_seconds} s")
        say(_progress(runs, report, schedule, (time.monotonic() - t0) * speed))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def _progress(runs: list[StationRun], report: Report, schedule: Schedule, played: float) -> str:
    totals: Counter[str] = Counter()
    for run in runs:
        totals.update(run.counts())
    recorded = sum(n for status, n in totals.items() if status != "refused_scans")
    stored = totals["accepted"] + totals["flagged"] + totals["duplicate"]
    minutes = min(played / 60, schedule.minutes)
    day_clock = (datetime(2000, 1, 1, 7, 50) + timedelta(minutes=minutes)).strftime("%H:%M")
    rss = f", server {report.rss_mb[-1][1]:.0f} MB" if report.rss_mb else ""
    errors = totals["rejected"] + totals["refused_scans"] + len(report.post_errors)
    return (
        f"[{day_clock}] scans {report.scans_fed}/{schedule.scans}; events at stations "
        f"{recorded} (server has {stored}, {totals['pending']} pending, {totals['flagged']} "
        f"flagged); posted {report.posts}/{len(schedule.posts)}; errors {errors}{rss}"
    )


def _settle(runs: list[StationRun], report: Report) -> None:
    for run in runs:
        counts = run.counts()
        report.events_at_stations += sum(n for s, n in counts.items() if s != "refused_scans")
        for status, count in counts.items():
            if status != "refused_scans":
                report.answers[status] += count
        report.flags.update(run.answers("flagged"))
        report.rejections.update(run.answers("rejected"))
        report.problems.extend(run.refusals())
        report.problems.extend(run.problems())
        if run.process is not None and run.process.returncode not in (0, None):
            report.problems.append(f"{run.spec.name}: agent exited {run.process.returncode}")


def _judge(report: Report, options: Options) -> None:
    failures = report.failures
    if report.scans_fed != report.scans_planned:
        failures.append(f"{report.scans_planned - report.scans_fed} scan(s) not typed")
    if report.events_stored != report.events_expected:
        failures.append(f"{report.events_stored} events stored, {report.events_expected} expected")
    if report.answers["pending"]:
        failures.append(f"{report.answers['pending']} event(s) still pending at stations")
    if report.rejections:
        failures.append(f"{sum(report.rejections.values())} event(s) rejected")
    if report.problems or report.post_errors:
        failures.append(f"{len(report.problems) + len(report.post_errors)} problem(s)")
    if not report.verify.get("ok"):
        failures.append("the ledger does not verify")
    growth = report.rss_growth_mb()
    if options.max_rss_growth_mb is not None:
        if growth is None:
            failures.append("too few memory samples to judge memory growth")
        elif growth > options.max_rss_growth_mb:
            failures.append(
                f"server memory grew {growth:.1f} MB over the second half "
                f"(limit {options.max_rss_growth_mb:g} MB)"
            )
