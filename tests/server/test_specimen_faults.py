"""The fault cases of research/specimen.md §7 that apply, each with its expected behaviour."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from server.models import utc_now
from tests.support.helpers import World, device_auth, login, scan


def send(
    client: TestClient, world: World, site: str, *events: dict[str, Any]
) -> tuple[int, list[dict[str, Any]]]:
    response = client.post(
        "/api/v1/events", json={"events": list(events)}, headers=device_auth(world, site)
    )
    return response.status_code, response.json()["results"]


def sealed(client: TestClient, world: World, count: int = 6) -> None:
    """A serum box prepared and sealed at T01 two hours ago."""
    staff = world.badges["clinic_staff"]
    at = utc_now() - timedelta(hours=2)
    status, _ = send(
        client,
        world,
        "T01",
        scan("prepare", world.box, actor=staff, specimen_type="serum", count=count, at=at),
        scan("seal", world.box, actor=staff, seal="S1", at=at + timedelta(minutes=1)),
    )
    assert status == 200


def test_f1_the_same_scan_twice_is_one_event(client: TestClient, world: World) -> None:
    sealed(client, world)
    pickup = scan(
        "pickup",
        world.box,
        actor=world.badges["courier"],
        counterparty=world.badges["clinic_staff"],
    )
    _, first = send(client, world, "T01", pickup)
    _, again = send(client, world, "T01", pickup)
    assert first[0]["status"] == "accepted" and again[0]["status"] == "duplicate"
    assert again[0]["position"] == first[0]["position"]


def test_f2_a_doubled_barcode_is_rejected(client: TestClient, world: World) -> None:
    status, results = send(client, world, "T01", scan("note", world.box + world.box))
    assert status == 422 and results[0]["code"] == "bad_length"


def test_f3_an_unknown_box_is_rejected_with_the_value(client: TestClient, world: World) -> None:
    from labels.identity import Kind, make_id

    unknown = make_id(Kind.SPECIMEN_BOX, "00000000")
    status, results = send(client, world, "T01", scan("pickup", unknown))
    assert status == 422 and unknown in results[0]["reason"]


def test_f8_a_broken_seal_is_recorded_not_refused(client: TestClient, world: World) -> None:
    sealed(client, world)
    _, results = send(
        client,
        world,
        "T01",
        scan("pickup", world.box, actor=world.badges["courier"], seal="S1", seal_intact=False),
    )
    assert results[0]["status"] == "flagged" and results[0]["code"] == "seal_broken"


def test_f13_a_receipt_synced_before_the_pickup_is_put_in_order(
    client: TestClient, world: World
) -> None:
    sealed(client, world)
    courier, lab = world.badges["courier"], world.badges["lab_receiver"]
    now = utc_now()
    send(client, world, "LAB", scan("receive", world.box, actor=lab, counterparty=courier, at=now))
    send(
        client, world, "T01", scan("pickup", world.box, actor=courier, at=now - timedelta(hours=1))
    )
    item = client.get(f"/api/v1/items/{world.box}", headers=login(client, "admin")).json()
    assert item["state"] == "received"


def test_f15_a_second_courier_claiming_the_box_is_flagged(client: TestClient, world: World) -> None:
    sealed(client, world)
    staff = world.badges["clinic_staff"]
    _, first = send(
        client,
        world,
        "T01",
        scan("pickup", world.box, actor=world.badges["courier"], counterparty=staff),
    )
    _, second = send(
        client,
        world,
        "T01",
        scan("pickup", world.box, actor=world.badges["courier2"], counterparty=staff),
    )
    assert first[0]["status"] == "accepted"
    assert second[0]["status"] == "flagged" and second[0]["code"] == "out_of_sequence"
    item = client.get(f"/api/v1/items/{world.box}", headers=login(client, "admin")).json()
    assert item["holder"]["badge"] == world.badges["courier"]  # the first transfer wins


def test_f16_a_tube_added_after_sealing_is_flagged(client: TestClient, world: World) -> None:
    sealed(client, world)
    _, results = send(
        client,
        world,
        "T01",
        scan("prepare", world.box, actor=world.badges["clinic_staff"], tubes=["T-1"]),
    )
    assert results[0]["code"] == "out_of_sequence"


def test_f17_a_count_mismatch_at_pickup_is_flagged(client: TestClient, world: World) -> None:
    sealed(client, world, count=12)
    _, results = send(
        client,
        world,
        "T01",
        scan(
            "pickup",
            world.box,
            actor=world.badges["courier"],
            seal="S1",
            seal_intact=True,
            count=11,
        ),
    )
    assert results[0]["code"] == "count_mismatch"
    assert results[0]["reason"] == "count differs: 12 expected, 11 counted"


def test_f19_implausible_timestamps(client: TestClient, world: World) -> None:
    status, results = send(
        client, world, "T01", scan("note", world.box, at=utc_now() + timedelta(days=2))
    )
    assert status == 422 and results[0]["code"] == "future_timestamp"
    _, before = send(
        client,
        world,
        "T01",
        scan(
            "prepare",
            world.box,
            actor=world.badges["clinic_staff"],
            at=utc_now() - timedelta(days=30),
        ),
    )
    assert before[0]["code"] == "not_registered"  # before the box existed: kept, flagged


def test_f20_a_lost_box_found_again_keeps_the_gap(client: TestClient, world: World) -> None:
    sealed(client, world)
    courier = world.badges["courier"]
    send(client, world, "T01", scan("pickup", world.box, actor=courier))
    status, results = send(
        client,
        world,
        "T01",
        scan("declare_lost", world.box, actor=world.badges["dispatcher"]),
        scan("found", world.box, actor=world.badges["dispatcher"], reason="在车内找到"),
    )
    assert status == 200 and [r["status"] for r in results] == ["accepted", "accepted"]
    chain = client.get(f"/api/v1/items/{world.box}/custody", headers=login(client, "admin"))
    assert [e["type"] for e in chain.json()["events"]][-2:] == ["declare_lost", "found"]


def test_f22_the_wrong_role_is_flagged_at_the_station(client: TestClient, world: World) -> None:
    sealed(client, world)
    _, results = send(
        client, world, "LAB", scan("accept", world.box, actor=world.badges["clinic_staff"])
    )
    codes = [results[0]["code"]]
    assert results[0]["status"] == "flagged" and codes
    chain = client.get(f"/api/v1/items/{world.box}/custody", headers=login(client, "admin"))
    flags = {f["code"] for f in chain.json()["events"][-1]["flags"]}
    assert "role_not_allowed" in flags


def test_f24_a_replayed_batch_after_partial_failure_writes_nothing_twice(
    client: TestClient, world: World
) -> None:
    sealed(client, world)
    batch = [scan("note", world.box, n=n) for n in range(5)]
    _, first = send(client, world, "T01", *batch)
    _, replay = send(client, world, "T01", *batch, scan("note", world.box, n=5))
    assert [r["status"] for r in replay] == ["duplicate"] * 5 + ["accepted"]
    assert [r["position"] for r in replay[:5]] == [r["position"] for r in first]
