"""Registering edge agents and issuing their tokens."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from labels.identity import Kind, new_id
from server import audit
from server.auth.secrets import DEVICE_TOKEN_PREFIX, new_token, token_digest
from server.devices.schemas import DeviceCreate, DeviceUpdate
from server.errors import Unprocessable
from server.lookup import site_by_ref
from server.models import Device, Person


def list_devices(session: Session) -> Sequence[Device]:
    return session.execute(select(Device).order_by(Device.name)).scalars().all()


def create_device(session: Session, actor: Person | None, data: DeviceCreate) -> tuple[Device, str]:
    """Register a device; returns it with its token, which is never shown again."""
    site = site_by_ref(session, data.site)
    token = new_token(DEVICE_TOKEN_PREFIX)
    device = Device(
        barcode=new_id(Kind.DEVICE), name=data.name, site_id=site.id, token_hash=token_digest(token)
    )
    session.add(device)
    session.flush()
    audit.record(
        session,
        actor,
        "device.create",
        "device",
        device.barcode,
        {"name": data.name, "site": site.code},
    )
    return device, token


def rotate_token(session: Session, actor: Person | None, device: Device) -> str:
    token = new_token(DEVICE_TOKEN_PREFIX)
    device.token_hash = token_digest(token)
    session.flush()
    audit.record(session, actor, "device.rotate_token", "device", device.barcode)
    return token


def update_device(
    session: Session, actor: Person | None, device: Device, data: DeviceUpdate
) -> Device:
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise Unprocessable(f"{name} cannot be empty")
        setattr(device, name, value)
    session.flush()
    audit.record(
        session,
        actor,
        "device.update",
        "device",
        device.barcode,
        data.model_dump(mode="json", exclude_unset=True),
    )
    return device
