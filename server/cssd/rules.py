"""Sterile-supply rules after WS 310.2/310.3-2016 (plain Python, no web or database).

Each ``*_flags`` function looks at the facts of one step and returns what is wrong with it
as flags (codes with params, rendered by the message catalogue). The API refuses a
command that has flags; a scan that arrives through ingest is stored with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from server.custody.flags import Flag
from server.custody.lifecycle import PACK_STATES_FREEING_THE_SET


class Material(StrEnum):
    textile = "textile"  # 纺织品
    paper_bag = "paper_bag"  # 医用一次性纸袋
    crepe_paper = "crepe_paper"  # 一次性医用皱纹纸
    nonwoven = "nonwoven"  # 医用无纺布
    paper_plastic_pouch = "paper_plastic_pouch"  # 一次性纸塑袋
    rigid_container = "rigid_container"  # 硬质容器


class StorageCondition(StrEnum):
    compliant = "compliant"  # temperature < 24 °C, humidity < 70 %
    non_compliant = "non_compliant"


class Method(StrEnum):
    steam = "steam"
    low_temperature = "low_temperature"


class MachineKind(StrEnum):
    washer = "washer"
    sterilizer = "sterilizer"


class MachineStatus(StrEnum):
    in_service = "in_service"
    out_of_service = "out_of_service"
    requalifying = "requalifying"


class TestKind(StrEnum):
    bowie_dick = "bowie_dick"
    biological_indicator = "biological_indicator"


class CycleKind(StrEnum):
    wash = "wash"
    sterilization = "sterilization"


class CycleStatus(StrEnum):
    building = "building"
    running = "running"
    unloaded = "unloaded"  # sterilization: waiting for review (and BI)
    released = "released"
    passed = "passed"  # washing finished within parameters
    failed = "failed"
    aborted = "aborted"


# Shelf life by packaging material (WS 310.2-2016 §5.9.5). Textiles depend on whether the
# store meets the environment requirement (< 24 °C, < 70 % RH).
SHELF_LIFE_DAYS: Mapping[Material, int] = {
    Material.paper_bag: 30,
    Material.crepe_paper: 180,
    Material.nonwoven: 180,
    Material.paper_plastic_pouch: 180,
    Material.rigid_container: 180,
}
TEXTILE_DAYS: Mapping[StorageCondition, int] = {
    StorageCondition.compliant: 14,
    StorageCondition.non_compliant: 7,
}
REQUALIFICATION_PASSES = 3
MIN_COOLING_MINUTES = 30


class ExpiryError(ValueError):
    """Expiry cannot be computed from what was given (never guessed, never typed in)."""

    def __init__(self, flag: Flag) -> None:
        super().__init__(flag.code)
        self.flag = flag


def shelf_life_days(material: Material, storage: StorageCondition | None) -> int:
    if material == Material.textile:
        if storage is None:
            raise ExpiryError(Flag("storage_condition_required"))
        return TEXTILE_DAYS[storage]
    return SHELF_LIFE_DAYS[material]


def last_valid_day(
    sterilized_on: date, material: Material, storage: StorageCondition | None = None
) -> date:
    """The last day a pack may be used, in the consortium's time zone.

    A shelf life of N days counts the day of sterilization as day 1, so a nonwoven pack
    sterilized on 1 March (180 days) is valid to the end of 27 August and expired on the 28th.
    """
    return sterilized_on + timedelta(days=shelf_life_days(material, storage) - 1)


def is_expired(expires_on: date | None, today: date) -> bool:
    return expires_on is not None and today > expires_on


@dataclass(frozen=True, slots=True)
class MachineFacts:
    code: str
    status: MachineStatus
    method: Method | None
    prevacuum: bool
    bowie_dick_passed_today: bool


def load_start_flags(machine: MachineFacts, packs_in_load: int) -> list[Flag]:
    """Why a sterilizer load may not start now."""
    flags = []
    if machine.status != MachineStatus.in_service:
        flags.append(
            Flag(
                "machine_not_in_service",
                {"machine": machine.code, "machine_status": machine.status},
            )
        )
    if machine.method == Method.steam and machine.prevacuum and not machine.bowie_dick_passed_today:
        flags.append(Flag("bowie_dick_missing", {"machine": machine.code}))
    if packs_in_load == 0:
        flags.append(Flag("load_empty"))
    return flags


def add_to_load_flags(
    pack: str,
    pack_method: Method,
    machine: MachineFacts,
    load_status: CycleStatus,
    other_open_load: str | None,
) -> list[Flag]:
    """Why a pack may not be added to a load."""
    flags = []
    if load_status != CycleStatus.building:
        flags.append(Flag("load_already_started", {"pack": pack}))
    if other_open_load is not None:
        flags.append(Flag("pack_in_other_load", {"pack": pack, "load": other_open_load}))
    if machine.method is not None and pack_method != machine.method:
        flags.append(
            Flag("method_mismatch", {"pack": pack, "method": pack_method, "machine": machine.code})
        )
    return flags


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """The physical record of a finished sterilization cycle."""

    temperature_c: float | None
    pressure_kpa: float | None
    hold_minutes: float | None


def cycle_record_flags(record: CycleRecord, passed: bool) -> list[Flag]:
    missing = [name for name, value in (
        ("temperature_c", record.temperature_c),
        ("pressure_kpa", record.pressure_kpa),
        ("hold_minutes", record.hold_minutes),
    ) if value is None]  # fmt: skip
    flags = [Flag("parameters_incomplete", {"missing": ",".join(missing)})] if missing else []
    if not passed:
        flags.append(Flag("cycle_failed"))
    return flags


@dataclass(frozen=True, slots=True)
class UnloadRecord:
    cooling_minutes: int
    chemical_indicator_passed: bool
    wet_packs: Sequence[str]


def unload_flags(record: UnloadRecord) -> list[Flag]:
    """Why an unloaded load fails (its packs go back): outer CI or wet packs."""
    flags = []
    if not record.chemical_indicator_passed:
        flags.append(Flag("chemical_indicator_failed"))
    if record.wet_packs:
        flags.append(Flag("wet_packs", {"packs": ",".join(record.wet_packs)}))
    return flags


def cooling_flags(record: UnloadRecord) -> list[Flag]:
    if record.cooling_minutes < MIN_COOLING_MINUTES:
        return [Flag("cooling_too_short", {"minutes": str(record.cooling_minutes)})]
    return []


@dataclass(frozen=True, slots=True)
class ReleaseFacts:
    number: str
    status: CycleStatus
    parameters_complete: bool
    implant: bool
    bi_passed: bool | None
    emergency_release: bool


def release_flags(load: ReleaseFacts) -> list[Flag]:
    """Why a load may not be released by a reviewer now."""
    if load.status != CycleStatus.unloaded:
        return [Flag("load_not_unloaded", {"load": load.number, "load_status": load.status})]
    flags = []
    if not load.parameters_complete:
        flags.append(Flag("parameters_incomplete", {"missing": "cycle record"}))
    if load.implant and load.bi_passed is not True and not load.emergency_release:
        flags.append(Flag("implant_waits_for_bi", {"load": load.number}))
    if load.bi_passed is False:
        flags.append(Flag("bi_failed", {"load": load.number}))
    return flags


@dataclass(frozen=True, slots=True)
class PackFacts:
    barcode: str
    state: str
    expires_on: date | None
    recall: str | None  # the number of the recall that took the pack out of use
    destination_code: str | None


RELEASED_STATES = frozenset({"released", "sterile_stored"})

# The steps that take a set back for reprocessing.
SET_RETURNS = frozenset({"return_used", "receive"})


def set_return_flags(
    set_code: str, set_state: str, pack_code: str | None, pack_state: str | None
) -> list[Flag]:
    """A set still sealed in a usable pack does not go back for reprocessing: only a pack
    taken out of use (expired, compromised, failed load, recalled) frees it."""
    if set_state != "packed" or pack_state in PACK_STATES_FREEING_THE_SET:
        return []
    return [
        Flag(
            "set_pack_in_use",
            {"set": set_code, "pack": pack_code or "?", "kind": "pack", "state": pack_state or ""},
        )
    ]


def dispatch_flags(pack: PackFacts, today: date) -> list[Flag]:
    """Why a pack may not leave the CSSD (WS 310.2 §5.10: released, in date, intact)."""
    flags = _unusable(pack, today)
    if not flags and pack.state not in RELEASED_STATES:
        flags.append(Flag("pack_not_released", _named(pack)))
    return flags


def delivery_flags(pack: PackFacts, site: str | None) -> list[Flag]:
    """Why a clinic may not take a pack from the courier: it was recalled on the way, or it was
    issued to another site (custody never moves to a site the pack was not issued to)."""
    flags = _recalled(pack)
    if not flags and pack.destination_code is not None and site != pack.destination_code:
        flags.append(
            Flag(
                "pack_wrong_site",
                {"pack": pack.barcode, "destination": pack.destination_code, "site": site or "-"},
            )
        )
    return flags


def use_flags(pack: PackFacts, today: date) -> list[Flag]:
    """Why a pack may not be opened for a patient."""
    flags = _unusable(pack, today)
    if not flags and pack.state != "received_at_site":
        flags.append(Flag("pack_not_at_clinic", _named(pack)))
    return flags


def _named(pack: PackFacts) -> dict[str, str]:
    """The pack and its state, as a flag's params (the kind lets the catalogue word the state)."""
    return {"pack": pack.barcode, "kind": "pack", "state": pack.state}


def _recalled(pack: PackFacts) -> list[Flag]:
    if pack.recall is None and pack.state != "recalled":
        return []
    recall = {"recall": pack.recall} if pack.recall is not None else {}
    return [Flag("pack_recalled", {"pack": pack.barcode, **recall})]


def _unusable(pack: PackFacts, today: date) -> list[Flag]:
    if recalled := _recalled(pack):
        return recalled
    if pack.state in {"compromised", "failed_load", "expired", "retired"}:
        return [Flag("pack_unusable", _named(pack))]
    if is_expired(pack.expires_on, today):
        return [Flag("pack_expired", {"pack": pack.barcode, "day": str(pack.expires_on)})]
    return []


def count_discrepancies(
    expected: Mapping[str, int], counted: Mapping[str, int]
) -> dict[str, tuple[int, int]]:
    """Instruments whose counted number differs from the template: name -> (expected, counted)."""
    names = set(expected) | set(counted)
    return {
        name: (expected.get(name, 0), counted.get(name, 0))
        for name in sorted(names)
        if expected.get(name, 0) != counted.get(name, 0)
    }


def machine_after_test(
    status: MachineStatus, passes: int, cause: str | None, kind: TestKind, passed: bool
) -> tuple[MachineStatus, int, str | None]:
    """A sterilizer's status, requalification count and cause after a BD or BI result.

    A failed test takes it out of service. After a failed Bowie-Dick a passed one puts it
    back; after a failed BI it returns only with three consecutive passed BIs
    (requalification, WS 310.3 4.4.2.5).
    """
    if not passed:
        return MachineStatus.out_of_service, 0, kind
    if status == MachineStatus.in_service:
        return status, 0, None
    if cause == TestKind.bowie_dick and kind == TestKind.bowie_dick:
        return MachineStatus.in_service, 0, None
    if kind != TestKind.biological_indicator or cause == TestKind.bowie_dick:
        return status, passes, cause
    passes += 1
    if passes >= REQUALIFICATION_PASSES:
        return MachineStatus.in_service, 0, None
    return MachineStatus.requalifying, passes, cause
