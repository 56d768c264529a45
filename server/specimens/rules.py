"""Specimen transport rules: time limits, temperature, seals, counts (plain Python)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from server.custody.flags import Flag


class TemperatureClass(StrEnum):
    ambient = "ambient"  # 常温 15–25 °C
    chilled = "chilled"  # 冷藏 2–8 °C
    frozen = "frozen"  # 冷冻 ≤ −18 °C


class ManifestAction(StrEnum):
    pickup = "pickup"
    drop = "drop"


class DiscrepancyKind(StrEnum):
    missing = "missing"  # on the manifest, not scanned at its stop
    extra = "extra"  # scanned on the trip, not on the manifest
    misrouted = "misrouted"  # dropped at another stop than the manifest's


class DiscrepancyState(StrEnum):
    open = "open"
    explained = "explained"
    resolved = "resolved"


class AlertKind(StrEnum):
    time_limit_risk = "time_limit_risk"
    time_limit_exceeded = "time_limit_exceeded"
    temperature_excursion = "temperature_excursion"
    seal_broken = "seal_broken"
    one_sided_handoff = "one_sided_handoff"
    wrong_destination = "wrong_destination"
    discrepancy = "discrepancy"
    set_overdue = "set_overdue"


TEMPERATURE_RANGES: Mapping[TemperatureClass, tuple[float, float]] = {
    TemperatureClass.ambient: (15.0, 25.0),
    TemperatureClass.chilled: (2.0, 8.0),
    TemperatureClass.frozen: (-80.0, -18.0),
}


@dataclass(frozen=True, slots=True)
class SpecimenTypeDefault:
    code: str
    name_zh: str
    name_en: str
    time_limit_minutes: int
    temperature_class: TemperatureClass
    destination_kind: str  # "laboratory" or "pathology"


# The default table a laboratory starts from and edits (collection → receipt).
DEFAULT_SPECIMEN_TYPES = (
    SpecimenTypeDefault("routine_blood", "全血（血常规）", "Whole blood (blood count)", 240,
                        TemperatureClass.ambient, "laboratory"),
    SpecimenTypeDefault("coagulation", "凝血（枸橼酸钠）", "Coagulation (citrate)", 240,
                        TemperatureClass.ambient, "laboratory"),
    SpecimenTypeDefault("serum", "血清生化", "Serum chemistry", 480, TemperatureClass.chilled,
                        "laboratory"),
    SpecimenTypeDefault("urine", "尿液", "Urine", 120, TemperatureClass.chilled, "laboratory"),
    SpecimenTypeDefault("micro_swab", "微生物拭子（运送培养基）", "Microbiology swab in medium",
                        1440, TemperatureClass.ambient, "laboratory"),
    SpecimenTypeDefault("blood_culture", "血培养", "Blood culture", 240, TemperatureClass.ambient,
                        "laboratory"),
    SpecimenTypeDefault("frozen_plasma", "冷冻血浆", "Frozen plasma", 2880, TemperatureClass.frozen,
                        "laboratory"),
    SpecimenTypeDefault("tissue_formalin", "组织（福尔马林固定）", "Tissue in formalin", 4320,
                        TemperatureClass.ambient, "pathology"),
    SpecimenTypeDefault("frozen_section", "术中冰冻切片组织", "Fresh tissue for frozen section", 30,
                        TemperatureClass.ambient, "pathology"),
    SpecimenTypeDefault("cytology", "细胞学", "Cytology", 240, TemperatureClass.chilled,
                        "pathology"),
)  # fmt: skip


def deadline(collected_at: datetime, time_limit_minutes: int) -> datetime:
    return collected_at + timedelta(minutes=time_limit_minutes)


def temperature_flags(temperature_class: TemperatureClass, reading: float | None) -> list[Flag]:
    if reading is None:
        return []
    low, high = TEMPERATURE_RANGES[temperature_class]
    if low <= reading <= high:
        return []
    return [Flag("temperature_excursion", {"reading": f"{reading:g}", "low": f"{low:g}",
                                           "high": f"{high:g}"})]  # fmt: skip


def seal_flags(recorded: str | None, observed: str | None, intact: bool | None) -> list[Flag]:
    """A broken seal, or a seal number that is not the one applied at the clinic."""
    flags = []
    if intact is False:
        flags.append(Flag("seal_broken", {"seal": observed or recorded or "?"}))
    if recorded and observed and observed != recorded:
        flags.append(Flag("seal_mismatch", {"recorded": recorded, "observed": observed}))
    return flags


def time_limit_flags(limit: datetime | None, at: datetime) -> list[Flag]:
    if limit is None or at <= limit:
        return []
    late = int((at - limit).total_seconds() // 60)
    return [Flag("time_limit_exceeded", {"late_minutes": str(late)})]


def count_flags(expected: int | None, counted: int | None) -> list[Flag]:
    if expected is None or counted is None or expected == counted:
        return []
    return [Flag("count_mismatch", {"expected": str(expected), "counted": str(counted)})]


def breach_predicted(limit: datetime, predicted_arrival: datetime, now: datetime) -> bool:
    """Raise before the breach: the box is not yet late but will arrive after its limit."""
    return now < limit < predicted_arrival
