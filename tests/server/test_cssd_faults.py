"""The fault cases of research/cssd.md (c), each with the tests that show its expected behaviour.

``test_cN_…`` are in this file; ``dir/file.py::name`` are elsewhere under tests/. A test marked
xfail(strict=True) states a behaviour the product does not have yet: it fails once it does.
Every database test runs on SQLite and PostgreSQL.

 1  Recalled pack at issue, clinic receipt or use: refused, recall named; a pack used before
    the recall puts its patient on the recall's list.
    - server/test_cssd.py::test_a_failed_biological_indicator_recalls_since_the_last_pass
    - test_c1_a_recalled_pack_is_refused_at_clinic_receipt_and_use_with_the_recall
    - test_c20_a_use_scanned_offline_before_the_recall_is_kept_flagged_and_exposed
 2  Positive BI after release: every pack of every load since the last passed BI recalled,
    sites told where the packs are, sterilizer out of service until three BIs pass.
    - server/test_cssd.py::test_a_failed_biological_indicator_recalls_since_the_last_pass
 3  Implant load with its BI pending: no release (so no issue) without an emergency release
    (Type 5 indicator, approver, reason).
    - server/test_cssd.py::test_an_implant_load_waits_for_its_biological_indicator
    - test_c3_the_bi_of_an_emergency_release_is_sent_where_its_packs_are (pass and fail)
    - test_c3_a_bi_without_an_emergency_release_tells_no_clinic
 4  Expired pack: refused at issue, flagged at use; expiry = last valid day, Asia/Shanghai.
    - server/test_cssd.py::test_expired_pack_is_refused_at_dispatch
    - server/test_cssd.py::test_a_recalled_pack_scanned_for_use_is_stored_and_flagged
      (despite its name, a use scan of an expired pack: flagged pack_expired)
    - server/test_cssd.py::test_the_whole_loop_from_clinic_to_patient (sterilized + 179 days)
    - test_c4_the_last_valid_day_ends_at_midnight_in_the_consortium_s_zone
    "Send to reprocess": see 23.
 5  Unknown material or textile without storage condition: no expiry; none typed in.
    - server/test_cssd.py::test_textile_packs_need_the_storage_condition
    - labels/test_label_cli.py::test_bad_input_gives_one_clear_message (no --expires;
      textile without --storage)
    - test_c5_expiry_is_never_typed_in_nor_guessed_from_an_unknown_material
 6  Duplicate or doubled scan: stored once; a concatenated code refused.
    - server/test_ingest.py::TestIdempotency::test_the_same_batch_twice_is_stored_once
    - server/test_ingest.py::TestIdempotency::test_a_repeat_inside_one_batch_is_a_duplicate
    - server/test_specimen_faults.py::test_f2_a_doubled_barcode_is_rejected
    - agent/test_stations.py::test_a_double_read_is_taken_once_per_input (a double trigger
      makes two event IDs: the agent, not the server, takes it once)
    - agent/test_process.py::test_noise_truncation_and_double_sends_are_refused_or_deduplicated
    - test_c6_a_pack_scanned_twice_is_one_event_and_a_doubled_code_is_refused
 7  Pack at a clinic it was not issued to: custody does not move there; both sites named.
    - test_c7_a_pack_for_another_clinic_is_not_received_here (the API command)
    - test_c7_a_delivery_scanned_at_the_wrong_clinic_is_stored_and_flagged
    Not built: a transfer record between clinics (the refusal sends the pack on).
 8  Out-of-sequence step (loaded without a packing record, issued without release): the
    command is refused with the missing step; a scan of it is stored and flagged.
    - test_c8_steps_out_of_order_are_refused_with_the_missing_step
    - server/test_ingest.py::TestFlagged::test_out_of_sequence_is_stored_and_flagged_with_a_reason
    - server/test_cssd.py::test_a_count_discrepancy_holds_the_set (a held set is not washed)
 9  No passed Bowie-Dick today, or sterilizer out of service / requalifying: no load starts.
    - server/test_cssd.py::test_bowie_dick_gates_the_first_load_of_the_day
    - test_c9_a_requalifying_sterilizer_starts_no_load
10  Cycle failed, cut off or with an incomplete record: load failed, never released.
    - test_c10_a_cycle_that_failed_or_was_cut_off_is_never_released
    - test_c10_a_cycle_record_without_all_its_parameters_is_not_a_pass
    Whether 131 °C or a short hold is out of range is the sterilizer's (the operator's
    "passed"): loads have a free-text program, no limits, no machine integration.
11  Outer CI fail, wet pack, inner CI fail at use: not issued, not used, reason recorded.
    - server/test_cssd.py::test_wet_packs_and_a_failed_indicator
    - test_c11_a_wet_pack_or_a_failed_inner_indicator_keeps_the_pack_from_use
12  Unknown or malformed code (truncated, misread, stray CR, lowercase, never issued, GS1):
    refused with the reason, nothing created.
    - server/test_ingest.py::TestRejected::test_wrong_check_character
    - server/test_ingest.py::TestRejected::test_unknown_barcode
    - labels/test_identity.py::test_rejections, ::test_every_single_substitution_is_rejected
    - labels/test_gs1.py::test_rejections, ::test_gs_dropped_and_ambiguous
    - server/test_cssd.py::test_gs1_codes_link_to_one_set (a GS1 check digit)
    - agent/test_framing.py::test_unprintable_bytes_are_reported_with_their_position
    - agent/test_hid.py::test_layout_maps_keycodes_differently
    - test_c12_malformed_and_unknown_pack_codes_are_refused_and_create_nothing
13  Code of the wrong kind for the step (badge, sterilizer, set where a pack belongs):
    refused by its prefix, nothing recorded.
    - server/test_ingest.py::TestRejected::test_wrong_kind_badge_where_an_item_is_expected
    - agent/test_stations.py::test_inventory_observes_items_and_refuses_other_kinds
    - agent/test_stations.py::test_lab_receipt_needs_a_badge_and_refuses_a_badge_where_a_box_belongs
    - test_c13_a_code_of_the_wrong_kind_is_named_and_nothing_is_recorded
14  A pack in two loads, or added to a running load: refused.
    - server/test_cssd.py::test_a_pack_is_in_one_open_load_and_none_after_start
15  Count discrepancy: set held, discrepancy recorded, clinic told, documented release.
    - server/test_cssd.py::test_a_count_discrepancy_holds_the_set
    - test_c15_the_clinic_is_told_of_a_count_discrepancy
16  Special-pathogen set: dedicated path only.
    - server/test_cssd.py::test_a_special_pathogen_set_needs_the_dedicated_washer
    - test_c16_a_special_pathogen_marked_at_the_clinic_survives_a_receipt_without_it
    Not built: the clinic is not made to answer the question at every hand-back (a scan
    that leaves it out is taken as "no").
17  Loaner set untested: not processed until its parameters and first-use test are recorded.
    - server/test_cssd.py::test_a_loaner_set_needs_its_first_use_test
    - server/test_cssd.py::test_an_implant_load_waits_for_its_biological_indicator (BI for
      every implant load)
18  Label reprint: the same pack and label data (from the pack record, never re-entered),
    the reprint counted and audited.
    - test_c18_a_reprinted_label_is_the_same_pack_counted_and_audited
    - agent/test_cssd_station.py::test_a_set_from_receipt_to_dispatch_through_the_station
      (STEP:REPRINT at the station: printed again from the record, decoded back, counted)
    - agent/test_printing.py::test_packing_prints_the_server_s_pack_record
    - labels/test_label_printing.py::test_offline_printer_fails_the_job_and_resend_is_explicit
      (a job sent again sends the same bytes)
19  Printer failure or unknown acknowledgement: job failed or unconfirmed, never resent behind
    anyone's back; Chinese in GB18030; unambiguous dates.
    - labels/test_label_printing.py::test_offline_printer_fails_the_job_and_resend_is_explicit
    - labels/test_label_printing.py::test_connection_lost_midway_is_unconfirmed
    - labels/test_label_printing.py::test_status_confirmation
    - labels/test_label_printing.py::test_native_route_sends_chinese_in_gb18030_after_kanji_mode
    - agent/test_printing.py::test_an_offline_printer_fails_the_job_not_the_station
    - agent/test_printing.py::test_a_job_cut_off_by_a_crash_is_unconfirmed_not_resent
    - labels/test_gs1.py::test_expiry_day_00_means_end_of_month
    - labels/test_label_layouts.py::test_pack_label_shows_every_required_field (ISO dates)
20  Offline scans synced late: judged again by the server; a pack recalled or expired
    meanwhile keeps the scan, flagged; a use joins the recall's exposed-patient list.
    - agent/test_process.py::test_backlog_drains_when_the_server_comes_back
    - server/test_ingest.py::TestLateAndSkewedDevices::
      test_a_late_offline_scan_takes_its_place_in_the_history
    - server/test_cssd.py::test_a_recalled_pack_scanned_for_use_is_stored_and_flagged (expired)
    - test_c20_a_use_scanned_offline_before_the_recall_is_kept_flagged_and_exposed
21  Device clock wrong: device and server time kept; far future refused, skew flagged; expiry
    in one zone.
    - server/test_ingest.py::TestLateAndSkewedDevices::
      test_a_device_clock_off_by_more_than_the_tolerance_is_flagged
    - server/test_ingest.py::TestFlagged::test_small_clock_skew_is_flagged_not_refused
    - server/test_ingest.py::TestRejected::test_timestamp_far_in_the_future
    - server/test_specimen_faults.py::test_f19_implausible_timestamps
    - test_c4_the_last_valid_day_ends_at_midnight_in_the_consortium_s_zone
22  Correction or delete: nothing hard-deleted; changes need permission and are audited.
    - test_c22_nothing_is_deleted_and_retiring_a_pack_is_audited
    - server/test_tamper.py::TestAppendOnlyTrigger::test_postgres_refuses_changes_to_events
    - server/test_tamper.py::TestVerify::test_a_deleted_row_is_named
    - server/test_security.py::test_every_administrative_change_leaves_an_audit_record
    - test_c22_a_wrong_operator_is_corrected_with_a_reason_and_audited (a correction event
      with before, after and reason; audited; the corrected event unchanged)
    Not built: correcting a wrong load (a pack is taken out of a load that has not started
    with the existing command; a started load is not re-assigned).
23  Pack compromised in storage or transport: out of use whatever its expiry; reprocessed.
    - test_c23_a_compromised_pack_is_out_of_use_whatever_its_expiry
    - test_c23_the_set_of_a_compromised_pack_goes_back_to_washing (received again at the CSSD)
    - test_c23_a_pack_compromised_at_the_clinic_sends_its_set_back_by_courier
    - test_c23_a_set_in_a_usable_pack_is_not_taken_back
24  Issued set not back in time: listed, and one alert to its clinic and the dispatchers.
    - server/test_cssd.py::test_sets_not_back_in_time_are_overdue
    - test_c24_an_overdue_set_raises_one_alert_to_its_clinic
    - test_c24_a_set_not_back_in_time_is_listed_until_it_is_received
25  Specimen side: server/test_specimen_faults.py (research/specimen.md §7).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from labels.identity import Kind, new_id
from server.config import Settings
from server.deps import get_now
from server.models import AuditRecord, CustodyEvent, Notification, Pack, Site, utc_now
from tests.server.test_cssd import Cssd
from tests.support.helpers import World, device_auth, login, scan


@pytest.fixture
def cssd(client: TestClient, world: World) -> Cssd:
    helper = Cssd(client, world)
    helper.setup()
    helper.bowie_dick()
    return helper


def send(
    client: TestClient, world: World, site: str, *events: dict[str, Any]
) -> tuple[int, list[dict[str, Any]]]:
    response = client.post(
        "/api/v1/events", json={"events": list(events)}, headers=device_auth(world, site)
    )
    return response.status_code, response.json()["results"]


def events(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one()


def stored(cssd: Cssd, *packs: str) -> str:
    """The packs sterilized in one load, released and shelved; returns the load."""
    load = cssd.released(*packs)
    cssd.call("POST", "/storage", {"packs": list(packs)})
    return load


def chain(cssd: Cssd, code: str) -> list[dict[str, Any]]:
    response = cssd.client.get(f"/api/v1/items/{code}/custody", headers=cssd.staff)
    assert response.status_code == 200, response.text
    return cast(list[dict[str, Any]], response.json()["events"])


def fail_bi(cssd: Cssd) -> str:
    """A positive biological indicator on ST1: returns the recall it starts."""
    failed = cssd.call(
        "POST", "/machines/ST1/tests", {"kind": "biological_indicator", "passed": False}, expect=201
    )
    return cast(str, failed["recall"])


def dispatch(cssd: Cssd, *packs: str, destination: str = "T01", expect: int = 200) -> Any:
    body = {
        "packs": list(packs),
        "courier": cssd.world.badges["courier"],
        "destination": destination,
    }
    return cssd.call("POST", "/dispatches", body, expect=expect)


# --- 1, 20: recalled packs --------------------------------------------------------------------


def test_c1_a_recalled_pack_is_refused_at_clinic_receipt_and_use_with_the_recall(
    cssd: Cssd,
) -> None:
    travelling, shelved = cssd.pack(), cssd.pack()
    stored(cssd, travelling, shelved)
    cssd.to_clinic(shelved)
    dispatch(cssd, travelling)
    recall = fail_bi(cssd)
    courier = cssd.world.badges["courier"]
    body = {"packs": [travelling], "courier": courier}
    received = cssd.call("POST", "/deliveries", body, who=cssd.clinic, expect=409)
    assert received["codes"] == ["pack_recalled"]
    assert recall in received["detail"] and "已召回" in received["detail_zh"]
    assert "禁止使用" in received["detail_zh"]
    used = cssd.call(
        "POST", f"/packs/{shelved}/use", {"patient_ref": "ZY-1"}, who=cssd.clinic, expect=409
    )
    assert used["codes"] == ["pack_recalled"] and recall in used["detail_zh"]
    assert [e["type"] for e in chain(cssd, travelling)][-1] == "recall"  # nothing written
    assert cssd.call("GET", f"/packs/{shelved}")["patient_ref"] is None


def test_c20_a_use_scanned_offline_before_the_recall_is_kept_flagged_and_exposed(
    cssd: Cssd, client: TestClient, world: World
) -> None:
    pack = cssd.pack()
    stored(cssd, pack)
    cssd.to_clinic(pack)
    opened = utc_now()  # the clinic's agent is offline: the scan waits in its outbox
    recall = fail_bi(cssd)
    status, results = send(
        client,
        world,
        "T01",
        scan("use", pack, actor=world.badges["clinic_staff"], patient_ref="MZ-9", at=opened),
    )
    assert status == 200
    assert results[0]["status"] == "flagged" and results[0]["code"] == "pack_recalled"
    assert recall in results[0]["reason"]
    report = {line["pack"]: line for line in cssd.call("GET", f"/recalls/{recall}")["packs"]}
    assert report[pack]["patient_ref"] == "MZ-9"  # on the exposed-patient list
    assert [e["type"] for e in chain(cssd, pack)][-2:] == ["recall", "use"]  # as received
    assert cssd.call("GET", f"/packs/{pack}")["state"] == "recalled"  # used before the recall


# --- 4, 5: expiry --------------------------------------------------------------------------


def test_c4_the_last_valid_day_ends_at_midnight_in_the_consortium_s_zone(
    cssd: Cssd, client: TestClient, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    on_time, late = cssd.pack(), cssd.pack()
    stored(cssd, on_time, late)
    last_day = utc_now().astimezone(settings.zone).date() + timedelta(days=1)
    with session_factory.begin() as session:
        session.execute(update(Pack).values(expires_on=last_day))

    def at(moment: datetime) -> None:
        client.app.dependency_overrides[get_now] = lambda: moment  # type: ignore[attr-defined]
        cssd.staff = login(client, "cssd_staff")

    at(datetime.combine(last_day, time(23, 30), settings.zone))
    assert dispatch(cssd, on_time)[0]["state"] == "in_transit_clean"
    after_midnight = datetime.combine(last_day + timedelta(days=1), time(0, 30), settings.zone)
    assert after_midnight.astimezone(UTC).date() == last_day  # still the last day in UTC
    at(after_midnight)
    refused = dispatch(cssd, late, expect=409)
    assert refused["codes"] == ["pack_expired"] and str(last_day) in refused["detail"]


def test_c5_expiry_is_never_typed_in_nor_guessed_from_an_unknown_material(
    cssd: Cssd, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    tray = cssd.new_set()
    cssd.used_set_arrives(tray)
    cycle = cssd.call(
        "POST", "/washes", {"washer": "WD1", "program": "p", "sets": [tray]}, expect=201
    )
    cssd.call("POST", f"/washes/{cycle['number']}/finish", {"passed": True})
    cssd.call("POST", f"/sets/{tray}/inspection", {"passed": True})
    body = {"set": tray, "checker": cssd.world.badges["cssd2"]}
    before = events(session_factory)
    foil = cssd.call("POST", "/packs", {**body, "packaging_material": "foil"}, expect=422)
    assert "packaging_material" in foil["detail"]
    typed = cssd.call("POST", "/packs", {**body, "expires_on": "2099-12-31"}, expect=422)
    assert "expires_on" in typed["detail"]
    textile = cssd.call("POST", "/packs", {**body, "packaging_material": "textile"}, expect=409)
    assert textile["codes"] == ["storage_condition_required"]
    assert events(session_factory) == before
    assert cssd.call("GET", f"/sets/{tray}")["state"] == "inspected"  # nothing was packed
    packed = cssd.call("POST", "/packs", body, expect=201)  # nonwoven, from the template
    today = utc_now().astimezone(settings.zone).date()
    assert date.fromisoformat(packed["expires_on"]) == today + timedelta(days=179)


# --- 6, 12, 13: duplicate, malformed and wrong-kind codes --------------------------------------


def test_c6_a_pack_scanned_twice_is_one_event_and_a_doubled_code_is_refused(
    cssd: Cssd, client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    pack = cssd.pack()
    stored(cssd, pack)
    cssd.to_clinic(pack)
    use = scan("use", pack, actor=world.badges["clinic_staff"], patient_ref="P-6")
    _, first = send(client, world, "T01", use)
    _, again = send(client, world, "T01", use)  # the scanner re-sent it
    assert first[0]["status"] == "accepted" and again[0]["status"] == "duplicate"
    assert again[0]["position"] == first[0]["position"]
    assert [e["type"] for e in chain(cssd, pack)].count("use") == 1
    other = cssd.pack()
    number = cssd.load(start=False)
    before = events(session_factory)
    doubled = cssd.call("POST", f"/loads/{number}/packs", {"pack": other + other}, expect=400)
    assert "22 characters long" in doubled["detail"]
    cssd.call("POST", f"/loads/{number}/packs", {"pack": other})
    again_added = cssd.call("POST", f"/loads/{number}/packs", {"pack": other}, expect=409)
    assert again_added["codes"] == ["out_of_sequence"]
    assert cssd.call("GET", f"/loads/{number}")["items"] == [other]
    assert events(session_factory) == before + 1


def test_c12_malformed_and_unknown_pack_codes_are_refused_and_create_nothing(
    cssd: Cssd, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    pack = cssd.pack()
    number = cssd.load(start=False)
    stranger = new_id(Kind.PACK)
    flipped = pack[:-1] + ("A" if pack[-1] != "A" else "B")
    before = events(session_factory)
    for code, status, words in (
        (pack[:7], 400, "7 characters long; a Handoff ID has exactly 11"),  # truncated
        (pack + "\r", 400, "12 characters long"),  # a stray CR from the scanner
        (flipped, 400, "check character is wrong"),  # misread
        ("pk" + pack[2:], 400, "lowercase"),  # caps lock, or typed by hand
        (stranger, 404, f"no item has the barcode {stranger}"),  # well formed, never issued
    ):
        refused = cssd.call("POST", f"/loads/{number}/packs", {"pack": code}, expect=status)
        assert words in refused["detail"], (code, refused)
    assert cssd.call("GET", f"/loads/{number}")["items"] == []
    assert events(session_factory) == before
    headers = login(client, "admin")
    assert client.get(f"/api/v1/items/{stranger}", headers=headers).status_code == 404


def test_c13_a_code_of_the_wrong_kind_is_named_and_nothing_is_recorded(
    cssd: Cssd, session_factory: sessionmaker[Session]
) -> None:
    pack = cssd.pack()
    stored(cssd, pack)
    tray = cssd.call("GET", f"/packs/{pack}")["set"]
    sterilizer = {m["code"]: m for m in cssd.call("GET", "/machines")}["ST1"]["barcode"]
    badge = cssd.world.badges["cssd2"]
    number = cssd.load(start=False)
    before = events(session_factory)
    at_issue = dispatch(cssd, sterilizer, expect=400)
    assert at_issue["detail"] == (
        f"{sterilizer} is a machine, expected a specimen box, an instrument set or a pack"
    )
    in_load = cssd.call("POST", f"/loads/{number}/packs", {"pack": badge}, expect=400)
    assert in_load["detail"].startswith(f"{badge} is a staff badge, expected")
    tray_in_load = cssd.call("POST", f"/loads/{number}/packs", {"pack": tray}, expect=400)
    assert tray_in_load["detail"] == f"{tray} is not a pack"
    courier = cssd.call(
        "POST",
        "/dispatches",
        {"packs": [pack], "courier": pack, "destination": "T01"},
        expect=400,
    )
    assert courier["detail"].startswith(f"{pack} is a pack, expected a staff badge")
    receipt = cssd.call("POST", "/receipts", {"set": pack}, expect=400)
    assert receipt["detail"] == f"{pack} is not an instrument set"
    assert events(session_factory) == before
    assert cssd.call("GET", f"/packs/{pack}")["state"] == "sterile_stored"


# --- 7, 8: wrong site, wrong order -------------------------------------------------------------


def test_c7_a_pack_for_another_clinic_is_not_received_here(
    cssd: Cssd, session_factory: sessionmaker[Session]
) -> None:
    pack = cssd.pack()
    stored(cssd, pack)
    dispatch(cssd, pack, destination="T02")
    before = events(session_factory)
    refused = cssd.call(
        "POST",
        "/deliveries",
        {"packs": [pack], "courier": cssd.world.badges["courier"]},
        who=cssd.clinic,  # works at T01
        expect=409,
    )
    assert refused["codes"] == ["pack_wrong_site"]
    assert "T02" in refused["detail_zh"] and "T01" in refused["detail_zh"]
    assert events(session_factory) == before
    moved = cssd.call("GET", f"/packs/{pack}")
    assert moved["state"] == "in_transit_clean" and moved["destination"] == "T02"


def test_c7_a_delivery_scanned_at_the_wrong_clinic_is_stored_and_flagged(
    cssd: Cssd, client: TestClient, world: World
) -> None:
    pack = cssd.pack()
    stored(cssd, pack)
    dispatch(cssd, pack, destination="T02")
    courier, staff = world.badges["courier"], world.badges["clinic_staff"]
    _, results = send(
        client, world, "T01", scan("deliver", pack, actor=courier, counterparty=staff)
    )
    assert results[0]["status"] == "flagged" and results[0]["code"] == "pack_wrong_site"


def test_c8_steps_out_of_order_are_refused_with_the_missing_step(
    cssd: Cssd, client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    number = cssd.load(start=False)
    unpacked = cssd.call("POST", f"/loads/{number}/packs", {"pack": world.pack}, expect=409)
    assert unpacked["codes"] == ["no_packing_record"]
    assert "包装" in unpacked["detail_zh"] and "packing record" in unpacked["detail"]
    waiting = cssd.pack()
    load = cssd.load(waiting)
    cssd.call(
        "POST", f"/loads/{load}/unload", {"cooling_minutes": 35, "chemical_indicator_passed": True}
    )
    before = events(session_factory)
    shelved = cssd.call("POST", "/storage", {"packs": [waiting]}, expect=409)
    assert shelved["codes"] == ["out_of_sequence"] and "放行" in shelved["detail_zh"]
    issued = dispatch(cssd, waiting, expect=409)
    assert issued["codes"] == ["pack_not_released"]
    assert "待放行" in issued["detail_zh"]
    courier = world.badges["courier"]
    received = cssd.call(
        "POST", "/deliveries", {"packs": [waiting], "courier": courier}, who=cssd.clinic, expect=409
    )
    assert received["codes"] == ["out_of_sequence"]
    assert events(session_factory) == before
    # The same step scanned at a station is a physical fact: stored, flagged, state unchanged.
    _, results = send(
        client,
        world,
        "CSSD",
        scan("dispatch", waiting, actor=world.badges["cssd_staff"], counterparty=courier),
    )
    assert results[0]["status"] == "flagged" and results[0]["code"] == "out_of_sequence"
    assert "expected: " in results[0]["reason"] and "release" in results[0]["reason"]
    assert cssd.call("GET", f"/packs/{waiting}")["state"] == "quarantine"


# --- 9, 10, 11: sterilizer, cycle and indicator failures ------------------------------------------


def test_c9_a_requalifying_sterilizer_starts_no_load(cssd: Cssd) -> None:
    number = cssd.load(cssd.pack(), start=False)
    fail_bi(cssd)
    passed = {"kind": "biological_indicator", "passed": True}
    assert cssd.call("POST", "/machines/ST1/tests", passed, expect=201)["machine"]["status"] == (
        "requalifying"
    )
    refused = cssd.call("POST", f"/loads/{number}/start", expect=409)
    assert refused["codes"] == ["machine_not_in_service"]
    assert "再确认中" in refused["detail_zh"]
    assert cssd.call("GET", f"/loads/{number}")["status"] == "building"


def test_c10_a_cycle_that_failed_or_was_cut_off_is_never_released(cssd: Cssd) -> None:
    pack = cssd.pack()
    number = cssd.load(pack, start=False)
    cssd.call("POST", f"/loads/{number}/start")
    failed = cssd.call(
        "POST",
        f"/loads/{number}/finish",
        {"passed": False, "temperature_c": 131.0, "hold_minutes": 1, "reason": "断电"},
    )
    assert failed["status"] == "failed" and failed["failure_reason"] == "断电"
    assert cssd.call("GET", f"/packs/{pack}")["state"] == "failed_load"
    release = cssd.call("POST", f"/loads/{number}/release", {}, expect=409)
    assert release["codes"] == ["load_not_unloaded"]
    unload = {"cooling_minutes": 35, "chemical_indicator_passed": True}
    assert cssd.call("POST", f"/loads/{number}/unload", unload, expect=409)["codes"] == [
        "load_not_unloaded"
    ]
    assert dispatch(cssd, pack, expect=409)["codes"] == ["pack_unusable"]


def test_c10_a_cycle_record_without_all_its_parameters_is_not_a_pass(cssd: Cssd) -> None:
    pack = cssd.pack()
    number = cssd.load(pack, start=False)
    cssd.call("POST", f"/loads/{number}/start")
    no_hold = {"passed": True, "temperature_c": 134.1, "pressure_kpa": 210}  # printout lost
    refused = cssd.call("POST", f"/loads/{number}/finish", no_hold, expect=409)
    assert refused["codes"] == ["parameters_incomplete"]
    assert "hold_minutes" in refused["detail"]
    assert cssd.call("GET", f"/loads/{number}")["status"] == "running"
    assert cssd.call("GET", f"/packs/{pack}")["state"] == "sterilizing"
    failed = cssd.call(
        "POST", f"/loads/{number}/finish", {**no_hold, "passed": False, "reason": "记录缺失"}
    )
    assert failed["status"] == "failed"
    assert cssd.call("POST", f"/loads/{number}/release", {}, expect=409)["codes"] == [
        "load_not_unloaded"
    ]


def test_c11_a_wet_pack_or_a_failed_inner_indicator_keeps_the_pack_from_use(
    cssd: Cssd, client: TestClient
) -> None:
    wet, dry = cssd.pack(), cssd.pack()
    number = cssd.load(wet, dry)
    cssd.call(
        "POST",
        f"/loads/{number}/unload",
        {"cooling_minutes": 35, "chemical_indicator_passed": True, "wet_packs": [wet]},
    )
    failed = chain(cssd, wet)[-1]
    assert failed["type"] == "load_fail" and failed["details"]["reason"] == "wet pack"
    cssd.call("POST", f"/loads/{number}/release", {})
    assert dispatch(cssd, wet, expect=409)["codes"] == ["pack_unusable"]
    cssd.call("POST", "/storage", {"packs": [dry]})
    cssd.to_clinic(dry)
    no_reason = client.post(
        f"/api/v1/cssd/packs/{dry}/compromised", json={"reason": ""}, headers=cssd.clinic
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    inner = cssd.call(
        "POST", f"/packs/{dry}/compromised", {"reason": "包内化学指示卡未变色"}, who=cssd.clinic
    )
    assert inner["state"] == "compromised"
    assert chain(cssd, dry)[-1]["details"]["reason"] == "包内化学指示卡未变色"
    use = cssd.call(
        "POST", f"/packs/{dry}/use", {"patient_ref": "P-11"}, who=cssd.clinic, expect=409
    )
    assert use["codes"] == ["pack_unusable"] and "包装受损" in use["detail_zh"]


def test_c16_a_special_pathogen_marked_at_the_clinic_survives_a_receipt_without_it(
    cssd: Cssd, client: TestClient, world: World
) -> None:
    tray = cssd.new_set()
    staff, courier = world.badges["clinic_staff"], world.badges["courier"]
    handed = [
        scan("return_used", tray, actor=staff, special_pathogen=True),
        scan("collect", tray, actor=courier, counterparty=staff),
    ]
    status, results = send(client, world, "T01", *handed)
    assert status == 200 and [r["status"] for r in results] == ["accepted", "accepted"]
    receipt = {"set": tray, "courier": courier, "counted": {"镊子": 2, "弯盘": 1}}
    assert cssd.call("POST", "/receipts", receipt)["special_pathogen"] is True  # not lost
    refused = cssd.call(
        "POST", "/washes", {"washer": "WD1", "program": "p", "sets": [tray]}, expect=409
    )
    assert refused["codes"] == ["special_pathogen_path"]


def test_c18_a_reprinted_label_is_the_same_pack_counted_and_audited(
    cssd: Cssd, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    pack = cssd.pack()
    stored(cssd, pack)
    before = cssd.call("GET", f"/packs/{pack}")
    assert before["label_prints"] == 0
    for _ in range(2):
        again = cssd.call("POST", f"/packs/{pack}/reprints")
    label = ("barcode", "set", "load", "sterilizer", "sterilized_on", "expires_on", "packed_at")
    assert {k: again[k] for k in label} == {k: before[k] for k in label}
    assert again["label_prints"] == 2
    with session_factory() as session:
        records = (
            session.execute(
                select(AuditRecord.details)
                .where(AuditRecord.action == "pack.reprint", AuditRecord.target_id == pack)
                .order_by(AuditRecord.id)
            )
            .scalars()
            .all()
        )
    assert [r["reprint"] for r in records] == [1, 2]
    assert {r["load"] for r in records} == {before["load"]}
    courier = login(client, "courier")
    cssd.call("POST", f"/packs/{pack}/reprints", who=courier, expect=403)


# --- 3, 15: a BI result after an emergency release, a count discrepancy -------------------


@pytest.mark.parametrize("passed", [True, False])
def test_c3_the_bi_of_an_emergency_release_is_sent_where_its_packs_are(
    client: TestClient, world: World, session_factory: sessionmaker[Session], passed: bool
) -> None:
    cssd = Cssd(client, world)
    cssd.setup(implant=True)
    cssd.bowie_dick()
    pack, kept = cssd.pack(), cssd.pack()
    number = cssd.load(pack, kept)
    cssd.call(
        "POST",
        f"/loads/{number}/unload",
        {"cooling_minutes": 40, "chemical_indicator_passed": True},
    )
    emergency = {
        "type5_indicator_passed": True,
        "approver": world.badges["admin"],
        "reason": "急诊",
    }
    cssd.call("POST", f"/loads/{number}/release", {"emergency": emergency})
    cssd.call("POST", "/storage", {"packs": [pack, kept]})
    cssd.to_clinic(pack)  # one pack at the clinic, one still on the CSSD's shelf
    result = {"kind": "biological_indicator", "passed": passed, "load": number}
    cssd.call("POST", "/machines/ST1/tests", result, expect=201)
    with session_factory() as session:
        told = session.execute(
            select(Site.code, Notification.message_zh, Notification.message_en)
            .join(Site, Site.id == Notification.site_id)
            .where(Notification.kind == "bi_result", Notification.reference == number)
            .order_by(Site.code)
        ).all()
    assert [site for site, _, _ in told] == ["CSSD", "T01"]
    (_, zh_cssd, _), (_, zh_clinic, en_clinic) = told
    assert kept in zh_cssd and pack not in zh_cssd and pack in zh_clinic
    assert ("passed" in en_clinic) is passed and ("recalled" in en_clinic) is not passed


def test_c3_a_bi_without_an_emergency_release_tells_no_clinic(
    cssd: Cssd, session_factory: sessionmaker[Session]
) -> None:
    pack = cssd.pack()
    number = stored(cssd, pack)
    cssd.to_clinic(pack)
    result = {"kind": "biological_indicator", "passed": True, "load": number}
    cssd.call("POST", "/machines/ST1/tests", result, expect=201)
    with session_factory() as session:
        kinds = session.execute(select(Notification.kind)).scalars().all()
    assert "bi_result" not in kinds


def test_c15_the_clinic_is_told_of_a_count_discrepancy(
    cssd: Cssd, session_factory: sessionmaker[Session]
) -> None:
    tray = cssd.new_set()
    cssd.used_set_arrives(tray, counted={"镊子": 2, "弯盘": 0})
    with session_factory() as session:
        notes = session.execute(
            select(
                Site.code, Notification.kind, Notification.message_zh, Notification.reference
            ).join(Site, Site.id == Notification.site_id)
        ).all()
    assert [(site, kind, ref) for site, kind, _, ref in notes] == [
        ("T01", "count_discrepancy", tray)
    ]
    assert "弯盘 1→0" in notes[0][2]


# --- 22, 23, 24: corrections, compromised packs, overdue sets ------------------------------------


def test_c22_nothing_is_deleted_and_retiring_a_pack_is_audited(
    cssd: Cssd, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path, methods in paths.items()
                if path.startswith("/api/v1/cssd") and "delete" in methods]  # fmt: skip
    pack = cssd.pack()
    history = chain(cssd, pack)
    assert client.delete(f"/api/v1/items/{pack}", headers=cssd.staff).status_code == 403
    admin = login(client, "admin")
    retired = client.delete(f"/api/v1/items/{pack}", headers=admin)
    assert retired.status_code == 200 and retired.json()["active"] is False
    assert chain(cssd, pack) == history  # the chain stays, unchanged
    with session_factory() as session:
        record = session.execute(
            select(AuditRecord).where(AuditRecord.target_id == pack)
        ).scalar_one()
    assert (record.action, record.details) == ("item.update", {"active": False})
    assert record.actor_id is not None
    # ...and the ledger verifies, the just-packed pack's projection included
    assert client.get("/api/v1/ledger/verify", headers=admin).json()["ok"]


def test_c22_a_wrong_operator_is_corrected_with_a_reason_and_audited(
    cssd: Cssd, client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    tray = cssd.new_set()
    cssd.used_set_arrives(tray)
    history = chain(cssd, tray)
    receipt = next(e for e in history if e["type"] == "receive")
    wrong, right = receipt["actor"]["badge"], world.badges["cssd2"]
    url = f"/api/v1/items/{tray}/corrections"
    body = {"event_id": receipt["event_id"], "field": "actor", "value": right, "reason": "扫错工牌"}
    answer = client.post(url, json=body, headers=cssd.staff)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["before"], answer.json()["after"]) == (wrong, right)
    after = chain(cssd, tray)
    assert after[: len(history)] == history  # what was recorded stays as it was
    correction = after[-1]
    assert correction["type"] == "correction" and correction["flag_code"] is None
    assert correction["details"]["corrects"] == receipt["event_id"]
    assert correction["details"]["reason"] == "扫错工牌"
    assert cssd.call("GET", f"/sets/{tray}")["state"] == "received_decon"  # no state change
    with session_factory() as session:
        record = session.execute(
            select(AuditRecord).where(AuditRecord.action == "event.correct")
        ).scalar_one()
    assert (record.details["before"], record.details["after"]) == (wrong, right)
    admin = login(client, "admin")
    assert client.get("/api/v1/ledger/verify", headers=admin).json()["ok"]
    # Who may, and what is refused, with the reason
    courier = login(client, "courier")
    assert client.post(url, json=body, headers=courier).status_code == 403
    no_reason = {**body, "reason": ""}
    assert client.post(url, json=no_reason, headers=cssd.staff).status_code == 422
    again = client.post(url, json=body, headers=cssd.staff)
    assert again.status_code == 422 and "already" in again.text
    unknown = {**body, "event_id": "00000000-0000-4000-8000-000000000000"}
    assert client.post(url, json=unknown, headers=cssd.staff).status_code == 404
    # ...and a device cannot send a correction as a scan: only the form makes one
    status, results = send(client, world, "CSSD", scan("correction", tray, actor=right))
    assert status == 422 and results[0]["status"] == "rejected"


def test_c23_a_compromised_pack_is_out_of_use_whatever_its_expiry(
    cssd: Cssd, session_factory: sessionmaker[Session]
) -> None:
    dropped, used = cssd.pack(), cssd.pack()
    stored(cssd, dropped, used)
    expires = date.fromisoformat(cssd.call("GET", f"/packs/{dropped}")["expires_on"])
    assert expires > utc_now().date() + timedelta(days=100)
    marked = cssd.call("POST", f"/packs/{dropped}/compromised", {"reason": "跌落"})
    assert marked["state"] == "compromised"
    refused = dispatch(cssd, dropped, expect=409)
    assert refused["codes"] == ["pack_unusable"] and "包装受损" in refused["detail_zh"]
    cssd.to_clinic(used)
    cssd.call("POST", f"/packs/{used}/use", {"patient_ref": "P-23"}, who=cssd.clinic)
    before = events(session_factory)
    late = cssd.call("POST", f"/packs/{used}/compromised", {"reason": "跌落"}, expect=409)
    assert late["codes"] == ["out_of_sequence"]  # a used pack is history, not stock
    assert events(session_factory) == before
    assert cssd.call("GET", f"/packs/{used}")["state"] == "used"


def test_c23_the_set_of_a_compromised_pack_goes_back_to_washing(cssd: Cssd) -> None:
    pack = cssd.pack()
    stored(cssd, pack)
    tray = cssd.call("GET", f"/packs/{pack}")["set"]
    cssd.call("POST", f"/packs/{pack}/compromised", {"reason": "包装破损"})
    received = cssd.call("POST", "/receipts", {"set": tray, "counted": {"镊子": 2, "弯盘": 1}})
    assert received["state"] == "received_decon"
    assert cssd.call("GET", f"/packs/{pack}")["state"] == "retired"
    again = cssd.washed_and_packed(tray)["barcode"]  # a new cycle: a new pack
    assert again != pack
    assert cssd.call("GET", f"/packs/{again}")["set"] == tray


def test_c23_a_set_in_a_usable_pack_is_not_taken_back(
    cssd: Cssd, client: TestClient, world: World
) -> None:
    pack = cssd.pack()
    stored(cssd, pack)
    tray = cssd.call("GET", f"/packs/{pack}")["set"]
    refused = cssd.call("POST", "/receipts", {"set": tray}, expect=409)
    assert "set_pack_in_use" in str(refused) and pack in str(refused)
    assert cssd.call("GET", f"/packs/{pack}")["state"] == "sterile_stored"
    # The same step scanned at a station is stored and flagged, in the worker's words.
    _, results = send(
        client, world, "CSSD", scan("receive", tray, actor=world.badges["cssd_staff"])
    )
    assert results[0]["status"] == "flagged" and results[0]["code"] == "set_pack_in_use"
    assert pack in results[0]["reason_zh"] and "usable" in results[0]["reason"]


def test_c23_a_pack_compromised_at_the_clinic_sends_its_set_back_by_courier(
    cssd: Cssd, client: TestClient, world: World
) -> None:
    pack = cssd.pack()
    stored(cssd, pack)
    tray = cssd.call("GET", f"/packs/{pack}")["set"]
    cssd.to_clinic(pack)
    cssd.call("POST", f"/packs/{pack}/compromised", {"reason": "跌落"}, who=cssd.clinic)
    received = cssd.used_set_arrives(tray)  # handed back and collected like a used set
    assert received["state"] == "received_decon"
    assert cssd.call("GET", f"/packs/{pack}")["state"] == "compromised"  # its own record


def test_c24_an_overdue_set_raises_one_alert_to_its_clinic(
    cssd: Cssd, client: TestClient, settings: Settings
) -> None:
    pack = cssd.pack()
    tray = cssd.call("GET", f"/packs/{pack}")["set"]
    stored(cssd, pack)
    cssd.to_clinic(pack)
    cssd.call("POST", f"/packs/{pack}/use", {"patient_ref": "P-24"}, who=cssd.clinic)

    def alerts(hours_later: float) -> list[dict[str, Any]]:
        later = utc_now() + timedelta(hours=hours_later)
        client.app.dependency_overrides[get_now] = lambda: later  # type: ignore[attr-defined]
        answer = client.get("/api/v1/alerts", headers=login(client, "dispatcher"))
        assert answer.status_code == 200, answer.text
        return [a for a in answer.json() if a["kind"] == "set_overdue" and a["item"] == tray]

    assert alerts(settings.overdue_set_hours - 1) == []
    raised = alerts(settings.overdue_set_hours + 1)
    assert len(raised) == 1 and tray in raised[0]["message_en"] and "T01" in raised[0]["message_zh"]
    assert len(alerts(settings.overdue_set_hours + 5)) == 1  # once, not at every sweep


def test_c24_a_set_not_back_in_time_is_listed_until_it_is_received(
    cssd: Cssd, client: TestClient, settings: Settings
) -> None:
    pack = cssd.pack()
    tray = cssd.call("GET", f"/packs/{pack}")["set"]
    stored(cssd, pack)
    cssd.to_clinic(pack)
    cssd.call("POST", f"/packs/{pack}/use", {"patient_ref": "P-24"}, who=cssd.clinic)
    assert tray not in cssd.call("GET", "/board")["overdue_sets"]
    later = utc_now() + timedelta(hours=settings.overdue_set_hours, minutes=5)
    client.app.dependency_overrides[get_now] = lambda: later  # type: ignore[attr-defined]
    cssd.staff, cssd.clinic = login(client, "cssd_staff"), login(client, "clinic_staff")
    assert tray in cssd.call("GET", "/board")["overdue_sets"]
    cssd.used_set_arrives(tray)  # collected and received at last
    assert tray not in cssd.call("GET", "/board")["overdue_sets"]
