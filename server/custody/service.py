"""Batch ingest of scans from devices and people into the ledger.

A batch is one transaction. Each event is answered ``accepted``, ``duplicate`` (its
``event_id`` is already stored), ``flagged`` (stored, with a reason a person can read) or
``rejected`` (too malformed to store: a code that fails its check character, an unknown
barcode, a timestamp far in the future, a site the device does not belong to). If any
event is rejected nothing of the batch enters the ledger, the rejected events are kept as
evidence in ``rejected_submissions``, and the others are answered ``not_written`` so the
sender can drop the rejected ones and send the rest again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from labels.identity import InvalidId, Kind, parse_id
from server.auth.service import Principal
from server.config import Settings
from server.cssd import guards
from server.custody import ledger
from server.custody.flags import Flag
from server.custody.lifecycle import ALL_EVENT_TYPES, actor_may
from server.custody.messages import render, render_all
from server.custody.schemas import (
    BrokenLinkRead,
    EventIn,
    EventResult,
    IngestResponse,
    ProjectionMismatchRead,
    Status,
    VerifyReport,
)
from server.db import one_of
from server.errors import PayloadTooLarge
from server.lookup import ITEM_KINDS
from server.models import Person, RejectedSubmission, Site
from server.specimens import service as specimens


class _Rejection(Exception):
    def __init__(self, code: str, **params: str) -> None:
        self.flag = Flag(code, params)
        super().__init__(render(self.flag))


@dataclass(slots=True)
class _Resolved:
    index: int
    event: EventIn
    item_barcode: str
    actor_badge: str | None
    counterparty_badge: str | None
    site_ref: str | None


def _checked(text: str, expected: Kind | frozenset[Kind], role: str) -> str:
    try:
        return parse_id(text, expected).text
    except InvalidId as error:
        raise _Rejection(error.code, field=role, detail=error.reason, text=text[:40]) from None


def _minutes(delta: timedelta) -> str:
    return str(int(delta.total_seconds() // 60))


def _skew_flag(ahead: timedelta) -> Flag:
    """The device clock is ``ahead`` of the server's (negative: behind)."""
    if ahead >= timedelta():
        return Flag("clock_skew", {"ahead_minutes": _minutes(ahead)})
    return Flag("clock_behind", {"behind_minutes": _minutes(-ahead)})


def _excerpt(event: EventIn) -> str:
    text = json.dumps(event.model_dump(mode="json"), ensure_ascii=False)
    return text if len(text) <= 2000 else text[:2000] + "…"


def ingest(
    session: Session,
    principal: Principal,
    events: Sequence[EventIn],
    settings: Settings,
    now: datetime,
    *,
    sent_at: datetime | None = None,
) -> tuple[IngestResponse, bool]:
    """Store a batch; returns the per-event answer and whether the batch was rejected.

    ``sent_at`` is the device's clock when it sent the batch: the difference to ``now``
    is the device's clock error, kept on each event and used to place it in time.
    """
    if len(events) > settings.ingest_batch_limit:
        raise PayloadTooLarge(
            f"a batch may hold at most {settings.ingest_batch_limit} events; "
            f"this one has {len(events)} — split it"
        )
    offset = _clock_offset(now, sent_at)
    resolved: list[_Resolved] = []
    rejections: dict[int, _Rejection] = {}
    for index, event in enumerate(events):
        try:
            resolved.append(_resolve_codes(index, event, principal, settings, now, offset))
        except _Rejection as rejection:
            rejections[index] = rejection

    # Items, earlier copies of these events and box facts are read before the append lock is
    # taken, so that reading overlaps another batch's append; under the lock only what was
    # appended since is read again (projections and box facts change only with appends).
    seen_position = ledger.head_position(session)
    items, people, sites = _load_references(session, resolved)
    drafts: dict[int, ledger.Draft] = {}
    for entry in resolved:
        try:
            drafts[entry.index] = _draft(
                entry, principal, items, people, sites, settings, now, offset
            )
        except _Rejection as rejection:
            rejections[entry.index] = rejection

    if rejections:
        return _reject_batch(session, principal, events, rejections, now), True

    event_ids = [event.event_id for event in events]
    stored = ledger.existing_events(session, event_ids)
    fresh_drafts = [draft for draft in drafts.values() if draft.event_id not in stored]
    box_facts = specimens.read_box_facts(session, fresh_drafts)
    ledger.stage(fresh_drafts, now)
    head = ledger.lock_head(session)
    changed: frozenset[uuid.UUID] = frozenset()
    if head.position != seen_position:
        fresh = [event_id for event_id in event_ids if event_id not in stored]
        caught = ledger.catch_up(session, list(items.values()), fresh, seen_position, head.position)
        stored.update(caught.stored)
        changed = caught.changed_items
    results: list[EventResult | None] = [None] * len(events)
    seen: dict[uuid.UUID, int] = {}
    to_append: list[tuple[int, ledger.Draft]] = []
    for index, event in enumerate(events):
        if event.event_id in stored or event.event_id in seen:
            results[index] = _duplicate(index, event, stored, seen)
            continue
        seen[event.event_id] = index
        to_append.append((index, drafts[index]))

    today = now.astimezone(settings.zone).date()
    scans = [(draft.item, draft.type, draft.site_id) for _, draft in to_append]
    for position, flags in guards.pack_scan_flags(session, scans, today).items():
        to_append[position][1].flags.extend(flags)
    new_drafts = [draft for _, draft in to_append]
    specimens.before_append(session, new_drafts, box_facts, changed)
    appended = ledger.append(session, head, new_drafts, now)
    specimens.after_append(session, new_drafts, appended, settings.zone)
    for _, draft in to_append:
        if draft.type == "use":
            patient = draft.details.get("patient_ref")
            guards.record_use(session, draft.item, str(patient) if patient else None)
        elif draft.details.get("special_pathogen") is True:
            guards.record_special_pathogen(session, draft.item)
    for (index, _), done in zip(to_append, appended, strict=True):
        status = Status.flagged if done.flags else Status.accepted
        results[index] = _answer(
            index, done.event_id, status, done.flags, done.position, done.item_seq
        )
    if principal.device is not None:
        principal.device.last_seen_at = now
    final = [result for result in results if result is not None]
    return _summary(final), False


def _clock_offset(now: datetime, sent_at: datetime | None) -> timedelta | None:
    return None if sent_at is None else now - sent_at


def _resolve_codes(
    index: int,
    event: EventIn,
    principal: Principal,
    settings: Settings,
    now: datetime,
    offset: timedelta | None,
) -> _Resolved:
    if event.type not in ALL_EVENT_TYPES:
        raise _Rejection("unknown_type", event=event.type)
    ahead = event.occurred_at + (offset or timedelta()) - now
    if ahead > timedelta(seconds=settings.future_reject_seconds):
        raise _Rejection("future_timestamp", ahead_minutes=_minutes(ahead))
    item = _checked(event.item, ITEM_KINDS, "item")
    actor = _checked(event.actor, Kind.PERSON, "actor") if event.actor else None
    counterparty = (
        _checked(event.counterparty, Kind.PERSON, "counterparty") if event.counterparty else None
    )
    if principal.person is not None:
        if actor is not None and actor != principal.person.badge:
            raise _Rejection("not_your_badge")
        actor = principal.person.badge
    return _Resolved(index, event, item, actor, counterparty, event.site)


def _load_references(
    session: Session, resolved: Sequence[_Resolved]
) -> tuple[dict[str, ledger.ItemRow], dict[str, Person], dict[str, Site]]:
    barcodes = {entry.item_barcode for entry in resolved}
    badges = {b for entry in resolved for b in (entry.actor_badge, entry.counterparty_badge) if b}
    site_refs = {entry.site_ref for entry in resolved if entry.site_ref}
    items = ledger.load_items(session, barcodes) if barcodes else {}

    people = (
        {
            person.badge: person
            for person in session.execute(
                select(Person).where(one_of(session, Person.badge, badges))
            ).scalars()
        }
        if badges
        else {}
    )
    sites: dict[str, Site] = {}
    if site_refs:
        for site in session.execute(
            select(Site).where(Site.barcode.in_(site_refs) | Site.code.in_(site_refs))
        ).scalars():
            sites[site.barcode] = site
            sites[site.code] = site
    return items, people, sites


def _draft(
    entry: _Resolved,
    principal: Principal,
    items: dict[str, ledger.ItemRow],
    people: dict[str, Person],
    sites: dict[str, Site],
    settings: Settings,
    now: datetime,
    offset: timedelta | None,
) -> ledger.Draft:
    event = entry.event
    item = items.get(entry.item_barcode)
    if item is None:
        raise _Rejection("unknown_barcode", field="item", text=entry.item_barcode)
    party = {}
    for role, badge in (("actor", entry.actor_badge), ("counterparty", entry.counterparty_badge)):
        if badge is not None and badge not in people:
            raise _Rejection("unknown_badge", field=role, text=badge)
        party[role] = people[badge].id if badge else None

    site_id = _site_for(entry, principal, sites)
    flags: list[Flag] = []
    tolerance = timedelta(seconds=settings.future_tolerance_seconds)
    if offset is not None and abs(offset) > tolerance:
        flags.append(_skew_flag(-offset))
    elif offset is None and event.occurred_at - now > tolerance:
        flags.append(_skew_flag(event.occurred_at - now))
    if not item.active:
        flags.append(Flag("inactive_item", {"barcode": item.barcode}))
    actor = people.get(entry.actor_badge) if entry.actor_badge else None
    if actor is not None and not actor_may(event.type, actor.role):
        flags.append(
            Flag("role_not_allowed", {"name": actor.name, "role": actor.role, "event": event.type})
        )
    return ledger.Draft(
        event_id=event.event_id,
        item=item,
        type=event.type,
        occurred_at=event.occurred_at,
        actor_id=party["actor"],
        counterparty_id=party["counterparty"],
        site_id=site_id,
        device_id=principal.device.id if principal.device else None,
        details=event.details,
        flags=flags,
        clock_offset_ms=None if offset is None else int(offset.total_seconds() * 1000),
    )


def _site_for(entry: _Resolved, principal: Principal, sites: dict[str, Site]) -> uuid.UUID | None:
    site = sites.get(entry.site_ref) if entry.site_ref else None
    if entry.site_ref and site is None:
        raise _Rejection("unknown_site", text=entry.site_ref[:40])
    if principal.device is not None:
        own = principal.device.site_id
        if site is not None and site.id != own:
            raise _Rejection("wrong_site", device=principal.device.barcode)
        return own
    if site is not None:
        return site.id
    person = principal.person
    return person.home_site_id if person else None


def _answer(
    index: int,
    event_id: uuid.UUID,
    status: Status,
    flags: Sequence[Flag] = (),
    position: int | None = None,
    item_seq: int | None = None,
) -> EventResult:
    """One event's answer, its reason in both languages from the catalogue."""
    return EventResult(
        index=index,
        event_id=event_id,
        status=status,
        code=flags[0].code if flags else None,
        reason=render_all(flags, "en") if flags else None,
        reason_zh=render_all(flags, "zh") if flags else None,
        position=position,
        item_seq=item_seq,
    )


def _duplicate(
    index: int,
    event: EventIn,
    stored: dict[uuid.UUID, ledger.StoredEvent],
    seen: dict[uuid.UUID, int],
) -> EventResult:
    if event.event_id in seen:
        flag = Flag("repeated_in_batch", {"first": str(seen[event.event_id])})
        return _answer(index, event.event_id, Status.duplicate, [flag])
    row = stored[event.event_id]
    same = row.type == event.type and row.occurred_at == event.occurred_at
    flags = [] if same else [Flag("different_content")]
    return _answer(index, event.event_id, Status.duplicate, flags, row.position, row.item_seq)


def _reject_batch(
    session: Session,
    principal: Principal,
    events: Sequence[EventIn],
    rejections: dict[int, _Rejection],
    now: datetime,
) -> IngestResponse:
    results = []
    for index, event in enumerate(events):
        rejection = rejections.get(index)
        if rejection is None:
            results.append(
                _answer(index, event.event_id, Status.not_written, [Flag("not_written")])
            )
            continue
        results.append(_answer(index, event.event_id, Status.rejected, [rejection.flag]))
        session.add(
            RejectedSubmission(
                received_at=now,
                device_id=principal.device.id if principal.device else None,
                person_id=principal.person.id if principal.person else None,
                event_id=str(event.event_id),
                code=rejection.flag.code,
                reason=render(rejection.flag),
                excerpt=_excerpt(event),
            )
        )
    session.flush()
    return _summary(results)


def _summary(results: list[EventResult]) -> IngestResponse:
    def count(status: Status) -> int:
        return sum(1 for result in results if result.status == status)

    return IngestResponse(
        accepted=count(Status.accepted),
        duplicates=count(Status.duplicate),
        flagged=count(Status.flagged),
        rejected=count(Status.rejected),
        results=results,
    )


def verify_ledger(session: Session, *, projections: bool = True) -> VerifyReport:
    """Check the hash chain and (optionally) every item's projection."""
    started = time.perf_counter()
    report = ledger.verify(session)
    items_checked, mismatches = ledger.check_projections(session) if projections else (0, [])
    broken = report.first_broken
    return VerifyReport(
        ok=report.ok and not mismatches,
        events_checked=report.events_checked,
        head_position=report.head_position,
        first_broken=BrokenLinkRead(
            position=broken.position, event_id=broken.event_id, problem=broken.problem
        )
        if broken
        else None,
        items_checked=items_checked,
        projection_mismatches=[
            ProjectionMismatchRead(
                barcode=m.barcode, field=m.field, stored=m.stored, rebuilt=m.rebuilt
            )
            for m in mismatches
        ],
        seconds=round(time.perf_counter() - started, 3),
    )
