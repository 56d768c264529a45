"""The role matrix: who may call which route (admin always; devices only where stated)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from server.enums import Role
from tests.support.helpers import World, device_auth, login, scan

EVERYONE = {role.value for role in Role}
PEOPLE_AND_DEVICE = EVERYONE | {"device"}


def _matrix(world: World) -> list[tuple[str, str, dict[str, object] | None, set[str], int]]:
    """(method, path, json body, who may, success status)."""
    new_site = {
        "code": "X0",
        "kind": "township_clinic",
        "name_zh": "新站",
        "name_en": "New",
        "latitude": 30.1,
        "longitude": 115.1,
    }
    return [
        ("GET", "/api/v1/sites", None, PEOPLE_AND_DEVICE, 200),
        ("POST", "/api/v1/sites", new_site, {"admin"}, 201),
        ("PATCH", "/api/v1/sites/T02", {"name_en": "Renamed"}, {"admin"}, 200),
        ("GET", "/api/v1/people", None, {"admin", "dispatcher"}, 200),
        ("GET", "/api/v1/people/me", None, EVERYONE, 200),
        ("POST", "/api/v1/people", {"name": "新人", "role": "courier"}, {"admin"}, 201),
        ("GET", "/api/v1/devices", None, {"admin"}, 200),
        ("POST", "/api/v1/devices", {"name": "bench", "site": "T02"}, {"admin"}, 201),
        ("GET", "/api/v1/items", None, PEOPLE_AND_DEVICE, 200),
        ("POST", "/api/v1/items", {"kind": "specimen_box", "home_site": "T01"}, {"admin"}, 201),
        ("GET", f"/api/v1/items/{world.box}", None, PEOPLE_AND_DEVICE, 200),
        ("GET", f"/api/v1/items/{world.box}/custody", None, PEOPLE_AND_DEVICE, 200),
        ("PATCH", f"/api/v1/items/{world.box}", {"description": "x"}, {"admin"}, 200),
        ("GET", "/api/v1/ledger/verify", None, {"admin"}, 200),
    ]


def test_role_matrix(client: TestClient, world: World) -> None:
    headers = {role: login(client, role) for role in EVERYONE}
    headers["device"] = device_auth(world, "T01")
    failures = []
    for method, path, body, allowed, success in _matrix(world):
        for who, auth in headers.items():
            if method == "POST" and path.endswith("/sites") and body:
                body = {**body, "code": f"X{uuid.uuid4().hex[:6]}"}
            response = client.request(method, path, json=body, headers=auth)
            expected = success if who in allowed else 403
            if response.status_code != expected:
                failures.append(f"{who} {method} {path}: {response.status_code} != {expected}")
            if response.status_code == 403:
                assert response.json()["error"] == "NotPermitted"
        anonymous = client.request(method, path, json=body)
        if anonymous.status_code != 401:
            failures.append(f"anonymous {method} {path}: {anonymous.status_code}")
    assert failures == []


def test_events_may_be_posted_by_devices_and_working_roles(
    client: TestClient, world: World
) -> None:
    for who in ("courier", "cssd_staff", "lab_receiver", "clinic_staff", "dispatcher", "admin"):
        response = client.post(
            "/api/v1/events",
            json={"events": [{**scan("note", world.box), "site": "T01"}]},
            headers=login(client, who),
        )
        assert response.status_code == 200, (who, response.text)
        assert response.json()["results"][0]["status"] == "accepted"


def test_a_person_cannot_record_under_someone_elses_badge(client: TestClient, world: World) -> None:
    event = {**scan("note", world.box, actor=world.badges["lab_receiver"]), "site": "T01"}
    response = client.post(
        "/api/v1/events", json={"events": [event]}, headers=login(client, "courier")
    )
    assert response.status_code == 422
    assert response.json()["results"][0]["code"] == "not_your_badge"


def test_an_actor_in_the_wrong_role_is_flagged(client: TestClient, world: World) -> None:
    courier, staff = world.badges["courier"], world.badges["clinic_staff"]
    response = client.post(
        "/api/v1/events",
        json={
            "events": [
                scan("prepare", world.box, actor=staff, count=3),
                scan("seal", world.box, actor=courier, seal="S9"),
            ]
        },
        headers=device_auth(world, "T01"),
    )
    prepared, sealed = response.json()["results"]
    assert prepared["status"] == "accepted"
    assert sealed["status"] == "flagged" and sealed["code"] == "role_not_allowed"
    assert "courier" in sealed["reason"] and "'seal'" in sealed["reason"]
    item = client.get(f"/api/v1/items/{world.box}", headers=login(client, "admin")).json()
    assert item["state"] == "sealed"  # the box was physically sealed; the flag asks who did it
