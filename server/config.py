"""Server configuration, read from the environment (prefix ``HANDOFF_``) and ``.env``."""

from __future__ import annotations

import os
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me"
DEFAULT_DATA_DIR = Path("var")


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Everything the server reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="HANDOFF_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = Environment.development
    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR}/handoff.db",
        description="SQLAlchemy URL; sqlite:///path or postgresql+psycopg://user@host/db",
    )
    secret_key: str = Field(
        default=DEFAULT_SECRET, description="Signs sessions and CSRF tokens; required in production"
    )
    timezone: str = Field(default="Asia/Shanghai", description="The consortium's time zone")
    access_token_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    login_max_failures: Annotated[
        int, Field(ge=1, description="Failed logins for one username before it waits")
    ] = 5
    login_max_failures_per_client: Annotated[
        int, Field(ge=1, description="Failed logins from one address before it waits")
    ] = 30
    login_window_seconds: Annotated[int, Field(ge=1, description="How long failures count")] = 900
    ingest_batch_limit: Annotated[int, Field(ge=1, le=100_000)] = 1000
    max_body_bytes: Annotated[int, Field(ge=1024)] = 8 * 1024 * 1024
    future_tolerance_seconds: Annotated[int, Field(ge=0)] = 300
    future_reject_seconds: Annotated[int, Field(ge=0)] = 24 * 3600
    overdue_set_hours: Annotated[
        int, Field(ge=1, description="A set not back this long is overdue")
    ] = 72
    expiry_warning_days: Annotated[int, Field(ge=0)] = 7
    transit_minutes: Annotated[int, Field(ge=1, description="Assumed time to the lab")] = 60
    one_sided_handoff_minutes: Annotated[int, Field(ge=1)] = 30
    alert_sweep_seconds: Annotated[int, Field(ge=0, description="0 turns the sweep off")] = 60
    host: str = "127.0.0.1"
    port: int = 8000
    log_sql: bool = False
    pg_bin: Path | None = Field(
        default=None, description="Where pg_dump and pg_restore are (default: PATH, then Debian's)"
    )
    # Route planning (server/plans): travel times, the couriers' day and vehicles.
    plan_travel: Annotated[
        str, Field(pattern="^(straight|matrix|osrm)$", description="straight, matrix or osrm")
    ] = "straight"
    plan_road_factor: Annotated[float, Field(ge=1.0, le=5.0)] = 1.35
    plan_speed_kmh: Annotated[float, Field(gt=0, le=200)] = 42.0
    plan_matrix_file: Path | None = Field(
        default=None, description="CSV of travel minutes between site codes (plan_travel=matrix)"
    )
    plan_osrm_url: str | None = Field(default=None, description="OSRM table service base URL")
    plan_learn_days: Annotated[
        int, Field(ge=0, le=365, description="Blend in travel times from this many days of scans")
    ] = 0
    plan_shift_start: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    plan_shift_end: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    plan_stop_minutes: Annotated[float, Field(ge=0, le=120)] = 5.0
    plan_handling_minutes: Annotated[float, Field(ge=0, le=60)] = 1.0
    plan_courier_cost_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 60.0
    plan_specimen_max_ride_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 150
    plan_capacity_boxes: Annotated[int, Field(ge=0, le=1000)] = 20
    plan_capacity_cold_boxes: Annotated[int, Field(ge=0, le=1000)] = 6
    plan_capacity_crates: Annotated[int, Field(ge=0, le=1000)] = 8
    plan_workers: int = Field(
        default_factory=lambda: min(2, os.cpu_count() or 1),
        ge=1,
        le=64,
        description="Searches run at once per plan, each on a core of its own (routing.portfolio)",
    )

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment == Environment.production and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "HANDOFF_SECRET_KEY is still the default; set a long random value "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if self.environment == Environment.production and len(self.secret_key) < 32:
            raise ValueError("HANDOFF_SECRET_KEY must be at least 32 characters in production")
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            raise ValueError(
                f"HANDOFF_TIMEZONE {self.timezone!r} is not a known time zone"
            ) from None
        if self.future_reject_seconds < self.future_tolerance_seconds:
            raise ValueError("future_reject_seconds must be >= future_tolerance_seconds")
        return self

    @property
    def access_token_ttl(self) -> timedelta:
        return timedelta(minutes=self.access_token_minutes)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
