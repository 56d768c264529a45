"""An independent feasibility check of a :class:`~routing.plan.Plan` against its problem.

Written from the problem's definition, not from the model: it recomputes travel from the
provider in exact minutes and replays every route (times, windows, opening hours, loads,
pairing and order, ride times, shifts) without looking at how the solver got there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from routing.plan import Plan, Route
from routing.problem import Problem, Request, Window
from routing.travel import StraightLine

EPSILON = 1e-6


@dataclass(frozen=True)
class Violation:
    """One broken rule; ``where`` names the route or request."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def check(
    problem: Problem, plan: Plan, minutes: Sequence[Sequence[float]] | None = None
) -> list[Violation]:
    """Every rule the plan breaks (empty when it is feasible)."""
    if minutes is None:
        minutes = (problem.travel or StraightLine()).matrix(problem.sites)
    checker = _Checker(problem, minutes)
    for route in plan.routes:
        checker.route(route)
    checker.coverage(plan)
    return checker.violations


class _Checker:
    def __init__(self, problem: Problem, minutes: Sequence[Sequence[float]]) -> None:
        self.problem = problem
        self.minutes = minutes
        self.index = {site.id: number for number, site in enumerate(problem.sites)}
        self.requests = {request.id: request for request in problem.requests}
        self.vehicles = {vehicle.id: vehicle for vehicle in problem.vehicles}
        self.violations: list[Violation] = []
        self.handled: dict[str, list[tuple[str, str, int, float, float]]] = {}

    def fail(self, where: str, message: str) -> None:
        self.violations.append(Violation(where, message))

    def travel(self, origin: str, destination: str) -> float:
        return float(self.minutes[self.index[origin]][self.index[destination]])

    def route(self, route: Route) -> None:
        where = f"route {route.vehicle}"
        vehicle = self.vehicles.get(route.vehicle)
        if vehicle is None:
            self.fail(where, "unknown vehicle")
            return
        stops = route.stops
        if len(stops) < 2:
            self.fail(where, "a route needs a start and an end stop")
            return
        if stops[0].site != vehicle.start or stops[-1].site != vehicle.end:
            self.fail(where, f"must run {vehicle.start} → {vehicle.end}")
        if stops[0].handling or stops[-1].handling:
            self.fail(where, "the start and end stops handle nothing")
        if stops[0].departure < vehicle.shift.start - EPSILON:
            self.fail(where, f"leaves at {stops[0].departure} before the shift starts")
        if stops[-1].arrival > vehicle.shift.end + EPSILON:
            self.fail(where, f"back at {stops[-1].arrival} after the shift ends")
        duration = stops[-1].arrival - stops[0].departure
        if vehicle.max_duration is not None and duration > vehicle.max_duration + EPSILON:
            self.fail(where, f"lasts {duration} min, more than {vehicle.max_duration}")

        load = dict.fromkeys(self.problem.dimensions, 0)
        for stop in stops:
            for handling in stop.handling:
                request = self.requests.get(handling.request)
                if request is not None and request.pickup is None:
                    for dimension, amount in request.load.items():
                        load[dimension] += amount
        self.loads(where, vehicle.capacity, load, "at the start")
        travel = 0.0
        for position, stop in enumerate(stops):
            if stop.site not in self.index:
                self.fail(where, f"stop {position} at unknown site {stop.site!r}")
                return
            if position > 0:
                previous = stops[position - 1]
                leg = self.travel(previous.site, stop.site)
                travel += leg
                if stop.arrival < previous.departure + leg - EPSILON:
                    self.fail(
                        where,
                        f"stop {position} ({stop.site}) reached at {stop.arrival}, but the trip "
                        f"from {previous.site} leaving {previous.departure} takes {leg}",
                    )
            ready = stop.arrival
            if position > 0 and stops[position - 1].site != stop.site and stop.handling:
                ready += self.problem.site(stop.site).service
            for handling in stop.handling:
                request = self.requests.get(handling.request)
                label = f"{where} stop {position} request {handling.request}"
                if request is None:
                    self.fail(label, "unknown request")
                    continue
                expected = request.pickup if handling.action == "pickup" else request.delivery
                if expected != stop.site:
                    self.fail(label, f"{handling.action} belongs at {expected}, not {stop.site}")
                if handling.start < ready - EPSILON:
                    self.fail(label, f"starts at {handling.start}, before it can ({ready})")
                window = (
                    request.pickup_window
                    if handling.action == "pickup"
                    else request.delivery_window
                )
                self.within(label, handling.start, window, "its window")
                self.within(
                    label, handling.start, self.problem.site(stop.site).opening, "opening hours"
                )
                service = (
                    request.pickup_service
                    if handling.action == "pickup"
                    else request.delivery_service
                )
                if abs(handling.end - (handling.start + service)) > EPSILON:
                    self.fail(
                        label, f"handling takes {handling.end - handling.start}, not {service}"
                    )
                ready = max(ready, handling.end)
                sign = 1 if handling.action == "pickup" else -1
                if handling.action == "delivery" and request.pickup is None:
                    sign = -1
                for dimension, amount in request.load.items():
                    load[dimension] += sign * amount
                self.handled.setdefault(handling.request, []).append(
                    (route.vehicle, handling.action, position, handling.start, handling.end)
                )
            if stop.handling and stop.departure < ready - EPSILON:
                self.fail(where, f"stop {position} left at {stop.departure} before work ended")
            self.loads(f"{where} stop {position}", vehicle.capacity, load, "after the stop")
            if position < len(stops) - 1 and {k: v for k, v in stop.load.items() if v} != {
                k: v for k, v in load.items() if v
            }:
                self.fail(where, f"stop {position} reports load {dict(stop.load)}, is {load}")
        if abs(travel - route.travel_minutes) > 0.01 * len(stops) + EPSILON:
            self.fail(where, f"reports {route.travel_minutes} travel minutes, is {travel}")

    def loads(
        self, where: str, capacity: Mapping[str, int], load: dict[str, int], when: str
    ) -> None:
        for dimension, amount in load.items():
            limit = capacity.get(dimension, 0)
            if amount < 0 or amount > limit:
                self.fail(where, f"{amount} {dimension} on board {when} (capacity {limit})")

    def within(self, where: str, moment: float, window: Window | None, what: str) -> None:
        if window is not None and not window.start - EPSILON <= moment <= window.end + EPSILON:
            self.fail(where, f"starts at {moment}, outside {what} {window}")

    def coverage(self, plan: Plan) -> None:
        unserved = [item.request for item in plan.unserved]
        if len(set(unserved)) != len(unserved):
            self.fail("unserved", "a request is listed twice")
        for item in plan.unserved:
            if not item.reason.strip():
                self.fail(f"request {item.request}", "unserved without a reason")
        vehicles = [route.vehicle for route in plan.routes]
        if len(set(vehicles)) != len(vehicles):
            self.fail("routes", "a courier has two routes")
        for request in self.problem.requests:
            self.request(request, request.id in set(unserved))

    def request(self, request: Request, listed_unserved: bool) -> None:
        where = f"request {request.id}"
        done = self.handled.get(request.id, [])
        if listed_unserved:
            if done:
                self.fail(where, "listed as unserved but handled on a route")
            return
        wanted = [
            a for a, site in (("pickup", request.pickup), ("delivery", request.delivery)) if site
        ]
        actions = [action for _, action, *_ in done]
        if sorted(actions) != sorted(wanted):
            self.fail(where, f"handled as {actions or 'nothing'}, needs {wanted} (or unserved)")
            return
        if len({vehicle for vehicle, *_ in done}) != 1:
            self.fail(where, "pickup and delivery on different routes")
            return
        if request.vehicles and done[0][0] not in request.vehicles:
            self.fail(where, f"carried by {done[0][0]}, not by {', '.join(request.vehicles)}")
        if request.pickup is not None and request.delivery is not None:
            pickup = next(d for d in done if d[1] == "pickup")
            delivery = next(d for d in done if d[1] == "delivery")
            if (delivery[2], delivery[3]) < (pickup[2], pickup[3]) or delivery[2] < pickup[2]:
                self.fail(where, "delivered before it was picked up")
            if request.max_ride is not None:
                ride = delivery[3] - pickup[4]
                if ride > request.max_ride + EPSILON:
                    self.fail(where, f"rides {ride} min, more than {request.max_ride}")
