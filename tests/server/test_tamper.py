"""Tamper evidence: raw SQL edits and deletes are found and the first broken link named."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from server.custody.chain import event_hash
from server.custody.ledger import chained_fields
from server.models import CustodyEvent
from tests.support.helpers import World, device_auth, login, scan


def _fill(client: TestClient, world: World) -> None:
    staff, courier = world.badges["clinic_staff"], world.badges["courier"]
    response = client.post(
        "/api/v1/events",
        json={
            "events": [
                scan("prepare", world.box, actor=staff, count=4),
                scan("seal", world.box, actor=staff, seal="S1"),
                scan("prepare", world.box2, actor=staff, count=2),
                scan("pickup", world.box, actor=courier, counterparty=staff),
            ]
        },
        headers=device_auth(world, "T01"),
    )
    assert response.status_code == 200


def _raw(database_url: str, *statements: str) -> None:
    """Run SQL as an intruder would: on PostgreSQL the append-only trigger is dropped first."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE custody_events DISABLE TRIGGER USER"))
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def _verify(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/ledger/verify", headers=login(client, "admin"))
    assert response.status_code == 200
    return cast(dict[str, Any], response.json())


def _cli_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HANDOFF_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


class TestVerify:
    def test_an_untouched_ledger_verifies(
        self, client: TestClient, world: World, database_url: str
    ) -> None:
        _fill(client, world)
        report = _verify(client)
        assert report["ok"] and report["first_broken"] is None
        assert report["events_checked"] == report["head_position"] == 8
        result = _cli_verify(database_url)
        assert result.returncode == 0, result.stderr
        assert "ledger intact: 8 events" in result.stdout

    def test_an_edited_row_is_named(
        self, client: TestClient, world: World, database_url: str
    ) -> None:
        _fill(client, world)
        _raw(database_url, "UPDATE custody_events SET type = 'receive' WHERE position = 6")
        report = _verify(client)
        assert not report["ok"]
        assert report["first_broken"]["position"] == 6
        assert "edited" in report["first_broken"]["problem"]
        result = _cli_verify(database_url)
        assert result.returncode == 1
        assert "position 6" in result.stderr and "Traceback" not in result.stderr

    def test_an_edited_and_rehashed_row_breaks_the_next_link(
        self, client: TestClient, world: World, database_url: str
    ) -> None:
        _fill(client, world)
        engine = create_engine(database_url)
        with Session(engine) as session:
            row = session.get(CustodyEvent, 5)
            assert row is not None
            forged = replace(chained_fields(row), type="receive")
            forged_hash = event_hash(forged, row.prev_hash)
        engine.dispose()
        _raw(
            database_url,
            "UPDATE custody_events SET type = 'receive', "
            f"hash = '{forged_hash}' WHERE position = 5",
        )
        report = _verify(client)
        assert report["first_broken"]["position"] == 6
        assert "link to position 5" in report["first_broken"]["problem"]

    def test_a_deleted_row_is_named(
        self, client: TestClient, world: World, database_url: str
    ) -> None:
        _fill(client, world)
        _raw(database_url, "DELETE FROM custody_events WHERE position = 7")
        report = _verify(client)
        assert report["first_broken"]["position"] == 7
        assert "deleted" in report["first_broken"]["problem"]

    def test_deleting_the_last_rows_is_caught_by_the_head(
        self, client: TestClient, world: World, database_url: str
    ) -> None:
        _fill(client, world)
        _raw(database_url, "DELETE FROM custody_events WHERE position >= 7")
        report = _verify(client)
        assert report["first_broken"]["position"] == 7
        assert "deleted" in report["first_broken"]["problem"]

    def test_an_edited_projection_is_reported(
        self, client: TestClient, world: World, database_url: str
    ) -> None:
        _fill(client, world)
        _raw(database_url, f"UPDATE items SET state = 'received' WHERE barcode = '{world.box}'")
        report = _verify(client)
        assert not report["ok"]
        assert report["first_broken"] is None
        assert report["projection_mismatches"] == [
            {"barcode": world.box, "field": "state", "stored": "received", "rebuilt": "in_transit"}
        ]


@pytest.mark.postgres
class TestAppendOnlyTrigger:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE custody_events SET type = 'x'",
            "DELETE FROM custody_events",
            "TRUNCATE custody_events CASCADE",
        ],
    )
    def test_postgres_refuses_changes_to_events(
        self, client: TestClient, world: World, database_url: str, statement: str
    ) -> None:
        _fill(client, world)
        engine = create_engine(database_url)
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
        engine.dispose()
        assert _verify(client)["ok"]
