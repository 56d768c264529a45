"""Appending to the custody ledger and reading it back: all of the ledger's SQL.

Appends happen under a lock on the single ``ledger_head`` row, which makes positions
gapless and the hash chain linear. There is no update or delete of events here or
anywhere else (a lint test enforces that).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import psycopg
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from server.custody.chain import (
    ChainedFields,
    ChainReport,
    HashTemplate,
    StoredLink,
    flags_json,
    hash_template,
    sequenced_hash,
    verify_chain,
)
from server.custody.flags import Flag
from server.custody.lifecycle import apply
from server.custody.projection import EventFacts, Projection, advance, rebuild, state_before
from server.db import one_of
from server.enums import ItemKind
from server.models import CustodyEvent, Item, LedgerHead

HEAD_ID = 1


class LedgerItem(Protocol):
    """What the ledger and the scan rules read of an item: an ``Item`` or an ``ItemRow``."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def barcode(self) -> str: ...
    @property
    def kind(self) -> ItemKind: ...
    @property
    def home_site_id(self) -> uuid.UUID | None: ...
    @property
    def active(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def last_seq(self) -> int: ...
    @property
    def last_position(self) -> int | None: ...
    @property
    def last_event_at(self) -> datetime | None: ...
    @property
    def current_site_id(self) -> uuid.UUID | None: ...
    @property
    def holder_id(self) -> uuid.UUID | None: ...
    @property
    def open_flags(self) -> int: ...


@dataclass(slots=True)
class ItemRow:
    """An item as batch ingest reads it: plain columns, no ORM object (hundreds per batch)."""

    id: uuid.UUID
    barcode: str
    kind: ItemKind
    home_site_id: uuid.UUID | None
    active: bool
    state: str
    last_seq: int
    last_position: int | None
    last_event_at: datetime | None
    current_site_id: uuid.UUID | None
    holder_id: uuid.UUID | None
    open_flags: int


_ITEM_ROW = select(*(Item.__table__.c[name] for name in ItemRow.__slots__))


def load_items(session: Session, barcodes: Collection[str]) -> dict[str, ItemRow]:
    """The items with these barcodes, by barcode."""
    found: dict[str, ItemRow] = {}
    ordered = list(barcodes)
    for start in range(0, len(ordered), 1000):
        chunk = ordered[start : start + 1000]
        for row in session.execute(_ITEM_ROW.where(one_of(session, Item.barcode, chunk))):
            found[row.barcode] = ItemRow(*row)
    return found


@dataclass(slots=True)
class Draft:
    """An event about to be appended (already validated and resolved)."""

    event_id: uuid.UUID
    item: LedgerItem
    type: str
    occurred_at: datetime
    actor_id: uuid.UUID | None = None
    counterparty_id: uuid.UUID | None = None
    site_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    clock_offset_ms: int | None = None
    staged: Staged | None = field(default=None, repr=False)

    @property
    def causal_at(self) -> datetime:
        """When it happened: the device's clock corrected by its measured offset (as
        ``EventFacts.causal_at``)."""
        if not self.clock_offset_ms:
            return self.occurred_at
        return self.occurred_at + timedelta(milliseconds=self.clock_offset_ms)


@dataclass(frozen=True, slots=True)
class Staged:
    """What of a draft's row and hash does not depend on its place in the ledger, encoded
    ahead of the append lock by ``stage``."""

    received_at: datetime
    template: HashTemplate
    copy_text: str  # the columns of _STAGED_COLUMNS as the end of a COPY text line


def stage(drafts: Sequence[Draft], received_at: datetime) -> None:
    """Encode what ``append`` will store of ``drafts`` apart from their place in the chain.

    Ingest calls it before taking the append lock, so that the lock is held only to
    splice in positions, sequence numbers, flags and hashes; ``append`` stages any draft
    not staged for its ``received_at``.
    """
    received = received_at.isoformat()
    for draft in drafts:
        template = hash_template(
            event_id=draft.event_id,
            item_id=draft.item.id,
            type=draft.type,
            actor_id=draft.actor_id,
            counterparty_id=draft.counterparty_id,
            site_id=draft.site_id,
            device_id=draft.device_id,
            occurred_at=draft.occurred_at,
            received_at=received_at,
            details=draft.details,
            schema_version=SCHEMA_VERSION,
            clock_offset_ms=draft.clock_offset_ms,
        )
        draft.staged = Staged(received_at, template, _copy_text(draft, received, template))


@dataclass(frozen=True, slots=True)
class Appended:
    event_id: uuid.UUID
    position: int
    item_seq: int
    state: str
    flags: list[Flag]


def lock_head(session: Session) -> LedgerHead:
    """Take the ledger's append lock for the rest of the transaction."""
    head = session.execute(
        select(LedgerHead).where(LedgerHead.id == HEAD_ID).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        raise RuntimeError("the ledger head row is missing: run `handoff db upgrade`")
    return head


def head_position(session: Session) -> int:
    """The last appended position, read without taking the lock."""
    return session.execute(select(LedgerHead.position).where(LedgerHead.id == HEAD_ID)).scalar_one()


def refresh_changed(session: Session, items: Collection[ItemRow], since: int) -> None:
    """Re-read the items whose projection moved past position ``since``, in place.

    A batch reads its items before it takes the append lock and calls this once it holds
    the lock: only items another batch appended to in between are read again.
    """
    by_id = {item.id: item for item in items}
    ids = list(by_id)
    for start in range(0, len(ids), 1000):
        for row in session.execute(
            _ITEM_ROW.where(
                one_of(session, Item.id, ids[start : start + 1000]), Item.last_position > since
            )
        ):
            item = by_id[row.id]
            for name in ItemRow.__slots__:
                setattr(item, name, getattr(row, name))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int
    item_seq: int
    type: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """What other batches appended while a batch waited for the lock, as far as it cares."""

    stored: dict[uuid.UUID, StoredEvent]
    changed_items: frozenset[uuid.UUID]


# Reading every event appended since ``since`` by position (a range of the primary key) is
# cheaper than probing 500 event IDs and 500 item IDs, as long as the range is short: a
# batch usually waits for one other batch.
CATCH_UP_LIMIT = 5_000

_APPENDED_SINCE = select(CustodyEvent.event_id, CustodyEvent.item_id).where(
    CustodyEvent.position > bindparam("since"), CustodyEvent.position <= bindparam("until")
)
_APPENDED_SINCE_SQL = (
    "SELECT event_id, item_id FROM custody_events WHERE position > %s AND position <= %s"
)


def _appended_since(session: Session, since: int, until: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(event ID, item ID) of the events appended after ``since`` up to ``until``.

    Under the lock, so on PostgreSQL straight through the driver in binary: a third of the
    time of the same rows through SQLAlchemy's result machinery.
    """
    driver = _postgres_driver(session)
    if driver is None:
        rows = session.execute(_APPENDED_SINCE, {"since": since, "until": until})
        return [(event_id, item_id) for event_id, item_id in rows]
    with driver.cursor(binary=True) as cursor:
        cursor.execute(_APPENDED_SINCE_SQL, (since, until))
        return cast(list[tuple[uuid.UUID, uuid.UUID]], cursor.fetchall())


def catch_up(
    session: Session,
    items: Collection[ItemRow],
    event_ids: Sequence[uuid.UUID],
    since: int,
    until: int,
) -> CaughtUp:
    """Bring a batch's reads up to date once it holds the lock at head position ``until``.

    ``items`` were read at position ``since``: those appended to since are read again, in
    place. Returns which of ``event_ids`` were stored meanwhile and which items changed.
    """
    if until - since > CATCH_UP_LIMIT:
        refresh_changed(session, items, since)
        changed = frozenset(item.id for item in items if (item.last_position or 0) > since)
        return CaughtUp(existing_events(session, event_ids, since=since), changed)
    wanted = set(event_ids)
    repeated: list[uuid.UUID] = []
    appended_to: set[uuid.UUID] = set()
    for event_id, item_id in _appended_since(session, since, until):
        appended_to.add(item_id)
        if event_id in wanted:
            repeated.append(event_id)
    stored = existing_events(session, repeated, since=since) if repeated else {}
    stale = [item for item in items if item.id in appended_to]
    if stale:
        refresh_changed(session, stale, since)
    return CaughtUp(stored, frozenset(appended_to))


def existing_events(
    session: Session, event_ids: Sequence[uuid.UUID], *, since: int | None = None
) -> dict[uuid.UUID, StoredEvent]:
    """The given event IDs that are already stored, with what a duplicate is compared on.

    With ``since``, only events appended after that position are looked at.
    """
    found: dict[uuid.UUID, StoredEvent] = {}
    unique = list(dict.fromkeys(event_ids))
    for start in range(0, len(unique), 1000):
        query = select(
            CustodyEvent.event_id,
            CustodyEvent.position,
            CustodyEvent.item_seq,
            CustodyEvent.type,
            CustodyEvent.occurred_at,
        ).where(one_of(session, CustodyEvent.event_id, unique[start : start + 1000]))
        if since is not None:
            query = query.where(CustodyEvent.position > since)
        rows = session.execute(query)
        found.update({row[0]: StoredEvent(*row[1:]) for row in rows})
    return found


def _projection_of(item: LedgerItem) -> Projection:
    return Projection(
        state=item.state if item.last_seq else None,
        last_seq=item.last_seq,
        last_position=item.last_position,
        last_event_at=item.last_event_at,
        current_site_id=item.current_site_id,
        holder_id=item.holder_id,
        open_flags=item.open_flags,
    )


def append(
    session: Session, head: LedgerHead, drafts: Sequence[Draft], received_at: datetime
) -> list[Appended]:
    """Append ``drafts`` in order; the caller holds ``head`` from ``lock_head``.

    An event is judged against the item's state at the moment it happened. Usually that
    is the current projection (the event is the latest); an event that happened before
    the item's latest one — synced late by an offline device — is judged against the
    history before it, and the item's projection is rebuilt in causal order.
    """
    projections: dict[uuid.UUID, tuple[LedgerItem, Projection]] = {}
    histories: dict[uuid.UUID, list[EventFacts]] = {}
    in_batch: dict[uuid.UUID, list[EventFacts]] = {}
    appended: list[Appended] = []
    if not drafts:
        return appended
    # Histories are read before the rows start streaming into the table: no other statement
    # can run on the connection while its COPY is open.
    earlier = {
        item_id: [facts_of(event) for event in events_for_item(session, item_id)]
        for item_id in _items_with_late_events(drafts)
    }
    for draft in drafts:
        if draft.staged is None or draft.staged.received_at != received_at:
            stage([draft], received_at)
    position, previous = head.position, head.hash
    with _event_writer(session) as write:
        for draft in drafts:
            item = draft.item
            known = projections.get(item.id)
            before = known[1] if known is not None else _projection_of(item)
            position += 1
            facts = EventFacts(
                position,
                draft.type,
                draft.actor_id,
                draft.counterparty_id,
                draft.site_id,
                draft.occurred_at,
                False,
                draft.clock_offset_ms,
            )
            late = before.last_event_at is not None and facts.causal_at < before.last_event_at
            if late and item.id not in histories:
                histories[item.id] = earlier[item.id] + in_batch.get(item.id, [])
            history = histories.get(item.id)
            state = (
                state_before(item.kind, history, facts).state
                if history is not None
                else before.state
            )
            outcome = apply(item.kind, state, draft.type)
            flags = [outcome.flag, *draft.flags] if outcome.flag else draft.flags
            flag_code = flags[0].code if flags else None
            stored_flags = [flag.to_json() for flag in flags]
            flags_text = flags_json(stored_flags)
            item_seq = before.last_seq + 1
            staged = draft.staged
            assert staged is not None
            digest = sequenced_hash(
                staged.template,
                position=position,
                item_seq=item_seq,
                flag_code=flag_code,
                flags=flags_text,
                prev_hash=previous,
            )
            write(
                _Sequenced(draft, position, item_seq, flag_code, stored_flags, flags_text),
                previous,
                digest,
            )
            if flag_code is not None:
                facts = replace(facts, flagged=True)
            in_batch.setdefault(item.id, []).append(facts)
            if history is not None:
                history.append(facts)
                after = rebuild(item.kind, history)
            else:
                after = advance(before, facts, outcome)
            projections[item.id] = (item, after)
            appended.append(Appended(draft.event_id, position, item_seq, outcome.state, flags))
            previous = digest
        # Encoded while the server still takes in the last rows of the COPY.
        changed = [(item.id, projection) for item, projection in projections.values()]
        encoded = _encoded_projections(changed) if _postgres_driver(session) else None
    _store_projections(session, changed, encoded)
    head.position, head.hash = position, previous
    session.flush()
    # The UPDATE bypassed the session: ORM copies of these items reload when read again,
    # and the plain rows are brought up to date here.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Item) and obj.id in projections:
            session.expire(obj)
    for item, projection in projections.values():
        if isinstance(item, ItemRow):
            for name in _PROJECTION_COLUMNS:
                setattr(item, name, getattr(projection, name))
    return appended


def _items_with_late_events(drafts: Sequence[Draft]) -> set[uuid.UUID]:
    """Items with a draft that happened before the item's latest event at that point (by
    the device's corrected clock): ``append`` judges those against their history."""
    latest: dict[uuid.UUID, datetime | None] = {}
    late: set[uuid.UUID] = set()
    for draft in drafts:
        item = draft.item
        last = latest.get(item.id, item.last_event_at)
        at = draft.causal_at
        if last is not None and at < last:
            late.add(item.id)
        latest[item.id] = at if last is None else max(last, at)
    return late


SCHEMA_VERSION = 1

# COPY takes the columns a row gets under the lock first, then the staged ones.
_SEQUENCED_COLUMNS = ("position", "item_seq", "flag_code", "flags", "prev_hash", "hash")
_STAGED_COLUMNS = (
    "event_id",
    "item_id",
    "type",
    "actor_id",
    "counterparty_id",
    "site_id",
    "device_id",
    "occurred_at",
    "received_at",
    "details",
    "schema_version",
    "clock_offset_ms",
)
_COPY_EVENTS = f"COPY custody_events ({', '.join(_SEQUENCED_COLUMNS + _STAGED_COLUMNS)}) FROM STDIN"


@dataclass(frozen=True, slots=True)
class _Sequenced:
    """A draft with its place in the chain: what ``append`` hands the event writer."""

    draft: Draft
    position: int
    item_seq: int
    flag_code: str | None
    flags: list[dict[str, Any]]
    flags_text: str


class _WriteEvent(Protocol):
    def __call__(self, event: _Sequenced, prev_hash: str, digest: str) -> None: ...


_NULL = "\\N"


def _copy_field(value: str) -> str:
    """A text value as COPY's text format writes it: backslash, tab, newline and carriage
    return escaped (JSON text never holds raw control characters, but may hold
    backslashes)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def _copy_uuid(value: uuid.UUID | None) -> str:
    return _NULL if value is None else value.hex  # PostgreSQL reads the bare 32 digits too


def _copy_text(draft: Draft, received: str, template: HashTemplate) -> str:
    offset = draft.clock_offset_ms
    return "\t".join(
        (
            draft.event_id.hex,
            draft.item.id.hex,
            _copy_field(draft.type),
            _copy_uuid(draft.actor_id),
            _copy_uuid(draft.counterparty_id),
            _copy_uuid(draft.site_id),
            _copy_uuid(draft.device_id),
            draft.occurred_at.isoformat(),
            received,
            _copy_field(template.details_json),
            str(SCHEMA_VERSION),
            _NULL if offset is None else str(offset),
        )
    )


@contextmanager
def _event_writer(session: Session) -> Iterator[_WriteEvent]:
    """A function that stores one new event row.

    On PostgreSQL each row goes into ``COPY`` as one line of text, most of it encoded by
    ``stage`` before the lock, so the server takes the rows in while the next ones are
    hashed (the fastest path in, and the append lock is held for less time); elsewhere
    they are collected and inserted as one executemany.
    """
    driver = _postgres_driver(session)
    if driver is None:
        rows: list[dict[str, Any]] = []

        def collect(event: _Sequenced, prev_hash: str, digest: str) -> None:
            draft = event.draft
            rows.append(
                {
                    "position": event.position,
                    "item_seq": event.item_seq,
                    "flag_code": event.flag_code,
                    "flags": event.flags,
                    "prev_hash": prev_hash,
                    "hash": digest,
                    "event_id": draft.event_id,
                    "item_id": draft.item.id,
                    "type": draft.type,
                    "actor_id": draft.actor_id,
                    "counterparty_id": draft.counterparty_id,
                    "site_id": draft.site_id,
                    "device_id": draft.device_id,
                    "occurred_at": draft.occurred_at,
                    "received_at": draft.staged.received_at if draft.staged else None,
                    "details": draft.details,
                    "schema_version": SCHEMA_VERSION,
                    "clock_offset_ms": draft.clock_offset_ms,
                }
            )

        yield collect
        if rows:
            # render_nulls keeps the rows one executemany (else grouped by NULL columns).
            session.execute(insert(CustodyEvent).execution_options(render_nulls=True), rows)
        return
    lines: list[str] = []
    with driver.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:

        def stream(event: _Sequenced, prev_hash: str, digest: str) -> None:
            staged = event.draft.staged
            assert staged is not None
            lines.append(
                "\t".join(
                    (
                        str(event.position),
                        str(event.item_seq),
                        _NULL if event.flag_code is None else _copy_field(event.flag_code),
                        _copy_field(event.flags_text),
                        prev_hash,
                        digest,
                        staged.copy_text,
                    )
                )
                + "\n"
            )
            # Each write is a round of psycopg's I/O machinery: send the rows in chunks.
            if len(lines) == _COPY_CHUNK:
                copy.write("".join(lines))
                lines.clear()

        yield stream
        if lines:
            copy.write("".join(lines))


_COPY_CHUNK = 50


_PROJECTION_COLUMNS = (
    "state",
    "last_seq",
    "last_position",
    "last_event_at",
    "current_site_id",
    "holder_id",
    "open_flags",
)


def _postgres_driver(session: Session) -> psycopg.Connection[Any] | None:
    """psycopg's own connection under ``session`` on PostgreSQL (None elsewhere): the hot
    statements under the append lock go straight through it."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return None
    driver = connection.connection.driver_connection
    assert driver is not None
    return cast("psycopg.Connection[Any]", driver)


def _encoded_projections(changed: Sequence[tuple[uuid.UUID, Projection]]) -> str:
    """The projections as one JSON text of rows, for ``_JSON_UPDATE``."""
    return _json_array(
        [
            (
                item_id.hex,
                p.state,
                p.last_seq,
                p.last_position,
                None if p.last_event_at is None else p.last_event_at.isoformat(),
                None if p.current_site_id is None else p.current_site_id.hex,
                None if p.holder_id is None else p.holder_id.hex,
                p.open_flags,
            )
            for item_id, p in changed
        ]
    )


def _store_projections(
    session: Session, changed: Sequence[tuple[uuid.UUID, Projection]], encoded: str | None
) -> None:
    """Write the items' new projections.

    On PostgreSQL one ``UPDATE … FROM jsonb_array_elements`` statement with ``encoded``:
    the rows go as one JSON text made by the C encoder, a fraction of the cost of binding
    eight arrays of 500 values through psycopg's Python array dumper; elsewhere an
    executemany.
    """
    if not changed:
        return
    if encoded is None:
        session.execute(
            update(Item),
            [
                {"id": item_id, **{name: getattr(p, name) for name in _PROJECTION_COLUMNS}}
                for item_id, p in changed
            ],
        )
        return
    driver = _postgres_driver(session)
    assert driver is not None  # encoded only on PostgreSQL
    with driver.cursor() as cursor:
        cursor.execute(_JSON_UPDATE, (encoded,))


_json_array = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

# Each row is a JSON array in the order of the columns below (objects would repeat the keys).
_JSON_UPDATE = """
    UPDATE items SET
        state = incoming.state,
        last_seq = incoming.last_seq,
        last_position = incoming.last_position,
        last_event_at = incoming.last_event_at,
        current_site_id = incoming.current_site_id,
        holder_id = incoming.holder_id,
        open_flags = incoming.open_flags
    FROM (
        SELECT
            (row->>0)::uuid AS id,
            row->>1 AS state,
            (row->>2)::integer AS last_seq,
            (row->>3)::bigint AS last_position,
            (row->>4)::timestamptz AS last_event_at,
            (row->>5)::uuid AS current_site_id,
            (row->>6)::uuid AS holder_id,
            (row->>7)::integer AS open_flags
        FROM jsonb_array_elements(CAST(%s AS jsonb)) AS row
    ) AS incoming
    WHERE items.id = incoming.id
"""


def events_for_item(session: Session, item_id: uuid.UUID) -> Sequence[CustodyEvent]:
    return (
        session.execute(
            select(CustodyEvent)
            .where(CustodyEvent.item_id == item_id)
            .order_by(CustodyEvent.item_seq)
        )
        .scalars()
        .all()
    )


# The event columns its hash covers, in the order of ``ChainedFields``.
CHAINED_COLUMNS = tuple(column.name for column in dataclass_fields(ChainedFields))


def chained_fields(event: CustodyEvent) -> ChainedFields:
    return ChainedFields(
        position=event.position,
        event_id=event.event_id,
        item_id=event.item_id,
        item_seq=event.item_seq,
        type=event.type,
        actor_id=event.actor_id,
        counterparty_id=event.counterparty_id,
        site_id=event.site_id,
        device_id=event.device_id,
        occurred_at=event.occurred_at,
        received_at=event.received_at,
        details=event.details,
        schema_version=event.schema_version,
        flag_code=event.flag_code,
        flags=event.flags,
        clock_offset_ms=event.clock_offset_ms,
    )


def facts_of(event: CustodyEvent) -> EventFacts:
    return EventFacts(
        event.position,
        event.type,
        event.actor_id,
        event.counterparty_id,
        event.site_id,
        event.occurred_at,
        event.flag_code is not None,
        event.clock_offset_ms,
    )


def _links(session: Session, batch: int = 5000) -> Iterator[StoredLink]:
    result = session.execute(
        select(CustodyEvent).order_by(CustodyEvent.position).execution_options(yield_per=batch)
    )
    for event in result.scalars():
        yield StoredLink(chained_fields(event), event.prev_hash, event.hash)
        session.expunge(event)


def verify(session: Session) -> ChainReport:
    """Check the whole chain against the ledger head."""
    head = session.get(LedgerHead, HEAD_ID)
    if head is None:
        raise RuntimeError("the ledger head row is missing: run `handoff db upgrade`")
    return verify_chain(_links(session), head.position, head.hash)


@dataclass(frozen=True, slots=True)
class ProjectionMismatch:
    barcode: str
    field: str
    stored: str
    rebuilt: str


def check_projections(session: Session, limit: int = 20) -> tuple[int, list[ProjectionMismatch]]:
    """Rebuild every item's state from its events and compare with what is stored."""
    mismatches: list[ProjectionMismatch] = []
    items = {item.id: item for item in session.execute(select(Item)).scalars()}
    histories: dict[uuid.UUID, list[EventFacts]] = {item_id: [] for item_id in items}
    result = session.execute(
        select(CustodyEvent)
        .order_by(CustodyEvent.item_id, CustodyEvent.item_seq)
        .execution_options(yield_per=5000)
    )
    for event in result.scalars():
        histories.setdefault(event.item_id, []).append(facts_of(event))
        session.expunge(event)
    for item_id, history in histories.items():
        item = items.get(item_id)
        if item is None:
            continue
        rebuilt = rebuild(item.kind, history)
        stored = _projection_of(item)
        for name in ("state", "last_seq", "holder_id", "current_site_id", "open_flags"):
            if getattr(stored, name) != getattr(rebuilt, name):
                mismatches.append(
                    ProjectionMismatch(
                        item.barcode, name, str(getattr(stored, name)), str(getattr(rebuilt, name))
                    )
                )
        if len(mismatches) >= limit:
            break
    return len(items), mismatches


def count_events(session: Session) -> int:
    return session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one()
