"""An item's current state as a pure fold of its events (plain Python).

Events are folded in causal order — the time they happened by the device's clock, corrected
by that device's measured offset — not in the order they reached the server, so a scan
synced hours late by an offline courier takes its place in the item's history. Ingest
applies ``advance`` when an event is the latest; ``rebuild`` replays a whole history. Both
use the same function, so the stored projection can always be checked against the ledger.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.custody.lifecycle import ACTOR_TAKES, COUNTERPARTY_TAKES, Outcome, apply
from server.enums import ItemKind


@dataclass(frozen=True, slots=True)
class Projection:
    state: str | None = None
    last_seq: int = 0
    last_position: int | None = None
    last_event_at: datetime | None = None
    current_site_id: uuid.UUID | None = None
    holder_id: uuid.UUID | None = None
    open_flags: int = 0


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What the fold needs to know about one event."""

    position: int
    type: str
    actor_id: uuid.UUID | None
    counterparty_id: uuid.UUID | None
    site_id: uuid.UUID | None
    occurred_at: datetime
    flagged: bool
    clock_offset_ms: int | None = None

    @property
    def causal_at(self) -> datetime:
        """When it happened: the device's clock corrected by the device's measured offset."""
        if self.clock_offset_ms is None:
            return self.occurred_at
        return self.occurred_at + timedelta(milliseconds=self.clock_offset_ms)

    def causal_key(self) -> tuple[datetime, int]:
        return self.causal_at, self.position


def holder_after(facts: EventFacts, holder: uuid.UUID | None) -> uuid.UUID | None:
    if facts.type in ACTOR_TAKES and facts.actor_id is not None:
        return facts.actor_id
    if facts.type in COUNTERPARTY_TAKES and facts.counterparty_id is not None:
        return facts.counterparty_id
    return holder


def advance(projection: Projection, facts: EventFacts, outcome: Outcome) -> Projection:
    """The projection after one stored event whose lifecycle outcome is ``outcome``."""
    return Projection(
        state=outcome.state,
        last_seq=projection.last_seq + 1,
        last_position=facts.position,
        last_event_at=facts.causal_at,
        current_site_id=facts.site_id or projection.current_site_id,
        # A transfer the lifecycle refuses (a second courier "picking up" a box already on
        # its way) is kept as a fact but does not move custody: the first transfer wins.
        holder_id=projection.holder_id
        if outcome.flagged
        else holder_after(facts, projection.holder_id),
        open_flags=projection.open_flags + (1 if facts.flagged else 0),
    )


def causal_order(history: Iterable[EventFacts]) -> list[EventFacts]:
    return sorted(history, key=EventFacts.causal_key)


def state_before(kind: ItemKind, history: Iterable[EventFacts], facts: EventFacts) -> Projection:
    """The projection from the events that happened before ``facts`` (causally)."""
    return rebuild(kind, [e for e in history if e.causal_key() < facts.causal_key()])


def rebuild(kind: ItemKind, history: Iterable[EventFacts]) -> Projection:
    """Replay an item's events, in causal order, into its projection."""
    projection = Projection()
    for facts in causal_order(history):
        outcome = apply(kind, projection.state, facts.type)
        projection = advance(projection, facts, outcome)
    return projection
