"""The transition tables, tested exhaustively (plain Python, no database)."""

from __future__ import annotations

from collections import deque

import pytest

from server.custody.flags import Flag
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
from server.custody.messages import CATALOGUE, render
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
                assert outcome.flag is not None and outcome.state == state
                if event == REGISTERED:
                    assert outcome.flag.code == "already_registered"
                else:
                    assert outcome.flag.params["event"] == event
                for language in ("zh", "en"):
                    sentence = render(outcome.flag, language)
                    assert sentence != outcome.flag.code and "{" not in sentence


def test_flag_reasons_read_as_sentences_in_both_languages() -> None:
    flag = apply(ItemKind.specimen_box, "available", "receive").flag
    assert flag is not None and flag.code == "out_of_sequence"
    assert render(flag, "en") == (
        "a specimen box that is empty at its clinic cannot be 'receive'; expected: cancel, prepare"
    )
    assert render(flag, "zh") == "标本箱当前为「空箱在站点」，不能「接收」；下一步应为：取消、装箱"
    wrong = apply(ItemKind.specimen_box, "available", "wash_start").flag
    assert wrong is not None and wrong.code == "wrong_kind_of_event"
    assert render(wrong, "zh") == "「清洗开始」不适用于标本箱"


def test_every_catalogue_entry_renders_in_both_languages() -> None:
    samples = {
        "kind": "pack",
        "state": "packed",
        "event": "release",
        "allowed": "load,expire",
        "ahead_minutes": "95",
        "behind_minutes": "7",
        "barcode": "PK0",
        "name": "王芳",
        "role": "courier",
        "first": "3",
        "machine": "ST1",
        "machine_status": "out_of_service",
        "load": "L1",
        "load_status": "running",
        "method": "steam",
        "pack": "PK1",
        "packs": "PK1,PK2",
        "missing": "hold_minutes",
        "minutes": "10",
        "day": "2026-11-22",
        "set": "TR1",
        "hours": "24",
        "reason": "r",
        "seal": "S1",
        "recorded": "S1",
        "observed": "S2",
        "reading": "12",
        "low": "2",
        "high": "8",
        "late_minutes": "75",
        "deadline": "2026-11-22T10:00",
        "box": "BX1",
        "expected": "6",
        "counted": "5",
        "destination": "LAB",
        "site": "T02",
        "recall": "RC-ST1-20261122093000",
        "code": "x",
        "trip": "TP1",
        "item": "BX2",
        "items": "镊子 2→1",
        "field": "item",
        "text": "BX1",
        "detail": "d",
        "device": "DV1",
    }
    for code in CATALOGUE:
        for language in ("zh", "en"):
            sentence = render(Flag(code, samples), language)
            assert sentence != code and "{" not in sentence, (code, language)
    assert (
        render(Flag("clock_skew", {"ahead_minutes": "95"}), "zh")
        == "终端时钟比服务器快 1 小时 35 分钟"
    )


def test_registration_comes_first_and_once() -> None:
    assert apply(ItemKind.pack, None, REGISTERED).state == "packed"
    assert apply(ItemKind.pack, None, "load").flag == Flag(
        "not_registered", {"kind": "pack", "event": "load"}
    )
    already = apply(ItemKind.pack, "packed", REGISTERED).flag
    assert already is not None and already.code == "already_registered"


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
