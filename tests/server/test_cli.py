"""The ``handoff`` command line, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.helpers import World
from tests.support.server import free_port

HANDOFF = str(Path(sys.executable).parent / "handoff")


def run(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HANDOFF, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HANDOFF_DATABASE_URL": database_url, "COLUMNS": "200", **env},
        input="",
    )


def test_user_add_prints_a_badge_that_can_log_in(
    database_url: str, world: World, client: TestClient
) -> None:
    result = run(
        "user",
        "add",
        "--name",
        "周敏",
        "--role",
        "cssd_staff",
        "--username",
        "zhoumin",
        "--password",
        "sterile-packs-9",
        "--site",
        "CSSD",
        database_url=database_url,
    )
    assert result.returncode == 0, result.stderr
    assert "badge BD" in result.stdout
    response = client.post(
        "/api/v1/auth/token", data={"username": "zhoumin", "password": "sterile-packs-9"}
    )
    assert response.status_code == 200


def test_device_add_prints_the_token_once(
    database_url: str, world: World, client: TestClient
) -> None:
    result = run("device", "add", "--name", "LAB door", "--site", "LAB", database_url=database_url)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("hd_")
    assert (
        client.get("/api/v1/sites", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "add", "--name", "X", "--role", "pilot"), "pilot"),
        (
            ("user", "add", "--name", "X", "--role", "courier", "--site", "NOPE"),
            "no site has the code",
        ),
        (("device", "add", "--name", "X", "--site", "NOPE"), "no site has the code"),
        (
            (
                "user",
                "add",
                "--name",
                "X",
                "--role",
                "courier",
                "--username",
                "u1",
                "--password",
                "short",
            ),
            "at least 8",
        ),
        (("demo",), "already holds sites"),
        (("demo", "--day", "yesterday"), "YYYY-MM-DD"),
    ],
)
def test_bad_input_gets_a_message_and_a_non_zero_exit(
    database_url: str, world: World, args: tuple[str, ...], message: str
) -> None:
    result = run(*args, database_url=database_url)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_an_unreachable_database_is_reported_plainly(tmp_path: Path) -> None:
    result = run("db", "upgrade", database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_the_default_secret(tmp_path: Path) -> None:
    result = run(
        "verify", database_url=f"sqlite:///{tmp_path}/x.db", HANDOFF_ENVIRONMENT="production"
    )
    assert result.returncode == 2
    assert "HANDOFF_SECRET_KEY is still the default" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_starts_workers_that_take_one_connection_per_wake(tmp_path: Path) -> None:
    """Each worker of ``handoff serve --workers 2`` runs with libuv's single accept, so
    devices that connect together do not all land on the first worker to wake."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "UV_TCP_SINGLE_ACCEPT"},
        "HANDOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "HANDOFF_ALERT_SWEEP_SECONDS": "0",
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [HANDOFF, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
            workers = [
                pid
                for pid in map(int, children.split())
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ]
        for pid in workers:
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert b"UV_TCP_SINGLE_ACCEPT=1" in environment
    finally:
        process.terminate()
        process.wait(timeout=15)
