"""``handoff backup`` and ``handoff restore``, run as real processes on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, select

from tests.conftest import RUN_ID, _pg_admin, _pg_url
from tests.server.test_cli import run
from tests.support.helpers import World, device_auth, scan


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables at all) of the same kind."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'handoff.db'}"
        return
    name = f"handoff_r_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _contents(url: str) -> dict[str, list[str]]:
    """Every row of every table, as sorted text: equal contents, equal dictionaries."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
                for name, table in metadata.tables.items()
            }
    finally:
        engine.dispose()


def _some_custody(client: TestClient, world: World) -> None:
    events = [
        scan("collect", world.box, actor=world.badges["courier"]),
        scan("collect", world.box2, actor=world.badges["courier"]),
    ]
    response = client.post(
        "/api/v1/events", json={"events": events}, headers=device_auth(world, "T01")
    )
    assert response.status_code == 200, response.text


def _no_traceback(result: Any) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def test_backup_restored_into_a_fresh_database_verifies_and_holds_the_same_data(
    database_url: str, fresh_url: str, world: World, client: TestClient, tmp_path: Path
) -> None:
    _some_custody(client, world)
    file = tmp_path / "handoff.backup"

    made = run("backup", str(file), database_url=database_url)
    assert made.returncode == 0, made.stderr
    assert "backed up" in made.stdout
    assert "100%" in made.stderr or "dumping contents of table" in made.stderr  # progress
    assert file.stat().st_mode & 0o077 == 0  # password hashes inside: the owner's only
    assert not file.with_name(file.name + ".partial").exists()

    restored = run("restore", str(file), database_url=fresh_url)
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout

    verified = run("verify", database_url=fresh_url)
    assert verified.returncode == 0, verified.stderr
    assert "ledger intact" in verified.stdout
    original = _contents(database_url)
    assert len(original["custody_events"]) >= 2
    assert _contents(fresh_url) == original


def test_restore_refuses_a_database_with_tables_unless_forced(
    database_url: str, world: World, client: TestClient, tmp_path: Path
) -> None:
    file = tmp_path / "before.backup"
    assert run("backup", str(file), database_url=database_url).returncode == 0
    before = _contents(database_url)
    _some_custody(client, world)  # a change after the backup
    after = _contents(database_url)
    assert after != before

    refused = run("restore", str(file), database_url=database_url)
    assert refused.returncode == 1
    assert "not empty" in refused.stderr and "--force" in refused.stderr
    _no_traceback(refused)
    assert _contents(database_url) == after  # untouched

    client.close()  # the app's pooled connections would hold the old database open
    forced = run("restore", "--force", str(file), database_url=database_url)
    assert forced.returncode == 0, forced.stderr
    assert _contents(database_url) == before
    assert run("verify", database_url=database_url).returncode == 0


def test_backup_does_not_overwrite_a_file_unless_forced(
    database_url: str, world: World, tmp_path: Path
) -> None:
    file = tmp_path / "exists.backup"
    file.write_bytes(b"keep me")
    refused = run("backup", str(file), database_url=database_url)
    assert refused.returncode == 1 and "exists" in refused.stderr
    _no_traceback(refused)
    assert file.read_bytes() == b"keep me"
    assert run("backup", "--force", str(file), database_url=database_url).returncode == 0
    assert file.read_bytes() != b"keep me"


def test_restore_names_what_is_wrong_with_the_file(
    backend: str, fresh_url: str, tmp_path: Path
) -> None:
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a backup\n")
    other_kind = tmp_path / "other.backup"
    if backend == "sqlite":
        other_kind.write_bytes(b"PGDMP\x01\x0e\x00" + bytes(100))
        wrong_kind = "is a PostgreSQL dump (pg_dump -Fc), but HANDOFF_DATABASE_URL names a SQLite"
    else:
        other_kind.write_bytes(b"SQLite format 3\x00" + bytes(100))
        wrong_kind = "is an SQLite database, but HANDOFF_DATABASE_URL names a PostgreSQL"
    cases = [
        (tmp_path / "missing.backup", "no such file"),
        (garbage, "is not a Handoff backup"),
        (other_kind, wrong_kind),
    ]
    for file, message in cases:
        result = run("restore", str(file), database_url=fresh_url)
        assert result.returncode == 1, (file, result.stdout)
        assert message in " ".join(result.stderr.split()), (file, result.stderr)
        _no_traceback(result)


def test_restore_refuses_a_broken_file_of_the_right_kind(
    backend: str, fresh_url: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.backup"
    if backend == "sqlite":
        broken.write_bytes(b"SQLite format 3\x00" + bytes(200))
        message = "not a usable SQLite database"
    else:
        broken.write_bytes(b"PGDMP" + bytes(200))
        message = "not a usable PostgreSQL dump"
    result = run("restore", str(broken), database_url=fresh_url)
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split()), result.stderr
    _no_traceback(result)


@pytest.mark.postgres
def test_missing_postgresql_tools_are_named(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    result = run(
        "backup",
        str(tmp_path / "x.backup"),
        database_url=database_url,
        HANDOFF_PG_BIN=str(tmp_path / "no-tools-here"),
    )
    assert result.returncode == 1
    assert "no pg_dump in HANDOFF_PG_BIN" in result.stderr
    _no_traceback(result)
    assert not (tmp_path / "x.backup").exists()
