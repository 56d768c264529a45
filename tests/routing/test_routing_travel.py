"""Travel-time providers: straight line, matrix files, an OSRM table service, learnt legs."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from routing import (
    Learned,
    Leg,
    Matrix,
    MatrixFile,
    OsrmTable,
    Problem,
    Request,
    Scan,
    Site,
    StraightLine,
    TravelError,
    Vehicle,
    Window,
    check,
    legs_from_scans,
    plan,
)

HOSPITAL = Site("CH", 30.0, 114.0)
TOWNSHIP = Site("T01", 30.2, 114.1)


class TestStraightLine:
    def test_defaults_are_the_demo_county_ones(self) -> None:
        from server import demo

        line = StraightLine()
        assert (line.road_factor, line.speed_kmh) == (demo.ROAD_FACTOR, demo.SPEED_KMH)

    def test_kilometres_times_road_factor_at_speed(self) -> None:
        north = Site("N", 30.0 + 10 / 111.0, 114.0)
        line = StraightLine()
        assert line.kilometres(HOSPITAL, north) == pytest.approx(10.0)
        assert line.minutes(HOSPITAL, north) == pytest.approx(10 * 1.35 / 42 * 60)

    def test_matrix_is_square_and_zero_on_the_diagonal(self) -> None:
        matrix = StraightLine(road_factor=1.2, speed_kmh=60).matrix([HOSPITAL, TOWNSHIP])
        assert matrix[0][0] == matrix[1][1] == 0
        assert matrix[0][1] == pytest.approx(matrix[1][0])

    @pytest.mark.parametrize(
        "kwargs", [{"road_factor": 0.9}, {"speed_kmh": 0}, {"speed_kmh": math.inf}]
    )
    def test_bad_parameters(self, kwargs: dict[str, float]) -> None:
        with pytest.raises(TravelError):
            StraightLine(**kwargs)


class TestMatrixFile:
    def write(self, tmp_path: Path, text: str) -> Path:
        path = tmp_path / "minutes.csv"
        path.write_text(text, encoding="utf-8")
        return path

    def test_reads_a_csv_and_answers_for_the_sites_asked(self, tmp_path: Path) -> None:
        path = self.write(tmp_path, ",CH,T01,T02\nCH,0,25,40\nT01,26,0,18.5\nT02,41,19,0\n")
        provider = MatrixFile(path)
        assert provider.matrix([TOWNSHIP, HOSPITAL]) == [[0, 26], [25, 0]]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (",CH,T01\nCH,0,25\nT02,3,0\n", "row for 'T02', expected 'T01'"),
            (",CH,T01\nCH,0,x\nT01,3,0\n", "could not convert"),
            (",CH,T01\nCH,0,-4\nT01,3,0\n", "must be a finite number >= 0"),
            (",CH,T01\nCH,0,4\n", "1 rows for 2 sites"),
            ("", "empty matrix file"),
        ],
    )
    def test_bad_files_say_what_is_wrong(self, tmp_path: Path, text: str, message: str) -> None:
        with pytest.raises(TravelError, match=message):
            MatrixFile(self.write(tmp_path, text)).matrix([HOSPITAL])

    def test_a_missing_site(self, tmp_path: Path) -> None:
        path = self.write(tmp_path, ",CH\nCH,0\n")
        with pytest.raises(TravelError, match="no row for site"):
            MatrixFile(path).matrix([HOSPITAL, TOWNSHIP])

    def test_a_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(TravelError, match="cannot read"):
            MatrixFile(tmp_path / "nope.csv").matrix([HOSPITAL])


class _FakeOsrm(BaseHTTPRequestHandler):
    """The table endpoint of OSRM: durations in seconds, 60 s per 0.01 degree moved."""

    unreachable: ClassVar[set[int]] = set()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.split("/")
        if parts[1:4] != ["table", "v1", "driving"] or "annotations" not in parse_qs(url.query):
            return self.answer(400, {"code": "InvalidUrl", "message": "bad url"})
        points = [tuple(map(float, pair.split(","))) for pair in parts[4].split(";")]
        durations = [
            [
                None
                if {i, j} & self.unreachable and i != j
                else round(6000 * (abs(a[0] - b[0]) + abs(a[1] - b[1])), 1)
                for j, b in enumerate(points)
            ]
            for i, a in enumerate(points)
        ]
        self.answer(200, {"code": "Ok", "durations": durations})

    def answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def osrm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOsrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    _FakeOsrm.unreachable = set()


class TestOsrmTable:
    def test_durations_become_minutes(self, osrm: str) -> None:
        matrix = OsrmTable(osrm).matrix([HOSPITAL, TOWNSHIP])
        assert matrix[0][0] == 0
        assert matrix[0][1] == pytest.approx(6000 * 0.3 / 60)

    def test_a_shared_client_is_used(self, osrm: str) -> None:
        with httpx.Client() as client:
            assert OsrmTable(osrm + "/", client=client).matrix([HOSPITAL])[0][0] == 0

    def test_no_route_is_an_error_not_a_guess(self, osrm: str) -> None:
        _FakeOsrm.unreachable = {1}
        with pytest.raises(TravelError, match="no route from 'CH' to 'T01'"):
            OsrmTable(osrm).matrix([HOSPITAL, TOWNSHIP])

    def test_an_error_answer_carries_its_message(self, osrm: str) -> None:
        with pytest.raises(TravelError, match="HTTP 400: bad url"):
            OsrmTable(osrm, profile="bike").matrix([HOSPITAL])

    def test_a_service_that_is_down(self) -> None:
        with pytest.raises(TravelError, match=r"OSRM table at http://127\.0\.0\.1:9"):
            OsrmTable("http://127.0.0.1:9", timeout=1).matrix([HOSPITAL])

    def test_the_planner_uses_it(self, osrm: str) -> None:
        problem = Problem(
            (HOSPITAL, TOWNSHIP),
            (Vehicle("v1", "CH", "CH", Window(420, 1020), {"boxes": 5}),),
            (Request("box", "T01", "CH", {"boxes": 1}),),
            travel=OsrmTable(osrm),
        )
        result = plan(problem, 0.2)
        assert result.travel_minutes == pytest.approx(60.0)
        assert check(problem, result) == []


class TestLearned:
    prior = Matrix.of(["CH", "T01"], [[0, 10], [10, 0]])

    def test_no_observation_keeps_the_prior(self) -> None:
        assert Learned(self.prior, ()).matrix([HOSPITAL, TOWNSHIP]) == [[0, 10], [10, 0]]

    def test_blend_weight_is_n_over_n_plus_k(self) -> None:
        one = Learned(self.prior, (Leg("CH", "T01", 22),), k=3)
        assert one.matrix([HOSPITAL, TOWNSHIP])[0][1] == pytest.approx(10 + 0.25 * 12)
        many = Learned(self.prior, tuple(Leg("CH", "T01", 22) for _ in range(9)), k=3)
        assert many.matrix([HOSPITAL, TOWNSHIP])[0][1] == pytest.approx(10 + 0.75 * 12)
        assert many.matrix([HOSPITAL, TOWNSHIP])[1][0] == 10  # directions are separate

    def test_the_median_ignores_a_detour_and_service_is_taken_off(self) -> None:
        township = Site("T01", 30.2, 114.1, service=4)
        legs = (Leg("CH", "T01", 20), Leg("CH", "T01", 21), Leg("CH", "T01", 95))
        learned = Learned(self.prior, legs, k=1)
        assert learned.matrix([HOSPITAL, township])[0][1] == pytest.approx(0.75 * 17 + 0.25 * 10)

    def test_legs_from_custody_scans(self) -> None:
        t = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
        scans = [
            Scan("c1", "CH", t),
            Scan("c1", "CH", t + timedelta(minutes=5)),
            Scan("c2", "T09", t + timedelta(minutes=7)),
            Scan("c1", "T01", t + timedelta(minutes=30)),
            Scan("c1", "T02", t + timedelta(minutes=300)),  # the next day's work, not a leg
        ]
        assert legs_from_scans(scans) == [Leg("CH", "T01", 25.0)]

    def test_naive_scan_times_are_refused(self) -> None:
        with pytest.raises(TravelError, match="naive"):
            legs_from_scans([Scan("c1", "CH", datetime(2026, 11, 20, 8, 0))])
