"""The hash chain on its own (plain Python)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.custody.chain import (
    GENESIS_HASH,
    ChainedFields,
    StoredLink,
    canonical_bytes,
    event_hash,
    reference_bytes,
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
    changes: dict[str, Any] = {
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
    edit = verify_chain(edited, 6, head).first_broken
    assert edit is not None
    assert edit.position == 3
    deleted = links[:3] + links[4:]
    broken = verify_chain(deleted, 6, head).first_broken
    assert broken is not None
    assert broken.position == 4 and "deleted" in broken.problem
    truncated = verify_chain(links[:4], 6, head).first_broken
    assert truncated is not None
    assert truncated.position == 5 and "deleted" in truncated.problem


# --- the fast canonical form stays the reference one ---------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_ids = st.none() | st.uuids()
_instants = st.datetimes(
    min_value=datetime(100, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5, minutes=30))]
    ),
)


@given(
    st.builds(
        ChainedFields,
        position=st.integers(1, 2**62),
        event_id=st.uuids(),
        item_id=st.uuids(),
        item_seq=st.integers(1, 2**31),
        type=st.text(max_size=30),
        actor_id=_ids,
        counterparty_id=_ids,
        site_id=_ids,
        device_id=_ids,
        occurred_at=_instants,
        received_at=_instants,
        details=st.dictionaries(st.text(max_size=10), _json, max_size=5),
        schema_version=st.integers(1, 3),
        flag_code=st.none() | st.text(max_size=20),
        flags=st.lists(st.dictionaries(st.text(max_size=8), _json, max_size=3), max_size=3),
        clock_offset_ms=st.none() | st.integers(-(2**40), 2**40),
    ),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_the_written_out_form_is_byte_for_byte_json_dumps(
    fields: ChainedFields, prev_hash: str
) -> None:
    assert canonical_bytes(fields, prev_hash) == reference_bytes(fields, prev_hash)


GOLDEN = "f305a1db05b12a70eba84cc759ba4490dbf642dd77b6bc7a24f0335e75153993"
GOLDEN_WITH_OFFSET = "7b8337aa48c7a104e42d2f1f0ceacd104d4942c458f4ba2d806c8d690c1850f5"


def test_stored_hashes_keep_their_value() -> None:
    """Rows written before the form was written out by hand still verify."""
    fields = _chain(1)[0].fields
    assert event_hash(fields, GENESIS_HASH) == GOLDEN
    with_offset = replace(fields, clock_offset_ms=-1500, flag_code='x"y', flags=[{"a": "é"}])
    assert event_hash(with_offset, GENESIS_HASH) == GOLDEN_WITH_OFFSET
