"""The engine's connection settings: instants read past SQLAlchemy still come back in UTC."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Select, func, literal_column, select

from server.db import build_engine, build_sessionmaker, plain_rows, session_scope


@pytest.mark.postgres
def test_plain_rows_are_in_utc_even_when_the_url_asks_for_another_zone(database_url: str) -> None:
    # The URL's own options are kept (application_name) but the zone is always UTC:
    # plain_rows skips UTCDateTime's conversion, so a local zone would leak into answers.
    options = quote("-c TimeZone=Asia/Shanghai -c application_name=handoff_db_test")
    engine = build_engine(f"{database_url}?options={options}")
    try:
        with session_scope(build_sessionmaker(engine)) as session:
            # Any number of columns: plain_rows takes a Select of any arity.
            statement: Select[*tuple[Any, ...]] = select(
                func.now(),
                literal_column("current_setting('TimeZone')"),
                literal_column("current_setting('application_name')"),
            )
            ((now, zone, name),) = plain_rows(session, statement, {})
    finally:
        engine.dispose()
    assert zone == "UTC"
    assert name == "handoff_db_test"
    assert now.utcoffset() == timedelta(0)
