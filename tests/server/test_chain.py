"""The hash chain on its own (plain Python)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from server.custody.chain import (
    GENESIS_HASH,
    ChainedFields,
    StoredLink,
    event_hash,
    verify_chain,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _chain(count: int) -> list[StoredLink]:
    links, previous = [], GENESIS_HASH
    for position in range(1, count + 1):
        fields = ChainedFields(
            position=position,
            event_id=uuid.UUID(int=position),
            item_id=uuid.UUID(int=1),
            item_seq=position,
            type="note",
            actor_id=None,
            counterparty_id=None,
            site_id=None,
            device_id=None,
            occurred_at=T0 + timedelta(minutes=position),
            received_at=T0,
            details={"n": position, "名": "标本"},
            schema_version=1,
            flag_code=None,
            flags=[],
        )
        digest = event_hash(fields, previous)
        links.append(StoredLink(fields, previous, digest))
        previous = digest
    return links


def test_intact_chain() -> None:
    links = _chain(5)
    report = verify_chain(links, 5, links[-1].hash)
    assert report.ok and report.events_checked == 5


def test_every_field_is_covered_by_the_hash() -> None:
    links = _chain(1)
    base = links[0].fields
    changes = {
        "event_id": uuid.uuid4(),
        "item_id": uuid.uuid4(),
        "item_seq": 9,
        "type": "seal",
        "actor_id": uuid.uuid4(),
        "counterparty_id": uuid.uuid4(),
        "site_id": uuid.uuid4(),
        "device_id": uuid.uuid4(),
        "occurred_at": T0 + timedelta(microseconds=1),
        "received_at": T0 - timedelta(seconds=1),
        "details": {"n": 2},
        "schema_version": 2,
        "flag_code": "x",
        "flags": [{"code": "x", "params": {}}],
    }
    for name, value in changes.items():
        assert event_hash(replace(base, **{name: value}), GENESIS_HASH) != links[0].hash, name


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    base = _chain(1)[0].fields
    shanghai = base.occurred_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert event_hash(replace(base, occurred_at=shanghai), GENESIS_HASH) == event_hash(
        base, GENESIS_HASH
    )


def test_edit_delete_and_truncation_are_each_named() -> None:
    links = _chain(6)
    head = links[-1].hash
    edited = [
        *links[:2],
        replace(links[2], fields=replace(links[2].fields, type="seal")),
        *links[3:],
    ]
    assert verify_chain(edited, 6, head).first_broken.position == 3
    deleted = links[:3] + links[4:]
    broken = verify_chain(deleted, 6, head).first_broken
    assert broken.position == 4 and "deleted" in broken.problem
    truncated = verify_chain(links[:4], 6, head).first_broken
    assert truncated.position == 5 and "deleted" in truncated.problem
