"""Station modes: a small state machine turning a stream of scans into custody events.

``Station.handle(state, scan)`` is pure: it returns a Reaction (what to tell the person, the
events to record, the labels to print, or the one CSSD API call to make) and the next state.
The runner commits the scan, its events, its print requests and the new state in one local
transaction before any feedback.

Modes (``[station] mode``):

* ``inventory``: every box, set or pack scanned is ``observed`` (a badge signs in, optional).
* ``lab_receipt``: badge, then boxes: each is ``receive``.
* ``clinic_dispatch``: badge; a box, then its seal tag (``COUNT:<n>`` in between records the
  specimen count) is ``prepare`` then ``seal`` and prints the box label; a set is
  ``return_used``.
* ``courier``: the courier's badge, a step (pickup, handoff, deliver, collect), items, then the
  other person's badge: one event per item with both parties.
* ``cssd``: badge, a step (``[station] step`` or a ``STEP:<name>`` card), then its codes. CSSD
  steps are not offline events: each closing scan becomes one call to the server's CSSD API
  (``ApiCall``), made by the runner with the device token and the operator's badge
  (``X-Handoff-Badge``) after the scan is committed; ``Station.settle`` turns the server's
  answer into what the station says, and prints the pack label from the server's pack record
  (its barcode and expiry are the server's). The steps:

  ============  ==============================================  ===============================
  ``receive``   a set                                           ``POST /cssd/receipts``
  ``wash``      sets, then the washer (machine barcode)         ``POST /cssd/washes``
  ``washed``    the wash cycle's barcode (CY…)                  ``…/washes/{cycle}/finish``
  ``inspect``   a set                                           ``…/sets/{set}/inspection``
  ``pack``      a set, then the checker's badge                 ``POST /cssd/packs`` + label
  ``load``      a load card (CY…) or a sterilizer (opens a      ``POST /cssd/loads``,
                load), then packs, then ``CMD:START``           ``…/packs``, ``…/start``
  ``unload``    the load card, wet packs if any, then           ``…/loads/{load}/unload``
                ``CI:PASS`` or ``CI:FAIL``
  ``release``   the load card                                   ``…/loads/{load}/release``
  ``store``     a pack                                          ``POST /cssd/storage``
  ``dispatch``  packs, then the courier's badge                 ``POST /cssd/dispatches``
  ``reprint``   a pack: its label again, from the server's      ``…/packs/{pack}/reprints``
                record (counted and audited there)
  ============  ==============================================  ===============================

  Without the server nothing is recorded and the station says so; a refusal from the server
  is shown with the server's words, and the station stays as it was before the scan.

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
    normalize_typed,
    parse_id,
)
from scanner_agent.config import AgentConfig, Language, StationMode
from scanner_agent.inputs.base import Scan

__all__ = [
    "COURIER_STEPS",
    "CSSD_STEPS",
    "ApiCall",
    "CallResult",
    "Outcome",
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
    closer: str | None = None  # what else closes a list (a washer, an indicator card)


_SET, _PACK, _BOX, _MACHINE, _CYCLE = (
    frozenset({Kind.INSTRUMENT_SET}),
    frozenset({Kind.PACK}),
    frozenset({Kind.SPECIMEN_BOX}),
    frozenset({Kind.MACHINE}),
    frozenset({Kind.CYCLE}),
)
CSSD_STEPS: Final[dict[str, Step]] = {
    "receive": Step("receive", _SET),
    "wash": Step("wash_start", _SET | _MACHINE, closer="the washer's barcode"),
    "washed": Step("wash_pass", _CYCLE),
    "inspect": Step("inspect_pass", _SET),
    "pack": Step("pack", _SET, "the checker"),
    "load": Step("load", _PACK | _CYCLE | _MACHINE),
    "unload": Step("unload", _PACK | _CYCLE, closer="CI:PASS or CI:FAIL"),
    "release": Step("release", _CYCLE),
    "store": Step("store", _PACK),
    "dispatch": Step("dispatch", _PACK, "the courier"),
    "reprint": Step("reprint", _PACK),
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
    ASKING = "asking"  # waiting for the server's answer (CSSD steps)


@dataclass(frozen=True, slots=True)
class PrintRequest:
    """A label (or slip) to print after the scan is committed; ``facts`` are JSON values."""

    kind: str  # "pack_label" | "box_label" | "cycle_card" | "refusal"
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
    cycle: str | None = None  # cssd: the load (or wash cycle) whose card was scanned
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
class ApiCall:
    """One call to the server's CSSD API that a scan asks for; made online after the commit.

    ``done`` words the answer: ``{name}`` takes the answer's fields, ``{count}`` the length of
    its ``items`` (or of the answer, if it is a list).
    """

    method: str
    path: str  # under /api/v1
    body: dict[str, Any] | None
    badge: str  # the signed-in operator, sent as X-Handoff-Badge
    action: str  # what it does, in a few words
    done: str
    remember_cycle: bool = False  # the answer (a cycle) becomes the station's open load
    forget_cycle: bool = False  # the open load is finished with
    pack_label: bool = False  # print the pack label from the answer (the server's record)
    cycle_card: bool = False  # print the new cycle's card from the answer, to scan later


class Outcome(StrEnum):
    """What became of an API call."""

    DONE = "done"  # 2xx
    REFUSED = "refused"  # 4xx, with the server's words; nothing was written
    FAILED = "failed"  # 5xx: the server rolled back
    UNREACHABLE = "unreachable"  # not sent: no connection
    UNKNOWN = "unknown"  # sent, but no answer came (timeout, connection lost)
    INTERRUPTED = "interrupted"  # the agent stopped before the answer


@dataclass(frozen=True, slots=True)
class CallResult:
    """The server's answer to an ApiCall (or why there is none)."""

    outcome: Outcome
    status: int | None = None
    answer: Any = None  # the JSON body
    error: str = ""  # the transport's words when there is no answer

    def detail(self, language: Language) -> str:
        """The server's message for a refusal, in the station's language if it has one."""
        body = self.answer if isinstance(self.answer, dict) else {}
        if language == Language.ZH and isinstance(body.get("detail_zh"), str):
            return str(body["detail_zh"])
        detail = body.get("detail")
        return str(detail) if detail else f"HTTP {self.status}"


@dataclass(frozen=True, slots=True)
class Reaction:
    """The station's answer to one scan."""

    verdict: Verdict
    message: str
    code: str
    events: tuple[dict[str, Any], ...] = ()
    prints: tuple[PrintRequest, ...] = ()
    state: StationState = field(default_factory=StationState)
    call: ApiCall | None = None

    @property
    def ok(self) -> bool:
        return self.verdict != Verdict.REFUSED


_COMMAND: Final = re.compile(r"^(STEP|CMD|COUNT|CI):([A-Za-z0-9_]+)$")
_NO_SERVER: Final = "CSSD steps need the server; nothing was recorded — scan again when it is back"


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _words(template: str, answer: Any) -> str:
    fields = _Fields(answer if isinstance(answer, dict) else {})
    items = answer if isinstance(answer, list) else fields.get("items")
    fields["count"] = len(items) if isinstance(items, list) else "?"
    return template.format_map(fields)


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
        kept = reaction.verdict != Verdict.REFUSED
        return replace(reaction, state=_remember(reaction.state, scan, text, kept))

    def settle(
        self, before: StationState, scan: Scan, reaction: Reaction, result: CallResult
    ) -> Reaction:
        """The station's final answer to a scan whose API call came back with ``result``.

        Done: the reaction's state (with the server's load remembered or forgotten) and the
        pack label from the server's answer. Anything else: a refusal that leaves the station
        as it was before the scan, so the same closing scan can simply be made again.
        """
        call = reaction.call
        assert call is not None
        text = normalize_typed(scan.text) if scan.typed else scan.text
        if result.outcome == Outcome.DONE:
            state = reaction.state
            answer = result.answer
            if call.remember_cycle and isinstance(answer, dict):
                state = replace(state, cycle=str(answer.get("barcode") or "") or None)
            if call.forget_cycle:
                state = replace(state, cycle=None)
            prints: tuple[PrintRequest, ...] = ()
            message = _words(call.done, answer)
            if call.pack_label:
                label = self._pack_label(answer)
                if label is None:
                    message += " (the server's answer cannot be printed as a pack label)"
                else:
                    prints = (label,)
            if call.cycle_card:
                card = _cycle_card(answer, scan, state.operator or call.badge)
                prints = () if card is None else (card,)
            return Reaction(
                Verdict.RECORDED, message, reaction.code, prints=prints,
                state=_remember(state, scan, text, True), call=call,
            )  # fmt: skip
        why = self._why(call, result)
        refused = self._refuse(before, reaction.code, why)
        return replace(refused, state=_remember(before, scan, text, False), call=call)

    def _why(self, call: ApiCall, result: CallResult) -> str:
        match result.outcome:
            case Outcome.REFUSED:
                return f"{call.action}: the server refuses: {result.detail(self.config.language)}"
            case Outcome.FAILED:
                return (
                    f"{call.action}: the server failed ({result.detail(self.config.language)}); "
                    "nothing was recorded — scan again"
                )
            case Outcome.UNREACHABLE:
                return f"{_NO_SERVER} ({result.error})"
            case Outcome.UNKNOWN:
                return (
                    f"{call.action}: no answer from the server ({result.error}); it may have "
                    "been recorded — check on the server before scanning again"
                )
        return (
            f"{call.action}: the agent stopped before the server answered; it may have been "
            "recorded — check on the server before scanning again"
        )

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
            return Reaction(
                Verdict.STEP, f"step: {name}", text, state=replace(state, step=name, cycle=None)
            )
        if verb == "COUNT":
            if state.box is None or not arg.isdigit():
                return self._refuse(state, text, "a count card: scan the box first, then COUNT:<n>")
            return Reaction(
                Verdict.ADDED, f"{arg} specimens; now the seal tag", text,
                state=replace(state, count=int(arg)),
            )  # fmt: skip
        if verb == "CMD" and arg.upper() == "CANCEL":
            dropped = len(state.items) + (1 if state.box else 0)
            return Reaction(
                Verdict.STEP, f"cancelled: {dropped} item(s) not recorded", text,
                state=replace(state, items=(), box=None, count=None, cycle=None),
            )  # fmt: skip
        if self.mode == StationMode.CSSD and (verb, arg.upper()) in (
            ("CMD", "START"), ("CI", "PASS"), ("CI", "FAIL"),
        ):  # fmt: skip
            return self._cssd_card(state, verb, arg.upper(), text)
        return self._refuse(state, text, f"unknown command card {text!r}")

    def _waiting(self, state: StationState) -> str:
        if state.box is not None:
            return f"box {state.box} waits for its seal tag (or scan CMD:CANCEL)"
        step = self._steps().get(state.step or "")
        if step is not None and step.closer is not None:
            return f"{len(state.items)} item(s) wait for {step.closer} (or scan CMD:CANCEL)"
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
            if self.mode == StationMode.CSSD:
                return self._cssd_close(state, code)
            return self._close(state, scan, step, code)
        if code == state.operator:
            if state.items or state.box:
                return self._refuse(state, code, self._waiting(state))
            return Reaction(
                Verdict.SIGNED_OUT, "signed out", code,
                state=replace(state, operator=None, cycle=None),
            )  # fmt: skip
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
        events = [
            self._event(scan, step.event, item, state.operator, other) for item in state.items
        ]
        message = f"{step.event}: {len(events)} item(s) recorded with {other}"
        return Reaction(
            Verdict.RECORDED, message, other, tuple(events), state=replace(state, items=())
        )

    # -- items ------------------------------------------------------------------------------
    def _item(self, state: StationState, scan: Scan, item: ParsedId) -> Reaction:
        code = item.text
        if self.mode == StationMode.CSSD:
            return self._cssd_item(state, item)
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
        return self._add(state, code, f"then {step.closing_badge}'s badge")

    def _add(self, state: StationState, code: str, then: str) -> Reaction:
        if code in state.items:
            return Reaction(Verdict.REPEAT, "already in the list", code, state=state)
        items = (*state.items, code)
        return Reaction(
            Verdict.ADDED, f"{len(items)} item(s); {then}", code, state=replace(state, items=items)
        )

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
        config = self.config.station
        # The box is prepared (filled) and sealed at the bench: both are recorded, so a
        # clinic without a system of its own that sends the specimen list still has a
        # valid sequence. Only what the station knows goes into the prepare (not the label's
        # destination, which a clinic system's specimen list may have set otherwise); a box
        # already prepared elsewhere keeps its specimen type, destination and collection time.
        filled: dict[str, Any] = {}
        if state.count is not None:
            filled["count"] = state.count
        if config.specimen_type:
            filled["specimen_type"] = config.specimen_type
        details: dict[str, Any] = {"seal": seal}
        if state.count is not None:
            details["count"] = state.count
        prepare = self._event(scan, "prepare", box, state.operator, details=filled)
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
            Verdict.RECORDED, f"sealed with {seal}; label printing", box, (prepare, event),
            (label,),
            replace(state, box=None, count=None),
        )  # fmt: skip

    # -- cssd: each closing scan is one call to the server's CSSD API -----------------------
    def _ask(
        self, state: StationState, code: str, call: ApiCall, after: StationState | None = None
    ) -> Reaction:
        """A scan that needs the server: ``after`` is the state if the server agrees."""
        return Reaction(
            Verdict.ASKING, call.action, code, state=state if after is None else after, call=call
        )

    def _call(
        self, state: StationState, method: str, path: str, body: dict[str, Any] | None,
        action: str, done: str, **flags: bool,
    ) -> ApiCall:  # fmt: skip
        return ApiCall(method, path, body, state.operator or "", action, done, **flags)

    def _cssd_item(self, state: StationState, item: ParsedId) -> Reaction:
        code, kind = item.text, item.kind
        name = state.step or ""
        step = CSSD_STEPS[name]
        if kind not in step.kinds:
            return self._refuse(
                state, code,
                f"{code} is {describe_kind(kind)}; step {name} takes {_kinds(step.kinds)}",
            )  # fmt: skip
        if state.operator is None:
            return self._refuse(state, code, "scan your badge first")
        config = self.config.station
        match name:
            case "receive":
                call = self._call(
                    state, "POST", "/cssd/receipts", {"set": code}, f"receive {code}",
                    "received {barcode}: {state}",
                )  # fmt: skip
                return self._ask(state, code, call)
            case "wash" if kind == Kind.MACHINE:
                if not state.items:
                    return self._refuse(state, code, "a washer: scan the sets first, then it")
                body = {"washer": code, "program": config.wash_program, "sets": list(state.items)}
                call = self._call(
                    state, "POST", "/cssd/washes", body,
                    f"wash {len(state.items)} set(s) in {code}",
                    "wash {number} ({barcode}) running: {count} set(s); card printing",
                    cycle_card=True,
                )  # fmt: skip
                return self._ask(state, code, call, replace(state, items=()))
            case "wash" | "dispatch":
                closer = "the washer's barcode" if name == "wash" else "the courier's badge"
                return self._add(state, code, f"then {closer}")
            case "washed":
                call = self._call(
                    state, "POST", f"/cssd/washes/{code}/finish", {"passed": True},
                    f"finish wash {code}", "wash {number} passed: {count} set(s) washed",
                )  # fmt: skip
                return self._ask(state, code, call)
            case "inspect":
                call = self._call(
                    state, "POST", f"/cssd/sets/{code}/inspection", {"passed": True},
                    f"inspect {code}", "inspected {barcode}: {state}",
                )  # fmt: skip
                return self._ask(state, code, call)
            case "pack":
                if state.items:
                    return self._refuse(state, code, f"one set at a time: {self._waiting(state)}")
                return self._add(state, code, "then the checker's badge")
            case "load" | "unload" if kind == Kind.CYCLE:
                if state.items and state.cycle != code:
                    return self._refuse(state, code, self._waiting(state))
                then = "now the packs, then CMD:START" if name == "load" else (
                    "wet packs if any, then CI:PASS or CI:FAIL"
                )  # fmt: skip
                return Reaction(
                    Verdict.ADDED, f"load card {code}: {then}", code,
                    state=replace(state, cycle=code),
                )  # fmt: skip
            case "load" if kind == Kind.MACHINE:
                body = {"sterilizer": code, "program": config.load_program}
                call = self._call(
                    state, "POST", "/cssd/loads", body, f"open a load on {code}",
                    "load {number} ({barcode}) open on {machine}: scan packs, then CMD:START",
                    remember_cycle=True, cycle_card=True,
                )  # fmt: skip
                return self._ask(state, code, call)
            case "load" | "unload" if state.cycle is None:
                return self._refuse(
                    state, code, f"{code}: scan the load card first"
                    + (" (or a sterilizer, to open a load)" if name == "load" else ""),
                )  # fmt: skip
            case "load":
                call = self._call(
                    state, "POST", f"/cssd/loads/{state.cycle}/packs", {"pack": code},
                    f"load {code} into {state.cycle}", "in load {number}: {count} pack(s)",
                )  # fmt: skip
                return self._ask(state, code, call)
            case "unload":
                return self._add(state, code, "wet; then CI:PASS or CI:FAIL")
            case "release":
                call = self._call(
                    state, "POST", f"/cssd/loads/{code}/release", {}, f"release load {code}",
                    "load {number} released: {count} pack(s)",
                )  # fmt: skip
                return self._ask(state, code, call)
            case "reprint":
                call = self._call(
                    state, "POST", f"/cssd/packs/{code}/reprints", None, f"reprint {code}",
                    "label of {barcode} printing again (reprint {label_prints}), "
                    "expires {expires_on}",
                    pack_label=True,
                )  # fmt: skip
                return self._ask(state, code, call)
        # "store"
        call = self._call(
            state, "POST", "/cssd/storage", {"packs": [code]}, f"store {code}",
            "stored {count} pack(s)",
        )  # fmt: skip
        return self._ask(state, code, call)

    def _cssd_card(self, state: StationState, verb: str, arg: str, text: str) -> Reaction:
        if state.operator is None:
            return self._refuse(state, text, "scan your badge first")
        wanted = "load" if verb == "CMD" else "unload"
        if state.step != wanted or state.cycle is None:
            return self._refuse(state, text, f"{text}: at the {wanted} step, after the load card")
        load = state.cycle
        if verb == "CMD":
            call = self._call(
                state, "POST", f"/cssd/loads/{load}/start", None, f"start load {load}",
                "load {number} started: {count} pack(s)", forget_cycle=True,
            )  # fmt: skip
            return self._ask(state, text, call)
        body = {
            "cooling_minutes": self.config.station.cooling_minutes,
            "chemical_indicator_passed": arg == "PASS",
            "wet_packs": list(state.items),
        }
        call = self._call(
            state, "POST", f"/cssd/loads/{load}/unload", body,
            f"unload {load} ({len(state.items)} wet)", "load {number} unloaded: {status}",
            forget_cycle=True,
        )  # fmt: skip
        return self._ask(state, text, call, replace(state, items=()))

    def _cssd_close(self, state: StationState, badge: str) -> Reaction:
        config = self.config.station
        if state.step == "pack":
            body: dict[str, Any] = {"set": state.items[0], "checker": badge}
            if config.packaging is not None:
                body["packaging_material"] = config.packaging
            call = self._call(
                state, "POST", "/cssd/packs", body, f"pack {state.items[0]}",
                "packed {barcode} from {set}, expires {expires_on}; label printing",
                pack_label=True,
            )  # fmt: skip
            return self._ask(state, badge, call, replace(state, items=()))
        if not config.destination:
            return self._refuse(
                state, badge, "dispatch needs [station] destination (the clinic the packs go to)"
            )
        body = {"packs": list(state.items), "courier": badge, "destination": config.destination}
        call = self._call(
            state, "POST", "/cssd/dispatches", body,
            f"dispatch {len(state.items)} pack(s) to {config.destination}",
            f"{{count}} pack(s) dispatched to {config.destination} with {badge}",
        )  # fmt: skip
        return self._ask(state, badge, call, replace(state, items=()))

    def _pack_label(self, answer: Any) -> PrintRequest | None:
        """The pack label from the server's pack record (PackRead): its ID, set, expiry."""
        if not isinstance(answer, dict):
            return None
        try:
            packed = datetime.fromisoformat(str(answer["packed_at"])).astimezone().date()
            sterilized = answer.get("sterilized_on") or packed.isoformat()
            english = self.config.language == Language.EN
            name = answer["set_name_en" if english else "set_name_zh"] or answer["set"]
            facts = {
                "pack_id": str(answer["barcode"]),
                "set_name": str(name),
                "packer": str(answer["packer"]),
                "sterilizer": str(answer.get("sterilizer") or "—"),
                "load_number": str(answer.get("load") or "—"),
                "sterilized_on": str(sterilized),
                "expires_on": str(answer["expires_on"]),
                "destination": str(answer.get("destination") or "—"),
                "packaging": str(answer.get("packaging_material") or ""),
            }
        except (KeyError, TypeError, ValueError):
            return None
        if answer.get("expires_on") is None:
            return None
        return PrintRequest("pack_label", f"pack label {facts['pack_id']}", facts)


def _cycle_card(answer: Any, scan: Scan, operator: str) -> PrintRequest | None:
    """The card of the cycle the server just opened (CycleRead), to be scanned at later steps."""
    if not isinstance(answer, dict) or not answer.get("barcode"):
        return None
    facts = {
        "cycle_id": str(answer["barcode"]),
        "number": str(answer.get("number") or answer["barcode"]),
        "wash": answer.get("kind") == "wash",
        "machine": str(answer.get("machine") or "—"),
        "program": str(answer.get("program") or "—"),
        "opened_at": scan.at.isoformat(),
        "operator": operator or "—",
    }
    return PrintRequest("cycle_card", f"card for {facts['number']}", facts)


def _remember(state: StationState, scan: Scan, text: str, kept: bool) -> StationState:
    """The state with ``text`` as the last code from the scan's input (for double reads)."""
    others = tuple(entry for entry in state.last if entry[0] != scan.source)
    return replace(state, last=(*others, (scan.source, text, scan.at.isoformat(), kept)))
