"""The hash chain over the ledger (plain Python).

Each event's hash covers its own stored fields and the previous event's hash, in the
global order of positions. Editing a row changes its hash; deleting one leaves a gap in
the positions and breaks the next row's link; removing the tail disagrees with the
ledger head. ``verify_chain`` walks the rows and names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
HASH_VERSION = 1


@dataclass(frozen=True, slots=True)
class ChainedFields:
    """The fields of an event that its hash covers."""

    position: int
    event_id: uuid.UUID
    item_id: uuid.UUID
    item_seq: int
    type: str
    actor_id: uuid.UUID | None
    counterparty_id: uuid.UUID | None
    site_id: uuid.UUID | None
    device_id: uuid.UUID | None
    occurred_at: datetime
    received_at: datetime
    details: Mapping[str, Any]
    schema_version: int
    flag_code: str | None
    flags: Sequence[Mapping[str, Any]]
    clock_offset_ms: int | None = None


def _uuid(value: uuid.UUID | None) -> str | None:
    return None if value is None else value.hex


def _instant(value: datetime) -> str:
    # Microseconds in UTC: what both SQLite and PostgreSQL give back unchanged.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: ChainedFields, prev_hash: str) -> bytes:
    document = {
        "v": HASH_VERSION,
        "position": fields.position,
        "event_id": _uuid(fields.event_id),
        "item_id": _uuid(fields.item_id),
        "item_seq": fields.item_seq,
        "type": fields.type,
        "actor_id": _uuid(fields.actor_id),
        "counterparty_id": _uuid(fields.counterparty_id),
        "site_id": _uuid(fields.site_id),
        "device_id": _uuid(fields.device_id),
        "occurred_at": _instant(fields.occurred_at),
        "received_at": _instant(fields.received_at),
        "details": fields.details,
        "schema_version": fields.schema_version,
        "flag_code": fields.flag_code,
        "flags": list(fields.flags),
        "prev": prev_hash,
    }
    if fields.clock_offset_ms is not None:
        # Added after the first events were stored: present only when measured, so older
        # rows keep the hash they were written with.
        document["clock_offset_ms"] = fields.clock_offset_ms
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def event_hash(fields: ChainedFields, prev_hash: str) -> str:
    return hashlib.sha256(canonical_bytes(fields, prev_hash)).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredLink:
    """A row as read back from the ledger: its chained fields and the hashes it stored."""

    fields: ChainedFields
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class BrokenLink:
    position: int
    event_id: str | None
    problem: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events_checked: int
    head_position: int
    first_broken: BrokenLink | None


def verify_chain(links: Iterable[StoredLink], head_position: int, head_hash: str) -> ChainReport:
    """Walk the rows in position order and report the first one that does not hold."""
    expected_position = 1
    previous = GENESIS_HASH
    checked = 0

    def broken(position: int, event_id: str | None, problem: str) -> ChainReport:
        return ChainReport(False, checked, head_position, BrokenLink(position, event_id, problem))

    for link in links:
        fields = link.fields
        event_id = str(fields.event_id)
        if fields.position != expected_position:
            missing = (
                f"position {expected_position}"
                if fields.position == expected_position + 1
                else f"positions {expected_position}–{fields.position - 1}"
            )
            return broken(
                expected_position,
                None,
                f"{missing} missing: the row was deleted (next present row is "
                f"position {fields.position}, event {event_id})",
            )
        if link.prev_hash != previous:
            return broken(
                fields.position,
                event_id,
                f"the link to position {fields.position - 1} does not match it: that row "
                "was edited and re-hashed, or the chain was rewritten",
            )
        if event_hash(fields, link.prev_hash) != link.hash:
            return broken(
                fields.position, event_id, "the row's contents do not match its hash: edited"
            )
        previous = link.hash
        expected_position += 1
        checked += 1

    last = expected_position - 1
    if last != head_position:
        if last < head_position:
            return broken(
                last + 1,
                None,
                f"the ledger head records {head_position} events but only {last} are "
                "stored: rows at the end were deleted",
            )
        return broken(
            head_position + 1, None, "rows beyond the ledger head: inserted outside Handoff"
        )
    if previous != head_hash:
        return broken(last, None, "the last event's hash differs from the ledger head's")
    return ChainReport(True, checked, head_position, None)
