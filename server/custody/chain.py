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
from datetime import UTC, datetime, timedelta
from functools import lru_cache
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


def _reference_instant(value: datetime) -> str:
    # Microseconds in UTC: what both SQLite and PostgreSQL give back unchanged.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_NO_OFFSET = timedelta(0)


def _instant(value: datetime) -> str:
    """``_reference_instant``, faster (isoformat is C; strftime goes through the locale)."""
    if value.utcoffset() != _NO_OFFSET:
        value = value.astimezone(UTC)
    if value.year < 1000:  # isoformat pads the year, strftime does not
        return _reference_instant(value)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_string = json.encoder.encode_basestring  # what the encoder above writes for a str


def _text(value: str | None) -> str:
    return "null" if value is None else _string(value)


def _hex(value: uuid.UUID | None) -> str:
    return "null" if value is None else f'"{value.hex}"'


def _integer(value: int) -> str:
    return int.__repr__(value)


def canonical_document(fields: ChainedFields, prev_hash: str) -> dict[str, Any]:
    """What an event's hash covers, as one JSON object (the reference form)."""
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
        "occurred_at": _reference_instant(fields.occurred_at),
        "received_at": _reference_instant(fields.received_at),
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
    return document


@dataclass(frozen=True, slots=True)
class HashTemplate:
    """An event's canonical form less what it gets when it takes its place in the chain.

    Everything but the position, item sequence, flags and previous hash is known before
    the append lock is taken, so it is encoded then; under the lock ``sequenced_hash``
    only splices the rest in between these pieces (keys in sorted order).
    """

    head: str  # actor_id … event_id
    item: str  # item_id
    occurred: str  # occurred_at
    tail: str  # received_at … v
    details_json: str


def hash_template(
    *,
    event_id: uuid.UUID,
    item_id: uuid.UUID,
    type: str,
    actor_id: uuid.UUID | None,
    counterparty_id: uuid.UUID | None,
    site_id: uuid.UUID | None,
    device_id: uuid.UUID | None,
    occurred_at: datetime,
    received_at: datetime,
    details: Mapping[str, Any],
    schema_version: int,
    clock_offset_ms: int | None,
) -> HashTemplate:
    details_json = _encode(details) if details else "{}"
    head = "".join(
        (
            '{"actor_id":',
            _hex(actor_id),
            "" if clock_offset_ms is None else ',"clock_offset_ms":' + _integer(clock_offset_ms),
            ',"counterparty_id":',
            _hex(counterparty_id),
            ',"details":',
            details_json,
            ',"device_id":',
            _hex(device_id),
            ',"event_id":',
            _hex(event_id),
        )
    )
    return HashTemplate(
        head,
        ',"item_id":' + _hex(item_id),
        ',"occurred_at":"' + _instant(occurred_at) + '"',
        _tail(received_at, schema_version, site_id, type),
        details_json,
    )


# A batch's events share their receipt time and mostly their site and type.
@lru_cache(maxsize=256)
def _tail(received_at: datetime, schema_version: int, site_id: uuid.UUID | None, type: str) -> str:
    return "".join(
        (
            ',"received_at":"',
            _instant(received_at),
            '","schema_version":',
            _integer(schema_version),
            ',"site_id":',
            _hex(site_id),
            ',"type":',
            _string(type),
            ',"v":',
            _integer(HASH_VERSION),
            "}",
        )
    )


def flags_json(flags: Sequence[Mapping[str, Any]]) -> str:
    """Stored flags as the canonical form writes them."""
    return _encode(list(flags)) if flags else "[]"


def _sequenced(
    template: HashTemplate,
    position: int,
    item_seq: int,
    flag_code: str | None,
    flags: str,
    prev_hash: str,
) -> str:
    return "".join(
        (
            template.head,
            ',"flag_code":',
            _text(flag_code),
            ',"flags":',
            flags,
            template.item,
            ',"item_seq":',
            _integer(item_seq),
            template.occurred,
            ',"position":',
            _integer(position),
            ',"prev":',
            _string(prev_hash),
            template.tail,
        )
    )


def sequenced_hash(
    template: HashTemplate,
    *,
    position: int,
    item_seq: int,
    flag_code: str | None,
    flags: str,
    prev_hash: str,
) -> str:
    """The hash of the event ``template`` describes once sequenced (``flags`` from
    ``flags_json``): the same as ``event_hash`` of its fields."""
    return hashlib.sha256(
        _sequenced(template, position, item_seq, flag_code, flags, prev_hash).encode()
    ).hexdigest()


def template_of(fields: ChainedFields) -> HashTemplate:
    return hash_template(
        event_id=fields.event_id,
        item_id=fields.item_id,
        type=fields.type,
        actor_id=fields.actor_id,
        counterparty_id=fields.counterparty_id,
        site_id=fields.site_id,
        device_id=fields.device_id,
        occurred_at=fields.occurred_at,
        received_at=fields.received_at,
        details=fields.details,
        schema_version=fields.schema_version,
        clock_offset_ms=fields.clock_offset_ms,
    )


def canonical_bytes(fields: ChainedFields, prev_hash: str) -> bytes:
    """``canonical_document`` as sorted, compact JSON, written out key by key.

    Byte for byte what ``json.dumps(canonical_document(...), sort_keys=True, ...)`` gives
    (a property test holds the two together), at a third of the cost.
    """
    return _sequenced(
        template_of(fields),
        fields.position,
        fields.item_seq,
        fields.flag_code,
        flags_json(fields.flags),
        prev_hash,
    ).encode()


def reference_bytes(fields: ChainedFields, prev_hash: str) -> bytes:
    """The canonical form through ``json.dumps``: the definition ``canonical_bytes`` keeps."""
    return json.dumps(
        canonical_document(fields, prev_hash),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
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
