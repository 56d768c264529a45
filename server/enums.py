"""Words of the domain shared by rules, models and the API (plain Python)."""

from __future__ import annotations

from enum import StrEnum

from labels.identity import Kind


class SiteKind(StrEnum):
    county_hospital = "county_hospital"
    laboratory = "laboratory"
    pathology = "pathology"
    cssd = "cssd"
    township_clinic = "township_clinic"


class Role(StrEnum):
    admin = "admin"
    dispatcher = "dispatcher"
    courier = "courier"
    cssd_staff = "cssd_staff"
    lab_receiver = "lab_receiver"
    clinic_staff = "clinic_staff"


class ItemKind(StrEnum):
    """Things whose custody the ledger tracks."""

    specimen_box = "specimen_box"
    instrument_set = "instrument_set"
    pack = "pack"

    @property
    def id_kind(self) -> Kind:
        return Kind(self.value)


OPERATIONAL_ROLES = frozenset(
    {Role.courier, Role.cssd_staff, Role.lab_receiver, Role.clinic_staff, Role.dispatcher}
)
