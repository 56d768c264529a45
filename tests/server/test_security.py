"""Security (issue 9): login throttling, logout, device-token rotation from the command line,
an audit record for every administrative change, security headers, no secrets in logs."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.app import create_app
from server.auth.throttle import LoginThrottle, TooManyAttempts
from server.config import Settings
from server.models import AuditRecord
from tests.server.test_cli import run
from tests.support.helpers import PASSWORD, World, device_auth, login, scan
from tests.support.server import free_port
from web.config import get_web_settings

TEMPERATURE = "ambient"
TEMPLATE: dict[str, object] = {
    "code": "DRESS",
    "name_zh": "换药包",
    "name_en": "Dressing change set",
    "instruments": [{"name": "镊子 forceps", "count": 2}],
    "packaging_material": "nonwoven",
    "method": "steam",
}
MACHINE = {"code": "ST9", "name": "Sterilizer 9", "kind": "sterilizer", "site": "CSSD",
           "method": "steam", "prevacuum": True}  # fmt: skip


def _login(client: TestClient, username: str, password: str) -> httpx.Response:
    # TestClient's methods are Any to mypy (starlette types them against httpx2).
    return cast(
        httpx.Response,
        client.post("/api/v1/auth/token", data={"username": username, "password": password}),
    )


# --- throttling ---------------------------------------------------------------------------


def test_repeated_failed_logins_for_a_username_get_429_with_retry_after(
    client: TestClient, world: World
) -> None:
    for _ in range(5):
        assert _login(client, "dispatcher", "wrong-password").status_code == 401
    refused = _login(client, "dispatcher", PASSWORD)  # even the right password, for now
    assert refused.status_code == 429
    assert refused.json()["error"] == "TooManyAttempts"
    assert 1 <= int(refused.headers["Retry-After"]) <= 900
    assert "try again in" in refused.json()["detail"]
    # Another person at the same desk is not locked out by it.
    assert _login(client, "courier", PASSWORD).status_code == 200


def test_repeated_failed_logins_from_one_client_get_429(settings: Settings, world: World) -> None:
    tight = settings.model_copy(update={"login_max_failures_per_client": 3})
    with TestClient(create_app(tight)) as client:
        for name in ("nobody1", "nobody2", "nobody3"):
            assert _login(client, name, "guess").status_code == 401
        refused = _login(client, "courier", PASSWORD)  # a new username, the same address
        assert refused.status_code == 429
        assert "this address" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) >= 1


def test_the_web_login_is_throttled_too(client: TestClient, world: World) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    form = {"username": "lab_receiver", "password": "nope", "csrf": csrf.group(1)}
    statuses = [client.post("/login", data=form).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    last = client.post("/login", data={**form, "password": PASSWORD}, follow_redirects=False)
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1


def test_a_success_clears_the_username_and_the_window_expires() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_user=2, per_client=10, window_seconds=60, clock=lambda: now[0])
    throttle.failed("wang", "10.0.0.5")
    throttle.succeeded("wang")
    throttle.failed("wang", "10.0.0.5")
    throttle.check("wang", "10.0.0.5")  # one failure since the success: allowed
    throttle.failed("WANG", "10.0.0.5")  # usernames are compared without case
    with pytest.raises(TooManyAttempts) as refused:
        throttle.check("wang", "10.0.0.6")
    assert refused.value.retry_after == 60
    now[0] += 30
    with pytest.raises(TooManyAttempts) as refused:
        throttle.check("wang", None)
    assert refused.value.retry_after == 30
    now[0] += 30.5
    throttle.check("wang", "10.0.0.5")  # the window has passed


# --- logout and rotation ------------------------------------------------------------------


def test_logout_revokes_the_token_at_once(client: TestClient, world: World) -> None:
    headers = login(client, "cssd_staff")
    assert client.get("/api/v1/people/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    after = client.get("/api/v1/people/me", headers=headers)
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 401
    other = login(client, "cssd_staff")  # a new login works, and logging out is per token
    assert client.get("/api/v1/people/me", headers=other).status_code == 200


def test_a_device_token_is_not_logged_out(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/auth/logout", headers=device_auth(world, "T01"))
    assert response.status_code == 400
    assert client.get("/api/v1/sites", headers=device_auth(world, "T01")).status_code == 200


def test_device_rotate_on_the_command_line_refuses_the_old_token_at_once(
    database_url: str, world: World, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    old = device_auth(world, "LAB")
    assert client.get("/api/v1/sites", headers=old).status_code == 200
    result = run("device", "rotate", world.devices["LAB"], database_url=database_url)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("hd_") and token != world.device_tokens["LAB"]
    assert client.get("/api/v1/sites", headers=old).status_code == 401
    assert client.get("/api/v1/sites", headers={"Authorization": f"Bearer {token}"}).is_success
    with session_factory() as session:
        actions = session.execute(
            select(AuditRecord.action).where(AuditRecord.target_id == world.devices["LAB"])
        ).scalars()
        assert "device.rotate_token" in list(actions)
    unknown = run("device", "rotate", "DV0000000000", database_url=database_url)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr


# --- audit ---------------------------------------------------------------------------------


def test_every_administrative_change_leaves_an_audit_record(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    admin = login(client, "admin")
    site = {
        "code": "T09",
        "kind": "township_clinic",
        "name_zh": "九",
        "name_en": "Nine",
        "latitude": 30.1,
        "longitude": 115.1,
    }
    person: dict[str, object] = {
        "name": "新人",
        "role": "courier",
        "username": "newcourier",
        "password": "long-enough-1",
        "home_site": "CH",
    }
    changes: list[tuple[str, str, dict[str, object] | None, str]] = [
        ("POST", "/api/v1/sites", site, "site.create"),
        ("PATCH", "/api/v1/sites/T09", {"name_en": "Nine Wells"}, "site.update"),
        ("DELETE", "/api/v1/sites/T09", None, "site.update"),
        ("POST", "/api/v1/people", person, "person.create"),
        ("PATCH", f"/api/v1/people/{world.badges['courier2']}", {"name": "改名"}, "person.update"),
        ("DELETE", f"/api/v1/people/{world.badges['courier2']}", None, "person.update"),
        ("POST", "/api/v1/devices", {"name": "T02 bench", "site": "T02"}, "device.create"),
        ("PATCH", f"/api/v1/devices/{world.devices['CSSD']}", {"name": "x"}, "device.update"),
        ("POST", f"/api/v1/devices/{world.devices['CSSD']}/token", None, "device.rotate_token"),
        ("DELETE", f"/api/v1/devices/{world.devices['CSSD']}", None, "device.update"),
        ("PATCH", f"/api/v1/items/{world.box2}", {"description": "spare"}, "item.update"),
        (
            "POST",
            "/api/v1/specimen-types",
            {
                "code": "CSF",
                "name_zh": "脑脊液",
                "name_en": "CSF",
                "time_limit_minutes": 60,
                "temperature_class": TEMPERATURE,
            },
            "specimen_type.create",
        ),
        (
            "PATCH",
            "/api/v1/specimen-types/CSF",
            {"name_en": "Cerebrospinal fluid"},
            "specimen_type.update",
        ),
        ("POST", "/api/v1/cssd/templates", TEMPLATE, "template.create"),
        ("POST", "/api/v1/cssd/machines", MACHINE, "machine.create"),
    ]
    for method, path, body, action in changes:
        with session_factory() as session:
            before = session.scalar(select(func.count()).select_from(AuditRecord))
        response = client.request(method, path, json=body, headers=admin)
        assert response.is_success, (method, path, response.text)
        with session_factory() as session:
            added = (
                session.execute(select(AuditRecord).order_by(AuditRecord.id).offset(before))
                .scalars()
                .all()
            )
        assert [record.action for record in added] == [action], (method, path)
        assert added[0].actor_id is not None
        assert "password" not in str(added[0].details) and "hd_" not in str(added[0].details)


# --- headers -------------------------------------------------------------------------------


def _policy(response: httpx.Response) -> dict[str, str]:
    header = response.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_pages_carry_security_headers_and_a_policy_without_inline_script(
    client: TestClient, world: World
) -> None:
    pages = ["/", "/login", "/docs"]
    client.cookies.clear()
    assert (
        client.post(
            "/login",
            data={"username": "admin", "password": PASSWORD, "csrf": _csrf(client)},
            follow_redirects=False,
        ).status_code
        == 303
    )
    pages += ["/timeline", "/admin", "/dispatch", "/cssd", "/lab", "/dispatch/sheets"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        policy = _policy(response)
        assert policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'"
        assert (
            "unsafe-inline" not in policy["script-src"]
            and "unsafe-eval" not in policy["script-src"]
        )
        # What the policy would block must not be on the page: inline scripts and handlers,
        # or anything loaded from another host.
        html = response.text
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        if path == "/docs":
            assert len(inline) == 1 and "'sha256-" in policy["script-src"]
        else:
            assert inline == [], path
            assert policy["script-src"] == "'self'"
        assert not re.search(r"\son[a-z]+=", html), path
        # htmx evaluates trigger filters, js: values and hx-on with eval, which is refused too.
        assert not re.search(r'hx-trigger="[^"]*\[|hx-vals="js:|hx-on', html), path
        assert not re.search(r"(src|href)=\"(https?:)?//", html), path
    api = client.get("/api/v1/people/me", headers=login(client, "courier"))
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers  # JSON is not a page


def test_the_policy_admits_the_configured_tile_server(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _policy(client.get("/login"))["img-src"] == "'self' data: blob:"
    monkeypatch.setenv("HANDOFF_MAP_TILE_URL", "http://10.0.0.9:8080/tiles/{z}/{x}/{y}.png")
    get_web_settings.cache_clear()
    try:
        policy = _policy(client.get("/login"))
    finally:
        monkeypatch.delenv("HANDOFF_MAP_TILE_URL")
        get_web_settings.cache_clear()
    assert policy["img-src"] == "'self' data: blob: http://10.0.0.9:8080"


def _csrf(client: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert found
    return found.group(1)


# --- logs ----------------------------------------------------------------------------------


def _logins_and_ingest(http: httpx.Client, world: World) -> list[str]:
    """Log in (rightly and wrongly), ingest, rotate a token, log in on the web; the secrets
    that went over the wire."""
    secrets = [PASSWORD, "Wr0ng-Secret-9", "hp_not-a-real-token-abc", *world.device_tokens.values()]
    for username in ("courier", "lab_receiver", "admin"):
        response = http.post(
            "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200
        secrets.append(response.json()["access_token"])
    admin = {"Authorization": f"Bearer {secrets[-1]}"}
    wrong = {"username": "courier", "password": "Wr0ng-Secret-9"}
    assert http.post("/api/v1/auth/token", data=wrong).status_code == 401
    events = [scan("collect", world.box, actor=world.badges["courier"])]
    ingest = http.post("/api/v1/events", json={"events": events}, headers=device_auth(world, "T01"))
    assert ingest.status_code == 200, ingest.text
    bad = http.get("/api/v1/sites", headers={"Authorization": "Bearer hp_not-a-real-token-abc"})
    assert bad.status_code == 401
    rotated = http.post(f"/api/v1/devices/{world.devices['CSSD']}/token", headers=admin)
    assert rotated.status_code == 200
    secrets.append(rotated.json()["token"])
    form = {"username": "admin", "password": PASSWORD, "csrf": _csrf(http)}
    assert http.post("/login", data=form, follow_redirects=False).status_code == 303
    secrets += [value for value in http.cookies.values() if value.startswith("hp_")]
    assert len(secrets) >= 9
    return secrets


def test_no_secret_or_token_in_the_server_log(
    database_url: str, world: World, tmp_path: Path
) -> None:
    """``handoff serve`` as in production (its info-level access log), output to a file."""
    port = free_port()
    log = tmp_path / "server.log"
    secret_key = "a-production-like-secret-key-0123456789abcdef"
    env = {
        **os.environ,
        "HANDOFF_DATABASE_URL": database_url,
        "HANDOFF_ENVIRONMENT": "test",
        "HANDOFF_SECRET_KEY": secret_key,
        "HANDOFF_ALERT_SWEEP_SECONDS": "0",
    }
    handoff = str(Path(sys.executable).parent / "handoff")
    with log.open("w") as out:
        process = subprocess.Popen(
            [handoff, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as http:
            secrets = [secret_key, *_logins_and_ingest(http, world)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    text = log.read_text()
    assert "POST /api/v1/auth/token" in text and "POST /api/v1/events" in text  # it did log
    assert [value for value in secrets if value in text] == []


def test_no_secret_or_token_in_the_apps_own_log_records(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = _logins_and_ingest(client, world)
    for _ in range(6):  # and a throttled login, which is logged
        client.post(
            "/api/v1/auth/token", data={"username": "dispatcher", "password": "Wr0ng-Secret-9"}
        )
    assert any("throttled" in record.getMessage() for record in caplog.records)
    lines = [record.getMessage() for record in caplog.records]
    assert [value for value in secrets if any(value in line for line in lines)] == []
