"""Station modes as a state machine: scans in, reactions (events, prints, refusals) out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from labels.identity import Kind, make_id
from scanner_agent.config import AgentConfig
from scanner_agent.inputs.base import Scan
from scanner_agent.stations import Reaction, Station, StationState, Verdict

BADGE, OTHER = make_id(Kind.PERSON, "00000001"), make_id(Kind.PERSON, "00000002")
BOX, BOX2 = make_id(Kind.SPECIMEN_BOX, "00000001"), make_id(Kind.SPECIMEN_BOX, "00000002")
TRAY, PACK = make_id(Kind.INSTRUMENT_SET, "00000001"), make_id(Kind.PACK, "00000001")
MACHINE = make_id(Kind.MACHINE, "00000001")
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _station(mode: str, **station: Any) -> Station:
    config = AgentConfig(
        site="T01",
        server_url="http://127.0.0.1:1",
        device_token="token",
        inputs=[{"kind": "stdin"}],
        station={"mode": mode, **station},
        printer={"url": "tcp://127.0.0.1:9", "refusal": "beep"},
        _env_file=None,  # type: ignore[call-arg]
    )
    return Station(config)


class Run:
    """Feed scans one second apart, keeping the state like the runner does."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.state = station.initial()
        self.clock = T0

    def __call__(self, text: str, *, source: str = "s", typed: bool = False) -> Reaction:
        self.clock += timedelta(seconds=1)
        reaction = self.station.handle(self.state, Scan(text, source, at=self.clock, typed=typed))
        self.state = reaction.state
        return reaction


def test_inventory_observes_items_and_refuses_other_kinds() -> None:
    scan = Run(_station("inventory"))
    seen = scan(BOX)
    assert seen.verdict == Verdict.RECORDED
    (event,) = seen.events
    assert (event["type"], event["item"], event["actor"], event["site"]) == (
        "observed", BOX, None, "T01",
    )  # fmt: skip
    refused = scan(MACHINE)
    assert refused.verdict == Verdict.REFUSED and refused.events == ()
    assert "is a machine, expected" in refused.message
    assert [p.kind for p in refused.prints] == ["refusal"]


def test_misread_and_gs1_codes_are_refused_with_the_reason() -> None:
    scan = Run(_station("inventory"))
    assert "check character is wrong" in scan(BOX[:-1] + ("0" if BOX[-1] != "0" else "1")).message
    assert "manufacturer (GS1) code" in scan("]C1010950110153000317261231").message


def test_lab_receipt_needs_a_badge_and_refuses_a_badge_where_a_box_belongs() -> None:
    scan = Run(_station("lab_receipt"))
    assert scan(BOX).message == "scan your badge first"
    assert scan(BADGE).verdict == Verdict.SIGNED_IN
    received = scan(BOX)
    assert [(e["type"], e["actor"]) for e in received.events] == [("receive", BADGE)]
    wrong = scan(OTHER)
    assert wrong.verdict == Verdict.REFUSED
    assert wrong.message.startswith("a staff badge: expected a specimen box")
    assert scan(TRAY).message == f"{TRAY} is an instrument set, expected a specimen box"
    assert scan(BADGE).verdict == Verdict.SIGNED_OUT


def test_a_double_read_is_taken_once_per_input() -> None:
    scan = Run(_station("lab_receipt", repeat_seconds=5))
    scan(BADGE)
    assert len(scan(BOX).events) == 1
    again = scan(BOX)
    assert again.verdict == Verdict.REPEAT and again.events == ()
    assert len(scan(BOX, source="other scanner").events) == 1  # another input: a new scan
    scan.clock += timedelta(seconds=10)
    assert len(scan(BOX).events) == 1  # long after: a real second scan


def test_a_refused_code_scanned_again_is_refused_again() -> None:
    scan = Run(_station("inventory"))
    assert scan("BX123").verdict == Verdict.REFUSED
    assert scan("BX123").verdict == Verdict.REFUSED


def test_courier_handoff_badge_items_counterparty() -> None:
    scan = Run(_station("courier", step="handoff"))
    scan(BADGE)
    assert scan(OTHER).message == "a staff badge: scan the items first, then the other person"
    assert scan(BOX).verdict == Verdict.ADDED
    assert scan(PACK).message == "2 item(s); then the other person's badge"
    assert scan(BOX).message == "already in the list"
    assert "2 item(s) wait for" in scan(BADGE).message  # own badge: cannot close
    closed = scan(OTHER)
    assert closed.verdict == Verdict.RECORDED
    assert [(e["type"], e["item"], e["actor"], e["counterparty"]) for e in closed.events] == [
        ("handoff", BOX, BADGE, OTHER),
        ("handoff", PACK, BADGE, OTHER),
    ]
    assert closed.state.items == ()
    assert scan("STEP:DELIVER").state.step == "deliver"
    assert scan("STEP:WASH").verdict == Verdict.REFUSED


def test_pending_items_survive_a_restart_through_the_json_state() -> None:
    scan = Run(_station("courier", step="pickup"))
    scan(BADGE)
    scan(BOX)
    restored = StationState.from_json(scan.state.to_json())
    assert restored == scan.state
    reaction = scan.station.handle(restored, Scan(OTHER, "s", at=T0 + timedelta(minutes=1)))
    assert [e["type"] for e in reaction.events] == ["pickup"]


def test_clinic_dispatch_seals_a_box_and_prints_its_label() -> None:
    scan = Run(_station("clinic_dispatch", destination="LAB"))
    scan(BADGE)
    assert scan("S-004512").message == "a seal tag: scan the box first, then its seal"
    assert scan(BOX).message == "now scan its seal tag"
    assert "waits for its seal tag" in scan(BOX2).message
    assert scan("COUNT:12").verdict == Verdict.ADDED
    sealed = scan("S-004512")
    (event,) = sealed.events
    assert (event["type"], event["item"], event["details"]) == (
        "seal", BOX, {"seal": "S-004512", "count": 12},
    )  # fmt: skip
    (label,) = sealed.prints
    assert label.kind == "box_label"
    assert (label.facts["box_id"], label.facts["count"], label.facts["destination"]) == (
        BOX, 12, "LAB",
    )  # fmt: skip
    assert [e["type"] for e in scan(TRAY).events] == ["return_used"]


def test_cssd_steps_kinds_and_packing_with_a_checker() -> None:
    scan = Run(_station("cssd", step="wash"))
    scan(BADGE)
    assert [e["type"] for e in scan(TRAY).events] == ["wash_start"]
    assert "step wash takes an instrument set" in scan(PACK).message
    scan("STEP:PACK")
    assert scan(TRAY).verdict == Verdict.ADDED
    packed = scan(OTHER)
    (event,) = packed.events
    assert (event["type"], event["counterparty"]) == ("pack", OTHER)
    (label,) = packed.prints
    assert label.kind == "pack_label"
    assert label.facts["pack_id"] == event["details"]["pack"]
    assert label.facts["pack_id"].startswith("PK")
    scan("STEP:RELEASE")
    assert [e["type"] for e in scan(PACK).events] == ["release"]


def test_typed_input_is_tidied_but_scanned_input_is_not() -> None:
    scan = Run(_station("inventory"))
    lower = BOX.lower()
    assert scan(lower, typed=True).verdict == Verdict.RECORDED
    assert scan(lower).verdict == Verdict.REFUSED


def test_input_problems_are_refusals_with_that_reason() -> None:
    station = _station("inventory")
    reaction = station.handle(station.initial(), Scan("BX12", "s", problem="frame cut off"))
    assert (reaction.verdict, reaction.message) == (Verdict.REFUSED, "frame cut off")


def test_a_bad_configured_step_is_reported() -> None:
    assert _station("cssd", step="polish").check() == (
        "station.step 'polish' is not a CSSD step: receive, wash, washed, inspect, pack, load, "
        "unload, release, store, dispatch"
    )
    assert _station("courier").check() is None


@pytest.mark.parametrize("mode", ["inventory", "lab_receipt", "clinic_dispatch", "cssd", "courier"])
def test_no_mode_crashes_on_any_kind_of_code(mode: str) -> None:
    scan = Run(_station(mode))
    codes = [BADGE, BOX, TRAY, PACK, MACHINE, OTHER, "S-1234", "COUNT:3", "CMD:CANCEL",
             "STEP:PACK", "STEP:DISPATCH", "CMD:FOO", "", "\x00", "x" * 300]  # fmt: skip
    codes += [BADGE, OTHER]
    for code in codes * 2:
        reaction = scan(code)
        assert reaction.message
        assert all(event["item"] in (BOX, TRAY, PACK) for event in reaction.events)
