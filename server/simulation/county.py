"""The county ``handoff simulate`` plays: the demo county, loaded first if the database is empty."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from server.config import Settings
from server.db import build_engine, build_sessionmaker, session_scope
from server.demo import load_demo, read_device_tokens, simulation_county
from server.enums import ItemKind
from server.items.schemas import ItemCreate
from server.items.service import register_item
from server.migrate import upgrade
from server.models import Site, utc_now
from server.simulation.day import County

__all__ = ["prepare_county"]


def prepare_county(
    settings: Settings,
    token_file: Path,
    *,
    clinics: int | None = None,
    boxes: int = 0,
    progress: Callable[[str], Any] = print,
) -> tuple[County, dict[str, str]]:
    """Migrate, load the demo county into an empty database, give each clinic at least
    ``boxes`` empty specimen boxes, and return the county with its devices' tokens."""
    upgrade(settings.database_url)
    engine = build_engine(settings.database_url)
    try:
        sessions = build_sessionmaker(engine)
        with session_scope(sessions) as session:
            if not session.execute(select(func.count()).select_from(Site)).scalar_one():
                progress("empty database: loading the demo county …")
                progress(load_demo(session, settings, progress=lambda _: None,
                                   token_file=token_file))  # fmt: skip
        if not token_file.exists():
            raise FileNotFoundError(f"{token_file} (the demo's device tokens) is missing")
        with session_scope(sessions) as session:
            county = simulation_county(session, clinics)
            added = 0
            for clinic in county.clinics:
                for number in range(len(clinic.boxes), boxes):
                    register_item(
                        session,
                        None,
                        ItemCreate(
                            kind=ItemKind.specimen_box,
                            description=f"标本转运箱 {clinic.place.code}-S{number + 1}",
                            home_site=clinic.place.code,
                        ),
                        utc_now(),
                    )
                    added += 1
            if added:
                progress(f"{added} more empty specimen boxes registered at the clinics")
                session.flush()
                county = simulation_county(session, clinics)
    finally:
        engine.dispose()
    return county, read_device_tokens(token_file)
