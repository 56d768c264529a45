"""API shapes for the sterile supply workflow."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.cssd.rules import (
    CycleKind,
    CycleStatus,
    MachineKind,
    MachineStatus,
    Material,
    Method,
    StorageCondition,
    TestKind,
)
from server.fields import BarcodeText, Code, JsonObject, Name, ShortText


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Instrument(_In):
    name: Name
    count: int = Field(ge=1, le=500)


class TemplateCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "DRESS",
                    "name_zh": "换药包",
                    "name_en": "Dressing change set",
                    "instruments": [{"name": "镊子 forceps", "count": 2}],
                    "packaging_material": "nonwoven",
                    "method": "steam",
                }
            ]
        },
    )

    code: Code
    name_zh: Name
    name_en: Name
    instruments: list[Instrument] = Field(min_length=1, max_length=200)
    packaging_material: Material
    method: Method = Method.steam
    implant: bool = False


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str
    instruments: list[dict[str, Any]]
    packaging_material: Material
    method: Method
    implant: bool


class SetCreate(_In):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"template": "DRESS", "home_site": "T01"}]}
    )

    template: Code
    home_site: Code
    barcode: BarcodeText | None = Field(None, description="A pre-printed TR… tag")
    loaner: bool = False
    supplier: Name | None = None


class SetRead(BaseModel):
    barcode: str
    template: str
    home_site: str | None
    state: str
    loaner: bool
    supplier: str | None
    special_pathogen: bool
    hold_reason: str | None
    cycles_done: int
    gs1: list[str]


class Gs1LinkIn(_In):
    code: str = Field(min_length=2, max_length=200, description="GS1 element string or HRI")


class LoanerTest(_In):
    passed: bool
    parameters: JsonObject = Field(description="The supplier's processing parameters")


class ReceiptIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"set": "TR…", "courier": "BD…", "counted": {"镊子 forceps": 2}}]
        },
    )

    set: BarcodeText
    courier: BarcodeText | None = None
    counted: dict[str, int] | None = Field(None, description="Instrument name -> count")
    special_pathogen: bool = False


class HoldRelease(_In):
    resolution: Name


class MachineCreate(_In):
    code: Code
    name: Name
    kind: MachineKind
    site: Code
    method: Method | None = None
    prevacuum: bool = False
    special_pathogen: bool = False


class MachineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    barcode: str
    code: str
    name: str
    kind: MachineKind
    method: Method | None
    prevacuum: bool
    special_pathogen: bool
    status: MachineStatus
    status_reason: str | None
    requalification_passes: int


class TestIn(_In):
    kind: TestKind
    passed: bool
    load: str | None = Field(None, description="Load number or CY… barcode (for a BI)")
    lot: ShortText | None = None
    note: Name | None = None


class TestRead(BaseModel):
    kind: TestKind
    passed: bool
    performed_at: datetime
    machine: MachineRead
    recall: str | None = Field(None, description="The recall this failure started")


class WashIn(_In):
    washer: Code
    program: ShortText
    sets: list[BarcodeText] = Field(min_length=1, max_length=200)


class WashFinish(_In):
    passed: bool
    parameters: JsonObject = Field(default_factory=dict)
    reason: Name | None = None


class InspectionIn(_In):
    passed: bool
    repair: bool = False
    note: Name | None = None


class PackIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"set": "TR…", "checker": "BD…", "destination": "T01"}]},
    )

    set: BarcodeText
    checker: BarcodeText = Field(description="Badge of the second person who checked the set")
    packaging_material: Material | None = Field(None, description="Default: the template's")
    storage_condition: StorageCondition | None = None
    destination: Code | None = Field(None, description="Default: the set's home site")


class PackRead(BaseModel):
    barcode: str
    set: str
    set_name_zh: str
    set_name_en: str
    state: str
    packer: str
    checker: str
    packaging_material: Material
    packed_at: datetime
    destination: str | None
    load: str | None
    sterilizer: str | None
    sterilized_on: date | None
    expires_on: date | None
    recalled: bool
    patient_ref: str | None
    label_prints: int = Field(0, description="times the label was printed again after packing")


class LoadCreate(_In):
    sterilizer: Code
    program: ShortText


class LoadAdd(_In):
    pack: BarcodeText


class LoadFinish(_In):
    passed: bool
    temperature_c: float | None = Field(None, ge=0, le=300)
    pressure_kpa: float | None = Field(None, ge=-200, le=1000)
    hold_minutes: float | None = Field(None, ge=0, le=600)
    reason: Name | None = None


class UnloadIn(_In):
    cooling_minutes: int = Field(ge=0, le=24 * 60)
    chemical_indicator_passed: bool
    wet_packs: list[BarcodeText] = Field(default_factory=list, max_length=500)


class EmergencyRelease(_In):
    type5_indicator_passed: bool
    approver: BarcodeText
    reason: Name


class ReleaseIn(_In):
    emergency: EmergencyRelease | None = None


class CycleRead(BaseModel):
    barcode: str
    number: str
    kind: CycleKind
    machine: str
    program: str
    status: CycleStatus
    started_at: datetime | None
    ended_at: datetime | None
    parameters: dict[str, Any]
    unload: dict[str, Any]
    implant: bool
    bi_required: bool
    bi_passed: bool | None
    released_by: str | None
    emergency_release: dict[str, Any] | None
    failure_reason: str | None
    items: list[str]


class DispatchIn(_In):
    packs: list[BarcodeText] = Field(min_length=1, max_length=500)
    courier: BarcodeText
    destination: Code


class DeliveryIn(_In):
    packs: list[BarcodeText] = Field(min_length=1, max_length=500)
    courier: BarcodeText


class StorageIn(_In):
    packs: list[BarcodeText] = Field(min_length=1, max_length=500)
    courier: BarcodeText | None = Field(
        None, description="Not needed to store packs (accepted for clients that send it)"
    )


class UseIn(_In):
    patient_ref: ShortText = Field(min_length=1, description="Patient or encounter number")


class CompromiseIn(_In):
    reason: Name


class RecallLine(BaseModel):
    pack: str
    set_name_zh: str
    load: str | None
    state: str
    state_label_zh: str
    site: str | None
    holder: str | None
    patient_ref: str | None


class RecallRead(BaseModel):
    number: str
    sterilizer: str
    since: datetime | None
    reason: str
    created_at: datetime
    loads: list[str]
    packs: list[RecallLine]
    sites_notified: list[str]


class BoardRead(BaseModel):
    packs_by_state: dict[str, int]
    loads_awaiting_release: list[str]
    loads_awaiting_bi: list[str]
    expiring_soon: list[str]
    sets_on_hold: list[str]
    overdue_sets: list[str]
