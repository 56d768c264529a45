"""Routing benchmark: Handoff's planner against PyVRP and VROOM on Solomon and Li & Lim.

Run as ``python -m bench.routing [--set solomon li_lim_100] [--limit 10 30] [--full]``. DATA
(``--data``, else ``HANDOFF_BENCH_ROUTING``, else ``../shared/bench/routing`` next to the
repository) holds the instance folders and ``bks.csv``. Every solver gets the same integer
model (distances ×100 rounded, travel times ×100 rounded up, so integer-feasible routes are
feasible in exact arithmetic), one thread, the same wall-clock limit and seed 1. PyVRP and
VROOM are comparisons only (``pip install '.[bench]'``); a missing one is reported as such.

Each solution is verified here by a checker written from the benchmark's definition, in
double precision, independent of every solver (Handoff's included): every customer once,
capacity (Solomon: route demand <= Q; Li & Lim: load within [0, Q] all along), each pair on
one route with the pickup first, service starting by the due time, back at the depot by its
due time, at most the given fleet. The distance is recomputed from the coordinates.

Gaps are ``100 · (distance − bks_distance) / bks_distance``. For Solomon that BKS is the
best known distance-only value (fleet free), which is what all three solvers minimise; for
Li & Lim only hierarchical BKS exist (fewest vehicles, then distance), so vehicles are
reported next to every gap. By default two instances per family run (``--full``: all);
rows are appended to a CSV as they finish, ``--resume`` skips rows already there and
``--report-only`` rebuilds the tables from the CSV. The benchmark never fails on timing.

A county-sized day (``county_day``: 30 requests, 60 stops, 6 couriers) is planned ``--county-days``
times: by Handoff at 2 s with seeds 1-3 and at 20 s with seeds 1-2, once for each
``--county-workers`` count of searches at once (``plan(..., workers=)``: more than one uses
the machine's other cores, so run those with nothing else on the machine), and by PyVRP
(when in ``--solvers``) at the same limits and seeds. PyVRP has no ride limit; its plans are
timed in the problem and checked like Handoff's, and one that breaks the limit counts as not
feasible. ``--county-no-ride-limit`` plans every day again without that limit, where both
model the same problem. ``--county-only`` runs just the county days and leaves the instance
CSV alone. Every plan is compared with the best feasible plan any of those runs found for its
day, so "no further improvement in 2 s" reads as every 2 s plan equal to that best.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from routing import Plan, Problem, Request, Site, Vehicle, Window, check, plan, portfolio, timed
from routing.instances import Instance, read_instance
from routing.model import Settings, ticks_window
from routing.travel import StraightLine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "bench" / "routing"
DEFAULT_CSV = ROOT / "var" / "bench-routing.csv"
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- routing:start -->"
END_MARK = "<!-- routing:end -->"
DOCS_HEADER = (
    "# Benchmarks\n\nFigures in the sections below are written by the benchmarks themselves.\n"
)
SETS = ("solomon", "li_lim_100", "li_lim_200")
SOLVERS = ("handoff", "pyvrp", "vroom")
SCALE = 100
SEED = 1
EPSILON = 1e-6
TARGETS = {"solomon": 0.5, "li_lim_100": 1.0}
# Listed best-known distances that no feasible solution can reach: below the reported optimum
# of the instance under the one-decimal truncation convention, a relaxation (truncating
# every arc only shortens distances and travel times). The targets are still judged against
# the listed values; the report adds the mean without these instances.
UNREACHABLE_BKS = {"R109": 1146.9}

Routes = list[list[int]]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Run:
    instance: str
    set: str
    family: str
    solver: str
    limit: float
    distance: float
    vehicles: int
    feasible: bool
    gap: float
    bks: float
    bks_vehicles: int
    seconds: float
    errors: str
    load: str = ""  # the 1-minute load average when the run ended


# -- the independent checker ----------------------------------------------------------------


def verify(instance: Instance, routes: Routes) -> tuple[float, list[str]]:
    """Exact distance of ``routes`` (lists of row ids, depot left out) and broken rules."""
    errors: list[str] = []
    rows = instance.rows
    seen: dict[int, int] = {}
    if len([route for route in routes if route]) > instance.vehicles:
        errors.append(f"{len(routes)} routes for a fleet of {instance.vehicles}")
    partner = {row.id: row.delivery for row in instance.customers if row.delivery}
    owner: dict[int, tuple[int, int]] = {}
    distance = 0.0
    for number, route in enumerate(routes):
        if not route:
            continue
        clock = instance.depot.ready
        load = 0 if instance.kind == "pdptw" else sum(rows[i].demand for i in route)
        if load > instance.capacity:
            errors.append(f"route {number}: demand {load} > capacity {instance.capacity}")
        previous = 0
        for position, row_id in enumerate(route):
            if not 0 < row_id < len(rows):
                errors.append(f"route {number}: no customer {row_id}")
                break
            seen[row_id] = seen.get(row_id, 0) + 1
            owner[row_id] = (number, position)
            row = rows[row_id]
            leg = instance.distance(previous, row_id)
            distance += leg
            clock = max(clock + leg, row.ready)
            if clock > row.due + EPSILON:
                errors.append(f"route {number}: {row_id} served at {clock:.2f} > due {row.due}")
            clock += row.service
            if instance.kind == "pdptw":
                load += row.demand
                if not 0 <= load <= instance.capacity:
                    errors.append(f"route {number}: load {load} after {row_id}")
            previous = row_id
            clock_after = clock
        back = instance.distance(previous, 0)
        distance += back
        if clock_after + back > instance.depot.due + EPSILON:
            errors.append(
                f"route {number}: back at {clock_after + back:.2f} > {instance.depot.due}"
            )
    for row in instance.customers:
        if seen.get(row.id, 0) != 1:
            errors.append(f"customer {row.id} visited {seen.get(row.id, 0)} times")
    for pickup, delivery in partner.items():
        if pickup in owner and delivery in owner:
            (route_p, at_p), (route_d, at_d) = owner[pickup], owner[delivery]
            if route_p != route_d:
                errors.append(f"pair {pickup}->{delivery} split over routes")
            elif at_d < at_p:
                errors.append(f"pair {pickup}->{delivery} delivered first")
    return distance, errors


# -- the solvers ----------------------------------------------------------------------------


# Set from the command line: planner settings to try (``--setting``) and the cost of a vehicle
# on Li & Lim, whose BKS minimise vehicles first (``--pdptw-vehicle-cost``, distance units).
SETTINGS: dict[str, object] = {}
PDPTW_VEHICLE_COST = 0.0


def solve_handoff(instance: Instance, limit: float) -> Routes:
    fixed = PDPTW_VEHICLE_COST if instance.kind == "pdptw" else 0.0
    problem = instance.problem(ticks_per_minute=SCALE, fixed_cost=fixed)
    result = plan(problem, limit, SEED, settings=Settings(**SETTINGS))  # type: ignore[arg-type]
    problems = check(problem, result)
    if problems:
        log(f"  handoff's own checker disagrees: {problems[:3]}")
    return [[int(stop.site) for stop in route.stops if stop.handling] for route in result.routes]


def _ticks(instance: Instance) -> tuple[list[list[int]], list[list[int]]]:
    size = len(instance.rows)
    exact = [[instance.distance(a, b) for b in range(size)] for a in range(size)]
    distance = [[round(SCALE * d) for d in row] for row in exact]
    duration = [[math.ceil(SCALE * d - 1e-9) for d in row] for row in exact]
    return distance, duration


def solve_pyvrp(instance: Instance, limit: float) -> Routes:
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    distance, duration = _ticks(instance)
    model = Model()
    locations = [model.add_location(row.x, row.y) for row in instance.rows]
    depot = instance.depot
    model.add_depot(
        locations[0], tw_early=round(depot.ready * SCALE), tw_late=round(depot.due * SCALE)
    )
    model.add_vehicle_type(
        num_available=instance.vehicles,
        capacity=instance.capacity,
        tw_early=round(depot.ready * SCALE),
        tw_late=round(depot.due * SCALE),
    )
    rows_of_client: list[int] = []
    rows_of_shipment: list[tuple[int, int]] = []
    if instance.kind == "vrptw":
        for row in instance.customers:
            model.add_client(
                locations[row.id],
                delivery=row.demand,
                service_duration=round(row.service * SCALE),
                tw_early=round(row.ready * SCALE),
                tw_late=round(row.due * SCALE),
            )
            rows_of_client.append(row.id)
    else:
        for pickup_id, delivery_id in instance.pairs():
            pickup, delivery = instance.rows[pickup_id], instance.rows[delivery_id]
            model.add_shipment(
                locations[pickup_id],
                locations[delivery_id],
                pickup_tw_early=round(pickup.ready * SCALE),
                pickup_tw_late=round(pickup.due * SCALE),
                pickup_service_duration=round(pickup.service * SCALE),
                delivery_tw_early=round(delivery.ready * SCALE),
                delivery_tw_late=round(delivery.due * SCALE),
                delivery_service_duration=round(delivery.service * SCALE),
                amount=pickup.demand,
            )
            rows_of_shipment.append((pickup_id, delivery_id))
    for a, frm in enumerate(locations):
        for b, to in enumerate(locations):
            if a != b:
                model.add_edge(frm, to, distance=distance[a][b], duration=duration[a][b])
    result = model.solve(stop=MaxRuntime(limit), seed=SEED, display=False)
    routes: Routes = []
    for route in result.best.routes():
        visits: list[int] = []
        for activity in route:
            if activity.is_client():
                visits.append(rows_of_client[activity.idx])
            elif activity.is_pickup():
                visits.append(rows_of_shipment[activity.idx][0])
            elif activity.is_delivery():
                visits.append(rows_of_shipment[activity.idx][1])
        routes.append(visits)
    return routes


def solve_vroom(instance: Instance, limit: float) -> Routes:
    import vroom

    distance, duration = _ticks(instance)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=duration)
    problem.set_costs_matrix(profile="car", matrix_input=distance)
    depot = instance.depot
    shift = vroom.TimeWindow(round(depot.ready * SCALE), round(depot.due * SCALE))
    for number in range(instance.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(
                number + 1,
                start=0,
                end=0,
                capacity=vroom.Amount([instance.capacity]),
                time_window=shift,
            )
        )

    def window(row_id: int) -> list[vroom.TimeWindow]:
        row = instance.rows[row_id]
        return [vroom.TimeWindow(round(row.ready * SCALE), round(row.due * SCALE))]

    if instance.kind == "vrptw":
        problem.add_job(
            [
                vroom.Job(
                    row.id,
                    location=row.id,
                    delivery=vroom.Amount([row.demand]),
                    default_service=round(row.service * SCALE),
                    time_windows=window(row.id),
                )
                for row in instance.customers
            ]
        )
    else:
        for pickup_id, delivery_id in instance.pairs():
            pickup, delivery = instance.rows[pickup_id], instance.rows[delivery_id]
            problem.add_shipment(
                vroom.ShipmentStep(
                    pickup_id,
                    location=pickup_id,
                    default_service=round(pickup.service * SCALE),
                    time_windows=window(pickup_id),
                ),
                vroom.ShipmentStep(
                    delivery_id,
                    location=delivery_id,
                    default_service=round(delivery.service * SCALE),
                    time_windows=window(delivery_id),
                ),
                amount=vroom.Amount([pickup.demand]),
            )
    solution = problem.solve(exploration_level=5, nb_threads=1, timeout=timedelta(seconds=limit))
    routes: dict[int, list[int]] = defaultdict(list)
    for row in solution.routes.itertuples():
        if row.type in ("job", "pickup", "delivery"):
            routes[int(row.vehicle_id)].append(int(row.id))
    return list(routes.values())


SOLVE: dict[str, Callable[[Instance, float], Routes]] = {
    "handoff": solve_handoff,
    "pyvrp": solve_pyvrp,
    "vroom": solve_vroom,
}
PACKAGES = {"handoff": "ortools", "pyvrp": "pyvrp", "vroom": "pyvroom"}


def available(solver: str) -> bool:
    try:
        metadata.version(PACKAGES[solver])
    except metadata.PackageNotFoundError:
        return False
    return True


# -- instances ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str
    set: str
    family: str
    path: Path
    bks: float
    bks_vehicles: int


def family_of(set_name: str, name: str) -> str:
    """C1, R2, lrc1, LC1 …: the letters and the first digit (Li & Lim 200: before the ``_``)."""
    if set_name == "li_lim_200":
        return name.split("_")[0]
    letters = name.rstrip("0123456789")
    return name[: len(letters) + 1]


def catalogue(data: Path, sets: Sequence[str]) -> list[Entry]:
    bks_file = data / "bks.csv"
    if not bks_file.is_file():
        raise SystemExit(f"no {bks_file}; pass --data DIR or set HANDOFF_BENCH_ROUTING")
    entries = []
    with bks_file.open(newline="") as handle:
        for row in csv.DictReader(handle):
            set_name = row["file"].split("/")[0]
            if set_name not in sets:
                continue
            entries.append(
                Entry(
                    row["instance"],
                    set_name,
                    family_of(set_name, row["instance"]),
                    data / row["file"],
                    float(row["bks_distance"]),
                    int(row["bks_vehicles"]),
                )
            )
    return sorted(entries, key=lambda e: (SETS.index(e.set), e.family, e.name))


def sample(entries: Sequence[Entry], per_family: int) -> list[Entry]:
    """A fixed, seeded choice of ``per_family`` instances from every family."""
    by_family: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        by_family[(entry.set, entry.family)].append(entry)
    chosen = []
    for key in sorted(by_family, key=lambda k: (SETS.index(k[0]), k[1])):
        members = by_family[key]
        chosen.extend(
            sorted(
                random.Random(f"{key}").sample(members, min(per_family, len(members))),
                key=lambda e: e.name,
            )
        )
    return chosen


# -- running --------------------------------------------------------------------------------


def run_one(entry: Entry, solver: str, limit: float) -> Run:
    instance = read_instance(entry.path)
    started = time.perf_counter()
    errors: list[str] = []
    try:
        routes = SOLVE[solver](instance, limit)
    except Exception as error:
        routes, errors = [], [f"{type(error).__name__}: {error}"]
    seconds = time.perf_counter() - started
    distance, problems = verify(instance, routes) if routes else (math.nan, [])
    errors += problems
    if not routes and not errors:
        errors.append("no solution")
    feasible = not errors
    vehicles = len([route for route in routes if route])
    gap = 100 * (distance - entry.bks) / entry.bks if feasible else math.nan
    return Run(
        entry.name,
        entry.set,
        entry.family,
        solver,
        limit,
        round(distance, 4),
        vehicles,
        feasible,
        round(gap, 4),
        entry.bks,
        entry.bks_vehicles,
        round(seconds, 3),
        "; ".join(errors[:3]),
        f"{os.getloadavg()[0]:.2f}",
    )


def load_runs(path: Path) -> list[Run]:
    if not path.is_file():
        return []
    runs = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            runs.append(
                Run(
                    row["instance"],
                    row["set"],
                    row["family"],
                    row["solver"],
                    float(row["limit"]),
                    float(row["distance"]),
                    int(row["vehicles"]),
                    row["feasible"] == "True",
                    float(row["gap"]),
                    float(row["bks"]),
                    int(row["bks_vehicles"]),
                    float(row["seconds"]),
                    row["errors"],
                    row.get("load", ""),
                )
            )
    return runs


def append_run(path: Path, run: Run) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, [f.name for f in fields(Run)])
        if new:
            writer.writeheader()
        writer.writerow(asdict(run))


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


# -- a county-sized day ---------------------------------------------------------------------


def county_day(
    seed: int,
    clinics: int = 15,
    couriers: int = 6,
    requests: int = 30,
    *,
    ride_limit: bool = True,
) -> Problem:
    """A day like the demo county's: specimen boxes to the lab, dirty packs to the CSSD,
    sterile packs back, from townships 6-40 km around the county hospital. Without
    ``ride_limit`` the same day with no 150-minute limit on a box's ride (a problem PyVRP
    can model)."""
    rng = random.Random(seed)
    centre = (30.0, 114.0)
    sites = [
        Site("CH", *centre),
        Site("LAB", centre[0] + 0.002, centre[1], Window(7 * 60, 20 * 60), service=5),
        Site("CSSD", centre[0], centre[1] + 0.002, Window(7 * 60, 18 * 60), service=5),
    ]
    for number in range(1, clinics + 1):
        distance_km, angle = rng.uniform(6, 40), rng.uniform(0, 2 * math.pi)
        sites.append(
            Site(
                f"T{number:02d}",
                centre[0] + distance_km * math.sin(angle) / 111.0,
                centre[1] + distance_km * math.cos(angle) / (111.0 * math.cos(math.radians(30))),
                Window(8 * 60, 17 * 60 + 30),
                service=4,
            )
        )
    fleet = [
        Vehicle(
            f"C{number}",
            "CH",
            "CH",
            Window(7 * 60, 18 * 60),
            {"boxes": 20, "cold_boxes": 6, "crates": 8},
            max_duration=9 * 60,
            fixed_cost=60,
        )
        for number in range(1, couriers + 1)
    ]
    work = []
    for number in range(requests):
        clinic = f"T{rng.randint(1, clinics):02d}"
        kind = rng.choice(("specimen", "specimen", "dirty", "sterile"))
        if kind == "specimen":
            ready = rng.choice((8 * 60, 9 * 60 + 30, 11 * 60, 13 * 60 + 30, 15 * 60))
            cold = rng.random() < 0.3
            work.append(
                Request(
                    f"R{number}",
                    clinic,
                    "LAB",
                    {"boxes": 1, "cold_boxes": int(cold)},
                    pickup_window=Window(ready, ready + 90),
                    delivery_window=Window(ready, ready + 180),
                    pickup_service=2,
                    delivery_service=3,
                    max_ride=150 if ride_limit else None,
                )
            )
        elif kind == "dirty":
            work.append(
                Request(
                    f"R{number}",
                    clinic,
                    "CSSD",
                    {"crates": rng.randint(1, 2)},
                    delivery_window=Window(8 * 60, 17 * 60),
                    pickup_service=3,
                    delivery_service=3,
                )
            )
        else:
            work.append(
                Request(
                    f"R{number}",
                    "CSSD",
                    clinic,
                    {"crates": rng.randint(1, 2)},
                    pickup_window=Window(8 * 60, 16 * 60),
                    pickup_service=3,
                    delivery_service=3,
                )
            )
    return Problem(tuple(sites), tuple(fleet), tuple(work), travel=StraightLine())


def solve_pyvrp_county(problem: Problem, limit: float, seed: int) -> tuple[float, Plan | None]:
    """PyVRP on a county day: PyVRP's own objective (minutes) and its routes as a plan.

    Each pickup and each delivery is a PyVRP visit of its own at a location of its own, so
    that it keeps its window (within the site's opening hours) and handling time, and a
    site's service is spent once per arrival, on the edges into it from another site, as in
    the planner; a request is a PyVRP shipment, a courier a vehicle type of one vehicle.
    Times are in the problem's ticks (travel rounded up, cost rounded). PyVRP has no ride
    limit: its order is timed in the problem itself (``routing.timed``), and the plan is
    None when that order breaks a rule PyVRP did not model (or PyVRP found no feasible one).
    """
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    scale = problem.ticks_per_minute
    minutes = (problem.travel or StraightLine()).matrix(problem.sites)
    site_of = {site.id: number for number, site in enumerate(problem.sites)}
    model = Model()
    # (PyVRP location, site number, whether a visit) for every place a courier stops at.
    places: list[tuple[Any, int, bool]] = []
    depots = {}
    for vehicle in problem.vehicles:
        for place in (vehicle.start, vehicle.end):
            if place not in depots:
                location = model.add_location(0, 0)
                depots[place] = model.add_depot(location)
                places.append((location, site_of[place], False))
    for vehicle in problem.vehicles:
        model.add_vehicle_type(
            capacity=[vehicle.capacity.get(name, 0) for name in problem.dimensions],
            start_depot=depots[vehicle.start],
            end_depot=depots[vehicle.end],
            fixed_cost=round(vehicle.fixed_cost * scale),
            tw_early=round(vehicle.shift.start * scale),
            tw_late=round(vehicle.shift.end * scale),
            shift_duration=(
                math.floor(vehicle.max_duration * scale)
                if vehicle.max_duration is not None
                else 2**62
            ),
            name=vehicle.id,
        )
    shipments: list[str] = []
    for request in problem.requests:
        if request.pickup is None or request.delivery is None:
            raise ValueError(f"{request.id}: a county request runs between two sites")
        pickup, delivery = model.add_location(0, 0), model.add_location(0, 0)
        places += [
            (pickup, site_of[request.pickup], True),
            (delivery, site_of[request.delivery], True),
        ]
        p_early, p_late = ticks_window(
            request.pickup_window, problem.site(request.pickup).opening, scale
        )
        d_early, d_late = ticks_window(
            request.delivery_window, problem.site(request.delivery).opening, scale
        )
        model.add_shipment(
            pickup,
            delivery,
            pickup_tw_early=p_early,
            pickup_tw_late=p_late,
            pickup_service_duration=round(request.pickup_service * scale),
            delivery_tw_early=d_early,
            delivery_tw_late=d_late,
            delivery_service_duration=round(request.delivery_service * scale),
            amount=[request.load.get(name, 0) for name in problem.dimensions],
            name=request.id,
        )
        shipments.append(request.id)
    for origin, a, _ in places:
        for destination, b, is_visit in places:
            if origin is destination:
                continue
            duration = math.ceil(minutes[a][b] * scale - 1e-9)
            if a != b and is_visit:
                duration += round(problem.sites[b].service * scale)
            model.add_edge(origin, destination, round(minutes[a][b] * scale), duration)
    result = model.solve(stop=MaxRuntime(limit), seed=seed, display=False)
    cost = result.cost() / scale
    if not result.is_feasible():
        return cost, None
    orders: dict[str, list[tuple[str, Literal["pickup", "delivery"]]]] = {}
    for route in result.best.routes():
        courier = problem.vehicles[route.vehicle_type()].id
        orders[courier] = [
            (shipments[activity.idx], "pickup" if activity.is_pickup() else "delivery")
            for activity in route
            if not activity.is_depot()
        ]
    return cost, timed(problem, orders)


@dataclass
class CountyRun:
    """One plan of one generated county day at one time limit and seed."""

    day: int
    seed: int
    limit: float
    stops: int
    couriers: int
    objective: float
    best_found: float
    feasible: bool
    workers: int = 1
    solver: str = "handoff"
    ride_limit: bool = True


COUNTY_SHORT, COUNTY_LONG = 2.0, 20.0
COUNTY_SHORT_SEEDS, COUNTY_LONG_SEEDS = (1, 2, 3), (1, 2)


def save_county(path: Path, runs: Sequence[CountyRun]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, [f.name for f in fields(CountyRun)])
        writer.writeheader()
        writer.writerows(asdict(run) for run in runs)


def load_county(path: Path) -> list[CountyRun]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "day" not in rows[0]:
        log(f"{path}: county runs in the format before 2026-12-06, left out")
        return []
    return [
        CountyRun(
            int(row["day"]),
            int(row["seed"]),
            float(row["limit"]),
            int(row["stops"]),
            int(row["couriers"]),
            float(row["objective"]),
            float(row["best_found"]),
            row["feasible"] == "True",
            int(row.get("workers") or 1),
            row.get("solver") or "handoff",
            row.get("ride_limit", "True") != "False",
        )
        for row in rows
    ]


def county(
    days: int,
    workers: Sequence[int] = (1,),
    requests: int = 30,
    solvers: Sequence[str] = ("handoff",),
    ride_limits: Sequence[bool] = (True,),
) -> list[CountyRun]:
    """Plan each generated day (``requests`` a day) at the short limit with three seeds and
    at the long one with two: Handoff with each count of searches at once in ``workers``,
    and PyVRP (one search) when in ``solvers``; each day as it is and, when ``ride_limits``
    holds False, again without the ride limit. The report compares every plan with the best
    plan any run found for its day."""
    settings = Settings(**SETTINGS)  # type: ignore[arg-type]
    portfolio.warm(max(workers))  # worker processes started before the clock runs
    runs: list[CountyRun] = []
    limits = [(COUNTY_SHORT, seed) for seed in COUNTY_SHORT_SEEDS]
    limits += [(COUNTY_LONG, seed) for seed in COUNTY_LONG_SEEDS]
    plans = [("handoff", limit, seed, count) for count in workers for limit, seed in limits]
    if "pyvrp" in solvers:
        plans += [("pyvrp", limit, seed, 1) for limit, seed in limits]
    total = days * len(ride_limits) * len(plans)
    for day in range(days):
        for ride_limit in ride_limits:
            problem = county_day(day, requests=requests, ride_limit=ride_limit)
            for solver, limit, seed, count in plans:
                if solver == "pyvrp":
                    objective, result = solve_pyvrp_county(problem, limit, seed)
                    found = math.nan
                else:
                    result = plan(problem, limit, seed, settings=settings, workers=count)
                    objective, found = result.objective, result.stats.best_found_seconds or 0.0
                feasible = result is not None and not result.unserved and not check(problem, result)
                runs.append(
                    CountyRun(
                        day,
                        seed,
                        limit,
                        2 * len(problem.requests),
                        len(result.routes) if result is not None else 0,
                        objective,
                        found,
                        feasible,
                        count,
                        solver,
                        ride_limit,
                    )
                )
                log(
                    f"county day {day}{'' if ride_limit else ' (no ride limit)'} "
                    f"({len(runs)}/{total}): {solver} {limit:g} s seed {seed} {count} at once "
                    f"{objective:.1f}, {runs[-1].couriers} couriers, "
                    f"{'feasible' if runs[-1].feasible else 'NOT feasible'}"
                )
    return runs


# -- the report -----------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def _cell(values: Sequence[float], total: int, digits: int = 2) -> str:
    if not total:
        return ""
    text = f"{_mean(values):+.{digits}f}" if values else "—"
    return text if len(values) == total else f"{text} ({total - len(values)} infeasible)"


def section(
    runs: Sequence[Run],
    county_runs: Sequence[CountyRun],
    command: str,
    note: str,
) -> str:
    lines = ["## Route planning (`python -m bench.routing`)", ""]
    limits = sorted({run.limit for run in runs})
    sets = [s for s in SETS if any(run.set == s for run in runs)]
    solvers = [s for s in SOLVERS if any(run.solver == s for run in runs)]
    for set_name in sets:
        families = sorted({run.family for run in runs if run.set == set_name})
        instances = sorted({run.instance for run in runs if run.set == set_name})
        title = {
            "solomon": "Solomon VRPTW (100 customers)",
            "li_lim_100": "Li & Lim PDPTW (100 tasks)",
            "li_lim_200": "Li & Lim PDPTW (200 tasks)",
        }[set_name]
        bks_kind = "distance-only BKS" if set_name == "solomon" else "hierarchical BKS"
        lines += [
            f"### {title}: mean gap % to the {bks_kind}, {len(instances)} instances",
            "",
            "| solver | limit | "
            + " | ".join(families)
            + " | mean | feasible | vehicles − BKS | mean wall s |",
            "|---|---|" + "---|" * len(families) + "---|---|---|---|",
        ]
        for limit in limits:
            for solver in solvers:
                chosen = [
                    r for r in runs if r.set == set_name and r.limit == limit and r.solver == solver
                ]
                if not chosen:
                    continue
                good = [r for r in chosen if r.feasible]
                cells = []
                for family in families:
                    in_family = [r for r in chosen if r.family == family]
                    cells.append(_cell([r.gap for r in in_family if r.feasible], len(in_family)))
                mean = _cell([r.gap for r in good], len(chosen))
                delta = _mean([r.vehicles - r.bks_vehicles for r in good])
                wall = _mean([r.seconds for r in chosen])
                name = "**Handoff**" if solver == "handoff" else solver
                lines.append(
                    f"| {name} | {limit:g} s | " + " | ".join(cells) + f" | **{mean}** | "
                    f"{len(good)}/{len(chosen)} | {delta:+.2f} | {wall:.1f} |"
                )
        names = ", ".join(instances)
        lines += ["", f"Instances ({len(instances)}): {names}.", ""]
    top = max(limits) if limits else 0
    for set_name, target in TARGETS.items():
        ours = [r for r in runs if r.set == set_name and r.limit == top and r.solver == "handoff"]
        if not ours:
            continue
        good = [r for r in ours if r.feasible]
        mean_gap = _mean([r.gap for r in good])
        met = len(good) == len(ours) and mean_gap <= target
        lines.append(
            f"* Target {set_name} at {top:g} s: mean gap ≤ {target} % and every solution "
            f"feasible — **{'met' if met else 'missed'}** ({mean_gap:+.2f} %, "
            f"{len(good)}/{len(ours)} feasible)."
        )
        unreachable = sorted({r.instance for r in ours} & set(UNREACHABLE_BKS))
        if unreachable and len(unreachable) < len({r.instance for r in ours}):
            reachable = _mean([r.gap for r in good if r.instance not in UNREACHABLE_BKS])
            bounds = ", ".join(f"{name} {UNREACHABLE_BKS[name]}" for name in unreachable)
            lines.append(
                f"  The listed BKS of {', '.join(unreachable)} lies below the reported optimum "
                f"under truncated distances ({bounds}), which no feasible solution can beat; "
                f"without {'it' if len(unreachable) == 1 else 'them'} the mean gap is "
                f"{reachable:+.2f} % (not the target's measure)."
            )
    lines.append("")
    lines += _per_instance(runs, top, solvers)
    if county_runs:
        lines += [COUNTY_START, *_county(county_runs), COUNTY_END, ""]
    lines += [note, "", f"Command: `{command}`."]
    return "\n".join(lines)


def county_section(county_runs: Sequence[CountyRun], command: str, note: str) -> str:
    """The county table alone, with its own note (``--county-only``)."""
    lines = [COUNTY_START, *_county(county_runs), note, "", f"Command: `{command}`.", ""]
    return "\n".join([*lines, COUNTY_END])


def _per_instance(runs: Sequence[Run], limit: float, solvers: Sequence[str]) -> list[str]:
    rows = sorted(
        {(r.set, r.family, r.instance, r.bks, r.bks_vehicles) for r in runs if r.limit == limit},
        key=lambda k: (SETS.index(k[0]), k[1], k[2]),
    )
    if not rows:
        return []
    lines = [
        f"<details><summary>Per instance at {limit:g} s: distance (vehicles) gap %</summary>",
        "",
        "| instance | BKS (veh) | " + " | ".join(solvers) + " |",
        "|---|---|" + "---|" * len(solvers),
    ]
    for set_name, _, instance, bks, bks_vehicles in rows:
        cells = []
        for solver in solvers:
            run = next(
                (
                    r
                    for r in runs
                    if r.instance == instance
                    and r.limit == limit
                    and r.solver == solver
                    and r.set == set_name
                ),
                None,
            )
            if run is None:
                cells.append("")
            elif not run.feasible:
                cells.append(f"infeasible: {run.errors[:60]}")
            else:
                cells.append(f"{run.distance:.2f} ({run.vehicles}) {run.gap:+.2f}")
        lines.append(f"| {instance} | {bks:.2f} ({bks_vehicles}) | " + " | ".join(cells) + " |")
    lines += ["", "</details>", ""]
    return lines


def _county(runs: Sequence[CountyRun]) -> list[str]:
    best: dict[tuple[int, bool], float] = {}
    for run in runs:
        if run.feasible:
            key = (run.day, run.ride_limit)
            best[key] = min(best.get(key, math.inf), run.objective)

    def excess(run: CountyRun) -> float:
        reference = best[run.day, run.ride_limit]
        return 100 * (run.objective - reference) / reference

    pyvrp = any(r.solver == "pyvrp" for r in runs)
    relaxed = any(not r.ride_limit for r in runs)
    days = len({r.day for r in runs})
    lines = [
        f"### A county-sized day: {days} generated days, {runs[0].stops} stops, up to "
        f"{max(r.couriers for r in runs)} of 6 couriers used",
        "",
        "Specimen boxes to the lab (windows, 150-minute ride limit, cold boxes), dirty packs to",
        "the CSSD and sterile packs back, 15 townships 6–40 km out (`county_day` in the bench).",
        "Each day is planned with several seeds at each limit, with one search or with several",
        "at once (`plan(..., workers=N)`: N processes, the cheapest plan kept); every plan is",
        'compared with the best feasible plan any run found for that day ("best seen").',
    ]
    if pyvrp:
        lines += [
            "PyVRP (one search) gets the same days as shipments, one visit per pickup and per",
            "delivery, with the planner's windows, handling times, site service, shifts, nine-hour",
            "limit, loads and courier cost, but it has no ride limit: its plans are timed in the",
            "problem itself (`routing.timed`), and those that break the ride limit count as not",
            "feasible and are left out of the excess columns.",
        ]
    if relaxed:
        lines += [
            "The same days without the ride limit, which every solver here can model, come",
            "second; their best seen is their own.",
        ]
    lines += [
        "",
        "| days | solver | limit | searches at once | plans | feasible | equal to the best seen "
        "| within 0.1 % of it | mean excess | worst excess | best found at (median / max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    solver_order = {"handoff": 0, "pyvrp": 1}
    groups = sorted(
        {(r.ride_limit, r.solver, r.limit, r.workers) for r in runs},
        key=lambda g: (not g[0], solver_order.get(g[1], 2), g[2], g[3]),
    )
    for ride_limit, solver, limit, workers in groups:
        chosen = [
            r
            for r in runs
            if (r.ride_limit, r.solver, r.limit, r.workers) == (ride_limit, solver, limit, workers)
        ]
        good = [r for r in chosen if r.feasible]
        excesses = [excess(r) for r in good]
        equal = sum(1 for value in excesses if value < 1e-9)
        close = sum(1 for value in excesses if value < 0.1)
        found = [r.best_found for r in good if not math.isnan(r.best_found)]
        name = "**Handoff**" if solver == "handoff" else solver
        lines.append(
            f"| {'as they are' if ride_limit else 'no ride limit'} | {name} | {limit:g} s | "
            f"{workers} | {len(chosen)} | {len(good)}/{len(chosen)} | {equal}/{len(chosen)} | "
            f"{close}/{len(chosen)} | "
            + (f"{_mean(excesses):+.2f} % | {max(excesses):+.2f} % | " if excesses else "— | — | ")
            + (f"{statistics.median(found):.2f} / {max(found):.2f} s |" if found else "— |")
        )
    ours = [r for r in runs if r.solver == "handoff" and r.ride_limit]
    shortest = min(r.limit for r in ours)
    verdicts = []
    for workers in sorted({r.workers for r in ours}):
        short = [r for r in ours if r.limit == shortest and r.workers == workers]
        converged = all(r.feasible and excess(r) < 1e-9 for r in short)
        verdicts.append(
            f"{workers} search{'es' if workers > 1 else ''} at once "
            f"**{'met' if converged else 'missed'}**"
        )
    feasible = all(r.feasible for r in runs if r.solver == "handoff")
    lines += [
        "",
        f"* Target: a county day solved to no further improvement in ≤ {shortest:g} s, "
        f"read as every {shortest:g} s plan equal to the best plan seen — "
        f"{'; '.join(verdicts)}; every Handoff plan feasible and complete: "
        f"{'yes' if feasible else 'NO'}. Best found at: seconds into the search of the "
        "process whose plan it is.",
    ]
    if pyvrp:
        lines += _against_pyvrp(runs, shortest)
    return [*lines, ""]


def _against_pyvrp(runs: Sequence[CountyRun], shortest: float) -> list[str]:
    """Handoff's shortest-limit plans against PyVRP's best plan of the same day at its
    longest limit, where PyVRP has a feasible one."""
    lines = []
    for ride_limit in sorted({r.ride_limit for r in runs}, reverse=True):
        theirs = [r for r in runs if r.solver == "pyvrp" and r.ride_limit == ride_limit]
        longest = max(r.limit for r in theirs)
        reference: dict[int, float] = {}
        for run in theirs:
            if run.feasible and run.limit == longest:
                reference[run.day] = min(reference.get(run.day, math.inf), run.objective)
        for workers in sorted({r.workers for r in runs if r.solver == "handoff"}):
            ours = [
                r
                for r in runs
                if (r.solver, r.ride_limit, r.limit, r.workers)
                == ("handoff", ride_limit, shortest, workers)
                and r.day in reference
            ]
            if not ours:
                continue
            differences = [100 * (r.objective - reference[r.day]) / reference[r.day] for r in ours]
            searches = "one search" if workers == 1 else f"{workers} searches at once"
            lines.append(
                f"* {'As they are' if ride_limit else 'Without the ride limit'}, Handoff at "
                f"{shortest:g} s ({searches}) against PyVRP's best {longest:g} s plan of the "
                f"same day, on the {len(reference)} days where PyVRP has a feasible one: mean "
                f"{_mean(differences):+.2f} %; better by more than 0.1 % in "
                f"{sum(1 for d in differences if d < -0.1)}, within 0.1 % in "
                f"{sum(1 for d in differences if abs(d) <= 0.1)}, worse by more in "
                f"{sum(1 for d in differences if d > 0.1)} of {len(ours)} plans."
            )
    return lines


COUNTY_START = "<!-- routing:county:start -->"
COUNTY_END = "<!-- routing:county:end -->"
NOTES_START = "<!-- routing:notes:start -->"
NOTES_END = "<!-- routing:notes:end -->"


def write_docs(text: str, path: Path = DOCS) -> None:
    # Read right before writing: other benchmarks own other sections of the same file.
    current = path.read_text(encoding="utf-8") if path.exists() else DOCS_HEADER
    start, end = current.find(START_MARK), current.find(END_MARK)
    # Notes written by hand inside the section are kept when the figures are rewritten.
    notes_start, notes_end = current.find(NOTES_START), current.find(NOTES_END)
    if start != -1 and start < notes_start < notes_end < end:
        text += "\n" + current[notes_start : notes_end + len(NOTES_END)]
    block = f"{START_MARK}\n{text}\n{END_MARK}"
    if start != -1 and end > start:
        current = current[:start] + block + current[end + len(END_MARK) :]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(current, encoding="utf-8")
    log(f"wrote the figures into {path.relative_to(ROOT)}")


def write_county_docs(text: str, path: Path = DOCS) -> None:
    """Replace the county table of the route-planning section, leaving the rest alone."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = current.find(COUNTY_START), current.find(COUNTY_END)
    if start == -1 or end < start:
        log(f"{path.relative_to(ROOT)} has no county table to replace; run the full benchmark")
        return
    path.write_text(current[:start] + text + current[end + len(COUNTY_END) :], encoding="utf-8")
    log(f"wrote the county figures into {path.relative_to(ROOT)}")


def environment() -> str:
    versions = []
    for package in ("ortools", "pyvrp", "pyvroom"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    try:
        cpu = subprocess.run(
            ["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        cpu = platform.processor()
    return (
        f"{cpu or platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        + ", ".join(versions)
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing",
        description="Gap to best-known solutions: Handoff's planner, PyVRP and VROOM.",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("HANDOFF_BENCH_ROUTING") or DEFAULT_DATA),
        help="folder with bks.csv and the instance folders (default: %(default)s)",
    )
    parser.add_argument("--set", nargs="+", choices=SETS, default=["solomon", "li_lim_100"])
    parser.add_argument(
        "--limit", "--time-limit", nargs="+", type=float, default=[10.0, 30.0], help="seconds"
    )
    parser.add_argument("--solvers", nargs="+", choices=SOLVERS, default=list(SOLVERS))
    parser.add_argument("--instances", nargs="+", help="instance names (default: a sample)")
    parser.add_argument(
        "--per-family", "--subset", type=int, default=2, help="sample size per family"
    )
    parser.add_argument("--full", action="store_true", help="every instance of the sets")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="runs (default: %(default)s)")
    parser.add_argument("--resume", action="store_true", help="keep the CSV, skip rows in it")
    parser.add_argument("--report-only", action="store_true", help="tables from the CSV only")
    parser.add_argument("--county-days", type=int, default=10, help="county days (0: skip)")
    parser.add_argument(
        "--county-workers",
        type=int,
        nargs="+",
        default=[1],
        help="searches at once in each county plan, one pass per count (default: 1)",
    )
    parser.add_argument(
        "--county-requests",
        type=int,
        default=30,
        help="requests on each county day (default: %(default)s, i.e. 60 stops)",
    )
    parser.add_argument(
        "--county-no-ride-limit",
        action="store_true",
        help="plan each county day again without the ride limit, which PyVRP cannot model",
    )
    parser.add_argument(
        "--county-only",
        action="store_true",
        help="run only the county days; the instance CSV is read, not rerun or cleared",
    )
    parser.add_argument("--note", default="", help="a line added to the report")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="a planner setting to try, e.g. gls_lambda=0.2 (tuning; repeatable)",
    )
    parser.add_argument(
        "--pdptw-vehicle-cost",
        type=float,
        default=PDPTW_VEHICLE_COST,
        help="Handoff's fixed cost per vehicle on Li & Lim, in distance units",
    )
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU (default: none)")
    parser.add_argument("--seed", type=int, default=SEED, help="every solver's seed")
    parser.add_argument(
        "--no-write-docs", action="store_true", help="print only; leave docs/benchmarks.md alone"
    )
    args = parser.parse_args(argv)
    if min(args.county_workers) < 1:
        parser.error("--county-workers: each count must be 1 or more")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    global PDPTW_VEHICLE_COST, SEED
    args = parse_args(argv)
    SEED = args.seed
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    for item in args.setting:
        name, _, value = item.partition("=")
        parsed = json.loads(value)
        SETTINGS[name] = tuple(parsed) if isinstance(parsed, list) else parsed
    Settings(**SETTINGS)  # type: ignore[arg-type]  # an unknown name fails here, early
    PDPTW_VEHICLE_COST = args.pdptw_vehicle_cost
    entries = catalogue(args.data, args.set)
    if args.instances:
        wanted = set(args.instances)
        entries = [e for e in entries if e.name in wanted]
    elif not args.full:
        entries = sample(entries, args.per_family)
    solvers = [s for s in args.solvers if available(s)]
    missing = sorted(set(args.solvers) - set(solvers))
    if missing:
        log(f"not installed, left out: {', '.join(missing)} (pip install '.[bench]')")
    started = datetime.now(UTC)
    loads = [machine_load()]
    if not (args.resume or args.report_only or args.county_only) and args.csv.exists():
        args.csv.unlink()
    runs = load_runs(args.csv)
    done = {(r.instance, r.solver, r.limit) for r in runs}
    if not (args.report_only or args.county_only):
        for limit in args.limit:
            for entry in entries:
                for solver in solvers:
                    if (entry.name, solver, limit) in done:
                        continue
                    run = run_one(entry, solver, limit)
                    append_run(args.csv, run)
                    runs.append(run)
                    log(
                        f"{entry.name:8s} {solver:8s} {limit:4g} s  {run.distance:9.2f} "
                        f"({run.vehicles}) gap {run.gap:+6.2f} {run.seconds:5.1f} s "
                        f"load {machine_load()} {run.errors}"
                    )
                loads.append(machine_load())
    county_csv = args.csv.with_name(args.csv.stem + "-county.csv")
    if args.county_days and not args.report_only:
        county_runs = county(
            args.county_days,
            args.county_workers,
            args.county_requests,
            solvers=solvers,
            ride_limits=(True, False) if args.county_no_ride_limit else (True,),
        )
        save_county(county_csv, county_runs)
    else:
        county_runs = load_county(county_csv) if args.county_days else []
    finished = datetime.now(UTC)
    subset = (
        "every public instance"
        if args.full
        else (
            "the instances given"
            if args.instances
            else f"{args.per_family} per family (seeded sample)"
        )
    )
    seen = sorted(float(r.load) for r in runs if r.load)
    load_text = (
        f"1-minute load average at the end of each run: min {seen[0]:.2f}, median "
        f"{statistics.median(seen):.2f}, max {seen[-1]:.2f} (2 cores)"
        if seen
        else f"load average (1/5 min) {', '.join(sorted(set(loads)))}"
    )
    pinned = f"pinned to CPU {args.cpu}" if args.cpu is not None else "not pinned"
    counts = sorted({r.workers for r in county_runs} - {1})
    parallel = (
        f" (but county plans of {' or '.join(map(str, counts))} searches at once, one process each)"
        if counts
        else ""
    )
    if args.report_only:
        subset = f"those in {args.csv.name} (tables rebuilt from it)"
    if args.county_only:
        subset = "none (county days only; the instance tables above are from their own run)"
    note = (
        f"{'Report written' if args.report_only else 'Run'} {started:%Y-%m-%d %H:%M}–"
        f"{finished:%H:%M} UTC on {environment()}; every solver "
        f"single-threaded{parallel}, seed {SEED}, this process {pinned}; instances: {subset}. "
        f"{load_text}. {args.note}".rstrip()
    )
    command = shlex.join(
        ["python", "-m", "bench.routing", *(argv if argv is not None else sys.argv[1:])]
    )
    if args.county_only:
        text = county_section(county_runs, command, note)
        print(text)
        if not args.no_write_docs:
            write_county_docs(text)
        return
    text = section(runs, county_runs, command, note)
    print(text)
    if not args.no_write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
