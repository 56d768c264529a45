"""Station modes as a state machine: scans in, reactions (events, prints, refusals) out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from labels.identity import Kind, make_id
from scanner_agent.config import AgentConfig
from scanner_agent.inputs.base import Scan
from scanner_agent.stations import CallResult, Outcome, Reaction, Station, StationState, Verdict

BADGE, OTHER = make_id(Kind.PERSON, "00000001"), make_id(Kind.PERSON, "00000002")
BOX, BOX2 = make_id(Kind.SPECIMEN_BOX, "00000001"), make_id(Kind.SPECIMEN_BOX, "00000002")
TRAY, PACK = make_id(Kind.INSTRUMENT_SET, "00000001"), make_id(Kind.PACK, "00000001")
MACHINE, CYCLE = make_id(Kind.MACHINE, "00000001"), make_id(Kind.CYCLE, "00000001")
TRAY2 = make_id(Kind.INSTRUMENT_SET, "00000002")
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _station(mode: str, **station: Any) -> Station:
    config = AgentConfig(
        site="T01",
        server_url="http://127.0.0.1:1",
        device_token="token",
        inputs=[{"kind": "stdin"}],
        station={"mode": mode, **station},
        printer={"url": "tcp://127.0.0.1:9", "refusal": "beep"},
        _env_file=None,
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
    prepare, event = sealed.events  # filled and sealed here: a valid sequence on its own
    assert (prepare["type"], prepare["item"], prepare["details"]) == (
        "prepare", BOX, {"count": 12},
    )  # fmt: skip
    assert (event["type"], event["item"], event["details"]) == (
        "seal", BOX, {"seal": "S-004512", "count": 12},
    )  # fmt: skip
    assert prepare["event_id"] != event["event_id"]
    (label,) = sealed.prints
    assert label.kind == "box_label"
    assert (label.facts["box_id"], label.facts["count"], label.facts["destination"]) == (
        BOX, 12, "LAB",
    )  # fmt: skip
    assert [e["type"] for e in scan(TRAY).events] == ["return_used"]


def _asks(reaction: Reaction) -> tuple[str, str, Any]:
    assert reaction.verdict == Verdict.ASKING and reaction.events == (), reaction
    assert reaction.call is not None and reaction.call.badge == BADGE
    return reaction.call.method, reaction.call.path, reaction.call.body


def test_cssd_steps_ask_the_cssd_api() -> None:
    scan = Run(_station("cssd", destination="T01", wash_program="quick", cooling_minutes=40))
    scan(BADGE)
    assert _asks(scan(TRAY)) == ("POST", "/cssd/receipts", {"set": TRAY})
    scan("STEP:WASH")
    assert scan(TRAY).message == "1 item(s); then the washer's barcode"
    assert "step wash takes an instrument set or a machine" in scan(PACK).message
    assert _asks(scan(MACHINE)) == (
        "POST", "/cssd/washes", {"washer": MACHINE, "program": "quick", "sets": [TRAY]},
    )  # fmt: skip
    scan("STEP:WASHED")
    assert _asks(scan(CYCLE)) == ("POST", f"/cssd/washes/{CYCLE}/finish", {"passed": True})
    scan("STEP:INSPECT")
    assert _asks(scan(TRAY)) == ("POST", f"/cssd/sets/{TRAY}/inspection", {"passed": True})
    scan("STEP:PACK")
    scan(TRAY)
    assert "one set at a time" in scan(TRAY2).message
    packing = scan(OTHER)
    assert _asks(packing) == ("POST", "/cssd/packs", {"set": TRAY, "checker": OTHER})
    assert packing.call is not None and packing.call.pack_label and packing.prints == ()
    scan("STEP:LOAD")
    assert (
        scan(PACK).message == f"{PACK}: scan the load card first (or a sterilizer, to open a load)"
    )
    opening = scan(MACHINE)
    assert _asks(opening)[:2] == ("POST", "/cssd/loads")
    assert scan(CYCLE).state.cycle == CYCLE
    assert _asks(scan(PACK)) == ("POST", f"/cssd/loads/{CYCLE}/packs", {"pack": PACK})
    assert _asks(scan("CMD:START")) == ("POST", f"/cssd/loads/{CYCLE}/start", None)
    scan("STEP:UNLOAD")
    assert "at the unload step, after the load card" in scan("CI:PASS").message
    scan(CYCLE)
    assert scan(PACK).message == "1 item(s); wet; then CI:PASS or CI:FAIL"
    assert _asks(scan("CI:FAIL")) == (
        "POST", f"/cssd/loads/{CYCLE}/unload",
        {"cooling_minutes": 40, "chemical_indicator_passed": False, "wet_packs": [PACK]},
    )  # fmt: skip
    scan("STEP:RELEASE")
    assert _asks(scan(CYCLE)) == ("POST", f"/cssd/loads/{CYCLE}/release", {})
    scan("STEP:STORE")
    assert _asks(scan(PACK)) == ("POST", "/cssd/storage", {"packs": [PACK]})
    scan("STEP:DISPATCH")
    scan(PACK)
    assert _asks(scan(OTHER)) == (
        "POST", "/cssd/dispatches", {"packs": [PACK], "courier": OTHER, "destination": "T01"},
    )  # fmt: skip


def test_a_cssd_answer_settles_the_scan() -> None:
    station = _station("cssd", step="pack")
    scan = Run(station)
    scan(BADGE)
    scan(TRAY)
    before = scan.state
    closing = Scan(OTHER, "s", at=scan.clock + timedelta(seconds=1))
    asked = station.handle(before, closing)
    pack = {
        "barcode": PACK, "set": TRAY, "set_name_zh": "换药包", "set_name_en": "Dressing set",
        "packer": BADGE, "packaging_material": "nonwoven", "packed_at": "2026-12-02T08:00:05Z",
        "destination": "T01", "load": None, "sterilizer": None, "sterilized_on": None,
        "expires_on": "2027-05-31",
    }  # fmt: skip
    done = station.settle(before, closing, asked, CallResult(Outcome.DONE, 201, pack))
    assert done.verdict == Verdict.RECORDED and done.state.items == ()
    assert done.message == f"packed {PACK} from {TRAY}, expires 2027-05-31; label printing"
    (label,) = done.prints
    assert (label.kind, label.facts["pack_id"], label.facts["expires_on"]) == (
        "pack_label", PACK, "2027-05-31",
    )  # fmt: skip
    assert label.facts["set_name"] == "换药包" and label.facts["packaging"] == "nonwoven"
    refused = CallResult(
        Outcome.REFUSED, 409, {"detail": "the set is not inspected", "detail_zh": "未检查"}
    )
    no = station.settle(before, closing, asked, refused)
    assert no.verdict == Verdict.REFUSED and no.state.items == (TRAY,)  # as before the scan
    assert no.message == f"pack {TRAY}: the server refuses: 未检查"
    assert [p.kind for p in no.prints] == ["refusal"]
    down = station.settle(
        before, closing, asked, CallResult(Outcome.UNREACHABLE, error="ConnectError: refused")
    )
    assert down.message == (
        "CSSD steps need the server; nothing was recorded — scan again when it is back "
        "(ConnectError: refused)"
    )
    again = station.handle(down.state, Scan(OTHER, "s", at=closing.at + timedelta(seconds=1)))
    assert again.verdict == Verdict.ASKING  # not a double read: the first one was refused
    unknown = station.settle(
        before, closing, asked, CallResult(Outcome.UNKNOWN, error="ReadTimeout")
    )
    assert "it may have been recorded — check on the server" in unknown.message


def test_opening_a_wash_or_a_load_prints_its_card_from_the_server_s_answer() -> None:
    station = _station("cssd", step="load")
    scan = Run(station)
    scan(BADGE)
    before = scan.state
    opening = Scan(MACHINE, "s", at=scan.clock + timedelta(seconds=1))
    asked = station.handle(before, opening)
    assert asked.call is not None and asked.call.cycle_card and asked.prints == ()
    load = {"barcode": CYCLE, "number": "L20261202-01", "kind": "sterilization",
            "machine": "ST1", "program": "134C", "items": []}  # fmt: skip
    done = station.settle(before, opening, asked, CallResult(Outcome.DONE, 201, load))
    (card,) = done.prints
    assert card.kind == "cycle_card" and done.state.cycle == CYCLE
    assert (card.facts["cycle_id"], card.facts["wash"], card.facts["operator"]) == (
        CYCLE, False, BADGE,
    )  # fmt: skip
    failed = station.settle(before, opening, asked, CallResult(Outcome.REFUSED, 409, {}))
    assert [p.kind for p in failed.prints] == ["refusal"]  # no card for a load never opened


def test_a_cssd_station_needs_a_destination_to_dispatch() -> None:
    scan = Run(_station("cssd", step="dispatch"))
    scan(BADGE)
    scan(PACK)
    refused = scan(OTHER)
    assert refused.verdict == Verdict.REFUSED and refused.call is None
    assert "dispatch needs [station] destination" in refused.message


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
        "unload, release, store, dispatch, reprint"
    )
    assert _station("courier").check() is None


@pytest.mark.parametrize("mode", ["inventory", "lab_receipt", "clinic_dispatch", "cssd", "courier"])
def test_no_mode_crashes_on_any_kind_of_code(mode: str) -> None:
    scan = Run(_station(mode))
    codes = [BADGE, BOX, TRAY, PACK, MACHINE, CYCLE, OTHER, "S-1234", "COUNT:3", "CMD:CANCEL",
             "STEP:PACK", "STEP:DISPATCH", "STEP:LOAD", "CMD:START", "STEP:UNLOAD", "CI:PASS",
             "CMD:FOO", "", "\x00", "x" * 300]  # fmt: skip
    codes += [BADGE, OTHER]
    for code in codes * 2:
        before = scan.state
        reaction = scan(code)
        assert reaction.message
        assert all(event["item"] in (BOX, TRAY, PACK) for event in reaction.events)
        if reaction.call is not None:  # every kind of outcome settles, too
            at = Scan(code, "s", at=scan.clock)
            for outcome in Outcome:
                result = CallResult(outcome, answer={"detail": "no"})
                assert scan.station.settle(before, at, reaction, result).message
