"""Logging in, token expiry and devices' tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from server.models import AccessToken, AuditRecord, Device, utc_now
from tests.support.helpers import PASSWORD, World, device_auth, login


def test_login_gives_a_short_lived_token(client: TestClient, world: World, settings) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "courier", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_minutes * 60
    me = client.get(
        "/api/v1/people/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["badge"] == world.badges["courier"]


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: TestClient, world: World
) -> None:
    wrong = client.post("/api/v1/auth/token", data={"username": "courier", "password": "nope-nope"})
    unknown = client.post("/api/v1/auth/token", data={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"error": "NotAuthenticated", "detail": "wrong username or password"}
    )


def test_passwords_are_stored_with_argon2(
    session_factory: sessionmaker[Session], world: World
) -> None:
    from server.models import Person

    with session_factory() as session:
        hashes = session.execute(select(Person.password_hash)).scalars().all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes if h)
    assert not any(PASSWORD in (h or "") for h in hashes)


def test_an_expired_token_is_refused(client: TestClient, world: World, session_factory) -> None:
    headers = login(client, "dispatcher")
    with session_factory.begin() as session:
        session.execute(update(AccessToken).values(expires_at=utc_now() - timedelta(seconds=1)))
    response = client.get("/api/v1/sites", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_garbage_tokens_are_refused(client: TestClient, world: World) -> None:
    for token in ("nonsense", "hp_" + "x" * 40, "hd_" + "y" * 40, "hp_" + "z" * 5000):
        response = client.get("/api/v1/sites", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token


def test_device_token_rotation_and_revocation(
    client: TestClient, world: World, session_factory
) -> None:
    admin = login(client, "admin")
    old = device_auth(world, "T01")
    assert client.get("/api/v1/sites", headers=old).status_code == 200
    rotated = client.post(f"/api/v1/devices/{world.devices['T01']}/token", headers=admin)
    assert rotated.status_code == 200
    new = {"Authorization": f"Bearer {rotated.json()['token']}"}
    assert client.get("/api/v1/sites", headers=old).status_code == 401
    assert client.get("/api/v1/sites", headers=new).status_code == 200
    client.delete(f"/api/v1/devices/{world.devices['T01']}", headers=admin)
    assert client.get("/api/v1/sites", headers=new).status_code == 401
    with session_factory() as session:
        stored = session.execute(select(Device.token_hash)).scalars().all()
        actions = session.execute(select(AuditRecord.action)).scalars().all()
    assert rotated.json()["token"] not in stored  # only the hash is kept
    assert "device.rotate_token" in actions and "device.update" in actions


def test_a_new_device_token_is_shown_once(client: TestClient, world: World) -> None:
    admin = login(client, "admin")
    created = client.post("/api/v1/devices", json={"name": "Bench 2", "site": "T02"}, headers=admin)
    assert created.status_code == 201
    assert created.json()["token"].startswith("hd_")
    listed = client.get("/api/v1/devices", headers=admin).json()
    assert all("token" not in device for device in listed)
