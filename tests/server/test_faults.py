"""Faults at the server's edge (issue 9): racing stations, cut-off bodies, slow clients.

Each runs a real server process on 127.0.0.1 against the test's own database (SQLite and
PostgreSQL); the HTTP traffic is made on raw sockets where a well-behaved client cannot make it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db import session_scope
from server.devices.schemas import DeviceCreate
from server.devices.service import create_device
from server.models import CustodyEvent, Item, utc_now
from tests.support.helpers import World, scan
from tests.support.server import running_server


def _events_of(session_factory: sessionmaker[Session], barcode: str) -> list[CustodyEvent]:
    with session_factory() as session:
        return list(
            session.execute(
                select(CustodyEvent)
                .join(Item, Item.id == CustodyEvent.item_id)
                .where(Item.barcode == barcode)
                .order_by(CustodyEvent.item_seq)
            ).scalars()
        )


def _count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one())


def test_two_stations_picking_up_the_same_box_at_once(
    database_url: str, world: World, session_factory: sessionmaker[Session]
) -> None:
    """Two couriers scan the same sealed box at two T01 stations in the same instant, each
    station posting to its own server process: one pickup wins, the other is stored and
    flagged, and the box has one holder."""
    with session_scope(session_factory) as session:
        _, second_token = create_device(session, None, DeviceCreate(name="T01 door", site="T01"))
    staff = world.badges["clinic_staff"]
    sealed = utc_now() - timedelta(minutes=30)
    ready = [
        scan("prepare", world.box, actor=staff, specimen_type="serum", count=2,
             collected_at=(sealed - timedelta(minutes=10)).isoformat(), destination="LAB",
             at=sealed - timedelta(minutes=1)),
        scan("seal", world.box, actor=staff, seal="S200", at=sealed),
    ]  # fmt: skip
    moment = utc_now() - timedelta(minutes=5)
    tokens = {"courier": world.device_tokens["T01"], "courier2": second_token}
    answers: dict[str, dict[str, object]] = {}
    with running_server(database_url) as first, running_server(database_url) as second:
        response = httpx.post(
            f"{first}/api/v1/events",
            json={"events": ready},
            headers={"Authorization": f"Bearer {tokens['courier']}"},
            timeout=30,
        )
        assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]
        barrier = threading.Barrier(2)

        def pick_up(base: str, courier: str) -> None:
            event = scan(
                "pickup", world.box, actor=world.badges[courier], counterparty=staff,
                seal="S200", seal_intact=True, at=moment,
            )  # fmt: skip
            with httpx.Client(base_url=base, timeout=60) as http:
                barrier.wait()
                answer = http.post(
                    "/api/v1/events",
                    json={"events": [event]},
                    headers={"Authorization": f"Bearer {tokens[courier]}"},
                )
            assert answer.status_code == 200, answer.text
            answers[courier] = answer.json()["results"][0]

        threads = [
            threading.Thread(target=pick_up, args=(base, courier))
            for base, courier in ((first, "courier"), (second, "courier2"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    statuses = sorted(str(answer["status"]) for answer in answers.values())
    assert statuses == ["accepted", "flagged"], answers
    (loser,) = [a for a in answers.values() if a["status"] == "flagged"]
    assert loser["reason"], loser  # a reason a person can read
    events = _events_of(session_factory, world.box)
    pickups = [event for event in events if event.type == "pickup"]
    assert len(pickups) == 2  # both stored
    assert [event.flag_code is None for event in pickups] == [True, False]  # first wins
    with session_factory() as session:
        box = session.execute(select(Item).where(Item.barcode == world.box)).scalar_one()
        assert box.state == "in_transit"
        assert box.holder_id == pickups[0].actor_id


def _raw_request(base: str, head: str, body: bytes) -> socket.socket:
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
    sock.sendall(head.encode() + b"\r\n\r\n" + body)
    return sock


def _head(token: str, length: int) -> str:
    return (
        "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {length}"
    )


def test_a_body_cut_off_mid_stream_stores_nothing(
    database_url: str, world: World, session_factory: sessionmaker[Session]
) -> None:
    staff = world.badges["clinic_staff"]
    body = json.dumps(
        {"events": [scan("note", world.box, actor=staff, n=n) for n in range(200)]}
    ).encode()
    before = _count(session_factory)
    token = world.device_tokens["T01"]
    with running_server(database_url) as base:
        sock = _raw_request(base, _head(token, len(body)), body[: len(body) // 2])
        time.sleep(0.3)
        sock.close()  # the station's network drops mid-request
        # A body that ends early but says it is complete: unreadable JSON, refused whole.
        short = httpx.post(
            f"{base}/api/v1/events",
            content=body[: len(body) // 2],
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=30,
        )
        assert 400 <= short.status_code < 500, short.text
        assert short.json()["detail"]
        time.sleep(0.3)
        assert _count(session_factory) == before  # nothing partly written
        whole = httpx.post(
            f"{base}/api/v1/events",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=30,
        )
        assert whole.status_code == 200, whole.text  # the server is fine and takes the resend
    assert _count(session_factory) == before + 200


def test_a_slow_client_does_not_hold_up_the_others(
    database_url: str, world: World, session_factory: sessionmaker[Session]
) -> None:
    """A station on a bad line trickles its batch in over ~2 s; meanwhile another station's
    batches are answered promptly, and the slow batch is stored whole once it has arrived."""
    staff = world.badges["clinic_staff"]
    slow_events = [scan("note", world.box, actor=staff, n=n) for n in range(50)]
    body = json.dumps({"events": slow_events}).encode()
    token = world.device_tokens["T01"]
    before = _count(session_factory)
    with running_server(database_url) as base:
        sock = _raw_request(base, _head(token, len(body)), b"")
        step = len(body) // 20 + 1
        chunks = [body[i : i + step] for i in range(0, len(body), step)]
        fast_times: list[float] = []
        with httpx.Client(base_url=base, timeout=30) as http:
            for n, chunk in enumerate(chunks):
                sock.sendall(chunk)
                started = time.perf_counter()
                answer = http.post(
                    "/api/v1/events",
                    json={"events": [scan("note", world.box2, actor=staff, n=n)]},
                    headers={"Authorization": f"Bearer {token}"},
                )
                fast_times.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
                time.sleep(0.1)
        reply = b""
        while b"\r\n\r\n" not in reply:
            data = sock.recv(65536)
            assert data, "the server closed the slow client's connection without an answer"
            reply += data
        sock.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert max(fast_times) < 2.0, fast_times  # not queued behind the slow upload
    assert _count(session_factory) == before + len(slow_events) + len(chunks)
    assert len(_events_of(session_factory, world.box)) == len(slow_events) + 1  # + registered
