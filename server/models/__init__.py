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
from server.models.plan import PlanStatus, RoutePlan
from server.models.site import Site
from server.models.specimen import (
    Alert,
    Box,
    Discrepancy,
    HandoffLeg,
    ManifestLine,
    SpecimenType,
    Trip,
    TripStop,
)
from server.models.token import AccessToken

__all__ = [
    "AccessToken",
    "Alert",
    "AuditRecord",
    "Base",
    "Box",
    "CustodyEvent",
    "Cycle",
    "CycleItem",
    "Device",
    "Discrepancy",
    "Gs1Link",
    "HandoffLeg",
    "Item",
    "LedgerHead",
    "Machine",
    "MachineTest",
    "ManifestLine",
    "Notification",
    "Pack",
    "Person",
    "PlanStatus",
    "Recall",
    "RecordModel",
    "RejectedSubmission",
    "RoutePlan",
    "SetAsset",
    "SetTemplate",
    "Site",
    "SpecimenType",
    "Trip",
    "TripStop",
    "utc_now",
]
