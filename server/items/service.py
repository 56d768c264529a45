"""Registering items and reading their state and custody chain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from labels.identity import new_id
from server import audit
from server.custody import ledger
from server.custody.chain import event_hash
from server.custody.flags import Flag
from server.custody.lifecycle import LIFECYCLES, REGISTERED
from server.custody.messages import render
from server.enums import ItemKind
from server.errors import Conflict, Unprocessable
from server.items.schemas import (
    CustodyChain,
    CustodyEventRead,
    FlagRead,
    ItemCreate,
    ItemRead,
    ItemUpdate,
    PartyRead,
    SiteRef,
)
from server.lookup import checked_id, site_by_ref
from server.models import CustodyEvent, Device, Item, Person, Site


def register_item(
    session: Session,
    actor: Person | None,
    data: ItemCreate,
    now: datetime,
    *,
    device: Device | None = None,
) -> Item:
    """Create an item and append its 'registered' event in the same unit of work."""
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
                site_id=home.id if home else None,
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


def _site_ref(site: Site | None) -> SiteRef | None:
    return SiteRef(code=site.code, name_zh=site.name_zh, name_en=site.name_en) if site else None


def _party(person: Person | None) -> PartyRead | None:
    return PartyRead(badge=person.badge, name=person.name, role=person.role) if person else None


def _flag_read(flag: Flag) -> FlagRead:
    return FlagRead(code=flag.code, en=render(flag, "en"), zh=render(flag, "zh"))


def describe_item(session: Session, item: Item) -> ItemRead:
    def get_site(site_id: uuid.UUID | None) -> Site | None:
        return session.get(Site, site_id) if site_id else None

    return ItemRead(
        barcode=item.barcode,
        kind=item.kind,
        description=item.description,
        home_site=_site_ref(get_site(item.home_site_id)),
        attributes=item.attributes,
        active=item.active,
        state=item.state,
        state_label=LIFECYCLES[item.kind].labels.get(item.state, (item.state, item.state))[1],
        state_label_zh=LIFECYCLES[item.kind].labels.get(item.state, (item.state, item.state))[0],
        last_seq=item.last_seq,
        last_event_at=item.last_event_at,
        current_site=_site_ref(get_site(item.current_site_id)),
        holder=_party(session.get(Person, item.holder_id) if item.holder_id else None),
        open_flags=item.open_flags,
    )


_ACTOR, _COUNTERPARTY = aliased(Person), aliased(Person)
# Built once: SQLAlchemy caches its compiled form. Only the event is an ORM object; the
# people, site and device come back as plain columns.
_CHAIN = (
    select(
        CustodyEvent,
        _ACTOR.badge, _ACTOR.name, _ACTOR.role,
        _COUNTERPARTY.badge, _COUNTERPARTY.name, _COUNTERPARTY.role,
        Site.code, Site.name_zh, Site.name_en,
        Device.barcode,
    )
    .outerjoin(_ACTOR, _ACTOR.id == CustodyEvent.actor_id)
    .outerjoin(_COUNTERPARTY, _COUNTERPARTY.id == CustodyEvent.counterparty_id)
    .outerjoin(Site, Site.id == CustodyEvent.site_id)
    .outerjoin(Device, Device.id == CustodyEvent.device_id)
    .where(CustodyEvent.item_id == bindparam("item_id"))
    .order_by(CustodyEvent.item_seq)
)  # fmt: skip


def _party_of(badge: str | None, name: str | None, role: str | None) -> PartyRead | None:
    return None if badge is None else PartyRead(badge=badge, name=name or "", role=role or "")


def custody_chain(session: Session, item: Item) -> CustodyChain:
    """The item's events in order, each with its hashes and whether it still matches them."""
    events = []
    for row in session.execute(_CHAIN, {"item_id": item.id}):
        event = row[0]
        site = (
            SiteRef(code=row.code, name_zh=row.name_zh, name_en=row.name_en) if row.code else None
        )
        events.append(
            CustodyEventRead(
                position=event.position,
                event_id=event.event_id,
                item_seq=event.item_seq,
                type=event.type,
                actor=_party_of(row[1], row[2], row[3]),
                counterparty=_party_of(row[4], row[5], row[6]),
                site=site,
                device=row.barcode,
                occurred_at=event.occurred_at,
                received_at=event.received_at,
                details=event.details,
                flag_code=event.flag_code,
                flags=[_flag_read(Flag.from_json(flag)) for flag in event.flags],
                prev_hash=event.prev_hash,
                hash=event.hash,
                hash_ok=event_hash(ledger.chained_fields(event), event.prev_hash) == event.hash,
            )
        )
    intact = all(event.hash_ok for event in events) and [e.item_seq for e in events] == list(
        range(1, item.last_seq + 1)
    )
    return CustodyChain(item=describe_item(session, item), events=events, intact=intact)
