"""Read models of the sterile supply: what the API and the boards show."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.cssd.schemas import CycleRead, PackRead, RecallLine, RecallRead, SetRead
from server.custody.lifecycle import LIFECYCLES
from server.enums import ItemKind
from server.models import (
    Cycle,
    CycleItem,
    Gs1Link,
    Item,
    Machine,
    Notification,
    Pack,
    Person,
    Recall,
    SetAsset,
    SetTemplate,
    Site,
)


def _badge(session: Session, person_id: object) -> str | None:
    person = session.get(Person, person_id) if person_id else None
    return person.badge if person else None


def _site_code(session: Session, site_id: object) -> str | None:
    site = session.get(Site, site_id) if site_id else None
    return site.code if site else None


def set_read(session: Session, item: Item, asset: SetAsset) -> SetRead:
    template = session.get(SetTemplate, asset.template_id)
    links = session.execute(select(Gs1Link.hri).where(Gs1Link.item_id == item.id)).scalars()
    return SetRead(
        barcode=item.barcode,
        template=template.code if template else "",
        home_site=_site_code(session, item.home_site_id),
        state=item.state,
        loaner=asset.loaner,
        supplier=asset.supplier,
        special_pathogen=asset.special_pathogen,
        hold_reason=asset.hold_reason,
        cycles_done=asset.cycles_done,
        gs1=list(links),
    )


def pack_read(session: Session, item: Item, pack: Pack) -> PackRead:
    template = session.get(SetTemplate, pack.template_id)
    tray = session.get(Item, pack.set_item_id)
    load = session.get(Cycle, pack.load_id) if pack.load_id else None
    machine = session.get(Machine, load.machine_id) if load else None
    return PackRead(
        barcode=item.barcode,
        set=tray.barcode if tray else "",
        set_name_zh=template.name_zh if template else "",
        set_name_en=template.name_en if template else "",
        state=item.state,
        packer=_badge(session, pack.packer_id) or "",
        checker=_badge(session, pack.checker_id) or "",
        packaging_material=pack.packaging_material,
        packed_at=pack.packed_at,
        destination=_site_code(session, pack.destination_site_id),
        load=load.number if load else None,
        sterilizer=machine.code if machine else None,
        sterilized_on=pack.sterilized_on,
        expires_on=pack.expires_on,
        recalled=pack.recall_id is not None,
        patient_ref=pack.patient_ref,
        label_prints=pack.label_prints,
    )


def cycle_read(session: Session, cycle: Cycle) -> CycleRead:
    machine = session.get(Machine, cycle.machine_id)
    items = session.execute(
        select(Item.barcode)
        .join(CycleItem, CycleItem.item_id == Item.id)
        .where(CycleItem.cycle_id == cycle.id)
        .order_by(Item.barcode)
    ).scalars()
    return CycleRead(
        barcode=cycle.barcode,
        number=cycle.number,
        kind=cycle.kind,
        machine=machine.code if machine else "",
        program=cycle.program,
        status=cycle.status,
        started_at=cycle.started_at,
        ended_at=cycle.ended_at,
        parameters=cycle.parameters,
        unload=cycle.unload,
        implant=cycle.implant,
        bi_required=cycle.bi_required,
        bi_passed=cycle.bi_passed,
        released_by=_badge(session, cycle.released_by_id),
        emergency_release=cycle.emergency_release,
        failure_reason=cycle.failure_reason,
        items=list(items),
    )


def recall_read(session: Session, recall: Recall) -> RecallRead:
    """The recall report: each pack with its state, where it is, who holds it, the patient."""
    machine = session.get(Machine, recall.machine_id)
    # Columns, not objects: a recall may list thousands of packs.
    rows = session.execute(
        select(
            Item.barcode,
            Item.state,
            Pack.patient_ref,
            Cycle.number,
            Site.code,
            Person.name,
            SetTemplate.name_zh,
        )
        .join(Pack, Pack.item_id == Item.id)
        .join(SetTemplate, SetTemplate.id == Pack.template_id)
        .outerjoin(Cycle, Cycle.id == Pack.load_id)
        .outerjoin(Site, Site.id == Item.current_site_id)
        .outerjoin(Person, Person.id == Item.holder_id)
        .where(Pack.recall_id == recall.id)
        .order_by(Cycle.number, Item.barcode)
    ).all()
    labels = LIFECYCLES[ItemKind.pack].labels
    lines = [
        RecallLine(
            pack=barcode,
            set_name_zh=set_name,
            load=load,
            state=state,
            state_label_zh=labels.get(state, (state, state))[0],
            site=site,
            holder=holder,
            patient_ref=patient_ref,
        )
        for barcode, state, patient_ref, load, site, holder, set_name in rows
    ]
    notified = session.execute(
        select(Site.code)
        .join(Notification, Notification.site_id == Site.id)
        .where(Notification.reference == recall.number)
        .order_by(Site.code)
    ).scalars()
    return RecallRead(
        number=recall.number,
        sterilizer=machine.code if machine else "",
        since=recall.since,
        reason=recall.reason,
        created_at=recall.created_at,
        loads=sorted({line.load for line in lines if line.load}),
        packs=lines,
        sites_notified=list(notified),
    )
