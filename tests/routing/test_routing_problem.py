"""Problem validation: clear errors naming the field; explicit time conversions."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from routing import (
    Problem,
    ProblemError,
    Request,
    Site,
    Window,
    at_minutes,
    clock,
    minutes_since_midnight,
    plan,
)
from tests.routing.routing_builders import courier, matrix_problem

LINE = [[abs(i - j) * 10 for j in range(3)] for i in range(3)]
SHANGHAI = timezone(timedelta(hours=8))


def good() -> Problem:
    return matrix_problem(LINE, [courier()], [Request("r1", "A", "B", {"boxes": 1})])


def with_request(**changes: object) -> Problem:
    problem = good()
    return replace(problem, requests=(replace(problem.requests[0], **changes),))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        (replace(good(), vehicles=()), "vehicles: at least one courier"),
        (replace(good(), sites=(*good().sites, Site("A", 0, 0))), "sites: duplicate id 'A'"),
        (with_request(pickup="Z"), "request 'r1'.pickup: unknown site 'Z'"),
        (with_request(pickup=None, delivery=None), "request 'r1': needs a pickup site"),
        (with_request(load={"pallets": 1}), "request 'r1'.load: unknown dimension 'pallets'"),
        (with_request(load={"boxes": 1.5}), r"request 'r1'.load\['boxes'\] must be an integer"),
        (with_request(load={"boxes": -1}), r"request 'r1'.load\['boxes'\] must be >= 0"),
        (with_request(pickup_window=Window(600, 500)), "request 'r1'.pickup_window: start 600"),
        (with_request(delivery_service=-3), "request 'r1'.delivery_service must be >= 0"),
        (with_request(max_ride=math.nan), "request 'r1'.max_ride must be a finite number"),
        (with_request(delivery=None, max_ride=30), "request 'r1'.max_ride needs both"),
        (with_request(penalty=-1), "request 'r1'.penalty must be >= 0"),
        (replace(good(), vehicles=(courier(home="Q"),)), "vehicle 'v1'.start: unknown site 'Q'"),
        (
            replace(good(), vehicles=(replace(courier(), shift=Window(900, 800)),)),
            "vehicle 'v1'.shift: start 900 is after end 800",
        ),
        (
            replace(good(), vehicles=(replace(courier(), capacity={"boxes": -2}),)),
            r"vehicle 'v1'.capacity\['boxes'\] must be >= 0",
        ),
        (
            replace(good(), sites=(replace(good().sites[0], service=math.inf), *good().sites[1:])),
            "site 'H'.service must be a finite number",
        ),
        (replace(good(), ticks_per_minute=0), "ticks_per_minute must be >= 1"),
        (replace(good(), requests=good().requests * 2), "requests: duplicate id 'r1'"),
    ],
)
def test_bad_input_names_the_field(problem: Problem, message: str) -> None:
    with pytest.raises(ProblemError, match=message):
        problem.validate()
    with pytest.raises(ProblemError, match=message):
        plan(problem, 0.1)


def test_a_good_problem_validates() -> None:
    good().validate()


def test_huge_values_warn() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with_request(pickup_service=3e7).validate()
    assert any("are these seconds?" in str(w.message) for w in caught)


def test_problem_error_is_a_value_error() -> None:
    assert issubclass(ProblemError, ValueError)


def test_aware_datetimes_convert_explicitly() -> None:
    day = date(2026, 11, 20)
    moment = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    assert minutes_since_midnight(moment, day, SHANGHAI) == 570
    assert at_minutes(day, 570, SHANGHAI) == moment
    with pytest.raises(ProblemError, match="naive datetime"):
        minutes_since_midnight(datetime(2026, 11, 20, 9, 30), day, SHANGHAI)


@pytest.mark.parametrize(
    ("minutes", "text"), [(0, "00:00"), (570.4, "09:30"), (1439.6, "00:00+1d"), (1500, "01:00+1d")]
)
def test_clock(minutes: float, text: str) -> None:
    assert clock(minutes) == text
