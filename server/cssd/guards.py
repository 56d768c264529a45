"""Sterile-supply rules applied to scans that arrive through ingest (stored, then flagged)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.cssd import rules
from server.custody.flags import Flag
from server.custody.ledger import LedgerItem
from server.enums import ItemKind
from server.models import Item, Pack, Recall, SetAsset, Site


def _deliver_flags(pack: rules.PackFacts, _today: date, site: str | None) -> list[Flag]:
    return rules.delivery_flags(pack, site)


def _dispatch_flags(pack: rules.PackFacts, today: date, _site: str | None) -> list[Flag]:
    return rules.dispatch_flags(pack, today)


def _use_flags(pack: rules.PackFacts, today: date, _site: str | None) -> list[Flag]:
    return rules.use_flags(pack, today)


# The pack steps whose rules a scan must meet, with the pack, the day and the scan's site.
GUARDED: dict[str, Callable[[rules.PackFacts, date, str | None], list[Flag]]] = {
    "dispatch": _dispatch_flags,
    "deliver": _deliver_flags,
    "use": _use_flags,
}

# A scan is a scanned item, its step and the site it was scanned at.
ScanOf = tuple[LedgerItem, str, uuid.UUID | None]


def current_packs(session: Session, set_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Item]:
    """Each set's latest pack (the one that carries it now, or carried it last)."""
    if not set_ids:
        return {}
    rows = session.execute(
        select(Pack.set_item_id, Item)
        .join(Item, Item.id == Pack.item_id)
        .where(Pack.set_item_id.in_(list(set_ids)))
        .order_by(Pack.set_item_id, Pack.packed_at)
    ).all()
    return {set_id: pack for set_id, pack in rows}


def pack_scan_flags(
    session: Session, scans: Sequence[ScanOf], today: date
) -> dict[int, list[Flag]]:
    """Flags for dispatch, delivery and use scans of packs, and for scans taking a packed
    set back while its pack is usable, by position in ``scans``."""
    flags = _set_return_flags(session, scans)
    wanted = {item.id for item, event_type, _ in scans
              if item.kind == ItemKind.pack and event_type in GUARDED}  # fmt: skip
    if not wanted:
        return flags
    packs = {
        pack.item_id: (pack, recall)
        for pack, recall in session.execute(
            select(Pack, Recall.number)
            .outerjoin(Recall, Recall.id == Pack.recall_id)
            .where(Pack.item_id.in_(wanted))
        ).all()
    }
    site_ids = {site for _, _, site in scans if site} | {
        pack.destination_site_id for pack, _ in packs.values() if pack.destination_site_id
    }
    codes: dict[uuid.UUID, str] = {}
    if site_ids:
        for site_id, code in session.execute(
            select(Site.id, Site.code).where(Site.id.in_(site_ids))
        ):
            codes[site_id] = code
    for index, (item, event_type, site) in enumerate(scans):
        found_pack = packs.get(item.id)
        if found_pack is None or event_type not in GUARDED:
            continue
        pack, recall = found_pack
        destination = codes.get(pack.destination_site_id) if pack.destination_site_id else None
        facts = rules.PackFacts(item.barcode, item.state, pack.expires_on, recall, destination)
        scanned_at = codes.get(site) if site else None
        found = [flag for flag in GUARDED[event_type](facts, today, scanned_at)
                 if flag.code not in {"pack_not_released", "pack_not_at_clinic"}]  # fmt: skip
        if found:
            flags[index] = found
    return flags


def _set_return_flags(session: Session, scans: Sequence[ScanOf]) -> dict[int, list[Flag]]:
    returned = {item.id for item, event_type, _ in scans
                if item.kind == ItemKind.instrument_set and item.state == "packed"
                and event_type in rules.SET_RETURNS}  # fmt: skip
    packs = current_packs(session, returned)
    flags: dict[int, list[Flag]] = {}
    for index, (item, event_type, _) in enumerate(scans):
        if item.id not in returned or event_type not in rules.SET_RETURNS:
            continue
        pack = packs.get(item.id)
        found = rules.set_return_flags(
            item.barcode, item.state, pack.barcode if pack else None, pack.state if pack else None
        )
        if found:
            flags[index] = found
    return flags


def record_use(session: Session, item: LedgerItem, patient_ref: str | None) -> None:
    """A use scanned at a clinic puts the patient on the pack (and on any recall's list)."""
    pack = session.get(Pack, item.id)
    if pack is not None and patient_ref and pack.patient_ref is None:
        pack.patient_ref = patient_ref


def record_special_pathogen(session: Session, item: LedgerItem) -> None:
    """A scan that says a set carries a special pathogen (the clinic's hand-back, the
    courier's collection) marks it for the dedicated path; no later scan or receipt that
    leaves the mark out clears it, so a mark lost in transit still forces that path."""
    if item.kind != ItemKind.instrument_set:
        return
    asset = session.get(SetAsset, item.id)
    if asset is not None:
        asset.special_pathogen = True
