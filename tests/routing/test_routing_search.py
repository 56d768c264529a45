"""The search settings reach OR-Tools as measured: scale-free temperatures, slow operators off
(more of them when most visits are pickup-and-delivery pairs, where each ruin-and-recreate is
judged without a descent), the bandit operator order, no capacity dimension that cannot bind;
restarts keep the best of their searches within the time limit; a search can start from given
routes and improve on them; and a solved model does not outlive its planner."""

from __future__ import annotations

import gc
import math
import random
import weakref
from collections.abc import Callable
from dataclasses import replace

import pytest
from ortools.util import optional_boolean_pb2

from routing import Problem, Request, plan
from routing.model import (
    PAIRED_SLOW_OPERATORS,
    SLOW_OPERATORS,
    Compiled,
    Settings,
    Solution,
    Visit,
)
from routing.plan import travel_matrix
from routing.problem import paired_share
from tests.routing.routing_builders import courier, matrix_problem

MINUTES = [[0, 5, 7], [5, 0, 10], [7, 30, 0]]


PAIR = Request("r1", "A", "B", {"boxes": 1})


def compiled(
    ticks_per_minute: int, settings: Settings | None = None, requests: tuple[Request, ...] = (PAIR,)
) -> Compiled:
    problem = matrix_problem(MINUTES, [courier()], requests)
    problem = replace(problem, ticks_per_minute=ticks_per_minute)
    return Compiled(problem, travel_matrix(problem), problem.requests, settings or Settings())


def test_the_mean_arc_cost_is_over_pairs_of_visits() -> None:
    # Visits at A and B: (A,A) 0, (A,B) 10, (B,A) 30, (B,B) 0 minutes, at 60 ticks a minute.
    assert compiled(60).mean_arc_cost() == (10 + 30) * 60 / 4


def test_temperatures_follow_the_travel_cost_not_its_unit() -> None:
    annealing = {}
    for ticks in (1, 60):
        ils = compiled(ticks).parameters(10.0).iterated_local_search_parameters
        annealing[ticks] = ils.reference_solution_acceptance_strategy.simulated_annealing
    assert not annealing[60].automatic_temperatures
    assert annealing[60].initial_temperature == 0.5 * 600
    assert annealing[60].final_temperature == 0.005 * 600
    assert annealing[60].initial_temperature == 60 * annealing[1].initial_temperature


def test_automatic_temperatures_stay_available() -> None:
    ils = compiled(60, Settings(temperatures=None)).parameters(10.0)
    annealing = ils.iterated_local_search_parameters.reference_solution_acceptance_strategy
    assert annealing.simulated_annealing.automatic_temperatures


def test_the_slow_operators_are_off_by_default_and_can_come_back() -> None:
    operators = compiled(60).parameters(10.0).local_search_operators
    off = optional_boolean_pb2.BOOL_FALSE
    assert all(getattr(operators, name) == off for name in SLOW_OPERATORS)
    assert operators.use_relocate != off
    back = Settings(disabled_operators=())
    operators = compiled(60, back).parameters(10.0).local_search_operators
    assert all(getattr(operators, name) != off for name in SLOW_OPERATORS)


def operators_off(requests: tuple[Request, ...], settings: Settings | None = None) -> set[str]:
    operators = compiled(60, settings, requests).parameters(10.0).local_search_operators
    off = optional_boolean_pb2.BOOL_FALSE
    return {f.name for f in operators.DESCRIPTOR.fields if getattr(operators, f.name) == off}


def test_paired_problems_leave_out_the_operators_that_break_pairs() -> None:
    single = Request("s1", None, "B", {"boxes": 1})
    collection = Request("s2", "A", None, {"boxes": 1})
    another = Request("s3", None, "A", {"boxes": 1})
    assert paired_share(compiled(60).requests) == 1.0
    assert paired_share(compiled(60, requests=(PAIR, single, collection)).requests) == 0.5
    assert paired_share(compiled(60, requests=(single, collection)).requests) == 0.0

    assert set(PAIRED_SLOW_OPERATORS) <= operators_off((PAIR, single, collection))
    # Single pickups and deliveries keep every operator a plain VRP needs.
    assert not set(PAIRED_SLOW_OPERATORS) & operators_off((PAIR, single, collection, another))
    assert not set(PAIRED_SLOW_OPERATORS) & operators_off((single, collection))
    # The pair moves that stay: light pair relocation, subtrips, pair exchange.
    kept = {"use_light_relocate_pair", "use_relocate_subtrip", "use_exchange_pair"}
    assert not kept & operators_off((PAIR,))
    # The threshold is a setting: above 1, no problem counts as paired.
    assert not set(PAIRED_SLOW_OPERATORS) & operators_off((PAIR,), Settings(paired_share=1.1))


def test_paired_problems_judge_each_ruin_and_recreate_without_a_descent() -> None:
    def improved(requests: tuple[Request, ...], settings: Settings | None = None) -> bool:
        ils = compiled(60, settings, requests).parameters(10.0).iterated_local_search_parameters
        return bool(ils.improve_perturbed_solution)

    single = Request("s1", None, "B", {"boxes": 1})
    collection = Request("s2", "A", None, {"boxes": 1})
    assert compiled(60).paired and not compiled(60, requests=(single, collection)).paired
    assert not improved((PAIR,))
    assert improved((single, collection))
    assert improved((PAIR,), Settings(paired_improve_perturbed=True))


def test_a_load_that_always_fits_gets_no_capacity_dimension() -> None:
    # The courier carries 10 boxes: one box can never overload it, eleven can.
    fits = compiled(60)
    assert "boxes" not in fits.model.GetAllDimensionNames()
    heavy = Request("r2", "A", "B", {"boxes": 10})
    assert "boxes" in compiled(60, requests=(PAIR, heavy)).model.GetAllDimensionNames()


def test_a_solved_model_is_freed_with_its_planner() -> None:
    # OR-Tools holds the at-solution callback in C++, where Python's garbage collector cannot
    # see it: a callback holding the model kept every solved model alive (about 9 MB per
    # county day, gigabytes over a day of re-planning).
    solved = compiled(60)
    solution = solved.solve(0.2, 0)
    assert solution is not None and solution.log.solutions > 0
    model = weakref.ref(solved.model)
    del solved
    gc.collect()
    assert model() is None


def test_the_descent_orders_its_operators_by_bandit_unless_told_not_to() -> None:
    assert compiled(60).parameters(10.0).use_multi_armed_bandit_concatenate_operators
    fixed = Settings(bandit_operator_order=False)
    assert not compiled(60, fixed).parameters(10.0).use_multi_armed_bandit_concatenate_operators


def scattered_day(sites: int = 12, requests: int = 10, paired: bool = False) -> Problem:
    """Deliveries from the hospital H (or, ``paired``, requests between two points) to points
    scattered on a 60-minute square, two couriers."""
    rng = random.Random(7)
    points = [(rng.uniform(0, 60), rng.uniform(0, 60)) for _ in range(sites)]
    minutes = [[round(math.dist(a, b), 1) for b in points] for a in points]
    ids = ["H", *[f"S{number}" for number in range(1, sites)]]
    work = [
        Request(
            f"r{number}",
            ids[1 + number % (sites - 1)] if paired else None,
            ids[1 + (3 * number + 1) % (sites - 1)],
            {"boxes": 1},
        )
        for number in range(requests)
    ]
    return matrix_problem(minutes, [courier("v1"), courier("v2")], work, ids=ids)


def test_restarts_keep_the_best_of_their_searches() -> None:
    # A solution limit of 1 stops each search at its first solution, which (with local
    # cheapest insertion) depends only on the request order, i.e. on the seed: deterministic,
    # whatever the machine's speed. Paired requests make it depend on the order; the
    # paired share is raised so that they still get restarts.
    problem = scattered_day(paired=True)
    first_only = Settings(
        first_solution="LOCAL_CHEAPEST_INSERTION",
        paired_share=1.01,
        recombine_share=0.0,  # the best single search, not a mix of their routes
        extra=(("solution_limit", 1),),
    )
    singles = [plan(problem, 5.0, seed, settings=first_only).objective for seed in range(1, 6)]
    assert len(set(singles)) > 1, "the request order should change the first solution"
    best = plan(problem, 5.0, 1, settings=replace(first_only, restarts=5, search_seconds=1.0))
    assert best.objective == min(singles)
    assert best.stats.searches == 5
    assert best.stats.best_search == singles.index(min(singles))
    assert best.stats.solutions == 5


def test_restarts_share_the_time_limit() -> None:
    problem = scattered_day()
    result = plan(problem, 0.6, 1, settings=Settings(restarts=3, search_seconds=0.2))
    assert result.stats.searches == 3
    assert 0.55 <= result.stats.seconds <= 0.9
    assert result.served_all


def test_a_short_time_limit_gets_one_search() -> None:
    # Searches shorter than search_seconds do worse than one search of the whole limit.
    settings = Settings(restarts=3, search_seconds=10.0)
    assert plan(scattered_day(), 0.3, 1, settings=settings).stats.searches == 1
    two = plan(scattered_day(), 0.3, 1, settings=replace(settings, search_seconds=0.15))
    assert two.stats.searches == 2


def test_mostly_paired_problems_get_one_long_search() -> None:
    # Measured: on Li & Lim one 30 s search beats the best of two of 10 s.
    settings = Settings(restarts=3, search_seconds=0.1)
    assert plan(scattered_day(paired=True), 0.6, 1, settings=settings).stats.searches == 1
    assert plan(scattered_day(), 0.6, 1, settings=settings).stats.searches == 3


def test_restarts_must_be_a_positive_count() -> None:
    with pytest.raises(ValueError, match="restarts must be an integer >= 1"):
        plan(scattered_day(), 1.0, 1, settings=Settings(restarts=0))
    with pytest.raises(ValueError, match="search_seconds must be > 0"):
        plan(scattered_day(), 1.0, 1, settings=Settings(search_seconds=0))


@pytest.mark.parametrize("temperatures", [(0.005, 0.5), (0.5, 0.0), (-1.0, -2.0)])
def test_annealing_must_cool(temperatures: tuple[float, float]) -> None:
    with pytest.raises(
        ValueError, match=r"temperatures must be \(start, end\) with start >= end > 0"
    ):
        plan(scattered_day(), 1.0, 1, settings=Settings(temperatures=temperatures))


def first_plan_only(problem: Problem) -> Compiled:
    """The model of ``problem`` with a search that stops at its first plan."""
    settings = Settings(extra=(("solution_limit", 1),))
    return Compiled(problem, travel_matrix(problem), problem.requests, settings)


def all_on_the_second_courier(
    built: Solution, order: Callable[[list[Visit]], None]
) -> list[tuple[Visit, ...]]:
    """``built``'s visits all on the second of its two couriers, rearranged by ``order``."""
    visits = [visit for route in built.routes for visit in route[1:-1]]
    order(visits)
    first, second = built.routes
    return [(first[0], first[-1]), (second[0], *visits, second[-1])]


def test_a_search_can_start_from_given_routes() -> None:
    # The first plan of a search stopped at one solution is the start it was given, not the
    # one its construction builds: every delivery on the second courier, in reverse.
    problem = scattered_day()
    built = first_plan_only(problem).solve(5.0, 0)
    assert built is not None
    start = all_on_the_second_courier(built, list.reverse)
    solution = first_plan_only(problem).solve(5.0, 0, start=start)
    assert solution is not None
    assert [[v.node for v in route] for route in solution.routes] == [
        [v.node for v in route] for route in start
    ]
    assert [[v.node for v in route] for route in built.routes] != [
        [v.node for v in route] for route in start
    ]


def test_a_search_from_given_routes_then_improves_on_them() -> None:
    problem = scattered_day()
    built = first_plan_only(problem).solve(5.0, 0)
    assert built is not None
    # Every delivery on the second courier in a shuffled order: a poor plan to start from.
    start = all_on_the_second_courier(built, random.Random(3).shuffle)
    locked = first_plan_only(problem).solve(5.0, 0, start=start)
    searching = Compiled(problem, travel_matrix(problem), problem.requests, Settings())
    improved = searching.solve(0.5, 0, start=start)
    assert locked is not None and improved is not None
    assert improved.objective < locked.objective
    assert improved.log.improvements[0][1] == locked.objective


def test_routes_that_are_not_a_plan_are_refused_as_a_start() -> None:
    problem = scattered_day()
    built = first_plan_only(problem).solve(5.0, 0)
    assert built is not None
    twice = built.routes[0][1]
    start = [built.routes[0], (built.routes[1][0], twice, built.routes[1][-1])]
    with pytest.raises(ValueError, match="not a plan of this model"):
        first_plan_only(problem).solve(5.0, 0, start=start)


def test_a_continuation_anneals_over_its_part_of_the_cooling() -> None:
    mean = compiled(60).mean_arc_cost()
    ils = compiled(60).parameters(10.0, cooling=(0.5, 1)).iterated_local_search_parameters
    annealing = ils.reference_solution_acceptance_strategy.simulated_annealing
    assert annealing.initial_temperature == pytest.approx(math.sqrt(0.5 * 0.005) * mean)
    assert annealing.final_temperature == pytest.approx(0.005 * mean)


def test_a_model_solved_twice_counts_each_search_once() -> None:
    model = first_plan_only(scattered_day())
    assert model.solve(5.0, 0) is not None
    again = model.solve(5.0, 0)
    assert again is not None and again.log.solutions == 1
