"""Readers for the public benchmark formats: Solomon VRPTW and Li & Lim PDPTW.

An :class:`Instance` keeps the file's numbers as read (for an independent checker) and turns
into a :class:`~routing.problem.Problem` whose "minutes" are the instance's time units, with
travel time = Euclidean distance and, by default, 100 ticks per unit (the usual ×100
scaling; travel rounded up so integer-feasible routes stay feasible).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from routing.problem import Problem, Request, Site, Vehicle, Window
from routing.travel import Matrix

DIMENSION = "demand"


class InstanceError(ValueError):
    """A benchmark file that does not parse; the message names file and line."""


@dataclass(frozen=True)
class Customer:
    """One row: a Solomon customer or a Li & Lim pickup/delivery (``0`` = the depot)."""

    id: int
    x: float
    y: float
    demand: int
    ready: float
    due: float
    service: float
    pickup: int = 0
    delivery: int = 0


@dataclass(frozen=True)
class Instance:
    """A benchmark instance: ``kind`` is ``"vrptw"`` (Solomon) or ``"pdptw"`` (Li & Lim)."""

    name: str
    kind: str
    vehicles: int
    capacity: int
    rows: tuple[Customer, ...]

    @property
    def depot(self) -> Customer:
        return self.rows[0]

    @property
    def customers(self) -> tuple[Customer, ...]:
        return self.rows[1:]

    def distance(self, a: int, b: int) -> float:
        """Exact Euclidean distance between rows ``a`` and ``b``."""
        first, second = self.rows[a], self.rows[b]
        return math.hypot(first.x - second.x, first.y - second.y)

    def pairs(self) -> list[tuple[int, int]]:
        """Li & Lim (pickup row, delivery row) pairs."""
        return [(row.id, row.delivery) for row in self.customers if row.delivery]

    def problem(
        self,
        ticks_per_minute: int = 100,
        fixed_cost: float = 0.0,
        vehicles: int | None = None,
    ) -> Problem:
        """The instance as a planning problem; every request is required."""
        ids = [str(row.id) for row in self.rows]
        minutes = [[self.distance(a, b) for b in range(len(self.rows))] for a in range(len(ids))]
        depot = self.depot
        # Instance horizons run past 24 h (C2: 3390 units), so sites open for all of it.
        horizon = Window(min(0.0, depot.ready), depot.due)
        sites = tuple(
            Site(str(row.id), latitude=row.y, longitude=row.x, opening=horizon) for row in self.rows
        )
        fleet = tuple(
            Vehicle(
                f"v{number}",
                start="0",
                end="0",
                shift=Window(depot.ready, depot.due),
                capacity={DIMENSION: self.capacity},
                fixed_cost=fixed_cost,
            )
            for number in range(vehicles or self.vehicles)
        )
        requests: list[Request] = []
        if self.kind == "vrptw":
            for row in self.customers:
                requests.append(
                    Request(
                        str(row.id),
                        pickup=None,
                        delivery=str(row.id),
                        load={DIMENSION: row.demand},
                        delivery_window=Window(row.ready, row.due),
                        delivery_service=row.service,
                    )
                )
        else:
            for pickup_row, delivery_row in self.pairs():
                pickup, delivery = self.rows[pickup_row], self.rows[delivery_row]
                requests.append(
                    Request(
                        str(pickup.id),
                        pickup=str(pickup.id),
                        delivery=str(delivery.id),
                        load={DIMENSION: pickup.demand},
                        pickup_window=Window(pickup.ready, pickup.due),
                        delivery_window=Window(delivery.ready, delivery.due),
                        pickup_service=pickup.service,
                        delivery_service=delivery.service,
                    )
                )
        return Problem(
            sites=sites,
            vehicles=fleet,
            requests=tuple(requests),
            travel=Matrix.of(ids, minutes),
            dimensions=(DIMENSION,),
            ticks_per_minute=ticks_per_minute,
        )


def read_solomon(path: Path | str) -> Instance:
    """A Solomon VRPTW file: a name, ``VEHICLE NUMBER CAPACITY``, then customer rows."""
    source = Path(path)
    lines = source.read_text().splitlines()
    vehicles = capacity = None
    rows: list[Customer] = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if len(fields) == 2 and vehicles is None and all(f.isdigit() for f in fields):
            vehicles, capacity = int(fields[0]), int(fields[1])
        elif len(fields) == 7 and fields[0].isdigit():
            try:
                values = [float(field) for field in fields]
            except ValueError as error:
                raise InstanceError(f"{source}:{number}: {error}") from error
            cust, x, y, demand, ready, due, service = values
            rows.append(Customer(int(cust), x, y, int(demand), ready, due, service))
    if vehicles is None or capacity is None or not rows or rows[0].id != 0:
        raise InstanceError(f"{source}: not a Solomon file (no fleet line or no depot row)")
    _check_ids(source, rows)
    return Instance(source.stem, "vrptw", vehicles, capacity, tuple(rows))


def read_li_lim(path: Path | str) -> Instance:
    """A Li & Lim PDPTW file: ``K Q speed``, then ``id x y demand ready due service p d``."""
    source = Path(path)
    lines = [line for line in source.read_text().splitlines() if line.strip()]
    try:
        head = lines[0].split()
        vehicles, capacity = int(head[0]), int(head[1])
        rows = []
        for line in lines[1:]:
            f = line.split()
            rows.append(
                Customer(
                    int(f[0]),
                    float(f[1]),
                    float(f[2]),
                    int(f[3]),
                    float(f[4]),
                    float(f[5]),
                    float(f[6]),
                    int(f[7]),
                    int(f[8]),
                )
            )
    except (IndexError, ValueError) as error:
        raise InstanceError(f"{source}: not a Li & Lim file ({error})") from error
    _check_ids(source, rows)
    for row in rows[1:]:
        if row.delivery:
            partner = rows[row.delivery]
            if partner.pickup != row.id or partner.demand != -row.demand:
                raise InstanceError(
                    f"{source}: pickup {row.id} and delivery {row.delivery} disagree"
                )
        elif not row.pickup:
            raise InstanceError(f"{source}: row {row.id} is neither pickup nor delivery")
    return Instance(source.stem, "pdptw", vehicles, capacity, tuple(rows))


def read_instance(path: Path | str) -> Instance:
    """Either format, told apart by the first line."""
    first = Path(path).read_text().split("\n", 1)[0].split()
    return read_li_lim(path) if len(first) == 3 else read_solomon(path)


def _check_ids(source: Path, rows: list[Customer]) -> None:
    for position, row in enumerate(rows):
        if row.id != position:
            raise InstanceError(f"{source}: row {position} has id {row.id}; ids must be 0..n")
