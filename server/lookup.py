"""Finding things by the code a person scanned or typed, with errors that say what is wrong."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from labels.identity import InvalidId, Kind, parse_id
from server.enums import ItemKind
from server.errors import BadRequest, UnknownBarcode
from server.models import Device, Item, Person, Site

ITEM_KINDS = frozenset(kind.id_kind for kind in ItemKind)


def checked_id(text: str, expected: Kind | Collection[Kind]) -> str:
    """Validate a scanned ID (check character and kind) or raise BadRequest with the reason."""
    try:
        return parse_id(text, expected).text
    except InvalidId as error:
        raise BadRequest(error.reason) from None


def item_by_barcode(session: Session, text: str) -> Item:
    barcode = checked_id(text, ITEM_KINDS)
    item = session.execute(select(Item).where(Item.barcode == barcode)).scalar_one_or_none()
    if item is None:
        raise UnknownBarcode(f"no item has the barcode {barcode}")
    return item


def person_by_badge(session: Session, text: str) -> Person:
    badge = checked_id(text, Kind.PERSON)
    person = session.execute(select(Person).where(Person.badge == badge)).scalar_one_or_none()
    if person is None:
        raise UnknownBarcode(f"no person has the badge {badge}")
    return person


def device_by_barcode(session: Session, text: str) -> Device:
    barcode = checked_id(text, Kind.DEVICE)
    device = session.execute(select(Device).where(Device.barcode == barcode)).scalar_one_or_none()
    if device is None:
        raise UnknownBarcode(f"no device has the barcode {barcode}")
    return device


def site_by_ref(session: Session, ref: str) -> Site:
    """A site by its short code (e.g. ``T03``) or its barcode (``ZN…``)."""
    site = session.execute(
        select(Site).where(or_(Site.code == ref, Site.barcode == ref))
    ).scalar_one_or_none()
    if site is None:
        raise UnknownBarcode(f"no site has the code or barcode {ref[:40]!r}")
    return site
