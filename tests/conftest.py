"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

Each backend gets a migrated template once per worker; each test gets a fresh copy of
it (a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL) that is
dropped afterwards. A PostgreSQL copy takes about 0.45 s, nearly all of it the server
waiting on the disk (0.08 s of its CPU), so the next test's copy is made in a background
thread while this test runs, and copies are dropped there too. On CI (``CI=true``) an
unreachable PostgreSQL fails the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from server.config import Environment, Settings
from server.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "HANDOFF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RUN_ID = uuid.uuid4().hex[:8]
# PostgreSQL copies each worker keeps ready for its next tests.
SPARES = 2


def _pg_admin() -> psycopg.Connection:
    url = make_url(PG_ADMIN_URL)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        dbname=url.database,
        password=url.password,
        autocommit=True,
        connect_timeout=5,
    )


def _pg_url(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite", "postgresql"]
        if metafunc.definition.get_closest_marker("postgres"):
            backends = ["postgresql"]
        metafunc.parametrize("backend", backends, scope="session")


class _Templates:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sqlite: Path | None = None
        self.pg: str | None = None
        self.pg_error: str | None = None
        # Copies for the next tests, made (and used copies dropped) in the background.
        self._background = ThreadPoolExecutor(max_workers=SPARES, thread_name_prefix="pg-copies")
        self._spares: deque[Future[str]] = deque()

    def sqlite_template(self) -> Path:
        if self.sqlite is None:
            path = self.tmp / "template.db"
            upgrade(f"sqlite:///{path}")
            self.sqlite = path
        return self.sqlite

    def pg_template(self) -> str:
        if self.pg is None and self.pg_error is None:
            name = f"handoff_tpl_{RUN_ID}_{os.getpid()}"
            try:
                with _pg_admin() as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    admin.execute(f'CREATE DATABASE "{name}"')
            except psycopg.OperationalError as error:
                self.pg_error = str(error).strip().splitlines()[0]
            else:
                upgrade(_pg_url(name))
                self.pg = name
        if self.pg is None:
            message = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {self.pg_error}"
            if ON_CI:
                pytest.fail(message + " (mandatory on CI)")
            pytest.skip(message)
        return self.pg

    def pg_copy(self) -> str:
        """The name of a fresh copy of the PostgreSQL template, for one test; copies for
        the next tests are started in the background."""
        template = self.pg_template()
        name = self._spares.popleft().result() if self._spares else _copy(template)
        while len(self._spares) < SPARES:
            self._spares.append(self._background.submit(_copy, template))
        return name

    def pg_drop(self, name: str) -> None:
        """Drop a test's copy in the background (:meth:`drop` waits for it)."""
        self._background.submit(_drop_database, name)

    def drop(self) -> None:
        self._background.shutdown(wait=True)
        for spare in self._spares:
            if spare.exception() is None:
                _drop_database(spare.result())
        if self.pg:
            _drop_database(self.pg)


def _copy(template: str) -> str:
    name = f"handoff_t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def _drop_database(name: str) -> None:
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    holder = _Templates(tmp_path_factory.mktemp("db"))
    yield holder
    holder.drop()


@pytest.fixture
def database_url(backend: str, templates: _Templates, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test only."""
    if backend == "sqlite":
        path = tmp_path / "handoff.db"
        shutil.copy(templates.sqlite_template(), path)
        yield f"sqlite:///{path}"
        return
    name = templates.pg_copy()
    try:
        yield _pg_url(name)
    finally:
        templates.pg_drop(name)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        environment=Environment.test,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        alert_sweep_seconds=0,
        # The suite already runs one test per core: plans search in this process only (one
        # test plans with two searches at once).
        plan_workers=1,
        _env_file=None,
    )


# --- a small county to test against -------------------------------------------------

from datetime import time, timedelta  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from server.app import create_app  # noqa: E402
from server.db import build_engine, build_sessionmaker, session_scope  # noqa: E402
from server.devices.schemas import DeviceCreate  # noqa: E402
from server.devices.service import create_device  # noqa: E402
from server.enums import ItemKind, Role, SiteKind  # noqa: E402
from server.items.schemas import ItemCreate  # noqa: E402
from server.items.service import register_item  # noqa: E402
from server.models import utc_now  # noqa: E402
from server.people.schemas import PersonCreate  # noqa: E402
from server.people.service import create_person  # noqa: E402
from server.sites.schemas import SiteCreate  # noqa: E402
from server.sites.service import create_site  # noqa: E402
from tests.support.helpers import PASSWORD, World, shared_password_hash  # noqa: E402


@pytest.fixture
def session_factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = build_engine(settings.database_url)
    yield build_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _hash_the_test_password_once() -> Iterator[None]:
    """The test county's people share one cheap hash of the test password."""
    with shared_password_hash(PASSWORD):
        yield


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    built = World()
    now = utc_now() - timedelta(days=1)  # the test county's items were registered yesterday
    with session_scope(session_factory) as session:
        for code, kind in (
            ("CH", SiteKind.county_hospital),
            ("LAB", SiteKind.laboratory),
            ("CSSD", SiteKind.cssd),
            ("T01", SiteKind.township_clinic),
            ("T02", SiteKind.township_clinic),
        ):
            site = create_site(
                session,
                None,
                SiteCreate(
                    code=code,
                    kind=kind,
                    name_zh=f"{code} 站点",
                    name_en=f"Site {code}",
                    latitude=30.25,
                    longitude=115.05,
                    opens_at=time(8),
                    closes_at=time(17),
                ),
            )
            built.sites[code] = site.barcode
        homes = {
            Role.admin: "CH",
            Role.dispatcher: "CH",
            Role.courier: "CH",
            Role.cssd_staff: "CSSD",
            Role.lab_receiver: "LAB",
            Role.clinic_staff: "T01",
        }
        for role, home in homes.items():
            person = create_person(
                session,
                None,
                PersonCreate(
                    name=f"{role.value} person",
                    role=role,
                    username=role.value,
                    password=PASSWORD,
                    home_site=home,
                ),
            )
            built.badges[role.value] = person.badge
        second = create_person(
            session,
            None,
            PersonCreate(
                name="second courier",
                role=Role.courier,
                username="courier2",
                password=PASSWORD,
                home_site="CH",
            ),
        )
        built.badges["courier2"] = second.badge
        checker = create_person(
            session,
            None,
            PersonCreate(
                name="second cssd",
                role=Role.cssd_staff,
                username="cssd2",
                password=PASSWORD,
                home_site="CSSD",
            ),
        )
        built.badges["cssd2"] = checker.badge
        for code in ("T01", "LAB", "CSSD"):
            device, token = create_device(
                session, None, DeviceCreate(name=f"{code} bench", site=code)
            )
            built.device_tokens[code] = token
            built.devices[code] = device.barcode

        def register(kind: ItemKind) -> str:
            return register_item(session, None, ItemCreate(kind=kind, home_site="T01"), now).barcode

        built.box = register(ItemKind.specimen_box)
        built.box2 = register(ItemKind.specimen_box)
        built.tray = register(ItemKind.instrument_set)
        built.pack = register(ItemKind.pack)
    return built


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
