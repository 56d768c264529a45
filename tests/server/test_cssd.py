"""The sterile supply loop through the API (WS 310), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from server.models import Notification, Pack, utc_now
from tests.support.helpers import World, device_auth, login, scan

TEMPLATE = {
    "code": "DRESS",
    "name_zh": "换药包",
    "name_en": "Dressing change set",
    "instruments": [{"name": "镊子", "count": 2}, {"name": "弯盘", "count": 1}],
    "packaging_material": "nonwoven",
    "method": "steam",
}


class Cssd:
    """A CSSD worker at the API, plus the clinic and courier around them."""

    def __init__(self, client: TestClient, world: World) -> None:
        self.client, self.world = client, world
        self.staff = login(client, "cssd_staff")
        self.clinic = login(client, "clinic_staff")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        who: dict[str, str] | None = None,
        expect: int = 200,
    ) -> Any:
        response = self.client.request(
            method, f"/api/v1/cssd{path}", json=body, headers=who or self.staff
        )
        assert response.status_code == expect, response.text
        return response.json()

    def setup(self, *, implant: bool = False, prevacuum: bool = True) -> None:
        self.call(
            "POST", "/templates", {**TEMPLATE, "code": "DRESS", "implant": implant}, expect=201
        )
        self.call(
            "POST",
            "/machines",
            {"code": "WD1", "name": "清洗机1", "kind": "washer", "site": "CSSD"},
            expect=201,
        )
        self.call(
            "POST",
            "/machines",
            {
                "code": "ST1",
                "name": "脉动真空灭菌器1",
                "kind": "sterilizer",
                "site": "CSSD",
                "method": "steam",
                "prevacuum": prevacuum,
            },
            expect=201,
        )

    def new_set(self, **extra: Any) -> str:
        return cast(
            str,
            self.call(
                "POST", "/sets", {"template": "DRESS", "home_site": "T01", **extra}, expect=201
            )["barcode"],
        )

    def used_set_arrives(self, tray: str, **receipt: Any) -> dict[str, Any]:
        staff, courier = self.world.badges["clinic_staff"], self.world.badges["courier"]
        response = self.client.post(
            "/api/v1/events",
            headers=device_auth(self.world, "T01"),
            json={
                "events": [
                    scan("return_used", tray, actor=staff),
                    scan("collect", tray, actor=courier, counterparty=staff),
                ]
            },
        )
        assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]
        body = {"set": tray, "courier": courier, "counted": {"镊子": 2, "弯盘": 1}, **receipt}
        return cast(dict[str, Any], self.call("POST", "/receipts", body))

    def washed_and_packed(self, tray: str, **pack: Any) -> dict[str, Any]:
        cycle = self.call(
            "POST", "/washes", {"washer": "WD1", "program": "standard", "sets": [tray]}, expect=201
        )
        self.call(
            "POST",
            f"/washes/{cycle['number']}/finish",
            {"passed": True, "parameters": {"a0": 3000}},
        )
        self.call("POST", f"/sets/{tray}/inspection", {"passed": True})
        body = {"set": tray, "checker": self.world.badges["cssd2"], **pack}
        return cast(dict[str, Any], self.call("POST", "/packs", body, expect=201))

    def pack(self) -> str:
        tray = self.new_set()
        self.used_set_arrives(tray)
        return cast(str, self.washed_and_packed(tray)["barcode"])

    def bowie_dick(self, passed: bool = True) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.call(
                "POST", "/machines/ST1/tests", {"kind": "bowie_dick", "passed": passed}, expect=201
            ),
        )

    def load(self, *packs: str, start: bool = True) -> str:
        number: str = self.call(
            "POST", "/loads", {"sterilizer": "ST1", "program": "134°C 4 min"}, expect=201
        )["number"]
        for code in packs:
            self.call("POST", f"/loads/{number}/packs", {"pack": code})
        if start:
            self.call("POST", f"/loads/{number}/start")
            self.call(
                "POST",
                f"/loads/{number}/finish",
                {"passed": True, "temperature_c": 134.2, "pressure_kpa": 210, "hold_minutes": 4},
            )
        return number

    def released(self, *packs: str) -> str:
        number = self.load(*packs)
        self.call(
            "POST",
            f"/loads/{number}/unload",
            {"cooling_minutes": 35, "chemical_indicator_passed": True},
        )
        self.call("POST", f"/loads/{number}/release", {})
        return number

    def to_clinic(self, *packs: str) -> None:
        courier = self.world.badges["courier"]
        self.call(
            "POST", "/dispatches", {"packs": list(packs), "courier": courier, "destination": "T01"}
        )
        self.call(
            "POST", "/deliveries", {"packs": list(packs), "courier": courier}, who=self.clinic
        )


@pytest.fixture
def cssd(client: TestClient, world: World) -> Cssd:
    helper = Cssd(client, world)
    helper.setup()
    helper.bowie_dick()
    return helper


def test_the_whole_loop_from_clinic_to_patient(cssd: Cssd, client: TestClient) -> None:
    tray = cssd.new_set()
    received = cssd.used_set_arrives(tray)
    assert received["state"] == "received_decon"
    packed = cssd.washed_and_packed(tray)
    pack = packed["barcode"]
    assert packed["state"] == "packed" and packed["checker"] == cssd.world.badges["cssd2"]
    assert packed["destination"] == "T01"
    load = cssd.released(pack)
    released = cssd.call("GET", f"/packs/{pack}")
    assert released["state"] == "released" and released["load"] == load
    assert released["sterilizer"] == "ST1"
    sterilized = date.fromisoformat(released["sterilized_on"])
    assert date.fromisoformat(released["expires_on"]) == sterilized + timedelta(days=179)
    suggestions = cssd.call("GET", "/dispatch/suggestions?destination=T01")
    assert [p["barcode"] for p in suggestions] == []  # released, not yet shelved
    cssd.call("POST", "/storage", {"packs": [pack], "courier": cssd.world.badges["courier"]})
    assert [p["barcode"] for p in cssd.call("GET", "/dispatch/suggestions")] == [pack]
    cssd.to_clinic(pack)
    used = cssd.call("POST", f"/packs/{pack}/use", {"patient_ref": "ZY2026-0042"}, who=cssd.clinic)
    assert used["state"] == "used" and used["patient_ref"] == "ZY2026-0042"
    tray_now = cssd.call("GET", f"/sets/{tray}")
    assert tray_now["state"] == "in_use" and tray_now["cycles_done"] == 1
    chain = client.get(f"/api/v1/items/{pack}/custody", headers=cssd.staff).json()
    assert [e["type"] for e in chain["events"]] == [
        "registered",
        "load",
        "sterilize_start",
        "sterilize_end",
        "quarantine",
        "release",
        "store",
        "dispatch",
        "deliver",
        "use",
    ]
    assert chain["intact"] and not any(e["flags"] for e in chain["events"])
    assert client.get("/api/v1/ledger/verify", headers=login(client, "admin")).json()["ok"]


def test_bowie_dick_gates_the_first_load_of_the_day(client: TestClient, world: World) -> None:
    cssd = Cssd(client, world)
    cssd.setup()
    pack = cssd.pack()
    number = cssd.load(pack, start=False)
    refused = client.post(f"/api/v1/cssd/loads/{number}/start", headers=cssd.staff)
    assert refused.status_code == 409
    assert refused.json()["codes"] == ["bowie_dick_missing"]
    assert "B-D" in refused.json()["detail_zh"]
    cssd.bowie_dick(passed=False)
    machines = {m["code"]: m for m in cssd.call("GET", "/machines")}
    assert machines["ST1"]["status"] == "out_of_service"
    assert client.post(f"/api/v1/cssd/loads/{number}/start", headers=cssd.staff).status_code == 409
    cssd.bowie_dick(passed=True)
    assert cssd.call("POST", f"/loads/{number}/start")["status"] == "running"


def test_a_pack_is_in_one_open_load_and_none_after_start(cssd: Cssd) -> None:
    first, second = cssd.pack(), cssd.pack()
    building = cssd.load(first, start=False)
    other = cssd.call("POST", "/loads", {"sterilizer": "ST1", "program": "p"}, expect=201)
    refused = cssd.call("POST", f"/loads/{other['number']}/packs", {"pack": first}, expect=409)
    assert refused["codes"] == ["out_of_sequence"]  # it is already loaded
    cssd.call("POST", f"/loads/{building}/start")
    late = cssd.call("POST", f"/loads/{building}/packs", {"pack": second}, expect=409)
    assert "load_already_started" in late["codes"]


def test_an_implant_load_waits_for_its_biological_indicator(
    client: TestClient, world: World
) -> None:
    cssd = Cssd(client, world)
    cssd.setup(implant=True)
    cssd.bowie_dick()
    pack = cssd.pack()
    number = cssd.load(pack)
    cssd.call(
        "POST",
        f"/loads/{number}/unload",
        {"cooling_minutes": 40, "chemical_indicator_passed": True},
    )
    assert cssd.call("GET", "/board")["loads_awaiting_bi"] == [number]
    waiting = cssd.call("POST", f"/loads/{number}/release", {}, expect=409)
    assert waiting["codes"] == ["implant_waits_for_bi"]
    emergency = {
        "type5_indicator_passed": True,
        "approver": world.badges["admin"],
        "reason": "急诊手术",
    }
    released = cssd.call("POST", f"/loads/{number}/release", {"emergency": emergency})
    assert released["status"] == "released"
    assert released["emergency_release"]["approver"] == world.badges["admin"]


def test_a_failed_biological_indicator_recalls_since_the_last_pass(
    cssd: Cssd, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    vouched = cssd.pack()
    good_load = cssd.released(vouched)
    cssd.call(
        "POST",
        "/machines/ST1/tests",
        {"kind": "biological_indicator", "passed": True, "load": good_load},
        expect=201,
    )
    used, stored, loaded = cssd.pack(), cssd.pack(), cssd.pack()
    cssd.released(used)
    cssd.call("POST", "/storage", {"packs": [used], "courier": cssd.world.badges["courier"]})
    cssd.to_clinic(used)
    cssd.call("POST", f"/packs/{used}/use", {"patient_ref": "MZ-778"}, who=cssd.clinic)
    cssd.released(stored)
    cssd.load(loaded)
    failed = cssd.call(
        "POST", "/machines/ST1/tests", {"kind": "biological_indicator", "passed": False}, expect=201
    )
    assert failed["machine"]["status"] == "out_of_service"
    report = cssd.call("GET", f"/recalls/{failed['recall']}")
    lines = {line["pack"]: line for line in report["packs"]}
    assert set(lines) == {used, stored, loaded}  # not the pack the passed BI vouched for
    assert lines[used]["patient_ref"] == "MZ-778" and lines[used]["site"] == "T01"
    assert lines[stored]["site"] == "CSSD" and lines[stored]["state"] == "recalled"
    assert report["sites_notified"] == ["CSSD", "T01"]
    assert cssd.call("GET", f"/packs/{vouched}")["recalled"] is False
    with session_factory() as session:
        notes = session.execute(select(Notification.message_zh)).scalars().all()
    assert any("已召回" in note for note in notes)
    refused = cssd.call(
        "POST",
        "/dispatches",
        {"packs": [stored], "courier": cssd.world.badges["courier"], "destination": "T01"},
        expect=409,
    )
    assert refused["codes"] == ["pack_recalled"]
    for expected in ("requalifying", "requalifying", "in_service"):
        result = cssd.call(
            "POST",
            "/machines/ST1/tests",
            {"kind": "biological_indicator", "passed": True},
            expect=201,
        )
        assert result["machine"]["status"] == expected


def test_a_recalled_pack_scanned_for_use_is_stored_and_flagged(
    cssd: Cssd, client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    pack = cssd.pack()
    cssd.released(pack)
    cssd.call("POST", "/storage", {"packs": [pack], "courier": world.badges["courier"]})
    cssd.to_clinic(pack)
    with session_factory.begin() as session:
        session.execute(update(Pack).values(expires_on=utc_now().date() - timedelta(days=1)))
    response = client.post(
        "/api/v1/events",
        headers=device_auth(world, "T01"),
        json={"events": [scan("use", pack, actor=world.badges["clinic_staff"], patient_ref="P-1")]},
    )
    result = response.json()["results"][0]
    assert result["status"] == "flagged" and result["code"] == "pack_expired"
    assert "过期" in result["reason_zh"]
    assert cssd.call("GET", f"/packs/{pack}")["patient_ref"] == "P-1"


def test_expired_pack_is_refused_at_dispatch(
    cssd: Cssd, session_factory: sessionmaker[Session]
) -> None:
    pack = cssd.pack()
    cssd.released(pack)
    with session_factory.begin() as session:
        session.execute(update(Pack).values(expires_on=utc_now().date() - timedelta(days=2)))
    refused = cssd.call(
        "POST",
        "/dispatches",
        {"packs": [pack], "courier": cssd.world.badges["courier"], "destination": "T01"},
        expect=409,
    )
    assert refused["codes"] == ["pack_expired"]


def test_a_count_discrepancy_holds_the_set(cssd: Cssd) -> None:
    tray = cssd.new_set()
    held = cssd.used_set_arrives(tray, counted={"镊子": 1, "弯盘": 1})
    assert held["state"] == "on_hold" and "镊子 2→1" in held["hold_reason"]
    assert cssd.call("GET", "/board")["sets_on_hold"] == [tray]
    refused = cssd.call(
        "POST", "/washes", {"washer": "WD1", "program": "p", "sets": [tray]}, expect=409
    )
    assert refused["codes"] == ["out_of_sequence"]
    cssd.call("POST", f"/sets/{tray}/release-hold", {"resolution": "补齐镊子1把"})
    assert cssd.call("GET", f"/sets/{tray}")["state"] == "received_decon"


def test_a_special_pathogen_set_needs_the_dedicated_washer(cssd: Cssd) -> None:
    tray = cssd.new_set()
    cssd.used_set_arrives(tray, special_pathogen=True)
    refused = cssd.call(
        "POST", "/washes", {"washer": "WD1", "program": "p", "sets": [tray]}, expect=409
    )
    assert refused["codes"] == ["special_pathogen_path"]
    cssd.call(
        "POST",
        "/machines",
        {
            "code": "WD9",
            "name": "专用清洗机",
            "kind": "washer",
            "site": "CSSD",
            "special_pathogen": True,
        },
        expect=201,
    )
    cssd.call("POST", "/washes", {"washer": "WD9", "program": "prion", "sets": [tray]}, expect=201)


def test_an_aborted_wash_sends_the_set_back(cssd: Cssd) -> None:
    tray = cssd.new_set()
    cssd.used_set_arrives(tray)
    cycle = cssd.call(
        "POST", "/washes", {"washer": "WD1", "program": "p", "sets": [tray]}, expect=201
    )
    cssd.call("POST", f"/washes/{cycle['number']}/finish", {"passed": False, "reason": "断电"})
    assert cssd.call("GET", f"/sets/{tray}")["state"] == "received_decon"


def test_a_loaner_set_needs_its_first_use_test(cssd: Cssd) -> None:
    tray = cssd.new_set(loaner=True, supplier="某器械公司")
    cssd.used_set_arrives(tray)
    refused = cssd.call(
        "POST", "/washes", {"washer": "WD1", "program": "p", "sets": [tray]}, expect=409
    )
    assert refused["codes"] == ["loaner_untested"]
    cssd.call(
        "POST",
        f"/sets/{tray}/loaner-test",
        {"passed": True, "parameters": {"program": "134°C 6 min"}},
    )
    cssd.call("POST", "/washes", {"washer": "WD1", "program": "p", "sets": [tray]}, expect=201)


def test_gs1_codes_link_to_one_set(cssd: Cssd, client: TestClient) -> None:
    tray, other = cssd.new_set(), cssd.new_set()
    code = "0109501101530003\x1d21SN0001"
    linked = cssd.call("POST", f"/sets/{tray}/gs1", {"code": code})
    assert linked["gs1"] == ["(01)09501101530003(21)SN0001"]
    found = client.get(
        "/api/v1/cssd/gs1", params={"code": "(01)09501101530003(21)SN0001"}, headers=cssd.staff
    )
    assert found.json()["barcode"] == tray
    assert cssd.call("POST", f"/sets/{other}/gs1", {"code": code}, expect=409)
    bad = cssd.call("POST", f"/sets/{other}/gs1", {"code": "0109501101530004"}, expect=400)
    assert "check digit" in bad["detail"]


def test_wet_packs_and_a_failed_indicator(cssd: Cssd) -> None:
    dry, wet = cssd.pack(), cssd.pack()
    number = cssd.load(dry, wet)
    too_soon = cssd.call(
        "POST",
        f"/loads/{number}/unload",
        {"cooling_minutes": 10, "chemical_indicator_passed": True},
        expect=409,
    )
    assert too_soon["codes"] == ["cooling_too_short"]
    cssd.call(
        "POST",
        f"/loads/{number}/unload",
        {"cooling_minutes": 35, "chemical_indicator_passed": True, "wet_packs": [wet]},
    )
    assert cssd.call("GET", f"/packs/{wet}")["state"] == "failed_load"
    cssd.call("POST", f"/loads/{number}/release", {})
    assert cssd.call("GET", f"/packs/{dry}")["state"] == "released"
    third = cssd.pack()
    failing = cssd.load(third)
    failed = cssd.call(
        "POST",
        f"/loads/{failing}/unload",
        {"cooling_minutes": 35, "chemical_indicator_passed": False},
    )
    assert failed["status"] == "failed"
    assert cssd.call("GET", f"/packs/{third}")["state"] == "failed_load"


def test_textile_packs_need_the_storage_condition(cssd: Cssd) -> None:
    tray = cssd.new_set()
    cssd.used_set_arrives(tray)
    cycle = cssd.call(
        "POST", "/washes", {"washer": "WD1", "program": "p", "sets": [tray]}, expect=201
    )
    cssd.call("POST", f"/washes/{cycle['number']}/finish", {"passed": True})
    cssd.call("POST", f"/sets/{tray}/inspection", {"passed": True})
    body = {"set": tray, "checker": cssd.world.badges["cssd2"], "packaging_material": "textile"}
    refused = cssd.call("POST", "/packs", body, expect=409)
    assert refused["codes"] == ["storage_condition_required"]
    packed = cssd.call("POST", "/packs", {**body, "storage_condition": "compliant"}, expect=201)
    # 14 days counting the packing day, in the consortium's calendar (not UTC's)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert date.fromisoformat(packed["expires_on"]) == today + timedelta(days=13)


def test_a_courier_cannot_release_a_load(cssd: Cssd, client: TestClient) -> None:
    number = cssd.load(cssd.pack())
    response = client.post(
        f"/api/v1/cssd/loads/{number}/release", json={}, headers=login(client, "courier")
    )
    assert response.status_code == 403


def test_sets_not_back_in_time_are_overdue(
    cssd: Cssd, session_factory: sessionmaker[Session]
) -> None:
    from server.models import Item

    tray = cssd.new_set()
    with session_factory.begin() as session:
        session.execute(
            update(Item)
            .where(Item.barcode == tray)
            .values(last_event_at=utc_now() - timedelta(hours=100))
        )
    assert cssd.call("GET", "/board")["overdue_sets"] == [tray]


def test_machines_refuse_the_wrong_method(cssd: Cssd) -> None:
    pack = cssd.pack()
    cssd.call(
        "POST",
        "/machines",
        {
            "code": "LT1",
            "name": "过氧化氢低温",
            "kind": "sterilizer",
            "site": "CSSD",
            "method": "low_temperature",
        },
        expect=201,
    )
    number = cssd.call("POST", "/loads", {"sterilizer": "LT1", "program": "H2O2"}, expect=201)[
        "number"
    ]
    refused = cssd.call("POST", f"/loads/{number}/packs", {"pack": pack}, expect=409)
    assert refused["codes"] == ["method_mismatch"]
    assert refused["detail_zh"].endswith("需要压力蒸汽灭菌，灭菌器 LT1 不适用")
