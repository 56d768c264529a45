"""The demo county loads, looks like a county, and its ledger verifies."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.custody.service import verify_ledger
from server.db import session_scope
from server.demo import HOSPITAL, load_demo
from server.enums import Role, SiteKind
from server.models import (
    Alert,
    CustodyEvent,
    Device,
    Discrepancy,
    Item,
    Machine,
    Pack,
    Person,
    Recall,
    Site,
    Trip,
)


def _km(site: Site) -> float:
    dlat = (site.latitude - HOSPITAL[0]) * 111.0
    dlon = (site.longitude - HOSPITAL[1]) * 111.0 * math.cos(math.radians(HOSPITAL[0]))
    return math.hypot(dlat, dlon)


def test_demo_county(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    lines: list[str] = []
    with session_scope(session_factory) as session:
        summary = load_demo(
            session, settings, progress=lines.append, token_file=tmp_path / "tokens.txt"
        )
    assert "demo county loaded" in summary
    # Yesterday's history is loaded; the summary names the county's today as the day to plan.
    assert f"handoff plan --date {datetime.now(settings.zone).date()}" in summary
    assert any("scans stored" in line for line in lines)  # progress was shown
    with session_factory() as session:
        sites = session.execute(select(Site)).scalars().all()
        clinics = [site for site in sites if site.kind == SiteKind.township_clinic]
        assert len(clinics) == 19
        assert {site.kind for site in sites} == set(SiteKind)
        assert all(site.name_zh.endswith("卫生院") for site in clinics)
        assert all(5 <= _km(site) <= 41 for site in clinics)
        roles = {role for (role,) in session.execute(select(Person.role))}
        assert roles == set(Role)
        assert session.execute(select(func.count()).select_from(Device)).scalar_one() == 22
        kinds = dict(session.execute(select(Item.kind, func.count()).group_by(Item.kind)).all())
        assert all(count > 20 for count in kinds.values()) and len(kinds) == 3
        events = session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one()
        assert events > 800
        # The query leaves out the NULL codes (str | None to the type checker).
        flagged = cast(
            "list[str]",
            session.execute(
                select(CustodyEvent.flag_code).where(CustodyEvent.flag_code.is_not(None))
            )
            .scalars()
            .all(),
        )
        # the planted anomalies and nothing accidental: a broken seal and a late box ...
        assert sorted(flagged) == ["seal_broken", "time_limit_exceeded"]
        # ... and a sealed box left behind, missing from its trip's manifest
        assert session.execute(select(Discrepancy.kind)).scalars().all() == ["missing"]
        alert_kinds = sorted(session.execute(select(Alert.kind)).scalars().all())
        assert alert_kinds == ["discrepancy", "seal_broken", "time_limit_exceeded"]
        assert session.execute(select(func.count()).select_from(Trip)).scalar_one() == 4
        # The CSSD day: loads released on two sterilizers, then ST2's BI fails and recalls.
        recalls = session.execute(select(Recall)).scalars().all()
        assert len(recalls) == 1
        recalled = session.execute(select(Pack).where(Pack.recall_id == recalls[0].id)).scalars()
        assert len(list(recalled)) > 3
        statuses = dict(session.execute(select(Machine.code, Machine.status)).all())
        assert statuses["ST2"] == "out_of_service" and statuses["ST1"] == "in_service"
        held = session.execute(select(Item.barcode).where(Item.state == "on_hold")).scalars()
        assert len(list(held)) == 1  # the set that came back one instrument short
        report = verify_ledger(session)
    assert report.ok, report
    assert (tmp_path / "tokens.txt").stat().st_mode & 0o777 == 0o600
