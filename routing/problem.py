"""What a day's courier work looks like to the planner: sites, couriers, requests.

Times are **minutes since midnight of the planning day** (``float``; ``int`` is fine too), in
the county's local time. :func:`minutes_since_midnight` and :func:`at_minutes` convert aware
datetimes explicitly, so no time zone guessing happens inside the solver. The model works on
integers: every time is multiplied by :attr:`Problem.ticks_per_minute` (60, i.e. seconds, by
default) and rounded, travel times are rounded *up* so a plan that is feasible in ticks is
feasible in exact minutes.

Loads are counted per dimension (``boxes``, ``cold_boxes``, ``crates`` by default). A load or
capacity that leaves a dimension out has 0 of it: a courier without cold-box capacity can
take no cold boxes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routing.travel import TravelTimeProvider

DIMENSIONS = ("boxes", "cold_boxes", "crates")
DAY = 24 * 60.0
# Beyond this many ticks per value the objective and cumul sums get near int64 trouble and
# the search slows; such inputs are usually a unit mistake (seconds given as minutes).
HUGE_TICKS = 10**9


class ProblemError(ValueError):
    """An input the planner refuses; the message names the offending field."""


@dataclass(frozen=True)
class Window:
    """A closed interval of minutes since midnight; ``start <= end``."""

    start: float
    end: float

    def __str__(self) -> str:
        return f"{clock(self.start)}–{clock(self.end)}"


@dataclass(frozen=True)
class Site:
    """A place couriers visit: a clinic, the laboratory, the CSSD, the hospital.

    ``opening`` bounds when handling may start there; ``service`` is spent once per visit
    (parking, walking in, signing) before any handling.
    """

    id: str
    latitude: float
    longitude: float
    opening: Window = Window(0.0, DAY)
    service: float = 0.0
    name: str = ""


@dataclass(frozen=True)
class Vehicle:
    """A courier with a vehicle for one shift.

    The courier leaves ``start`` no earlier than ``shift.start`` and is back at ``end`` by
    ``shift.end``; ``max_duration`` (minutes) caps the time between the two. ``fixed_cost`` is
    charged when the courier is used at all, in the objective's unit (one minute of driving).
    """

    id: str
    start: str
    end: str
    shift: Window
    capacity: Mapping[str, int] = field(default_factory=dict, hash=False)
    max_duration: float | None = None
    fixed_cost: float = 0.0


@dataclass(frozen=True)
class Request:
    """Something to carry: from ``pickup`` to ``delivery``, both site ids.

    Without ``pickup`` the load is on board from the courier's start place (a delivery from the
    county hospital); without ``delivery`` it goes to the courier's end place (a pickup for
    the hospital). Windows bound the start of handling at each end; ``max_ride`` bounds the
    minutes between the end of the pickup's handling and the start of the delivery's, waiting
    included. ``penalty`` is what leaving the request unserved costs; ``None`` means required:
    it is dropped only when no plan can include it. ``vehicles`` names the only couriers who
    may carry it (empty: anyone), e.g. a box already on board when the day is re-planned.
    """

    id: str
    pickup: str | None
    delivery: str | None
    load: Mapping[str, int] = field(default_factory=dict, hash=False)
    pickup_window: Window | None = None
    delivery_window: Window | None = None
    pickup_service: float = 0.0
    delivery_service: float = 0.0
    max_ride: float | None = None
    penalty: float | None = None
    vehicles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """A day's planning problem; :meth:`validate` checks it and :func:`routing.plan` solves it."""

    sites: tuple[Site, ...]
    vehicles: tuple[Vehicle, ...]
    requests: tuple[Request, ...]
    travel: TravelTimeProvider | None = None
    dimensions: tuple[str, ...] = DIMENSIONS
    ticks_per_minute: int = 60

    def site(self, site_id: str) -> Site:
        """The site with this id (``KeyError`` if there is none)."""
        return self._sites_by_id()[site_id]

    def _sites_by_id(self) -> dict[str, Site]:
        return {site.id: site for site in self.sites}

    def validate(self) -> None:
        """Raise :class:`ProblemError` naming the first bad field; warn on huge values."""
        if self.ticks_per_minute < 1:
            raise ProblemError(f"ticks_per_minute must be >= 1, got {self.ticks_per_minute}")
        if not self.dimensions or len(set(self.dimensions)) != len(self.dimensions):
            raise ProblemError(f"dimensions must be distinct and non-empty: {self.dimensions}")
        sites = _unique("sites", [site.id for site in self.sites])
        fleet = _unique("vehicles", [vehicle.id for vehicle in self.vehicles])
        _unique("requests", [request.id for request in self.requests])
        if not self.vehicles:
            raise ProblemError("vehicles: at least one courier is needed")
        for site in self.sites:
            where = f"site {site.id!r}"
            _finite(f"{where}.latitude", site.latitude)
            _finite(f"{where}.longitude", site.longitude)
            self._window(f"{where}.opening", site.opening)
            self._duration(f"{where}.service", site.service)
        for vehicle in self.vehicles:
            where = f"vehicle {vehicle.id!r}"
            for end in ("start", "end"):
                if getattr(vehicle, end) not in sites:
                    raise ProblemError(f"{where}.{end}: unknown site {getattr(vehicle, end)!r}")
            self._window(f"{where}.shift", vehicle.shift)
            self._load(f"{where}.capacity", vehicle.capacity)
            if vehicle.max_duration is not None:
                self._duration(f"{where}.max_duration", vehicle.max_duration)
            _finite(f"{where}.fixed_cost", vehicle.fixed_cost)
            if vehicle.fixed_cost < 0:
                raise ProblemError(f"{where}.fixed_cost must be >= 0, got {vehicle.fixed_cost}")
        for request in self.requests:
            self._request(request, sites, fleet)

    def _request(self, request: Request, sites: set[str], fleet: set[str]) -> None:
        where = f"request {request.id!r}"
        if isinstance(request.vehicles, str):
            raise ProblemError(f"{where}.vehicles must be a tuple of vehicle ids, not a string")
        for vehicle in request.vehicles:
            if vehicle not in fleet:
                raise ProblemError(f"{where}.vehicles: unknown vehicle {vehicle!r}")
        if request.pickup is None and request.delivery is None:
            raise ProblemError(f"{where}: needs a pickup site, a delivery site or both")
        for end in ("pickup", "delivery"):
            site_id = getattr(request, end)
            if site_id is not None and site_id not in sites:
                raise ProblemError(f"{where}.{end}: unknown site {site_id!r}")
        self._load(f"{where}.load", request.load)
        if request.pickup_window is not None:
            self._window(f"{where}.pickup_window", request.pickup_window)
        if request.delivery_window is not None:
            self._window(f"{where}.delivery_window", request.delivery_window)
        self._duration(f"{where}.pickup_service", request.pickup_service)
        self._duration(f"{where}.delivery_service", request.delivery_service)
        if request.max_ride is not None:
            self._duration(f"{where}.max_ride", request.max_ride)
            if request.pickup is None or request.delivery is None:
                raise ProblemError(f"{where}.max_ride needs both a pickup and a delivery site")
        if request.penalty is not None:
            _finite(f"{where}.penalty", request.penalty)
            if request.penalty < 0:
                raise ProblemError(f"{where}.penalty must be >= 0, got {request.penalty}")

    def _window(self, name: str, window: Window) -> None:
        _finite(f"{name}.start", window.start)
        _finite(f"{name}.end", window.end)
        if window.start > window.end:
            raise ProblemError(f"{name}: start {window.start} is after end {window.end}")
        self._ticks(name, max(abs(window.start), abs(window.end)))

    def _duration(self, name: str, minutes: float) -> None:
        _finite(name, minutes)
        if minutes < 0:
            raise ProblemError(f"{name} must be >= 0 minutes, got {minutes}")
        self._ticks(name, minutes)

    def _ticks(self, name: str, minutes: float) -> None:
        if minutes * self.ticks_per_minute > HUGE_TICKS:
            warnings.warn(
                f"{name}: {minutes} minutes is huge for the planner; are these seconds?",
                stacklevel=4,
            )

    def _load(self, name: str, load: Mapping[str, int]) -> None:
        for dimension, amount in load.items():
            if dimension not in self.dimensions:
                raise ProblemError(
                    f"{name}: unknown dimension {dimension!r} (known: {', '.join(self.dimensions)})"
                )
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise ProblemError(f"{name}[{dimension!r}] must be an integer, got {amount!r}")
            if amount < 0:
                raise ProblemError(f"{name}[{dimension!r}] must be >= 0, got {amount}")


def _unique(name: str, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for item in ids:
        if not isinstance(item, str) or not item:
            raise ProblemError(f"{name}: ids must be non-empty strings, got {item!r}")
        if item in seen:
            raise ProblemError(f"{name}: duplicate id {item!r}")
        seen.add(item)
    return seen


def _finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProblemError(f"{name} must be a finite number, got {value!r}")


def paired_share(requests: Sequence[Request]) -> float:
    """The share of the visits of ``requests`` that are one end of a pickup-and-delivery
    pair (a request with both a pickup and a delivery site)."""
    paired = sum(2 for r in requests if r.pickup is not None and r.delivery is not None)
    visits = sum((r.pickup is not None) + (r.delivery is not None) for r in requests)
    return paired / max(1, visits)


def within_opening(window: Window | None, opening: Window) -> Window:
    """When handling may start: ``window`` (None: any time) within a site's ``opening``.
    Its start may lie after its end: then there is no such time."""
    if window is None:
        return opening
    return Window(max(opening.start, window.start), min(opening.end, window.end))


def clock(minutes: float) -> str:
    """``HH:MM`` for minutes since midnight (rounded to the minute; ``+1d`` past midnight)."""
    whole = round(minutes)
    days, rest = divmod(whole, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    return text if days == 0 else f"{text}{days:+d}d"


def minutes_since_midnight(moment: datetime, day: date, zone: tzinfo) -> float:
    """Minutes from midnight of ``day`` in ``zone`` to the aware datetime ``moment``."""
    if moment.tzinfo is None:
        raise ProblemError(f"naive datetime {moment.isoformat()}: give a time zone")
    midnight = datetime.combine(day, time(0), zone)
    return (moment - midnight).total_seconds() / 60.0


def at_minutes(day: date, minutes: float, zone: tzinfo) -> datetime:
    """The aware datetime ``minutes`` after midnight of ``day`` in ``zone``."""
    return datetime.combine(day, time(0), zone) + timedelta(minutes=minutes)
