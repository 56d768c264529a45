"""The independent checker finds what a broken plan breaks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from routing import Plan, Problem, Request, Window, check, plan
from tests.routing.routing_builders import courier, matrix_problem

LINE = [[abs(i - j) * 10 for j in range(4)] for i in range(4)]


@pytest.fixture(scope="module")
def solved() -> tuple[Problem, Plan]:
    problem = matrix_problem(
        LINE,
        [courier(capacity=3, shift=Window(420, 1000))],
        [
            Request("box", "C", "A", {"boxes": 2}, max_ride=40, delivery_window=Window(0, 600)),
            Request("pack", None, "B", {"boxes": 1}),
        ],
    )
    result = plan(problem, 0.3, seed=1)
    assert check(problem, result) == []
    assert result.served_all
    return problem, result


def messages(problem: Problem, result: Plan) -> str:
    return " | ".join(str(v) for v in check(problem, result))


def test_a_stop_reached_faster_than_travel_allows(solved: tuple[Problem, Plan]) -> None:
    problem, result = solved
    route = result.routes[0]
    stops = list(route.stops)
    stops[1] = replace(stops[1], arrival=stops[0].departure + 1)
    broken = replace(result, routes=(replace(route, stops=tuple(stops)),))
    assert "reached at" in messages(problem, broken)


def test_delivery_before_pickup(solved: tuple[Problem, Plan]) -> None:
    problem, result = solved
    route = result.routes[0]
    middle = tuple(reversed(route.stops[1:-1]))
    broken = replace(
        result, routes=(replace(route, stops=(route.stops[0], *middle, route.stops[-1])),)
    )
    text = messages(problem, broken)
    assert "delivered before it was picked up" in text or "reached at" in text


def test_a_request_silently_dropped(solved: tuple[Problem, Plan]) -> None:
    problem, result = solved
    assert "handled as nothing" in messages(problem, replace(result, routes=()))


def test_over_capacity(solved: tuple[Problem, Plan]) -> None:
    problem, result = solved
    smaller = replace(problem, vehicles=(courier(capacity=1, shift=Window(420, 1000)),))
    assert "on board" in messages(smaller, result)


def test_a_window_missed(solved: tuple[Problem, Plan]) -> None:
    problem, result = solved
    box = replace(problem.requests[0], delivery_window=Window(0, 400))
    tighter = replace(problem, requests=(box, problem.requests[1]))
    assert "outside its window" in messages(tighter, result)


def test_a_ride_too_long(solved: tuple[Problem, Plan]) -> None:
    problem, result = solved
    box = replace(problem.requests[0], max_ride=5)
    tighter = replace(problem, requests=(box, problem.requests[1]))
    assert "rides" in messages(tighter, result)


def test_a_shift_overrun(solved: tuple[Problem, Plan]) -> None:
    problem, result = solved
    shorter = replace(problem, vehicles=(replace(problem.vehicles[0], max_duration=10),))
    assert "lasts" in messages(shorter, result)


def test_served_and_unserved_at_once(solved: tuple[Problem, Plan]) -> None:
    problem, result = solved
    from routing import Unserved

    broken = replace(result, unserved=(Unserved("box", "because"),))
    assert "listed as unserved but handled" in messages(problem, broken)
