"""/api/v1/devices (administrators only)"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, status

from server.deps import AdminUser, SessionDep
from server.devices import service
from server.devices.schemas import DeviceCreate, DeviceRead, DeviceUpdate, DeviceWithToken
from server.errors import error_responses
from server.lookup import device_by_barcode
from server.models import Device

router = APIRouter(prefix="/devices", tags=["devices"], responses=error_responses(401, 403))


@router.get("", response_model=list[DeviceRead])
def list_devices(session: SessionDep, _: AdminUser) -> Sequence[Device]:
    return service.list_devices(session)


@router.post(
    "",
    response_model=DeviceWithToken,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 422),
)
def create_device(session: SessionDep, admin: AdminUser, data: DeviceCreate) -> DeviceWithToken:
    device, token = service.create_device(session, admin, data)
    return DeviceWithToken.model_validate(
        {**DeviceRead.model_validate(device).model_dump(), "token": token}
    )


@router.get("/{barcode}", response_model=DeviceRead, responses=error_responses(400, 404))
def get_device(session: SessionDep, _: AdminUser, barcode: str) -> Device:
    return device_by_barcode(session, barcode)


@router.patch("/{barcode}", response_model=DeviceRead, responses=error_responses(400, 404, 422))
def update_device(
    session: SessionDep, admin: AdminUser, barcode: str, data: DeviceUpdate
) -> Device:
    return service.update_device(session, admin, device_by_barcode(session, barcode), data)


@router.post(
    "/{barcode}/token", response_model=DeviceWithToken, responses=error_responses(400, 404)
)
def rotate_token(session: SessionDep, admin: AdminUser, barcode: str) -> DeviceWithToken:
    """Issue a new token; the old one stops working at once."""
    device = device_by_barcode(session, barcode)
    token = service.rotate_token(session, admin, device)
    return DeviceWithToken.model_validate(
        {**DeviceRead.model_validate(device).model_dump(), "token": token}
    )


@router.delete("/{barcode}", response_model=DeviceRead, responses=error_responses(400, 404))
def deactivate_device(session: SessionDep, admin: AdminUser, barcode: str) -> Device:
    """Devices are never deleted (events name them); this revokes one."""
    return service.update_device(
        session, admin, device_by_barcode(session, barcode), DeviceUpdate(active=False)
    )
