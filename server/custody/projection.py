"""An item's current state as a pure fold of its events (plain Python).

Ingest applies ``advance`` to each new event; ``rebuild`` replays a whole history. Both
use the same function, so the stored projection can always be checked against the ledger.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

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


def holder_after(facts: EventFacts, holder: uuid.UUID | None) -> uuid.UUID | None:
    if facts.type in ACTOR_TAKES and facts.actor_id is not None:
        return facts.actor_id
    if facts.type in COUNTERPARTY_TAKES and facts.counterparty_id is not None:
        return facts.counterparty_id
    return holder


def advance(projection: Projection, facts: EventFacts, outcome: Outcome) -> Projection:
    """The projection after one stored event whose lifecycle outcome is ``outcome``."""
    return replace(
        projection,
        state=outcome.state,
        last_seq=projection.last_seq + 1,
        last_position=facts.position,
        last_event_at=facts.occurred_at,
        current_site_id=facts.site_id or projection.current_site_id,
        holder_id=holder_after(facts, projection.holder_id),
        open_flags=projection.open_flags + (1 if facts.flagged else 0),
    )


def rebuild(kind: ItemKind, history: Iterable[EventFacts]) -> Projection:
    """Replay an item's events (in item order) into its projection."""
    projection = Projection()
    for facts in history:
        outcome = apply(kind, projection.state, facts.type)
        projection = advance(projection, facts, outcome)
    return projection
