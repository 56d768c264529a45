"""``handoff simulate``: the day's schedule (plain Python) and a short day played for real.

The short run is the soak (``make soak``) in small: the demo county, a real server with two
workers, one real agent process per station, 100 minutes of the day in 7.5 s at 800× speed.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.config import Settings
from server.db import build_engine, build_sessionmaker
from server.models import CustodyEvent
from server.simulation import day
from server.simulation.county import prepare_county
from server.simulation.day import SCAN_GAP, Clinic, County, Place, StationMode, plan_day
from server.simulation.run import Options, simulate
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]


def _county(clinics: int = 6, boxes: int = 3) -> County:
    hub = Place("CH", 30.0, 115.0)
    return County(
        hub=hub,
        clinics=tuple(
            Clinic(
                Place(f"T{n:02d}", 30.0 + 0.1 * (n % 3 - 1), 115.0 + 0.08 * (n % 2 * 2 - 1)),
                f"STAFF{n}",
                tuple(f"BOX{n}-{b}" for b in range(boxes)),
            )
            for n in range(1, clinics + 1)
        ),
        couriers=("C1", "C2"),
        receivers={"LAB": ("L1",), "PATH": ("P1",)},
        specimens=(("serum", "LAB"), ("tissue_formalin", "PATH")),
    )


class TestPlanDay:
    def test_each_box_is_sealed_picked_up_handed_over_and_received_in_that_order(self) -> None:
        schedule = plan_day(_county(), minutes=8 * 60, seed=3)
        seen: dict[str, list[tuple[timedelta, str]]] = {}
        for episode in schedule.episodes:
            mode = next(s.mode for s in schedule.stations if s.name == episode.station)
            step = {
                StationMode.CLINIC_DISPATCH: "seal",
                StationMode.LAB_RECEIPT: "receive",
            }.get(mode)
            for index, line in enumerate(episode.lines):
                if line.startswith("STEP:"):
                    step = line[5:].lower()
                elif line.startswith("BOX") and step is not None:
                    seen.setdefault(line, []).append((episode.at + SCAN_GAP * index, step))
        for post in schedule.posts:
            seen.setdefault(post.item, []).append((post.at, post.type))
        assert len(seen) == 18  # every clinic's boxes went out at least once
        cycle = ["prepare", "seal", "pickup", "handoff", "receive", "accept", "open", "dispatch",
                 "deliver"]  # fmt: skip
        for box, steps in seen.items():
            order = [step for _, step in sorted(steps)]
            expected = (cycle * 4)[: len(order)]
            assert order == expected, box
        assert any(len(steps) > len(cycle) for steps in seen.values())  # boxes are reused

    def test_events_are_counted_and_stations_take_one_episode_at_a_time(self) -> None:
        schedule = plan_day(_county(), minutes=4 * 60, seed=5, volume=2)
        assert schedule.events == sum(e.events for e in schedule.episodes) + len(schedule.posts)
        assert all(e.at < timedelta(hours=4, minutes=5) for e in schedule.episodes)
        busy: dict[str, timedelta] = {}
        for episode in schedule.episodes:
            assert episode.at >= busy.get(episode.station, timedelta(0)), episode
            busy[episode.station] = episode.at + SCAN_GAP * len(episode.lines)
        assert {s.mode for s in schedule.stations} == set(StationMode)

    def test_a_longer_day_and_more_volume_mean_more_events(self) -> None:
        short = plan_day(_county(boxes=12), minutes=120)
        assert plan_day(_county(boxes=12), minutes=360).events > short.events
        assert plan_day(_county(boxes=12), minutes=120, volume=4).events > short.events

    def test_bad_input_is_refused(self) -> None:
        with pytest.raises(ValueError, match="minutes"):
            plan_day(_county(), minutes=0)
        with pytest.raises(ValueError, match="volume"):
            plan_day(_county(), minutes=60, volume=0)
        with pytest.raises(ValueError, match="couriers"):
            plan_day(County(Place("CH", 0, 0), (), (), {}, ()), minutes=60)

    def test_the_schedule_is_plain_python(self) -> None:
        tree = ast.parse(Path(day.__file__).read_text())
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert names <= {"__future__", "math", "random", "dataclasses", "datetime", "enum",
                         "typing"}  # fmt: skip


@pytest.mark.slow
def test_a_short_day_through_real_agents_and_two_workers(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    tokens = tmp_path / "tokens.txt"
    county, device_tokens = prepare_county(settings, tokens, clinics=3, boxes=4, progress=print)
    assert all(len(clinic.boxes) >= 4 for clinic in county.clinics)
    print(f"county ready after {time.monotonic() - started:.1f} s")
    schedule = plan_day(county, minutes=100, seed=2, volume=2)
    options = Options(
        speed=800,
        server_url=None,
        database_url=database_url,
        workers=2,
        admin=("admin", "handoff-demo"),
        work_dir=tmp_path / "run",
        progress_seconds=5,
        rss_seconds=0.25,
    )
    lines: list[str] = []
    report = simulate(schedule, device_tokens, options, lines.append)
    print(*report.lines(), sep="\n")

    assert report.failures == [], report.lines()
    assert report.scans_fed == schedule.scans > 80
    assert report.events_stored == report.events_expected == schedule.events > 40
    assert report.events_at_stations + report.posts == schedule.events
    assert report.flags == {} and report.rejections == {}
    assert report.verify["ok"] is True
    assert len(report.rss_mb) > 20 and all(mb > 50 for _, mb in report.rss_mb)
    assert any(line.startswith("[") and "scans " in line for line in lines)  # progress
    engine = build_engine(database_url)
    try:
        with build_sessionmaker(engine)() as session:
            types = dict(
                session.execute(
                    select(CustodyEvent.type, func.count()).group_by(CustodyEvent.type)
                ).all()
            )
            # ... the boxes' whole round, none of it flagged (report.flags is empty)
            for kind in ("seal", "pickup", "handoff", "receive", "accept", "dispatch", "deliver"):
                assert types.get(kind, 0) > 0, kind
    finally:
        engine.dispose()

    assert report.seconds < 60  # server, 10 agents, 7.5 s of day, drain and verify


def test_the_command_line_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "HANDOFF_DATABASE_URL": f"sqlite:///{tmp_path}/none.db", "COLUMNS": "200"}
    handoff = [sys.executable, "-m", "server.cli", "simulate"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*handoff, *args], env=env, capture_output=True, text=True)

    for args, message in [
        (("--minutes", "-5"), "--minutes must be between 0 and 1440"),
        (("--workers", "2", "--server-url", "http://127.0.0.1:1"),
         "--workers starts a server: not with --server-url"),
    ]:  # fmt: skip
        answer = run(*args)
        assert (answer.returncode, answer.stderr.strip()) == (2, f"error: {message}")
    url = f"http://127.0.0.1:{free_port()}"
    gone = run("--server-url", url)
    assert gone.returncode == 1
    assert (
        gone.stderr.strip()
        == f"error: cannot reach the server at {url}: [Errno 111] Connection refused"
    )
    assert not (tmp_path / "none.db").exists()  # nothing was touched
