"""Route elimination: a plan's work handed to one courier fewer (routing.elimination)."""

from __future__ import annotations

import time
from dataclasses import replace

from routing import Problem, Request, Window, check, plan
from routing.elimination import Stage, applies, candidates, search_on
from routing.model import Compiled, SearchLog, Settings, Visit
from routing.plan import travel_matrix
from tests.routing.routing_builders import courier, matrix_problem

# The hub H and three clinics 10 minutes out and 5 minutes apart.
MINUTES = [
    [0, 10, 10, 10],
    [10, 0, 5, 5],
    [10, 5, 0, 5],
    [10, 5, 5, 0],
]


def three_boxes(fixed_cost: float = 100.0, max_duration: float | None = None) -> Problem:
    """One box from each clinic to the hub; three couriers with different shifts."""
    couriers = [
        courier(
            name, shift=Window(start, start + 600), fixed_cost=fixed_cost, max_duration=max_duration
        )
        for name, start in (("early", 420), ("middle", 480), ("late", 540))
    ]
    boxes = [Request(f"box-{clinic}", clinic, "H", {"boxes": 1}) for clinic in "ABC"]
    return matrix_problem(MINUTES, couriers, boxes, services=[0, 15, 15, 15])


def one_box_each(problem: Problem, settings: Settings | None = None) -> Stage:
    """The plan in which every courier carries one box: the most couriers possible."""
    compiled = Compiled(problem, travel_matrix(problem), problem.requests, settings or Settings())
    routes = [
        [
            Visit(compiled.vehicle_start[number], 0),
            Visit(compiled.pickup_node[number], 0),
            Visit(compiled.delivery_node[number], 0),
            Visit(compiled.vehicle_end[number], 0),
        ]
        for number in range(3)
    ]
    solution = compiled.timed(routes, SearchLog())
    assert solution is not None
    return Stage(compiled, solution)


def requests_on(stage: Stage) -> list[list[str]]:
    compiled = stage.compiled
    return [
        [
            compiled.requests[node.request].id
            for visit in route
            if (node := compiled.nodes[visit.node]).request is not None
        ]
        for route in stage.solution.routes
    ]


def test_routes_carry_over_to_a_model_numbered_in_another_order() -> None:
    problem = three_boxes()
    first = one_box_each(problem)
    other = Compiled.numbered(problem, travel_matrix(problem), problem.requests, Settings(), 7)
    assert [r.id for r in other.requests] != [r.id for r in first.compiled.requests]
    timed = other.timed(
        other.carried(first.compiled, first.solution.routes, [2, 0, 1]), SearchLog()
    )
    assert timed is not None
    # Courier by courier the boxes of the order asked for, whatever the numbering.
    assert requests_on(Stage(other, timed)) == [
        ["box-C", "box-C"],
        ["box-A", "box-A"],
        ["box-B", "box-B"],
    ]


def test_candidates_are_the_routes_the_others_have_time_for_busiest_first() -> None:
    first = one_box_each(three_boxes())
    routes = first.solution.routes
    busy = [first.compiled.busy(route) for route in routes]
    assert busy[0] == busy[1] == busy[2] > 0
    assert sorted(candidates(first)) == [0, 1, 2]
    # Each route is 10 + 15 + 10 minutes of work: two couriers of 40 minutes cannot take
    # the third's, two of 60 minutes can.
    assert candidates(one_box_each(three_boxes(max_duration=40))) == []
    assert sorted(candidates(one_box_each(three_boxes(max_duration=60)))) == [0, 1, 2]


def test_elimination_hands_the_work_to_fewer_couriers_and_costs_less() -> None:
    problem = three_boxes()
    first = one_box_each(problem)
    began = time.perf_counter()
    best = search_on(first, travel_matrix(problem), problem.requests, 1, SearchLog(), began, 2.0)
    assert time.perf_counter() - began < 2.5
    # Planned in a model of fewer couriers: the elimination, not the search after it, did it
    # (a continuation keeps every courier of the model it continues).
    assert len(best.compiled.problem.vehicles) < 3
    assert best.eliminated == 3 - len(best.compiled.problem.vehicles)
    assert best.compiled.serves_required(best.solution)
    assert best.solution.objective < first.solution.objective
    assert sorted(box for route in requests_on(best) for box in set(route)) == [
        "box-A",
        "box-B",
        "box-C",
    ]


def test_elimination_is_tried_where_couriers_cost_or_visits_pair_and_time_allows() -> None:
    settings = Settings()
    assert applies(three_boxes(), settings, 10.0)
    assert applies(three_boxes(), settings, 2.0)
    assert not applies(three_boxes(), settings, 1.0)
    assert applies(three_boxes(), Settings(elimination_from=1.0), 1.0)
    # Couriers that cost nothing: tried on pickup-and-delivery pairs (Li & Lim) only, not
    # on collections for the couriers' end place (Solomon's kind of day).
    free = three_boxes(fixed_cost=0.0)
    assert applies(free, settings, 30.0)
    collections = replace(
        free, requests=tuple(replace(box, delivery=None) for box in free.requests)
    )
    assert not applies(collections, settings, 30.0)
    assert not applies(free, Settings(paired_share=1.01), 30.0)


def test_a_plan_after_elimination_names_the_couriers_that_drive() -> None:
    # The couriers' shifts differ, so a route given to the wrong courier would break its
    # shift: the checker would say so.
    problem = three_boxes()
    result = plan(problem, 1.5, 1, settings=Settings(elimination_from=1.0))
    assert check(problem, result) == []
    assert result.served_all
    assert len(result.routes) == 1
    assert result.objective == result.travel_minutes + 100


def test_a_plan_that_cannot_serve_everything_still_gets_all_its_time() -> None:
    # One courier cannot collect two boxes due at the same minute five minutes apart: the
    # planner falls back to drop options, which rules route elimination out, and the rest of
    # the time still goes to the search.
    boxes = [
        Request(f"box-{clinic}", clinic, "H", {"boxes": 1}, pickup_window=Window(600, 600))
        for clinic in "AB"
    ]
    problem = matrix_problem(MINUTES, [courier(fixed_cost=100.0)], boxes)
    began = time.perf_counter()
    result = plan(problem, 1.0, 1, settings=Settings(elimination_from=0.5))
    assert time.perf_counter() - began >= 0.9
    assert check(problem, result) == []
    assert len(result.unserved) == 1
    assert "required" in result.unserved[0].reason


def test_a_courier_a_request_is_bound_to_stays() -> None:
    # The box of clinic A may only go with the early courier (as a box already on board does
    # when re-planning), so only the middle and the late courier's routes may go; a model
    # without the early courier still builds, and can only leave that box out.
    problem = three_boxes()
    bound = replace(problem.requests[0], vehicles=("early",))
    problem = replace(problem, requests=(bound, *problem.requests[1:]))
    first = one_box_each(problem)
    assert sorted(candidates(first)) == [1, 2]
    best = search_on(
        first, travel_matrix(problem), problem.requests, 1, SearchLog(), time.perf_counter(), 1.0
    )
    assert best.compiled.serves_required(best.solution)
    early = [
        compiled_route
        for number, compiled_route in enumerate(requests_on(best))
        if best.compiled.problem.vehicles[number].id == "early"
    ]
    assert early and "box-A" in early[0]
    without_early = replace(problem, vehicles=problem.vehicles[1:])
    drops = Settings(required_as_mandatory=False)
    fewer = Compiled(without_early, travel_matrix(problem), problem.requests, drops)
    solution = fewer.solve(0.3, 0)
    assert solution is not None
    served = {box for route in requests_on(Stage(fewer, solution)) for box in route}
    assert served == {"box-B", "box-C"}


def three_shifts() -> Problem:
    """Box A can only be fetched in the early courier's shift and box C in the late one's;
    box B, whose route is the lightest, fits either."""
    couriers = [
        courier(name, shift=shift, fixed_cost=100.0)
        for name, shift in (
            ("early", Window(420, 720)),
            ("middle", Window(540, 960)),
            ("late", Window(720, 1080)),
        )
    ]
    boxes = [
        Request("box-A", "A", "H", {"boxes": 1}, pickup_window=Window(430, 480), pickup_service=30),
        Request("box-B", "B", "H", {"boxes": 1}, pickup_window=Window(540, 960), pickup_service=5),
        Request(
            "box-C", "C", "H", {"boxes": 1}, pickup_window=Window(1000, 1040), pickup_service=30
        ),
    ]
    return matrix_problem(MINUTES, couriers, boxes)


def test_while_attempts_fail_the_next_courier_is_tried_rather_than_searching_on() -> None:
    # Eliminating the early or the late courier fails; the middle one's route, tried last
    # (the lightest), is the one that can go.
    problem = three_shifts()
    first = one_box_each(problem)
    assert [first.compiled.problem.vehicles[n].id for n in candidates(first)] == [
        "early",
        "late",
        "middle",
    ]
    # As if the first search had used its 30 % of a 2 s plan (and a little more): two
    # failed attempts of 0.4 s leave 0.7 s, less than an attempt and the 20 % kept after a
    # success, but enough for a third attempt with the 5 % kept while all have failed.
    began = time.perf_counter() - 0.5
    best = search_on(first, travel_matrix(problem), problem.requests, 1, SearchLog(), began, 2.0)
    assert best.eliminated == 1
    assert [vehicle.id for vehicle in best.compiled.problem.vehicles] == ["early", "late"]
    assert best.compiled.serves_required(best.solution)


def test_a_model_whose_couriers_end_before_a_window_opens_leaves_that_visit_out() -> None:
    # Route elimination's model without the late courier: box C's window opens after every
    # remaining shift has ended. The model builds (it used to fail: "CP Solver fail") and,
    # with drop options, plans the rest.
    problem = three_shifts()
    fewer = replace(problem, vehicles=problem.vehicles[:2])
    compiled = Compiled(fewer, travel_matrix(problem), problem.requests, Settings().with_drops())
    solution = compiled.solve(0.2, 1)
    assert solution is not None
    served = {compiled.requests[number].id for number in compiled.served(solution.routes)}
    assert served == {"box-A", "box-B"}
