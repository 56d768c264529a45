"""Helpers for tests: the test county's shape, logging in, making scans."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from server.models import utc_now

PASSWORD = "password-123"


@contextmanager
def shared_password_hash(password: str) -> Iterator[None]:
    """Inside this block, people given ``password`` share one Argon2id hash of it, made with
    the smallest work factors. Hashing and verifying at the server's own factors cost about
    0.19 s each (64 MiB, three passes), and the suite logs in hundreds of times; the server
    verifies whatever factors a stored hash names, so its code path is the same. Other
    passwords (and unknown users, checked against the server's own dummy hash) still take
    the real factors."""
    import server.demo
    import server.people.service

    known = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(password)
    with pytest.MonkeyPatch.context() as patch:
        # The modules that hash passwords for new people: people.service and the demo's loader.
        for module in (server.people.service, server.demo):
            real = module.hash_password
            patch.setattr(
                module,
                "hash_password",
                lambda given, real=real: known if given == password else real(given),
            )
        yield


@dataclass
class World:
    """Barcodes and credentials of the test county (see ``world``)."""

    sites: dict[str, str] = field(default_factory=dict)  # code -> barcode
    badges: dict[str, str] = field(default_factory=dict)  # username -> badge
    device_tokens: dict[str, str] = field(default_factory=dict)  # site code -> token
    devices: dict[str, str] = field(default_factory=dict)  # site code -> device barcode
    box: str = ""
    box2: str = ""
    tray: str = ""
    pack: str = ""


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def device_auth(world: World, site: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.device_tokens[site]}"}


def scan(
    event_type: str,
    item: str,
    *,
    actor: str | None = None,
    counterparty: str | None = None,
    at: datetime | None = None,
    **details: object,
) -> dict[str, object]:
    """One event as a device would send it."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "item": item,
        "actor": actor,
        "counterparty": counterparty,
        "occurred_at": (at or utc_now()).isoformat(),
        "details": details,
    }
