"""Browser tests: the demo county on SQLite, a real server process, Debian's chromium.

One server and one browser serve the whole module group (they run on one xdist worker);
each test opens its own browser context, so cookies never leak between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest

from server.config import Environment, Settings
from server.db import build_engine, build_sessionmaker, session_scope
from server.migrate import upgrade
from tests.support.helpers import shared_password_hash
from tests.support.server import running_server

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("HANDOFF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
DEMO_PASSWORD = "handoff-demo"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "artifacts" / "screenshots"
SECRET = "browser-test-secret-key-0123456789-abcdefghij"


@dataclass
class Demo:
    """The demo county behind the server under test."""

    base: str
    day: str
    tokens: dict[str, str] = field(default_factory=dict)  # site code -> device token
    _headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def api(self, username: str) -> dict[str, str]:
        """Bearer headers for a demo user (one API login each, kept)."""
        if username not in self._headers:
            response = httpx.post(
                f"{self.base}/api/v1/auth/token",
                data={"username": username, "password": DEMO_PASSWORD},
            )
            assert response.status_code == 200, response.text
            self._headers[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return self._headers[username]

    def call(
        self, username: str, method: str, path: str, body: Any = None, expect: int = 200
    ) -> Any:
        response = httpx.request(
            method, f"{self.base}/api/v1{path}", json=body, headers=self.api(username), timeout=30
        )
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        return response.json()

    def badge(self, username: str) -> str:
        people = self.call("admin", "GET", "/people")
        return cast(str, next(p["badge"] for p in people if p["username"] == username))

    def scans(self, site: str, *events: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base}/api/v1/events",
            json={"events": list(events)},
            headers={"Authorization": f"Bearer {self.tokens[site]}"},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def scan(event_type: str, item: str, actor: str, **details: Any) -> dict[str, Any]:
    counterparty = details.pop("counterparty", None)
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "item": item,
        "actor": actor,
        "counterparty": counterparty,
        "occurred_at": datetime.now().astimezone().isoformat(),
        "details": details,
    }


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict[str, str]]:
    """A migrated SQLite file with the demo county (its day is yesterday, as in ``make run``)."""
    from server.demo import load_demo

    folder = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    upgrade(url)
    settings = Settings(
        environment=Environment.test,
        database_url=url,
        secret_key=SECRET,
        _env_file=None,
    )
    engine = build_engine(url)
    # The demo's people share one cheap Argon2id hash of the demo password.
    with (
        shared_password_hash(DEMO_PASSWORD),
        session_scope(build_sessionmaker(engine)) as session,
    ):
        load_demo(session, settings, progress=lambda _: None, token_file=folder / "tokens.txt")
    engine.dispose()
    tokens = {}
    for line in (folder / "tokens.txt").read_text().splitlines()[1:]:
        site, _device, token = line.split("\t")
        tokens[site] = token
    day = (datetime.now(settings.zone).date() - timedelta(days=1)).isoformat()
    return url, day, tokens


@pytest.fixture(scope="session")
def demo(demo_database: tuple[str, str, dict[str, str]]) -> Iterator[Demo]:
    url, day, tokens = demo_database
    with running_server(url, HANDOFF_SECRET_KEY=SECRET, HANDOFF_ALERT_SWEEP_SECONDS="0") as base:
        yield Demo(base, day, tokens)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (make test installs it)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Browsing:
    """A browser context with every request it made recorded."""

    context: Any
    page: Any
    base: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def login(self, username: str, password: str = DEMO_PASSWORD) -> None:
        self.goto("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("#login-submit")
        self.page.wait_for_load_state()

    def outside(self) -> list[str]:
        return [url for url in self.requests if urlsplit(url).hostname != "127.0.0.1"]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def open_browsing(browser: Any, base: str, **options: Any) -> Browsing:
    context = browser.new_context(
        viewport=options.pop("viewport", {"width": 1366, "height": 768}), locale="zh-CN", **options
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    browsing = Browsing(context, page, base)
    page.on("request", lambda request: browsing.requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            browsing.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: browsing.console_errors.append(str(error)))
    return browsing


@pytest.fixture
def web(browser: Any, demo: Demo) -> Iterator[Browsing]:
    browsing = open_browsing(browser, demo.base)
    yield browsing
    browsing.context.close()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep every browser test on one xdist worker: one server, one browser. First, because
    xdist's own hook turns the group marks into the tests' IDs."""
    for item in items:
        if {"demo", "browser"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("browser"))
