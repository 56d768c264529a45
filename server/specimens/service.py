"""Specimen boxes in transit: box facts from scans, handoff legs, manifests, alerts.

Ingest calls ``before_append`` (box facts and the flags a scan earns) and ``after_append``
(handoff legs, manifest reconciliation, alerts) inside the same unit of work as the events.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, inspect, select, update
from sqlalchemy.orm import Session

from labels.identity import Kind, new_id
from server.custody.flags import Flag
from server.custody.ledger import Appended, Draft, LedgerItem
from server.custody.lifecycle import ACTOR_TAKES, COUNTERPARTY_TAKES
from server.custody.messages import render_all
from server.enums import ItemKind, Role
from server.errors import BadRequest, Conflict, NotFound
from server.lookup import item_by_barcode, person_by_badge, site_by_ref
from server.models import (
    Alert,
    Box,
    Discrepancy,
    HandoffLeg,
    Item,
    ManifestLine,
    Person,
    Site,
    SpecimenType,
    Trip,
    TripStop,
)
from server.specimens import rules
from server.specimens.rules import AlertKind, DiscrepancyKind, DiscrepancyState, ManifestAction

TRANSFERS = ACTOR_TAKES | COUNTERPARTY_TAKES
RECEIPTS = frozenset({"receive"})
WATCHED = frozenset({"pickup", "handoff", "receive", "confirm_handoff"})
# The scans that change or check a box's facts; notes and other observations do neither.
BOX_FACTS = WATCHED | RECEIPTS | {"prepare", "seal", "accept", "reject"}


def _text(details: dict[str, Any], key: str) -> str | None:
    value = details.get(key)
    return None if value is None else str(value)[:64]


def _number(details: dict[str, Any], key: str) -> float | None:
    value = details.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _boxes(
    session: Session, items: Sequence[LedgerItem], *, reload: bool = False
) -> dict[uuid.UUID, Box]:
    """The boxes of ``items`` in one query, with a new (not yet added) record for a box never
    prepared; ``reload`` reads the stored ones again over what the session holds."""
    ids = list({item.id for item in items})
    query = select(Box).where(Box.item_id.in_(ids))
    if reload:
        query = query.execution_options(populate_existing=True)
    found = {box.item_id: box for box in session.execute(query).scalars()}
    for item in items:
        if item.id not in found:
            found[item.id] = Box(item_id=item.id, origin_site_id=item.home_site_id, tubes=[])
    return found


def _types(session: Session) -> dict[str, SpecimenType]:
    return {t.code: t for t in session.execute(select(SpecimenType)).scalars()}


def _box_drafts(drafts: Sequence[Draft]) -> list[Draft]:
    return [
        draft
        for draft in drafts
        if draft.item.kind == ItemKind.specimen_box and draft.type in BOX_FACTS
    ]


@dataclass(slots=True)
class BoxFacts:
    """What ``before_append`` reads. Ingest reads it before taking the append lock, so that
    the reading overlaps another batch's append; boxes appended to in between are read again
    under the lock."""

    types: dict[str, SpecimenType]
    boxes: dict[uuid.UUID, Box]
    destinations: _DestinationSites


def read_box_facts(session: Session, drafts: Sequence[Draft]) -> BoxFacts | None:
    """Specimen types, the boxes these scans are about and a destination cache; None when
    no scan here keeps box facts."""
    boxes = _box_drafts(drafts)
    if not boxes:
        return None
    return BoxFacts(
        _types(session), _boxes(session, [d.item for d in boxes]), _DestinationSites(session)
    )


def before_append(
    session: Session,
    drafts: Sequence[Draft],
    facts: BoxFacts | None = None,
    changed: Collection[uuid.UUID] = frozenset(),
) -> None:
    """Keep each box's facts and add the flags its scans earn (seal, temperature, time).

    ``facts`` comes from :func:`read_box_facts` (read here when not given); the boxes of
    ``changed`` items, appended to since it was read, are read again first.
    """
    boxes = _box_drafts(drafts)
    if not boxes:
        return
    if facts is None:
        facts = read_box_facts(session, boxes)
        assert facts is not None
    else:
        again = [d.item for d in boxes if d.item.id in changed or d.item.id not in facts.boxes]
        if again:
            facts.boxes.update(_boxes(session, again, reload=True))
    types, known, destinations = facts.types, facts.boxes, facts.destinations
    by_id = {t.id: t for t in types.values()}
    with session.no_autoflush:
        for draft in boxes:
            _keep_facts(session, draft, known[draft.item.id], types, by_id, destinations)
    _store_boxes(session, [known[draft.item.id] for draft in boxes])


def _keep_facts(
    session: Session,
    draft: Draft,
    box: Box,
    types: dict[str, SpecimenType],
    by_id: dict[uuid.UUID, SpecimenType],
    destinations: _DestinationSites,
) -> None:
    """Apply one scan to its box's facts and add the flags it earns."""
    details = draft.details
    happened = draft.causal_at
    if draft.type == "prepare":
        _prepare(box, draft, types, destinations)
    elif draft.type == "seal":
        box.seal, box.sealed_at = _text(details, "seal"), happened
    specimen = by_id.get(box.specimen_type_id) if box.specimen_type_id else None
    if draft.type in WATCHED:
        draft.flags += rules.seal_flags(
            box.seal,
            _text(details, "seal"),
            details.get("seal_intact") if isinstance(details.get("seal_intact"), bool) else None,
        )
        if specimen is not None:
            draft.flags += rules.temperature_flags(
                specimen.temperature_class, _number(details, "temperature_c")
            )
        counted = _number(details, "count")
        draft.flags += rules.count_flags(box.count, int(counted) if counted is not None else None)
    if draft.type in RECEIPTS:
        box.received_at = happened
        draft.flags += rules.time_limit_flags(box.deadline, happened)
        if box.destination_site_id and draft.site_id and draft.site_id != box.destination_site_id:
            site = session.get(Site, box.destination_site_id)
            draft.flags.append(
                Flag("wrong_destination", {"destination": site.code if site else "?"})
            )
    if draft.type in {"accept", "reject"}:
        box.outcome = "accepted" if draft.type == "accept" else "rejected"
        box.note = _text(details, "note") or _text(details, "reason")
        if draft.type == "accept" and box.note:
            box.outcome = "accepted_with_note"


_BOX_COLUMNS = tuple(column.key for column in Box.__table__.columns)


def _store_boxes(session: Session, boxes: Sequence[Box]) -> None:
    """Write the new and changed boxes as two executemany statements.

    This runs under the append lock: the unit of work took about 180 µs a box to work out
    what to write; here the boxes are written whole and then leave the session, so a
    later read gets them from the database and the commit does not write them again.
    """
    unique = list({box.item_id: box for box in boxes}.values())
    new = [box for box in unique if inspect(box).transient]
    changed = [box for box in unique if inspect(box).persistent and inspect(box).modified]
    # render_nulls keeps each group one executemany (else split by which columns are NULL).
    adding = insert(Box).execution_options(render_nulls=True)
    for group, statement in ((new, adding), (changed, update(Box))):
        if group:
            session.execute(
                statement, [{name: getattr(box, name) for name in _BOX_COLUMNS} for box in group]
            )
    for box in changed:
        session.expunge(box)


class _DestinationSites:
    """Sites named as destinations in one batch, each looked up once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[str, Site | None] = {}

    def get(self, ref: str) -> Site | None:
        if ref not in self.known:
            self.known[ref] = self.session.execute(
                select(Site).where((Site.code == ref) | (Site.barcode == ref))
            ).scalar_one_or_none()
        return self.known[ref]


def _prepare(
    box: Box, draft: Draft, types: dict[str, SpecimenType], destinations: _DestinationSites
) -> None:
    details = draft.details
    code = _text(details, "specimen_type")
    specimen = types.get(code) if code else None
    if code and specimen is None:
        draft.flags.append(Flag("unknown_specimen_type", {"code": code}))
    tubes = details.get("tubes")
    if isinstance(tubes, list):
        box.tubes = [str(tube)[:64] for tube in tubes][:500]
        box.count = len(box.tubes)
    elif isinstance(details.get("count"), int):
        box.count = int(details["count"])
    collected = _parse_time(details.get("collected_at")) or draft.occurred_at
    # A box filled again after a trip starts a new load: its earlier collection time is over.
    earlier = box.collected_at if draft.item.state == "prepared" else None
    box.collected_at = collected if earlier is None else min(earlier, collected)
    destination = _text(details, "destination")
    if specimen is not None:
        box.specimen_type_id = specimen.id
        box.deadline = rules.deadline(box.collected_at, specimen.time_limit_minutes)
        if destination is None:
            destination = "PATH" if specimen.destination_kind == "pathology" else "LAB"
    if destination:
        site = destinations.get(destination)
        box.destination_site_id = site.id if site else box.destination_site_id
    box.origin_site_id = draft.site_id or box.origin_site_id
    box.seal, box.sealed_at, box.received_at, box.outcome, box.note = None, None, None, None, None


def after_append(
    session: Session, drafts: Sequence[Draft], appended: Sequence[Appended], zone: ZoneInfo
) -> None:
    """Open and close handoff legs, reconcile manifests, raise alerts for flagged scans."""
    transfers = [d for d in drafts if d.type in TRANSFERS or d.type == "confirm_handoff"]
    days = {d.occurred_at.astimezone(zone).date() for d in transfers}
    # Most batches touch no planned trip: one query tells, instead of one per scan.
    planned = (
        bool(days)
        and session.execute(select(Trip.id).where(Trip.day.in_(days)).limit(1)).first() is not None
    )
    for draft, done in zip(drafts, appended, strict=True):
        if draft.type in TRANSFERS or draft.type == "confirm_handoff":
            _handoff_leg(session, draft, done)
            if planned:
                _reconcile(session, draft, done, zone)
        for flag in done.flags:
            kind = _ALERTING.get(flag.code)
            if kind is not None:
                raise_alert(
                    session,
                    f"{kind}:{draft.item.barcode}:{done.position}",
                    kind,
                    draft.item,
                    draft.site_id,
                    [flag],
                )


_ALERTING = {
    "seal_broken": AlertKind.seal_broken,
    "seal_mismatch": AlertKind.seal_broken,
    "temperature_excursion": AlertKind.temperature_excursion,
    "time_limit_exceeded": AlertKind.time_limit_exceeded,
    "wrong_destination": AlertKind.wrong_destination,
}


def _handoff_leg(session: Session, draft: Draft, done: Appended) -> None:
    if draft.type == "confirm_handoff":
        leg = session.execute(
            select(HandoffLeg)
            .where(HandoffLeg.item_id == draft.item.id, HandoffLeg.confirmed.is_(False))
            .order_by(HandoffLeg.opened_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        if leg is not None:
            leg.confirmed, leg.confirmed_at = True, draft.occurred_at
            leg.taker_id = leg.taker_id or draft.actor_id
            leg.giver_id = leg.giver_id or draft.counterparty_id
        return
    if draft.type in ACTOR_TAKES:
        taker, giver = draft.actor_id, draft.counterparty_id
    else:
        giver, taker = draft.actor_id, draft.counterparty_id
    both = giver is not None and taker is not None
    session.add(
        HandoffLeg(
            item_id=draft.item.id,
            position=done.position,
            giver_id=giver,
            taker_id=taker,
            site_id=draft.site_id,
            opened_at=draft.occurred_at,
            confirmed=both,
            confirmed_at=draft.occurred_at if both else None,
        )
    )


def _trip_for(
    session: Session, courier_id: uuid.UUID | None, day: date, at: datetime
) -> Trip | None:
    """The courier's trip under way at ``at``: the first of the day not completed before it."""
    if courier_id is None:
        return None
    return session.execute(
        select(Trip)
        .where(
            Trip.courier_id == courier_id,
            Trip.day == day,
            Trip.completed_at.is_(None) | (Trip.completed_at > at),
        )
        .order_by(Trip.created_at)
        .limit(1)
    ).scalar_one_or_none()


def _courier_of(session: Session, draft: Draft) -> uuid.UUID | None:
    for person_id in (draft.actor_id, draft.counterparty_id):
        person = session.get(Person, person_id) if person_id else None
        if person is not None and person.role == Role.courier:
            return person.id
    return None


def _reconcile(session: Session, draft: Draft, done: Appended, zone: ZoneInfo) -> None:
    """Match a courier's scan at a stop against the trip's manifest."""
    day = draft.occurred_at.astimezone(zone).date()
    trip = _trip_for(session, _courier_of(session, draft), day, draft.occurred_at)
    if trip is None or draft.site_id is None:
        return
    courier_takes = (draft.type in ACTOR_TAKES) == (draft.actor_id == trip.courier_id)
    action = ManifestAction.pickup if courier_takes else ManifestAction.drop
    stops = {
        s.id: s
        for s in session.execute(select(TripStop).where(TripStop.trip_id == trip.id)).scalars()
    }
    lines = list(
        session.execute(
            select(ManifestLine).where(
                ManifestLine.trip_id == trip.id,
                ManifestLine.item_id == draft.item.id,
                ManifestLine.action == action,
            )
        ).scalars()
    )
    here = [line for line in lines if stops[line.stop_id].site_id == draft.site_id]
    if here:
        here[0].done_position = done.position
    elif lines:
        _discrepancy(session, trip, draft.item, DiscrepancyKind.misrouted, draft.site_id)
    else:
        _discrepancy(session, trip, draft.item, DiscrepancyKind.extra, draft.site_id)
    current = [s for s in stops.values() if s.site_id == draft.site_id]
    if current:
        _missing_before(session, trip, min(s.seq for s in current), stops)


def _missing_before(
    session: Session, trip: Trip, seq: int, stops: dict[uuid.UUID, TripStop]
) -> None:
    """Pickups planned at stops the courier has already left and never scanned."""
    for line in session.execute(
        select(ManifestLine).where(
            ManifestLine.trip_id == trip.id,
            ManifestLine.action == ManifestAction.pickup,
            ManifestLine.done_position.is_(None),
        )
    ).scalars():
        stop = stops[line.stop_id]
        if stop.seq < seq:
            item = session.get(Item, line.item_id)
            if item is not None:
                _discrepancy(session, trip, item, DiscrepancyKind.missing, stop.site_id)


def _discrepancy(
    session: Session,
    trip: Trip,
    item: LedgerItem,
    kind: DiscrepancyKind,
    site_id: uuid.UUID | None,
) -> None:
    exists = session.execute(
        select(Discrepancy.id).where(
            Discrepancy.trip_id == trip.id, Discrepancy.item_id == item.id, Discrepancy.kind == kind
        )
    ).first()
    if exists:
        return
    session.add(Discrepancy(trip_id=trip.id, item_id=item.id, kind=kind, site_id=site_id))
    flag = Flag(f"manifest_{kind}", {"item": item.barcode, "trip": trip.barcode})
    raise_alert(
        session,
        f"discrepancy:{trip.barcode}:{item.barcode}:{kind}",
        AlertKind.discrepancy,
        item,
        site_id,
        [flag],
    )


def raise_alert(
    session: Session,
    key: str,
    kind: AlertKind,
    item: LedgerItem | None,
    site_id: uuid.UUID | None,
    flags: Sequence[Flag],
) -> None:
    """Raise an alert once per cause (``key``)."""
    if session.execute(select(Alert.id).where(Alert.key == key)).first():
        return
    session.add(
        Alert(
            key=key[:120],
            kind=kind,
            item_id=item.id if item else None,
            site_id=site_id,
            message_zh=render_all(flags, "zh"),
            message_en=render_all(flags, "en"),
        )
    )
    session.flush()


def sweep(session: Session, now: datetime, transit_minutes: int, one_sided_minutes: int) -> int:
    """Raise the time-based alerts: boxes that will miss their limit, stale one-sided handoffs."""
    before = session.execute(select(Alert.id)).all()
    rows = session.execute(
        select(Item, Box)
        .join(Box, Box.item_id == Item.id)
        .where(
            Box.deadline.is_not(None),
            Box.received_at.is_(None),
            Item.state.in_(["prepared", "sealed", "in_transit", "on_hold"]),
        )
    ).all()
    for item, box in rows:
        assert box.deadline is not None
        predicted = _predicted_arrival(session, box, now, transit_minutes)
        if rules.breach_predicted(box.deadline, predicted, now):
            flag = Flag(
                "time_limit_risk",
                {"box": item.barcode, "deadline": box.deadline.isoformat(timespec="minutes")},
            )
            raise_alert(
                session,
                f"risk:{item.barcode}:{box.deadline.isoformat()}",
                AlertKind.time_limit_risk,
                item,
                box.destination_site_id,
                [flag],
            )
        elif box.deadline <= now:
            flag = Flag(
                "time_limit_exceeded",
                {"late_minutes": str(int((now - box.deadline).total_seconds() // 60))},
            )
            raise_alert(
                session,
                f"late:{item.barcode}:{box.deadline.isoformat()}",
                AlertKind.time_limit_exceeded,
                item,
                box.destination_site_id,
                [flag],
            )
    cutoff = now - timedelta(minutes=one_sided_minutes)
    for leg, item in session.execute(
        select(HandoffLeg, Item)
        .join(Item, Item.id == HandoffLeg.item_id)
        .where(HandoffLeg.confirmed.is_(False), HandoffLeg.opened_at < cutoff)
    ).all():
        flag = Flag(
            "one_sided_handoff",
            {
                "item": item.barcode,
                "minutes": str(int((now - leg.opened_at).total_seconds() // 60)),
            },
        )
        raise_alert(
            session, f"one-sided:{leg.id}", AlertKind.one_sided_handoff, item, leg.site_id, [flag]
        )
    return len(session.execute(select(Alert.id)).all()) - len(before)


def _predicted_arrival(session: Session, box: Box, now: datetime, transit_minutes: int) -> datetime:
    """From the plan of the trip that drops the box at its destination, else elapsed time."""
    planned = session.execute(
        select(TripStop.planned_arrival)
        .join(ManifestLine, ManifestLine.stop_id == TripStop.id)
        .where(
            ManifestLine.item_id == box.item_id,
            ManifestLine.action == ManifestAction.drop,
            ManifestLine.done_position.is_(None),
            TripStop.planned_arrival.is_not(None),
        )
        .order_by(TripStop.planned_arrival.desc())
        .limit(1)
    ).scalar_one_or_none()
    if planned is not None:
        return max(planned, now)
    return now + timedelta(minutes=transit_minutes)


# --- trips and manifests -----------------------------------------------------------------


def create_trip(
    session: Session,
    actor: Person,
    courier_badge: str,
    day: date,
    vehicle: str | None,
    stops: Sequence[dict[str, Any]],
) -> Trip:
    courier = person_by_badge(session, courier_badge)
    if courier.role != Role.courier:
        raise BadRequest(f"{courier.name} is not a courier")
    trip = Trip(barcode=new_id(Kind.TRIP), day=day, courier_id=courier.id, vehicle=vehicle)
    session.add(trip)
    session.flush()
    for seq, stop in enumerate(stops, start=1):
        site = site_by_ref(session, stop["site"])
        row = TripStop(
            trip_id=trip.id, seq=seq, site_id=site.id, planned_arrival=stop.get("planned_arrival")
        )
        session.add(row)
        session.flush()
        for action in (ManifestAction.pickup, ManifestAction.drop):
            for code in stop.get(action.value + "s", []):
                item = item_by_barcode(session, code)
                session.add(
                    ManifestLine(trip_id=trip.id, stop_id=row.id, item_id=item.id, action=action)
                )
                box = session.get(Box, item.id) if item.kind == ItemKind.specimen_box else None
                if box is not None and action == ManifestAction.pickup:
                    box.trip_id = trip.id
    session.flush()
    return trip


def trip_by_ref(session: Session, ref: str) -> Trip:
    trip = session.execute(select(Trip).where(Trip.barcode == ref)).scalar_one_or_none()
    if trip is None:
        raise NotFound(f"no trip {ref[:40]}")
    return trip


def complete_trip(session: Session, trip: Trip, now: datetime) -> Trip:
    """The courier is back: every pickup still not scanned is missing."""
    if trip.completed_at is not None:
        raise Conflict(f"trip {trip.barcode} is already complete")
    stops = {
        s.id: s
        for s in session.execute(select(TripStop).where(TripStop.trip_id == trip.id)).scalars()
    }
    _missing_before(session, trip, max((s.seq for s in stops.values()), default=0) + 1, stops)
    trip.completed_at = now
    session.flush()
    return trip


def resolve_discrepancy(
    session: Session,
    person: Person,
    discrepancy_id: uuid.UUID,
    state: DiscrepancyState,
    note: str,
    now: datetime,
) -> Discrepancy:
    discrepancy = session.get(Discrepancy, discrepancy_id)
    if discrepancy is None:
        raise NotFound("no such discrepancy")
    if state == DiscrepancyState.open:
        raise BadRequest("a discrepancy is explained or resolved, not reopened")
    if discrepancy.state == DiscrepancyState.resolved:
        raise Conflict("this discrepancy is already resolved")
    discrepancy.state, discrepancy.resolution = state, note
    discrepancy.resolved_by_id, discrepancy.resolved_at = person.id, now
    session.flush()
    return discrepancy


def close_alert(session: Session, alert_id: int, now: datetime) -> Alert:
    """Close an alert (closing it again keeps the first close time)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("no such alert")
    alert.closed_at = alert.closed_at or now
    session.flush()
    return alert
