"""Configuration from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.config import Environment, Settings


def test_defaults_are_a_sqlite_file_under_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANDOFF_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:///var/handoff.db"
    assert settings.environment == Environment.development


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_INGEST_BATCH_LIMIT", "250")
    monkeypatch.setenv("HANDOFF_DATABASE_URL", "postgresql+psycopg://u@db/handoff")
    settings = Settings(_env_file=None)
    assert settings.ingest_batch_limit == 250
    assert settings.database_url.startswith("postgresql+psycopg://")


@pytest.mark.parametrize("secret", ["change-me", "too-short"])
def test_production_refuses_weak_secrets(secret: str) -> None:
    with pytest.raises(ValidationError, match="HANDOFF_SECRET_KEY"):
        Settings(environment=Environment.production, secret_key=secret, _env_file=None)


def test_development_accepts_the_default_secret() -> None:
    assert Settings(environment=Environment.development, _env_file=None).secret_key


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(timezone="Mars/Olympus", _env_file=None)
