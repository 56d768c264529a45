"""Administration CRUD and the shape of its errors."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from labels.identity import Kind, make_id
from tests.support.helpers import World, login


def test_sites_people_items_round_trip(client: TestClient, world: World) -> None:
    admin = login(client, "admin")
    site = client.post(
        "/api/v1/sites",
        headers=admin,
        json={
            "code": "T09",
            "kind": "township_clinic",
            "name_zh": "白沙镇卫生院",
            "name_en": "Baisha Township Health Centre",
            "latitude": 30.4,
            "longitude": 115.2,
        },
    )
    assert site.status_code == 201, site.text
    assert site.json()["barcode"].startswith("ZN")
    person = client.post(
        "/api/v1/people",
        headers=admin,
        json={
            "name": "李强",
            "role": "clinic_staff",
            "home_site": "T09",
            "username": "liqiang",
            "password": "long enough pw",
        },
    )
    assert person.status_code == 201
    assert "password" not in person.json() and "password_hash" not in person.json()
    assert login(client, "liqiang", "long enough pw")
    item = client.post("/api/v1/items", headers=admin, json={"kind": "pack", "home_site": "T09"})
    assert item.status_code == 201
    assert item.json()["state"] == "packed" and item.json()["last_seq"] == 1
    gone = client.delete(f"/api/v1/people/{person.json()['badge']}", headers=admin)
    assert gone.json()["active"] is False
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": "liqiang", "password": "long enough pw"}
        ).status_code
        == 401
    )


def test_duplicate_site_code_is_a_conflict(client: TestClient, world: World) -> None:
    admin = login(client, "admin")
    response = client.post(
        "/api/v1/sites",
        headers=admin,
        json={
            "code": "T01",
            "kind": "township_clinic",
            "name_zh": "x",
            "name_en": "x",
            "latitude": 30,
            "longitude": 115,
        },
    )
    assert response.status_code == 409
    assert response.json() == {"error": "Conflict", "detail": "a site with code T01 already exists"}


def test_item_lookups_explain_bad_codes(client: TestClient, world: World) -> None:
    headers = login(client, "courier")
    wrong_check = world.box[:-1] + ("0" if world.box[-1] != "0" else "1")
    cases = {
        wrong_check: (400, "check character"),
        world.badges["courier"]: (400, "expected"),
        make_id(Kind.SPECIMEN_BOX, "00000000"): (404, "no item has the barcode"),
        "hello": (400, ""),
    }
    for code, (status, words) in cases.items():
        response = client.get(f"/api/v1/items/{code}", headers=headers)
        assert response.status_code == status, code
        assert words in response.json()["detail"]


def test_registering_a_preprinted_label_of_the_wrong_kind_is_refused(
    client: TestClient, world: World
) -> None:
    admin = login(client, "admin")
    response = client.post(
        "/api/v1/items", headers=admin, json={"kind": "pack", "barcode": world.box}
    )
    assert response.status_code == 400
    again = client.post(
        "/api/v1/items", headers=admin, json={"kind": "specimen_box", "barcode": world.box}
    )
    assert again.status_code == 409


def test_validation_errors_name_the_field(client: TestClient, world: World) -> None:
    admin = login(client, "admin")
    response = client.post(
        "/api/v1/sites", headers=admin, json={"code": "T10", "kind": "moon_base"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError"
    assert body["detail"].startswith("kind:")
    assert {e["loc"] for e in body["errors"]} >= {"kind", "name_zh"}


def test_openapi_documents_every_route_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert "/api/v1/events" in paths and "/api/v1/items/{barcode}/custody" in paths
    assert "examples" in spec["components"]["schemas"]["EventIn"]
    ingest = paths["/api/v1/events"]["post"]
    assert {"200", "413", "422"} <= set(ingest["responses"])
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_landing_page_says_what_is_running(client: TestClient, world: World) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "Handoff" in page.text and "/docs" in page.text
    # 5 sites, 8 people, 3 devices, 4 items, 4 'registered' events in the test county
    numbers = re.findall(r'<td class="n">([^<]*)</td>', page.text)
    assert numbers == ["5", "8", "3", "4", "4"]
