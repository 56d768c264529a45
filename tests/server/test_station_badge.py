"""A station's device acting for the badge scanned at it (``X-Handoff-Badge``), on both databases.

The CSSD endpoints admit a person's login, or a device token plus the badge of an active
person whose role is allowed and whose home site is the device's site: that person is the
actor, and the device is named on the events and audit records the request writes.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from labels.identity import Kind, new_id
from server.models import AuditRecord, Person
from tests.server.test_cssd import TEMPLATE, Cssd
from tests.support.helpers import World, device_auth, login

BADGE = "X-Handoff-Badge"


def _station(world: World, site: str, badge: str | None) -> dict[str, str]:
    headers = device_auth(world, site)
    if badge is not None:
        headers[BADGE] = badge
    return headers


def _post(client: TestClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(f"/api/v1/cssd{path}", json=body, headers=headers)


def test_a_cssd_device_acts_for_the_badge_scanned_at_it(client: TestClient, world: World) -> None:
    cssd = Cssd(client, world)
    cssd.setup()
    tray = cssd.new_set()
    staff = world.badges["cssd_staff"]
    station = _station(world, "CSSD", staff)
    cssd.used_set_arrives(tray)  # through a person's login
    washed = _post(client, "/washes", {"washer": "WD1", "program": "std", "sets": [tray]}, station)
    assert washed.status_code == 201, washed.text
    chain = client.get(f"/api/v1/items/{tray}/custody", headers=cssd.staff).json()
    receive, wash = chain["events"][-2:]
    assert (receive["type"], receive["actor"]["badge"], receive["device"]) == (
        "receive", staff, None,
    )  # fmt: skip
    assert (wash["type"], wash["actor"]["badge"], wash["device"]) == (
        "wash_start", staff, world.devices["CSSD"],
    )  # fmt: skip
    assert chain["intact"]


def test_the_device_is_named_in_the_audit_record(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    station = _station(world, "CSSD", world.badges["cssd2"])
    created = _post(client, "/templates", {**TEMPLATE, "code": "BYSTATION"}, station)
    assert created.status_code == 201, created.text
    with session_factory() as session:
        audit, actor = session.execute(
            select(AuditRecord, Person)
            .join(Person, Person.id == AuditRecord.actor_id)
            .where(AuditRecord.target_id == "BYSTATION")
        ).one()
    assert actor.badge == world.badges["cssd2"]
    assert audit.details["device"] == world.devices["CSSD"]


def test_wrong_missing_or_unusable_badges_are_refused_with_the_reason(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    body = {**TEMPLATE, "code": "NEVER"}
    staff = world.badges["cssd_staff"]
    cases: list[tuple[dict[str, str], int, str]] = [
        (_station(world, "CSSD", None), 401, "send X-Handoff-Badge: <badge>"),
        (_station(world, "CSSD", "  "), 401, "send X-Handoff-Badge: <badge>"),
        (_station(world, "CSSD", staff[:-1] + "?"), 401, "X-Handoff-Badge is not a usable badge"),
        (_station(world, "CSSD", world.box), 401, "X-Handoff-Badge is not a usable badge"),
        (_station(world, "CSSD", new_id(Kind.PERSON)), 401, "no person has the badge"),
        (_station(world, "T01", staff), 403, "does not work at T01"),
        (_station(world, "T01", world.badges["clinic_staff"]), 403, "needs: admin, cssd_staff"),
        ({**login(client, "cssd_staff"), BADGE: staff}, 403, "is for device tokens"),
    ]
    for headers, status, words in cases:
        response = _post(client, "/templates", body, headers)
        assert response.status_code == status, (headers.get(BADGE), response.text)
        assert words in response.json()["detail"], response.json()
    with session_factory.begin() as session:
        session.execute(update(Person).where(Person.badge == staff).values(active=False))
    disabled = _post(client, "/templates", body, _station(world, "CSSD", staff))
    assert disabled.status_code == 401
    assert disabled.json() == {
        "error": "NotAuthenticated",
        "detail": f"the badge {staff} belongs to a disabled account",
    }
    assert client.get("/api/v1/cssd/templates", headers=login(client, "admin")).json() == []


def test_a_person_s_login_still_works_and_other_routes_stay_person_only(
    client: TestClient, world: World
) -> None:
    courier = login(client, "courier")
    refused = _post(client, "/templates", TEMPLATE, courier)
    assert refused.status_code == 403 and "needs: admin, cssd_staff" in refused.json()["detail"]
    assert _post(client, "/templates", TEMPLATE, login(client, "cssd_staff")).status_code == 201
    # Outside the station rule, a device token with a badge is still only a device.
    station = _station(world, "CSSD", world.badges["cssd_staff"])
    people = client.get("/api/v1/people", headers=station)
    assert people.status_code == 403


def test_the_header_is_documented(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    parameters = schema["paths"]["/api/v1/cssd/receipts"]["post"]["parameters"]
    (header,) = [p for p in parameters if p["in"] == "header"]
    assert header["name"] == BADGE and not header["required"]
    assert "badge of the person at the station" in header["description"]
    assert "401" in schema["paths"]["/api/v1/cssd/receipts"]["post"]["responses"]
