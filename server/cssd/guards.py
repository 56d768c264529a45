"""Sterile-supply rules applied to scans that arrive through ingest (stored, then flagged)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.cssd import rules
from server.custody.flags import Flag
from server.custody.ledger import LedgerItem
from server.enums import ItemKind
from server.models import Pack, Recall

GUARDED = {"dispatch": rules.dispatch_flags, "use": rules.use_flags}


def pack_scan_flags(
    session: Session, scans: Sequence[tuple[LedgerItem, str]], today: date
) -> dict[int, list[Flag]]:
    """Flags for dispatch and use scans of packs, by position in ``scans``."""
    wanted = {item.id for item, event_type in scans
              if item.kind == ItemKind.pack and event_type in GUARDED}  # fmt: skip
    if not wanted:
        return {}
    packs = {
        pack.item_id: (pack, recall)
        for pack, recall in session.execute(
            select(Pack, Recall.number)
            .outerjoin(Recall, Recall.id == Pack.recall_id)
            .where(Pack.item_id.in_(wanted))
        ).all()
    }
    flags: dict[int, list[Flag]] = {}
    for index, (item, event_type) in enumerate(scans):
        found_pack = packs.get(item.id)
        if found_pack is None or event_type not in GUARDED:
            continue
        pack, recall = found_pack
        facts = rules.PackFacts(item.barcode, item.state, pack.expires_on, recall, None)
        found = [flag for flag in GUARDED[event_type](facts, today)
                 if flag.code not in {"pack_not_released", "pack_not_at_clinic"}]  # fmt: skip
        if found:
            flags[index] = found
    return flags


def record_use(session: Session, item: LedgerItem, patient_ref: str | None) -> None:
    """A use scanned at a clinic puts the patient on the pack (and on any recall's list)."""
    pack = session.get(Pack, item.id)
    if pack is not None and patient_ref and pack.patient_ref is None:
        pack.patient_ref = patient_ref
