"""Travel-time providers: how many minutes a courier needs from one site to another.

Every provider answers ``matrix(sites)``: a square matrix of minutes in the order of
``sites``, row = from, column = to. The planner rounds these up to whole ticks.

* :class:`StraightLine` — straight-line distance × road factor at an average speed; the
  default, needing nothing but coordinates.
* :class:`Matrix` / :class:`MatrixFile` — a matrix given in memory or as a CSV file.
* :class:`OsrmTable` — an OSRM-compatible ``/table/v1`` HTTP service.
* :class:`Learned` — observed legs from custody scans blended with any of the above.
"""

from __future__ import annotations

import csv
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx

from routing.problem import Site

KM_PER_DEGREE = 111.0


class TravelError(ValueError):
    """A provider could not produce a usable matrix; the message says why."""


@runtime_checkable
class TravelTimeProvider(Protocol):
    """Anything that gives travel minutes between sites."""

    def matrix(self, sites: Sequence[Site]) -> Sequence[Sequence[float]]:
        """Minutes from ``sites[i]`` to ``sites[j]`` at ``[i][j]``."""
        ...


@dataclass(frozen=True)
class StraightLine:
    """Straight-line distance × ``road_factor`` at ``speed_kmh``.

    The defaults (1.35, 42 km/h) are those of the demo county: a fair guess for county
    roads between townships. Distances use an equirectangular projection (111 km per degree,
    longitude scaled by the cosine of the mean latitude): exact enough within a county.
    """

    road_factor: float = 1.35
    speed_kmh: float = 42.0

    def __post_init__(self) -> None:
        if not (self.road_factor >= 1.0 and math.isfinite(self.road_factor)):
            raise TravelError(f"road_factor must be a finite number >= 1, got {self.road_factor}")
        if not (self.speed_kmh > 0 and math.isfinite(self.speed_kmh)):
            raise TravelError(f"speed_kmh must be a positive number, got {self.speed_kmh}")

    def kilometres(self, a: Site, b: Site) -> float:
        """Straight-line kilometres between two sites."""
        for site in (a, b):
            if not -90 <= site.latitude <= 90:
                raise TravelError(f"site {site.id!r}: latitude {site.latitude} is not in ±90")
        mean_latitude = math.radians((a.latitude + b.latitude) / 2)
        north = (a.latitude - b.latitude) * KM_PER_DEGREE
        east = (a.longitude - b.longitude) * KM_PER_DEGREE * math.cos(mean_latitude)
        return math.hypot(north, east)

    def minutes(self, a: Site, b: Site) -> float:
        """Driving minutes between two sites."""
        return self.kilometres(a, b) * self.road_factor / self.speed_kmh * 60.0

    def matrix(self, sites: Sequence[Site]) -> list[list[float]]:
        return [[self.minutes(a, b) for b in sites] for a in sites]


@dataclass(frozen=True)
class Matrix:
    """A given matrix of minutes between the sites named by ``ids``."""

    ids: tuple[str, ...]
    minutes: tuple[tuple[float, ...], ...]

    @classmethod
    def of(cls, ids: Sequence[str], minutes: Sequence[Sequence[float]]) -> Matrix:
        """Check and freeze a matrix: square, matching ``ids``, finite and non-negative."""
        if len(set(ids)) != len(ids):
            raise TravelError("matrix: site ids must be distinct")
        if len(minutes) != len(ids):
            raise TravelError(f"matrix: {len(minutes)} rows for {len(ids)} sites")
        rows: list[tuple[float, ...]] = []
        for origin, row in zip(ids, minutes, strict=True):
            if len(row) != len(ids):
                raise TravelError(f"matrix row {origin!r}: {len(row)} columns for {len(ids)} sites")
            for destination, value in zip(ids, row, strict=True):
                if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                    raise TravelError(
                        f"matrix[{origin!r}][{destination!r}] must be a finite number >= 0, "
                        f"got {value!r}"
                    )
            rows.append(tuple(float(value) for value in row))
        return cls(tuple(ids), tuple(rows))

    def matrix(self, sites: Sequence[Site]) -> list[list[float]]:
        position = {site_id: index for index, site_id in enumerate(self.ids)}
        missing = [site.id for site in sites if site.id not in position]
        if missing:
            raise TravelError(f"matrix has no row for site(s) {', '.join(map(repr, missing))}")
        picked = [position[site.id] for site in sites]
        return [[self.minutes[i][j] for j in picked] for i in picked]


@dataclass(frozen=True)
class MatrixFile:
    """A matrix in a CSV file, read when asked: a header row of site ids (first cell ignored),
    then one row per site in the same order: its id and the minutes to every site."""

    path: Path | str

    def load(self) -> Matrix:
        """Read and check the file."""
        source = Path(self.path)
        try:
            with source.open(newline="", encoding="utf-8-sig") as handle:
                rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
        except OSError as error:
            raise TravelError(f"{source}: cannot read the matrix ({error.strerror})") from error
        if not rows:
            raise TravelError(f"{source}: empty matrix file")
        ids = [cell.strip() for cell in rows[0][1:]]
        minutes: list[list[float]] = []
        for number, row in enumerate(rows[1:]):
            expected = ids[number] if number < len(ids) else None
            if row[0].strip() != expected:
                raise TravelError(
                    f"{source}:{number + 2}: row for {row[0].strip()!r}, expected "
                    + (repr(expected) if expected else "no more rows")
                )
            try:
                minutes.append([float(cell) for cell in row[1:]])
            except ValueError as error:
                raise TravelError(f"{source}:{number + 2}: {error}") from error
        try:
            return Matrix.of(ids, minutes)
        except TravelError as error:
            raise TravelError(f"{source}: {error}") from error

    def matrix(self, sites: Sequence[Site]) -> list[list[float]]:
        return self.load().matrix(sites)


@dataclass(frozen=True)
class OsrmTable:
    """Durations from an OSRM-compatible ``GET {base_url}/table/v1/{profile}/{coordinates}``.

    OSRM answers seconds; they become minutes here. A missing route (``null``) is an error,
    not a guess: the dispatcher should know the service cannot route between two sites.
    """

    base_url: str
    client: httpx.Client | None = None
    profile: str = "driving"
    timeout: float = 10.0

    def matrix(self, sites: Sequence[Site]) -> list[list[float]]:
        if not sites:
            return []
        coordinates = ";".join(f"{site.longitude:.6f},{site.latitude:.6f}" for site in sites)
        url = f"{self.base_url.rstrip('/')}/table/v1/{self.profile}/{coordinates}"
        params = {"annotations": "duration"}
        try:
            if self.client is not None:
                response = self.client.get(url, params=params, timeout=self.timeout)
            else:
                with httpx.Client(timeout=self.timeout) as client:
                    response = client.get(url, params=params)
        except httpx.HTTPError as error:
            raise TravelError(f"OSRM table at {self.base_url}: {error}") from error
        try:
            body = response.json()
        except ValueError as error:
            raise TravelError(
                f"OSRM table at {self.base_url}: HTTP {response.status_code}, not JSON"
            ) from error
        if response.status_code != 200 or body.get("code") != "Ok":
            message = body.get("message") or body.get("code") or "no reason given"
            raise TravelError(
                f"OSRM table at {self.base_url}: HTTP {response.status_code}: {message}"
            )
        durations = body.get("durations")
        if not isinstance(durations, list) or len(durations) != len(sites):
            raise TravelError(f"OSRM table at {self.base_url}: no {len(sites)}×{len(sites)} matrix")
        result: list[list[float]] = []
        for origin, row in zip(sites, durations, strict=True):
            if not isinstance(row, list) or len(row) != len(sites):
                raise TravelError(f"OSRM table: malformed row for site {origin.id!r}")
            minutes_row = []
            for destination, seconds in zip(sites, row, strict=True):
                if seconds is None:
                    raise TravelError(
                        f"OSRM table: no route from {origin.id!r} to {destination.id!r}"
                    )
                if not (isinstance(seconds, int | float) and math.isfinite(seconds)):
                    raise TravelError(f"OSRM table: bad duration {seconds!r}")
                minutes_row.append(max(0.0, float(seconds)) / 60.0)
            result.append(minutes_row)
        return result


@dataclass(frozen=True)
class Leg:
    """One observed trip of a courier from ``origin`` to ``destination`` (site ids)."""

    origin: str
    destination: str
    minutes: float


@dataclass(frozen=True)
class Scan:
    """A custody scan reduced to what travel learning needs."""

    courier: str
    site: str
    at: datetime


def legs_from_scans(scans: Iterable[Scan], max_leg_minutes: float = 180.0) -> list[Leg]:
    """Legs between a courier's last scan at one site and first scan at the next.

    Gaps longer than ``max_leg_minutes`` (a lunch break, the end of a day) are not legs.
    """
    by_courier: dict[str, list[Scan]] = defaultdict(list)
    for scan in scans:
        if scan.at.tzinfo is None:
            raise TravelError(f"scan at {scan.site!r} by {scan.courier!r} has a naive timestamp")
        by_courier[scan.courier].append(scan)
    legs: list[Leg] = []
    for courier_scans in by_courier.values():
        courier_scans.sort(key=lambda scan: scan.at)
        for before, after in itertools.pairwise(courier_scans):
            if before.site == after.site:
                continue
            minutes = (after.at - before.at).total_seconds() / 60.0
            if 0 < minutes <= max_leg_minutes:
                legs.append(Leg(before.site, after.site, minutes))
    return legs


@dataclass(frozen=True)
class Learned:
    """Observed legs blended with a prior provider.

    For a pair with ``n`` observed legs whose median is ``m``, the estimate is
    ``w·m + (1 − w)·prior`` with ``w = n / (n + k)``: one leg moves a 3-leg-strength prior
    (``k = 3``) a quarter of the way, ten legs three quarters. The median ignores the odd
    detour. A leg is timed scan to scan, so it includes the destination's per-visit service
    (parking, walking in), which the planner adds separately; that is subtracted first.
    Pairs with no observation keep the prior.
    """

    prior: TravelTimeProvider
    legs: tuple[Leg, ...]
    k: float = 3.0

    def __post_init__(self) -> None:
        if not (self.k > 0 and math.isfinite(self.k)):
            raise TravelError(f"k must be a positive number, got {self.k}")

    def observed(self) -> Mapping[tuple[str, str], list[float]]:
        """Observed minutes per (origin, destination)."""
        pairs: dict[tuple[str, str], list[float]] = defaultdict(list)
        for leg in self.legs:
            pairs[(leg.origin, leg.destination)].append(leg.minutes)
        return pairs

    def matrix(self, sites: Sequence[Site]) -> list[list[float]]:
        prior = [list(map(float, row)) for row in self.prior.matrix(sites)]
        observed = self.observed()
        for i, origin in enumerate(sites):
            for j, destination in enumerate(sites):
                samples = observed.get((origin.id, destination.id))
                if i == j or not samples:
                    continue
                seen = max(0.0, statistics.median(samples) - destination.service)
                weight = len(samples) / (len(samples) + self.k)
                prior[i][j] = weight * seen + (1 - weight) * prior[i][j]
        return prior
