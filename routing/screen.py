"""Requests that no plan can serve, found before the search, each with a specific reason."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from routing.model import ticks_window
from routing.problem import Problem, Request, Vehicle, clock


@dataclass(frozen=True)
class _Ticks:
    problem: Problem
    travel: list[list[int]]
    site_index: dict[str, int]

    @property
    def scale(self) -> int:
        return self.problem.ticks_per_minute

    def leg(self, origin: str, destination: str, arriving_for_work: bool = True) -> int:
        """Ticks from leaving ``origin`` to being ready to work at ``destination``."""
        a, b = self.site_index[origin], self.site_index[destination]
        ticks = self.travel[a][b]
        if a != b and arriving_for_work:
            ticks += round(self.problem.sites[b].service * self.scale)
        return ticks

    def minutes(self, ticks: int) -> str:
        return f"{math.ceil(ticks / self.scale - 1e-9):d} min"

    def at(self, ticks: int) -> str:
        return clock(ticks / self.scale)


def unservable(problem: Problem, minutes: Sequence[Sequence[float]]) -> dict[str, str]:
    """Reasons for the requests that cannot be served even alone, by request id."""
    scale = problem.ticks_per_minute
    ticks = _Ticks(
        problem,
        [[math.ceil(value * scale - 1e-9) for value in row] for row in minutes],
        {site.id: index for index, site in enumerate(problem.sites)},
    )
    reasons: dict[str, str] = {}
    for request in problem.requests:
        reason = _load_reason(problem, request) or _reach_reason(ticks, request)
        if reason is None:
            failures = [
                _alone_reason(ticks, request, vehicle)
                for vehicle in problem.vehicles
                if _fits(vehicle, request)
            ]
            if failures and all(failures):
                reason = f"no courier can fit it into their shift even alone: {failures[0]}"
        if reason:
            reasons[request.id] = reason
    return reasons


def _label(dimension: str) -> str:
    return dimension.replace("_", " ")


def _fits(vehicle: Vehicle, request: Request) -> bool:
    if request.vehicles and vehicle.id not in request.vehicles:
        return False
    return all(amount <= vehicle.capacity.get(dim, 0) for dim, amount in request.load.items())


def _load_reason(problem: Problem, request: Request) -> str | None:
    fleet = [v for v in problem.vehicles if not request.vehicles or v.id in request.vehicles]
    for dimension, amount in request.load.items():
        largest = max(vehicle.capacity.get(dimension, 0) for vehicle in fleet)
        if amount > largest:
            return (
                f"load {amount} {_label(dimension)} exceeds the largest vehicle "
                + (f"allowed ({', '.join(request.vehicles)}: " if request.vehicles else "(")
                + f"{largest} {_label(dimension)})"
            )
    if not any(_fits(vehicle, request) for vehicle in fleet):
        load = ", ".join(f"{amount} {_label(dim)}" for dim, amount in request.load.items())
        return f"no single vehicle can carry {load} at once"
    return None


def _window(ticks: _Ticks, request: Request, pickup: bool) -> tuple[int, int]:
    site_id = request.pickup if pickup else request.delivery
    assert site_id is not None
    window = request.pickup_window if pickup else request.delivery_window
    return ticks_window(window, ticks.problem.site(site_id).opening, ticks.scale)


def _reach_reason(ticks: _Ticks, request: Request) -> str | None:
    for pickup, site_id, window in (
        (True, request.pickup, request.pickup_window),
        (False, request.delivery, request.delivery_window),
    ):
        if site_id is None:
            continue
        low, high = _window(ticks, request, pickup)
        if low > high:
            opening = ticks.problem.site(site_id).opening
            what = "pickup" if pickup else "delivery"
            return (
                f"{what} window {window} falls outside {site_id}'s opening hours {opening}"
                if window is not None
                else f"{site_id} is never open"
            )
    if request.pickup is None or request.delivery is None:
        return None
    pickup_low, pickup_high = _window(ticks, request, True)
    delivery_low, delivery_high = _window(ticks, request, False)
    handling = round(request.pickup_service * ticks.scale)
    direct = ticks.leg(request.pickup, request.delivery)
    if pickup_low + handling + direct > delivery_high:
        return (
            f"cannot reach {request.delivery} before {ticks.at(delivery_high)} even directly "
            f"(ready at {request.pickup} {ticks.at(pickup_low)}, needs "
            f"{ticks.minutes(handling + direct)})"
        )
    if request.max_ride is not None:
        ride = math.floor(request.max_ride * ticks.scale)
        shortest = max(direct, delivery_low - (pickup_high + handling))
        if shortest > ride:
            return (
                f"maximum ride {request.max_ride:g} min is shorter than the fastest trip from "
                f"{request.pickup} to {request.delivery} that fits the windows "
                f"({ticks.minutes(shortest)})"
            )
    return None


def _alone_reason(ticks: _Ticks, request: Request, vehicle: Vehicle) -> str | None:
    """Why ``vehicle`` could not serve ``request`` on an otherwise empty route (or None)."""
    scale = ticks.scale
    shift_start, shift_end = round(vehicle.shift.start * scale), round(vehicle.shift.end * scale)
    stops: list[tuple[str, int, int, int]] = []  # site, window low and high, handling
    if request.pickup is not None:
        low, high = _window(ticks, request, True)
        stops.append((request.pickup, low, high, round(request.pickup_service * scale)))
    if request.delivery is not None:
        low, high = _window(ticks, request, False)
        stops.append((request.delivery, low, high, round(request.delivery_service * scale)))
    if not stops:
        return None

    def drive(departure: int) -> tuple[int, str | None]:
        """The time back at the end place leaving at ``departure``, or why it fails."""
        place, now = vehicle.start, departure
        for site_id, low, high, handling in stops:
            arrival = now + ticks.leg(place, site_id)
            if arrival > high:
                return arrival, (
                    f"courier {vehicle.id} from {place} reaches {site_id} at "
                    f"{ticks.at(arrival)}, after the window closes at {ticks.at(high)}"
                )
            now, place = max(arrival, low) + handling, site_id
        return now + ticks.leg(place, vehicle.end, arriving_for_work=False), None

    first, first_low = stops[0][0], stops[0][1]
    earliest = max(shift_start, first_low - ticks.leg(vehicle.start, first))
    back, failure = drive(earliest)
    if failure:
        return failure
    if back > shift_end:
        return (
            f"courier {vehicle.id} would be back at {vehicle.end} at {ticks.at(back)}, "
            f"after the shift ends at {ticks.at(shift_end)}"
        )
    limit = vehicle.max_duration
    if limit is None:
        return None
    # The shortest shift leaves as late as the windows and the shift end still allow:
    # waiting is then spent at home instead of on the road.
    latest = shift_end - ticks.leg(stops[-1][0], vehicle.end, arriving_for_work=False)
    for number in range(len(stops) - 1, -1, -1):
        site_id, _, high, handling = stops[number]
        latest = min(high, latest - handling)
        origin = stops[number - 1][0] if number else vehicle.start
        latest -= ticks.leg(origin, site_id)  # now the latest finish at the stop before
    departure = max(earliest, latest)
    back, _ = drive(departure)
    if back - departure > math.floor(limit * scale):
        return (
            f"courier {vehicle.id} would need {ticks.minutes(back - departure)}, more than "
            f"the {limit:g} min a shift may last"
        )
    return None
