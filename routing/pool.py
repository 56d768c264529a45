"""Route pool and set partitioning: the cheapest plan made of routes the search has seen.

Every plan the iterated local search reports is a set of feasible routes. Routes of different
plans can combine into a plan cheaper than any one of them: a set-partitioning model over the
pool (every visit on exactly one chosen route, no more routes than couriers) finds the
cheapest such plan. This is the "ILS-SP" matheuristic of Subramanian, Uchoa and Ochi (2013).
Plain Python around the SCIP solver that ships with OR-Tools; nothing here knows the routing
model's indices.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ortools.linear_solver import pywraplp

# The pool's tiers: routes of plans within these shares of the best plan's cost. Measured on
# 30 s Solomon pools of 11,000-13,000 routes (2026-12-07): routes of plans within 1 % (about
# 200 routes) gave most of the gain in 0.03 s; the whole pool gained a little more but took
# 2.5-20 s to solve. Each tier starts from the plan the one before found.
TIERS = (0.01, 0.02, 0.05)


@dataclass
class Route:
    """A pooled route: its visits in the cheapest order seen, that order's cost, and the
    cost of the cheapest plan it was part of."""

    visits: tuple[int, ...]
    cost: int
    plan: int


@dataclass
class RoutePool:
    """Distinct routes (by their set of visits) from plans within ``window`` of the best plan
    offered so far. Only routes of identical couriers are pooled, so any route fits any
    courier."""

    window: float = TIERS[-1]
    routes: dict[frozenset[int], Route] = field(default_factory=dict)
    best: int | None = None

    def wants(self, plan: int) -> bool:
        """Whether routes of a plan costing ``plan`` are worth offering (reading a plan's
        routes costs the search time)."""
        return self.best is None or plan <= self.best * (1 + self.window)

    def add(self, visits: tuple[int, ...], cost: int, plan: int) -> None:
        """Offer one route of a plan costing ``plan``."""
        if self.best is None or plan < self.best:
            self.best = plan
        key = frozenset(visits)
        known = self.routes.get(key)
        if known is None:
            self.routes[key] = Route(visits, cost, plan)
            return
        if cost < known.cost:
            known.visits, known.cost = visits, cost
        known.plan = min(known.plan, plan)

    def within(self, share: float, of: int) -> list[Route]:
        """The routes of plans costing at most ``of`` × (1 + ``share``)."""
        ceiling = of * (1 + share)
        return [route for route in self.routes.values() if route.plan <= ceiling]

    def __len__(self) -> int:
        return len(self.routes)


@dataclass(frozen=True)
class Cover:
    """Routes (visits in order) that make every visit once, and their total cost."""

    routes: tuple[tuple[int, ...], ...]
    cost: int


def recombine(
    pool: RoutePool,
    visits: Iterable[int],
    couriers: int,
    plan: Sequence[tuple[int, ...]],
    cost: int,
    seconds: float,
) -> Cover | None:
    """The cheapest plan of pooled routes found in ``seconds``, tier by tier (:data:`TIERS`),
    when it is cheaper than ``plan`` (routes of visits, each in the pool, costing ``cost``);
    else None. The pool may already know a cheaper order of one of ``plan``'s routes."""
    began = time.perf_counter()
    visits = list(visits)
    orders = [pool.routes[frozenset(route)] for route in plan]
    current = Cover(tuple(order.visits for order in orders), sum(order.cost for order in orders))
    size = 0
    for share in TIERS:
        routes = pool.within(share, current.cost)
        if len(routes) == size:
            continue
        size = len(routes)
        left = seconds - (time.perf_counter() - began)
        if left <= 0.01:
            break
        found = best_cover(routes, visits, couriers, current.routes, left)
        if found is not None and found.cost < current.cost:
            current = found
    return current if current.cost < cost else None


def best_cover(
    routes: Sequence[Route],
    visits: Sequence[int],
    couriers: int,
    hint: Sequence[tuple[int, ...]],
    seconds: float,
) -> Cover | None:
    """The cheapest choice among ``routes`` that makes every one of ``visits`` exactly once
    with at most ``couriers`` routes, searched for at most ``seconds`` on one thread from
    ``hint`` (a plan made of some of ``routes``); None when none was found in the time."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:  # pragma: no cover - SCIP ships in OR-Tools' wheels
        return None
    solver.SetNumThreads(1)
    solver.SuppressOutput()
    exactly_once = {visit: solver.Constraint(1, 1) for visit in visits}
    fleet = solver.Constraint(0, couriers)
    objective = solver.Objective()
    chosen = []
    for route in routes:
        var = solver.BoolVar("")
        chosen.append(var)
        for visit in route.visits:
            exactly_once[visit].SetCoefficient(var, 1)
        fleet.SetCoefficient(var, 1)
        objective.SetCoefficient(var, route.cost)
    objective.SetMinimization()
    hinted = {frozenset(route) for route in hint}
    solver.SetHint(chosen, [float(frozenset(route.visits) in hinted) for route in routes])
    solver.SetTimeLimit(max(1, round(seconds * 1000)))
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return None
    picked = [
        route for route, var in zip(routes, chosen, strict=True) if var.solution_value() > 0.5
    ]
    return Cover(tuple(route.visits for route in picked), sum(route.cost for route in picked))
