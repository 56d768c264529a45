"""Route elimination: try a plan's work on one courier fewer, then search on from the best.

OR-Tools' iterated local search keeps the number of couriers its plans start with. A ruin
of about ten visits cannot empty a route when every route runs close to its nine-hour
limit, so a plan with one courier fewer is rarely reached even when it is the cheapest
(county days 3, 7 and 8: two couriers at best, three in nearly every search). Route
elimination asks for it directly: the plan without one route is the start of a search over
the other couriers, with drop options; when that serves every required request, the rest
of the time goes to the smaller fleet. Either way the search then goes on from where it
stands in a model numbered afresh (a continuation in the same model replays OR-Tools'
fixed-seed ruins). Measured on county days at 10 s (docs/benchmarks.md, 2026-12-06) and,
with consignments, at 2 s (2026-12-07); on Li & Lim 100 at 30 s, where only distance
counts, it reaches the best-known vehicle counts the search alone misses (2026-12-07).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from routing.model import Compiled, SearchLog, Settings, Solution, seconds_left
from routing.problem import Problem, Request

# The least time left that is still worth a search after the attempts (seconds).
SHORTEST = 0.05
# The share of the time an attempt must leave for the search after it while every attempt
# so far has failed (``keep`` of ``Settings.elimination_shares`` once one has worked). That
# search would start from the first search's plan, which stopped improving long before
# (0.05-0.2 s into a county day), so trying the next courier is the better use of the time.
# County days at 10 s, 60 plans: mean excess +0.46 % against +0.62 %, day 7 kept a courier
# too many in 2 of 6 plans against 5 of 6; at 2 s no better or worse (docs/benchmarks.md,
# 2026-12-07, stop 32).
KEEP_WHILE_FAILING = 0.05


@dataclass(frozen=True)
class Stage:
    """A model of the day and the best plan found in it so far."""

    compiled: Compiled
    solution: Solution
    eliminated: int = 0

    @property
    def used(self) -> list[int]:
        """The couriers (numbers in this model) whose routes visit anything."""
        return [number for number, route in enumerate(self.solution.routes) if len(route) > 2]


def applies(problem: Problem, settings: Settings, time_limit: float) -> bool:
    """Whether a plan of ``time_limit`` seconds tries route elimination: when there is time,
    and either a courier fewer is what the objective rewards (a fixed cost per courier) or
    most visits are pickup-and-delivery pairs. On pairs a search that counts only driving
    also keeps a vehicle too many: Li & Lim 100 at 30 s, measured 2026-12-07 (Solomon, not
    paired, did worse with it)."""
    if time_limit < settings.elimination_from:
        return False
    costed = any(vehicle.fixed_cost > 0 for vehicle in problem.vehicles)
    return costed or settings.paired(problem.requests)


def candidates(stage: Stage) -> list[int]:
    """The couriers whose route could go, busiest route first: those whose driving and
    handling would still fit into the other used couriers' days, and who are not the only
    courier a request may go with (a box already on board, when re-planning)."""
    compiled, routes = stage.compiled, stage.solution.routes
    used = stage.used
    if len(used) < 2:
        return []
    number_of = {vehicle.id: number for number, vehicle in enumerate(compiled.problem.vehicles)}
    bound = set()
    for request in compiled.requests:
        allowed = {number_of[vehicle] for vehicle in request.vehicles if vehicle in number_of}
        if len(allowed) == 1:
            bound |= allowed
    scale = compiled.problem.ticks_per_minute
    day = {}
    for number in used:
        vehicle = compiled.problem.vehicles[number]
        length = vehicle.shift.end - vehicle.shift.start
        if vehicle.max_duration is not None:
            length = min(length, vehicle.max_duration)
        day[number] = length * scale
    busy = {number: compiled.busy(routes[number]) for number in used}
    total = sum(busy.values())
    fitting = [
        number
        for number in used
        if number not in bound and total <= sum(day[other] for other in used if other != number)
    ]
    return sorted(fitting, key=lambda number: busy[number], reverse=True)


def search_on(
    first: Stage,
    minutes: Sequence[Sequence[float]],
    requests: Sequence[Request],
    seed: int,
    log: SearchLog,
    began: float,
    time_limit: float,
) -> Stage:
    """Route elimination from ``first`` (the first search's best; tried only when that
    serves every required request), then the rest of ``time_limit`` (seconds since
    ``began``) on from the plan it leaves. Returns the cheapest of these plans (objectives
    count the same in every model: a required request left out costs its drop penalty)."""
    settings = first.compiled.settings
    _, share, keep = settings.elimination_shares

    def search(
        couriers: Sequence[int], searching: Settings, renumber: int, seconds: float, span: float
    ) -> tuple[Compiled, Solution | None]:
        """A search from ``current``'s plan over its ``couriers`` only, in a model numbered
        by ``seed + renumber``, annealing over ``span`` of the schedule from where the time
        stands (at most to its end)."""
        problem = current.compiled.problem
        fewer = replace(problem, vehicles=tuple(problem.vehicles[number] for number in couriers))
        model = Compiled.numbered(fewer, minutes, requests, searching, seed + renumber)
        start = model.carried(current.compiled, current.solution.routes, couriers)
        done = _done(began, time_limit)
        cooling = (done, min(1.0, done + span))
        return model, model.solve(seconds, seed, log, start=start, cooling=cooling)

    current = best = first
    attempts = 0
    with_drops = settings.with_drops()
    pending = candidates(current) if first.compiled.serves_required(first.solution) else []

    def room() -> float:
        """The share of the time the next attempt must leave for the search after it."""
        return KEEP_WHILE_FAILING if current is first else keep

    while pending and seconds_left(began, time_limit) >= (share + room()) * time_limit:
        vehicle = pending.pop(0)
        attempts += 1
        others = [number for number in current.used if number != vehicle]
        trial, found = search(others, with_drops, attempts, share * time_limit, share)
        if found is not None and trial.serves_required(found):
            current = Stage(trial, found, current.eliminated + 1)
            best = min(best, current, key=_objective)
            pending = candidates(current)
    rest = seconds_left(began, time_limit)
    if rest >= SHORTEST:
        everyone = range(len(current.compiled.problem.vehicles))
        numbered, found = search(everyone, settings, attempts + 1, rest, 1.0)  # to the end
        if found is not None:
            best = min(best, Stage(numbered, found, current.eliminated), key=_objective)
    return best


def _objective(stage: Stage) -> int:
    return stage.solution.objective


def _done(began: float, time_limit: float) -> float:
    """The share of ``time_limit`` used so far."""
    return min(1.0, (time.perf_counter() - began) / time_limit)
