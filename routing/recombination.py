"""Recombination: independent searches, then the cheapest plan made of the routes they saw.

Each search's plans pass their routes to one pool (:mod:`routing.pool`). When the searches
are done, a set-partitioning model over the pool picks the cheapest routes that make every
visit once, starting from the best search's plan. Searches in models numbered from different
seeds go their own ways, so their routes combine: on Solomon at 30 s, three searches of 10 s
gave +0.52 % over the best-known on their own and +0.37 % recombined (all 34 instances,
2026-12-07; one 30 s search +0.44 to +0.56 % that evening). Routes are pooled by what they
visit (request and end), the same in every numbering. Only for days whose couriers are
interchangeable (any route fits any of them) and whose requests are all required: a chosen
route must fit whichever courier it is given, and every visit must be made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from routing.elimination import Stage
from routing.model import Compiled, SearchLog, Settings, Visit
from routing.pool import Cover, RoutePool, recombine
from routing.problem import Problem, Request, Vehicle


def applies(
    problem: Problem, requests: Sequence[Request], settings: Settings, time_limit: float
) -> bool:
    """Whether a plan of ``time_limit`` seconds recombines: when it is on, every request is
    required, and the couriers are interchangeable."""
    if settings.recombine_share <= 0 or time_limit < settings.recombine_from:
        return False
    if any(request.penalty is not None or request.vehicles for request in requests):
        return False
    first = problem.vehicles[0]
    return all(_duty(vehicle) == _duty(first) for vehicle in problem.vehicles)


def _duty(vehicle: Vehicle) -> tuple[object, ...]:
    """What decides which routes a courier can drive and what they cost."""
    capacity = tuple(sorted(vehicle.capacity.items()))
    return (
        vehicle.start,
        vehicle.end,
        vehicle.shift,
        capacity,
        vehicle.max_duration,
        vehicle.fixed_cost,
    )


def searches(settings: Settings, time_limit: float) -> int:
    """How many searches share ``time_limit``: one per ``recombine_search`` seconds."""
    return max(1, math.floor(time_limit / settings.recombine_search + 1e-9))


def keys(compiled: Compiled, requests: Sequence[Request]) -> list[int]:
    """Each visit node's pool key: its request's place in ``requests`` and which end it is,
    the same in every model numbered from ``requests``."""
    order = {request.id: number for number, request in enumerate(requests)}
    found = []
    for node in compiled.nodes[: compiled.visits]:
        assert node.request is not None
        found.append(2 * order[compiled.requests[node.request].id] + int(node.is_pickup))
    return found


def watch(compiled: Compiled, pool: RoutePool, requests: Sequence[Request]) -> None:
    """Have ``compiled``'s search offer every plan's routes to ``pool``."""
    compiled.collect(pool, keys(compiled, requests))


def recombined(stage: Stage, requests: Sequence[Request], log: SearchLog, seconds: float) -> Stage:
    """``stage`` (the best search's plan, its model watched by :func:`watch`), or the cheaper
    plan of pooled routes found in ``seconds``, timed in the same model."""
    compiled = stage.compiled
    pool = compiled.pool
    assert pool is not None
    key = keys(compiled, requests)
    cover = _recombined(stage, pool, key, seconds)
    if cover is None:
        return stage
    timed = compiled.timed(_routes(compiled, cover, key), log)
    if timed is None or timed.objective >= stage.solution.objective:
        return stage
    log.recombined += stage.solution.objective - timed.objective
    return Stage(compiled, timed)


def _recombined(stage: Stage, pool: RoutePool, key: Sequence[int], seconds: float) -> Cover | None:
    """The cheapest plan of pooled routes, when cheaper than ``stage``'s (``key``: the pool
    key of each of its model's visit nodes, :func:`keys`)."""
    compiled, solution = stage.compiled, stage.solution
    plan = []
    for number, route in enumerate(solution.routes):
        nodes = [visit.node for visit in route[1:-1]]
        if nodes:
            visits = tuple(key[node] for node in nodes)
            pool.add(visits, compiled.route_cost(nodes, number), solution.objective)
            plan.append(visits)
    couriers = len(compiled.problem.vehicles)
    return recombine(pool, key, couriers, plan, solution.objective, seconds)


def _routes(compiled: Compiled, cover: Cover, key: Sequence[int]) -> list[list[Visit]]:
    """``cover``'s routes as routes of ``compiled``'s couriers (the rest left empty; ``key``
    as for :func:`_recombined`)."""
    node_of = {visit_key: node for node, visit_key in enumerate(key)}
    routes = []
    for number in range(len(compiled.problem.vehicles)):
        visits = cover.routes[number] if number < len(cover.routes) else ()
        routes.append(
            [
                Visit(compiled.vehicle_start[number], 0),
                *(Visit(node_of[key], 0) for key in visits),
                Visit(compiled.vehicle_end[number], 0),
            ]
        )
    return routes
