"""Recombination: the cheapest plan made of routes already seen (routing.pool), after
independent searches (routing.recombination)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import Problem, Request, Window, check, plan
from routing.consolidation import Consolidated
from routing.elimination import Stage
from routing.model import Compiled, SearchLog, Settings
from routing.plan import _result, travel_matrix
from routing.pool import RoutePool, best_cover, recombine
from routing.recombination import applies, keys, recombined, searches, watch
from tests.routing.routing_builders import courier, matrix_problem, small_problems

# Two plans of four visits, each costing 20; A's first route with B's last makes every visit
# once for 18, with two routes.
PLAN_A = {(0, 1): 10, (2,): 5, (3,): 5}
PLAN_B = {(0,): 6, (1,): 6, (2, 3): 8}


def pool_of(*plans: dict[tuple[int, ...], int]) -> RoutePool:
    pool = RoutePool()
    for routes in plans:
        total = sum(routes.values())
        for visits, cost in routes.items():
            pool.add(visits, cost, total)
    return pool


def test_recombine_takes_the_cheapest_mix_of_routes_from_different_plans() -> None:
    pool = pool_of(PLAN_A, PLAN_B)
    cover = recombine(pool, range(4), couriers=5, plan=list(PLAN_B), cost=20, seconds=5)
    assert cover is not None
    assert cover.cost == 18
    assert sorted(cover.routes) == [(0, 1), (2, 3)]


def test_routes_of_plans_well_above_the_best_are_left_out() -> None:
    # Plan A at 22 is more than 5 % above plan B's 20, so its cheap first route (which with
    # B's last would make 18) is not combined.
    costly_a = {(0, 1): 10, (2,): 6, (3,): 6}
    pool = pool_of(costly_a, PLAN_B)
    assert recombine(pool, range(4), couriers=5, plan=list(PLAN_B), cost=20, seconds=5) is None


def test_recombine_gives_nothing_when_the_plan_is_already_the_cheapest() -> None:
    pool = pool_of(PLAN_A, PLAN_B, {(0, 1): 10, (2, 3): 8})
    assert recombine(pool, range(4), couriers=5, plan=[(0, 1), (2, 3)], cost=18, seconds=5) is None


def test_no_more_routes_than_couriers() -> None:
    # Three single-visit routes would cost 15, but only two couriers are on shift.
    pool = pool_of({(0,): 5, (1,): 5, (2,): 5}, {(0, 1): 12, (2,): 5}, {(0,): 5, (1, 2): 11})
    cover = best_cover(list(pool.routes.values()), range(3), 2, [(0, 1), (2,)], seconds=5)
    assert cover is not None
    assert cover.cost == 16
    assert sorted(cover.routes) == [(0,), (1, 2)]


def test_a_cheaper_order_of_the_same_routes_is_a_cheaper_plan() -> None:
    pool = pool_of(PLAN_B, {(0,): 6, (1,): 6, (3, 2): 7})
    cover = recombine(pool, range(4), couriers=5, plan=[(0,), (1,), (2, 3)], cost=20, seconds=5)
    assert cover is not None
    assert (cover.cost, sorted(cover.routes)) == (19, [(0,), (1,), (3, 2)])


def test_a_route_keeps_its_cheapest_order_and_best_plan() -> None:
    pool = RoutePool()
    pool.add((0, 1, 2), 30, 100)
    pool.add((2, 1, 0), 25, 120)
    pool.add((1, 0, 2), 40, 90)
    (route,) = pool.routes.values()
    assert (route.visits, route.cost, route.plan) == ((2, 1, 0), 25, 90)


def test_routes_of_plans_far_above_the_best_are_not_wanted() -> None:
    pool = RoutePool(window=0.05)
    assert pool.wants(1000)
    pool.add((0,), 10, 1000)
    assert pool.wants(1050)
    assert not pool.wants(1051)
    pool.add((1,), 10, 1040)
    assert [route.visits for route in pool.within(0.01, 1000)] == [(0,)]
    assert len(pool.within(0.05, 1000)) == 2


def deliveries_day(requests: int = 12, couriers: int = 3) -> Problem:
    """Boxes from the hospital H to points scattered on a 60-minute square, each within an
    hour and a half of its own time; identical couriers."""
    rng = random.Random(11)
    points = [(rng.uniform(0, 60), rng.uniform(0, 60)) for _ in range(requests + 1)]
    minutes = [[round(math.dist(a, b), 1) for b in points] for a in points]
    ids = ["H", *[f"S{number}" for number in range(1, requests + 1)]]
    work = []
    for number in range(1, requests + 1):
        opens = rng.choice([480, 540, 600, 660])
        window = Window(opens, opens + 90)
        work.append(Request(f"r{number}", None, ids[number], {"boxes": 1}, delivery_window=window))
    fleet = [courier(f"v{number}", capacity=requests // couriers + 2) for number in range(couriers)]
    return matrix_problem(minutes, fleet, work, ids=ids)


def test_recombination_applies_only_to_interchangeable_couriers_and_required_work() -> None:
    day = deliveries_day()
    on = Settings()
    assert applies(day, day.requests, on, 10.0)
    assert not applies(day, day.requests, replace(on, recombine_share=0.0), 10.0)
    assert not applies(day, day.requests, on, on.recombine_from / 2)
    later = replace(day.vehicles[0], shift=Window(60, 1440))
    assert not applies(replace(day, vehicles=(later, *day.vehicles[1:])), day.requests, on, 10.0)
    optional = (replace(day.requests[0], penalty=50.0), *day.requests[1:])
    assert not applies(day, optional, on, 10.0)
    bound = (replace(day.requests[0], vehicles=("v1",)), *day.requests[1:])
    assert not applies(day, bound, on, 10.0)


def test_the_time_is_split_into_searches() -> None:
    settings = Settings(recombine_search=10.0)
    assert [searches(settings, limit) for limit in (2.0, 10.0, 29.9, 30.0)] == [1, 1, 2, 3]


def test_pool_keys_name_the_same_visits_in_every_numbering() -> None:
    day = deliveries_day()
    minutes = travel_matrix(day)
    given = Compiled.numbered(day, minutes, day.requests, Settings(), 0)
    shuffled = Compiled.numbered(day, minutes, day.requests, Settings(), 7)
    assert [r.id for r in given.requests] != [r.id for r in shuffled.requests]
    node_of = {key: node for node, key in enumerate(keys(shuffled, day.requests))}
    for node, key in enumerate(keys(given, day.requests)):
        request = given.requests[given.nodes[node].request or 0]
        other = shuffled.requests[shuffled.nodes[node_of[key]].request or 0]
        assert request.id == other.id


def test_a_plan_recombined_from_another_model_is_timed_and_passes_the_checker() -> None:
    day = deliveries_day()
    minutes = travel_matrix(day)
    pool = RoutePool()
    # Another model's search fills the pool.
    searcher = Compiled.numbered(day, minutes, day.requests, Settings(), 5)
    watch(searcher, pool, day.requests)
    searched = searcher.solve(0.5, 1)
    assert searched is not None and len(pool) > 0
    # A poor plan in a model of the given numbering: its first construction.
    first_only = Settings(extra=(("solution_limit", 1),))
    compiled = Compiled.numbered(day, minutes, day.requests, first_only, 0)
    watch(compiled, pool, day.requests)
    poor = compiled.solve(1.0, 1)
    assert poor is not None and poor.objective > searched.objective
    log = SearchLog()
    best = recombined(Stage(compiled, poor), day.requests, log, 2.0)
    assert best.compiled is compiled
    assert best.solution.objective <= searched.objective
    assert log.recombined == poor.objective - best.solution.objective
    result = _result(day, compiled, best.solution, {}, Consolidated.alone(day.requests), 0.0)
    assert check(day, result) == []
    assert result.served_all


def test_a_recombining_plan_passes_the_checker() -> None:
    day = deliveries_day(requests=16)
    searching = Settings(recombine_search=0.4, recombine_share=0.05)
    result = plan(day, 1.2, 3, settings=searching)
    assert check(day, result) == []
    assert result.served_all
    assert result.stats.searches == 3
    assert result.stats.recombined >= 0
    assert 1.15 <= result.stats.seconds <= 1.6
    # Off, or on a day whose couriers differ: one search, as before.
    alone = plan(day, 1.2, 3, settings=replace(searching, recombine_share=0.0))
    assert alone.stats.searches == 1


@st.composite
def days_of_interchangeable_couriers(draw: st.DrawFn) -> Problem:
    """Small random days (routing_builders.small_problems) with every courier a copy of the
    first and every request required: the days recombination applies to."""
    problem = draw(small_problems())
    first = problem.vehicles[0]
    fleet = tuple(replace(first, id=f"v{number}") for number in range(draw(st.integers(1, 3))))
    requests = tuple(replace(r, penalty=None, vehicles=()) for r in problem.requests)
    return replace(problem, vehicles=fleet, requests=requests)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days_of_interchangeable_couriers())
def test_recombined_plans_of_random_days_pass_the_independent_checker(problem: Problem) -> None:
    searching = Settings(recombine_search=0.1, recombine_share=0.05, recombine_from=0.1)
    result = plan(problem, 0.3, seed=3, settings=searching)
    assert check(problem, result) == []
    served = {request for route in result.routes for request in route.requests}
    unserved = {item.request for item in result.unserved}
    assert served | unserved == {request.id for request in problem.requests}
    assert not served & unserved


def test_timing_routes_in_a_solved_model_warns_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    # OR-Tools writes "Model already closed" straight to the process's stderr (the server's
    # log) when a solved model is closed again; timing a recombined plan used to do that.
    day = deliveries_day()
    compiled = Compiled.numbered(day, travel_matrix(day), day.requests, Settings(), 0)
    solved = compiled.solve(0.3, 1)
    assert solved is not None
    timed = compiled.timed(solved.routes, SearchLog())
    assert timed is not None and timed.objective == solved.objective
    assert "already closed" not in capfd.readouterr().err
