"""The dispatcher's day board: work waiting at the clinics, the day's trips with their
manifests and the couriers' progress as scans arrive, a map, printable route sheets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select

from server.deps import SessionDep
from server.enums import ItemKind, Role
from server.models import CustodyEvent, Item, Pack, Person, Site, Trip, utc_now
from server.specimens import reads
from server.specimens.schemas import TripRead
from server.specimens.service import trip_by_ref
from web.config import get_web_settings
from web.i18n import event_label
from web.lab import last_alert_id, latest_trip_day
from web.planning import latest_plan
from web.render import chosen_day, language, local_day, page_router, render
from web.session import web_person

router = page_router()
Dispatcher = Annotated[Person, Depends(web_person(Role.dispatcher))]
Day = Annotated[str | None, Query(max_length=10)]


@dataclass
class TripView:
    trip: TripRead
    courier: Person | None
    done: int
    total: int
    last_scan: CustodyEvent | None
    last_scan_site: str | None

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def _sites(session: SessionDep) -> dict[str, Site]:
    return {site.code: site for site in session.execute(select(Site)).scalars()}


def trips_of(session: SessionDep, day: date, zone: ZoneInfo) -> list[TripView]:
    """Each trip of ``day`` as the API reads it, with progress and the courier's last scan
    that day (found through the occurred_at index)."""
    start = datetime.combine(day, time(0), zone)
    end = start + timedelta(days=1)
    views = []
    trips = session.execute(select(Trip).where(Trip.day == day).order_by(Trip.barcode)).scalars()
    for trip in trips:
        read = reads.trip_read(session, trip.barcode)
        lines = [line for stop in read.stops for line in stop.lines]
        courier = session.get(Person, trip.courier_id)
        last = session.execute(
            select(CustodyEvent, Site.code)
            .outerjoin(Site, Site.id == CustodyEvent.site_id)
            .where(
                CustodyEvent.actor_id == trip.courier_id,
                CustodyEvent.occurred_at >= start,
                CustodyEvent.occurred_at < end,
            )
            .order_by(CustodyEvent.occurred_at.desc())
            .limit(1)
        ).first()
        views.append(
            TripView(
                read,
                courier,
                sum(line.done for line in lines),
                len(lines),
                last[0] if last else None,
                last[1] if last else None,
            )
        )
    return views


def waiting_work(session: SessionDep) -> list[dict[str, Any]]:
    """Per site: sealed boxes to pick up, used sets to collect, sterile packs to deliver."""
    rows: dict[str, dict[str, Any]] = {}

    def row(code: str) -> dict[str, Any]:
        return rows.setdefault(code, {"site": code, "boxes": 0, "sets": 0, "packs": 0})

    for code, count in session.execute(
        select(Site.code, func.count())
        .join(Item, Item.current_site_id == Site.id)
        .where(Item.kind == ItemKind.specimen_box, Item.state == "sealed")
        .group_by(Site.code)
    ).all():
        row(code)["boxes"] = count
    for code, count in session.execute(
        select(Site.code, func.count())
        .join(Item, Item.current_site_id == Site.id)
        .where(Item.kind == ItemKind.instrument_set, Item.state == "awaiting_collection")
        .group_by(Site.code)
    ).all():
        row(code)["sets"] = count
    for code, count in session.execute(
        select(Site.code, func.count())
        .select_from(Pack)
        .join(Item, Item.id == Pack.item_id)
        .join(Site, Site.id == Pack.destination_site_id)
        .where(Item.state.in_(["released", "sterile_stored"]))
        .group_by(Site.code)
    ).all():
        row(code)["packs"] = count
    return [rows[code] for code in sorted(rows)]


def _context(request: Request, session: SessionDep, day: date) -> dict[str, Any]:
    lang = language(request)
    trips = trips_of(session, day, request.app.state.settings.zone)
    web = get_web_settings()
    sites = _sites(session)
    return {
        "day": day,
        "today": local_day(request),
        "trips": trips,
        "work": waiting_work(session),
        "latest_day": None if trips else latest_trip_day(session, day),
        "event_label": lambda event: event_label(lang, event),
        "site_name": lambda code: (
            (sites[code].name_zh if lang == "zh" else sites[code].name_en) if code in sites else ""
        ),
        "alerts_after": last_alert_id(session),
        "plan": latest_plan(session, day, utc_now()),
        "tiles": web.map_tile_url,
        "attribution": web.map_attribution,
    }


@router.get("/dispatch", response_class=HTMLResponse)
def dispatch_page(
    request: Request, session: SessionDep, person: Dispatcher, day: Day = None
) -> Response:
    context = _context(request, session, chosen_day(request, day))
    return render(request, "ui/dispatch.html", context, person=person)


@router.get("/dispatch/trips", response_class=HTMLResponse)
def trips_fragment(
    request: Request, session: SessionDep, person: Dispatcher, day: Day = None
) -> Response:
    """The trips and their progress alone, for the board's refresh."""
    context = _context(request, session, chosen_day(request, day))
    return render(request, "ui/_dispatch_trips.html", context, person=person)


@router.get("/dispatch/map.json")
def map_data(
    request: Request, session: SessionDep, person: Dispatcher, day: Day = None
) -> JSONResponse:
    """Sites and the day's routes (stops in order) for the map, drawn with or without tiles."""
    sites = _sites(session)
    routes = []
    for view in trips_of(session, chosen_day(request, day), request.app.state.settings.zone):
        stops = [stop for stop in view.trip.stops if stop.site in sites]
        routes.append(
            {
                "trip": view.trip.barcode,
                "label": f"{view.courier.name if view.courier else view.trip.courier} "
                f"{view.trip.vehicle or ''}".strip(),
                "points": [[sites[s.site].latitude, sites[s.site].longitude] for s in stops],
                "done": [
                    [sites[s.site].latitude, sites[s.site].longitude]
                    for s in stops
                    if s.lines and all(line.done for line in s.lines)
                ],
            }
        )
    return JSONResponse(
        {
            "sites": [
                {
                    "code": s.code,
                    "name": s.name_zh if language(request) == "zh" else s.name_en,
                    "lat": s.latitude,
                    "lon": s.longitude,
                    "kind": s.kind.value,
                }
                for s in sites.values()
                if s.active
            ],
            "routes": routes,
        }
    )


@router.get("/dispatch/sheets", response_class=HTMLResponse)
def route_sheets(
    request: Request,
    session: SessionDep,
    person: Dispatcher,
    day: Day = None,
    trip: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Printable route sheets with the manifest of each stop (one trip, or all of the day)."""
    the_day = trip_by_ref(session, trip).day if trip else chosen_day(request, day)
    context = _context(request, session, the_day)
    if trip:
        context["trips"] = [view for view in context["trips"] if view.trip.barcode == trip]
    context["printed_at"] = datetime.now(request.app.state.settings.zone)
    return render(request, "ui/sheets.html", context, person=person)
