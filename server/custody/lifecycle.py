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

from server.enums import ItemKind, Role

# Events that record a fact without moving an item through its lifecycle; valid in any
# state. "registered" is the first event of every item and only valid as the first.
OBSERVATIONS = frozenset({"observed", "note", "temperature"})
HANDOFF_EVENTS = frozenset({"pickup", "handoff", "receive", "dispatch", "deliver", "collect"})
REGISTERED = "registered"


@dataclass(frozen=True, slots=True)
class Lifecycle:
    kind: ItemKind
    initial: str
    states: frozenset[str]
    table: Mapping[tuple[str, str], str]
    labels_en: Mapping[str, str]

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(event for _, event in self.table) | OBSERVATIONS | {REGISTERED}

    def allowed_from(self, state: str) -> list[str]:
        return sorted(event for (source, event) in self.table if source == state)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an event does to an item: its next state, or the reason it is flagged."""

    state: str
    flag_code: str | None = None
    flag_reason: str | None = None

    @property
    def flagged(self) -> bool:
        return self.flag_code is not None


def _build(
    kind: ItemKind,
    initial: str,
    steps: Iterable[tuple[str | Iterable[str], str, str]],
    labels_en: Mapping[str, str],
) -> Lifecycle:
    table: dict[tuple[str, str], str] = {}
    for sources, event, target in steps:
        for source in [sources] if isinstance(sources, str) else sources:
            key = (source, event)
            if key in table and table[key] != target:
                raise ValueError(f"{kind}: ({source}, {event}) leads to two states")
            table[key] = target
    states = {initial} | {s for s, _ in table} | set(table.values())
    missing = states - set(labels_en)
    if missing:
        raise ValueError(f"{kind}: states without a label: {sorted(missing)}")
    return Lifecycle(kind, initial, frozenset(states), table, labels_en)


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
        "available": "empty at its clinic",
        "prepared": "prepared",
        "sealed": "sealed",
        "in_transit": "with a courier",
        "on_hold": "on hold",
        "received": "received at the laboratory",
        "accepted": "accepted",
        "rejected": "rejected",
        "opened": "opened",
        "returning": "returning empty",
        "lost": "lost",
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
        (("expired", "compromised", "failed_load", "recalled"), "reprocess", "retired"),
    ],
    {
        "packed": "packed",
        "loaded": "in a sterilizer load",
        "sterilizing": "sterilizing",
        "unloaded": "unloaded",
        "quarantine": "waiting for release",
        "released": "released",
        "sterile_stored": "in sterile storage",
        "in_transit_clean": "in transit (sterile)",
        "received_at_site": "stored at the clinic",
        "used": "used on a patient",
        "expired": "expired",
        "compromised": "compromised",
        "failed_load": "in a failed load",
        "recalled": "recalled",
        "lost": "lost",
        "retired": "sent back for reprocessing",
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
        ("received_decon", "wash_start", "washing"),
        ("washing", "wash_pass", "washed"),
        ("washing", "wash_abort", "received_decon"),
        ("washed", "inspect_pass", "inspected"),
        ("washed", "inspect_fail", "received_decon"),
        ("inspected", "pack", "packed"),
        ("packed", "use", "in_use"),
        (("received_decon", "inspected"), "repair_start", "in_repair"),
        ("in_repair", "repair_end", "received_decon"),
        (("received_decon", "inspected", "in_repair"), "scrap", "scrapped"),
    ],
    {
        "in_use": "in use at the clinic",
        "awaiting_collection": "awaiting collection",
        "in_transit_dirty": "in transit (used)",
        "received_decon": "received at the CSSD",
        "washing": "washing",
        "washed": "washed",
        "inspected": "inspected",
        "packed": "packed",
        "in_repair": "in repair",
        "scrapped": "scrapped",
    },
)

LIFECYCLES: Mapping[ItemKind, Lifecycle] = {
    lifecycle.kind: lifecycle for lifecycle in (SPECIMEN_BOX, PACK, INSTRUMENT_SET)
}

ALL_EVENT_TYPES: frozenset[str] = frozenset().union(
    *(lifecycle.event_types for lifecycle in LIFECYCLES.values())
)

_KIND_WORDS = {
    ItemKind.specimen_box: "specimen box",
    ItemKind.pack: "pack",
    ItemKind.instrument_set: "instrument set",
}


def apply(kind: ItemKind, state: str | None, event_type: str) -> Outcome:
    """The outcome of ``event_type`` on an item of ``kind`` in ``state`` (None: no events yet)."""
    lifecycle = LIFECYCLES[kind]
    if state is None:
        if event_type == REGISTERED:
            return Outcome(lifecycle.initial)
        return Outcome(
            lifecycle.initial,
            "not_registered",
            f"the {_KIND_WORDS[kind]} has no 'registered' event before '{event_type}'",
        )
    if event_type in OBSERVATIONS:
        return Outcome(state)
    if event_type == REGISTERED:
        return Outcome(
            state, "already_registered", f"the {_KIND_WORDS[kind]} is already registered"
        )
    target = lifecycle.table.get((state, event_type))
    if target is not None:
        return Outcome(target)
    if event_type not in lifecycle.event_types:
        return Outcome(
            state,
            "wrong_kind_of_event",
            f"'{event_type}' does not apply to a {_KIND_WORDS[kind]}",
        )
    allowed = ", ".join(lifecycle.allowed_from(state)) or "nothing (final state)"
    return Outcome(
        state,
        "out_of_sequence",
        f"a {_KIND_WORDS[kind]} that is {lifecycle.labels_en[state]} cannot be "
        f"'{event_type}'; expected: {allowed}",
    )


def fold(kind: ItemKind, event_types: Iterable[str]) -> str | None:
    """The state after a sequence of events — the projection rebuilt from the ledger."""
    state: str | None = None
    for event_type in event_types:
        state = apply(kind, state, event_type).state
    return state


# Who holds the item after a transfer event: the scanning person (actor) or the other
# party (counterparty). Events not listed leave the holder unchanged.
ACTOR_TAKES = frozenset({"pickup", "collect", "receive"})
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
