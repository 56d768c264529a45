"""Lifecycles: one transition table per item kind, consulted by ingest (plain Python).

A table maps ``(state, event type) -> next state``. An event whose pair is not in the
table is still stored — it is a physical fact someone scanned — but it is flagged with a
reason a person can read, and the item's state does not move.

The states follow SPEC §5, research/specimen.md §6 and research/cssd.md (b). The workflow
issues add guards (seals, loads, expiry) on top of these tables; the tables stay the one
place where the allowed order of steps is written down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from server.custody.flags import Flag
from server.enums import ItemKind, Role

# Events that record a fact without moving an item through its lifecycle; valid in any
# state. "registered" is the first event of every item and only valid as the first.
OBSERVATIONS = frozenset({"observed", "note", "temperature", "confirm_handoff"})
REGISTERED = "registered"
# A correction of a recorded step (wrong operator, wrong note) is an event of its own that
# names the event it corrects; it changes no state. Only the corrections API appends it:
# ingest refuses it from devices, as it is not in ALL_EVENT_TYPES.
CORRECTION = "correction"


Label = tuple[str, str]  # (中文, English)


@dataclass(frozen=True, slots=True)
class Lifecycle:
    kind: ItemKind
    initial: str
    states: frozenset[str]
    table: Mapping[tuple[str, str], str]
    labels: Mapping[str, Label]

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(event for _, event in self.table) | OBSERVATIONS | {REGISTERED}

    def allowed_from(self, state: str) -> list[str]:
        return sorted(event for (source, event) in self.table if source == state)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an event does to an item: its next state, and the flag if it breaks the table."""

    state: str
    flag: Flag | None = None

    @property
    def flagged(self) -> bool:
        return self.flag is not None


def _build(
    kind: ItemKind,
    initial: str,
    steps: Iterable[tuple[str | Iterable[str], str, str]],
    labels: Mapping[str, Label],
) -> Lifecycle:
    table: dict[tuple[str, str], str] = {}
    for sources, event, target in steps:
        for source in [sources] if isinstance(sources, str) else sources:
            key = (source, event)
            if key in table and table[key] != target:
                raise ValueError(f"{kind}: ({source}, {event}) leads to two states")
            table[key] = target
    states = {initial} | {s for s, _ in table} | set(table.values())
    missing = states - set(labels)
    if missing:
        raise ValueError(f"{kind}: states without a label: {sorted(missing)}")
    return Lifecycle(kind, initial, frozenset(states), table, labels)


SPECIMEN_BOX = _build(
    ItemKind.specimen_box,
    "available",
    [
        (("available", "prepared"), "prepare", "prepared"),
        ("prepared", "seal", "sealed"),
        ("sealed", "reopen", "prepared"),
        ("sealed", "pickup", "in_transit"),
        ("in_transit", "handoff", "in_transit"),
        ("in_transit", "hold", "on_hold"),
        ("on_hold", "release_hold", "in_transit"),
        (("in_transit", "on_hold"), "receive", "received"),
        ("received", "accept", "accepted"),
        ("received", "reject", "rejected"),
        ("accepted", "open", "opened"),
        (("opened", "rejected"), "dispatch", "returning"),
        ("returning", "deliver", "available"),
        (("in_transit", "on_hold"), "declare_lost", "lost"),
        ("lost", "found", "in_transit"),
        (("available", "prepared", "sealed"), "cancel", "available"),
    ],
    {
        "available": ("空箱在站点", "empty at its clinic"),
        "prepared": ("已装箱", "prepared"),
        "sealed": ("已封箱", "sealed"),
        "in_transit": ("运送中", "with a courier"),
        "on_hold": ("暂扣", "on hold"),
        "received": ("检验中心已接收", "received at the laboratory"),
        "accepted": ("验收合格", "accepted"),
        "rejected": ("已拒收", "rejected"),
        "opened": ("已开箱", "opened"),
        "returning": ("空箱返还中", "returning empty"),
        "lost": ("丢失", "lost"),
    },
)

_BEFORE_USE = (
    "packed",
    "loaded",
    "sterilizing",
    "unloaded",
    "quarantine",
    "released",
    "sterile_stored",
    "in_transit_clean",
    "received_at_site",
)

# A pack taken out of use before it was opened: its set goes back for reprocessing.
_OUT_OF_USE = ("expired", "compromised", "failed_load", "recalled")

# A pack is one processing cycle of a set: it is registered when the set is packed and
# ends when it is used (the set goes back for washing) or taken out of service.
PACK = _build(
    ItemKind.pack,
    "packed",
    [
        ("packed", "load", "loaded"),
        ("loaded", "unload_before_start", "packed"),
        ("loaded", "sterilize_start", "sterilizing"),
        ("sterilizing", "sterilize_end", "unloaded"),
        (("sterilizing", "unloaded", "quarantine"), "load_fail", "failed_load"),
        ("unloaded", "quarantine", "quarantine"),
        ("quarantine", "release", "released"),
        ("released", "store", "sterile_stored"),
        ("sterile_stored", "dispatch", "in_transit_clean"),
        ("in_transit_clean", "handoff", "in_transit_clean"),
        ("in_transit_clean", "deliver", "received_at_site"),
        ("received_at_site", "use", "used"),
        (_BEFORE_USE, "expire", "expired"),
        (_BEFORE_USE, "compromise", "compromised"),
        ((*_BEFORE_USE, "used", "failed_load"), "recall", "recalled"),
        ("in_transit_clean", "declare_lost", "lost"),
        (_OUT_OF_USE, "reprocess", "retired"),
    ],
    {
        "packed": ("已包装", "packed"),
        "loaded": ("已装载", "in a sterilizer load"),
        "sterilizing": ("灭菌中", "sterilizing"),
        "unloaded": ("已卸载", "unloaded"),
        "quarantine": ("待放行", "waiting for release"),
        "released": ("已放行", "released"),
        "sterile_stored": ("无菌存放", "in sterile storage"),
        "in_transit_clean": ("运送中（无菌）", "in transit (sterile)"),
        "received_at_site": ("站点存放", "stored at the clinic"),
        "used": ("已使用", "used on a patient"),
        "expired": ("已过期", "expired"),
        "compromised": ("包装受损", "compromised"),
        "failed_load": ("灭菌失败", "in a failed load"),
        "recalled": ("已召回", "recalled"),
        "lost": ("丢失", "lost"),
        "retired": ("已退回重新处理", "sent back for reprocessing"),
    },
)

# The reusable tray with its permanent barcode: washed and inspected at the CSSD, then
# packed (a new pack carries it until it is used again).
INSTRUMENT_SET = _build(
    ItemKind.instrument_set,
    "in_use",
    [
        ("in_use", "return_used", "awaiting_collection"),
        ("awaiting_collection", "collect", "in_transit_dirty"),
        ("in_transit_dirty", "handoff", "in_transit_dirty"),
        ("in_transit_dirty", "receive", "received_decon"),
        ("received_decon", "hold", "on_hold"),
        ("on_hold", "release_hold", "received_decon"),
        ("received_decon", "wash_start", "washing"),
        ("washing", "wash_pass", "washed"),
        ("washing", "wash_abort", "received_decon"),
        ("washed", "inspect_pass", "inspected"),
        ("washed", "inspect_fail", "received_decon"),
        ("inspected", "pack", "packed"),
        ("packed", "use", "in_use"),
        # A set whose pack was taken out of use before it was opened (compromised, expired,
        # in a failed load, recalled) goes back for reprocessing: handed back at the clinic
        # like a used set, or received again at the CSSD where the pack failed.
        ("packed", "return_used", "awaiting_collection"),
        ("packed", "receive", "received_decon"),
        (("received_decon", "inspected"), "repair_start", "in_repair"),
        ("in_repair", "repair_end", "received_decon"),
        (("received_decon", "inspected", "in_repair"), "scrap", "scrapped"),
    ],
    {
        "in_use": ("站点使用中", "in use at the clinic"),
        "awaiting_collection": ("待回收", "awaiting collection"),
        "in_transit_dirty": ("运送中（污染）", "in transit (used)"),
        "received_decon": ("消毒供应中心已接收", "received at the CSSD"),
        "washing": ("清洗中", "washing"),
        "washed": ("已清洗", "washed"),
        "inspected": ("已检查", "inspected"),
        "packed": ("已包装", "packed"),
        "in_repair": ("维修中", "in repair"),
        "on_hold": ("暂扣", "on hold"),
        "scrapped": ("已报废", "scrapped"),
    },
)

LIFECYCLES: Mapping[ItemKind, Lifecycle] = {
    lifecycle.kind: lifecycle for lifecycle in (SPECIMEN_BOX, PACK, INSTRUMENT_SET)
}

# The pack states whose set may go back for reprocessing (those "reprocess" leaves).
PACK_STATES_FREEING_THE_SET: frozenset[str] = frozenset(
    state for state, event in PACK.table if event == "reprocess"
)

ALL_EVENT_TYPES: frozenset[str] = frozenset().union(
    *(lifecycle.event_types for lifecycle in LIFECYCLES.values())
)


def apply(kind: ItemKind, state: str | None, event_type: str) -> Outcome:
    """The outcome of ``event_type`` on an item of ``kind`` in ``state`` (None: no events yet)."""
    lifecycle = LIFECYCLES[kind]
    if state is None:
        if event_type == REGISTERED:
            return Outcome(lifecycle.initial)
        return Outcome(
            lifecycle.initial, Flag("not_registered", {"kind": kind, "event": event_type})
        )
    if event_type in OBSERVATIONS or event_type == CORRECTION:
        return Outcome(state)
    if event_type == REGISTERED:
        return Outcome(state, Flag("already_registered", {"kind": kind}))
    target = lifecycle.table.get((state, event_type))
    if target is not None:
        return Outcome(target)
    if event_type not in lifecycle.event_types:
        return Outcome(state, Flag("wrong_kind_of_event", {"kind": kind, "event": event_type}))
    allowed = ",".join(lifecycle.allowed_from(state))
    return Outcome(
        state,
        Flag(
            "out_of_sequence",
            {"kind": kind, "state": state, "event": event_type, "allowed": allowed},
        ),
    )


def fold(kind: ItemKind, event_types: Iterable[str]) -> str | None:
    """The state after a sequence of events — the projection rebuilt from the ledger."""
    state: str | None = None
    for event_type in event_types:
        state = apply(kind, state, event_type).state
    return state


# Who holds the item after a transfer event: the scanning person (actor) or the other
# party (counterparty). Events not listed leave the holder unchanged.
ACTOR_TAKES = frozenset({"pickup", "collect", "receive", "confirm_handoff"})
COUNTERPARTY_TAKES = frozenset({"handoff", "deliver", "dispatch"})


_CLINIC, _COURIER, _LAB, _CSSD, _DISPATCH = (
    Role.clinic_staff,
    Role.courier,
    Role.lab_receiver,
    Role.cssd_staff,
    Role.dispatcher,
)
_CSSD_STEPS = (
    "wash_start", "wash_pass", "wash_abort", "inspect_pass", "inspect_fail", "pack", "load",
    "unload_before_start", "sterilize_start", "sterilize_end", "load_fail", "quarantine",
    "release", "store", "recall", "reprocess", "repair_start", "repair_end", "scrap",
)  # fmt: skip

# Who may be the scanning person (actor) of each event type; types not listed are open to
# every role, and an administrator may record anything. A scan by someone else is still
# stored, flagged "role_not_allowed" (a courier cannot release a load).
ACTOR_ROLES: Mapping[str, frozenset[Role]] = {
    **{event: frozenset({_CLINIC}) for event in ("prepare", "seal", "reopen", "cancel", "use",
                                                 "return_used")},
    **{event: frozenset({_COURIER}) for event in ("pickup", "collect", "handoff", "deliver")},
    "receive": frozenset({_LAB, _CSSD}),
    **{event: frozenset({_LAB}) for event in ("accept", "reject", "open")},
    "dispatch": frozenset({_LAB, _CSSD}),
    **{event: frozenset({_CSSD}) for event in _CSSD_STEPS},
    **{event: frozenset({_CLINIC, _CSSD}) for event in ("expire", "compromise")},
    **{event: frozenset({_DISPATCH, _LAB, _CSSD}) for event in ("hold", "release_hold",
                                                               "declare_lost", "found")},
}  # fmt: skip


def actor_may(event_type: str, role: Role) -> bool:
    """Whether a person in ``role`` may be the one scanning an ``event_type`` event."""
    allowed = ACTOR_ROLES.get(event_type)
    return allowed is None or role == Role.admin or role in allowed


EVENT_LABELS: Mapping[str, Label] = {
    "registered": ("登记", "registered"),
    CORRECTION: ("更正记录", "correction"),
    "observed": ("扫描", "seen"),
    "note": ("备注", "note"),
    "temperature": ("温度记录", "temperature reading"),
    "confirm_handoff": ("确认接收", "confirm a handoff"),
    "prepare": ("装箱", "prepare"),
    "seal": ("封箱", "seal"),
    "reopen": ("重新开箱", "reopen"),
    "pickup": ("取件", "pick up"),
    "handoff": ("交接", "hand over"),
    "hold": ("暂扣", "hold"),
    "release_hold": ("解除暂扣", "release hold"),
    "receive": ("接收", "receive"),
    "accept": ("验收合格", "accept"),
    "reject": ("拒收", "reject"),
    "open": ("开箱", "open"),
    "dispatch": ("发出", "dispatch"),
    "deliver": ("送达", "deliver"),
    "declare_lost": ("报告丢失", "declare lost"),
    "found": ("找回", "found"),
    "cancel": ("取消", "cancel"),
    "load": ("装载", "load"),
    "unload_before_start": ("启动前卸出", "unload before start"),
    "sterilize_start": ("灭菌开始", "start sterilization"),
    "sterilize_end": ("灭菌结束", "end sterilization"),
    "load_fail": ("灭菌失败", "fail the load"),
    "quarantine": ("待放行", "quarantine"),
    "release": ("放行", "release"),
    "store": ("入库", "store"),
    "use": ("使用", "use"),
    "expire": ("过期", "expire"),
    "compromise": ("包装受损", "mark compromised"),
    "recall": ("召回", "recall"),
    "reprocess": ("重新处理", "reprocess"),
    "return_used": ("交回使用后器械", "return after use"),
    "collect": ("回收", "collect"),
    "wash_start": ("清洗开始", "start washing"),
    "wash_pass": ("清洗合格", "pass washing"),
    "wash_abort": ("清洗中止", "abort washing"),
    "inspect_pass": ("检查合格", "pass inspection"),
    "inspect_fail": ("检查不合格", "fail inspection"),
    "pack": ("包装", "pack"),
    "repair_start": ("送修", "send to repair"),
    "repair_end": ("维修完成", "return from repair"),
    "scrap": ("报废", "scrap"),
}

_unlabelled = ALL_EVENT_TYPES - set(EVENT_LABELS)
if _unlabelled:  # pragma: no cover - caught at import by every test run
    raise ValueError(f"event types without a label: {sorted(_unlabelled)}")
