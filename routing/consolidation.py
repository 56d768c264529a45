"""Identical requests travel together: the planner models each group as one consignment.

Ten boxes a clinic sends to the laboratory with the same windows, or five used sets it
sends to the CSSD, need one stop at each end, not ten. Modelled one by one they make the
search place each of them and try every order among them; modelled as one consignment (the
loads and handling times added up) the model is smaller and the search goes further in the
same time. Measured on generated county days (docs/benchmarks.md, 2026-12-07).

What this gives up: the parts of a consignment are handled one after the other at the same
stops, in the same order at both ends. To keep every part within its own limits, the
consignment's windows end earlier by the handling of the parts before the last, and its
maximum ride is shorter by the longest extra wait a part has at either end. A group is
split into several consignments where the added load would not fit every courier who could
take each part, or where those cuts would leave no window or ride.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from routing.problem import Problem, Request, Vehicle, Window, within_opening
from routing.screen import unservable


@dataclass(frozen=True)
class Consolidated:
    """What the model plans (``requests``) and, for each of them, the requests it stands
    for, in the order they are handled (``parts``; a request alone stands for itself)."""

    requests: tuple[Request, ...]
    parts: Mapping[str, tuple[Request, ...]]

    @classmethod
    def alone(cls, requests: Sequence[Request]) -> Consolidated:
        """Every request modelled on its own."""
        return cls(tuple(requests), {request.id: (request,) for request in requests})

    def expand(self, request_id: str) -> tuple[Request, ...]:
        """The problem's requests behind the modelled request ``request_id``."""
        return self.parts[request_id]


def consolidate(
    problem: Problem, requests: Sequence[Request], minutes: Sequence[Sequence[float]]
) -> Consolidated:
    """Group ``requests`` (of ``problem``, travel ``minutes`` between its sites) that differ
    in nothing but id and load. A consignment that no courier could serve even alone,
    where its parts could be, is left as its parts."""
    groups: dict[tuple[tuple[str, ...], tuple[object, ...]], list[Request]] = {}
    for request in requests:
        capable = _capable(problem.vehicles, request, problem.dimensions)
        alike = (
            request.pickup,
            request.delivery,
            request.pickup_window,
            request.delivery_window,
            request.max_ride,
            request.penalty is None,
            request.vehicles,
        )
        groups.setdefault((capable, alike), []).append(request)
    modelled: list[Request] = []
    parts: dict[str, tuple[Request, ...]] = {}
    for (capable, _), group in groups.items():
        room = _room(problem, capable)
        chunk: list[Request] = []
        for request in group:
            if chunk and _together(problem, [*chunk, request], room) is None:
                modelled.append(_close(problem, chunk, parts))
                chunk = []
            chunk.append(request)
        modelled.append(_close(problem, chunk, parts))
    merged = [request for request in modelled if len(parts[request.id]) > 1]
    for request_id in unservable(replace(problem, requests=tuple(merged)), minutes):
        alone = parts.pop(request_id)
        modelled = [request for request in modelled if request.id != request_id]
        modelled.extend(alone)
        parts.update({part.id: (part,) for part in alone})
    order = {request.id: position for position, request in enumerate(requests)}
    modelled.sort(key=lambda request: order[request.id])
    return Consolidated(tuple(modelled), parts)


def _capable(
    vehicles: Sequence[Vehicle], request: Request, dimensions: Sequence[str]
) -> tuple[str, ...]:
    """The couriers who may take ``request`` and have room for it on an empty vehicle."""
    return tuple(
        vehicle.id
        for vehicle in vehicles
        if (not request.vehicles or vehicle.id in request.vehicles)
        and all(request.load.get(d, 0) <= vehicle.capacity.get(d, 0) for d in dimensions)
    )


def _room(problem: Problem, capable: Sequence[str]) -> dict[str, int]:
    """The load every courier in ``capable`` (ids) has room for."""
    fleet = [vehicle for vehicle in problem.vehicles if vehicle.id in capable]
    return {d: min((v.capacity.get(d, 0) for v in fleet), default=0) for d in problem.dimensions}


def _close(
    problem: Problem, chunk: list[Request], parts: dict[str, tuple[Request, ...]]
) -> Request:
    merged = _together(problem, chunk, None)
    assert merged is not None  # a chunk only grows while it stays a valid request
    parts[merged.id] = tuple(chunk)
    return merged


def _together(
    problem: Problem, chunk: Sequence[Request], room: Mapping[str, int] | None
) -> Request | None:
    """The one request that carries ``chunk``, or None when it would not fit ``room`` or
    would leave no window or ride."""
    first = chunk[0]
    if len(chunk) == 1:
        return first
    load = {d: sum(part.load.get(d, 0) for part in chunk) for d in problem.dimensions}
    if room is not None and any(load[d] > room[d] for d in problem.dimensions):
        return None
    pickup_services = [part.pickup_service for part in chunk]
    delivery_services = [part.delivery_service for part in chunk]
    try:
        pickup_window = _earlier(
            problem, first.pickup, first.pickup_window, sum(pickup_services[:-1])
        )
        delivery_window = _earlier(
            problem, first.delivery, first.delivery_window, sum(delivery_services[:-1])
        )
    except _NothingLeft:
        return None
    max_ride = first.max_ride
    if max_ride is not None:
        # Part k waits for the deliveries of the parts before it and, after its own pickup,
        # for the pickups of the parts after it.
        wait = max(
            sum(delivery_services[:k]) + sum(pickup_services[k + 1 :]) for k in range(len(chunk))
        )
        if wait > max_ride:
            return None
        max_ride -= wait
    penalty = None if first.penalty is None else sum(part.penalty or 0.0 for part in chunk)
    return replace(
        first,
        load={d: amount for d, amount in load.items() if amount},
        pickup_window=pickup_window,
        delivery_window=delivery_window,
        pickup_service=sum(pickup_services),
        delivery_service=sum(delivery_services),
        max_ride=max_ride,
        penalty=penalty,
    )


def _earlier(
    problem: Problem, site_id: str | None, window: Window | None, minutes: float
) -> Window | None:
    """``window`` at ``site_id``, within its opening hours, ending ``minutes`` earlier
    (unchanged when there is nothing to shift)."""
    if site_id is None or minutes == 0:
        return window
    allowed = within_opening(window, problem.site(site_id).opening)
    if allowed.end - minutes < allowed.start:
        raise _NothingLeft
    return Window(allowed.start, allowed.end - minutes)


class _NothingLeft(Exception):
    """A window cut so short that no time is left in it."""
