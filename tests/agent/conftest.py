"""Fixtures for the agent: a test county with enough boxes, and its server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db import session_scope
from server.enums import ItemKind
from server.items.schemas import ItemCreate
from server.items.service import register_item
from server.models import CustodyEvent, Device, utc_now
from tests.agent.support import AgentProcess, CapturePrinter, PtyScanner
from tests.support.helpers import World
from tests.support.server import running_server

BOXES = 40


@dataclass
class County:
    """The test county plus ``boxes`` more specimen boxes at T01, and its T01 device."""

    world: World
    boxes: list[str] = field(default_factory=list)
    token: str = ""
    device: str = ""


@pytest.fixture
def county(world: World, session_factory: sessionmaker[Session]) -> County:
    now = utc_now() - timedelta(days=1)
    built = County(world, token=world.device_tokens["T01"], device=world.devices["T01"])
    with session_scope(session_factory) as session:
        for _ in range(BOXES):
            item = register_item(
                session, None, ItemCreate(kind=ItemKind.specimen_box, home_site="T01"), now
            )
            built.boxes.append(item.barcode)
    return built


def device_events(session_factory: sessionmaker[Session], device: str) -> list[tuple[str, str]]:
    """(event_id, item barcode) of every event the device wrote, in ledger order."""
    from server.models import Item

    with session_factory() as session:
        device_id = session.execute(select(Device.id).where(Device.barcode == device)).scalar_one()
        rows = session.execute(
            select(CustodyEvent.event_id, Item.barcode)
            .join(Item, Item.id == CustodyEvent.item_id)
            .where(CustodyEvent.device_id == device_id)
            .order_by(CustodyEvent.position)
        ).all()
    return [(str(event_id), barcode) for event_id, barcode in rows]


def event_count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one())


@pytest.fixture
def server_url(database_url: str, county: County) -> Iterator[str]:
    with running_server(database_url) as url:
        yield url


@pytest.fixture(autouse=True)
def _no_agent_left_behind() -> Iterator[None]:
    """Kill agents a test left running, then close its ptys: in the other order a stray agent
    would reopen a pty number the kernel hands to the next test (xdist runs two at once)."""
    yield
    while AgentProcess.RUNNING:
        agent = AgentProcess.RUNNING.pop()
        if agent.process is not None and agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait(timeout=10)
    while PtyScanner.OPEN:
        PtyScanner.OPEN.pop().close()


@pytest.fixture
def pty_scanner() -> PtyScanner:
    return PtyScanner()  # closed by _no_agent_left_behind, after the agents are gone


@pytest.fixture
def capture_printer() -> Iterator[CapturePrinter]:
    printer = CapturePrinter()
    yield printer
    printer.close()
