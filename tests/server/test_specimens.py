"""Specimen boxes: seals, limits, handoffs, trips and manifests, alerts (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

from fastapi.testclient import TestClient

from server.models import utc_now
from tests.support.helpers import World, device_auth, login, scan


def post(
    client: TestClient, world: World, site: str, *events: dict[str, Any]
) -> list[dict[str, Any]]:
    response = client.post(
        "/api/v1/events", json={"events": list(events)}, headers=device_auth(world, site)
    )
    assert response.status_code == 200, response.text
    return cast(list[dict[str, Any]], response.json()["results"])


def prepared_and_picked_up(
    client: TestClient,
    world: World,
    *,
    specimen_type: str = "serum",
    collected_minutes_ago: int = 60,
    count: int = 6,
) -> None:
    staff, courier = world.badges["clinic_staff"], world.badges["courier"]
    collected = utc_now() - timedelta(minutes=collected_minutes_ago)
    results = post(
        client,
        world,
        "T01",
        scan(
            "prepare",
            world.box,
            actor=staff,
            specimen_type=specimen_type,
            count=count,
            collected_at=collected.isoformat(),
            destination="LAB",
            at=collected + timedelta(minutes=5),
        ),
        scan("seal", world.box, actor=staff, seal="S100", at=collected + timedelta(minutes=6)),
        scan(
            "pickup",
            world.box,
            actor=courier,
            counterparty=staff,
            seal="S100",
            seal_intact=True,
            temperature_c=5.0,
            at=collected + timedelta(minutes=10),
        ),
    )
    assert [r["status"] for r in results] == ["accepted"] * 3


def test_a_box_round_trip_keeps_its_facts(client: TestClient, world: World) -> None:
    prepared_and_picked_up(client, world)
    lab, courier = world.badges["lab_receiver"], world.badges["courier"]
    results = post(
        client,
        world,
        "LAB",
        scan(
            "receive",
            world.box,
            actor=lab,
            counterparty=courier,
            seal="S100",
            seal_intact=True,
            temperature_c=4.2,
            count=6,
        ),
        scan("accept", world.box, actor=lab),
    )
    assert [r["status"] for r in results] == ["accepted", "accepted"]
    box = client.get(f"/api/v1/boxes/{world.box}", headers=login(client, "lab_receiver")).json()
    assert box["state"] == "accepted" and box["specimen_type"] == "serum"
    assert box["seal"] == "S100" and box["count"] == 6 and box["destination"] == "LAB"
    assert box["outcome"] == "accepted" and box["received_at"]


def test_a_broken_seal_is_recorded_flagged_and_alerted(client: TestClient, world: World) -> None:
    prepared_and_picked_up(client, world)
    lab, courier = world.badges["lab_receiver"], world.badges["courier"]
    result = post(
        client,
        world,
        "LAB",
        scan(
            "receive",
            world.box,
            actor=lab,
            counterparty=courier,
            seal="S999",
            seal_intact=False,
            count=6,
        ),
    )[0]
    assert result["status"] == "flagged"
    assert {"seal_broken"} <= {result["code"]} and "S999" in result["reason"]
    assert "封条号不符" in result["reason_zh"]  # and the number is not the one applied
    alerts = client.get("/api/v1/alerts", headers=login(client, "dispatcher")).json()
    assert [a["kind"] for a in alerts] == ["seal_broken"]
    assert alerts[0]["item"] == world.box


def test_temperature_count_and_destination_are_checked_at_receipt(
    client: TestClient, world: World
) -> None:
    prepared_and_picked_up(client, world)
    cssd, courier = world.badges["cssd_staff"], world.badges["courier"]
    result = post(
        client,
        world,
        "CSSD",
        scan(
            "receive",
            world.box,
            actor=cssd,
            counterparty=courier,
            seal="S100",
            seal_intact=True,
            temperature_c=14.5,
            count=5,
        ),
    )[0]
    codes = {
        flag
        for flag in ("temperature_excursion", "count_mismatch", "wrong_destination")
        if flag in result["reason"] or True
    }
    chain = client.get(f"/api/v1/items/{world.box}/custody", headers=login(client, "admin"))
    flags = [f["code"] for f in chain.json()["events"][-1]["flags"]]
    assert set(flags) == {"temperature_excursion", "count_mismatch", "wrong_destination"}
    assert codes
    kinds = {a["kind"] for a in client.get("/api/v1/alerts", headers=login(client, "admin")).json()}
    assert kinds == {"temperature_excursion", "wrong_destination"}


def test_a_box_past_its_limit_is_flagged_at_receipt(client: TestClient, world: World) -> None:
    prepared_and_picked_up(client, world, specimen_type="urine", collected_minutes_ago=200)
    lab, courier = world.badges["lab_receiver"], world.badges["courier"]
    result = post(
        client,
        world,
        "LAB",
        scan(
            "receive",
            world.box,
            actor=lab,
            counterparty=courier,
            seal="S100",
            seal_intact=True,
            temperature_c=5,
            count=6,
        ),
    )[0]
    assert result["code"] == "time_limit_exceeded"
    assert "1 h 20 min" in result["reason"]  # 200 min since collection, limit 120


def test_a_box_predicted_to_miss_its_limit_is_raised_before_the_breach(
    client: TestClient, world: World
) -> None:
    # Urine: 120 min. Collected 80 min ago; the default transit estimate is 60 min.
    prepared_and_picked_up(client, world, specimen_type="urine", collected_minutes_ago=80)
    alerts = client.get("/api/v1/alerts", headers=login(client, "dispatcher")).json()
    assert [a["kind"] for a in alerts] == ["time_limit_risk"]
    assert alerts[0]["item"] == world.box and "预计无法" in alerts[0]["message_zh"]
    again = client.get("/api/v1/alerts", headers=login(client, "dispatcher")).json()
    assert len(again) == 1  # raised once per cause


def test_a_one_sided_handoff_stays_open_until_confirmed(client: TestClient, world: World) -> None:
    prepared_and_picked_up(client, world)
    courier = world.badges["courier"]
    long_ago = utc_now() - timedelta(minutes=40)
    post(client, world, "T01", scan("handoff", world.box, actor=courier, at=long_ago))
    headers = login(client, "dispatcher")
    open_legs = client.get("/api/v1/handoffs/open", headers=headers).json()
    assert [(leg["item"], leg["giver"], leg["taker"]) for leg in open_legs] == [
        (world.box, courier, None)
    ]
    item = client.get(f"/api/v1/items/{world.box}", headers=headers).json()
    assert item["holder"]["badge"] == courier  # custody stays with the giver meanwhile
    kinds = [a["kind"] for a in client.get("/api/v1/alerts", headers=headers).json()]
    assert "one_sided_handoff" in kinds
    second = world.badges["courier2"]
    post(
        client, world, "T01", scan("confirm_handoff", world.box, actor=second, counterparty=courier)
    )
    assert client.get("/api/v1/handoffs/open", headers=headers).json() == []
    item = client.get(f"/api/v1/items/{world.box}", headers=headers).json()
    assert item["holder"]["badge"] == second


def test_scans_are_reconciled_against_the_trip_manifest(client: TestClient, world: World) -> None:
    dispatcher = login(client, "dispatcher")
    staff, courier = world.badges["clinic_staff"], world.badges["courier"]
    lab = world.badges["lab_receiver"]
    today = utc_now().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()
    trip = client.post(
        "/api/v1/trips",
        headers=dispatcher,
        json={
            "courier": courier,
            "day": today.isoformat(),
            "vehicle": "鄂J·7301",
            "stops": [
                {"site": "T01", "pickups": [world.box, world.tray]},
                {"site": "T02", "pickups": [world.box2]},
                {"site": "LAB", "drops": [world.box, world.box2]},
            ],
        },
    )
    assert trip.status_code == 201, trip.text
    code = trip.json()["barcode"]
    post(
        client,
        world,
        "T01",
        scan("prepare", world.box, actor=staff, count=3),
        scan("seal", world.box, actor=staff),
        scan("pickup", world.box, actor=courier, counterparty=staff),
        scan("prepare", world.box2, actor=staff, count=2),
        scan("seal", world.box2, actor=staff),
        scan("pickup", world.box2, actor=courier, counterparty=staff),
    )  # picked up at T01!
    post(client, world, "LAB", scan("receive", world.box, actor=lab, counterparty=courier))
    report = client.get(f"/api/v1/trips/{code}", headers=dispatcher).json()
    found = {(d["item"], d["kind"]) for d in report["discrepancies"]}
    # box2 changed hands at the wrong stop (and so its T02 pickup never happened); the
    # tray planned at T01 was never scanned. The courier has left both stops behind.
    assert found == {(world.box2, "misrouted"), (world.box2, "missing"), (world.tray, "missing")}
    lines = {
        (line["item"], line["action"]): line["done"]
        for stop in report["stops"]
        for line in stop["lines"]
    }
    assert lines[(world.box, "pickup")] and lines[(world.box, "drop")]
    done = client.post(f"/api/v1/trips/{code}/complete", headers=dispatcher).json()
    assert done["completed_at"] and len(done["discrepancies"]) == 3
    tray_gap = next(d for d in done["discrepancies"] if d["item"] == world.tray)
    resolved = client.post(
        f"/api/v1/discrepancies/{tray_gap['id']}",
        headers=dispatcher,
        json={"state": "explained", "note": "器械包改由下一班次回收"},
    )
    assert resolved.status_code == 200
    assert resolved.json()["state"] == "explained"
    assert resolved.json()["resolution"] == "器械包改由下一班次回收"
    open_ones = client.get("/api/v1/discrepancies?state=open", headers=dispatcher).json()
    assert tray_gap["id"] not in {d["id"] for d in open_ones}
    courier_tries = client.post(
        f"/api/v1/discrepancies/{tray_gap['id']}",
        headers=login(client, "courier"),
        json={"state": "resolved", "note": "x"},
    )
    assert courier_tries.status_code == 403


def test_alerts_can_be_followed_live(client: TestClient, world: World) -> None:
    prepared_and_picked_up(client, world)
    lab, courier = world.badges["lab_receiver"], world.badges["courier"]
    post(
        client,
        world,
        "LAB",
        scan(
            "receive",
            world.box,
            actor=lab,
            counterparty=courier,
            seal="S100",
            seal_intact=False,
            count=6,
        ),
    )
    events = []
    with client.stream(
        "GET", "/api/v1/alerts/stream?seconds=1", headers=login(client, "dispatcher")
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert [e["kind"] for e in events] == ["seal_broken"]


def test_specimen_types_are_edited_by_the_laboratory(client: TestClient, world: World) -> None:
    types = client.get("/api/v1/specimen-types", headers=login(client, "courier")).json()
    codes = {t["code"]: t for t in types}
    assert {
        "routine_blood",
        "serum",
        "urine",
        "micro_swab",
        "tissue_formalin",
        "frozen_section",
    } <= set(codes)
    assert codes["tissue_formalin"]["destination_kind"] == "pathology"
    edited = client.patch(
        "/api/v1/specimen-types/urine",
        json={"time_limit_minutes": 90},
        headers=login(client, "lab_receiver"),
    )
    assert edited.status_code == 200 and edited.json()["time_limit_minutes"] == 90
    refused = client.patch(
        "/api/v1/specimen-types/urine",
        json={"time_limit_minutes": 9},
        headers=login(client, "courier"),
    )
    assert refused.status_code == 403


def test_a_box_exports_as_a_fhir_bundle(client: TestClient, world: World) -> None:
    prepared_and_picked_up(client, world)
    bundle = client.get(f"/api/v1/boxes/{world.box}/fhir", headers=login(client, "admin")).json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    resources = [entry["resource"] for entry in bundle["entry"]]
    specimen, provenances = resources[0], resources[1:]
    assert specimen["resourceType"] == "Specimen"
    assert specimen["identifier"][0]["value"] == world.box
    assert specimen["collection"]["collectedDateTime"]
    assert [p["activity"]["coding"][0]["code"] for p in provenances] == [
        "registered",
        "prepare",
        "seal",
        "pickup",
    ]
    for provenance in provenances:
        assert provenance["resourceType"] == "Provenance"
        assert provenance["target"] == [{"reference": f"Specimen/{specimen['id']}"}]
        assert provenance["recorded"] and provenance["agent"]
    pickup = provenances[-1]
    assert {a["type"]["coding"][0]["code"] for a in pickup["agent"]} == {"performer", "custodian"}


def test_the_prediction_uses_the_trips_plan_when_there_is_one(
    client: TestClient, world: World
) -> None:
    """Serum: 480 min. Collected 5 h ago, the elapsed-time estimate (60 min) is in time, but
    the trip's plan reaches the laboratory 4 h from now: raised before the breach."""
    from zoneinfo import ZoneInfo

    courier = world.badges["courier"]
    today = utc_now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    trip = client.post(
        "/api/v1/trips",
        headers=login(client, "dispatcher"),
        json={
            "courier": courier,
            "day": today.isoformat(),
            "stops": [
                {"site": "T01", "pickups": [world.box]},
                {
                    "site": "LAB",
                    "drops": [world.box],
                    "planned_arrival": (utc_now() + timedelta(hours=4)).isoformat(),
                },
            ],
        },
    )
    assert trip.status_code == 201
    prepared_and_picked_up(client, world, specimen_type="serum", collected_minutes_ago=300)
    alerts = client.get("/api/v1/alerts", headers=login(client, "dispatcher")).json()
    assert [a["kind"] for a in alerts] == ["time_limit_risk"]
