"""The pages' rules without a browser: sessions, CSRF, roles, bad input (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.support.helpers import PASSWORD, World


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _login(client: TestClient, username: str, next_path: str = "/home") -> str:
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf": _csrf(page.text),
            "next": next_path,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def test_a_browser_session_is_a_revocable_login_token(client: TestClient, world: World) -> None:
    assert client.get("/lab", follow_redirects=False).headers["location"] == "/login?next=/lab"
    assert _login(client, "lab_receiver", "/lab") == "/lab"
    cookie = client.cookies.get("handoff_session")
    assert cookie and cookie.startswith("hp_")
    board = client.get("/lab")
    assert board.status_code == 200 and "检验接收看板" in board.text
    # the same token works as a bearer token: one auth service for both
    api = client.get("/api/v1/items", headers={"Authorization": f"Bearer {cookie}"})
    assert api.status_code == 200
    logout = client.post("/logout", data={"csrf": _csrf(board.text)}, follow_redirects=False)
    assert logout.status_code == 303
    revoked = client.get("/api/v1/items", headers={"Authorization": f"Bearer {cookie}"})
    assert revoked.status_code == 401


def test_login_refuses_wrong_passwords_forged_forms_and_other_hosts(
    client: TestClient, world: World
) -> None:
    page = client.get("/login")
    csrf = _csrf(page.text)
    wrong = client.post("/login", data={"username": "admin", "password": "nope", "csrf": csrf})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    forged = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": "x"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert _login(client, "admin", "//evil.example/") == "/home"


def test_roles_decide_the_pages_and_actions(client: TestClient, world: World) -> None:
    _login(client, "courier")
    page = client.get("/timeline")
    assert page.status_code == 200
    assert 'href="/cssd"' not in page.text and 'href="/admin"' not in page.text
    denied = client.get("/admin")
    assert denied.status_code == 403 and "配送员无权打开此页面" in denied.text
    release = client.post(
        "/cssd/loads/ST1-20260101-01/release", headers={"X-CSRF-Token": _csrf(page.text)}
    )
    assert release.status_code == 403
    # a courier sees no correction form and may not post one
    answer = client.get("/timeline/scan", params={"code": world.box})
    assert answer.status_code == 200 and 'hx-post="/timeline/correct"' not in answer.text
    correction = client.post(
        "/timeline/correct",
        data={"code": world.box, "event_id": "x", "field": "actor", "reason": "r"},
        headers={"X-CSRF-Token": _csrf(page.text)},
    )
    assert correction.status_code == 403


def test_bad_input_gets_a_readable_page_never_a_500(client: TestClient, world: World) -> None:
    _login(client, "admin")
    board = client.get("/admin")
    csrf = {"X-CSRF-Token": _csrf(board.text), "HX-Request": "true"}
    cases = [
        client.get("/lab?day=yesterday"),
        client.get("/cssd/recalls/RC-NOPE"),
        client.get("/dispatch/sheets?trip=TPNOPE"),
        client.post(
            "/lab/discrepancies/not-a-uuid", data={"state": "resolved", "note": "x"}, headers=csrf
        ),
        client.post(
            "/admin/sites",
            data={
                "code": "T 9",
                "kind": "moon",
                "name_zh": "x",
                "name_en": "x",
                "latitude": "north",
                "longitude": "1",
            },
            headers=csrf,
        ),
        client.post(
            "/admin/people",
            data={"name": "x", "role": "courier", "username": "u1", "password": "short"},
            headers=csrf,
        ),
        client.post("/admin/devices", data={"name": "x", "site": "NOWHERE"}, headers=csrf),
        client.post("/cssd/loads/NOPE/release", headers=csrf),
        client.post("/cssd/compromise", data={"pack": "PK123", "reason": "dropped"}, headers=csrf),
        client.post(
            "/timeline/correct",
            data={"code": "PK123", "event_id": "not-an-id", "field": "actor", "reason": "r"},
            headers=csrf,
        ),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, (response.request.url, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
        assert "msg bad" in response.text
    # an HTMX request gets its error into the page's message area
    assert cases[-2].headers["HX-Retarget"] == "#flash"


def test_timeline_tells_a_misread_from_an_unknown_item(client: TestClient, world: World) -> None:
    _login(client, "clinic_staff")
    wrong_check = "1" if world.box.endswith("0") else "0"
    misread = client.get("/timeline/scan", params={"code": world.box[:-1] + wrong_check})
    known = client.get("/timeline/scan", params={"code": world.box})
    client.cookies.set("handoff_lang", "en")
    english = client.get("/timeline/scan", params={"code": world.box})
    assert 'data-tone="bad"' in misread.text and "校验位错误" in misread.text
    assert f'data-barcode="{world.box}"' in known.text and "哈希链完整" in known.text
    assert "hash chain intact" in english.text


def test_an_implant_load_is_released_early_only_with_its_indicator(
    client: TestClient, world: World
) -> None:
    from tests.server.test_cssd import Cssd

    cssd = Cssd(client, world)
    cssd.setup(implant=True)
    cssd.bowie_dick()
    number = cssd.load(cssd.pack())
    cssd.call(
        "POST",
        f"/loads/{number}/unload",
        {"cooling_minutes": 40, "chemical_indicator_passed": True},
    )
    _login(client, "cssd_staff")
    board = client.get("/cssd")
    assert f'hx-post="/cssd/loads/{number}/release"' not in board.text  # waits for its BI
    assert f"/cssd/loads/{number}/emergency-release" in board.text
    headers = {"X-CSRF-Token": _csrf(board.text), "HX-Request": "true"}
    form = {"approver": world.badges["admin"], "reason": "急诊手术"}
    refused = client.post(f"/cssd/loads/{number}/emergency-release", data=form, headers=headers)
    assert refused.status_code == 409 and "msg bad" in refused.text
    assert cssd.call("GET", f"/loads/{number}")["status"] == "unloaded"
    done = client.post(
        f"/cssd/loads/{number}/emergency-release",
        data={**form, "type5_indicator_passed": "true"},
        headers=headers,
    )
    assert done.status_code == 200 and "已放行" in done.text
    load = cssd.call("GET", f"/loads/{number}")
    assert load["status"] == "released"
    assert load["emergency_release"]["approver"] == world.badges["admin"]


def test_an_expired_session_sends_htmx_to_the_login_page(client: TestClient, world: World) -> None:
    client.cookies.set("handoff_session", "hp_not-a-real-token")
    page = client.get("/lab/board", headers={"HX-Request": "true"}, follow_redirects=False)
    assert page.status_code == 401
    assert page.headers["HX-Redirect"].startswith("/login?next=")
    plain = client.get("/dispatch", follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/login?next=/dispatch"


def test_a_tile_server_is_used_only_when_configured(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.config import get_web_settings

    _login(client, "dispatcher")
    assert 'data-tiles=""' in client.get("/dispatch").text
    monkeypatch.setenv("HANDOFF_MAP_TILE_URL", "http://10.0.0.9/tiles/{z}/{x}/{y}.png")
    get_web_settings.cache_clear()
    try:
        page = client.get("/dispatch").text
    finally:
        monkeypatch.delenv("HANDOFF_MAP_TILE_URL")
        get_web_settings.cache_clear()
    assert 'data-tiles="http://10.0.0.9/tiles/{z}/{x}/{y}.png"' in page
    assert "未配置地图瓦片服务" not in page


def test_disabling_a_device_or_a_person_stops_their_tokens(
    client: TestClient, world: World
) -> None:
    _login(client, "admin")
    board = client.get("/admin")
    headers = {"X-CSRF-Token": _csrf(board.text), "HX-Request": "true"}
    device_auth = {"Authorization": f"Bearer {world.device_tokens['T01']}"}
    assert client.get("/api/v1/items", headers=device_auth).status_code == 200
    off = client.post(
        f"/admin/devices/{world.devices['T01']}/active", data={"active": "false"}, headers=headers
    )
    assert off.status_code == 200 and "已停用" in off.text
    assert client.get("/api/v1/items", headers=device_auth).status_code == 401
    client.post(
        f"/admin/devices/{world.devices['T01']}/active", data={"active": "true"}, headers=headers
    )
    assert client.get("/api/v1/items", headers=device_auth).status_code == 200

    courier = client.post(
        "/api/v1/auth/token", data={"username": "courier", "password": PASSWORD}
    ).json()["access_token"]
    client.post(
        f"/admin/people/{world.badges['courier']}/active", data={"active": "false"}, headers=headers
    )
    answer = client.get("/api/v1/items", headers={"Authorization": f"Bearer {courier}"})
    assert answer.status_code == 401
    myself = client.post(
        f"/admin/people/{world.badges['admin']}/active", data={"active": "false"}, headers=headers
    )
    assert myself.status_code == 400 and "不能停用自己的账号" in myself.text


def test_the_language_switch_keeps_the_page_and_its_day(client: TestClient, world: World) -> None:
    _login(client, "lab_receiver")
    page = client.get("/lab?day=2026-01-05")
    link = re.search(r'href="(/lang/en\?next=[^"]+)"', page.text)
    assert link, page.text[:500]
    switched = client.get(link.group(1).replace("&amp;", "&"), follow_redirects=False)
    assert switched.headers["location"] == "/lab?day=2026-01-05"
    english = client.get(switched.headers["location"])
    assert "Laboratory receiving board · 2026-01-05" in english.text
