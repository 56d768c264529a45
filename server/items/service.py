"""Registering items and reading their state and custody chain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from labels.identity import new_id
from server import audit
from server.custody import ledger
from server.custody.chain import ChainedFields, event_hash
from server.custody.flags import Flag
from server.custody.lifecycle import CORRECTION, LIFECYCLES, REGISTERED
from server.custody.messages import render
from server.db import plain_rows
from server.enums import ItemKind, Role
from server.errors import Conflict, NotFound, UnknownBarcode, Unprocessable
from server.items.schemas import (
    CorrectionIn,
    CorrectionRead,
    CustodyChain,
    CustodyEventRead,
    ItemCreate,
    ItemRead,
    ItemUpdate,
    PartyRead,
    SiteRef,
)
from server.lookup import ITEM_KINDS, checked_id, person_by_badge, site_by_ref
from server.models import CustodyEvent, Device, Item, Person, Site


def register_item(
    session: Session,
    actor: Person | None,
    data: ItemCreate,
    now: datetime,
    *,
    device: Device | None = None,
    site: Site | None = None,
) -> Item:
    """Create an item and append its 'registered' event in the same unit of work.

    The event happens at ``site`` (default: the item's home site), which becomes the item's
    current site.
    """
    if data.barcode:
        barcode = checked_id(data.barcode, data.kind.id_kind)
        if session.execute(select(Item.id).where(Item.barcode == barcode)).first():
            raise Conflict(f"{barcode} is already registered")
    else:
        barcode = new_id(data.kind.id_kind)
    home = site_by_ref(session, data.home_site) if data.home_site else None
    item = Item(
        barcode=barcode,
        kind=data.kind,
        description=data.description,
        home_site_id=home.id if home else None,
        attributes=data.attributes,
        state=LIFECYCLES[data.kind].initial,
        last_seq=0,
        open_flags=0,
    )
    session.add(item)
    session.flush()
    head = ledger.lock_head(session)
    ledger.append(
        session,
        head,
        [
            ledger.Draft(
                event_id=uuid.uuid4(),
                item=item,
                type=REGISTERED,
                occurred_at=now,
                actor_id=actor.id if actor else None,
                site_id=site.id if site else home.id if home else None,
                device_id=device.id if device else None,
                details={"description": data.description} if data.description else {},
            )
        ],
        now,
    )
    session.refresh(item)
    return item


def update_item(session: Session, actor: Person | None, item: Item, data: ItemUpdate) -> Item:
    """Change what an item is called or owned by; its state only moves through the ledger."""
    for name, value in data.model_dump(exclude_unset=True).items():
        if name == "home_site":
            item.home_site_id = site_by_ref(session, value).id if value else None
        elif value is None:
            raise Unprocessable(f"{name} cannot be empty")
        else:
            setattr(item, name, value)
    session.flush()
    audit.record(
        session,
        actor,
        "item.update",
        "item",
        item.barcode,
        data.model_dump(mode="json", exclude_unset=True),
    )
    return item


def list_items(
    session: Session,
    kind: ItemKind | None,
    state: str | None,
    site: Site | None,
    limit: int,
    offset: int,
) -> Sequence[Item]:
    query = select(Item).order_by(Item.barcode).limit(limit).offset(offset)
    if kind is not None:
        query = query.where(Item.kind == kind)
    if state is not None:
        query = query.where(Item.state == state)
    if site is not None:
        query = query.where(Item.current_site_id == site.id)
    return session.execute(query).scalars().all()


def _flag_fields(flag: Flag) -> dict[str, str]:
    return {"code": flag.code, "en": render(flag, "en"), "zh": render(flag, "zh")}


_HOME, _CURRENT = aliased(Site), aliased(Site)
# The item's home and current site and its holder in one statement (built once).
_PLACES = (
    select(
        _HOME.code, _HOME.name_zh, _HOME.name_en,
        _CURRENT.code, _CURRENT.name_zh, _CURRENT.name_en,
        Person.badge, Person.name, Person.role,
    )
    .select_from(Item)
    .outerjoin(_HOME, _HOME.id == Item.home_site_id)
    .outerjoin(_CURRENT, _CURRENT.id == Item.current_site_id)
    .outerjoin(Person, Person.id == Item.holder_id)
    .where(Item.id == bindparam("item_id"))
)  # fmt: skip


def _party(badge: str | None, name: str | None, role: str | None) -> dict[str, str] | None:
    return None if badge is None else {"badge": badge, "name": name or "", "role": role or ""}


def _site(code: str | None, name_zh: str | None, name_en: str | None) -> dict[str, str] | None:
    return (
        None if code is None else {"code": code, "name_zh": name_zh or "", "name_en": name_en or ""}
    )


def _site_of(code: str | None, name_zh: str | None, name_en: str | None) -> SiteRef | None:
    fields = _site(code, name_zh, name_en)
    return None if fields is None else SiteRef(**fields)


def describe_item(session: Session, item: Item) -> ItemRead:
    """The item's current state, with its sites and holder by name."""
    places = session.execute(_PLACES, {"item_id": item.id}).one()
    return _item_read(
        item.barcode, item.kind, item.description, item.attributes, item.active, item.state,
        item.last_seq, item.last_event_at, item.open_flags, *places,
    )  # fmt: skip


# The item's own columns and its places in one statement, by barcode: a custody lookup's
# first question, without loading an ORM object it only shows.
_ITEM_COLUMNS = (
    Item.barcode, Item.kind, Item.description, Item.attributes, Item.active, Item.state,
    Item.last_seq, Item.last_event_at, Item.open_flags,
)  # fmt: skip
_ITEM_AND_PLACES = (
    select(Item.id, *_ITEM_COLUMNS, *_PLACES.selected_columns)
    .select_from(Item)
    .outerjoin(_HOME, _HOME.id == Item.home_site_id)
    .outerjoin(_CURRENT, _CURRENT.id == Item.current_site_id)
    .outerjoin(Person, Person.id == Item.holder_id)
    .where(Item.barcode == bindparam("barcode"))
)


def _item_read(
    barcode: str,
    kind: ItemKind,
    description: str,
    attributes: dict[str, object],
    active: bool,
    state: str,
    last_seq: int,
    last_event_at: datetime | None,
    open_flags: int,
    *places: str | None,
) -> ItemRead:
    labels = LIFECYCLES[kind].labels.get(state, (state, state))
    return ItemRead(
        barcode=barcode,
        kind=kind,
        description=description,
        home_site=_site_of(*places[0:3]),
        attributes=attributes,
        active=active,
        state=state,
        state_label=labels[1],
        state_label_zh=labels[0],
        last_seq=last_seq,
        last_event_at=last_event_at,
        current_site=_site_of(*places[3:6]),
        holder=_party_of(*places[6:9]),
        open_flags=open_flags,
    )


_ACTOR, _COUNTERPARTY = aliased(Person), aliased(Person)
# Built once: SQLAlchemy caches its compiled form. Plain columns, no ORM objects: a
# history is read often and only ever shown.
_CHAIN = (
    select(
        *(CustodyEvent.__table__.c[name] for name in ledger.CHAINED_COLUMNS),
        CustodyEvent.prev_hash, CustodyEvent.hash,
        _ACTOR.badge.label("actor_badge"), _ACTOR.name.label("actor_name"),
        _ACTOR.role.label("actor_role"),
        _COUNTERPARTY.badge.label("counterparty_badge"),
        _COUNTERPARTY.name.label("counterparty_name"),
        _COUNTERPARTY.role.label("counterparty_role"),
        Site.code.label("site_code"), Site.name_zh.label("site_name_zh"),
        Site.name_en.label("site_name_en"),
        Device.barcode.label("device_barcode"),
        # The item's last sequence number as of this statement's own snapshot: a lookup
        # read outside a transaction checks the chain against this, not the item row it
        # read a moment before (an append may have come in between).
        select(Item.last_seq).where(Item.id == bindparam("item_id")).scalar_subquery(),
    )
    .outerjoin(_ACTOR, _ACTOR.id == CustodyEvent.actor_id)
    .outerjoin(_COUNTERPARTY, _COUNTERPARTY.id == CustodyEvent.counterparty_id)
    .outerjoin(Site, Site.id == CustodyEvent.site_id)
    .outerjoin(Device, Device.id == CustodyEvent.device_id)
    .where(CustodyEvent.item_id == bindparam("item_id"))
    .order_by(CustodyEvent.item_seq)
)  # fmt: skip


def _party_of(badge: str | None, name: str | None, role: str | None) -> PartyRead | None:
    fields = _party(badge, name, role)
    return None if fields is None else PartyRead(**fields)


def custody_chain(session: Session, item: Item) -> CustodyChain:
    """The item's events in order, each with its hashes and whether it still matches them."""
    return _chain(session, item.id, item.last_seq, describe_item(session, item))


def custody_chain_by_barcode(session: Session, text: str) -> CustodyChain:
    """The custody chain of the item with barcode ``text`` (checked first): two statements.

    They need not share a transaction (``server.db.read_scope``): if an event was appended
    between them, the item is read again so that it and its chain agree.
    """
    barcode = checked_id(text, ITEM_KINDS)
    for _ in range(_ATTEMPTS):
        row = session.connection().execute(_ITEM_AND_PLACES, {"barcode": barcode}).first()
        if row is None:
            raise UnknownBarcode(f"no item has the barcode {barcode}")
        item_id, *columns = row
        chain = _chain(session, item_id, row.last_seq, _item_read(*columns))
        if chain.item.last_seq == row.last_seq:
            break
    return chain


# Reads of a chain that keeps growing under them; after these the last one is answered.
_ATTEMPTS = 3


# One validation for the whole list: pydantic builds the nested models in Rust, several
# times faster than a CustodyEventRead(...) per event with a PartyRead/SiteRef inside.
_EVENTS = TypeAdapter(list[CustodyEventRead])


_CHAINED = len(ledger.CHAINED_COLUMNS)


def _event_fields(row: Sequence[Any]) -> dict[str, Any]:
    """One row of ``_CHAIN`` as the fields of a ``CustodyEventRead``, its hash checked."""
    fields = ChainedFields(*row[:_CHAINED])
    prev_hash, digest = row[_CHAINED], row[_CHAINED + 1]
    return {
        "position": fields.position,
        "event_id": fields.event_id,
        "item_seq": fields.item_seq,
        "type": fields.type,
        "actor": _party(*row[_CHAINED + 2 : _CHAINED + 5]),
        "counterparty": _party(*row[_CHAINED + 5 : _CHAINED + 8]),
        "site": _site(*row[_CHAINED + 8 : _CHAINED + 11]),
        "device": row[_CHAINED + 11],
        "occurred_at": fields.occurred_at,
        "received_at": fields.received_at,
        "details": fields.details,
        "flag_code": fields.flag_code,
        "flags": [_flag_fields(Flag.from_json(flag)) for flag in fields.flags],
        "prev_hash": prev_hash,
        "hash": digest,
        "hash_ok": event_hash(fields, prev_hash) == digest,
    }


def _chain(session: Session, item_id: uuid.UUID, last_seq: int, item: ItemRead) -> CustodyChain:
    """The chain as of one statement; ``item.last_seq`` is that statement's if it differs."""
    rows = plain_rows(session, _CHAIN, {"item_id": item_id})
    if rows and rows[0][-1] != last_seq:
        last_seq = rows[0][-1]
        item = item.model_copy(update={"last_seq": last_seq})
    events = _EVENTS.validate_python([_event_fields(row) for row in rows])
    intact = all(event.hash_ok for event in events) and [e.item_seq for e in events] == list(
        range(1, last_seq + 1)
    )
    return CustodyChain(item=item, events=events, intact=intact)


# Who may correct a recorded step (besides administrators): the CSSD's staff for its records
# (WS 310.1), the laboratory's receivers for its receipts.
CORRECTOR_ROLES: tuple[Role, ...] = (Role.cssd_staff, Role.lab_receiver)


def correct_event(
    session: Session, actor: Person, item: Item, data: CorrectionIn, now: datetime
) -> CorrectionRead:
    """Correct one field of a recorded step: a ``correction`` event naming the event, the
    value before and after and the reason is appended, and the change is audited. Nothing
    recorded is changed: the chain keeps both (WS 310.1: corrections are traceable)."""
    event = session.execute(
        select(CustodyEvent).where(
            CustodyEvent.event_id == data.event_id, CustodyEvent.item_id == item.id
        )
    ).scalar_one_or_none()
    if event is None:
        raise NotFound(f"{item.barcode} has no event {data.event_id}")
    if event.type == CORRECTION:
        raise Unprocessable("a correction is not corrected: correct the original event again")
    before: str | None
    after: str | None
    if data.field == "note":
        before = _text_or_none(event.details.get("note"))
        after = data.value
    else:
        party = event.actor_id if data.field == "actor" else event.counterparty_id
        found = session.get(Person, party) if party else None
        before = found.badge if found else None
        after = person_by_badge(session, data.value).badge if data.value else None
    for earlier in session.execute(
        select(CustodyEvent.details)
        .where(CustodyEvent.item_id == item.id, CustodyEvent.type == CORRECTION)
        .order_by(CustodyEvent.item_seq)
    ).scalars():
        if earlier.get("corrects") == str(event.event_id) and earlier.get("field") == data.field:
            before = earlier.get("after")  # corrected before: that correction is what stands
    if before == after:
        raise Unprocessable(f"the {data.field} of that event is already {after or 'empty'}")
    details = {
        "corrects": str(event.event_id),
        "position": event.position,
        "field": data.field,
        "before": before,
        "after": after,
        "reason": data.reason,
    }
    head = ledger.lock_head(session)
    [appended] = ledger.append(
        session,
        head,
        [
            ledger.Draft(
                event_id=uuid.uuid4(),
                item=item,
                type=CORRECTION,
                occurred_at=now,
                actor_id=actor.id,
                site_id=actor.home_site_id,
                details=details,
            )
        ],
        now,
    )
    audit.record(session, actor, "event.correct", "event", str(event.event_id), details)
    return CorrectionRead(
        position=appended.position,
        item_seq=appended.item_seq,
        corrects=event.event_id,
        field=data.field,
        before=before,
        after=after,
    )


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
