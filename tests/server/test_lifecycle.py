"""The transition tables, tested exhaustively (plain Python, no database)."""

from __future__ import annotations

from collections import deque

import pytest

from server.custody.lifecycle import (
    ACTOR_ROLES,
    ALL_EVENT_TYPES,
    LIFECYCLES,
    OBSERVATIONS,
    REGISTERED,
    actor_may,
    apply,
    fold,
)
from server.enums import ItemKind, Role

KINDS = list(ItemKind)


@pytest.mark.parametrize("kind", KINDS)
def test_every_state_is_reachable_from_registration(kind: ItemKind) -> None:
    lifecycle = LIFECYCLES[kind]
    seen, queue = {lifecycle.initial}, deque([lifecycle.initial])
    while queue:
        state = queue.popleft()
        for (source, _), target in lifecycle.table.items():
            if source == state and target not in seen:
                seen.add(target)
                queue.append(target)
    assert seen == lifecycle.states


@pytest.mark.parametrize("kind", KINDS)
def test_every_pair_is_either_a_transition_or_a_flag(kind: ItemKind) -> None:
    lifecycle = LIFECYCLES[kind]
    for state in lifecycle.states:
        for event in ALL_EVENT_TYPES:
            outcome = apply(kind, state, event)
            if (state, event) in lifecycle.table:
                assert outcome.state == lifecycle.table[(state, event)] and not outcome.flagged
            elif event in OBSERVATIONS:
                assert outcome.state == state and not outcome.flagged
            else:
                assert outcome.flagged and outcome.state == state
                assert outcome.flag_reason and event in outcome.flag_reason


def test_flag_reasons_read_as_sentences() -> None:
    outcome = apply(ItemKind.specimen_box, "available", "receive")
    assert outcome.flag_code == "out_of_sequence"
    assert outcome.flag_reason == (
        "a specimen box that is empty at its clinic cannot be 'receive'; expected: cancel, prepare"
    )
    wrong = apply(ItemKind.specimen_box, "available", "wash_start")
    assert wrong.flag_code == "wrong_kind_of_event"


def test_registration_comes_first_and_once() -> None:
    assert apply(ItemKind.pack, None, REGISTERED).state == "packed"
    assert apply(ItemKind.pack, None, "load").flag_code == "not_registered"
    assert apply(ItemKind.pack, "packed", REGISTERED).flag_code == "already_registered"


def test_fold_walks_a_box_round_trip() -> None:
    steps = [
        "registered",
        "prepare",
        "seal",
        "pickup",
        "handoff",
        "receive",
        "accept",
        "open",
        "dispatch",
        "deliver",
    ]
    assert fold(ItemKind.specimen_box, steps) == "available"
    assert fold(ItemKind.specimen_box, [*steps[:3], "open"]) == "sealed"  # the flagged step holds


def test_a_courier_cannot_release_a_load() -> None:
    assert not actor_may("release", Role.courier)
    assert actor_may("release", Role.cssd_staff)
    assert actor_may("release", Role.admin)
    assert actor_may("note", Role.courier)
    assert set(ACTOR_ROLES) <= ALL_EVENT_TYPES
