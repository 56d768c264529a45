"""Two server processes receiving the same events at the same moment store each once."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from server.custody import ledger
from server.db import read_scope
from server.items.service import custody_chain_by_barcode
from server.models import Box, CustodyEvent, Item, LedgerHead
from tests.support.helpers import World, device_auth, scan
from tests.support.server import running_server


def test_two_processes_posting_the_same_events(
    database_url: str, world: World, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        before = session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one()
    staff = world.badges["clinic_staff"]
    rounds = 5
    batches = [
        [
            scan("note", item, actor=staff, n=i)
            for item in (world.box, world.box2, world.tray)
            for i in range(40)
        ]
        for _ in range(rounds)
    ]
    headers = {"Authorization": f"Bearer {world.device_tokens['T01']}"}
    answers: list[list[str]] = []
    with running_server(database_url) as first, running_server(database_url) as second:
        for batch in batches:
            barrier = threading.Barrier(2)

            def post(
                base: str,
                batch: list[dict[str, object]] = batch,
                barrier: threading.Barrier = barrier,
            ) -> None:
                with httpx.Client(base_url=base, timeout=60) as http:
                    barrier.wait()
                    response = http.post("/api/v1/events", json={"events": batch}, headers=headers)
                    assert response.status_code == 200, response.text
                    answers.append([r["status"] for r in response.json()["results"]])

            threads = [threading.Thread(target=post, args=(base,)) for base in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    assert len(answers) == 2 * rounds
    for index in range(0, len(answers), 2):
        pair = list(zip(answers[index], answers[index + 1], strict=True))
        # For each event exactly one process stored it and the other saw a duplicate.
        assert all(sorted(statuses) == ["accepted", "duplicate"] for statuses in pair)
    with session_factory() as session:
        stored = session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one()
        distinct = session.execute(
            select(func.count(func.distinct(CustodyEvent.event_id)))
        ).scalar_one()
    expected = before + sum(len(batch) for batch in batches)
    assert stored == distinct == expected


def test_two_processes_appending_to_the_same_items(
    database_url: str, world: World, session_factory: sessionmaker[Session]
) -> None:
    """Different events for the same boxes at the same moment: every one stored, each item's
    sequence without gaps or repeats (the later batch re-reads the items under the lock)."""
    staff = world.badges["clinic_staff"]
    headers = {"Authorization": f"Bearer {world.device_tokens['T01']}"}
    statuses: list[int] = []
    with running_server(database_url) as first, running_server(database_url) as second:
        for _ in range(5):
            barrier = threading.Barrier(2)

            def post(base: str, barrier: threading.Barrier = barrier) -> None:
                batch = [
                    scan("note", item, actor=staff, n=n)
                    for n in range(20)
                    for item in (world.box, world.box2)
                ]
                with httpx.Client(base_url=base, timeout=60) as http:
                    barrier.wait()
                    response = http.post("/api/v1/events", json={"events": batch}, headers=headers)
                    statuses.append(response.status_code)

            threads = [threading.Thread(target=post, args=(base,)) for base in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    assert statuses == [200] * 10
    with session_factory() as session:
        for barcode in (world.box, world.box2):
            seqs = (
                session.execute(
                    select(CustodyEvent.item_seq)
                    .join(Item, Item.id == CustodyEvent.item_id)
                    .where(Item.barcode == barcode)
                    .order_by(CustodyEvent.item_seq)
                )
                .scalars()
                .all()
            )
            assert seqs == list(range(1, 1 + 1 + 5 * 2 * 20))


def test_a_batch_that_waited_for_the_lock_reads_what_was_appended_meanwhile(
    backend: str,
    database_url: str,
    world: World,
    client: TestClient,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another server appends to the same box between this batch's reads and its lock.

    The batch reads items, earlier copies and box facts before it takes the append lock;
    a re-seal stored in between must be what its pickup is compared with, and its event
    must follow the re-seal in the box's sequence.
    """
    if backend == "sqlite":
        pytest.skip("SQLite takes the write lock at BEGIN: no batch can append while one waits")
    staff, courier = world.badges["clinic_staff"], world.badges["courier"]
    headers = {"Authorization": f"Bearer {world.device_tokens['T01']}"}
    prepared = client.post(
        "/api/v1/events",
        json={
            "events": [
                scan("prepare", world.box, actor=staff, specimen_type="serum", count=4),
                scan("seal", world.box, actor=staff, seal="S100"),
            ]
        },
        headers=headers,
    )
    assert prepared.status_code == 200, prepared.text
    meanwhile: list[dict[str, Any]] = []
    take_lock = ledger.lock_head

    with running_server(database_url) as other:

        def lock_after_another_append(session: Session) -> LedgerHead:
            if not meanwhile:
                reseal = scan("seal", world.box, actor=staff, seal="S200")
                answer = httpx.post(
                    f"{other}/api/v1/events", json={"events": [reseal]}, headers=headers
                )
                assert answer.status_code == 200, answer.text
                meanwhile.extend(answer.json()["results"])
            return take_lock(session)

        monkeypatch.setattr(ledger, "lock_head", lock_after_another_append)
        pickup = scan(
            "pickup", world.box, actor=courier, counterparty=staff, seal="S200", seal_intact=True
        )
        response = client.post("/api/v1/events", json={"events": [pickup]}, headers=headers)
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert len(meanwhile) == 1
    assert result["item_seq"] == meanwhile[0]["item_seq"] + 1
    assert result["code"] != "seal_mismatch", result["reason"]
    with session_factory() as session:
        item = session.execute(select(Item).where(Item.barcode == world.box)).scalar_one()
        box = session.get(Box, item.id)
        assert box is not None and box.seal == "S200"
        assert item.last_seq == result["item_seq"]


def test_a_custody_lookup_agrees_with_an_append_that_lands_between_its_statements(
    backend: str,
    world: World,
    client: TestClient,
    session_factory: sessionmaker[Session],
) -> None:
    """The lookup reads outside a transaction (``read_scope``): the item, then its chain.

    An event appended in between would show a chain one longer than the item says; the
    lookup reads the item again, and the answer is intact and consistent.
    """
    if backend == "sqlite":
        pytest.skip("SQLite reads inside one transaction: nothing can land in between")
    staff = world.badges["clinic_staff"]
    appended: list[int] = []

    def append_once(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if appended or "FROM items" not in statement:
            return
        response = client.post(
            "/api/v1/events",
            json={"events": [scan("note", world.box, actor=staff, n="meanwhile")]},
            headers=device_auth(world, "T01"),
        )
        appended.append(response.status_code)

    engine = session_factory.kw["bind"]
    event.listen(engine, "after_cursor_execute", append_once)
    try:
        with read_scope(session_factory) as session:
            chain = custody_chain_by_barcode(session, world.box)
    finally:
        event.remove(engine, "after_cursor_execute", append_once)
    assert appended == [200]
    assert chain.intact
    assert chain.item.last_seq == len(chain.events) == chain.events[-1].item_seq
    assert chain.events[-1].details == {"n": "meanwhile"}
