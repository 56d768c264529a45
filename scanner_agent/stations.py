"""Station modes: a small state machine turning a stream of scans into custody events.

``Station.handle(state, scan)`` is pure: it returns a Reaction (what to tell the person, the
events to record, the labels to print) and the next state. The runner commits the scan, its
events, its print requests and the new state in one local transaction before any feedback.

Modes (``[station] mode``):

* ``inventory``: every box, set or pack scanned is ``observed`` (a badge signs in, optional).
* ``lab_receipt``: badge, then boxes: each is ``receive``.
* ``clinic_dispatch``: badge; a box, then its seal tag (``COUNT:<n>`` in between records the
  specimen count) is ``seal`` and prints the box label; a set is ``return_used``.
* ``cssd``: badge, a step (``[station] step`` or a ``STEP:<name>`` card), then sets or packs.
  ``pack``: set, then the checker's badge, prints the pack label; ``dispatch``: packs, then
  the courier's badge.
* ``courier``: the courier's badge, a step (pickup, handoff, deliver, collect), items, then the
  other person's badge: one event per item with both parties.

Codes that are not Handoff IDs, fail their check character, or are of the wrong kind are
refused with the reason; so are scans the input already knew were bad. A scan identical to the
one before it, from the same input within ``repeat_seconds``, is a double read: acknowledged,
nothing recorded twice.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from labels.gs1 import looks_like_gs1
from labels.identity import (
    InvalidId,
    Kind,
    ParsedId,
    describe_kind,
    new_id,
    normalize_typed,
    parse_id,
)
from scanner_agent.config import AgentConfig, StationMode
from scanner_agent.inputs.base import Scan

__all__ = [
    "COURIER_STEPS",
    "CSSD_STEPS",
    "PrintRequest",
    "Reaction",
    "Station",
    "StationState",
    "Verdict",
]

ITEM_KINDS: Final = frozenset({Kind.SPECIMEN_BOX, Kind.INSTRUMENT_SET, Kind.PACK})


@dataclass(frozen=True, slots=True)
class Step:
    """A station step: its event, the kinds it takes, and who (if anyone) closes it."""

    event: str
    kinds: frozenset[Kind]
    closing_badge: str | None = None  # who the second badge is, if the step needs one


_SET, _PACK, _BOX = (
    frozenset({Kind.INSTRUMENT_SET}),
    frozenset({Kind.PACK}),
    frozenset({Kind.SPECIMEN_BOX}),
)
CSSD_STEPS: Final[dict[str, Step]] = {
    "receive": Step("receive", _SET),
    "wash": Step("wash_start", _SET),
    "washed": Step("wash_pass", _SET),
    "inspect": Step("inspect_pass", _SET),
    "pack": Step("pack", _SET, "the checker"),
    "load": Step("load", _PACK),
    "unload": Step("sterilize_end", _PACK),
    "release": Step("release", _PACK),
    "store": Step("store", _PACK),
    "dispatch": Step("dispatch", _PACK, "the courier"),
}
COURIER_STEPS: Final[dict[str, Step]] = {
    name: Step(name, ITEM_KINDS, "the other person")
    for name in ("pickup", "handoff", "deliver", "collect")
}


class Verdict(StrEnum):
    """What became of a scan."""

    RECORDED = "recorded"
    ADDED = "added"
    SIGNED_IN = "signed_in"
    SIGNED_OUT = "signed_out"
    STEP = "step"
    REPEAT = "repeat"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class PrintRequest:
    """A label (or slip) to print after the scan is committed; ``facts`` are JSON values."""

    kind: str  # "pack_label" | "box_label" | "refusal"
    description: str
    facts: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StationState:
    """Everything a station remembers between scans (persisted with each scan)."""

    operator: str | None = None
    step: str | None = None
    items: tuple[str, ...] = ()
    box: str | None = None
    count: int | None = None
    # Per input: the last code, when it came, and whether it was taken (for double reads).
    last: tuple[tuple[str, str, str, bool], ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["items"] = list(self.items)
        data["last"] = [list(entry) for entry in self.last]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StationState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["items"] = tuple(known.get("items", ()))
        known["last"] = tuple(tuple(entry) for entry in known.get("last", ()))
        return cls(**known)

    def last_of(self, source: str) -> tuple[str, str, bool] | None:
        """The last code from ``source``: (text, ISO time, taken), if any."""
        for name, text, at, kept in self.last:
            if name == source:
                return text, at, kept
        return None


@dataclass(frozen=True, slots=True)
class Reaction:
    """The station's answer to one scan."""

    verdict: Verdict
    message: str
    code: str
    events: tuple[dict[str, Any], ...] = ()
    prints: tuple[PrintRequest, ...] = ()
    state: StationState = field(default_factory=StationState)

    @property
    def ok(self) -> bool:
        return self.verdict != Verdict.REFUSED


_COMMAND: Final = re.compile(r"^(STEP|CMD|COUNT):([A-Za-z0-9_]+)$")


def _kinds(kinds: frozenset[Kind]) -> str:
    names = [describe_kind(k) for k in Kind if k in kinds]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


class Station:
    """One station's workflow, as configured."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.mode = config.station.mode
        self.seal = re.compile(config.station.seal_pattern)
        self.repeat = timedelta(seconds=config.station.repeat_seconds)

    def initial(self) -> StationState:
        """The state of a station that has seen no scan yet."""
        step = self.config.station.step
        if step is None and self.mode == StationMode.COURIER:
            step = "handoff"
        if step is None and self.mode == StationMode.CSSD:
            step = "receive"
        return StationState(step=step)

    def check(self) -> str | None:
        """A problem with the configured step, if any (reported at start-up)."""
        step = self.initial().step
        if self.mode == StationMode.CSSD and step not in CSSD_STEPS:
            return f"station.step {step!r} is not a CSSD step: {', '.join(CSSD_STEPS)}"
        if self.mode == StationMode.COURIER and step not in COURIER_STEPS:
            return f"station.step {step!r} is not a courier step: {', '.join(COURIER_STEPS)}"
        return None

    # -- the machine ------------------------------------------------------------------------
    def handle(self, state: StationState, scan: Scan) -> Reaction:
        """React to one scan; the reaction carries the next state."""
        text = normalize_typed(scan.text) if scan.typed else scan.text
        reaction = self._react(state, scan, text)
        kept = reaction.verdict not in (Verdict.REFUSED, Verdict.REPEAT)
        if reaction.verdict == Verdict.REPEAT:
            kept = True
        others = tuple(entry for entry in reaction.state.last if entry[0] != scan.source)
        entry = (scan.source, text, scan.at.isoformat(), kept)
        return replace(reaction, state=replace(reaction.state, last=(*others, entry)))

    def _react(self, state: StationState, scan: Scan, text: str) -> Reaction:
        if scan.problem is not None:
            return self._refuse(state, text, scan.problem)
        if self._is_repeat(state, scan, text):
            return Reaction(Verdict.REPEAT, "read twice: already taken", text, state=state)
        command = _COMMAND.match(text)
        if command is not None:
            return self._command(state, command.group(1), command.group(2), text)
        if state.box is not None and self.seal.match(text):
            return self._sealed(state, scan, text)
        if self.mode == StationMode.CLINIC_DISPATCH and self.seal.match(text):
            return self._refuse(state, text, "a seal tag: scan the box first, then its seal")
        try:
            parsed = parse_id(text)
        except InvalidId as error:
            if looks_like_gs1(text):
                return self._refuse(
                    state, text, "a manufacturer (GS1) code: link it to a set at the CSSD first"
                )
            return self._refuse(state, text, error.reason)
        if parsed.kind == Kind.PERSON:
            return self._badge(state, scan, parsed)
        return self._item(state, scan, parsed)

    def _is_repeat(self, state: StationState, scan: Scan, text: str) -> bool:
        last = state.last_of(scan.source)
        if last is None or not last[2] or last[0] != text:
            return False
        return scan.at - datetime.fromisoformat(last[1]) <= self.repeat

    def _refuse(self, state: StationState, code: str, why: str) -> Reaction:
        prints: tuple[PrintRequest, ...] = ()
        printer = self.config.printer
        if printer is not None and printer.refusal != "none":
            prints = (
                PrintRequest("refusal", f"refused {code[:40]!r}", {"code": code, "why": why}),
            )
        return Reaction(Verdict.REFUSED, why, code, prints=prints, state=state)

    def _event(
        self,
        scan: Scan,
        event_type: str,
        item: str,
        actor: str | None,
        counterparty: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "item": item,
            "actor": actor,
            "counterparty": counterparty,
            "site": self.config.site,
            "occurred_at": scan.at.astimezone().isoformat(),
            "details": details or {},
        }

    # -- commands and badges ----------------------------------------------------------------
    def _steps(self) -> dict[str, Step]:
        if self.mode == StationMode.CSSD:
            return CSSD_STEPS
        if self.mode == StationMode.COURIER:
            return COURIER_STEPS
        return {}

    def _command(self, state: StationState, verb: str, arg: str, text: str) -> Reaction:
        if verb == "STEP":
            name = arg.lower()
            steps = self._steps()
            if name not in steps:
                allowed = ", ".join(steps) or "none at this station"
                return self._refuse(state, text, f"no step {name!r} here (steps: {allowed})")
            if state.items or state.box:
                return self._refuse(state, text, self._waiting(state))
            return Reaction(Verdict.STEP, f"step: {name}", text, state=replace(state, step=name))
        if verb == "COUNT":
            if state.box is None or not arg.isdigit():
                return self._refuse(state, text, "a count card: scan the box first, then COUNT:<n>")
            return Reaction(
                Verdict.ADDED, f"{arg} specimens; now the seal tag", text,
                state=replace(state, count=int(arg)),
            )  # fmt: skip
        if arg.upper() == "CANCEL":
            dropped = len(state.items) + (1 if state.box else 0)
            return Reaction(
                Verdict.STEP, f"cancelled: {dropped} item(s) not recorded", text,
                state=replace(state, items=(), box=None, count=None),
            )  # fmt: skip
        return self._refuse(state, text, f"unknown command card {text!r}")

    def _waiting(self, state: StationState) -> str:
        if state.box is not None:
            return f"box {state.box} waits for its seal tag (or scan CMD:CANCEL)"
        step = self._steps().get(state.step or "")
        who = step.closing_badge if step and step.closing_badge else "the other person"
        return f"{len(state.items)} item(s) wait for {who}'s badge (or scan CMD:CANCEL)"

    def _badge(self, state: StationState, scan: Scan, badge: ParsedId) -> Reaction:
        code = badge.text
        if state.operator is None:
            return Reaction(
                Verdict.SIGNED_IN, "signed in", code, state=replace(state, operator=code)
            )
        step = self._steps().get(state.step or "")
        if state.items and step is not None and step.closing_badge:
            if code == state.operator:
                return self._refuse(state, code, f"your own badge: {self._waiting(state)}")
            return self._close(state, scan, step, code)
        if code == state.operator:
            if state.items or state.box:
                return self._refuse(state, code, self._waiting(state))
            return Reaction(
                Verdict.SIGNED_OUT, "signed out", code, state=replace(state, operator=None)
            )
        if step is not None and step.closing_badge:
            return self._refuse(
                state, code, f"a staff badge: scan the items first, then {step.closing_badge}"
            )
        return self._refuse(
            state, code, f"a staff badge: expected {self._expected()} (sign out with your own)"
        )

    def _expected(self) -> str:
        if self.mode == StationMode.LAB_RECEIPT:
            return _kinds(_BOX)
        if self.mode == StationMode.CLINIC_DISPATCH:
            return _kinds(_BOX | _SET)
        step = self._steps().get(self.initial().step or "")
        return _kinds(step.kinds if step else ITEM_KINDS)

    def _close(self, state: StationState, scan: Scan, step: Step, other: str) -> Reaction:
        events = []
        prints = []
        for item in state.items:
            details: dict[str, Any] = {}
            if step.event == "pack":
                pack_id = new_id(Kind.PACK)
                details = {"packaging": self.config.station.packaging, "pack": pack_id}
                prints.append(self._pack_label(scan, item, pack_id, state.operator or ""))
            events.append(self._event(scan, step.event, item, state.operator, other, details))
        message = f"{step.event}: {len(events)} item(s) recorded with {other}"
        return Reaction(
            Verdict.RECORDED, message, other, tuple(events), tuple(prints),
            replace(state, items=()),
        )  # fmt: skip

    # -- items ------------------------------------------------------------------------------
    def _item(self, state: StationState, scan: Scan, item: ParsedId) -> Reaction:
        code = item.text
        if item.kind not in ITEM_KINDS:
            return self._refuse(
                state, code, f"{code} is {describe_kind(item.kind)}, expected {self._expected()}"
            )
        if self.mode == StationMode.INVENTORY:
            event = self._event(scan, "observed", code, state.operator)
            return Reaction(Verdict.RECORDED, "seen", code, (event,), state=state)
        if state.operator is None:
            return self._refuse(state, code, "scan your badge first")
        if state.box is not None:
            return self._refuse(state, code, self._waiting(state))
        if self.mode == StationMode.LAB_RECEIPT:
            return self._single(state, scan, code, item.kind, _BOX, "receive")
        if self.mode == StationMode.CLINIC_DISPATCH:
            if item.kind == Kind.SPECIMEN_BOX:
                return Reaction(
                    Verdict.ADDED, "now scan its seal tag", code,
                    state=replace(state, box=code, count=None),
                )  # fmt: skip
            return self._single(state, scan, code, item.kind, _SET, "return_used")
        step = self._steps()[state.step or ""]
        if item.kind not in step.kinds:
            return self._refuse(
                state, code,
                f"{code} is {describe_kind(item.kind)}; "
                f"step {state.step} takes {_kinds(step.kinds)}",
            )  # fmt: skip
        if step.closing_badge is None:
            event = self._event(scan, step.event, code, state.operator)
            return Reaction(Verdict.RECORDED, step.event, code, (event,), state=state)
        if code in state.items:
            return Reaction(Verdict.REPEAT, "already in the list", code, state=state)
        items = (*state.items, code)
        message = f"{len(items)} item(s); then {step.closing_badge}'s badge"
        return Reaction(Verdict.ADDED, message, code, state=replace(state, items=items))

    def _single(
        self,
        state: StationState,
        scan: Scan,
        code: str,
        kind: Kind,
        kinds: frozenset[Kind],
        event_type: str,
    ) -> Reaction:
        if kind not in kinds:
            return self._refuse(
                state, code, f"{code} is {describe_kind(kind)}, expected {self._expected()}"
            )
        event = self._event(scan, event_type, code, state.operator)
        return Reaction(Verdict.RECORDED, event_type, code, (event,), state=state)

    def _sealed(self, state: StationState, scan: Scan, seal: str) -> Reaction:
        box = state.box or ""
        details: dict[str, Any] = {"seal": seal}
        if state.count is not None:
            details["count"] = state.count
        event = self._event(scan, "seal", box, state.operator, details=details)
        facts = {
            "box_id": box,
            "origin": self.config.site,
            "destination": self.config.station.destination or "—",
            "temperature_class": self.config.station.temperature_class,
            "seal_number": seal,
            "sealed_at": scan.at.isoformat(),
            "count": state.count if state.count is not None else 0,
        }
        label = PrintRequest("box_label", f"box label {box}", facts)
        return Reaction(
            Verdict.RECORDED, f"sealed with {seal}; label printing", box, (event,), (label,),
            replace(state, box=None, count=None),
        )  # fmt: skip

    def _pack_label(self, scan: Scan, tray: str, pack_id: str, packer: str) -> PrintRequest:
        today = scan.at.astimezone().date()
        facts = {
            "pack_id": pack_id,
            "set_name": tray,
            "packer": packer,
            "sterilizer": "—",
            "load_number": "—",
            "sterilized_on": today.isoformat(),
            "expires_on": (today + timedelta(days=self.config.station.shelf_life_days)).isoformat(),
            "destination": self.config.station.destination or "—",
            "packaging": self.config.station.packaging,
        }
        return PrintRequest("pack_label", f"pack label {pack_id} for {tray}", facts)
