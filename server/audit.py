"""Recording administrative changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.auth.service import ACTING_DEVICE
from server.models import AuditRecord, Person


def record(
    session: Session,
    actor: Person | None,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit record in the caller's unit of work (never secrets in ``details``).

    When a station device acts for ``actor`` (its badge scanned there), the device is named in
    the details.
    """
    details = dict(details or {})
    device = session.info.get(ACTING_DEVICE)
    if device is not None:
        details.setdefault("device", device.barcode)
    session.add(
        AuditRecord(
            actor_id=actor.id if actor else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )
    )
