"""Route plans through the API and the CLI: open work in, trips with manifests and sheets out
(SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from routing import portfolio
from server.app import create_app
from server.config import Settings
from server.deps import get_now
from server.models import utc_now
from tests.support.helpers import World, device_auth, login, scan

HANDOFF = str(Path(sys.executable).parent / "handoff")


class Clock:
    """The server's clock in these tests: 09:00 tomorrow, county time, moved by hand."""

    def __init__(self, settings: Settings) -> None:
        self.day = utc_now().astimezone(settings.zone).date() + timedelta(days=1)
        self.now = datetime.combine(self.day, time(9, 0), settings.zone)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings)


def planning_app(settings: Settings, clock: Clock) -> FastAPI:
    app = create_app(settings)
    app.dependency_overrides[get_now] = clock
    return app


def app_client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(planning_app(settings, clock)) as test_client:
        yield test_client


@pytest.fixture
def planner(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    yield from app_client(settings, clock)


def post_scans(client: TestClient, world: World, site: str, *events: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/events", json={"events": list(events)}, headers=device_auth(world, site)
    )
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * len(events)


def open_work(client: TestClient, world: World, at: datetime) -> None:
    """At T01: a swab box ready (a day to reach the lab), a urine box whose 2 h limit ran out
    an hour ago, and a used instrument set waiting for collection."""
    staff = world.badges["clinic_staff"]
    swab_collected = at - timedelta(minutes=40)
    urine_collected = at - timedelta(hours=3)
    post_scans(
        client,
        world,
        "T01",
        scan(
            "prepare",
            world.box,
            actor=staff,
            specimen_type="micro_swab",
            count=3,
            collected_at=swab_collected.isoformat(),
            destination="LAB",
            at=at - timedelta(minutes=30),
        ),
        scan("seal", world.box, actor=staff, seal="S1", at=at - timedelta(minutes=29)),
        scan(
            "prepare",
            world.box2,
            actor=staff,
            specimen_type="urine",
            count=2,
            collected_at=urine_collected.isoformat(),
            destination="LAB",
            at=at - timedelta(minutes=28),
        ),
        scan("seal", world.box2, actor=staff, seal="S2", at=at - timedelta(minutes=27)),
        scan("return_used", world.tray, actor=staff, at=at - timedelta(minutes=20)),
    )


def make_plan(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/plans", json={"time_limit": 0.5, **body}, headers=headers)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "solving"
    # The test client runs the background solve before it returns; a browser polls this.
    polled = client.get(f"/api/v1/plans/{started['id']}", headers=headers)
    assert polled.status_code == 200, polled.text
    return dict(polled.json())


def test_a_plan_searches_in_as_many_processes_as_plan_workers_says(
    planner: TestClient, settings: Settings, world: World, clock: Clock
) -> None:
    open_work(planner, world, clock.now)
    day = clock.day.isoformat()
    one = make_plan(planner, login(planner, "dispatcher"), day=day)
    assert one["stats"]["processes"] == 1
    two_cores = planning_app(settings.model_copy(update={"plan_workers": 2}), clock)
    with TestClient(two_cores) as client:
        two = make_plan(client, login(client, "dispatcher"), day=day)
    assert two["status"] == "done"
    assert two["stats"]["processes"] == 2
    assert two["stats"]["best_process"] in (0, 1)
    served = {code for r in two["routes"] for s in r["stops"] for code in s["pickups"]}
    assert served == {world.box, world.tray}


def test_the_server_starts_the_planners_worker_processes_before_the_first_plan(
    settings: Settings, clock: Clock
) -> None:
    portfolio.shutdown()
    assert portfolio.warmed() == 0
    two_cores = planning_app(settings.model_copy(update={"plan_workers": 2}), clock)
    with TestClient(two_cores):
        # Started in the background as the server starts: no plan has been asked for.
        deadline = monotonic() + 60
        while portfolio.warmed() < 1 and monotonic() < deadline:
            sleep(0.05)
        assert portfolio.warmed() == 1
    assert portfolio.warmed() == 0  # stopped with the server


def stops_of(plan: dict[str, Any], courier: str) -> list[dict[str, Any]]:
    (route,) = [r for r in plan["routes"] if r["courier"] == courier]
    return list(route["stops"])


def test_a_day_is_planned_into_trips_with_manifests(
    planner: TestClient, world: World, clock: Clock
) -> None:
    open_work(planner, world, clock.now)
    dispatcher = login(planner, "dispatcher")
    plan = make_plan(planner, dispatcher, day=clock.day.isoformat())

    assert plan["status"] == "done" and plan["progress"] == 1.0
    served = {code for r in plan["routes"] for s in r["stops"] for code in s["pickups"]}
    assert served == {world.box, world.tray}
    (late,) = plan["unserved"]
    assert late["item"] == world.box2
    assert "time limit ran out" in late["reason"]
    # Fixed cost per courier and zero travel (all test sites share a place): one courier.
    (route,) = plan["routes"]
    drops = {s["site"]: s["drops"] for s in route["stops"] if s["drops"]}
    assert drops == {"LAB": [world.box], "CSSD": [world.tray]}
    assert plan["trips"] == [route["trip"]]
    assert plan["stats"]["searches"] == 1 and plan["stats"]["solutions"] >= 1

    trip = planner.get(f"/api/v1/trips/{route['trip']}", headers=dispatcher)
    assert trip.status_code == 200, trip.text
    lines = {(line["item"], line["action"]) for s in trip.json()["stops"] for line in s["lines"]}
    assert lines == {
        (world.box, "pickup"),
        (world.tray, "pickup"),
        (world.box, "drop"),
        (world.tray, "drop"),
    }


def test_route_sheets_print_as_html(planner: TestClient, world: World, clock: Clock) -> None:
    open_work(planner, world, clock.now)
    dispatcher = login(planner, "dispatcher")
    plan = make_plan(planner, dispatcher, day=clock.day.isoformat())
    sheet = planner.get(f"/api/v1/plans/{plan['id']}/sheet", headers=login(planner, "courier"))
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("text/html")
    page = sheet.text
    assert plan["routes"][0]["trip"] in page and world.box in page
    assert "Not planned" in page and "time limit ran out" in page
    assert "http://" not in page and "https://" not in page  # prints offline


def test_replanning_starts_from_where_the_courier_is_with_what_is_on_board(
    planner: TestClient, world: World, clock: Clock
) -> None:
    open_work(planner, world, clock.now)
    dispatcher = login(planner, "dispatcher")
    first = make_plan(planner, dispatcher, day=clock.day.isoformat())
    courier = first["routes"][0]["courier"]
    staff = world.badges["clinic_staff"]
    clock.now += timedelta(minutes=20)
    post_scans(
        planner,
        world,
        "T01",
        scan(
            "pickup",
            world.box,
            actor=courier,
            counterparty=staff,
            seal="S1",
            seal_intact=True,
            temperature_c=20.0,
            at=clock.now - timedelta(minutes=10),
        ),
    )
    second = make_plan(planner, dispatcher, day=clock.day.isoformat(), couriers=[courier])

    assert second["replaces"] == first["id"]
    (route,) = second["routes"]
    assert route["on_board_at_start"] == [world.box]
    assert route["stops"][0]["site"] == "T01"  # the courier's last scan
    assert datetime.fromisoformat(route["start"]) >= clock.now
    (lab,) = [s for s in route["stops"] if world.box in s["drops"]]
    assert lab["site"] == "LAB" and world.box not in {
        c for s in route["stops"] for c in s["pickups"]
    }

    old = planner.get(f"/api/v1/plans/{first['id']}", headers=dispatcher).json()
    assert old["status"] == "superseded"
    old_trip = planner.get(f"/api/v1/trips/{first['trips'][0]}", headers=dispatcher).json()
    assert old_trip["completed_at"] is not None


def test_a_box_no_vehicle_can_carry_is_unserved_with_the_reason(
    settings: Settings, world: World, clock: Clock
) -> None:
    no_coolers = settings.model_copy(update={"plan_capacity_cold_boxes": 0})
    for client in app_client(no_coolers, clock):
        staff = world.badges["clinic_staff"]
        post_scans(
            client,
            world,
            "T01",
            scan(
                "prepare",
                world.box,
                actor=staff,
                specimen_type="serum",  # chilled: needs a cold box
                count=2,
                collected_at=(clock.now - timedelta(minutes=10)).isoformat(),
                at=clock.now - timedelta(minutes=5),
            ),
        )
        plan = make_plan(client, login(client, "dispatcher"), day=clock.day.isoformat())
        assert plan["routes"] == []
        assert plan["unserved"] == [
            {
                "item": world.box,
                "reason": "load 1 cold boxes exceeds the largest vehicle (0 cold boxes)",
            }
        ]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"day": "2001-01-01"}, 400, "is in the past"),
        ({"day": "tomorrow"}, 422, "day"),
        ({"time_limit": 0}, 422, "time_limit"),
        ({"time_limit": 1, "extra": 1}, 422, "extra"),
        ({"couriers": ["PX-not-a-badge"]}, 400, ""),
    ],
)
def test_bad_requests_are_refused_with_json(
    planner: TestClient,
    world: World,
    clock: Clock,
    body: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    response = planner.post(
        "/api/v1/plans",
        json={"day": clock.day.isoformat(), **body},
        headers=login(planner, "dispatcher"),
    )
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert response.json()["error"]


def test_only_dispatchers_plan(planner: TestClient, world: World, clock: Clock) -> None:
    response = planner.post(
        "/api/v1/plans", json={"day": clock.day.isoformat()}, headers=login(planner, "courier")
    )
    assert response.status_code == 403
    missing = planner.get(
        "/api/v1/plans/00000000-0000-0000-0000-000000000000", headers=login(planner, "dispatcher")
    )
    assert missing.status_code == 404 and missing.json()["error"] == "NotFound"


def test_the_cli_prints_the_route_sheet(
    database_url: str, world: World, client: TestClient, tmp_path: Path, settings: Settings
) -> None:
    staff = world.badges["clinic_staff"]
    post_scans(client, world, "T01", scan("return_used", world.tray, actor=staff))
    tomorrow = date.today() + timedelta(days=2)  # after today in any time zone
    sheet = tmp_path / "sheet.html"
    result = subprocess.run(
        [HANDOFF, "plan", "--date", tomorrow.isoformat(), "--time-limit", "1.5", "--html", sheet],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HANDOFF_DATABASE_URL": database_url, "COLUMNS": "200"},
        input="",
    )
    assert result.returncode == 0, result.stderr
    # Progress on stderr, as the search's time passes; the sheet alone on stdout.
    steps = result.stderr.splitlines()
    assert steps[0] == f"reading the open work for {tomorrow}"
    assert steps[1].startswith("1 item to move, 2 couriers on shift: searching for 1.5 s"), steps
    assert steps[2] == "searching: 1 s of 1.5"
    assert "searching" not in result.stdout
    assert f"Route plan for {tomorrow}" in result.stdout
    assert f"pick up {world.tray}" in result.stdout
    assert "CSSD" in result.stdout
    assert world.tray in sheet.read_text()

    bad = subprocess.run(
        [HANDOFF, "plan", "--date", "2001-01-01"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HANDOFF_DATABASE_URL": database_url, "COLUMNS": "200"},
        input="",
    )
    assert bad.returncode == 1 and "in the past" in bad.stderr


def test_sterile_packs_go_from_the_cssd_to_their_clinic(
    client: TestClient, world: World, clock: Clock
) -> None:
    from tests.server.test_cssd import Cssd

    # The CSSD helper scans on the real clock, so this test does too (and plans tomorrow).
    cssd = Cssd(client, world)
    cssd.setup()
    cssd.bowie_dick()
    pack = cssd.pack()  # packed for the set's home clinic, T01
    cssd.released(pack)
    plan = make_plan(client, login(client, "dispatcher"), day=clock.day.isoformat())
    (route,) = plan["routes"]
    (pickup,) = [s for s in route["stops"] if pack in s["pickups"]]
    (drop,) = [s for s in route["stops"] if pack in s["drops"]]
    assert (pickup["site"], drop["site"]) == ("CSSD", "T01")
    assert route["stops"].index(pickup) < route["stops"].index(drop)


def test_travel_times_can_be_learnt_from_custody_scans(
    planner: TestClient,
    world: World,
    clock: Clock,
    settings: Settings,
    session_factory: Any,
) -> None:
    from server.db import session_scope
    from server.plans import service

    open_work(planner, world, clock.now - timedelta(hours=2))
    courier, staff, lab = (world.badges[k] for k in ("courier", "clinic_staff", "lab_receiver"))
    picked = clock.now - timedelta(minutes=50)
    post_scans(
        planner,
        world,
        "T01",
        scan("pickup", world.box, actor=courier, counterparty=staff, seal="S1", at=picked),
    )
    post_scans(
        planner,
        world,
        "LAB",
        scan(
            "receive",
            world.box,
            actor=lab,
            counterparty=courier,
            seal="S1",
            at=picked + timedelta(minutes=30),
        ),
    )
    learning = settings.model_copy(update={"plan_learn_days": 7})
    with session_scope(session_factory) as session:
        for config, expected in ((settings, 0.0), (learning, (30 - 5) / (1 + 3))):
            prepared = service.prepare(session, config, clock.day, clock.now)
            problem = prepared.problem
            assert problem.travel is not None
            codes = [site.id for site in problem.sites]
            minutes = problem.travel.matrix(problem.sites)
            # All test sites share one place: the prior is 0; one 30-minute leg (less the
            # 5-minute stop) moves it a quarter of the way.
            assert minutes[codes.index("T01")][codes.index("LAB")] == pytest.approx(expected)
            assert minutes[codes.index("LAB")][codes.index("T01")] == 0.0


def test_a_travel_matrix_file_is_used_and_a_bad_one_refused(
    settings: Settings, world: World, clock: Clock, tmp_path: Path
) -> None:
    codes = ["CH", "LAB", "CSSD", "T01", "T02"]
    matrix = tmp_path / "minutes.csv"
    rows = [",".join(["", *codes])] + [
        ",".join([a, *("0" if a == b else "25" for b in codes)]) for a in codes
    ]
    matrix.write_text("\n".join(rows) + "\n")
    for path, status in ((matrix, 202), (tmp_path / "missing.csv", 400)):
        configured = settings.model_copy(update={"plan_travel": "matrix", "plan_matrix_file": path})
        for client in app_client(configured, clock):
            staff = world.badges["clinic_staff"]
            if status == 202:
                post_scans(client, world, "T01", scan("return_used", world.tray, actor=staff))
            response = client.post(
                "/api/v1/plans",
                json={"day": clock.day.isoformat(), "time_limit": 0.5},
                headers=login(client, "dispatcher"),
            )
            assert response.status_code == status, response.text
            if status == 400:
                assert "travel times" in response.json()["detail"]
                continue
            plan = client.get(
                f"/api/v1/plans/{response.json()['id']}", headers=login(client, "dispatcher")
            ).json()
            (route,) = plan["routes"]
            # CH → T01 → CSSD → CH at 25 min a leg, as the file says (and 0 in a straight line).
            assert route["travel_minutes"] == 75
