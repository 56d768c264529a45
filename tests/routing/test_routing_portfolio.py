"""Searches on other cores: one plan() call running several searches in worker processes
(routing.portfolio). Real processes, no mocks: a helper that dies is killed with SIGKILL."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from routing import Problem, Request, Site, StraightLine, Vehicle, Window, check, plan, portfolio
from routing.model import Settings

# A search stopped after three solutions is reproducible for a seed (in any process).
THREE_SOLUTIONS = Settings(extra=(("solution_limit", 3),))


def busy_day() -> Problem:
    """Thirty boxes between ten clinics for four couriers: big enough for two searches to
    end in different plans after a few solutions."""
    rng = random.Random(5)
    sites = [Site("H", 30.0, 114.0)] + [
        Site(
            f"T{number}",
            30 + rng.uniform(-0.2, 0.2),
            114 + rng.uniform(-0.2, 0.2),
            Window(480, 1050),
            4,
        )
        for number in range(10)
    ]
    couriers = tuple(
        Vehicle(f"C{number}", "H", "H", Window(420, 1080), {"boxes": 6}, fixed_cost=60)
        for number in range(4)
    )
    boxes = []
    for number in range(30):
        pickup, delivery = rng.sample(sites[1:], 2)
        ready = rng.choice((480, 600, 720, 840))
        boxes.append(
            Request(
                f"R{number}",
                pickup.id,
                delivery.id,
                {"boxes": 1},
                pickup_window=Window(ready, ready + 90),
                max_ride=120,
            )
        )
    return Problem(tuple(sites), couriers, tuple(boxes), travel=StraightLine())


@pytest.fixture(scope="module", autouse=True)
def worker_processes() -> Any:
    portfolio.warm(2)
    yield
    portfolio.shutdown()


@pytest.mark.parametrize("seed", [1, 2])
def test_two_searches_return_the_cheaper_plan_of_the_two(seed: int) -> None:
    problem = busy_day()
    alone = [
        plan(problem, 30, other, settings=THREE_SOLUTIONS).objective
        for other in (seed, *portfolio.seeds(seed, 2))
    ]
    # Seed 1: the other process's search is the cheaper; seed 2: this process's.
    assert alone[0] != alone[1]
    both = plan(problem, 30, seed, settings=THREE_SOLUTIONS, workers=2)
    assert both.objective == min(alone)
    assert both.stats.processes == 2
    assert both.stats.best_process == alone.index(min(alone))
    assert check(problem, both) == []
    assert both.served_all


def test_the_other_searches_follow_the_plans_route_elimination() -> None:
    # A plan of exactly elimination_from seconds tries route elimination. Its other search
    # starts a moment later, with a moment less than that: it must follow the plan's
    # decision, not judge its own time left. Alone (searches stopped by solution counts, so
    # reproducible), seed 4 eliminates a courier to 1378.2 and the other search's seed to
    # 1301.5; without elimination that search ends elsewhere.
    settings = Settings(elimination_from=30.0, extra=(("solution_limit", 30),))
    problem = busy_day()
    other = portfolio.seeds(4, 2)[0]
    alone = plan(problem, 30, other, settings=settings)
    assert alone.stats.eliminated == 1
    kept = plan(problem, 30, other, settings=replace(settings, elimination_from=31.0))
    assert kept.stats.eliminated == 0 and kept.objective != alone.objective
    both = plan(problem, 30, 4, settings=settings, workers=2)
    assert both.stats.best_process == 1
    assert both.stats.eliminated == 1
    assert both.objective == alone.objective
    assert check(problem, both) == [] and both.served_all


def test_a_helper_that_dies_leaves_the_plan_to_this_process_and_is_replaced() -> None:
    problem = busy_day()
    helpers = {child.pid for child in multiprocessing.active_children()}
    assert helpers, "warm() started a worker process"
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(plan(problem, 3.0, 1, workers=2)))
    worker.start()
    time.sleep(1.0)
    for pid in helpers:
        assert pid is not None  # an active child has been started
        os.kill(pid, signal.SIGKILL)  # the other search is lost mid-way
    worker.join()
    (result,) = results
    assert result.stats.best_process == 0
    assert result.served_all and check(problem, result) == []
    assert result.stats.seconds < 3.0 + portfolio.GRACE
    # The next plan starts fresh worker processes and uses them.
    again = plan(problem, 30, 1, settings=THREE_SOLUTIONS, workers=2)
    assert again.stats.best_process == 1
    fresh = {child.pid for child in multiprocessing.active_children()}
    assert fresh and not fresh & helpers


def plan_in_a_daemon(results: Any) -> None:
    portfolio.warm(2)  # as the server does when it starts: logs, does not raise
    result = plan(busy_day(), 30, 1, settings=THREE_SOLUTIONS, workers=2)
    outcome = (result.stats.processes, result.served_all, check(busy_day(), result))
    results.put((portfolio.warmed(), *outcome))


def test_a_process_that_may_not_start_others_plans_alone() -> None:
    # A daemonic process may not have children: no other search, and no failed plan.
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    daemon = context.Process(target=plan_in_a_daemon, args=(results,), daemon=True)
    daemon.start()
    try:
        assert results.get(timeout=120) == (0, 1, True, [])
    finally:
        daemon.join(timeout=30)


def warm_and_wait(results: Any) -> None:
    portfolio.warm(2)
    results.put([child.pid for child in multiprocessing.active_children()])
    time.sleep(300)


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_helpers_go_when_the_process_that_started_them_is_killed() -> None:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    starter = context.Process(target=warm_and_wait, args=(results,))
    starter.start()
    helpers = results.get(timeout=120)
    assert helpers and all(running(pid) for pid in helpers)
    assert starter.pid is not None  # started above
    os.kill(starter.pid, signal.SIGKILL)  # no exit handlers run
    starter.join()
    gone_by = time.monotonic() + 10 * portfolio.PARENT_CHECK
    while any(running(pid) for pid in helpers) and time.monotonic() < gone_by:
        time.sleep(0.1)
    left = [pid for pid in helpers if running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # so that a failure leaves nothing behind
    assert left == []


def test_workers_must_be_a_positive_whole_number() -> None:
    problem = busy_day()
    for workers in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="workers must be an integer >= 1"):
            plan(problem, 1, 1, workers=workers)  # type: ignore[arg-type]


def test_seeds_of_the_other_searches_stay_clear_of_restart_seeds() -> None:
    assert portfolio.seeds(7, 1) == []
    others = portfolio.seeds(7, 3)
    assert len(set(others)) == 2
    assert all(abs(other - 7) > 1000 for other in others)
    assert all(0 <= other < 2**31 for other in portfolio.seeds(2**31 - 1, 4))
