"""Batch ingest through POST /api/v1/events, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from labels.identity import Kind, make_id, new_id
from server.models import CustodyEvent, RejectedSubmission, utc_now
from tests.support.helpers import World, device_auth, login, scan


def _events(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one()


def _post(client: TestClient, world: World, site: str, *events: dict[str, object]):
    return client.post(
        "/api/v1/events", json={"events": list(events)}, headers=device_auth(world, site)
    )


def _flip_check(code: str) -> str:
    last = "0" if code[-1] != "0" else "1"
    return code[:-1] + last


class TestAccepted:
    def test_a_handoff_moves_state_and_holder(self, client: TestClient, world: World) -> None:
        staff, courier = world.badges["clinic_staff"], world.badges["courier"]
        response = _post(
            client,
            world,
            "T01",
            scan("prepare", world.box, actor=staff, count=6),
            scan("seal", world.box, actor=staff, seal="S123456"),
            scan("pickup", world.box, actor=courier, counterparty=staff, seal_intact=True),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert [r["status"] for r in body["results"]] == ["accepted"] * 3
        assert body["accepted"] == 3
        headers = login(client, "dispatcher")
        item = client.get(f"/api/v1/items/{world.box}", headers=headers).json()
        assert item["state"] == "in_transit"
        assert item["holder"]["badge"] == courier
        assert item["current_site"]["code"] == "T01"
        assert item["last_seq"] == 4  # registered + three scans

    def test_custody_chain_lists_events_in_order_with_hashes(
        self, client: TestClient, world: World
    ) -> None:
        staff = world.badges["clinic_staff"]
        _post(client, world, "T01", scan("prepare", world.box, actor=staff))
        chain = client.get(
            f"/api/v1/items/{world.box}/custody", headers=login(client, "courier")
        ).json()
        assert [e["type"] for e in chain["events"]] == ["registered", "prepare"]
        assert [e["item_seq"] for e in chain["events"]] == [1, 2]
        assert all(e["hash_ok"] for e in chain["events"]) and chain["intact"]
        assert chain["events"][1]["device"] == world.devices["T01"]
        assert chain["events"][1]["actor"]["badge"] == staff
        assert chain["item"]["barcode"] == world.box and chain["item"]["last_seq"] == 2
        assert chain["item"]["home_site"]["code"] == "T01"

    def test_custody_lookup_names_what_is_wrong_with_the_code(
        self, client: TestClient, world: World
    ) -> None:
        headers = login(client, "courier")
        wrong_check = world.box[:-1] + ("A" if world.box[-1] != "A" else "B")
        misread = client.get(f"/api/v1/items/{wrong_check}/custody", headers=headers)
        assert misread.status_code == 400 and "check" in misread.json()["detail"]
        stranger = new_id(Kind.SPECIMEN_BOX)
        unknown = client.get(f"/api/v1/items/{stranger}/custody", headers=headers)
        assert unknown.status_code == 404 and stranger in unknown.json()["detail"]
        badge = client.get(f"/api/v1/items/{world.badges['courier']}/custody", headers=headers)
        assert badge.status_code == 400  # a badge is not an item

    def test_what_a_device_sends_is_stored_exactly(
        self, client: TestClient, world: World, session_factory: sessionmaker[Session]
    ) -> None:
        """Rows go into PostgreSQL as COPY text written by Handoff: characters that format
        escapes must come back unchanged, and the stored row must still match its hash."""
        staff = world.badges["clinic_staff"]
        tricky: dict[str, Any] = {
            "text": 'tab\there, newline\nthere, cr\r, backslash \\ and \\N, "quotes", 样本 ✓',
            "nested": {"list": [1, 2.5, None, True, "\\t"], "empty": {}},
            "path": "C:\\temp\\new",
        }
        shanghai = timezone(timedelta(hours=8))
        at = (utc_now() - timedelta(minutes=1)).astimezone(shanghai).replace(microsecond=123456)
        event = scan("note", world.box, actor=staff, at=at, **tricky)
        response = client.post(
            "/api/v1/events",
            headers=device_auth(world, "T01"),
            json={"events": [event], "sent_at": (utc_now() + timedelta(minutes=3)).isoformat()},
        )
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["status"] == "accepted"
        with session_factory() as session:
            stored = session.execute(
                select(CustodyEvent).where(
                    CustodyEvent.event_id == uuid.UUID(cast(str, event["event_id"]))
                )
            ).scalar_one()
            assert stored.details == tricky
            assert stored.occurred_at == at
            assert (
                stored.clock_offset_ms is not None and abs(stored.clock_offset_ms + 180_000) < 5_000
            )
            assert stored.flags == [] and stored.flag_code is None
        verify = client.get("/api/v1/ledger/verify", headers=login(client, "admin")).json()
        assert verify["ok"], verify


class TestFlagged:
    def test_out_of_sequence_is_stored_and_flagged_with_a_reason(
        self, client: TestClient, world: World, session_factory: sessionmaker[Session]
    ) -> None:
        before = _events(session_factory)
        response = _post(
            client, world, "LAB", scan("open", world.box, actor=world.badges["lab_receiver"])
        )
        assert response.status_code == 200
        result = response.json()["results"][0]
        assert result["status"] == "flagged"
        assert result["code"] == "out_of_sequence"
        assert "cannot be 'open'" in result["reason"] and "expected: " in result["reason"]
        assert result["reason_zh"] == (
            "标本箱当前为「空箱在站点」，不能「开箱」；下一步应为：取消、装箱"
        )
        assert _events(session_factory) == before + 1
        item = client.get(f"/api/v1/items/{world.box}", headers=login(client, "admin")).json()
        assert item["state"] == "available"  # a flagged event does not move the lifecycle
        assert item["open_flags"] == 1
        assert item["current_site"]["code"] == "LAB"  # but it does say where the box was seen
        chain = client.get(f"/api/v1/items/{world.box}/custody", headers=login(client, "admin"))
        flags = chain.json()["events"][-1]["flags"]
        assert [f["code"] for f in flags] == ["out_of_sequence"]
        assert flags[0]["zh"] == result["reason_zh"] and flags[0]["en"] == result["reason"]

    def test_small_clock_skew_is_flagged_not_refused(
        self, client: TestClient, world: World
    ) -> None:
        ahead = utc_now() + timedelta(hours=2)
        response = _post(client, world, "T01", scan("prepare", world.box, at=ahead))
        result = response.json()["results"][0]
        assert response.status_code == 200
        assert result["status"] == "flagged" and result["code"] == "clock_skew"
        assert "ahead" in result["reason"]


class TestIdempotency:
    def test_the_same_batch_twice_is_stored_once(
        self, client: TestClient, world: World, session_factory: sessionmaker[Session]
    ) -> None:
        staff = world.badges["clinic_staff"]
        batch = [scan("prepare", world.box, actor=staff), scan("seal", world.box, actor=staff)]
        first = _post(client, world, "T01", *batch).json()
        before = _events(session_factory)
        second = _post(client, world, "T01", *batch).json()
        assert [r["status"] for r in first["results"]] == ["accepted", "accepted"]
        assert [r["status"] for r in second["results"]] == ["duplicate", "duplicate"]
        assert [r["position"] for r in second["results"]] == [
            r["position"] for r in first["results"]
        ]
        assert second["duplicates"] == 2 and second["accepted"] == 0
        assert _events(session_factory) == before

    def test_a_repeat_inside_one_batch_is_a_duplicate(
        self, client: TestClient, world: World
    ) -> None:
        event = scan("prepare", world.box)
        body = _post(client, world, "T01", event, event).json()
        assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]
        assert body["results"][1]["code"] == "repeated_in_batch"

    def test_reused_event_id_with_other_content_is_reported(
        self, client: TestClient, world: World
    ) -> None:
        event = scan("prepare", world.box)
        _post(client, world, "T01", event)
        changed = {**event, "type": "seal"}
        result = _post(client, world, "T01", changed).json()["results"][0]
        assert result["status"] == "duplicate" and result["code"] == "different_content"


class TestRejected:
    def _assert_nothing_written(
        self, response, session_factory: sessionmaker[Session], before: int, code: str
    ) -> dict[str, Any]:
        assert response.status_code == 422, response.text
        body: dict[str, Any] = response.json()
        assert body["error"] == "BatchRejected"
        statuses = [r["status"] for r in body["results"]]
        assert "rejected" in statuses
        assert set(statuses) <= {"rejected", "not_written"}
        rejected = [r for r in body["results"] if r["status"] == "rejected"]
        assert rejected[0]["code"] == code
        assert rejected[0]["reason"]
        assert _events(session_factory) == before
        with session_factory() as session:
            kept = session.execute(select(RejectedSubmission)).scalars().all()
        assert [k.code for k in kept] == [r["code"] for r in rejected]
        return body

    def test_wrong_check_character(
        self, client: TestClient, world: World, session_factory: sessionmaker[Session]
    ) -> None:
        before = _events(session_factory)
        response = _post(
            client,
            world,
            "T01",
            scan("prepare", world.box2),
            scan("prepare", _flip_check(world.box)),
        )
        body = self._assert_nothing_written(response, session_factory, before, "bad_check")
        assert body["results"][0]["status"] == "not_written"
        assert "check character" in body["results"][1]["reason"]

    def test_unknown_barcode(
        self, client: TestClient, world: World, session_factory: sessionmaker[Session]
    ) -> None:
        before = _events(session_factory)
        unknown = make_id(Kind.SPECIMEN_BOX, "ZZZZZZZZ")
        response = _post(client, world, "T01", scan("prepare", unknown))
        body = self._assert_nothing_written(response, session_factory, before, "unknown_barcode")
        assert unknown in body["detail"]

    def test_wrong_kind_badge_where_an_item_is_expected(
        self, client: TestClient, world: World, session_factory: sessionmaker[Session]
    ) -> None:
        before = _events(session_factory)
        response = _post(client, world, "T01", scan("prepare", world.badges["courier"]))
        self._assert_nothing_written(response, session_factory, before, "wrong_kind")

    def test_timestamp_far_in_the_future(
        self, client: TestClient, world: World, session_factory: sessionmaker[Session]
    ) -> None:
        before = _events(session_factory)
        response = _post(
            client, world, "T01", scan("prepare", world.box, at=utc_now() + timedelta(days=3))
        )
        body = self._assert_nothing_written(response, session_factory, before, "future_timestamp")
        assert "in the future" in body["detail"]

    def test_a_device_cannot_write_for_another_site(
        self, client: TestClient, world: World, session_factory: sessionmaker[Session]
    ) -> None:
        before = _events(session_factory)
        event = {**scan("prepare", world.box), "site": "LAB"}
        response = _post(client, world, "T01", event)
        self._assert_nothing_written(response, session_factory, before, "wrong_site")

    def test_unknown_event_type(
        self, client: TestClient, world: World, session_factory: sessionmaker[Session]
    ) -> None:
        before = _events(session_factory)
        response = _post(client, world, "T01", scan("teleport", world.box))
        self._assert_nothing_written(response, session_factory, before, "unknown_type")


class TestBadRequests:
    def test_malformed_json(self, client: TestClient, world: World, session_factory) -> None:
        before = _events(session_factory)
        response = client.post(
            "/api/v1/events",
            content=b'{"events": [',
            headers={**device_auth(world, "T01"), "content-type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["detail"] == "the request body is not valid JSON"
        assert _events(session_factory) == before

    def test_batch_over_the_limit(
        self, client: TestClient, world: World, session_factory, settings
    ) -> None:
        before = _events(session_factory)
        events = [scan("note", world.box) for _ in range(settings.ingest_batch_limit + 1)]
        response = _post(client, world, "T01", *events)
        assert response.status_code == 413
        assert str(settings.ingest_batch_limit) in response.json()["detail"]
        assert _events(session_factory) == before

    def test_megabyte_strings(self, client: TestClient, world: World, session_factory) -> None:
        before = _events(session_factory)
        huge = "X" * 1_000_000
        for event in (scan("prepare", huge), {**scan("prepare", world.box), "type": huge}):
            response = _post(client, world, "T01", event)
            assert response.status_code == 422
            body = response.json()
            assert body["error"] == "ValidationError"
            assert len(response.content) < 10_000  # the answer does not echo the megabyte
        assert _events(session_factory) == before

    def test_body_over_the_size_limit(self, client: TestClient, world: World, settings) -> None:
        body = json.dumps(
            {"events": [scan("note", world.box, pad="Y" * (settings.max_body_bytes + 10))]}
        )
        response = client.post(
            "/api/v1/events",
            content=body.encode(),
            headers={**device_auth(world, "T01"), "content-type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json()["error"] == "PayloadTooLarge"

    def test_nul_characters_are_refused(self, client: TestClient, world: World) -> None:
        response = _post(client, world, "T01", scan("note", world.box, text="a\x00b"))
        assert response.status_code == 422
        assert "NUL" in response.json()["detail"]

    def test_naive_timestamp_is_refused(self, client: TestClient, world: World) -> None:
        event = {**scan("note", world.box), "occurred_at": "2026-11-22T08:00:00"}
        response = _post(client, world, "T01", event)
        assert response.status_code == 422
        assert "occurred_at" in response.json()["detail"]


class TestHostileBodies:
    def test_nan_and_huge_details_are_refused(self, client: TestClient, world: World) -> None:
        nan = b'{"events": [{"event_id": "6f1c2a7e-8a55-4b8e-9f57-0d2c3b1e9a10", "type": "note", '
        nan += f'"item": "{world.box}", "occurred_at": "2026-11-22T08:00:00+08:00", '.encode()
        nan += b'"details": {"t": NaN}}]}'
        headers = {**device_auth(world, "T01"), "content-type": "application/json"}
        response = client.post("/api/v1/events", content=nan, headers=headers)
        assert response.status_code == 422
        assert "NaN" in response.json()["detail"]
        big = _post(client, world, "T01", scan("note", world.box, blob="x" * 20_000))
        assert big.status_code == 422 and "KB" in big.json()["detail"]

    def test_deeply_nested_json_is_a_clear_400(self, client: TestClient, world: World) -> None:
        body = b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        headers = {**device_auth(world, "T01"), "content-type": "application/json"}
        response = client.post("/api/v1/events", content=body, headers=headers)
        assert response.status_code == 400
        assert response.json()["error"] == "HTTPError"

    def test_a_chunked_body_over_the_limit_is_413(
        self, client: TestClient, world: World, settings
    ) -> None:
        def chunks() -> Iterator[bytes]:
            yield b'{"events": ['
            for _ in range(settings.max_body_bytes // 1000 + 10):
                yield b" " * 1000
            yield b"]}"

        headers = {**device_auth(world, "T01"), "content-type": "application/json"}
        response = client.post("/api/v1/events", content=chunks(), headers=headers)
        assert response.status_code == 413
        assert response.json()["error"] == "PayloadTooLarge"


class TestLateAndSkewedDevices:
    def test_a_batch_out_of_order_is_folded_in_causal_order(
        self, client: TestClient, world: World
    ) -> None:
        """One batch holds a box's seal before its prepare (both after its registration) and
        an older scan of the second box: each is judged where it happened."""
        staff, courier = world.badges["clinic_staff"], world.badges["courier"]
        admin = login(client, "admin")
        chain = client.get(f"/api/v1/items/{world.box}/custody", headers=admin).json()
        registered = datetime.fromisoformat(chain["events"][0]["occurred_at"])
        at = [registered + timedelta(seconds=n) for n in range(1, 5)]
        answer = _post(
            client,
            world,
            "T01",
            scan("seal", world.box, actor=staff, at=at[1], seal="S7"),
            scan("note", world.box2, actor=staff, at=at[3]),
            scan("prepare", world.box, actor=staff, at=at[0]),
            scan("note", world.box2, actor=staff, at=at[2]),
            scan("pickup", world.box, actor=courier, counterparty=staff, at=at[2], seal="S7"),
        ).json()
        # Seal before prepare is out of sequence as far as the batch order goes; in causal
        # order it is not, and the prepare that arrives later in the batch puts it right.
        assert [r["status"] for r in answer["results"]] == ["flagged"] + ["accepted"] * 4
        item = client.get(f"/api/v1/items/{world.box}", headers=admin).json()
        assert item["state"] == "in_transit", item
        events = client.get(f"/api/v1/items/{world.box}/custody", headers=admin).json()["events"]
        assert [e["type"] for e in events] == ["registered", "seal", "prepare", "pickup"]
        verify = client.get("/api/v1/ledger/verify", headers=admin).json()
        assert verify["ok"], verify

    def test_a_late_offline_scan_takes_its_place_in_the_history(
        self, client: TestClient, world: World
    ) -> None:
        """The lab's receipt reaches the server before the courier's offline pickup scan."""
        staff, courier = world.badges["clinic_staff"], world.badges["courier"]
        lab = world.badges["lab_receiver"]
        t0 = utc_now() - timedelta(hours=3)
        _post(
            client,
            world,
            "T01",
            scan("prepare", world.box, actor=staff, at=t0),
            scan("seal", world.box, actor=staff, at=t0 + timedelta(minutes=5), seal="S1"),
        )
        early = _post(
            client,
            world,
            "LAB",
            scan("receive", world.box, actor=lab, counterparty=courier, at=t0 + timedelta(hours=2)),
        ).json()
        assert early["results"][0]["code"] == "out_of_sequence"  # as far as anyone knew then
        late = client.post(
            "/api/v1/events",
            headers=device_auth(world, "T01"),
            json={
                "events": [
                    scan(
                        "pickup",
                        world.box,
                        actor=courier,
                        counterparty=staff,
                        at=t0 + timedelta(minutes=30),
                    )
                ],
                "sent_at": utc_now().isoformat(),
            },
        ).json()
        assert late["results"][0]["status"] == "accepted"  # judged where it happened
        item = client.get(f"/api/v1/items/{world.box}", headers=login(client, "admin")).json()
        assert item["state"] == "received"  # seal → pickup → receive, in causal order
        chain = client.get(f"/api/v1/items/{world.box}/custody", headers=login(client, "admin"))
        events = chain.json()["events"]
        assert [e["type"] for e in events] == ["registered", "prepare", "seal", "receive", "pickup"]
        verify = client.get("/api/v1/ledger/verify", headers=login(client, "admin")).json()
        assert verify["ok"], verify

    def test_a_device_clock_off_by_more_than_the_tolerance_is_flagged(
        self, client: TestClient, world: World
    ) -> None:
        device_now = utc_now() - timedelta(minutes=7)  # the phone is 7 minutes slow
        response = client.post(
            "/api/v1/events",
            headers=device_auth(world, "T01"),
            json={
                "events": [scan("prepare", world.box, at=device_now - timedelta(minutes=1))],
                "sent_at": device_now.isoformat(),
            },
        )
        result = response.json()["results"][0]
        assert result["status"] == "flagged" and result["code"] == "clock_behind"
        assert result["reason_zh"].startswith("终端时钟比服务器慢 7")
        chain = client.get(f"/api/v1/items/{world.box}/custody", headers=login(client, "admin"))
        last = chain.json()["events"][-1]
        assert last["occurred_at"].startswith(
            (device_now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
        )
