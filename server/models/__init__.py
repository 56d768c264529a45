"""ORM models; importing this package registers every table on ``Base.metadata``."""

from server.models.audit import AuditRecord
from server.models.base import Base, RecordModel, utc_now
from server.models.cssd import (
    Cycle,
    CycleItem,
    Gs1Link,
    Machine,
    MachineTest,
    Notification,
    Pack,
    Recall,
    SetAsset,
    SetTemplate,
)
from server.models.device import Device
from server.models.event import CustodyEvent, LedgerHead, RejectedSubmission
from server.models.item import Item
from server.models.person import Person
from server.models.site import Site
from server.models.token import AccessToken

__all__ = [
    "AccessToken",
    "AuditRecord",
    "Base",
    "CustodyEvent",
    "Cycle",
    "CycleItem",
    "Device",
    "Gs1Link",
    "Item",
    "LedgerHead",
    "Machine",
    "MachineTest",
    "Notification",
    "Pack",
    "Person",
    "Recall",
    "RecordModel",
    "RejectedSubmission",
    "SetAsset",
    "SetTemplate",
    "Site",
    "utc_now",
]
