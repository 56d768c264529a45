"""Settings of the browser UI, read from the environment (prefix ``HANDOFF_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """What the pages need beyond the server's settings."""

    model_config = SettingsConfigDict(
        env_prefix="HANDOFF_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    session_hours: Annotated[int, Field(ge=1, le=72, description="A browser login lasts this")] = 12
    map_tile_url: str = Field(
        default="",
        max_length=500,
        description="A tile server such as http://10.0.0.9/tiles/{z}/{x}/{y}.png; empty: none",
    )
    map_attribution: str = Field(default="", max_length=200)


@lru_cache(maxsize=1)
def get_web_settings() -> WebSettings:
    """The process-wide UI settings."""
    return WebSettings()
