"""EXPERIMENTAL: a box's custody as a FHIR R4 Bundle — a Specimen and one Provenance per event.

Shape follows FHIR R4 (Specimen, Provenance); codes for event types are Handoff's own
(system ``urn:handoff:event-type``). Not validated against a FHIR server.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from server.models import Box, CustodyEvent, Item, Person, Site, SpecimenType

EVENT_SYSTEM = "urn:handoff:event-type"
BARCODE_SYSTEM = "urn:handoff:barcode"


def _instant(value: Any) -> str:
    return str(value.isoformat())


def box_bundle(session: Session, item: Item) -> dict[str, Any]:
    box = session.get(Box, item.id)
    specimen_type = (
        session.get(SpecimenType, box.specimen_type_id) if box and box.specimen_type_id else None
    )
    specimen_id = f"specimen-{item.barcode}"
    specimen: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": specimen_id,
        "identifier": [{"system": BARCODE_SYSTEM, "value": item.barcode}],
        "status": "available" if item.state not in {"rejected", "lost"} else "unavailable",
        "note": [{"text": "EXPERIMENTAL export from Handoff; a transport box of specimens"}],
    }
    if specimen_type is not None:
        specimen["type"] = {"text": f"{specimen_type.name_zh} / {specimen_type.name_en}"}
    if box is not None and box.collected_at is not None:
        specimen["collection"] = {"collectedDateTime": _instant(box.collected_at)}
    if box is not None and box.seal:
        specimen["container"] = [
            {"identifier": [{"system": "urn:handoff:seal", "value": box.seal}]}
        ]
    actor, counterparty = aliased(Person), aliased(Person)
    rows = session.execute(
        select(CustodyEvent, actor, counterparty, Site)
        .outerjoin(actor, actor.id == CustodyEvent.actor_id)
        .outerjoin(counterparty, counterparty.id == CustodyEvent.counterparty_id)
        .outerjoin(Site, Site.id == CustodyEvent.site_id)
        .where(CustodyEvent.item_id == item.id)
        .order_by(CustodyEvent.item_seq)
    ).all()
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:{specimen_id}", "resource": specimen}]
    for event, by, other, site in rows:
        agents = []
        for person, role in ((by, "performer"), (other, "custodian")):
            if person is not None:
                agents.append({
                    "type": {"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "code": role}]},
                    "who": {"identifier": {"system": BARCODE_SYSTEM, "value": person.badge},
                            "display": person.name},
                })  # fmt: skip
        provenance: dict[str, Any] = {
            "resourceType": "Provenance",
            "id": str(event.event_id),
            "target": [{"reference": f"Specimen/{specimen_id}"}],
            "occurredDateTime": _instant(event.occurred_at),
            "recorded": _instant(event.received_at),
            "activity": {"coding": [{"system": EVENT_SYSTEM, "code": event.type}]},
            "agent": agents or [{"who": {"display": "unknown"}}],
            "signature": [],
            "extension": [{"url": "urn:handoff:hash", "valueString": event.hash}],
        }
        if site is not None:
            provenance["location"] = {"display": f"{site.code} {site.name_zh}"}
        entries.append({"fullUrl": f"urn:uuid:{event.event_id}", "resource": provenance})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
