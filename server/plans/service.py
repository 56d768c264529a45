"""Route plans: the day's open work as a routing Problem, the solve, trips with manifests.

A plan is made in two short units of work with the solve between them, so no database
transaction stays open while OR-Tools searches: :func:`prepare` reads the open work and
:func:`start` stores a plan row in status ``solving``; :func:`solve` runs the planner
outside any session; :func:`store` writes the routes and creates the trips (through
``server.specimens.service.create_trip``) and supersedes the day's earlier plan.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

import routing
from routing import Learned, MatrixFile, OsrmTable, Scan, StraightLine, legs_from_scans
from server.config import Settings
from server.db import session_scope
from server.enums import ItemKind, Role, SiteKind
from server.errors import BadRequest, NotFound
from server.lookup import person_by_badge
from server.models import (
    Box,
    CustodyEvent,
    Item,
    Pack,
    Person,
    PlanStatus,
    RoutePlan,
    Site,
    SpecimenType,
    Trip,
    utc_now,
)
from server.specimens import service as specimens
from server.specimens.rules import TemperatureClass

BOX_READY = ("prepared", "sealed")
SET_READY = ("awaiting_collection",)
PACK_READY = ("released", "sterile_stored")
ON_BOARD = ("in_transit", "in_transit_dirty", "in_transit_clean")
KIND_WORDS = {
    ItemKind.specimen_box: "specimen box",
    ItemKind.instrument_set: "used set",
    ItemKind.pack: "sterile pack",
}
logger = logging.getLogger("handoff.plans")
# A solve that has not finished this long after its time limit died with its process.
STALE_AFTER = timedelta(minutes=5)


@dataclass
class Prepared:
    """A day's planning problem and what its ids stand for."""

    day: date
    as_of: datetime
    zone: ZoneInfo
    problem: routing.Problem
    work: dict[str, dict[str, Any]]  # request id (item barcode) -> what it is
    couriers: dict[str, dict[str, Any]]  # vehicle id (badge) -> name, start, end
    sites: dict[str, dict[str, Any]]  # site code -> names
    unplannable: list[dict[str, Any]] = field(default_factory=list)


def _minutes(moment: datetime, day: date, zone: ZoneInfo) -> float:
    return routing.minutes_since_midnight(moment, day, zone)


def _clock_minutes(text: str) -> float:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _of_day(value: time) -> float:
    return value.hour * 60 + value.minute


def travel_provider(
    session: Session, settings: Settings, now: datetime
) -> routing.TravelTimeProvider:
    """The configured travel times, blended with legs learnt from recent custody scans."""
    prior: routing.TravelTimeProvider
    if settings.plan_travel == "matrix":
        if settings.plan_matrix_file is None:
            raise BadRequest("plan_travel is 'matrix' but HANDOFF_PLAN_MATRIX_FILE is not set")
        prior = MatrixFile(settings.plan_matrix_file)
    elif settings.plan_travel == "osrm":
        if not settings.plan_osrm_url:
            raise BadRequest("plan_travel is 'osrm' but HANDOFF_PLAN_OSRM_URL is not set")
        prior = OsrmTable(settings.plan_osrm_url)
    else:
        prior = StraightLine(settings.plan_road_factor, settings.plan_speed_kmh)
    if not settings.plan_learn_days:
        return prior
    return Learned(prior, tuple(legs_from_scans(courier_scans(session, now, settings))))


def courier_scans(session: Session, now: datetime, settings: Settings) -> list[Scan]:
    """Couriers' scans (as actor or counterparty) at sites over the learning window."""
    since = now - timedelta(days=settings.plan_learn_days)
    couriers = {
        person.id: person.badge
        for person in session.execute(select(Person).where(Person.role == Role.courier)).scalars()
    }
    codes = {site.id: site.code for site in session.execute(select(Site)).scalars()}
    rows = session.execute(
        select(
            CustodyEvent.actor_id,
            CustodyEvent.counterparty_id,
            CustodyEvent.site_id,
            CustodyEvent.occurred_at,
        ).where(CustodyEvent.occurred_at >= since, CustodyEvent.site_id.is_not(None))
    ).all()
    scans = []
    for actor, counterparty, site_id, at in rows:
        courier = (couriers.get(actor) if actor else None) or (
            couriers.get(counterparty) if counterparty else None
        )
        if courier is not None and site_id in codes:
            scans.append(Scan(courier, codes[site_id], at))
    return scans


def _first_site(session: Session, kind: SiteKind) -> Site | None:
    return session.execute(
        select(Site).where(Site.kind == kind, Site.active.is_(True)).order_by(Site.code).limit(1)
    ).scalar_one_or_none()


def _where_now(session: Session, courier: Person, since: datetime) -> uuid.UUID | None:
    """The site of the courier's latest scan since ``since`` (None: no scan yet)."""
    return session.execute(
        select(CustodyEvent.site_id)
        .where(
            or_(CustodyEvent.actor_id == courier.id, CustodyEvent.counterparty_id == courier.id),
            CustodyEvent.occurred_at >= since,
            CustodyEvent.site_id.is_not(None),
        )
        .order_by(CustodyEvent.occurred_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def prepare(
    session: Session,
    settings: Settings,
    day: date,
    now: datetime,
    couriers: Sequence[str] | None = None,
) -> Prepared:
    """The open work and the couriers on shift as a routing problem for ``day``.

    For today the couriers start now, from the site of their latest scan today, with what
    they hold on board; for a later day they start at their home site when the shift does.
    """
    zone = settings.zone
    today = now.astimezone(zone).date()
    if day < today:
        raise BadRequest(f"{day} is in the past; plans are made for today or later")
    if day > today + timedelta(days=14):
        raise BadRequest(f"{day} is more than 14 days ahead")
    shift_start = _clock_minutes(settings.plan_shift_start)
    shift_end = _clock_minutes(settings.plan_shift_end)
    if shift_end <= shift_start:
        raise BadRequest("plan_shift_end must be after plan_shift_start")
    as_of = now if day == today else datetime.combine(day, time(0), zone)
    start = max(shift_start, _minutes(now, day, zone)) if day == today else shift_start
    if start >= shift_end:
        raise BadRequest(f"the couriers' shift ended at {settings.plan_shift_end}")

    all_sites = list(
        session.execute(select(Site).where(Site.active.is_(True)).order_by(Site.code)).scalars()
    )
    by_id = {site.id: site for site in all_sites}
    hospital = _first_site(session, SiteKind.county_hospital)
    laboratory = _first_site(session, SiteKind.laboratory)
    cssd = _first_site(session, SiteKind.cssd)
    sites = tuple(
        routing.Site(
            site.code,
            site.latitude,
            site.longitude,
            routing.Window(_of_day(site.opens_at), _of_day(site.closes_at)),
            service=settings.plan_stop_minutes,
            name=site.name_en,
        )
        for site in all_sites
    )

    fleet = _couriers(session, couriers)
    vehicles, courier_info = [], {}
    midnight = datetime.combine(day, time(0), zone)
    for person in fleet:
        home = by_id.get(person.home_site_id) if person.home_site_id else None
        home = home or hospital
        if home is None:
            raise BadRequest(f"courier {person.name} has no home site and there is no hospital")
        here = home
        if day == today:
            seen = _where_now(session, person, midnight)
            here = by_id.get(seen, home) if seen else home
        vehicles.append(
            routing.Vehicle(
                person.badge,
                here.code,
                home.code,
                routing.Window(start, shift_end),
                {
                    "boxes": settings.plan_capacity_boxes,
                    "cold_boxes": settings.plan_capacity_cold_boxes,
                    "crates": settings.plan_capacity_crates,
                },
                fixed_cost=settings.plan_courier_cost_minutes,
            )
        )
        courier_info[person.badge] = {"name": person.name, "start": here.code, "end": home.code}

    prepared = Prepared(
        day,
        as_of,
        zone,
        routing.Problem(sites, tuple(vehicles), ()),
        {},
        courier_info,
        {site.code: {"name_en": site.name_en, "name_zh": site.name_zh} for site in all_sites},
    )
    holders = {person.id: person.badge for person in fleet}
    requests = _boxes(session, settings, prepared, by_id, laboratory, holders, start)
    requests += _sets(session, settings, prepared, by_id, cssd, holders)
    requests += _packs(session, settings, prepared, by_id, cssd, holders, day)
    # Travel times are fetched now, so a matrix file or routing service that fails is a
    # 4xx for this request, and the background solve needs no network.
    try:
        minutes = travel_provider(session, settings, now).matrix(sites)
        travel = routing.Matrix.of([site.id for site in sites], [list(row) for row in minutes])
    except routing.TravelError as error:
        raise BadRequest(f"travel times: {error}") from None
    prepared.problem = routing.Problem(sites, tuple(vehicles), tuple(requests), travel=travel)
    try:
        prepared.problem.validate()
    except routing.ProblemError as error:
        raise BadRequest(f"the day's work does not make a valid plan: {error}") from None
    return prepared


def _couriers(session: Session, badges: Sequence[str] | None) -> list[Person]:
    if badges:
        people = []
        for badge in dict.fromkeys(badges):
            person = person_by_badge(session, badge)
            if person.role != Role.courier or not person.active:
                raise BadRequest(f"{person.name} is not an active courier")
            people.append(person)
        return people
    people = list(
        session.execute(
            select(Person)
            .where(Person.role == Role.courier, Person.active.is_(True))
            .order_by(Person.badge)
        ).scalars()
    )
    if not people:
        raise BadRequest("no courier is on shift: add people with the role courier")
    return people


def _note(
    prepared: Prepared,
    item: Item,
    origin: Site | None,
    destination: Site | None,
    courier: str | None,
    **more: Any,
) -> None:
    prepared.work[item.barcode] = {
        "kind": item.kind.value,
        "what": KIND_WORDS[item.kind],
        "description": item.description,
        "from": origin.code if origin else None,
        "to": destination.code if destination else None,
        "courier": courier,
        **more,
    }


def _unplannable(prepared: Prepared, item: Item, reason: str) -> None:
    prepared.unplannable.append({"item": item.barcode, "reason": reason})


def _holder(
    prepared: Prepared, item: Item, holders: dict[uuid.UUID, str], people: dict[uuid.UUID, str]
) -> str | None:
    """The fleet courier holding an item on board, or None after noting why it is left out."""
    if item.holder_id in holders:
        return holders[item.holder_id]
    name = people.get(item.holder_id) if item.holder_id else None
    _unplannable(
        prepared, item, f"on board with {name or 'someone'}, who is not a courier in this plan"
    )
    return None


def _names(session: Session) -> dict[uuid.UUID, str]:
    return {p.id: p.name for p in session.execute(select(Person)).scalars()}


def _boxes(
    session: Session,
    settings: Settings,
    prepared: Prepared,
    sites: dict[uuid.UUID, Site],
    laboratory: Site | None,
    holders: dict[uuid.UUID, str],
    start: float,
) -> list[routing.Request]:
    types = {t.id: t for t in session.execute(select(SpecimenType)).scalars()}
    rows = session.execute(
        select(Item, Box)
        .join(Box, Box.item_id == Item.id)
        .where(
            Item.kind == ItemKind.specimen_box,
            Item.state.in_(BOX_READY + ON_BOARD),
            Box.received_at.is_(None),
        )
        .order_by(Item.barcode)
    ).all()
    names = _names(session) if rows else {}
    requests = []
    for item, box in rows:
        destination = sites.get(box.destination_site_id) if box.destination_site_id else None
        destination = destination or laboratory
        origin = sites.get(item.current_site_id) if item.current_site_id else None
        specimen = types.get(box.specimen_type_id) if box.specimen_type_id else None
        cold = specimen is not None and specimen.temperature_class != TemperatureClass.ambient
        courier = None
        if item.state in ON_BOARD:
            courier = _holder(prepared, item, holders, names)
            if courier is None:
                continue
            origin = None
        deadline = box.deadline
        _note(
            prepared,
            item,
            origin,
            destination,
            courier,
            deadline=deadline.isoformat() if deadline else None,
            specimen=specimen.code if specimen else None,
            cold=cold,
        )
        if destination is None:
            _unplannable(prepared, item, "no laboratory to take it to")
            continue
        if courier is None and origin is None:
            _unplannable(prepared, item, "its clinic is not known (no scan at a site)")
            continue
        if deadline is not None and deadline <= prepared.as_of:
            local = deadline.astimezone(prepared.zone)
            _unplannable(
                prepared, item, f"its time limit ran out at {local:%Y-%m-%d %H:%M} before planning"
            )
            continue
        due = (
            routing.Window(0.0, _minutes(deadline, prepared.day, prepared.zone))
            if deadline is not None
            else None
        )
        max_ride = settings.plan_specimen_max_ride_minutes or None
        requests.append(
            routing.Request(
                item.barcode,
                origin.code if origin else None,
                destination.code,
                {"boxes": 1, "cold_boxes": int(cold)},
                pickup_window=routing.Window(start, 2 * routing.problem.DAY) if origin else None,
                delivery_window=due,
                pickup_service=settings.plan_handling_minutes if origin else 0.0,
                delivery_service=settings.plan_handling_minutes,
                max_ride=max_ride if origin else None,
                vehicles=(courier,) if courier else (),
            )
        )
    return requests


def _sets(
    session: Session,
    settings: Settings,
    prepared: Prepared,
    sites: dict[uuid.UUID, Site],
    cssd: Site | None,
    holders: dict[uuid.UUID, str],
) -> list[routing.Request]:
    items = list(
        session.execute(
            select(Item)
            .where(
                Item.kind == ItemKind.instrument_set,
                Item.state.in_((*SET_READY, "in_transit_dirty")),
            )
            .order_by(Item.barcode)
        ).scalars()
    )
    names = _names(session) if items else {}
    requests = []
    for item in items:
        origin = sites.get(item.current_site_id) if item.current_site_id else None
        courier = None
        if item.state == "in_transit_dirty":
            courier = _holder(prepared, item, holders, names)
            if courier is None:
                continue
            origin = None
        _note(prepared, item, origin, cssd, courier)
        if cssd is None:
            _unplannable(prepared, item, "no CSSD to take it to")
            continue
        if courier is None and origin is None:
            _unplannable(prepared, item, "its clinic is not known (no scan at a site)")
            continue
        requests.append(
            routing.Request(
                item.barcode,
                origin.code if origin else None,
                cssd.code,
                {"crates": 1},
                pickup_service=settings.plan_handling_minutes if origin else 0.0,
                delivery_service=settings.plan_handling_minutes,
                vehicles=(courier,) if courier else (),
            )
        )
    return requests


def _packs(
    session: Session,
    settings: Settings,
    prepared: Prepared,
    sites: dict[uuid.UUID, Site],
    cssd: Site | None,
    holders: dict[uuid.UUID, str],
    day: date,
) -> list[routing.Request]:
    rows = session.execute(
        select(Item, Pack)
        .join(Pack, Pack.item_id == Item.id)
        .where(
            Item.kind == ItemKind.pack,
            Item.state.in_((*PACK_READY, "in_transit_clean")),
            Pack.destination_site_id.is_not(None),
            Pack.recall_id.is_(None),
        )
        .order_by(Item.barcode)
    ).all()
    names = _names(session) if rows else {}
    requests = []
    for item, pack in rows:
        destination = sites.get(pack.destination_site_id) if pack.destination_site_id else None
        origin = sites.get(item.current_site_id) if item.current_site_id else None
        origin = origin or cssd
        courier = None
        if item.state == "in_transit_clean":
            courier = _holder(prepared, item, holders, names)
            if courier is None:
                continue
            origin = None
        _note(
            prepared,
            item,
            origin,
            destination,
            courier,
            expires_on=pack.expires_on.isoformat() if pack.expires_on else None,
        )
        if destination is None:
            _unplannable(prepared, item, "its destination site is inactive or unknown")
            continue
        if pack.expires_on is not None and pack.expires_on < day:
            _unplannable(prepared, item, f"expired on {pack.expires_on}")
            continue
        if courier is None and origin is None:
            _unplannable(prepared, item, "no CSSD to collect it from")
            continue
        requests.append(
            routing.Request(
                item.barcode,
                origin.code if origin else None,
                destination.code,
                {"crates": 1},
                pickup_service=settings.plan_handling_minutes if origin else 0.0,
                delivery_service=settings.plan_handling_minutes,
                vehicles=(courier,) if courier else (),
            )
        )
    return requests


# --- the plan row, the solve, the result --------------------------------------------------


def start(
    session: Session,
    prepared: Prepared,
    requested_by: Person | None,
    time_limit: float,
    seed: int,
    now: datetime,
) -> RoutePlan:
    """A plan row in status ``solving`` (the caller's unit of work commits it)."""
    earlier = latest_done(session, prepared.day)
    row = RoutePlan(
        day=prepared.day,
        as_of=prepared.as_of,
        status=PlanStatus.solving,
        time_limit=time_limit,
        seed=seed,
        requested_by_id=requested_by.id if requested_by else None,
        replaces_id=earlier.id if earlier else None,
        started_at=now,
        work={
            "requests": prepared.work,
            "couriers": prepared.couriers,
            "sites": prepared.sites,
            "unplannable": prepared.unplannable,
        },
    )
    session.add(row)
    session.flush()
    return row


def latest_done(session: Session, day: date) -> RoutePlan | None:
    return session.execute(
        select(RoutePlan)
        .where(RoutePlan.day == day, RoutePlan.status == PlanStatus.done)
        .order_by(RoutePlan.finished_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def solve(prepared: Prepared, time_limit: float, seed: int, workers: int = 1) -> routing.Plan:
    """Run the planner (no database work: call it outside any session); ``workers``
    searches at once (``Settings.plan_workers``)."""
    return routing.plan(prepared.problem, time_limit, seed, workers=workers)


def _at(prepared: Prepared, minutes: float) -> datetime:
    return routing.at_minutes(prepared.day, minutes, prepared.zone)


def result_document(prepared: Prepared, result: routing.Plan) -> dict[str, Any]:
    """The plan as stored and served: routes by courier, stops by site code, items by barcode."""
    routes = []
    for route in result.routes:
        stops = []
        for stop in route.stops:
            stops.append(
                {
                    "site": stop.site,
                    "arrival": _at(prepared, stop.arrival).isoformat(),
                    "departure": _at(prepared, stop.departure).isoformat(),
                    "pickups": list(stop.pickups),
                    "drops": list(stop.deliveries),
                    "load": {k: v for k, v in stop.load.items() if v},
                }
            )
        routes.append(
            {
                "courier": route.vehicle,
                "name": prepared.couriers[route.vehicle]["name"],
                "start": _at(prepared, route.start).isoformat(),
                "end": _at(prepared, route.end).isoformat(),
                "travel_minutes": round(route.travel_minutes, 1),
                "on_board_at_start": _on_board(prepared, route),
                "stops": stops,
            }
        )
    unserved = [dict(item) for item in prepared.unplannable]
    unserved += [{"item": item.request, "reason": item.reason} for item in result.unserved]
    return {"routes": routes, "unserved": unserved}


def _on_board(prepared: Prepared, route: routing.Route) -> list[str]:
    return [
        request
        for request in route.requests
        if prepared.work.get(request, {}).get("courier") == route.vehicle
    ]


def store(
    session: Session,
    row: RoutePlan,
    prepared: Prepared,
    result: routing.Plan,
    now: datetime,
) -> RoutePlan:
    """Keep the result, create a trip with its manifest per route, supersede the old plan."""
    earlier = latest_done(session, row.day)
    if earlier is not None and earlier.id != row.id:
        _supersede(session, earlier, now)
    document = result_document(prepared, result)
    actor = session.get(Person, row.requested_by_id) if row.requested_by_id else None
    trips = []
    for route in document["routes"]:
        stops = [
            {
                "site": stop["site"],
                "planned_arrival": datetime.fromisoformat(stop["arrival"]),
                "pickups": stop["pickups"],
                "drops": stop["drops"],
            }
            for stop in route["stops"]
            if stop["pickups"] or stop["drops"]
        ]
        # create_trip takes the acting person but records none; the CLI acts without one.
        trip = specimens.create_trip(
            session,
            actor,  # type: ignore[arg-type]
            route["courier"],
            row.day,
            None,
            stops,
        )
        route["trip"] = trip.barcode
        trips.append(trip.barcode)
    row.result = document
    row.trips = trips
    row.objective = round(result.objective, 2)
    row.travel_minutes = round(result.travel_minutes, 1)
    row.stats = {
        "seconds": round(result.stats.seconds, 3),
        "first_solution_seconds": result.stats.first_solution_seconds,
        "best_found_seconds": result.stats.best_found_seconds,
        "solutions": result.stats.solutions,
        "improvements": result.stats.improvements,
        "searches": result.stats.searches,
        "processes": result.stats.processes,
        "best_process": result.stats.best_process,
        "status": result.stats.status,
        "requests": len(prepared.problem.requests),
        "couriers": len(prepared.problem.vehicles),
    }
    row.status = PlanStatus.done
    row.finished_at = now
    session.flush()
    return row


def _supersede(session: Session, earlier: RoutePlan, now: datetime) -> None:
    """The earlier plan's trips still under way end now; their work is in the new plan."""
    if earlier.trips:
        for trip in session.execute(
            select(Trip).where(Trip.barcode.in_(earlier.trips), Trip.completed_at.is_(None))
        ).scalars():
            trip.completed_at = now
    earlier.status = PlanStatus.superseded


def fail(session: Session, plan_id: uuid.UUID, message: str, now: datetime) -> None:
    row = session.get(RoutePlan, plan_id)
    if row is not None:
        row.status, row.error, row.finished_at = PlanStatus.failed, message[:2000], now
        session.flush()


def run(
    sessions: sessionmaker[Session],
    plan_id: uuid.UUID,
    prepared: Prepared,
    time_limit: float,
    seed: int,
    workers: int = 1,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """Solve and store a started plan, each database step in its own unit of work."""
    try:
        result = solve(prepared, time_limit, seed, workers)
    except Exception as error:  # a background job: record any failure on the plan
        logger.exception("route plan %s failed", plan_id)
        with session_scope(sessions) as session:
            fail(session, plan_id, f"{type(error).__name__}: {error}", clock())
        return
    with session_scope(sessions) as session:
        row = session.get(RoutePlan, plan_id)
        if row is None:
            return
        store(session, row, prepared, result, clock())


def request_plan(
    session: Session,
    settings: Settings,
    day: date,
    now: datetime,
    couriers: Sequence[str] | None,
    requested_by: Person | None,
    time_limit: float,
    seed: int,
) -> tuple[RoutePlan, Prepared]:
    """Load the day's work and start a plan row; the caller runs :func:`run` after commit."""
    prepared = prepare(session, settings, day, now, couriers)
    return start(session, prepared, requested_by, time_limit, seed, now), prepared


def current_plan(session: Session, plan_id: uuid.UUID, now: datetime) -> RoutePlan:
    """The plan, marked failed first if its solve was lost (the server stopped mid-solve)."""
    row = plan_by_id(session, plan_id)
    if is_stale(row, now):
        fail(session, row.id, "the solve did not finish (the server stopped?)", now)
    return row


def plan_by_id(session: Session, plan_id: uuid.UUID) -> RoutePlan:
    row = session.get(RoutePlan, plan_id)
    if row is None:
        raise NotFound(f"no route plan {plan_id}")
    return row


def progress(row: RoutePlan, now: datetime) -> float:
    """How far the solve is, 0–1, from the time it has used of its limit."""
    if row.status != PlanStatus.solving:
        return 1.0
    if row.started_at is None:
        return 0.0
    used = (now - row.started_at).total_seconds() / max(row.time_limit, 0.001)
    return round(min(0.99, max(0.0, used)), 3)


def is_stale(row: RoutePlan, now: datetime) -> bool:
    """A solve still marked running long after its limit: its process is gone."""
    if row.status != PlanStatus.solving or row.started_at is None:
        return False
    return now > row.started_at + timedelta(seconds=row.time_limit) + STALE_AFTER


def plans_of_day(session: Session, day: date) -> list[RoutePlan]:
    return list(
        session.execute(
            select(RoutePlan).where(RoutePlan.day == day).order_by(RoutePlan.created_at)
        ).scalars()
    )
