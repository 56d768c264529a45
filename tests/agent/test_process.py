"""The agent as a process against a real server process and database, scanners on real ptys.

(a) 10,000 scans while the agent is SIGKILLed at five random moments and restarted: the
    server ends with exactly the scanned events, none twice, none lost.
(b) the server unreachable for the first part of the run: the backlog drains once it is back.
(c) noise, truncated frames and double sends on the serial line: refused or deduplicated,
    recorded, and the agent keeps going.
"""

from __future__ import annotations

import os
import queue
import random
import re
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy.orm import Session, sessionmaker

from labels.identity import Kind, new_id
from scanner_agent.outbox import Outbox
from tests.agent.conftest import County, device_events
from tests.agent.gate import Gate
from tests.agent.support import SCAN_LINE, AgentProcess, PtyScanner, answer_to, write_config

SCANS = int(os.environ.get("HANDOFF_AGENT_TEST_SCANS", "10000"))
SCANNERS = 4


def _config(tmp_path: Path, server_url: str, county: County, *inputs: dict[str, object]) -> Path:
    return write_config(
        tmp_path / "agent.toml",
        site="T01",
        server_url=server_url,
        device_token=county.token,
        outbox=str(tmp_path / "outbox.db"),
        language="en",
        batch_size=250,
        backoff_seconds=0.05,
        backoff_max_seconds=0.5,
        station={"mode": "inventory", "repeat_seconds": 120},
        inputs=list(inputs),
    )


def _scan(agent: AgentProcess, scanner: PtyScanner, code: str, timeout: float = 15.0) -> str:
    """Send one code and wait for the station's line about it (stale lines are skipped)."""
    return answer_to(agent, scanner, code, timeout)[0]


def _wait_for_events(
    session_factory: sessionmaker[Session], device: str, count: int, timeout: float
) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        events = device_events(session_factory, device)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.25)


class _Person:
    """One person at one scanner: scans a label, waits for the station's answer, and scans
    the same label again if no answer comes because the agent died."""

    def __init__(self, scanner: PtyScanner, codes: list[str], crew: _Crew) -> None:
        self.scanner = scanner
        self.codes = codes
        self.crew = crew
        self.answers: queue.Queue[tuple[str, str]] = queue.Queue()
        self.done = 0
        self.marks: Counter[str] = Counter()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, daemon=True)

    def _work(self) -> None:
        try:
            while self.done < len(self.codes):
                code = self.codes[self.done]
                generation = self.crew.generation  # read before waiting: see _Crew.restart
                self.crew.ready.wait()
                if self.crew.generation != generation:
                    continue
                self.scanner.send(code.encode() + b"\r")
                deadline = time.monotonic() + 20
                while self.crew.generation == generation:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"no answer for {code}")
                    try:
                        mark, answered = self.answers.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if answered == code:
                        assert mark in ("✓", "↺"), (code, mark)
                        self.marks[mark] += 1
                        self.done += 1
                        break
        except BaseException as error:  # reported by the test's thread
            self.error = error


class _Crew:
    """The people at the station's scanners, and the agent process they talk to."""

    def __init__(self, config: Path, scanners: list[PtyScanner], codes: list[list[str]]) -> None:
        self.config = config
        self.ready = threading.Event()
        self.generation = 0
        self.people = [_Person(s, c, self) for s, c in zip(scanners, codes, strict=True)]
        self.owner = {code: person for person in self.people for code in person.codes}
        self.agent = self._start()

    def _start(self) -> AgentProcess:
        agent = AgentProcess(self.config).start()
        for person in self.people:  # (seen in the log: the lines stay queued for _route)
            agent.wait_seen(rf"reading {re.escape(person.scanner.path)}$")
        threading.Thread(target=self._route, args=(agent,), daemon=True).start()
        self.ready.set()
        return agent

    def _route(self, agent: AgentProcess) -> None:
        while (line := agent.lines.get()) != "":
            match = SCAN_LINE.match(line)
            if match and match.group(2) in self.owner:
                self.owner[match.group(2)].answers.put((match.group(1), match.group(2)))

    def restart(self) -> None:
        """Kill the agent and start it again. A person who sent a code to the dead agent
        sees the generation change and scans again once the new agent is ready."""
        self.ready.clear()
        self.agent.kill()
        self.generation += 1
        self.agent = self._start()

    def progress(self) -> int:
        for person in self.people:
            if person.error is not None:
                odd = [line for line in self.agent.log if "✗" in line or "!" in line]
                holders = []
                for fd in Path("/proc").glob("[0-9]*/fd/*"):
                    try:
                        if os.readlink(fd) == person.scanner.path:
                            cmd = (fd.parents[1] / "cmdline").read_bytes().replace(b"\0", b" ")
                            holders.append(f"{fd}: {cmd[:150]!r}")
                    except OSError:
                        pass
                odd += holders
                raise AssertionError(
                    f"{person.error} at {person.scanner.path}, generation {self.generation}; "
                    f"refusals and problems: {odd[-10:]}; log tail:\n"
                    + "\n".join(self.agent.log[-8:])
                )
        return sum(person.done for person in self.people)


# 10,000 scans take ~40 s on a busy 2-core machine: run on PostgreSQL (production's database)
# only, to keep the agent's tests within budget; (b) and (c) run on both databases.
@pytest.mark.slow
@pytest.mark.postgres
def test_scans_survive_five_sigkills_exactly_once(
    tmp_path: Path,
    county: County,
    server_url: str,
    pty_scanner: PtyScanner,
    session_factory: sessionmaker[Session],
) -> None:
    rng = random.Random(int(os.environ.get("HANDOFF_AGENT_TEST_SEED", "7")))
    scanners = [pty_scanner] + [PtyScanner() for _ in range(SCANNERS - 1)]
    inputs: list[dict[str, object]] = [
        {"kind": "serial", "name": f"s{n}", "port": s.path, "framing": "cr"}
        for n, s in enumerate(scanners)
    ]
    config = _config(tmp_path, server_url, county, *inputs)
    # Each scanner has its own boxes, so a console line names the scanner it answers.
    codes = [
        [county.boxes[n::SCANNERS][i % (len(county.boxes) // SCANNERS)]
         for i in range(SCANS // SCANNERS)]
        for n in range(SCANNERS)
    ]  # fmt: skip
    crew = _Crew(config, scanners, codes)
    kills = sorted(rng.sample(range(SCANS // 20, SCANS - SCANS // 20), 5))
    for person in crew.people:
        person.thread.start()
    while any(person.thread.is_alive() for person in crew.people):
        if kills and crew.progress() >= kills[0]:
            kills.pop(0)
            time.sleep(rng.uniform(0, 0.004))  # a random moment, scans in flight
            crew.restart()
        time.sleep(0.001)
    crew.progress()
    assert kills == []
    events = _wait_for_events(session_factory, county.device, SCANS, timeout=60)
    assert crew.agent.stop() == 0
    ids = [event_id for event_id, _ in events]
    assert len(events) == SCANS, crew.agent.log[-20:]
    assert len(set(ids)) == SCANS
    assert Counter(barcode for _, barcode in events) == Counter(c for cs in codes for c in cs)
    outbox = Outbox(tmp_path / "outbox.db")
    counts = outbox.counts()
    assert set(counts) <= {"accepted", "duplicate"}  # a duplicate: answer lost in a kill
    assert counts["accepted"] + counts.get("duplicate", 0) == SCANS
    assert [e["event_id"] for e in outbox.events()] == ids  # the server keeps the scan order
    outbox.close()


@pytest.mark.slow
def test_backlog_drains_when_the_server_comes_back(
    tmp_path: Path,
    county: County,
    server_url: str,
    pty_scanner: PtyScanner,
    session_factory: sessionmaker[Session],
) -> None:
    gate = Gate(urlsplit(server_url).port or 0)  # closed: the server cannot be reached
    config = _config(
        tmp_path, gate.url, county, {"kind": "serial", "port": pty_scanner.path, "framing": "cr"}
    )
    offline = 800
    codes = [county.boxes[i % len(county.boxes)] for i in range(offline + 300)]
    # A well-formed box ID the server has never registered: only the server can refuse it.
    stranger = new_id(Kind.SPECIMEN_BOX)
    scanned = [*codes[:400], stranger, *codes[400:]]
    agent = AgentProcess(config).start()
    agent.wait_for(r"reading /dev/")
    for code in scanned[: offline + 1]:
        assert _scan(agent, pty_scanner, code) == "✓"
    assert agent.seen(r"server unreachable")
    assert device_events(session_factory, county.device) == []
    gate.open()
    for code in scanned[offline + 1 :]:  # scanning goes on while the backlog drains
        assert _scan(agent, pty_scanner, code) == "✓"
    events = _wait_for_events(session_factory, county.device, len(codes), timeout=60)
    assert agent.stop() == 0
    assert agent.seen(r"server reachable again")
    assert agent.seen(rf"{stranger} observed rejected: .*{stranger}")  # shown at the station
    gate.close()
    # The batch holding the stranger was refused whole; the rest was sent again at once.
    assert [barcode for _, barcode in events] == codes
    outbox = Outbox(tmp_path / "outbox.db")
    assert outbox.counts() == {"accepted": len(codes), "rejected": 1}
    (kept,) = [event for event in outbox.events() if event["status"] == "rejected"]
    assert (kept["item"], kept["code"]) == (stranger, "unknown_barcode")
    outbox.close()


@pytest.mark.slow
def test_noise_truncation_and_double_sends_are_refused_or_deduplicated(
    tmp_path: Path,
    county: County,
    server_url: str,
    pty_scanner: PtyScanner,
    session_factory: sessionmaker[Session],
) -> None:
    framed = PtyScanner()  # a second scanner using STX … ETX
    config = _config(
        tmp_path,
        server_url,
        county,
        {"kind": "serial", "name": "cr", "port": pty_scanner.path, "framing": "cr"},
        {"kind": "serial", "name": "stx", "port": framed.path, "framing": "stx_etx"},
    )
    agent = AgentProcess(config).start()
    agent.wait_seen(r"cr: reading /dev/")
    agent.wait_seen(r"stx: reading /dev/")
    first, second, third = county.boxes[:3]
    rng = random.Random(3)
    assert _scan(agent, pty_scanner, first) == "✓"
    pty_scanner.send(second.encode() + b"\r" + second.encode() + b"\r")  # a double send
    assert _scan(agent, pty_scanner, third) == "✓"
    misread = second[:5] + ("A" if second[5] != "A" else "B") + second[6:]
    assert _scan(agent, pty_scanner, misread) == "✗"  # check character catches it
    assert _scan(agent, pty_scanner, second[:7]) == "✗"  # truncated frame
    noise = bytes(rng.randrange(256) for _ in range(3000)) + b"\r"
    pty_scanner.send(noise)
    framed.send(b"\x02" + first[:6].encode() + b"\x02" + third.encode() + b"\x03")
    framed.send(first.encode() + b"\x03")  # ETX without its STX
    agent.wait_for(r"without its start")  # (its line names the code: wait it out)
    assert _scan(agent, pty_scanner, first) == "✓"  # still alive and reading
    time.sleep(0.5)
    events = _wait_for_events(session_factory, county.device, 5, timeout=30)
    assert agent.process is not None and agent.process.poll() is None
    assert agent.stop() == 0
    assert "Traceback" not in "\n".join(agent.log)
    assert [barcode for _, barcode in events] == [first, second, third, third, first]
    outbox = Outbox(tmp_path / "outbox.db")
    scans = outbox.scans()
    outbox.close()
    verdicts = Counter(scan["verdict"] for scan in scans)
    assert verdicts["recorded"] == 5
    assert verdicts["repeat"] == 1
    refused = [scan for scan in scans if scan["verdict"] == "refused"]
    # misread + truncated + every non-empty noise frame + STX cut-off + ETX without STX
    noise_frames = [part for part in noise.split(b"\r") if part]
    assert len(refused) == 2 + len(noise_frames) + 2
    assert all(scan["message"] for scan in refused)
    assert any("check character" in scan["message"] for scan in refused)
    assert any("STX" in scan["message"] for scan in refused)
