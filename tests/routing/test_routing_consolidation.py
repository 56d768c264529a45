"""Identical requests planned as one consignment: grouping, limits kept, plans per request."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

from routing import Problem, Request, Window, check, plan
from routing.consolidation import Consolidated, consolidate
from routing.model import Settings
from tests.routing.routing_builders import courier, matrix_problem

# H is the hospital; A a clinic 30 minutes away; B one 50 minutes away.
LINE = [[0, 30, 50], [30, 0, 20], [50, 20, 0]]


def box(name: str, **more: object) -> Request:
    fields: dict[str, object] = {
        "load": {"boxes": 1},
        "pickup_window": Window(480, 600),
        "pickup_service": 2.0,
        "delivery_service": 3.0,
    }
    fields.update(more)
    return Request(name, "A", "H", **fields)  # type: ignore[arg-type]


def modelled(problem: Problem) -> Consolidated:
    assert problem.travel is not None  # matrix_problem gives every problem its matrix
    return consolidate(problem, problem.requests, problem.travel.matrix(problem.sites))


def test_identical_boxes_become_one_consignment_with_loads_and_handling_added() -> None:
    boxes = [box(f"b{n}") for n in range(4)]
    other = box("late", pickup_window=Window(700, 800))
    problem = matrix_problem(LINE, [courier()], [*boxes, other])
    result = modelled(problem)
    assert [request.id for request in result.requests] == ["b0", "late"]
    (together, alone) = result.requests
    assert [part.id for part in result.expand("b0")] == ["b0", "b1", "b2", "b3"]
    assert result.expand("late") == (other,)
    assert dict(together.load) == {"boxes": 4}
    assert (together.pickup_service, together.delivery_service) == (8.0, 12.0)
    # The last part's handling starts 3 x 2 minutes after the first's: the window ends earlier.
    assert together.pickup_window == Window(480, 594)
    assert alone == other


def test_what_differs_in_more_than_load_stays_apart() -> None:
    base = box("b0")
    others = [
        replace(base, id="optional", penalty=50.0),
        replace(base, id="courier-bound", vehicles=("v1",)),
        replace(base, id="elsewhere", pickup="B"),
        replace(base, id="ride", max_ride=90.0),
    ]
    problem = matrix_problem(LINE, [courier()], [base, *others])
    assert len(modelled(problem).requests) == 5


def test_a_consignment_is_split_where_its_load_would_not_fit_a_courier() -> None:
    problem = matrix_problem(LINE, [courier(capacity=2)], [box(f"b{n}") for n in range(5)])
    result = modelled(problem)
    assert [len(result.expand(request.id)) for request in result.requests] == [2, 2, 1]
    assert all(request.load["boxes"] <= 2 for request in result.requests)


def test_the_ride_limit_is_kept_for_every_part() -> None:
    # Part k waits for the deliveries before it and for the pickups after it: 2 x 2 min
    # (first part), 3 + 2 (second), 2 x 3 (third), so the consignment may ride 6 min less.
    boxes = [box(f"b{n}", max_ride=60.0) for n in range(3)]
    problem = matrix_problem(LINE, [courier()], boxes)
    (together,) = modelled(problem).requests
    assert together.max_ride == 54.0


def test_a_consignment_no_courier_could_serve_is_planned_part_by_part() -> None:
    # Each box can only just be collected in its window (the courier arrives at 8:00 sharp,
    # the window's last minute); the three together could not, since the third would start
    # four minutes late. Three couriers take one box each.
    boxes = [box(f"b{n}", pickup_window=Window(420, 480)) for n in range(3)]
    fleet = [courier(f"v{n}", shift=Window(450, 1000)) for n in range(3)]
    problem = matrix_problem(LINE, fleet, boxes)
    assert len(modelled(problem).requests) == 3
    result = plan(problem, 0.5, seed=1)
    assert check(problem, result) == []
    assert result.served_all
    assert len(result.routes) == 3


def test_the_plan_lists_every_part_with_its_own_handling_times() -> None:
    boxes = [box(f"b{n}", load={"boxes": 1, "cold_boxes": n % 2}) for n in range(4)]
    vehicle = replace(courier(), capacity={"boxes": 10, "cold_boxes": 4})
    problem = matrix_problem(LINE, [vehicle], boxes)
    result = plan(problem, 0.3, seed=1)
    assert check(problem, result) == []
    (route,) = result.routes
    clinic = next(stop for stop in route.stops if stop.site == "A")
    assert clinic.pickups == ("b0", "b1", "b2", "b3")
    starts = [handling.start for handling in clinic.handling]
    assert [b - a for a, b in pairwise(starts)] == [2.0, 2.0, 2.0]
    assert clinic.load == {"boxes": 4, "cold_boxes": 2, "crates": 0}
    hospital = next(stop for stop in route.stops if stop.deliveries)
    assert hospital.deliveries == ("b0", "b1", "b2", "b3")
    # Two visits and the courier's place, against eight visits planned one by one.
    assert result.stats.nodes == 3
    one_by_one = plan(problem, 0.3, seed=1, settings=Settings(consolidate=False))
    assert one_by_one.stats.nodes == 9
    assert one_by_one.travel_minutes == result.travel_minutes


def test_a_consignment_left_out_is_reported_part_by_part() -> None:
    # Optional boxes whose penalties together are worth less than the 100-minute round trip.
    boxes = [box(f"b{n}", penalty=10.0 + n) for n in range(3)]
    problem = matrix_problem(LINE, [courier()], boxes)
    result = plan(problem, 0.3, seed=1)
    assert result.routes == ()
    assert [item.request for item in result.unserved] == ["b0", "b1", "b2"]
    assert "penalty 11" in result.unserved[1].reason
    assert result.objective == 33.0


def test_every_part_starts_within_the_window_of_its_own() -> None:
    # The courier reaches the clinic at 8:00; the boxes' window closes at 8:03 and each takes
    # two minutes: two can be collected (8:00, 8:02), the third would start at 8:04.
    boxes = [box(f"b{n}", pickup_window=Window(420, 483)) for n in range(3)]
    problem = matrix_problem(LINE, [courier(shift=Window(450, 1000))], boxes)
    result = plan(problem, 0.5, seed=1)
    assert check(problem, result) == []
    assert len(result.unserved) == 1
    (route,) = result.routes
    clinic = next(stop for stop in route.stops if stop.site == "A")
    assert [handling.start for handling in clinic.handling] == [480.0, 482.0]
