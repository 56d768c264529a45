"""A county day as what people scan, and when: plain Python, no web or database code.

``plan_day(county, minutes, seed)`` turns a county (its clinics with their staff and empty
specimen boxes, its couriers and laboratory receivers) into a schedule of **episodes**: a
few scans typed at one station one after the other (a clinic sealing a box, a courier
picking up at a clinic, handing over at the laboratory, the laboratory receiving), and the
few steps that are not scans at a station but calls to the API from the site's system (the
specimen list of a box as it is prepared; the laboratory accepting, opening and sending the
empty box back). Times are offsets from the start of the simulated day (07:50).

Stations, per site (each its own agent process at that site, with the site's device):

* ``T01/bench`` (``clinic_dispatch``): the clinic's staff member signs in, then each box,
  ``COUNT:<n>`` and the seal tag: a ``prepare`` (the count) and a ``seal`` event.
* ``T01/door`` (``courier``): the courier's badge, ``STEP:PICKUP``, the boxes, the clinic
  staff's badge (and ``STEP:DELIVER`` with the empty boxes brought back), the courier's badge
  again to sign out.
* ``LAB/door``, ``PATH/door`` (``courier``): ``STEP:HANDOFF``, the boxes, the receiver's badge.
* ``LAB/bench``, ``PATH/bench`` (``lab_receipt``): the receiver signs in, then each box.

Couriers each take a sector of clinics in angular order around the hub and drive loops back
to back: to each clinic, back to the laboratory, a break, out again. A clinic prepares a box
of one specimen type (and destination) per courier visit from its empty boxes (one to three,
as many as it has); a box received at the laboratory is accepted, opened and dispatched with
the courier of its sector's next loop, who delivers it back at its clinic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Final

__all__ = [
    "DAY_START",
    "Clinic",
    "County",
    "Episode",
    "Place",
    "Post",
    "Schedule",
    "StationMode",
    "StationSpec",
    "plan_day",
    "travel_minutes",
]

DAY_START: Final = timedelta(hours=7, minutes=50)  # the simulated day's clock at offset 0
ROAD_FACTOR: Final = 1.35  # as the planner's default travel times
SPEED_KMH: Final = 42.0
SCAN_GAP: Final = timedelta(seconds=6)  # between the scans of one episode
DWELL: Final = timedelta(minutes=8)  # a courier's stop at a clinic
BREAK: Final = timedelta(minutes=30)  # at the hub between loops


class StationMode(StrEnum):
    """The agent's ``[station] mode`` (the values of scanner_agent's own enum)."""

    CLINIC_DISPATCH = "clinic_dispatch"
    COURIER = "courier"
    LAB_RECEIPT = "lab_receipt"


@dataclass(frozen=True, slots=True)
class Place:
    code: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Clinic:
    place: Place
    staff: str  # the badge of the person who seals and hands over
    boxes: tuple[str, ...]  # empty specimen boxes at the clinic when the day starts


@dataclass(frozen=True, slots=True)
class County:
    hub: Place  # where the laboratory, the pathology centre and the couriers' base are
    clinics: tuple[Clinic, ...]
    couriers: tuple[str, ...]  # badges
    receivers: dict[str, tuple[str, ...]]  # centre code (LAB, PATH) → receivers' badges
    specimens: tuple[tuple[str, str], ...]  # (specimen type code, centre code)


@dataclass(frozen=True, slots=True)
class StationSpec:
    name: str  # "T01/bench"
    site: str
    mode: StationMode
    destination: str | None = None  # printed on box labels (clinic_dispatch)


@dataclass(frozen=True, slots=True)
class Episode:
    """Scans typed at one station one after the other, from ``at`` on, ``SCAN_GAP`` apart."""

    at: timedelta
    station: str
    lines: tuple[str, ...]
    events: int  # custody events these scans make
    what: str


@dataclass(frozen=True, slots=True)
class Post:
    """An event the site's system sends through the API (not a scan at a station).

    ``collected`` is the offset of the specimens' collection (for ``prepare``), to be given
    as a clock time like every other offset.
    """

    at: timedelta
    site: str
    type: str
    item: str
    actor: str
    counterparty: str | None = None
    details: dict[str, str | int] = field(default_factory=dict)
    collected: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    stations: tuple[StationSpec, ...]
    episodes: tuple[Episode, ...]  # in time order
    posts: tuple[Post, ...]  # in time order
    minutes: float

    @property
    def scans(self) -> int:
        return sum(len(episode.lines) for episode in self.episodes)

    @property
    def events(self) -> int:
        """Custody events the day should store: the stations' and the posted ones."""
        return sum(episode.events for episode in self.episodes) + len(self.posts)

    def last_at(self) -> timedelta:
        ends = [e.at + SCAN_GAP * len(e.lines) for e in self.episodes] + [p.at for p in self.posts]
        return max(ends, default=timedelta(0))


def travel_minutes(a: Place, b: Place) -> float:
    """Straight-line distance × road factor at an average speed (the planner's default)."""
    dlat = (a.latitude - b.latitude) * 111.0
    dlon = (a.longitude - b.longitude) * 111.0 * math.cos(math.radians(a.latitude))
    return math.hypot(dlat, dlon) * ROAD_FACTOR / SPEED_KMH * 60


def _angle(hub: Place, place: Place) -> float:
    return math.atan2(place.longitude - hub.longitude, place.latitude - hub.latitude) % (
        2 * math.pi
    )


@dataclass
class _Day:
    """What the planner keeps while it walks through the couriers' loops."""

    county: County
    end: timedelta
    rng: random.Random
    volume: int
    empty: dict[str, list[str]]  # clinic → empty boxes
    returning: dict[str, list[tuple[str, str]]]  # courier → (box, clinic) to deliver next loop
    episodes: list[Episode] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    seals: int = 0

    def episode(
        self, at: timedelta, station: str, lines: list[str], events: int, what: str
    ) -> None:
        if at < self.end:
            self.episodes.append(Episode(at, station, tuple(lines), events, what))

    def post(self, post: Post) -> None:
        if post.at < self.end:
            self.posts.append(post)


def plan_day(county: County, minutes: float, seed: int = 1, volume: int = 1) -> Schedule:
    """The first ``minutes`` of a county day (from 07:50): what each station is scanned.

    A clinic fills one to three boxes per courier visit, times ``volume`` (as many as it has
    empty ones).
    """
    if minutes <= 0:
        raise ValueError("minutes must be positive")
    if volume < 1:
        raise ValueError("volume must be at least 1")
    if not county.couriers or not county.clinics:
        raise ValueError("a county day needs couriers and clinics")
    missing = {centre for _, centre in county.specimens} - set(county.receivers)
    if missing or not all(county.receivers.values()):
        raise ValueError(f"no receiver at {', '.join(sorted(missing)) or 'a centre'}")
    end = timedelta(minutes=minutes)
    day = _Day(
        county, end, random.Random(seed), volume,
        empty={clinic.place.code: list(clinic.boxes) for clinic in county.clinics},
        returning={courier: [] for courier in county.couriers},
    )  # fmt: skip
    centres = sorted(county.receivers)
    stations = [
        spec
        for clinic in county.clinics
        for spec in (
            StationSpec(f"{clinic.place.code}/bench", clinic.place.code,
                        StationMode.CLINIC_DISPATCH, centres[0]),
            StationSpec(f"{clinic.place.code}/door", clinic.place.code, StationMode.COURIER),
        )
    ] + [
        spec
        for centre in centres
        for spec in (
            StationSpec(f"{centre}/door", centre, StationMode.COURIER),
            StationSpec(f"{centre}/bench", centre, StationMode.LAB_RECEIPT),
        )
    ]  # fmt: skip
    # Everyone at a bench signs in as the day starts and stays signed in.
    for clinic in county.clinics:
        day.episode(timedelta(0), f"{clinic.place.code}/bench", [clinic.staff], 0, "sign in")
    for centre in centres:
        day.episode(timedelta(0), f"{centre}/bench", [county.receivers[centre][0]], 0, "sign in")

    ordered = sorted(county.clinics, key=lambda clinic: _angle(county.hub, clinic.place))
    count = len(county.couriers)
    for index, courier in enumerate(county.couriers):
        sector = ordered[index::count]
        depart = timedelta(minutes=10 + 3 * index)  # 08:00, a few minutes apart
        while depart < end and sector:
            depart = _loop(day, courier, sector, depart)
    episodes = sorted(_one_at_a_time(day.episodes), key=lambda e: (e.at, e.station))
    posts = sorted(day.posts, key=lambda p: p.at)
    return Schedule(tuple(stations), tuple(episodes), tuple(posts), minutes)


def _loop(day: _Day, courier: str, sector: list[Clinic], depart: timedelta) -> timedelta:
    """One courier loop from the hub round ``sector`` and back; returns the next departure."""
    county, rng = day.county, day.rng
    here, clock = county.hub, depart
    carried: list[tuple[str, str]] = []  # (box, centre)
    bringing = day.returning[courier]
    day.returning[courier] = []
    for clinic in sector:
        code = clinic.place.code
        clock += timedelta(minutes=travel_minutes(here, clinic.place))
        here = clinic.place
        # The clinic fills and seals boxes before the courier comes.
        sending = day.empty[code][: rng.randint(1, 3) * day.volume]
        del day.empty[code][: len(sending)]
        for number, box in enumerate(sending):
            specimen, centre = rng.choice(county.specimens)
            prepared = max(
                clock - timedelta(minutes=25) + timedelta(minutes=15) * number / len(sending),
                timedelta(minutes=1),
            )
            count = rng.randint(4, 24)
            day.post(
                Post(
                    prepared, code, "prepare", box, clinic.staff,
                    details={"specimen_type": specimen, "count": count, "destination": centre},
                    collected=prepared - timedelta(minutes=rng.randint(20, 60)),
                )
            )  # fmt: skip
            day.seals += 1
            seal = f"S{100000 + day.seals:06d}"
            day.episode(
                prepared + timedelta(minutes=5), f"{code}/bench",
                [box, f"COUNT:{count}", seal], 2, f"seal {box}",  # prepare + seal
            )  # fmt: skip
            carried.append((box, centre))
        lines = [courier]
        events = 0
        if sending:
            lines += ["STEP:PICKUP", *sending, clinic.staff]
            events += len(sending)
        back = [box for box, home in bringing if home == code]
        if back:
            lines += ["STEP:DELIVER", *back, clinic.staff]
            events += len(back)
            day.empty[code].extend(back)  # empty again, for a later visit
        if events:
            day.episode(clock, f"{code}/door", [*lines, courier], events, f"{courier} at {code}")
        clock += DWELL
    clock += timedelta(minutes=travel_minutes(here, county.hub))
    homes = {box: clinic.place.code for clinic in sector for box in clinic.boxes}
    for centre in sorted(county.receivers):
        boxes = [box for box, to in carried if to == centre]
        if not boxes:
            continue
        receiver = county.receivers[centre][0]
        day.episode(
            clock, f"{centre}/door", [courier, "STEP:HANDOFF", *boxes, receiver, courier],
            len(boxes), f"{courier} hands over at {centre}",
        )  # fmt: skip
        received = clock + timedelta(minutes=3)
        day.episode(received, f"{centre}/bench", boxes, len(boxes), f"{centre} receives")
        for box in boxes:
            day.post(Post(received + timedelta(minutes=7), centre, "accept", box, receiver))
            day.post(Post(received + timedelta(minutes=15), centre, "open", box, receiver))
            day.post(
                Post(clock + BREAK - timedelta(minutes=5), centre, "dispatch", box, receiver,
                     courier)
            )  # fmt: skip
            day.returning[courier].append((box, homes[box]))
    return clock + BREAK


def _one_at_a_time(episodes: list[Episode]) -> list[Episode]:
    """Episodes at the same station moved so that one ends before the next begins."""
    free: dict[str, timedelta] = {}
    placed = []
    for episode in sorted(episodes, key=lambda e: (e.at, e.station)):
        at = max(episode.at, free.get(episode.station, episode.at))
        placed.append(Episode(at, episode.station, episode.lines, episode.events, episode.what))
        free[episode.station] = at + SCAN_GAP * (len(episode.lines) + 1)
    return placed
